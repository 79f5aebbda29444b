//! Scale-out: two judge-server processes on loopback share one PostgreSQL database. A verdict
//! computed by one is a cache hit on the other; judges and tasks registered through one are
//! served by the other without a restart (within `server.catalog_refresh_secs`); concurrent
//! identical requests to both store one row per (item, judge).

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Server, server};
use judge_api::{Item, JudgeDefinition, JudgeRequest, TaskDefinition, Verdict};
use serde_json::json;

const CONFIG: &str = r#"
[judges.mentions_paris]
kind = "regex"
config = { must_match = ["Paris"] }

[judges.math_answer]
kind = "math"
"#;

fn replicas() -> (Server, Server) {
    let first = server(Backend::Postgres)
        .config(CONFIG)
        .env("MOJ_SERVER_CATALOG_REFRESH_SECS", "1")
        .start();
    let second = server(Backend::Postgres)
        .config(CONFIG)
        .env("MOJ_SERVER_CATALOG_REFRESH_SECS", "1")
        .sharing_database_of(&first)
        .start();
    (first, second)
}

fn paris(text: &str) -> Item {
    Item::new("Name the capital of France.", text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_computed_by_one_replica_is_a_cache_hit_on_the_other() {
    let (a, b) = replicas();
    let request = JudgeRequest::for_judges(["mentions_paris"], vec![paris("It is Paris.")]);
    let first = a.client().judge(&request).await.unwrap();
    assert!(!first.results[0].judges[0].cached);
    let second = b.client().judge(&request).await.unwrap();
    let verdict = &second.results[0].judges[0];
    assert!(verdict.cached, "{verdict:?}");
    assert_eq!(verdict.verdict, Verdict::Pass);
    assert_eq!(second.stats.cache_hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judges_and_tasks_registered_on_one_replica_are_served_by_the_other() {
    let (a, b) = replicas();
    a.client()
        .put_judge(
            "mentions_lyon",
            &JudgeDefinition {
                kind: "regex".into(),
                config: json!({ "must_match": ["Lyon"] }),
            },
        )
        .await
        .unwrap();
    a.client()
        .put_task(
            "geography",
            &TaskDefinition {
                judges: vec!["mentions_paris".into(), "mentions_lyon".into()],
            },
        )
        .await
        .unwrap();
    // The other replica picks both up without a restart, within a bounded delay.
    let started = Instant::now();
    let request = JudgeRequest::for_task("geography", vec![paris("Paris, not Lyon.")]);
    let response = loop {
        match b.client().judge(&request).await {
            Ok(response) => break response,
            Err(error) if started.elapsed() < Duration::from_secs(10) => {
                assert_eq!(error.status(), Some(422), "{error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("replica b never saw the task: {error}"),
        }
    };
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "took {waited:?}");
    assert_eq!(response.results[0].verdict, Verdict::Pass);
    assert_eq!(response.results[0].judges.len(), 2);

    // A deletion propagates the same way.
    a.client().delete_task("geography").await.unwrap();
    let started = Instant::now();
    while b.client().judge(&request).await.is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "replica b still serves a deleted task"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_requests_to_both_replicas_store_one_row_each() {
    let (a, b) = replicas();
    let before = a.db.verdict_rows();
    let answer = |a: &str| json!({ "answer": a }).as_object().unwrap().clone();
    let items = vec![
        paris("The final answer is Paris.").with_metadata(answer("Paris")),
        Item::new("What is 6*7?", "The answer is \\boxed{42}").with_metadata(answer("42")),
    ];
    let request = JudgeRequest::for_judges(["mentions_paris", "math_answer"], items);
    let mut calls = Vec::new();
    for i in 0..16 {
        let client = if i % 2 == 0 { a.client() } else { b.client() };
        let request = request.clone();
        calls.push(tokio::spawn(async move { client.judge(&request).await }));
    }
    let mut verdicts = Vec::new();
    for call in calls {
        let response = call.await.unwrap().unwrap();
        verdicts.push(
            response
                .results
                .iter()
                .map(|r| r.verdict)
                .collect::<Vec<_>>(),
        );
    }
    assert!(verdicts.iter().all(|v| v == &verdicts[0]), "{verdicts:?}");
    // 2 items x 2 judges, stored once however many replicas computed them.
    assert_eq!(a.db.verdict_rows() - before, 4);
}
