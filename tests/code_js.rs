//! The `code` judge in JavaScript end to end: the real server, the real Wasmtime sandbox and
//! QuickJS-ng for WASI (installed by sandboxes/js/fetch.sh, which scripts/test.sh runs). Every
//! test style, a hostile corpus and reward-hack attempts.

mod common;

use common::{Backend, Server, server};
use judge_api::{Item, JudgeRequest, JudgeResponse, Verdict};
use serde_json::{Map, Value, json};

const CONFIG: &str = r#"
[judges.code]
kind = "code"

[judges.code_js]
kind = "code"
config = { language = "javascript", timeout_ms = 3000, memory_mb = 64, output_bytes = 65536 }
"#;

/// Sandbox tests measure wall-clock limits: run them one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn start() -> Server {
    server(Backend::Sqlite).config(CONFIG).start()
}

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

fn exit_of(result: &judge_api::ItemResult) -> String {
    result.judges[0]
        .details
        .as_ref()
        .map_or(String::new(), |d| {
            d["exit"].as_str().unwrap_or_default().to_owned()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_test_styles_pass_right_and_fail_wrong_solutions() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let right = "function add(a, b) {\n  return a + b;\n}\n";
    let wrong = "const add = (a, b) => a - b;\nmodule.exports = { add };\n";
    let formats = [
        json!({"unit_tests": ["assert(add(2, 3) === 5)", "assert(add(1, 1) === 2, 'one and one')"]}),
        json!({"test_list": ["assert.strictEqual(add(2, 3), 5)", "assert.deepStrictEqual([add(0, 0)], [0])"]}),
        json!({"test": "const assert = require('node:assert');\nfunction check(candidate) {\n  assert.equal(candidate(2, 3), 5);\n  assert.deepEqual({s: candidate(-1, 1)}, {s: 0});\n}\n", "entry_point": "add"}),
        json!({"unit_tests": "console.assert(add(2, 3) == 5);\nconsole.assert(add(4, 4) == 8);"}),
        json!({"input_output": {"inputs": [[2, 3], [1.5, 1.5]], "outputs": [[5], [3.0]], "fn_name": "add"}}),
    ];
    let mut items = Vec::new();
    for (i, format) in formats.iter().enumerate() {
        let fenced = format!("Here:\n```python\nnot this\n```\n```javascript\n{right}```\nDone.");
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
    let stdio = json!({"stdio": [{"input": "6 3\n", "output": "9\n2\n"}, {"input": "1 3", "output": "4\n0.333333"}]});
    let programs = [
        "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(' ').map(Number);\nconsole.log(a + b);\nconsole.log(a / b);",
        "const [a, b] = readline().split(' ').map(Number);\nprint(a + b);\nprocess.stdout.write(String(a / b) + '\\n');",
        "const rl = require('readline').createInterface({input: process.stdin});\nrl.on('line', (l) => { const [a, b] = l.split(' ').map(Number); console.log(a + b); console.log(a / b); });",
        "let t = '';\nprocess.stdin.on('data', (c) => t += c);\nprocess.stdin.on('end', () => { const [a, b] = t.split(' ').map(Number); console.log(`${a + b}\\n${a / b}`); });",
    ];
    for (i, program) in programs.iter().enumerate() {
        items.push(
            Item::new("p", *program)
                .with_id(format!("stdio-{i}"))
                .with_metadata(metadata(stdio.clone())),
        );
    }
    items.push(
        Item::new("p", "console.log(0)")
            .with_id("wrong-stdio")
            .with_metadata(metadata(stdio)),
    );
    let answer = judge(&server, "code_js", items).await;
    for result in &answer.results {
        let id = result.id.as_str().unwrap();
        let want = if id.starts_with("wrong") {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        assert_eq!(result.verdict, want, "{id}: {:?}", result.judges[0]);
    }
    let failed = answer.results.iter().find(|r| r.id == "wrong-1").unwrap();
    let details = failed.judges[0].details.as_ref().unwrap();
    assert_eq!(details["exit"], "assertion", "{details}");
    assert_eq!(details["tests"][1]["outcome"], "pass", "{details}");
    assert_eq!(details["tests"][0]["message"], "-1 === 5", "{details}");
    assert_eq!(failed.judges[0].score, Some(0.5));

    // `metadata.language` picks JavaScript on a Python-configured judge; garbage is a 422.
    let item = |language: &str, code: &str| {
        Item::new("p", code).with_metadata(metadata(
            json!({"language": language, "unit_tests": ["assert(add(2, 3) === 5)"]}),
        ))
    };
    let answer = judge(
        &server,
        "code",
        vec![item("javascript", right), item("js", wrong)],
    )
    .await;
    assert_eq!(answer.results[0].verdict, Verdict::Pass, "{answer:?}");
    assert_eq!(answer.results[1].verdict, Verdict::Fail, "{answer:?}");
    let (status, body) = common::post_raw(
        &server,
        "/v1/judge",
        json!({"judges": ["code"], "items": [{"response": right, "metadata": {"language": "cobol", "unit_tests": ["x"]}}]}).to_string(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("items[0].metadata.language")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_hostile_programs_and_reward_hacks_fail_with_the_right_reason() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let tests = metadata(json!({"unit_tests": ["assert(f() === 1)"]}));
    let cases: &[(&str, &str, &str)] = &[
        ("infinite-loop", "function f() { for (;;) {} }", "timeout"),
        ("busy-at-load", "while (true) {}", "timeout"),
        (
            "sleep",
            "function f() { os.sleep(60000); return 1; }",
            "timeout",
        ),
        (
            "memory-bomb",
            "function f() { const a = []; for (;;) a.push(new Array(1 << 20).fill(7)); }",
            "memory",
        ),
        (
            "deep-recursion",
            "function f(n = 0) { return f(n + 1) + 1; }",
            "exception|crash",
        ),
        (
            "output-flood",
            "function f() { for (;;) console.log('x'.repeat(10000)); }",
            "output_limit",
        ),
        (
            "read-passwd",
            "function f() { return std.loadFile('/etc/passwd').length > 0 ? 2 : 1; }",
            "exception",
        ),
        (
            "write-file",
            "function f() { const h = std.open('/tmp/moj-js-escape', 'w'); h.puts('x'); h.close(); return 1; }",
            "exception",
        ),
        (
            "exec",
            "function f() { os.exec(['id']); return 1; }",
            "exception",
        ),
        ("std-exit", "std.exit(0);", "no_result"),
        (
            "process-exit",
            "function f() { process.exit(0); }",
            "no_result",
        ),
        (
            "fake-pass",
            "print('PASS'); console.log('All tests passed'); std.exit(0);",
            "no_result",
        ),
        (
            "replace-assert",
            "globalThis.assert = () => {}; try { assert = () => {}; } catch (e) {}\nfunction f() { return 0; }",
            "assertion",
        ),
        (
            "shadow-assert",
            "let assert = () => {};\nfunction f() { return 0; }",
            "exception",
        ),
        (
            "patch-builtins",
            "Object.defineProperty(Array.prototype, '0', {set() {}});\nString.prototype.slice = () => '';\nReflect.apply = () => 0;\nFunction.prototype.call = () => 0;\nconsole.assert = () => {};\nfunction f() { return 0; }",
            // The intrinsics are frozen before the solution runs: patching them is an error.
            "exception",
        ),
        (
            "late-exit",
            "function f() { Promise.resolve().then(() => std.exit(0)); os.setTimeout(() => print('PASS'), 0); return 0; }",
            "assertion",
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
    let answer = judge(&server, "code_js", items).await;
    for ((id, _, reason), result) in cases.iter().zip(&answer.results) {
        assert_eq!(
            result.verdict,
            Verdict::Fail,
            "{id}: {:?}",
            result.judges[0]
        );
        let exit = exit_of(result);
        assert!(
            reason.split('|').any(|r| r == exit),
            "{id}: exit {exit}, expected {reason}: {:?}",
            result.judges[0]
        );
    }
    assert!(!std::path::Path::new("/tmp/moj-js-escape").exists());
    // The server answers the next request normally.
    let ok = judge(
        &server,
        "code_js",
        vec![Item::new("p", "const f = () => 1;").with_metadata(tests)],
    )
    .await;
    assert_eq!(ok.results[0].verdict, Verdict::Pass, "{ok:?}");
}

/// What the tests share with the solution in one QuickJS instance: the intrinsics (`JSON`,
/// `Math`, `Array.prototype`, ...) and the global bindings naming them. A solution that
/// rewrites them decides what the tests compute, unless they are frozen before it runs
/// (javascript.rs `harden`). Legitimate solutions that override methods on their own objects,
/// subclass errors or export CommonJS-style still pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_solutions_cannot_rewrite_what_the_tests_use() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let json_test =
        json!({"unit_tests": ["assert(JSON.stringify(f()) === JSON.stringify([1, 2]))"]});
    let join_test = json!({"unit_tests": ["assert(f().join('-') === '1-2')"]});
    let random_test = json!({"unit_tests": [
        "for (let i = 0; i < 20; i++) { const x = Math.floor(Math.random() * 1000); assert(f(x) === 2 * x); }"
    ]});
    let keys_test = json!({"test_list": ["assert(Object.keys(f()).length === 2 && f().a === 1 && f().b === 2)"]});
    let iterate_test =
        json!({"unit_tests": ["let n = 0; for (const x of [1, 2, 3]) n += x; assert(f() === n)"]});
    let fixed_test = json!({"unit_tests": ["assert(f().toFixed(2) === '3.14')"]});
    let attacks: &[(&str, &str, &Value)] = &[
        (
            "patch-json",
            "JSON.stringify = () => 'same';\nfunction f() { return 0; }",
            &json_test,
        ),
        (
            "replace-json",
            "globalThis.JSON = { stringify: () => 'same' };\nfunction f() { return 0; }",
            &json_test,
        ),
        (
            "shadow-json",
            "var JSON = { stringify: () => 'same' };\nfunction f() { return 0; }",
            &json_test,
        ),
        (
            "let-json",
            "let JSON = { stringify: () => 'same' };\nfunction f() { return 0; }",
            &json_test,
        ),
        (
            "patch-join",
            "Array.prototype.join = function () { return '1-2'; };\nfunction f() { return []; }",
            &join_test,
        ),
        (
            "define-join",
            "Object.defineProperty(Array.prototype, 'join', { value: () => '1-2' });\nfunction f() { return []; }",
            &join_test,
        ),
        (
            "patch-random",
            "Math.random = () => 0.5;\nfunction f(x) { return 1000; }",
            &random_test,
        ),
        (
            "replace-math",
            "globalThis.Math = { floor: () => 500, random: () => 0 };\nfunction f(x) { return 1000; }",
            &random_test,
        ),
        (
            "patch-keys",
            "Object.keys = () => [1, 2];\nfunction f() { return { a: 1 }; }",
            &keys_test,
        ),
        (
            "proto-getter",
            "Object.defineProperty(Object.prototype, 'b', { get() { return 2; } });\nfunction f() { return { a: 1 }; }",
            &keys_test,
        ),
        (
            "patch-iterator",
            "Object.getPrototypeOf([][Symbol.iterator]()).next = function () { return { done: true }; };\nfunction f() { return 0; }",
            &iterate_test,
        ),
        (
            "patch-number",
            "Number.prototype.toFixed = () => '3.14';\nfunction f() { return 2; }",
            &fixed_test,
        ),
    ];
    let legit: &[(&str, &str, &Value)] = &[
        (
            "own-tostring",
            "function P(x) { this.x = x; }\nP.prototype.toString = function () { return 'P' + this.x; };\nfunction f(x) { return String(new P(x)) === 'P' + x ? 2 * x : 0; }",
            &random_test,
        ),
        (
            "error-subclass",
            "class E extends Error { constructor(m) { super(m); this.name = 'E'; } }\nfunction f(x) { try { throw new E('m'); } catch (e) { return e.name === 'E' ? 2 * x : 0; } }",
            &random_test,
        ),
        (
            "commonjs",
            "const f = (x) => 2 * x;\nmodule.exports = { f };\nglobalThis.helper = 1;",
            &random_test,
        ),
        (
            "json-and-keys",
            "function f() { return JSON.parse('{\"a\": 1, \"b\": 2}'); }",
            &keys_test,
        ),
        (
            "array-join",
            "function f() { const a = [1, 2]; a.join = Array.prototype.join; return a; }",
            &join_test,
        ),
    ];
    let items = attacks
        .iter()
        .chain(legit)
        .map(|(id, code, tests)| {
            Item::new("p", *code)
                .with_id(*id)
                .with_metadata(metadata((*tests).clone()))
        })
        .collect();
    let answer = judge(&server, "code_js", items).await;
    for ((id, _, _), result) in attacks.iter().chain(legit).zip(&answer.results) {
        let want = if attacks.iter().any(|(a, _, _)| a == id) {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        assert_eq!(result.verdict, want, "{id}: {:?}", result.judges[0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_javascript_runtime_is_an_error_verdict_with_instructions() {
    let _serial = SERIAL.lock().await;
    let empty = tempfile::tempdir().unwrap();
    let server = server(Backend::Sqlite)
        .config(CONFIG)
        .env(
            "MOJ_SANDBOX_RUNTIME_DIR",
            &empty.path().display().to_string(),
        )
        .start();
    let item = Item::new("p", "const f = () => 1;")
        .with_metadata(metadata(json!({"unit_tests": ["assert(f() === 1)"]})));
    let answer = judge(&server, "code_js", vec![item]).await;
    let verdict = &answer.results[0].judges[0];
    assert_eq!(verdict.verdict, Verdict::Error, "{verdict:?}");
    assert!(
        verdict.reason.contains("sandboxes/js/fetch.sh"),
        "{verdict:?}"
    );
}
