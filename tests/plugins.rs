//! WASM judge plugins end to end: modules built from WebAssembly text, registered with
//! `PUT /v1/plugins`, stored content-addressed in the database, and run by `plugin` judges in
//! the Wasmtime sandbox. Only a well-formed `{verdict, score?, reason?}` answer decides; anything
//! else is an `error`.

mod common;

use common::{Backend, Server, server};
use judge_api::{Item, JudgeDefinition, JudgeRequest, JudgeResponse, Verdict};
use serde_json::{Value, json};

/// Sandbox tests measure wall-clock limits: run them one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
"#;

fn wat_string(text: &str) -> String {
    text.bytes().map(|b| format!("\\{b:02x}")).collect()
}

/// A plugin that writes `text` and exits with `code`.
fn printer(text: &str, code: i32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module {IMPORTS}
  (data (i32.const 64) "{}")
  (func (export "_start")
    (call $write (i32.const 64) (i32.const {}))
    (if (i32.ne (i32.const {code}) (i32.const 0)) (then (call $proc_exit (i32.const {code})))))
)"#,
        wat_string(text),
        text.len()
    ))
    .unwrap()
}

/// A plugin that passes with its whole stdin as `details` (the protocol's input, verbatim).
fn echo() -> Vec<u8> {
    let prefix = r#"{"verdict":"pass","reason":"echo","details":"#;
    wat::parse_str(format!(
        r#"(module {IMPORTS}
  (data (i32.const 64) "{}")
  (data (i32.const 1000) "}}")
  (func (export "_start") (local $total i32)
    (block $done (loop $more
      (i32.store (i32.const 0) (i32.add (i32.const 1024) (local.get $total)))
      (i32.store (i32.const 4) (i32.const 4096))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $done (i32.eqz (i32.load (i32.const 8))))
      (local.set $total (i32.add (local.get $total) (i32.load (i32.const 8))))
      (br_if $done (i32.gt_u (local.get $total) (i32.const 100000)))
      (br $more)))
    (call $write (i32.const 64) (i32.const {}))
    (call $write (i32.const 1024) (local.get $total))
    (call $write (i32.const 1000) (i32.const 1)))
)"#,
        wat_string(prefix),
        prefix.len()
    ))
    .unwrap()
}

fn spinner() -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module {IMPORTS} (func (export "_start") (loop $spin (br $spin))))"#
    ))
    .unwrap()
}

async fn upload(server: &Server, module: Vec<u8>) -> (u16, Value) {
    let response = common::http()
        .put(server.url("/v1/plugins"))
        .header("content-type", "application/wasm")
        .body(module)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn register(server: &Server, name: &str, module: Vec<u8>, extra: Value) {
    let (status, body) = upload(server, module).await;
    assert_eq!(status, 201, "{body}");
    let sha256 = body["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha256.len(), 64, "{body}");
    let mut config = json!({"module": sha256});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    server
        .client()
        .put_judge(
            name,
            &JudgeDefinition {
                kind: "plugin".into(),
                config,
            },
        )
        .await
        .unwrap();
}

async fn judge(server: &Server, judges: &[&str], items: Vec<Item>) -> JudgeResponse {
    server
        .client()
        .judge(&JudgeRequest::for_judges(judges.iter().copied(), items).without_cache())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_decide_and_misbehaving_plugins_are_errors_on_sqlite() {
    plugins_decide_and_misbehaving_plugins_are_errors(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_decide_and_misbehaving_plugins_are_errors_on_postgres() {
    plugins_decide_and_misbehaving_plugins_are_errors(Backend::Postgres).await;
}

async fn plugins_decide_and_misbehaving_plugins_are_errors(backend: Backend) {
    let _serial = SERIAL.lock().await;
    // Two of the seven plugins stay compiled in memory: the others are dropped and loaded
    // again as the batches go (from the disk cache or the database), verdicts unchanged.
    let mut server = server(backend)
        .config("[sandbox]\nmax_loaded_plugins = 2\n")
        .start();
    register(
        &server,
        "passes",
        printer(
            r#"{"verdict": "pass", "score": 0.75, "reason": "looks right"}"#,
            0,
        ),
        json!({}),
    )
    .await;
    register(
        &server,
        "fails",
        printer("{\"verdict\":\"fail\"}\n", 0),
        json!({}),
    )
    .await;
    register(&server, "echo", echo(), json!({})).await;
    register(&server, "garbage", printer("PASS", 0), json!({})).await;
    register(
        &server,
        "bad_verdict",
        printer(r#"{"verdict": "great"}"#, 0),
        json!({}),
    )
    .await;
    register(
        &server,
        "exits_3",
        printer(r#"{"verdict": "pass"}"#, 3),
        json!({}),
    )
    .await;
    register(&server, "spins", spinner(), json!({"timeout_ms": 300})).await;
    let item = Item::new("What is 6 * 7?", "42")
        .with_metadata(json!({"answer": 42}).as_object().unwrap().clone());
    let names = [
        "passes",
        "fails",
        "echo",
        "garbage",
        "bad_verdict",
        "exits_3",
        "spins",
    ];
    let started = std::time::Instant::now();
    let answer = judge(&server, &names, vec![item.clone()]).await;
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    let again = judge(&server, &names, vec![item.clone()]).await;
    let outcome = |answer: &JudgeResponse| {
        answer.results[0]
            .judges
            .iter()
            .map(|v| (v.verdict, v.score))
            .collect::<Vec<_>>()
    };
    assert_eq!(outcome(&answer), outcome(&again));
    let verdicts = &answer.results[0].judges;
    let by_name = |name: &str| verdicts.iter().find(|v| v.name == name).unwrap();
    let passes = by_name("passes");
    assert_eq!(
        (passes.verdict, passes.score, passes.reason.as_str()),
        (Verdict::Pass, Some(0.75), "looks right")
    );
    assert_eq!(
        by_name("fails").verdict,
        Verdict::Fail,
        "{:?}",
        by_name("fails")
    );
    let echo = by_name("echo");
    assert_eq!(echo.verdict, Verdict::Pass, "{echo:?}");
    assert_eq!(
        echo.details.as_ref().unwrap(),
        &json!({"prompt": "What is 6 * 7?", "response": "42", "metadata": {"answer": 42}})
    );
    for name in ["garbage", "bad_verdict", "exits_3", "spins"] {
        assert_eq!(
            by_name(name).verdict,
            Verdict::Error,
            "{name}: {:?}",
            by_name(name)
        );
    }
    assert!(
        by_name("spins").reason.contains("timed out"),
        "{:?}",
        by_name("spins")
    );
    assert!(
        by_name("exits_3").reason.contains("code 3"),
        "{:?}",
        by_name("exits_3")
    );

    // Content-addressed: the same bytes again are the same plugin, answered 200.
    let (status, body) = upload(&server, printer("{\"verdict\":\"fail\"}\n", 0)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.db.scalar("SELECT COUNT(*) FROM plugins"), 7);

    // After a restart the modules come back from the database.
    server.restart();
    let answer = judge(&server, &["passes", "fails"], vec![item]).await;
    let verdicts: Vec<Verdict> = answer.results[0].judges.iter().map(|v| v.verdict).collect();
    assert_eq!(verdicts, [Verdict::Pass, Verdict::Fail], "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_uploads_and_configs_are_4xx_naming_the_problem() {
    let _serial = SERIAL.lock().await;
    let server = server(Backend::Sqlite).start();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not wasm at all".to_vec(), "WebAssembly binary"),
        (b"\0asm\x01\0\0\0\x7f".to_vec(), "invalid module"),
        (
            wat::parse_str(r#"(module (import "env" "f" (func)) (func (export "_start")))"#)
                .unwrap(),
            "env::f",
        ),
        (
            wat::parse_str(r#"(module (func (export "main")))"#).unwrap(),
            "_start",
        ),
        (
            wat::parse_str(r#"(module (memory 40000) (func (export "_start")))"#).unwrap(),
            "memory",
        ),
    ];
    for (module, needle) in cases {
        let (status, body) = upload(&server, module).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("invalid_plugin")),
            "{body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let response = common::http()
        .put(server.url("/v1/plugins"))
        .header("content-type", "application/json")
        .body(printer("{}", 0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    assert_eq!(server.db.scalar("SELECT COUNT(*) FROM plugins"), 0);

    let put_judge = |config: Value| {
        let client = server.client();
        async move {
            client
                .put_judge(
                    "p",
                    &JudgeDefinition {
                        kind: "plugin".into(),
                        config,
                    },
                )
                .await
        }
    };
    assert!(
        put_judge(json!({"module": "abc"})).await.is_err(),
        "not a SHA-256"
    );
    assert!(
        put_judge(json!({"module": "a".repeat(64), "timeout_ms": 10_000_000}))
            .await
            .is_err()
    );
    // A well-formed but unregistered module is an error verdict, never a pass.
    put_judge(json!({"module": "a".repeat(64)})).await.unwrap();
    let answer = judge(&server, &["p"], vec![Item::new("p", "r")]).await;
    let verdict = &answer.results[0].judges[0];
    assert_eq!(verdict.verdict, Verdict::Error, "{verdict:?}");
    assert!(verdict.reason.contains("not registered"), "{verdict:?}");
}

/// A plugin that evaluates `check` (WAT instructions leaving an i32: non-zero means the escape
/// worked; locals `$fd`, `$hit`, `$n` are free to use) and reports `{"verdict": "fail"}` when it
/// did, `{"verdict": "pass"}` when it was contained. `imports`: extra WASI imports; `fields`:
/// other module fields (tables).
fn attempt(imports: &str, fields: &str, check: &str) -> Vec<u8> {
    let contained = r#"{"verdict":"pass","reason":"contained"}"#;
    let escaped = r#"{"verdict":"fail","reason":"escaped"}"#;
    wat::parse_str(format!(
        r#"(module {imports} {IMPORTS} {fields}
  (data (i32.const 64) "{}")
  (data (i32.const 160) "{}")
  (data (i32.const 256) "../../../../etc/passwd")
  (func (export "_start") (local $fd i32) (local $hit i32) (local $n i32)
    {check}
    (if (then (call $write (i32.const 160) (i32.const {})))
        (else (call $write (i32.const 64) (i32.const {})))))
)"#,
        wat_string(contained),
        wat_string(escaped),
        escaped.len(),
        contained.len()
    ))
    .unwrap()
}

/// 1 when `call` (an errno-returning WASI call using `$fd`) succeeds for some fd in 0..32.
fn on_any_fd(call: &str) -> String {
    format!(
        r#"(local.set $fd (i32.const 0))
    (loop $next
      (if (i32.eqz ({call})) (then (local.set $hit (i32.const 1))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $fd) (i32.const 32))))
    (local.get $hit)"#
    )
}

/// [`attempt`] with WASI imports and no other fields.
fn attempt_with(imports: &str, check: &str) -> Vec<u8> {
    attempt(imports, "", check)
}

fn wasi(name: &str, signature: &str) -> String {
    format!(r#"(import "wasi_snapshot_preview1" "{name}" (func ${name} {signature}))"#)
}

/// Escape attempts beyond the code judge's Python corpus, as plugins (any language compiles to
/// these calls): host files through every fd with path traversal, preopened directories, writes
/// to other fds, sockets, environment variables, a memory-growth storm, a table-growth storm, an
/// hour-long sleep in the host, and a `random_get` past the end of memory. Each is contained (the
/// plugin itself reports `pass`) or stopped (`error`), never an escape; the server stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_attempts_are_contained() {
    let _serial = SERIAL.lock().await;
    let server = server(Backend::Sqlite).start();
    let contained: Vec<(&str, Vec<u8>)> = vec![
        (
            "open_host_files",
            attempt_with(
                &wasi(
                    "path_open",
                    "(param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)",
                ),
                &on_any_fd(
                    "call $path_open (local.get $fd) (i32.const 1) (i32.const 256) (i32.const 22) \
                     (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 4000)",
                ),
            ),
        ),
        (
            "find_preopens",
            attempt_with(
                &wasi("fd_prestat_get", "(param i32 i32) (result i32)"),
                &on_any_fd("call $fd_prestat_get (local.get $fd) (i32.const 4000)"),
            ),
        ),
        (
            "write_other_fds",
            attempt_with(
                &wasi("fd_filestat_get", "(param i32 i32) (result i32)"),
                // fds 0-2 are the in-memory stdio; anything above must not exist
                &on_any_fd(
                    "if (result i32) (i32.lt_u (local.get $fd) (i32.const 3)) \
                     (then (i32.const 1)) (else (call $fd_filestat_get (local.get $fd) (i32.const 4000)))",
                ),
            ),
        ),
        (
            "accept_sockets",
            attempt_with(
                &wasi("sock_accept", "(param i32 i32 i32) (result i32)"),
                &on_any_fd("call $sock_accept (local.get $fd) (i32.const 0) (i32.const 4000)"),
            ),
        ),
        (
            "read_environment",
            attempt_with(
                &wasi("environ_sizes_get", "(param i32 i32) (result i32)"),
                "(drop (call $environ_sizes_get (i32.const 4000) (i32.const 4004))) \
                 (i32.ne (i32.load (i32.const 4000)) (i32.const 0))",
            ),
        ),
        (
            // 16 MiB allowed (memory_mb = 16): growth past 256 pages must be refused.
            "memory_storm",
            attempt_with(
                "",
                "(block $full (loop $grow \
                   (br_if $full (i32.eq (memory.grow (i32.const 16)) (i32.const -1))) \
                   (br $grow))) \
                 (i32.gt_u (memory.size) (i32.const 256))",
            ),
        ),
        (
            "table_storm",
            attempt(
                "",
                "(table $t 1 funcref)",
                "(block $full (loop $grow \
                   (br_if $full (i32.eq (table.grow $t (ref.null func) (i32.const 1000)) (i32.const -1))) \
                   (br $grow))) \
                 (i32.gt_u (table.size $t) (i32.const 1000000))",
            ),
        ),
    ];
    let mut names = Vec::new();
    for (name, module) in contained {
        register(
            &server,
            name,
            module,
            json!({"memory_mb": 16, "timeout_ms": 5000}),
        )
        .await;
        names.push(name);
    }
    // Stopped rather than contained: an hour-long sleep in the host (poll_oneoff on a clock),
    // and random_get writing 2 GiB from a 16 MiB memory.
    let sleep = wat::parse_str(format!(
        r#"(module {} {IMPORTS}
  (func (export "_start")
    (i32.store8 (i32.const 8) (i32.const 0))
    (i64.store (i32.const 24) (i64.const 3600000000000))
    (drop (call $poll_oneoff (i32.const 0) (i32.const 512) (i32.const 1) (i32.const 1024)))))"#,
        wasi("poll_oneoff", "(param i32 i32 i32 i32) (result i32)")
    ))
    .unwrap();
    register(&server, "sleep_an_hour", sleep, json!({"timeout_ms": 500})).await;
    let random = wat::parse_str(format!(
        r#"(module {} {IMPORTS}
  (func (export "_start")
    (if (i32.eqz (call $random_get (i32.const 0) (i32.const 2147483647)))
      (then (call $proc_exit (i32.const 0))))
    (call $proc_exit (i32.const 1))))"#,
        wasi("random_get", "(param i32 i32) (result i32)")
    ))
    .unwrap();
    register(
        &server,
        "random_past_memory",
        random,
        json!({"memory_mb": 16}),
    )
    .await;

    let started = std::time::Instant::now();
    let mut all = names.clone();
    all.extend(["sleep_an_hour", "random_past_memory"]);
    let answer = judge(&server, &all, vec![Item::new("p", "r")]).await;
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    let verdicts = &answer.results[0].judges;
    let by_name = |name: &str| verdicts.iter().find(|v| v.name == name).unwrap();
    for name in names {
        let verdict = by_name(name);
        assert_eq!(verdict.verdict, Verdict::Pass, "{name}: {verdict:?}");
    }
    let sleep = by_name("sleep_an_hour");
    assert_eq!(sleep.verdict, Verdict::Error, "{sleep:?}");
    assert!(sleep.reason.contains("timed out"), "{sleep:?}");
    let random = by_name("random_past_memory");
    assert_eq!(random.verdict, Verdict::Error, "{random:?}");
    // The reason names the cause, not just "error while executing at wasm backtrace:".
    assert!(!random.reason.ends_with("backtrace:"), "{random:?}");
    eprintln!("random_get past memory: {}", random.reason);

    // A module importing anything but WASI preview 1 is refused at upload.
    let foreign = wat::parse_str(
        r#"(module (import "env" "system" (func $system (param i32) (result i32)))
             (memory (export "memory") 1) (func (export "_start")))"#,
    )
    .unwrap();
    let (status, body) = upload(&server, foreign).await;
    assert_eq!(status, 422, "{body}");

    // The server is fine afterwards.
    let answer = judge(&server, &["open_host_files"], vec![Item::new("p", "r")]).await;
    assert_eq!(answer.results[0].judges[0].verdict, Verdict::Pass);
}
