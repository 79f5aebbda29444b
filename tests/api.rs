//! End-to-end tests of the HTTP API against the real binary, on SQLite and PostgreSQL.

mod common;

use common::{Backend, Server, post_raw, server};
use judge_api::{Item, JudgeDefinition, JudgeRequest, Source, TaskDefinition, Verdict};
use serde_json::{Value, json};

const CONFIG: &str = r#"
[judges.final_answer]
kind = "regex"
config = { must_match = ["The final answer is \\S+"] }

[judges.no_refusal]
kind = "refusal"

[tasks.math]
judges = ["final_answer", "no_refusal"]
"#;

fn start(backend: Backend) -> Server {
    server(backend).config(CONFIG).start()
}

fn regex(config: Value) -> JudgeDefinition {
    JudgeDefinition {
        kind: "regex".into(),
        config,
    }
}

async fn scores_a_batch_with_a_task_in_request_order(backend: Backend) {
    let server = start(backend);
    let items = vec![
        Item::new("2+2?", "The final answer is 4").with_id("a"),
        Item::new("2+2?", "I think it's four.").with_id(7),
        Item::new(
            "2+2?",
            "I'm sorry, but I can't help with that. The final answer is 4",
        ),
    ];
    let answer = server
        .client()
        .judge(&JudgeRequest::for_task("math", items))
        .await
        .unwrap();
    let verdicts: Vec<_> = answer.results.iter().map(|r| r.verdict).collect();
    assert_eq!(verdicts, vec![Verdict::Pass, Verdict::Fail, Verdict::Fail]);
    assert_eq!(answer.results[0].id, json!("a"));
    assert_eq!(answer.results[1].id, json!(7));
    assert_eq!(
        answer.results[2].id,
        json!(2),
        "an item without id gets its index"
    );
    let second = &answer.results[1].judges;
    assert_eq!(second.len(), 2);
    assert_eq!(
        (second[0].name.as_str(), second[0].verdict),
        ("final_answer", Verdict::Fail)
    );
    assert_eq!(
        (second[1].name.as_str(), second[1].verdict),
        ("no_refusal", Verdict::Pass)
    );
    assert!(
        second[0].reason.contains("did not match"),
        "{}",
        second[0].reason
    );
    let third = &answer.results[2].judges;
    assert_eq!(third[0].verdict, Verdict::Pass);
    assert_eq!(third[1].verdict, Verdict::Fail);
    assert_eq!(third[1].score, Some(1.0));
    assert!(!third[1].cached);
    let stats = &answer.stats;
    assert_eq!(
        (stats.items, stats.pass, stats.fail, stats.error),
        (3, 1, 2, 0)
    );
    assert_eq!((stats.cache_hits, stats.cache_misses), (0, 6));
}

async fn scores_with_an_explicit_judge_list_and_messages(backend: Backend) {
    let server = start(backend);
    let item: Item = serde_json::from_value(json!({
        "id": "chat-1",
        "prompt": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Write a haiku"}],
        "response": "Autumn moonlight—\na worm digs silently\ninto the chestnut.",
        "metadata": {"source": "test"}
    }))
    .unwrap();
    let answer = server
        .client()
        .judge(&JudgeRequest::for_judges(["no_refusal"], vec![item]))
        .await
        .unwrap();
    assert_eq!(answer.results[0].verdict, Verdict::Pass);
    assert_eq!(answer.results[0].judges.len(), 1);
}

async fn judges_and_tasks_crud_persists_across_restart(backend: Backend) {
    let mut server = start(backend);
    let client = server.client();
    let created = client
        .put_judge("boxed", &regex(json!({"must_match": ["\\\\boxed\\{"]})))
        .await
        .unwrap();
    assert_eq!(created.source, Source::Api);
    assert_eq!(
        created.config["must_not_match"],
        json!([]),
        "defaults are filled in"
    );
    assert_eq!(created.fingerprint.len(), 64);
    // Replacing answers 200 with the new fingerprint.
    let response = common::http()
        .put(server.url("/v1/judges/boxed"))
        .json(&json!({"kind": "regex", "config": {"must_match": ["boxed"], "flags": "i"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let replaced: judge_api::JudgeInfo = response.json().await.unwrap();
    assert_ne!(replaced.fingerprint, created.fingerprint);
    let task = client
        .put_task(
            "boxed_math",
            &TaskDefinition {
                judges: vec!["boxed".into(), "no_refusal".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(task.source, Source::Api);

    let judges = client.list_judges().await.unwrap().judges;
    let names: Vec<_> = judges.iter().map(|j| (j.name.as_str(), j.source)).collect();
    assert_eq!(
        names,
        vec![
            ("boxed", Source::Api),
            ("final_answer", Source::Config),
            ("no_refusal", Source::Config)
        ]
    );
    let tasks = client.list_tasks().await.unwrap().tasks;
    assert_eq!(tasks.len(), 2);
    // Listing is paged: `limit` per answer, `next` to go on, a bad limit names the field.
    let (status, first) = common::get_raw(&server, "/v1/judges?limit=2").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["judges"].as_array().unwrap().len(), 2);
    assert_eq!(first["next"], "final_answer");
    let (_, rest) = common::get_raw(&server, "/v1/judges?limit=2&after=final_answer").await;
    assert_eq!(rest["judges"][0]["name"], "no_refusal");
    assert!(rest.get("next").is_none(), "{rest}");
    let (status, bad) = common::get_raw(&server, "/v1/judges?limit=0").await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (422, Some("limit"))
    );

    server.restart();
    let client = server.client();
    let boxed = client.get_judge("boxed").await.unwrap();
    assert_eq!(boxed.fingerprint, replaced.fingerprint);
    assert_eq!(
        client.get_task("boxed_math").await.unwrap().judges,
        vec!["boxed", "no_refusal"]
    );
    let answer = client
        .judge(&JudgeRequest::for_task(
            "boxed_math",
            vec![Item::new("q", "BOXED 3")],
        ))
        .await
        .unwrap();
    assert_eq!(answer.results[0].verdict, Verdict::Pass);

    // A judge used by a task cannot be deleted; the task first.
    let error = client.delete_judge("boxed").await.unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Some(409), Some("judge_in_use"))
    );
    client.delete_task("boxed_math").await.unwrap();
    client.delete_judge("boxed").await.unwrap();
    let error = client.get_judge("boxed").await.unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Some(404), Some("unknown_judge"))
    );
    let error = client.delete_task("boxed_math").await.unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Some(404), Some("unknown_task"))
    );
    server.restart();
    assert_eq!(server.client().list_judges().await.unwrap().judges.len(), 2);
}

async fn config_file_definitions_are_read_only(backend: Backend) {
    let server = start(backend);
    let client = server.client();
    let error = client
        .put_judge("final_answer", &regex(json!({"must_match": ["x"]})))
        .await
        .unwrap_err();
    assert_eq!(
        (error.status(), error.code()),
        (Some(409), Some("read_only"))
    );
    let error = client.delete_judge("no_refusal").await.unwrap_err();
    assert_eq!(error.status(), Some(409));
    let error = client.delete_task("math").await.unwrap_err();
    assert_eq!(error.status(), Some(409));
    assert_eq!(
        client.get_task("math").await.unwrap().source,
        Source::Config
    );
}

/// Every 4xx path answers a JSON error body naming the code (and the field where there is one).
async fn bad_requests_are_4xx_with_a_json_body_naming_the_field(backend: Backend) {
    let server = server(backend)
        .config(CONFIG)
        .env("MOJ_LIMITS_MAX_ITEMS", "3")
        .env("MOJ_LIMITS_MAX_FIELD_BYTES", "100")
        .env("MOJ_LIMITS_MAX_BODY_BYTES", "4096")
        .env("MOJ_LIMITS_MAX_METADATA_BYTES", "64")
        .start();
    let item = |response: &str| json!({"prompt": "p", "response": response});
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (
            json!({"task": "math"}),
            422,
            "invalid_request",
            Some("items"),
        ),
        (
            json!({"task": "math", "items": [{"prompt": "p"}]}),
            422,
            "invalid_request",
            Some("items[0].response"),
        ),
        (
            json!({"task": "math", "items": [{"response": 3}]}),
            422,
            "invalid_request",
            Some("items[0].response"),
        ),
        (
            json!({"task": "math", "items": [item("a")], "extra": 1}),
            422,
            "invalid_request",
            None,
        ),
        (
            json!({"task": "nope", "items": [item("a")]}),
            422,
            "unknown_task",
            Some("task"),
        ),
        (
            json!({"judges": ["final_answer", "ghost"], "items": [item("a")]}),
            422,
            "unknown_judge",
            Some("judges[1]"),
        ),
        (
            json!({"judges": ["no_refusal", "no_refusal"], "items": [item("a")]}),
            422,
            "duplicate_judge",
            Some("judges[1]"),
        ),
        (
            json!({"judges": [], "items": [item("a")]}),
            422,
            "invalid_request",
            Some("judges"),
        ),
        (
            json!({"items": [item("a")]}),
            422,
            "invalid_request",
            Some("task"),
        ),
        (
            json!({"task": "math", "judges": ["no_refusal"], "items": [item("a")]}),
            422,
            "invalid_request",
            Some("task"),
        ),
        (
            json!({"task": "math", "items": [item("a"), item("b"), item("c"), item("d")]}),
            413,
            "too_many_items",
            Some("items"),
        ),
        (
            json!({"task": "math", "items": [item("a"), item(&"x".repeat(101))]}),
            413,
            "field_too_large",
            Some("items[1].response"),
        ),
        (
            json!({"task": "math", "items": [{"prompt": "y".repeat(101), "response": "r"}]}),
            413,
            "field_too_large",
            Some("items[0].prompt"),
        ),
        (
            json!({"task": "math", "items": [{"response": "r", "metadata": {"k": "z".repeat(80)}}]}),
            413,
            "field_too_large",
            Some("items[0].metadata"),
        ),
        (
            json!({"task": "math", "items": [{"response": "r", "id": {"x": 1}}]}),
            422,
            "invalid_request",
            Some("items[0].id"),
        ),
        (
            json!({"task": "math", "items": [{"response": "r", "metadata": [1]}]}),
            422,
            "invalid_request",
            Some("items[0].metadata"),
        ),
    ];
    for (body, status, code, field) in cases {
        let (got_status, got) = post_raw(&server, "/v1/judge", body.to_string()).await;
        assert_eq!(got_status, status, "{body} -> {got}");
        assert_eq!(got["error"]["code"], code, "{body} -> {got}");
        assert!(
            got["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        if let Some(field) = field {
            assert_eq!(got["error"]["field"], field, "{body} -> {got}");
        }
    }
    // Malformed JSON, a body over the limit, a wrong content type, unknown routes and methods.
    let (status, body) = post_raw(&server, "/v1/judge", "{\"task\": ").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, body) = post_raw(
        &server,
        "/v1/judge",
        format!("{{\"task\": \"{}\"}}", "a".repeat(5000)),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    let response = common::http()
        .post(server.url("/v1/judge"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = common::http()
        .get(server.url("/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let response = common::http()
        .delete(server.url("/v1/judge"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");

    // Judge and task definitions.
    let put = |path: &str, body: Value| {
        let request = common::http().put(server.url(path)).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = put("/v1/judges/x", json!({"kind": "telepathy"})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("kind"))
    );
    let (status, body) = put(
        "/v1/judges/x",
        json!({"kind": "regex", "config": {"must_match": ["("]}}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("config.must_match[0]"))
    );
    assert_eq!(body["error"]["code"], "invalid_judge_config");
    let (status, body) = put("/v1/judges/x", json!({"config": {}})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("kind"))
    );
    let (status, body) = put("/v1/judges/..%2Fetc", json!({"kind": "refusal"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_name"))
    );
    let (status, body) = put("/v1/judges/a;b", json!({"kind": "refusal"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_name"))
    );
    let (status, body) = put("/v1/tasks/t", json!({"judges": ["no_refusal", "ghost"]})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (422, Some("judges[1]"))
    );
    let (status, body) = put("/v1/tasks/t", json!({"judges": []})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_task"))
    );
    // A judge listed twice is refused where the task is defined (it would make every request
    // naming the task fail with 422 duplicate_judge).
    let (status, body) = put(
        "/v1/tasks/t",
        json!({"judges": ["no_refusal", "no_refusal"]}),
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (422, Some("duplicate_judge"), Some("judges[1]"))
    );
    // Nothing invalid was stored.
    assert_eq!(server.db.scalar("SELECT COUNT(*) FROM judges"), 0);
    assert_eq!(server.db.scalar("SELECT COUNT(*) FROM tasks"), 0);
}

async fn health_readiness_metrics_and_openapi(backend: Backend) {
    let server = start(backend);
    let http = common::http();
    let health: Value = http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready: Value = http
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["database"],
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    assert_eq!(
        (ready["judges"].as_u64(), ready["tasks"].as_u64()),
        (Some(2), Some(1))
    );

    let items = vec![
        Item::new("q", "The final answer is 1"),
        Item::new("q", "nothing"),
    ];
    server
        .client()
        .judge(&JudgeRequest::for_task("math", items.clone()))
        .await
        .unwrap();
    server
        .client()
        .judge(&JudgeRequest::for_task("math", items))
        .await
        .unwrap();
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        r#"moj_verdicts_total{judge="final_answer",verdict="pass"} 2"#,
        r#"moj_verdicts_total{judge="final_answer",verdict="fail"} 2"#,
        r#"moj_cache_lookups_total{outcome="hit"} 4"#,
        r#"moj_cache_lookups_total{outcome="miss"} 4"#,
        r#"moj_items_scored_total 4"#,
        r#"moj_http_requests_total{method="POST",route="/v1/judge",status="200"} 2"#,
        "moj_judge_duration_seconds_bucket",
        "moj_queue_depth 0",
    ] {
        assert!(metrics.contains(needle), "missing {needle:?} in\n{metrics}");
    }

    let spec = server.get_json("/openapi.json").await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/judge",
        "/v1/judges",
        "/v1/judges/{name}",
        "/v1/tasks",
        "/v1/tasks/{name}",
        "/v1/kinds",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let schemas = &spec["components"]["schemas"];
    for schema in [
        "JudgeRequest",
        "JudgeResponse",
        "Item",
        "ItemResult",
        "JudgeVerdict",
        "ErrorBody",
        "Verdict",
    ] {
        assert!(schemas.get(schema).is_some(), "schema {schema} missing");
    }
    let kinds: Value = http
        .get(server.url("/v1/kinds"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<_> = kinds["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"regex") && names.contains(&"refusal"));
}

async fn empty_batch_is_an_empty_answer(backend: Backend) {
    let server = start(backend);
    let answer = server
        .client()
        .judge(&JudgeRequest::for_task("math", vec![]))
        .await
        .unwrap();
    assert!(answer.results.is_empty());
    assert_eq!(answer.stats.items, 0);
}

on_both_backends!(
    scores_a_batch_with_a_task_in_request_order,
    scores_with_an_explicit_judge_list_and_messages,
    judges_and_tasks_crud_persists_across_restart,
    config_file_definitions_are_read_only,
    bad_requests_are_4xx_with_a_json_body_naming_the_field,
    health_readiness_metrics_and_openapi,
    empty_batch_is_an_empty_answer,
);
