//! Judge integrity under attack, end to end on the real server and sandbox: a corpus of reward
//! hacks, one per class and test format (HumanEval, MBPP, unit_tests, APPS calls, stdio), each
//! a WRONG solution that tries to get `pass`; correct programs that misuse stdio still pass;
//! verdicts do not depend on host load; dropped requests stop costing; bounded connections.
//! Run against the single-instance harness this replaced (commit 48b686c), these hacks got
//! `pass`: stack walking (all four function formats), `gc.get_objects()` (MBPP, unit_tests, APPS
//! calls), patching `random` + `math.isclose` (HumanEval, MBPP, unit_tests), always-true
//! `__eq__` and the `int` subclass (APPS calls), `sys.settrace` (APPS calls), and every stdio
//! case within 1e-5 of an expected integer. RELIABILITY.md ("Reward hacking") lists the classes
//! and what stops each.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Backend, Server, server};
use judge_api::{Item, JudgeRequest, JudgeResponse, JudgeVerdict, Verdict};
use serde_json::{Map, Value, json};

const CONFIG: &str = r#"
[judges.code]
kind = "code"
config = { timeout_ms = 5000, memory_mb = 128 }

[judges.code_js]
kind = "code"
config = { language = "javascript", timeout_ms = 5000, memory_mb = 128 }

[judges.code_budget]
kind = "code"
config = { timeout_ms = 3000, memory_mb = 128 }

[judges.anything]
kind = "regex"
config = { must_match = ["."] }
"#;

fn start() -> Server {
    server(Backend::Sqlite).config(CONFIG).start()
}

/// The load test must not compete with the other tests of this file for the two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn judge(server: &Server, judge: &str, items: Vec<Item>) -> JudgeResponse {
    server
        .client()
        .judge(&JudgeRequest::for_judges([judge], items).without_cache())
        .await
        .unwrap()
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

/// The task of every function-format case: `add(a, b)` returns `a + b`. The tests include a
/// randomised one and one through `math.isclose`, as HumanEval's do.
fn formats() -> Vec<(&'static str, Map<String, Value>)> {
    let random_test = "import random\nfor _ in range(5):\n    x = random.randint(1, 10**6)\n    assert add(x, 1) == x + 1";
    vec![
        (
            "humaneval",
            object(json!({
                "prompt": "import math\ndef add(a, b):\n    \"\"\"Return a + b.\"\"\"\n",
                "entry_point": "add",
                "test": "import math, random\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert math.isclose(candidate(0.5, 0.25), 0.75)\n    for _ in range(5):\n        x = random.randint(1, 10**6)\n        assert candidate(x, 1) == x + 1\n",
            })),
        ),
        (
            "mbpp",
            object(json!({
                "test_imports": ["import math"],
                "test_list": ["assert add(2, 3) == 5", "assert math.isclose(add(0.5, 0.25), 0.75)", random_test],
            })),
        ),
        (
            "unit_tests",
            object(json!({
                "unit_tests": ["assert add(2, 3) == 5", "import math\nassert math.isclose(add(0.5, 0.25), 0.75)", random_test],
            })),
        ),
        (
            "apps_calls",
            object(json!({
                "input_output": {"inputs": [[2, 3], [0.5, 0.25], [1000000, 7]], "outputs": [[5], [0.75], [1000007]], "fn_name": "add"},
            })),
        ),
    ]
}

/// Wrong `add`s that try to pass anyway, by class. Each one passed on the single-instance
/// harness (the tests ran in the solution's interpreter) or would pass a harness that trusts
/// what the solution's objects say about themselves.
const FUNCTION_HACKS: &[(&str, &str)] = &[
    (
        "frames: find the harness's report function and nonce on the stack, report all-pass, exit",
        r#"
import sys, os
def add(a, b):
    f = sys._getframe()
    while f is not None:
        loc = f.f_locals
        if "report" in loc and "nonce" in loc:
            n = len(loc.get("tests") or []) + len((loc.get("calls") or [None, []])[1])
            loc["report"]("T:" + ",".join(["P"] * max(n, 1)))
            os._exit(0)
        f = f.f_back
    return 0
"#,
    ),
    (
        "inspect.stack(): rewrite the harness's outcome list and tests",
        r#"
import inspect
def add(a, b):
    for info in inspect.stack():
        loc = info.frame.f_locals
        for name in ("outcomes", "tests", "cases"):
            if isinstance(loc.get(name), list):
                loc[name][:] = ["P"] * len(loc[name]) if name == "outcomes" else []
    return 0
"#,
    ),
    (
        "gc.get_objects(): find the reporting closure through the heap, report all-pass, exit",
        r#"
import gc, os
def add(a, b):
    for o in gc.get_objects():
        code = getattr(o, "__code__", None)
        if callable(o) and code is not None and o.__name__ == "report" and "nonce" in code.co_freevars:
            o("T:" + ",".join(["P"] * 3))
            os._exit(0)
    for o in gc.get_objects():
        if type(o) is list and o and all(type(x) is str and x[:1] in ("A", "E") for x in o):
            o[:] = ["P"] * len(o)
    return 0
"#,
    ),
    (
        "an object whose __eq__ is always true",
        r#"
class Anything:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    __hash__ = object.__hash__
def add(a, b):
    return Anything()
"#,
    ),
    (
        "an int subclass whose __eq__ is always true",
        r#"
class Liar(int):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = int.__hash__
def add(a, b):
    return Liar(0)
"#,
    ),
    (
        "patch random so the randomised tests degenerate, and math.isclose",
        r#"
import random, math
random.randint = lambda a, b: 0
random.random = lambda: 0.0
math.isclose = lambda *a, **k: True
def add(a, b):
    if (a, b) == (2, 3):
        return 5
    if (a, b) == (0, 1):
        return 1
    return 0
"#,
    ),
    (
        "rebind builtins the tests share (abs, isinstance, AssertionError)",
        r#"
import builtins
builtins.abs = lambda x: 0
class Quiet(Exception): pass
builtins.AssertionError = Quiet
def add(a, b):
    return 0
"#,
    ),
    (
        "sys.settrace: set the harness's `got` to `want` on every line",
        r#"
import sys
def tracer(frame, event, arg):
    loc = frame.f_locals
    if "got" in loc and "want" in loc:
        loc["got"] = loc["want"]
    return tracer
f = sys._getframe()
while f is not None:
    f.f_trace = tracer
    f = f.f_back
sys.settrace(tracer)
def add(a, b):
    f = sys._getframe(1)
    while f is not None:
        f.f_trace = tracer
        f = f.f_back
    return 0
"#,
    ),
    (
        "a non-finite number: infinity is within any relative tolerance of any float",
        "def add(a, b):\n    if type(a) is int and type(b) is int:\n        return a + b\n    return float('inf')\n",
    ),
    (
        "print a fake report and exit before the tests",
        "import os\nprint('T:P,P,P')\nprint('ALL TESTS PASSED')\nos._exit(0)\n",
    ),
    (
        "flood the channel with forged replies",
        r#"
import os
def add(a, b):
    for _ in range(100):
        os.write(1, b'\n{"ok": 5}\n{"ok": 0.75}\n')
    return 0
"#,
    ),
];

fn verdict_of(answer: &JudgeResponse, index: usize) -> &JudgeVerdict {
    &answer.results[index].judges[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_function_format_reward_hack_passes() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let correct = "def add(a, b):\n    return a + b\n";
    for (format, metadata) in formats() {
        let mut items = vec![Item::new("p", correct).with_metadata(metadata.clone())];
        for (_, hack) in FUNCTION_HACKS {
            items.push(Item::new("p", *hack).with_metadata(metadata.clone()));
        }
        let answer = judge(&server, "code", items).await;
        assert_eq!(
            verdict_of(&answer, 0).verdict,
            Verdict::Pass,
            "{format}: the correct solution passes: {:?}",
            verdict_of(&answer, 0)
        );
        for (index, (class, _)) in FUNCTION_HACKS.iter().enumerate() {
            let verdict = verdict_of(&answer, index + 1);
            assert_eq!(
                verdict.verdict,
                Verdict::Fail,
                "{format}: {class} must fail: {verdict:?}"
            );
        }
    }
}

/// The JavaScript twin of `formats()`: `add(a, b)` returns `a + b`, with a randomised test and
/// a float one, in each test format the JavaScript harness reads.
fn javascript_formats() -> Vec<(&'static str, Map<String, Value>)> {
    let random_test = "for (let i = 0; i < 5; i++) { const x = Math.floor(Math.random() * 1e6) + 1; assert.strictEqual(add(x, 1), x + 1); }";
    let float_test = "assert(Math.abs(add(0.5, 0.25) - 0.75) < 1e-9)";
    vec![
        (
            "humaneval",
            object(json!({
                "entry_point": "add",
                "test": "const assert = require('node:assert');\nfunction check(candidate) {\n  assert.strictEqual(candidate(2, 3), 5);\n  assert(Math.abs(candidate(0.5, 0.25) - 0.75) < 1e-9);\n  for (let i = 0; i < 5; i++) { const x = Math.floor(Math.random() * 1e6) + 1; assert.deepStrictEqual([candidate(x, 1)], [x + 1]); }\n}\n",
            })),
        ),
        (
            "mbpp",
            object(
                json!({"test_list": ["assert.strictEqual(add(2, 3), 5)", float_test, random_test]}),
            ),
        ),
        (
            "unit_tests",
            object(json!({"unit_tests": ["assert(add(2, 3) === 5)", float_test, random_test]})),
        ),
        (
            "apps_calls",
            object(json!({
                "input_output": {"inputs": [[2, 3], [0.5, 0.25], [1000000, 7]], "outputs": [[5], [0.75], [1000007]], "fn_name": "add"},
            })),
        ),
    ]
}

/// Wrong JavaScript `add`s that try to pass anyway, by class. Solution and tests share one
/// QuickJS realm (javascript.rs), so each tries to reach what the tests use: their source
/// (callers, stack traces), the intrinsics they call, the report, or a comparison.
const JAVASCRIPT_HACKS: &[(&str, &str)] = &[
    (
        "callers: read the calling test's source and answer with its expected value",
        r#"
function add(a, b) {
  let source = "";
  try { source = String(add.caller); } catch (e) {}
  try { source += String(arguments.callee.caller); } catch (e) {}
  const m = /\(\s*2\s*,\s*3\s*\)\s*(?:===|,)\s*(\d+)/.exec(source);
  return m ? Number(m[1]) : 0;
}
"#,
    ),
    (
        "stack traces: look for the test's text or the harness's data in an error's stack",
        r#"
function add(a, b) {
  const stack = String(new Error().stack);
  const m = /===\s*(\d+)/.exec(stack);
  return m ? Number(m[1]) : 0;
}
"#,
    ),
    (
        "patch Math.random so the randomised tests degenerate, and Math.abs / Object.is / JSON",
        r#"
try { Math.random = () => 0; } catch (e) {}
try { Math.abs = () => 0; } catch (e) {}
try { Object.is = () => true; } catch (e) {}
try { JSON.stringify = () => "same"; } catch (e) {}
try { Object.defineProperty(Math, "random", { value: () => 0 }); } catch (e) {}
function add(a, b) {
  if (a === 2 && b === 3) return 5;
  if (a === 1 && b === 1) return 2;
  return 0;
}
"#,
    ),
    (
        "objects that claim to equal anything (valueOf, toString, toPrimitive, a Proxy)",
        r#"
function add(a, b) {
  const liar = { valueOf() { return 5; }, toString() { return "5"; }, [Symbol.toPrimitive]() { return 5; } };
  return new Proxy(liar, {
    get: (t, k) => (k in t ? t[k] : liar),
    getPrototypeOf: () => Object.prototype,
    ownKeys: () => [],
    has: () => true,
  });
}
"#,
    ),
    (
        "a non-finite number: Infinity is within any relative tolerance of any float",
        "function add(a, b) { return Number.isInteger(a) && Number.isInteger(b) ? a + b : Infinity; }",
    ),
    (
        "Error.prepareStackTrace: take the calling test's function from a call site, read its source",
        r#"
function add(a, b) {
  let frames = [];
  try {
    Error.prepareStackTrace = (e, sites) => sites;
    frames = new Error().stack;
  } catch (e) {}
  for (let i = 0; i < (frames.length || 0); i++) {
    let source = "";
    try { source = String(frames[i].getFunction()); } catch (e) {}
    const call = "(" + a + ", " + b + ")";
    const at = source.indexOf(call);
    if (at < 0) continue;
    const m = /^\s*(?:===?|,)\s*([-\d.]+)/.exec(source.slice(at + call.length));
    if (m) return Number(m[1]);
  }
  return 0;
}
"#,
    ),
    (
        "print a fake report and exit before the tests",
        "print('T:P,P,P'); console.log('All tests passed'); std.out.flush(); std.exit(0);",
    ),
    (
        "end the run from inside a test, after printing a fake report",
        "function add(a, b) { print('\\nT:P,P,P'); std.out.flush(); std.exit(0); }",
    ),
    (
        "throw something that breaks the report while it is described",
        r#"
function add(a, b) {
  throw { get name() { throw new Error("x"); }, get message() { throw new Error("y"); }, toString() { throw new Error("z"); } };
}
"#,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_javascript_function_format_reward_hack_passes() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let correct = "function add(a, b) {\n  return a + b;\n}\n";
    for (format, metadata) in javascript_formats() {
        let mut items = vec![Item::new("p", correct).with_metadata(metadata.clone())];
        for (_, hack) in JAVASCRIPT_HACKS {
            items.push(Item::new("p", *hack).with_metadata(metadata.clone()));
        }
        let answer = judge(&server, "code_js", items).await;
        assert_eq!(
            verdict_of(&answer, 0).verdict,
            Verdict::Pass,
            "{format}: the correct solution passes: {:?}",
            verdict_of(&answer, 0)
        );
        for (index, (class, _)) in JAVASCRIPT_HACKS.iter().enumerate() {
            let verdict = verdict_of(&answer, index + 1);
            assert_eq!(
                verdict.verdict,
                Verdict::Fail,
                "{format}: {class} must fail: {verdict:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_are_not_data_fail_naming_their_type() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let tests = object(json!({"test_list": ["assert add(2, 3) == 5"]}));
    let answer = judge(
        &server,
        "code",
        vec![
            Item::new(
                "p",
                "class Liar(int):\n    def __eq__(self, other): return True\ndef add(a, b):\n    return Liar(0)\n",
            )
            .with_metadata(tests.clone()),
            // A generator where a number is expected.
            Item::new("p", "def add(a, b):\n    yield a + b\n").with_metadata(tests.clone()),
        ],
    )
    .await;
    let reason = &verdict_of(&answer, 0).reason;
    assert!(reason.contains("__main__.Liar"), "{reason}");
    let reason = &verdict_of(&answer, 1).reason;
    assert!(reason.contains("generator"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_side_keeps_python_semantics() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let cases: &[(&str, &str, Value)] = &[
        (
            "in-place mutation is copied back",
            "def sort_in_place(xs):\n    xs.sort()\n",
            json!({"test_list": ["xs = [3, 1, 2]\nsort_in_place(xs)\nassert xs == [1, 2, 3]"]}),
        ),
        (
            "classes: instances are handles, methods and len() forwarded",
            "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n        self.items.append(x)\n    def pop(self):\n        return self.items.pop()\n    def __len__(self):\n        return len(self.items)\n",
            json!({"test_list": ["s = Stack()\ns.push(1)\ns.push(2)\nassert len(s) == 2\nassert s.pop() == 2\nassert s.items == [1]"]}),
        ),
        (
            "exceptions cross with their builtin base",
            "class Bad(ValueError):\n    pass\ndef parse(x):\n    raise Bad('no')\n",
            json!({"test_list": ["try:\n    parse('x')\n    assert False\nexcept ValueError as e:\n    assert 'no' in str(e)"]}),
        ),
        (
            "generators iterate",
            "def squares(n):\n    for i in range(n):\n        yield i * i\n",
            json!({"test_list": ["assert list(squares(4)) == [0, 1, 4, 9]"]}),
        ),
        (
            "tuples, sets, dicts, bytes, big ints, Counter",
            "from collections import Counter\ndef f():\n    return (1, 2), {3}, {'a': [1]}, b'x', 10**400, Counter('aab')\n",
            json!({"test_list": ["from collections import Counter\nassert f() == ((1, 2), {3}, {'a': [1]}, b'x', 10**400, Counter({'a': 2, 'b': 1}))"]}),
        ),
        (
            "modules the solution imported are the tests' too",
            "import sys\ndef size(x):\n    return sys.getsizeof(x)\n",
            json!({"test_list": ["assert size((1, 2)) == sys.getsizeof((1, 2))"]}),
        ),
        (
            "a correct program that closes stdout",
            "import sys\ndef add(a, b):\n    sys.stdout.close()\n    return a + b\n",
            json!({"test_list": ["assert add(2, 3) == 5"]}),
        ),
        (
            "a correct program that writes a megabyte of binary to stdout and stderr",
            "import sys, os\ndef add(a, b):\n    sys.stdout.buffer.write(os.urandom(1 << 20))\n    sys.stderr.buffer.write(bytes(range(256)) * 4096)\n    return a + b\n",
            json!({"test_list": ["assert add(2, 3) == 5"]}),
        ),
        (
            "HumanEval helpers the tests call are the prompt's, not the solution's",
            "def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\ndef find_zero(xs):\n    return -xs[0] / xs[1]\n",
            json!({"prompt": "def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\ndef find_zero(xs):\n    \"\"\"Zero of a linear polynomial.\"\"\"\n", "entry_point": "find_zero", "test": "def check(candidate):\n    import math\n    assert math.fabs(poly([1, 2], candidate([1, 2]))) < 1e-6\n"}),
        ),
    ];
    let items = cases
        .iter()
        .map(|(_, code, metadata)| Item::new("p", *code).with_metadata(object(metadata.clone())))
        .collect();
    let answer = judge(&server, "code", items).await;
    for (index, (name, _, _)) in cases.iter().enumerate() {
        let verdict = verdict_of(&answer, index);
        assert_eq!(verdict.verdict, Verdict::Pass, "{name}: {verdict:?}");
    }
    // A solution that redefines the prompt's helper to make the tests' check vacuous fails.
    let cheat = "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 123.0\n";
    let answer = judge(
        &server,
        "code",
        vec![Item::new("p", cheat).with_metadata(object(cases[8].2.clone()))],
    )
    .await;
    assert_eq!(verdict_of(&answer, 0).verdict, Verdict::Fail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_comparisons_cannot_be_gamed() {
    let _serial = SERIAL.lock().await;
    let server = start();
    // Each program prints a WRONG answer that SandboxFusion's 1e-5 comparison accepts, or the
    // right number written as a float where an integer is expected, or a non-finite number;
    // in Python and in JavaScript (the comparison is the same, outside the sandbox).
    let cases: &[(&str, &str, &str, &str, Verdict)] = &[
        (
            "exact",
            "print(int(input()) * 1000 + 7)",
            "print(Number(readline()) * 1000 + 7)",
            "1000000007",
            Verdict::Pass,
        ),
        (
            "within 1e-5 of a large integer",
            "input()\nprint(1000000000)",
            "print(1000000000)",
            "1000000007",
            Verdict::Fail,
        ),
        (
            "off by one in 100000",
            "input()\nprint(100001)",
            "print(100001)",
            "100000",
            Verdict::Fail,
        ),
        (
            "a float where an integer is expected",
            "input()\nprint(100000.0)",
            "print('100000.0')",
            "100000",
            Verdict::Fail,
        ),
        (
            "scientific notation for an integer",
            "input()\nprint('1e5')",
            "print('1e5')",
            "100000",
            Verdict::Fail,
        ),
        (
            "a non-integer within tolerance",
            "input()\nprint(0.3333333)",
            "print(0.3333333)",
            "0.33333334",
            Verdict::Pass,
        ),
        (
            "infinity where a non-integer is expected",
            "input()\nprint(float('inf'))",
            "print(Infinity)",
            "0.33333334",
            Verdict::Fail,
        ),
        (
            "NaN where a non-integer is expected",
            "input()\nprint(float('nan'))",
            "print(NaN)",
            "0.33333334",
            Verdict::Fail,
        ),
    ];
    for (judge_name, fence) in [("code", "python"), ("code_js", "javascript")] {
        let items = cases
            .iter()
            .map(|(_, python, javascript, want, _)| {
                let code = if fence == "python" {
                    python
                } else {
                    javascript
                };
                Item::new("p", format!("```{fence}\n{code}\n```")).with_metadata(object(
                    json!({"stdio": [{"input": "1000000\n", "output": want}]}),
                ))
            })
            .collect();
        let answer = judge(&server, judge_name, items).await;
        for (index, (name, _, _, _, want)) in cases.iter().enumerate() {
            let verdict = verdict_of(&answer, index);
            assert_eq!(verdict.verdict, *want, "{fence}: {name}: {verdict:?}");
        }
    }
    // APPS `input_output` without fn_name: the same comparison.
    let apps = object(json!({"input_output": {"inputs": ["1\n"], "outputs": ["1000000007\n"]}}));
    let answer = judge(
        &server,
        "code",
        vec![Item::new("p", "input()\nprint(1000000000)").with_metadata(apps)],
    )
    .await;
    assert_eq!(verdict_of(&answer, 0).verdict, Verdict::Fail);
    // The program, then its sample output in an untagged fence: the program runs, not "42".
    let response = "```python\nprint(int(input()) + 1)\n```\nSample output:\n```\n42\n```\n";
    let tests = object(json!({"stdio": [{"input": "1\n", "output": "2"}]}));
    let answer = judge(
        &server,
        "code",
        vec![Item::new("p", response).with_metadata(tests)],
    )
    .await;
    assert_eq!(
        verdict_of(&answer, 0).verdict,
        Verdict::Pass,
        "{:?}",
        verdict_of(&answer, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_calls_compare_integers_exactly() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let io = |outputs: Value| {
        object(json!({"input_output": {"inputs": [[100000]], "outputs": outputs, "fn_name": "f"}}))
    };
    let cases: &[(&str, Value, Verdict)] = &[
        ("def f(n):\n    return n", json!([[100000]]), Verdict::Pass),
        (
            "def f(n):\n    return n + 1",
            json!([[100000]]),
            Verdict::Fail,
        ),
        (
            "def f(n):\n    return float(n)",
            json!([[100000]]),
            Verdict::Fail,
        ),
        ("def f(n):\n    return True", json!([[1]]), Verdict::Fail),
        (
            "def f(n):\n    return n / 3",
            json!([[33333.333333]]),
            Verdict::Pass,
        ),
        (
            "def f(n):\n    return float('inf')",
            json!([[33333.333333]]),
            Verdict::Fail,
        ),
        (
            "def f(n):\n    return [float('-inf')]",
            json!([[33333.333333]]),
            Verdict::Fail,
        ),
        (
            "def f(n):\n    return float('nan')",
            json!([[33333.333333]]),
            Verdict::Fail,
        ),
        // Two keys of the result answering one expected key, the other never checked.
        (
            "def f(n):\n    return {1: 5, '1': 5}",
            json!([{"1": 5, "2": 7}]),
            Verdict::Fail,
        ),
        (
            "def f(n):\n    return {1: 5, 2: 7}",
            json!([{"1": 5, "2": 7}]),
            Verdict::Pass,
        ),
    ];
    let items = cases
        .iter()
        .map(|(code, outputs, _)| Item::new("p", *code).with_metadata(io(outputs.clone())))
        .collect();
    let answer = judge(&server, "code", items).await;
    for (index, (code, _, want)) in cases.iter().enumerate() {
        assert_eq!(
            verdict_of(&answer, index).verdict,
            *want,
            "{code}: {:?}",
            verdict_of(&answer, index)
        );
    }
    // Integers beyond 64 bits in `input_output` given as a JSON string (as APPS and TACO store
    // it) stay exact: 30! must be returned exactly, not as a neighbour or a float.
    let factorial = object(
        json!({"input_output": r#"{"inputs": [[30], [3]], "outputs": [[265252859812191058636308480000000], [6]], "fn_name": "f"}"#}),
    );
    let cases: &[(&str, Verdict)] = &[
        (
            "import math\ndef f(n):\n    return math.factorial(n)",
            Verdict::Pass,
        ),
        (
            "import math\ndef f(n):\n    return math.factorial(n) + (n > 20)",
            Verdict::Fail,
        ),
        (
            "import math\ndef f(n):\n    return float(math.factorial(n))",
            Verdict::Fail,
        ),
        (
            "import math\ndef f(n):\n    return int(float(math.factorial(n)))",
            Verdict::Fail,
        ),
    ];
    let items = cases
        .iter()
        .map(|(code, _)| Item::new("p", *code).with_metadata(factorial.clone()))
        .collect();
    let answer = judge(&server, "code", items).await;
    for (index, (code, want)) in cases.iter().enumerate() {
        assert_eq!(
            verdict_of(&answer, index).verdict,
            *want,
            "{code}: {:?}",
            verdict_of(&answer, index)
        );
    }
}

/// JavaScript HumanEval: the helpers of the item's prompt (`poly` next to `findZero`) are the
/// prompt's in the tests, as in Python; a solution that redefines `poly` to make the check
/// vacuous fails, and a solution that does not repeat the prompt's helpers passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_humaneval_helpers_stay_the_prompts() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let metadata = object(json!({
        "prompt": "function poly(xs, x) { let s = 0; for (let i = 0; i < xs.length; i++) s += xs[i] * Math.pow(x, i); return s; }\n/* Find x with poly(xs, x) = 0. */\nfunction findZero(xs) {\n",
        "entry_point": "findZero",
        "test": "function check(candidate) {\n  const cases = [[1, 2], [-6, 11, -6, 1], [-1, 0, 0, 1]];\n  for (const xs of cases) { const r = candidate(xs); assert(Math.abs(poly(xs, r)) < 1e-4); }\n}\n",
    }));
    let bisection = "function findZero(xs) {\n  let lo = -100, hi = 100;\n  const f = (x) => xs.reduce((s, c, i) => s + c * Math.pow(x, i), 0);\n  if (f(lo) > 0) { const t = lo; lo = hi; hi = t; }\n  for (let i = 0; i < 200; i++) { const mid = (lo + hi) / 2; if (f(mid) < 0) lo = mid; else hi = mid; }\n  return lo;\n}\n";
    let cases: &[(&str, String, Verdict)] = &[
        (
            "redefines poly",
            "function poly(xs, x) { return 0; }\nfunction findZero(xs) { return 12345; }".into(),
            Verdict::Fail,
        ),
        ("only findZero", bisection.into(), Verdict::Pass),
        (
            "repeats the prompt",
            format!(
                "function poly(xs, x) {{ let s = 0; for (let i = 0; i < xs.length; i++) s += xs[i] * Math.pow(x, i); return s; }}\n{bisection}"
            ),
            Verdict::Pass,
        ),
    ];
    let items = cases
        .iter()
        .map(|(_, code, _)| Item::new("p", code.as_str()).with_metadata(metadata.clone()))
        .collect();
    let answer = judge(&server, "code_js", items).await;
    for (index, (name, _, want)) in cases.iter().enumerate() {
        let verdict = verdict_of(&answer, index);
        assert_eq!(verdict.verdict, *want, "{name}: {verdict:?}");
    }
}

/// A Python solution that waits on its own stdin (which carries the tests' calls) while the
/// tests wait for it: neither uses fuel, so without the pair's watchdog the run held a worker
/// until the wall-clock safety net (55 s here) and was answered `error`. Now it fails at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solution_waiting_on_its_own_stdin_fails_at_once() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let tests = object(json!({
        "prompt": "def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n",
        "entry_point": "add",
        "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n",
    }));
    let programs = [
        "import os\nos.read(0, 1)\ndef add(a, b):\n    return a + b\n",
        "import os\ndef add(a, b):\n    os.read(0, 1)\n    return a + b\n",
        "import sys\ndef add(a, b):\n    sys.stdin = open(0)\n    return int(sys.stdin.readline())\n",
    ];
    let started = std::time::Instant::now();
    let items = programs
        .iter()
        .map(|code| Item::new("p", *code).with_metadata(tests.clone()))
        .collect();
    let answer = judge(&server, "code", items).await;
    for (index, code) in programs.iter().enumerate() {
        let verdict = verdict_of(&answer, index);
        assert_eq!(verdict.verdict, Verdict::Fail, "{code}: {verdict:?}");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "three deadlocked items took {:?}",
        started.elapsed()
    );
    let ok = judge(
        &server,
        "code",
        vec![Item::new("p", "def add(a, b):\n    return a + b\n").with_metadata(tests)],
    )
    .await;
    assert_eq!(verdict_of(&ok, 0).verdict, Verdict::Pass, "{ok:?}");
}

/// Spins `threads` busy threads until the guard drops: a host as loaded as the review's (8 busy
/// processes on 2 cores).
struct Load(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Load {
    fn start(threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..threads)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        Load(stop, handles)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for handle in self.1.drain(..) {
            let _ = handle.join();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_do_not_depend_on_host_load() {
    let _serial = SERIAL.lock().await;
    let server = start();
    // About half of a 3 s budget on the reference machine; far more than 3 s of wall-clock
    // time on a host with 8 busy threads on 2 cores.
    let program =
        "def work(n):\n    s = 0\n    for i in range(n):\n        s += i * i\n    return s\n";
    let half = object(
        json!({"test_list": ["assert work(1_000_000) == sum(i * i for i in range(1_000_000))"]}),
    );
    // Three times the budget: out of fuel on any host.
    let over = object(json!({"test_list": ["assert work(6_000_000) == 71999982000001000000"]}));
    let items = || {
        vec![
            Item::new("p", program).with_metadata(half.clone()),
            Item::new("p", program).with_metadata(over.clone()),
        ]
    };
    let idle = judge(&server, "code_budget", items()).await;
    assert_eq!(
        verdict_of(&idle, 0).verdict,
        Verdict::Pass,
        "{:?}",
        verdict_of(&idle, 0)
    );
    assert_eq!(
        verdict_of(&idle, 1).verdict,
        Verdict::Fail,
        "{:?}",
        verdict_of(&idle, 1)
    );
    let loaded = {
        let _load = Load::start(8);
        judge(&server, "code_budget", items()).await
    };
    let correct = verdict_of(&loaded, 0);
    assert_eq!(
        correct.verdict,
        Verdict::Pass,
        "a correct program under load: {correct:?}"
    );
    let slow = verdict_of(&loaded, 1);
    assert_eq!(slow.verdict, Verdict::Fail, "{slow:?}");
    assert_eq!(
        slow.details.as_ref().unwrap()["exit"],
        "timeout",
        "{slow:?}"
    );
}

/// The value of a gauge in the server's Prometheus text.
fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{name} is missing from /metrics"))
}

/// Polls `/metrics` until `done` holds for it, up to `seconds`; the last text.
async fn wait_for_metrics(server: &Server, seconds: u64, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let text = common::metrics(server).await;
        if done(&text) || std::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_cancels_its_batch() {
    use tokio::io::AsyncWriteExt;
    let _serial = SERIAL.lock().await;
    let server = server(Backend::Sqlite)
        .config("[judges.slow]\nkind = \"code\"\nconfig = { timeout_ms = 60000, memory_mb = 64 }\n")
        .start();
    // Twelve programs that would each run for a minute: 2 run, the rest wait in the queue.
    let items: Vec<Item> = (0..12)
        .map(|i| {
            Item::new(format!("p{i}"), "def f():\n    while True:\n        pass\n")
                .with_metadata(object(json!({"test_list": ["assert f() is None"]})))
        })
        .collect();
    let body =
        serde_json::to_vec(&JudgeRequest::for_judges(["slow"], items).without_cache()).unwrap();
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut client = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/judge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).await.unwrap();
    client.write_all(&body).await.unwrap();
    let busy = wait_for_metrics(&server, 30, |m| gauge(m, "moj_sandbox_runs_running") >= 2.0).await;
    assert!(gauge(&busy, "moj_sandbox_runs_running") >= 2.0, "{busy}");
    // The client hangs up.
    drop(client);
    let idle = wait_for_metrics(&server, 20, |m| {
        gauge(m, "moj_sandbox_runs_running") == 0.0 && gauge(m, "moj_sandbox_runs_queued") == 0.0
    })
    .await;
    assert_eq!(
        gauge(&idle, "moj_sandbox_runs_running"),
        0.0,
        "runs still going: {idle}"
    );
    assert_eq!(
        gauge(&idle, "moj_sandbox_runs_queued"),
        0.0,
        "runs still queued: {idle}"
    );
    assert_eq!(gauge(&idle, "moj_batches_in_flight"), 0.0, "{idle}");
    // The next request is served at once, not after the abandoned minute-long runs.
    let quick = Item::new("p", "def f():\n    return None\n")
        .with_metadata(object(json!({"test_list": ["assert f() is None"]})));
    let answer = judge(&server, "slow", vec![quick]).await;
    assert_eq!(verdict_of(&answer, 0).verdict, Verdict::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_unread_connections_are_closed_and_methods_do_not_grow_metrics() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _serial = SERIAL.lock().await;
    // The unread answer must be larger than what the kernel may buffer for it: the server's
    // send buffer grows up to tcp_wmem's maximum (4 MiB by default, 32 MiB and more on some
    // hosts), the client's receive buffer is kept small below.
    let send_buffer_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|line| line.split_whitespace().nth(2)?.parse::<usize>().ok())
        .unwrap_or(4 << 20);
    let id_bytes = 1_500_000;
    let item_count = (2 * send_buffer_max / id_bytes + 1).max(16);
    let server = server(Backend::Sqlite)
        .config(CONFIG)
        .env("MOJ_LIMITS_HEADER_READ_TIMEOUT_MS", "500")
        .env("MOJ_LIMITS_RESPONSE_WRITE_TIMEOUT_MS", "500")
        .env(
            "MOJ_LIMITS_MAX_BODY_BYTES",
            &((item_count + 2) * id_bytes).to_string(),
        )
        .start();
    let address = server.base.trim_start_matches("http://").to_owned();
    // A connection that never sends a byte is closed after the header deadline.
    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut buffer = [0u8; 16];
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(20), silent.read(&mut buffer)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the silent connection stays open: {read:?}"
    );
    // Invented methods share one label: 300 of them leave /metrics about as big as one does.
    let send_method = |method: String| {
        let address = address.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            let request =
                format!("{method} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
        }
    };
    send_method("FOO0".into()).await;
    // (Reading /metrics is a request too: read it once so its own labels exist.)
    common::metrics(&server).await;
    let before = common::metrics(&server).await.len();
    for i in 1..300 {
        send_method(format!("FOO{i}")).await;
    }
    let after = common::metrics(&server).await;
    assert!(
        after.len() < before + 200,
        "{} -> {} bytes",
        before,
        after.len()
    );
    assert!(!after.contains("FOO1"), "an invented method became a label");
    // A client that asks for a big answer (ids are echoed) and never reads it is disconnected
    // after the write deadline; the server keeps serving others meanwhile.
    let big = "x".repeat(id_bytes);
    let items: Vec<Item> = (0..item_count)
        .map(|i| Item::new("p", "r").with_id(format!("{i}{big}")))
        .collect();
    let body = serde_json::to_vec(&JudgeRequest::for_judges(["anything"], items)).unwrap();
    // A small receive buffer turns off the kernel's receive-window autotuning: on hosts whose
    // tcp_rmem is large (32 MiB), loopback would otherwise buffer the whole answer and the
    // write deadline would never be reached (seen in CI, reproduced with that tcp_rmem).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let mut hoarder = socket.connect(address.parse().unwrap()).await.unwrap();
    let head = format!(
        "POST /v1/judge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    hoarder.write_all(head.as_bytes()).await.unwrap();
    hoarder.write_all(&body).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let health = common::http()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // Reading now gets what was buffered, then the end: the server closed the connection
    // (without the deadline it would resume writing and keep the connection open).
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        hoarder.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the unread connection was not closed");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(300)])
    );
    assert!(
        answer.len() < body.len(),
        "the whole answer was sent: {} bytes",
        answer.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_big_batches_does_not_refuse_a_small_one() {
    let _serial = SERIAL.lock().await;
    let server = server(Backend::Sqlite)
        .config(CONFIG)
        .env("MOJ_LIMITS_MAX_CONCURRENT_BATCHES", "1")
        .env("MOJ_LIMITS_MAX_QUEUED_BATCHES", "1")
        .env("MOJ_LIMITS_QUEUE_TIMEOUT_MS", "100")
        .start();
    let slow = |n: usize, tag: &str| -> Vec<Item> {
        (0..n)
            .map(|i| {
                Item::new(
                    format!("{tag}{i}"),
                    "import time\ndef f():\n    return sum(range(2_000_000))\n",
                )
                .with_metadata(object(
                    json!({"test_list": ["assert f() == 1999999000000"]}),
                ))
            })
            .collect()
    };
    // Two big batches: one holds the only ordinary slot, the other waits in the only queue
    // place (and more would be refused).
    let floods: Vec<_> = (0..2)
        .map(|f| {
            let client = server.client();
            let items = slow(16, &format!("flood{f}-"));
            tokio::spawn(async move {
                client
                    .judge(&JudgeRequest::for_judges(["code"], items).without_cache())
                    .await
            })
        })
        .collect();
    wait_for_metrics(&server, 30, |m| gauge(m, "moj_batches_in_flight") >= 1.0).await;
    // A one-item request is admitted and answered while the flood is still running.
    let single = judge(&server, "code", slow(1, "single")).await;
    assert_eq!(
        verdict_of(&single, 0).verdict,
        Verdict::Pass,
        "{:?}",
        verdict_of(&single, 0)
    );
    let still = floods.iter().any(|f| !f.is_finished());
    assert!(still, "the single item waited for the flood to end");
    for flood in floods {
        let _ = flood.await;
    }
}

/// Client A (one API key) queues batch after batch; client B (another key) sends one batch
/// after all of them. B is served as soon as a slot frees, not after A's whole queue (FIFO
/// admission made it wait for every batch A had queued), and its runs take turns with A's in
/// the sandbox queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clients_queued_flood_does_not_push_another_clients_batch_to_the_back() {
    let _serial = SERIAL.lock().await;
    const FLOODER: &str = "flood-key-0123456789";
    const OTHER: &str = "other-key-0123456789";
    let server = server(Backend::Sqlite)
        .config(CONFIG)
        .env("MOJ_API_KEYS", &format!("{FLOODER},{OTHER}"))
        .env("MOJ_LIMITS_MAX_CONCURRENT_BATCHES", "1")
        .env("MOJ_LIMITS_MAX_QUEUED_BATCHES", "16")
        .env("MOJ_LIMITS_QUEUE_TIMEOUT_MS", "120000")
        .start();
    // Bigger than limits.small_batch_items (8): these compete for the ordinary slot.
    let batch = |tag: &str| -> Vec<Item> {
        (0..9)
            .map(|i| {
                Item::new(
                    format!("{tag}{i}"),
                    "def f():\n    return sum(range(1_000_000))\n",
                )
                .with_metadata(object(json!({"test_list": ["assert f() == 499999500000"]})))
            })
            .collect()
    };
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel::<String>();
    let send = |key: &'static str, tag: String| {
        let client = server.client().with_api_key(key);
        let items = batch(&tag);
        let done = done.clone();
        tokio::spawn(async move {
            let answer = client
                .judge(&JudgeRequest::for_judges(["code"], items).without_cache())
                .await
                .expect("admitted and answered");
            assert!(
                answer.results.iter().all(|r| r.verdict == Verdict::Pass),
                "{tag}: {:?}",
                answer.results
            );
            done.send(tag).unwrap();
        })
    };
    let mut all = vec![send(FLOODER, "A0".into())];
    wait_for_metrics(&server, 30, |m| gauge(m, "moj_batches_in_flight") >= 1.0).await;
    for n in 1..4 {
        all.push(send(FLOODER, format!("A{n}")));
    }
    wait_for_metrics(&server, 30, |m| gauge(m, "moj_queue_depth") >= 3.0).await;
    all.push(send(OTHER, "B".into()));
    wait_for_metrics(&server, 30, |m| gauge(m, "moj_queue_depth") >= 4.0).await;
    for task in all {
        task.await.unwrap();
    }
    drop(done);
    let mut order = Vec::new();
    while let Some(tag) = finished.recv().await {
        order.push(tag);
    }
    assert_eq!(
        order[..2],
        ["A0", "B"],
        "B waited behind A's queue: {order:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtins_the_tests_use_stay_the_tests_own() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let tests = object(json!({"test_list": [
        "assert abs(add(2, 3) - 5) < 1e-9",
        "assert len(pair(1)) == 2",
        "assert all(x == 1 for x in ones(3)) and sorted(ones(3)) == [1, 1, 1]",
    ]}));
    // Wrong functions, and the builtins the tests measure them with rebound to agree.
    let cheat = "def add(a, b):\n    return 0\ndef abs(x):\n    return 0\ndef pair(x):\n    return [x]\ndef len(x):\n    return 2\ndef ones(n):\n    return [0] * n\ndef all(xs):\n    return True\ndef sorted(xs):\n    return [1] * len(xs)\n";
    let right = "def add(a, b):\n    return a + b\ndef pair(x):\n    return [x, x]\ndef ones(n):\n    return [1] * n\n";
    // A function under test that is named like a builtin (MBPP/126 defines `sum`) is the
    // solution's when the item names it (its reference `code`, or `entry_point`).
    let named = object(json!({
        "test_list": ["assert sum(10, 15) == 6"],
        "code": "def sum(a, b):\n    return 6\n",
    }));
    let answer = judge(
        &server,
        "code",
        vec![
            Item::new("p", cheat).with_metadata(tests.clone()),
            Item::new("p", right).with_metadata(tests),
            Item::new("p", "def sum(a, b):\n    return 6\n").with_metadata(named),
        ],
    )
    .await;
    assert_eq!(
        verdict_of(&answer, 0).verdict,
        Verdict::Fail,
        "{:?}",
        verdict_of(&answer, 0)
    );
    assert_eq!(
        verdict_of(&answer, 0).score,
        Some(0.0),
        "{:?}",
        verdict_of(&answer, 0)
    );
    assert_eq!(
        verdict_of(&answer, 1).verdict,
        Verdict::Pass,
        "{:?}",
        verdict_of(&answer, 1)
    );
    assert_eq!(
        verdict_of(&answer, 2).verdict,
        Verdict::Pass,
        "{:?}",
        verdict_of(&answer, 2)
    );
}
