//! C and C++ in the `code` judge and `POST /run_code`, end to end on the real server: programs
//! compiled by Debian's clang-19 to WebAssembly inside the Landlock jail
//! (`scripts/install-cpp-toolchain.sh`, which scripts/test.sh runs) and run in the sandbox.
//! A labelled set of competitive-programming solutions (right ones, and subtly wrong ones:
//! overflow, off-by-one, wrong order) whose verdicts must agree with native `g++ -O2` runs; a
//! hostile corpus for the compile step (host files, devices, bombs) and for the run; checkers
//! for problems with more than one right output; a missing toolchain is an `error`.

use std::path::Path;
use std::process::Command;

use super::common::{self, Backend, Server, server};
use super::{SERIAL, judge, metadata};
use judge_api::{Item, Verdict};
use serde_json::{Value, json};

const CONFIG: &str = r#"
[judges.cpp]
kind = "code"
config = { language = "cpp", timeout_ms = 5000, memory_mb = 256 }

[judges.cpp20]
kind = "code"
config = { language = "cpp", cpp_std = "gnu++20", timeout_ms = 5000 }

[judges.c]
kind = "code"
config = { language = "c", timeout_ms = 5000 }
"#;

fn start() -> Server {
    server(Backend::Sqlite).config(CONFIG).start()
}

fn fenced(code: &str) -> String {
    format!("```cpp\n{code}\n```")
}

/// A problem: its stdin/stdout cases, and solutions labelled right or wrong.
struct Problem {
    name: &'static str,
    cases: &'static [(&'static str, &'static str)],
    solutions: &'static [(&'static str, bool, &'static str)],
}

const PROBLEMS: &[Problem] = &[
    Problem {
        name: "sum of n numbers up to 1e9",
        cases: &[
            ("3\n1 2 3\n", "6\n"),
            (
                "4\n1000000000 1000000000 1000000000 1000000000\n",
                "4000000000\n",
            ),
        ],
        solutions: &[
            (
                "long long",
                true,
                "#include <bits/stdc++.h>\nusing namespace std;\nint main(){ ios::sync_with_stdio(false); cin.tie(nullptr); int n; cin >> n; long long s = 0; for (int i = 0; i < n; i++) { long long x; cin >> x; s += x; } cout << s << \"\\n\"; }",
            ),
            (
                "int overflows",
                false,
                "#include <bits/stdc++.h>\nusing namespace std;\nint main(){ int n; cin >> n; int s = 0; for (int i = 0; i < n; i++) { int x; cin >> x; s += x; } cout << s << endl; }",
            ),
            (
                "scanf and printf",
                true,
                "#include <cstdio>\nint main(){ int n; if (scanf(\"%d\", &n) != 1) return 1; long long s = 0, x; for (int i = 0; i < n; i++) { scanf(\"%lld\", &x); s += x; } printf(\"%lld\\n\", s); return 0; }",
            ),
        ],
    },
    Problem {
        name: "k-th smallest",
        cases: &[("5 2\n9 1 7 3 5\n", "3\n"), ("3 3\n2 2 1\n", "2\n")],
        solutions: &[
            (
                "nth_element",
                true,
                "#include <bits/stdc++.h>\nusing namespace std;\nint main(){ int n, k; cin >> n >> k; vector<int> a(n); for (auto &x : a) cin >> x; nth_element(a.begin(), a.begin() + k - 1, a.end()); cout << a[k - 1] << '\\n'; }",
            ),
            (
                "off by one",
                false,
                "#include <bits/stdc++.h>\nusing namespace std;\nint main(){ int n, k; cin >> n >> k; vector<int> a(n); for (auto &x : a) cin >> x; sort(a.begin(), a.end()); cout << a[min(k, n - 1)] << '\\n'; }",
            ),
        ],
    },
    Problem {
        name: "sort words",
        cases: &[("3\npear apple fig\n", "apple fig pear\n")],
        solutions: &[
            (
                "ascending",
                true,
                "#include <bits/stdc++.h>\nusing namespace std;\nint main(){ int n; cin >> n; vector<string> w(n); for (auto &s : w) cin >> s; sort(w.begin(), w.end()); for (int i = 0; i < n; i++) cout << w[i] << (i + 1 < n ? ' ' : '\\n'); }",
            ),
            (
                "wrong order",
                false,
                "#include <bits/stdc++.h>\nusing namespace std;\nint main(){ int n; cin >> n; vector<string> w(n); for (auto &s : w) cin >> s; sort(w.rbegin(), w.rend()); for (int i = 0; i < n; i++) cout << w[i] << (i + 1 < n ? ' ' : '\\n'); }",
            ),
        ],
    },
    Problem {
        name: "primes up to n",
        cases: &[("10\n", "4\n"), ("1000000\n", "78498\n"), ("2\n", "1\n")],
        solutions: &[
            (
                "sieve",
                true,
                "#include <vector>\n#include <cstdio>\nint main(){ int n; scanf(\"%d\", &n); std::vector<bool> c(n + 1, true); int k = 0; for (int i = 2; i <= n; i++) if (c[i]) { k++; for (long long j = 1LL * i * i; j <= n; j += i) c[j] = false; } printf(\"%d\\n\", k); }",
            ),
            (
                "below n, not up to n",
                false,
                "#include <vector>\n#include <cstdio>\nint main(){ int n; scanf(\"%d\", &n); std::vector<bool> c(n + 1, true); int k = 0; for (int i = 2; i < n; i++) if (c[i]) { k++; for (long long j = 1LL * i * i; j < n; j += i) c[j] = false; } printf(\"%d\\n\", k); }",
            ),
        ],
    },
];

/// The native verdict: `g++ -O2` (the same standard), run on every case, output compared token
/// by token.
fn native_verdict(dir: &Path, index: usize, code: &str, cases: &[(&str, &str)]) -> bool {
    let source = dir.join(format!("s{index}.cpp"));
    let binary = dir.join(format!("s{index}"));
    std::fs::write(&source, code).unwrap();
    let built = Command::new("g++")
        .args(["-O2", "-std=gnu++17", "-o"])
        .args([&binary, &source])
        .status()
        .expect("g++ is installed");
    assert!(built.success(), "g++ compiles {code}");
    cases.iter().all(|(input, want)| {
        use std::io::Write;
        let mut child = Command::new(&binary)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        out.status.success() && got == want.split_whitespace().collect::<Vec<_>>()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpp_verdicts_agree_with_native_gpp() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let native = tempfile::tempdir().unwrap();
    let mut index = 0;
    for problem in PROBLEMS {
        let stdio: Vec<Value> = problem
            .cases
            .iter()
            .map(|(input, output)| json!({"input": input, "output": output}))
            .collect();
        let items = problem
            .solutions
            .iter()
            .map(|(_, _, code)| {
                Item::new("p", fenced(code)).with_metadata(metadata(json!({"stdio": stdio})))
            })
            .collect();
        let answer = judge(&server, "cpp", items).await;
        for ((label, right, code), result) in problem.solutions.iter().zip(&answer.results) {
            index += 1;
            let native = native_verdict(native.path(), index, code, problem.cases);
            assert_eq!(
                native, *right,
                "{}: {label}: the label is native g++'s",
                problem.name
            );
            let want = if *right { Verdict::Pass } else { Verdict::Fail };
            assert_eq!(
                result.verdict, want,
                "{}: {label}: {:?}",
                problem.name, result.judges[0]
            );
        }
    }
    // C, the same tests as the first problem; and `metadata.language` on a Python judge.
    let c = "```c\n#include <stdio.h>\nint main(void) { int n; long long s = 0, x; if (scanf(\"%d\", &n) != 1) return 1; while (n--) { scanf(\"%lld\", &x); s += x; } printf(\"%lld\\n\", s); return 0; }\n```";
    let stdio = json!([{"input": "2\n4000000000 5\n", "output": "4000000005"}]);
    let answer = judge(
        &server,
        "c",
        vec![Item::new("p", c).with_metadata(metadata(json!({"stdio": stdio})))],
    )
    .await;
    assert_eq!(answer.results[0].verdict, Verdict::Pass, "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpp_standards_exceptions_and_the_cache() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let tests = metadata(json!({"stdio": [{"input": "3 1 2", "output": "1 2 3"}]}));
    let ranges = fenced(
        "#include <bits/stdc++.h>\nint main(){ std::vector<int> v(3); for (auto &x : v) std::cin >> x; std::ranges::sort(v); for (int x : v) std::cout << x << ' '; }",
    );
    // C++20 compiles where the judge asks for it, and is a compile failure in C++17.
    let answer = judge(
        &server,
        "cpp20",
        vec![Item::new("p", ranges.as_str()).with_metadata(tests.clone())],
    )
    .await;
    assert_eq!(answer.results[0].verdict, Verdict::Pass, "{answer:?}");
    let answer = judge(
        &server,
        "cpp",
        vec![Item::new("p", ranges.as_str()).with_metadata(tests.clone())],
    )
    .await;
    let verdict = &answer.results[0].judges[0];
    assert_eq!(verdict.verdict, Verdict::Fail);
    assert_eq!(verdict.details.as_ref().unwrap()["exit"], "compile_error");
    // Exceptions are refused with a compile error that says so.
    let throws = fenced(
        "#include <stdexcept>\nint main(){ try { throw std::runtime_error(\"x\"); } catch (...) {} }",
    );
    let answer = judge(
        &server,
        "cpp",
        vec![Item::new("p", throws.as_str()).with_metadata(tests.clone())],
    )
    .await;
    let verdict = &answer.results[0].judges[0];
    assert_eq!(verdict.verdict, Verdict::Fail);
    assert!(
        verdict.reason.contains("exceptions disabled"),
        "{verdict:?}"
    );
    // The same program again is not compiled again (item cache off: the compile cache). The
    // comment makes it new to this machine's cache.
    let fresh = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let program = fenced(&format!(
        "// {fresh}\n#include <bits/stdc++.h>\nusing namespace std;\nint main(){{ int a, b, c; cin >> a >> b >> c; cout << min({{a, b, c}}) << ' ' << a + b + c - min({{a, b, c}}) - max({{a, b, c}}) << ' ' << max({{a, b, c}}); }}"
    ));
    let mut cached = Vec::new();
    for _ in 0..2 {
        let answer = judge(
            &server,
            "cpp",
            vec![Item::new("p", program.as_str()).with_metadata(tests.clone())],
        )
        .await;
        let verdict = &answer.results[0].judges[0];
        assert_eq!(verdict.verdict, Verdict::Pass, "{verdict:?}");
        cached.push(verdict.details.as_ref().unwrap()["compile"]["cached"].clone());
    }
    assert_eq!(cached, [json!(false), json!(true)]);
    // C and C++ items need stdin/stdout tests: a 422 naming the metadata.
    let body = json!({"judges": ["cpp"], "items": [{"response": program, "metadata": {"unit_tests": ["assert f() == 1"]}}]});
    let (status, body) = common::post_raw(&server, "/v1/judge", body.to_string()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "items[0].metadata", "{body}");
}

/// The compile step runs a native compiler on untrusted text: no host file outside the
/// toolchain reaches it (so none reaches the answer), and bombs end as failed compiles with
/// the server healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compile_step_is_contained() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let data_file = server.dir.path().join("moj-test.sqlite3");
    let tests = metadata(json!({"stdio": [{"input": "", "output": "ok"}]}));
    let cases: Vec<(&str, String, &str)> = vec![
        ("passwd", "#include \"/etc/passwd\"\nint main(){}".into(), "errors"),
        ("passwd via <>", "#include </etc/passwd>\nint main(){}".into(), "errors"),
        ("environ", "#include \"/proc/self/environ\"\nint main(){}".into(), "errors"),
        ("zero", "#include \"/dev/zero\"\nint main(){}".into(), "errors"),
        ("urandom", "#include \"/dev/urandom\"\nint main(){}".into(), "errors"),
        ("traversal", "#include \"../../../../../../etc/hostname\"\nint main(){}".into(), "errors"),
        ("server data", format!("#include \"{}\"\nint main(){{}}", data_file.display()), "errors"),
        (
            "host headers",
            "#include <sys/socket.h>\n#include <netinet/in.h>\nint main(){ return socket(AF_INET, SOCK_STREAM, 0); }".into(),
            "errors",
        ),
        (
            "template bomb",
            "template<int N> struct B { using T = typename B<N-1>::T; static const long v = B<N-1>::v + B<N-2>::v; };\ntemplate<> struct B<0> { using T = int; static const long v = 1; };\ntemplate<> struct B<1> { using T = int; static const long v = 1; };\nint main(){ return (int)B<100000>::v; }".into(),
            "errors",
        ),
        (
            "constexpr loop",
            "constexpr long f(){ long x = 0; while (true) x++; return x; }\nconstexpr long v = f();\nint main(){ return (int)v; }".into(),
            "errors",
        ),
        // An import the program declares itself: the sandbox will not run such a module.
        (
            "foreign import",
            "__attribute__((import_module(\"env\"), import_name(\"nope\"))) int nope(int);\nint main(int argc, char **argv){ return argc > 5 ? nope(argc) : 0; }".into(),
            "invalid_module",
        ),
        // A 200 MB initialised array is part of the module: refused before it fills caches.
        (
            "initialised giant",
            "static char big[200 << 20] = {1, 2, 3};\nint main(int c, char **v){ return big[c * 1000]; }".into(),
            "too_large|output_limit",
        ),
    ];
    let started = std::time::Instant::now();
    let items = cases
        .iter()
        .map(|(_, code, _)| Item::new("p", fenced(code)).with_metadata(tests.clone()))
        .collect();
    let answer = judge(&server, "cpp", items).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the hostile compiles took {:?}",
        started.elapsed()
    );
    for ((name, _, reasons), result) in cases.iter().zip(&answer.results) {
        let verdict = &result.judges[0];
        assert_eq!(verdict.verdict, Verdict::Fail, "{name}: {verdict:?}");
        let details = verdict.details.as_ref().unwrap();
        assert_eq!(details["exit"], "compile_error", "{name}: {verdict:?}");
        let compile = details["compile"].as_str().unwrap();
        assert!(
            reasons.split('|').any(|r| r == compile),
            "{name}: {compile}: {verdict:?}"
        );
        let text = format!("{} {}", verdict.reason, details);
        for host_content in ["root:x:0:0", "PATH=", "SQLite format", "MOJ_"] {
            assert!(
                !text.contains(host_content),
                "{name}: host content {host_content:?} in the answer: {text}"
            );
        }
    }
    // The compiler's own stdio are files in its directory, never pipes it could wait on:
    // `#include "/dev/stdout"` blocked the compiler until the safety net (an `error`, found by
    // review); now it includes what the compiler wrote so far (nothing), and the program,
    // which prints nothing, fails at once.
    let started = std::time::Instant::now();
    let own: Vec<Item> = [
        "/dev/stdout",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "/dev/stdin",
    ]
    .iter()
    .map(|path| {
        Item::new("p", fenced(&format!("#include \"{path}\"\nint main(){{}}")))
            .with_metadata(tests.clone())
    })
    .collect();
    let answer = judge(&server, "cpp", own).await;
    for result in &answer.results {
        assert_eq!(result.verdict, Verdict::Fail, "{:?}", result.judges[0]);
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // Still serving, and compiling.
    let ok = fenced("#include <cstdio>\nint main(){ puts(\"ok\"); }");
    let answer = judge(
        &server,
        "cpp",
        vec![Item::new("p", ok.as_str()).with_metadata(tests)],
    )
    .await;
    assert_eq!(answer.results[0].verdict, Verdict::Pass, "{answer:?}");
}

/// A program whose compile needs more CPU than `sandbox.compile_timeout_ms` (10^8 statements
/// by macro expansion) fails to compile on that limit, and the server goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_past_its_cpu_limit_fails() {
    let _serial = SERIAL.lock().await;
    let server = server(Backend::Sqlite)
        .config(CONFIG)
        .env("MOJ_SANDBOX_COMPILE_TIMEOUT_MS", "2000")
        .start();
    let tests = metadata(json!({"stdio": [{"input": "", "output": "1"}]}));
    let bomb = "#define A(x) x x x x x x x x x x\n#define B(x) A(A(x))\n#define C(x) B(B(x))\nint main(){ volatile int v = 0; C(C(v += 1;)) return v; }";
    let answer = judge(
        &server,
        "cpp",
        vec![Item::new("p", fenced(bomb)).with_metadata(tests.clone())],
    )
    .await;
    let verdict = &answer.results[0].judges[0];
    assert_eq!(verdict.verdict, Verdict::Fail, "{verdict:?}");
    let compile = verdict.details.as_ref().unwrap()["compile"].clone();
    assert!(
        compile == "cpu_limit" || compile == "memory_limit",
        "{verdict:?}"
    );
    let ok = fenced("#include <cstdio>\nint main(){ puts(\"1\"); }");
    let answer = judge(
        &server,
        "cpp",
        vec![Item::new("p", ok.as_str()).with_metadata(tests)],
    )
    .await;
    assert_eq!(answer.results[0].verdict, Verdict::Pass, "{answer:?}");
}

/// Compiled programs run in the same sandbox as the interpreters: no host files, fuel budget,
/// memory cap, output cap, traps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpp_runs_are_contained() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let tests = metadata(json!({"stdio": [{"input": "5\n", "output": "5"}]}));
    let cases: &[(&str, &str, &str)] = &[
        (
            "infinite loop",
            "int main(){ volatile int x = 0; while (true) x++; }",
            "timeout",
        ),
        (
            "memory bomb",
            "#include <vector>\nint main(){ std::vector<std::vector<char>> v; while (true) v.emplace_back(1 << 20, 1); }",
            "memory|crash",
        ),
        (
            "endless output",
            "#include <cstdio>\nint main(){ while (true) puts(\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"); }",
            "output_limit",
        ),
        ("trap", "int main(){ __builtin_trap(); }", "crash"),
        (
            "stack overflow",
            "int f(int n){ volatile char pad[4096]; pad[0] = n; return f(n + 1) + pad[0]; }\nint main(){ return f(0); }",
            "crash",
        ),
        (
            "host file at run time",
            "#include <cstdio>\nint main(){ FILE *f = fopen(\"/etc/passwd\", \"r\"); if (f) { char b[64]; fgets(b, 64, f); printf(\"%s\", b); } else puts(\"5\\nno file\"); }",
            "wrong_answer",
        ),
        (
            "reads all of stdin, then more",
            "#include <cstdio>\nint main(){ int c; long n = 0; while ((c = getchar()) != EOF) n++; while (getchar() == EOF && n < 1000000) n++; printf(\"%ld\\n\", n); }",
            "wrong_answer",
        ),
    ];
    let items = cases
        .iter()
        .map(|(_, code, _)| Item::new("p", fenced(code)).with_metadata(tests.clone()))
        .collect();
    let answer = judge(&server, "cpp", items).await;
    for ((name, _, reasons), result) in cases.iter().zip(&answer.results) {
        let verdict = &result.judges[0];
        assert_eq!(verdict.verdict, Verdict::Fail, "{name}: {verdict:?}");
        let outcome = verdict.details.as_ref().unwrap()["tests"][0]["outcome"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(
            reasons.split('|').any(|r| r == outcome),
            "{name}: {outcome}: {verdict:?}"
        );
        assert!(!format!("{verdict:?}").contains("root:x:0:0"), "{name}");
    }
}

/// What a compiled program costs stays within its budget whatever it does: a pointer chase
/// through memory (each load a cache miss, ~100x the time per instruction the budget assumes)
/// ends on its CPU cap as out of time, a storm of `poll_oneoff` subscriptions is refused and
/// charged; zero-initialised giant arrays compile (their bytes are not in the module) and run
/// when the memory limit allows, and fail as memory when it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiled_programs_stay_within_their_budgets() {
    let _serial = SERIAL.lock().await;
    let server = server(Backend::Sqlite)
        .config(
            r#"
[judges.cpp_short]
kind = "code"
config = { language = "cpp", timeout_ms = 500, memory_mb = 512 }
"#,
        )
        .start();
    let tests = metadata(json!({"stdio": [{"input": "", "output": "ok"}]}));
    let cases: &[(&str, &str, &str)] = &[
        (
            "pointer chase",
            "#include <cstdio>\n#include <cstdlib>\nint main(){ const unsigned n = 24u << 20; unsigned *a = (unsigned *)malloc((size_t)n * 4); for (unsigned i = 0; i < n; i++) a[i] = i; unsigned long long s = 88172645463325252ull; for (unsigned i = n - 1; i > 0; i--) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; unsigned j = s % i, t = a[i]; a[i] = a[j]; a[j] = t; } unsigned p = 0; for (unsigned long long k = 0; k < (1ull << 40); k++) p = a[p]; printf(\"%u\\n\", p); }",
            "timeout",
        ),
        (
            "poll storm",
            "#include <cstdlib>\n#include <wasi/api.h>\nint main(){ size_t n = 1u << 20; __wasi_subscription_t *s = (__wasi_subscription_t *)calloc(n, sizeof(__wasi_subscription_t)); __wasi_event_t *e = (__wasi_event_t *)malloc(n * sizeof(__wasi_event_t)); for (size_t i = 0; i < n; i++) { s[i].u.tag = __WASI_EVENTTYPE_CLOCK; s[i].u.u.clock.id = __WASI_CLOCKID_MONOTONIC; } size_t got; for (;;) __wasi_poll_oneoff(s, e, n, &got); }",
            "timeout",
        ),
        (
            "zero-initialised 600 MB",
            "#include <cstdio>\nstatic int big[150000000];\nint main(int c, char **v){ big[c] = 1; puts(big[1] ? \"ok\" : \"no\"); }",
            "memory",
        ),
    ];
    let started = std::time::Instant::now();
    let items = cases
        .iter()
        .map(|(_, code, _)| Item::new("p", fenced(code)).with_metadata(tests.clone()))
        .collect();
    let answer = judge(&server, "cpp_short", items).await;
    for ((name, _, reason), result) in cases.iter().zip(&answer.results) {
        let verdict = &result.judges[0];
        assert_eq!(verdict.verdict, Verdict::Fail, "{name}: {verdict:?}");
        let outcome = &verdict.details.as_ref().unwrap()["tests"][0]["outcome"];
        assert_eq!(outcome, reason, "{name}: {verdict:?}");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(90),
        "took {:?}",
        started.elapsed()
    );
    // A zero-initialised 200 MB array within the limit compiles and runs.
    let fits = fenced(
        "#include <cstdio>\nstatic int big[50000000];\nint main(int c, char **v){ big[c] = 1; big[49999999] = 2; puts(big[1] + big[49999999] == 3 ? \"ok\" : \"no\"); }",
    );
    let answer = judge(
        &server,
        "cpp_short",
        vec![Item::new("p", fits.as_str()).with_metadata(tests)],
    )
    .await;
    assert_eq!(answer.results[0].verdict, Verdict::Pass, "{answer:?}");
}

/// Problems with more than one right output: the item's checker (testlib's convention: files
/// `input`, `output`, `answer`, exit 0 accepts) decides, in Python or C++, for every language.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkers_accept_any_right_output() {
    let _serial = SERIAL.lock().await;
    let server = start();
    // Print two numbers from the input whose sum is the target; any such pair is right.
    let python_checker = "import sys\nnums = list(map(int, open('input').read().split()))\ntarget, xs = nums[1], nums[2:]\ntry:\n    a, b = map(int, open('output').read().split())\nexcept Exception:\n    print('malformed output'); sys.exit(1)\nif a + b != target or xs.count(a) < 1 + (a == b) or xs.count(b) < 1:\n    print('not a pair summing to the target'); sys.exit(1)\n";
    // (libc++ for wasm32-wasi has no file streams: C's stdio reads the files.)
    let cpp_checker = "#include <cstdio>\n#include <vector>\n#include <algorithm>\nint main(){ FILE *in = fopen(\"input\", \"r\"), *out = fopen(\"output\", \"r\"); int n, t; if (!in || !out || fscanf(in, \"%d %d\", &n, &t) != 2) return 2; std::vector<long long> xs(n); for (auto &x : xs) fscanf(in, \"%lld\", &x); long long a, b; if (fscanf(out, \"%lld %lld\", &a, &b) != 2) return 1; if (a + b != t) return 1; auto ca = std::count(xs.begin(), xs.end(), a), cb = std::count(xs.begin(), xs.end(), b); if (ca < 1 + (a == b) || cb < 1) return 1; return 0; }";
    let input = "5 10\n1 9 3 7 5\n";
    let answer_file = "1 9\n";
    let solutions: &[(&str, &str, Verdict)] = &[
        (
            "the answer's pair",
            "```python\nprint(1, 9)\n```",
            Verdict::Pass,
        ),
        (
            "another right pair",
            "```python\nprint(7, 3)\n```",
            Verdict::Pass,
        ),
        ("a wrong pair", "```python\nprint(2, 8)\n```", Verdict::Fail),
        (
            "the same number twice",
            "```python\nprint(5, 5)\n```",
            Verdict::Fail,
        ),
        (
            "C++, another right pair",
            "```cpp\n#include <cstdio>\nint main(){ puts(\"3 7\"); }\n```",
            Verdict::Pass,
        ),
    ];
    for (checker_language, checker) in [("python", python_checker), ("cpp", cpp_checker)] {
        let items: Vec<Item> = solutions
            .iter()
            .map(|(_, response, _)| {
                let language = if response.starts_with("```cpp") {
                    "cpp"
                } else {
                    "python"
                };
                Item::new("p", *response).with_metadata(metadata(json!({
                    "language": language,
                    "stdio": [{"input": input, "output": answer_file}],
                    "checker": {"language": checker_language, "code": checker},
                })))
            })
            .collect();
        let answer = judge(&server, "cpp", items).await;
        for ((name, _, want), result) in solutions.iter().zip(&answer.results) {
            assert_eq!(
                result.verdict, *want,
                "{checker_language} checker, {name}: {:?}",
                result.judges[0]
            );
        }
    }
    // A checker that crashes on the output rejects it (a program cannot escape a `fail` by
    // upsetting the checker); a checker that does not even compile makes the item an error.
    let item = |checker: &str| {
        Item::new("p", "```python\nprint(1, 9)\n```").with_metadata(metadata(json!({
            "language": "python",
            "stdio": [{"input": input, "output": answer_file}],
            "checker": {"language": "cpp", "code": checker},
        })))
    };
    let answer = judge(
        &server,
        "cpp",
        vec![
            item("int main(){ __builtin_trap(); }"),
            item("int main(){ return undeclared; }"),
        ],
    )
    .await;
    assert_eq!(answer.results[0].verdict, Verdict::Fail, "{answer:?}");
    assert_eq!(answer.results[1].verdict, Verdict::Error, "{answer:?}");
    // A testlib-style checker reads the files its arguments name (`checker input output
    // answer`): the arguments reach compiled checkers too (a checker that could not open them
    // and compared two unread zeros passed every wrong program, found by review).
    let testlib_style = "#include <cstdio>\nint main(int argc, char **argv){ if (argc != 4) return 3; FILE *o = fopen(argv[2], \"r\"), *a = fopen(argv[3], \"r\"); long long x = -1, y = -2; if (!o || !a || fscanf(o, \"%lld\", &x) != 1 || fscanf(a, \"%lld\", &y) != 1) return 2; return x == y ? 0 : 1; }";
    let stdio = json!([{"input": "1 2", "output": "3"}]);
    let solutions: &[(&str, Verdict)] = &[
        (
            "int main(){ int a, b; scanf(\"%d %d\", &a, &b); printf(\"%d\\n\", a + b); }",
            Verdict::Pass,
        ),
        (
            "int main(){ int a, b; scanf(\"%d %d\", &a, &b); printf(\"%d\\n\", a * b + 7); }",
            Verdict::Fail,
        ),
    ];
    let items = solutions
        .iter()
        .map(|(code, _)| {
            Item::new("p", fenced(&format!("#include <cstdio>\n{code}"))).with_metadata(metadata(
                json!({"stdio": stdio, "checker": {"language": "cpp", "code": testlib_style}}),
            ))
        })
        .collect();
    let answer = judge(&server, "cpp", items).await;
    for ((code, want), result) in solutions.iter().zip(&answer.results) {
        assert_eq!(result.verdict, *want, "{code}: {:?}", result.judges[0]);
    }
}

/// SandboxFusion's `run_code` with `cpp` and `c`: `compile_result` filled as it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_code_compiles_cpp_and_c() {
    let _serial = SERIAL.lock().await;
    let server = start();
    let run = |body: Value| {
        let server = &server;
        async move { common::post_raw(server, "/run_code", body.to_string()).await }
    };
    let (status, body) = run(json!({"language": "cpp", "code": "#include <iostream>\nint main(){ int x; std::cin >> x; std::cout << x * 2 << std::endl; }", "stdin": "21"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Success", "{body}");
    assert_eq!(body["compile_result"]["status"], "Finished", "{body}");
    assert_eq!(body["compile_result"]["return_code"], 0, "{body}");
    assert_eq!(body["run_result"]["stdout"], "42\n", "{body}");
    let (_, body) =
        run(json!({"language": "cpp", "code": "int main(){ return undeclared; }"})).await;
    assert_eq!(body["status"], "Failed", "{body}");
    assert_eq!(body["run_result"], Value::Null, "{body}");
    assert_ne!(body["compile_result"]["return_code"], 0, "{body}");
    assert!(
        body["compile_result"]["stderr"]
            .as_str()
            .unwrap()
            .contains("undeclared identifier"),
        "{body}"
    );
    let (_, body) = run(json!({"language": "c", "code": "#include <stdio.h>\nint main(void){ printf(\"%d\\n\", 6 * 7); return 3; }"})).await;
    assert_eq!(body["status"], "Failed", "{body}");
    assert_eq!(body["run_result"]["return_code"], 3, "{body}");
    assert_eq!(body["run_result"]["stdout"], "42\n", "{body}");
    // Files in, files out.
    let (_, body) = run(json!({
        "language": "cpp",
        "code": "#include <cstdio>\nint main(){ int x = 0; FILE *in = fopen(\"in.txt\", \"r\"); fscanf(in, \"%d\", &x); FILE *out = fopen(\"out.txt\", \"w\"); fprintf(out, \"%d\", x + 1); fclose(out); }",
        "files": {"in.txt": "NDE="},
        "fetch_files": ["out.txt"],
    }))
    .await;
    assert_eq!(body["status"], "Success", "{body}");
    assert_eq!(body["files"]["out.txt"], "NDI=", "{body}");
}

/// Without the toolchain, C and C++ are reported missing and their items are `error`, with
/// the fix named; other languages are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_toolchain_is_an_error_naming_the_fix() {
    let _serial = SERIAL.lock().await;
    let server = server(Backend::Sqlite)
        .config(CONFIG)
        .env("MOJ_SANDBOX_CLANG", "/nonexistent/clang-19")
        .start();
    let ready = server.get_json("/readyz").await;
    assert_eq!(ready["runtimes"]["cpp"], "missing", "{ready}");
    assert_eq!(ready["runtimes"]["c"], "missing", "{ready}");
    assert_eq!(ready["runtimes"]["python"], "ready", "{ready}");
    let tests = metadata(json!({"stdio": [{"input": "", "output": "1"}]}));
    let answer = judge(
        &server,
        "cpp",
        vec![Item::new("p", fenced("int main(){}")).with_metadata(tests)],
    )
    .await;
    let verdict = &answer.results[0].judges[0];
    assert_eq!(verdict.verdict, Verdict::Error, "{verdict:?}");
    assert!(
        verdict.reason.contains("scripts/install-cpp-toolchain.sh"),
        "{verdict:?}"
    );
}
