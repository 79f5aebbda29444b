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
    let mut server = server(backend).start();
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
