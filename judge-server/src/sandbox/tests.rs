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

async fn python(code: &str, stdin: &str, timeout_ms: u64) -> RunOutput {
    sandbox()
        .run(
            Language::Python,
            &["-c".to_owned(), code.to_owned()],
            stdin.as_bytes().to_vec(),
            limits(timeout_ms),
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
    let spin = python("while True: pass", "", 1_500).await;
    assert_eq!(spin.exit, Exit::Timeout);
    assert!(spin.elapsed < Duration::from_secs(5), "{:?}", spin.elapsed);
    let pow = python("pow(10, 10**9)", "", 1_500).await;
    assert_eq!(pow.exit, Exit::Timeout);
    let sleep = python("import time; time.sleep(60)", "", 1_500).await;
    assert_eq!(sleep.exit, Exit::Timeout);
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
    let first = python(
        "import sys, builtins; builtins.LEAK = 1; sys.modules['leak'] = 1; print('set')",
        "",
        20_000,
    )
    .await;
    assert_eq!(text(&first.stdout), "set\n");
    let second = python(
        "import sys, builtins; print(hasattr(builtins, 'LEAK'), 'leak' in sys.modules)",
        "",
        20_000,
    )
    .await;
    assert_eq!(text(&second.stdout), "False False\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_quickjs_without_host_access_or_leaks() {
    let sandbox = sandbox();
    if let Err(message) = sandbox.availability(Language::JavaScript) {
        panic!("these tests need the QuickJS runtime: {message}");
    }
    let js = |code: &str, stdin: &str| {
        let args = ["--std".to_owned(), "-e".to_owned(), code.to_owned()];
        let sandbox = Arc::clone(&sandbox);
        let stdin = stdin.as_bytes().to_vec();
        async move {
            sandbox
                .run(Language::JavaScript, &args, stdin, limits(20_000))
                .await
                .expect("sandbox run")
        }
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
