//! End-to-end tests of the verdict cache on SQLite and PostgreSQL: hits, misses, bypass,
//! persistence across restarts, de-duplication, retention, concurrency, and outages.

mod common;

use std::time::Duration;

use common::{Backend, server};
use judge_api::{Item, JudgeDefinition, JudgeRequest, Verdict};
use serde_json::json;

const CONFIG: &str = r#"
[judges.final_answer]
kind = "regex"
config = { must_match = ["The final answer is \\S+"] }

[judges.no_refusal]
kind = "refusal"

[tasks.math]
judges = ["final_answer", "no_refusal"]
"#;

fn items(n: usize) -> Vec<Item> {
    (0..n)
        .map(|i| {
            let response = if i % 3 == 0 {
                format!("The final answer is {i}")
            } else {
                format!("maybe {i}")
            };
            Item::new(format!("question {i}"), response)
                .with_metadata(json!({"answer": i}).as_object().unwrap().clone())
        })
        .collect()
}

async fn second_request_hits_and_bypass_skips_the_cache(backend: Backend) {
    let server = server(backend).config(CONFIG).start();
    let client = server.client();
    let request = JudgeRequest::for_task("math", items(30));
    let cold = client.judge(&request).await.unwrap();
    assert_eq!((cold.stats.cache_hits, cold.stats.cache_misses), (0, 60));
    assert!(
        cold.results
            .iter()
            .flat_map(|r| &r.judges)
            .all(|j| !j.cached)
    );
    assert_eq!(server.db.verdict_rows(), 60);

    let warm = client.judge(&request).await.unwrap();
    assert_eq!((warm.stats.cache_hits, warm.stats.cache_misses), (60, 0));
    assert!(
        warm.results
            .iter()
            .flat_map(|r| &r.judges)
            .all(|j| j.cached && j.micros == 0)
    );
    for (a, b) in cold.results.iter().zip(&warm.results) {
        assert_eq!(a.verdict, b.verdict);
        for (x, y) in a.judges.iter().zip(&b.judges) {
            assert_eq!(
                (&x.reason, x.score, &x.details),
                (&y.reason, y.score, &y.details)
            );
        }
    }

    let bypass = client
        .judge(&request.clone().without_cache())
        .await
        .unwrap();
    assert_eq!(
        (bypass.stats.cache_hits, bypass.stats.cache_misses),
        (0, 60)
    );

    // The id is not part of the key; metadata is.
    let mut renamed = items(1);
    renamed[0].id = Some(json!("other-id"));
    let hit = client
        .judge(&JudgeRequest::for_task("math", renamed))
        .await
        .unwrap();
    assert_eq!(hit.stats.cache_hits, 2);
    let mut changed = items(1);
    changed[0].metadata.insert("answer".into(), json!("zero"));
    let miss = client
        .judge(&JudgeRequest::for_task("math", changed))
        .await
        .unwrap();
    assert_eq!(miss.stats.cache_misses, 2);
}

async fn cached_verdicts_survive_a_restart(backend: Backend) {
    let mut server = server(backend).config(CONFIG).start();
    let request = JudgeRequest::for_task("math", items(10));
    let cold = server.client().judge(&request).await.unwrap();
    assert_eq!(cold.stats.cache_misses, 20);
    server.restart();
    let warm = server.client().judge(&request).await.unwrap();
    assert_eq!(
        (warm.stats.cache_hits, warm.stats.cache_misses),
        (20, 0),
        "hits come from the database after a restart"
    );
    let verdicts =
        |r: &judge_api::JudgeResponse| r.results.iter().map(|x| x.verdict).collect::<Vec<_>>();
    assert_eq!(verdicts(&cold), verdicts(&warm));
}

async fn a_changed_judge_config_never_hits_stale_entries(backend: Backend) {
    let server = server(backend).start();
    let client = server.client();
    let strict = JudgeDefinition {
        kind: "regex".into(),
        config: json!({"must_match": ["^yes$"]}),
    };
    client.put_judge("j", &strict).await.unwrap();
    let request = JudgeRequest::for_judges(["j"], vec![Item::new("q", "YES")]);
    assert_eq!(
        client.judge(&request).await.unwrap().results[0].verdict,
        Verdict::Fail
    );
    let loose = JudgeDefinition {
        kind: "regex".into(),
        config: json!({"must_match": ["^yes$"], "flags": "i"}),
    };
    client.put_judge("j", &loose).await.unwrap();
    let answer = client.judge(&request).await.unwrap();
    assert_eq!(answer.results[0].verdict, Verdict::Pass);
    assert_eq!(answer.stats.cache_misses, 1);
    // Same config under another name: same fingerprint, so a hit.
    client.put_judge("j2", &loose).await.unwrap();
    let answer = client
        .judge(&JudgeRequest::for_judges(
            ["j2"],
            vec![Item::new("q", "YES")],
        ))
        .await
        .unwrap();
    assert_eq!(answer.stats.cache_hits, 1);
}

async fn repeated_items_in_a_batch_are_judged_once(backend: Backend) {
    let server = server(backend).config(CONFIG).start();
    let same = Item::new("q", "The final answer is 2");
    let batch = vec![
        same.clone().with_id("a"),
        same.clone().with_id("b"),
        same.with_id("c"),
    ];
    let answer = server
        .client()
        .judge(&JudgeRequest::for_task("math", batch))
        .await
        .unwrap();
    assert_eq!(
        (answer.stats.cache_misses, answer.stats.deduplicated),
        (2, 4)
    );
    assert!(answer.results.iter().all(|r| r.verdict == Verdict::Pass));
    let ids: Vec<_> = answer
        .results
        .iter()
        .map(|r| r.id.as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["a", "b", "c"]);
    assert_eq!(server.db.verdict_rows(), 2);
}

async fn concurrent_identical_requests_store_one_row_per_verdict(backend: Backend) {
    let server = server(backend)
        .config(CONFIG)
        .env("MOJ_CACHE_MEMORY_ENTRIES", "0")
        .start();
    let request = JudgeRequest::for_task("math", items(50));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = server.client();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            client.judge(&request).await.unwrap()
        }));
    }
    for task in tasks {
        let answer = task.await.unwrap();
        assert_eq!(answer.stats.cache_errors, 0);
        assert_eq!(answer.stats.items, 50);
    }
    assert_eq!(server.db.verdict_rows(), 100);
}

async fn retention_prunes_old_verdicts(backend: Backend) {
    let server = server(backend)
        .config(CONFIG)
        .env("MOJ_CACHE_MAX_AGE_SECS", "3600")
        .env("MOJ_CACHE_PRUNE_INTERVAL_SECS", "1")
        .start();
    server
        .client()
        .judge(&JudgeRequest::for_task("math", items(5)))
        .await
        .unwrap();
    assert_eq!(server.db.verdict_rows(), 10);
    // Age four rows past the limit; the pruner must delete exactly those.
    let aged = server.db.execute(
        "UPDATE verdicts SET created_at = created_at - 7200 WHERE key IN (SELECT key FROM verdicts ORDER BY key LIMIT 4)",
    );
    assert_eq!(aged, 4);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while server.db.verdict_rows() != 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "expired verdicts were not pruned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(server.db.verdict_rows(), 6, "fresh verdicts are kept");
}

async fn a_lost_database_degrades_to_scoring_without_cache(backend: Backend) {
    let mut server = server(backend)
        .config(CONFIG)
        .env("MOJ_CACHE_MEMORY_ENTRIES", "0")
        .env("MOJ_CACHE_DB_TIMEOUT_MS", "2000")
        .env("MOJ_DATABASE_CONNECT_TIMEOUT_SECS", "1")
        .start();
    let client = server.client();
    let request = JudgeRequest::for_task("math", items(6));
    let before = client.judge(&request).await.unwrap();
    match backend {
        Backend::Sqlite => {
            server.db.execute("DROP TABLE verdicts");
        }
        Backend::Postgres => server.db.drop_now(),
    }
    for _ in 0..3 {
        let during = client.judge(&request).await.unwrap();
        assert!(during.stats.cache_errors >= 1, "{:?}", during.stats);
        assert_eq!(during.stats.cache_hits, 0);
        let verdicts: Vec<_> = during.results.iter().map(|r| r.verdict).collect();
        assert_eq!(
            verdicts,
            before.results.iter().map(|r| r.verdict).collect::<Vec<_>>()
        );
    }
    let metrics = common::metrics(&server).await;
    assert!(
        metrics.contains(r#"moj_cache_errors_total{operation="lookup"}"#),
        "{metrics}"
    );
    let log = server.log();
    let outage_lines = log.matches("verdict cache unavailable").count();
    assert!(
        (1..=2).contains(&outage_lines),
        "outage logged once per interval, got {outage_lines}:\n{log}"
    );
    if backend == Backend::Postgres {
        let ready = common::http()
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 503);
    }
    server.stop();
}

on_both_backends!(
    second_request_hits_and_bypass_skips_the_cache,
    cached_verdicts_survive_a_restart,
    a_changed_judge_config_never_hits_stale_entries,
    repeated_items_in_a_batch_are_judged_once,
    concurrent_identical_requests_store_one_row_per_verdict,
    retention_prunes_old_verdicts,
    a_lost_database_degrades_to_scoring_without_cache,
);
