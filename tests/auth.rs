//! Authentication end to end: API keys for scoring and reading, admin keys for changes,
//! refusal to serve unauthenticated on a non-loopback address, keys never logged.

mod common;

use common::{Backend, run_cli, server};
use judge_api::{Item, JudgeClient, JudgeDefinition, JudgeRequest, RetryPolicy};
use serde_json::json;

const SCORER_KEY: &str = "scorer-key-0123456789";
const ADMIN_KEY: &str = "admin-key-9876543210";

fn with_key(server: &common::Server, key: &str) -> JudgeClient {
    server.client().with_api_key(key)
}

#[tokio::test]
async fn keys_gate_scoring_reading_and_changes() {
    let server = server(Backend::Sqlite)
        .env("MOJ_API_KEYS", SCORER_KEY)
        .env("MOJ_ADMIN_KEYS", ADMIN_KEY)
        .start();
    let definition = JudgeDefinition {
        kind: "refusal".into(),
        config: json!({}),
    };
    let request = JudgeRequest::for_judges(["r"], vec![Item::new("q", "Sure, here it is.")]);

    // No key and a wrong key: 401 everywhere under /v1, with WWW-Authenticate.
    for client in [server.client(), with_key(&server, "wrong-key-123456")] {
        let error = client.list_judges().await.unwrap_err();
        assert_eq!(
            (error.status(), error.code()),
            (Some(401), Some("unauthorized"))
        );
        let error = client.judge(&request).await.unwrap_err();
        assert_eq!(error.status(), Some(401));
        let error = client.put_judge("r", &definition).await.unwrap_err();
        assert_eq!(error.status(), Some(401));
    }
    let response = common::http()
        .get(server.url("/v1/judges"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    // A scorer key reads and scores but cannot change anything.
    let scorer = with_key(&server, SCORER_KEY);
    let error = scorer.put_judge("r", &definition).await.unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Some(403), Some("forbidden"))
    );
    let admin = with_key(&server, ADMIN_KEY);
    admin.put_judge("r", &definition).await.unwrap();
    let error = scorer.delete_judge("r").await.unwrap_err();
    assert_eq!(error.status(), Some(403));
    assert_eq!(scorer.list_judges().await.unwrap().judges.len(), 1);
    let answer = scorer.judge(&request).await.unwrap();
    assert_eq!(answer.results[0].verdict, judge_api::Verdict::Pass);
    // An admin key may also score.
    admin.judge(&request).await.unwrap();

    // Operations endpoints stay open for probes and scrapers.
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let response = common::http().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    // Keys never reach the log.
    let log = server.log();
    assert!(
        !log.contains(SCORER_KEY) && !log.contains(ADMIN_KEY),
        "a key leaked into the log:\n{log}"
    );
    let metrics = common::metrics(&server).await;
    assert!(!metrics.contains(SCORER_KEY) && !metrics.contains(ADMIN_KEY));
    // Refused requests are counted by reason only: no per-route series for clients without a
    // key (6 unauthenticated above, 2 forbidden).
    assert!(
        metrics.contains(r#"moj_http_denied_total{reason="unauthenticated"} 7"#)
            && metrics.contains(r#"moj_http_denied_total{reason="forbidden"} 2"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains(r#"status="401""#) && !metrics.contains(r#"status="403""#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"moj_http_requests_total{method="POST",route="/v1/judge",status="200"} 2"#),
        "{metrics}"
    );

    // Every keyed route with the role it needs (judge-server/src/api/mod.rs `router`): no key
    // is 401 everywhere, a scorer key is 403 exactly on the admin routes.
    use reqwest::Method;
    let routes = [
        (Method::POST, "/v1/judge", Role::Scorer),
        (Method::GET, "/v1/judges", Role::Scorer),
        (Method::GET, "/v1/judges/r", Role::Scorer),
        (Method::HEAD, "/v1/judges/r", Role::Scorer),
        (Method::PUT, "/v1/judges/x", Role::Admin),
        (Method::DELETE, "/v1/judges/x", Role::Admin),
        (Method::GET, "/v1/kinds", Role::Scorer),
        (Method::PUT, "/v1/plugins", Role::Admin),
        (Method::GET, "/v1/tasks", Role::Scorer),
        (Method::GET, "/v1/tasks/t", Role::Scorer),
        (Method::PUT, "/v1/tasks/t", Role::Admin),
        (Method::DELETE, "/v1/tasks/t", Role::Admin),
        (Method::POST, "/v1/tasks/t/get_reward", Role::Scorer),
        (Method::POST, "/run_code", Role::Scorer),
    ];
    for (method, path, role) in routes {
        let request = |key: Option<&str>| {
            let request = common::http().request(method.clone(), server.url(path));
            match key {
                Some(key) => request.bearer_auth(key),
                None => request,
            }
        };
        let anonymous = request(None).send().await.unwrap().status();
        assert_eq!(anonymous, 401, "{method} {path} without a key");
        let scorer = request(Some(SCORER_KEY)).send().await.unwrap().status();
        assert_eq!(
            scorer == 403,
            role == Role::Admin,
            "{method} {path} with a scorer key: {scorer}"
        );
        let admin = request(Some(ADMIN_KEY)).send().await.unwrap().status();
        assert!(
            admin != 401 && admin != 403,
            "{method} {path} with an admin key: {admin}"
        );
    }
}

#[derive(PartialEq)]
enum Role {
    Scorer,
    Admin,
}

#[test]
fn refuses_a_public_address_without_keys_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let (ok, _, stderr) = run_cli(
        &["serve"],
        &[("MOJ_LISTEN", "0.0.0.0:0"), ("MOJ_DATA_DIR", &data)],
    );
    assert!(!ok);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without authentication"),
        "{stderr}"
    );
    assert!(stderr.contains("MOJ_ALLOW_UNAUTHENTICATED"), "{stderr}");
}

#[tokio::test]
async fn a_public_address_without_keys_starts_when_explicitly_allowed() {
    let server = server(Backend::Sqlite)
        .env("MOJ_LISTEN", "0.0.0.0:0")
        .env("MOJ_ALLOW_UNAUTHENTICATED", "1")
        .start();
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let client = JudgeClient::new(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .with_retry(RetryPolicy::none());
    client.list_judges().await.unwrap();
    assert!(
        server
            .log()
            .contains("authentication is OFF on a non-loopback address")
    );
}

#[test]
fn short_keys_are_rejected_at_start() {
    let (ok, _, stderr) = run_cli(&["check-config"], &[("MOJ_API_KEYS", "short")]);
    assert!(!ok);
    assert!(stderr.contains("at least 8 characters"), "{stderr}");
}
