//! Verdicts per second through the HTTP API for batches of 1,000 items with the regex judge:
//! cache bypassed, cold cache (judge + insert), warm cache from the database (LRU off), and
//! warm cache from the in-memory LRU; on SQLite and PostgreSQL.
//!
//! Run: `cargo bench -p judge-server --bench http_verdicts` (PostgreSQL must be running; see
//! .ci/run). Set `MOJ_BENCH_ROUNDS` to change the number of batches per measurement (default 10).

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Backend, Server, server};
use judge_api::{Item, JudgeRequest};

const ITEMS_PER_BATCH: usize = 1000;
const CONFIG: &str = r#"
[judges.final_answer]
kind = "regex"
config = { must_match = ["The final answer is \\S+"], must_not_match = ["(?i)as an ai"] }
"#;

fn batch(round: usize) -> JudgeRequest {
    let items = (0..ITEMS_PER_BATCH)
        .map(|i| {
            let response = format!(
                "Let me think step by step about problem {round}-{i}. First we add the numbers, then we \
                 check the units and simplify. The final answer is {}",
                i * 7 + round
            );
            Item::new(format!("Problem {round}-{i}: what is {i} times 7 plus {round}?"), response)
        })
        .collect();
    JudgeRequest::for_judges(["final_answer"], items)
}

struct Measurement {
    backend: &'static str,
    mode: &'static str,
    per_batch: Vec<Duration>,
}

impl Measurement {
    fn verdicts_per_sec(&self) -> f64 {
        let total: Duration = self.per_batch.iter().sum();
        (self.per_batch.len() * ITEMS_PER_BATCH) as f64 / total.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.per_batch.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index].as_secs_f64() * 1e3
    }
}

async fn measure(server: &Server, requests: &[JudgeRequest], expect_hits: bool) -> Vec<Duration> {
    let client = server.client();
    let mut times = Vec::new();
    for request in requests {
        let start = Instant::now();
        let answer = client.judge(request).await.expect("bench request");
        times.push(start.elapsed());
        assert_eq!(answer.results.len(), ITEMS_PER_BATCH);
        if expect_hits {
            assert_eq!(
                answer.stats.cache_hits as usize, ITEMS_PER_BATCH,
                "expected a warm cache"
            );
        } else {
            assert_eq!(answer.stats.cache_hits, 0, "expected a cold cache");
        }
    }
    times
}

async fn run_backend(backend: Backend, name: &'static str, rounds: usize) -> Vec<Measurement> {
    let mut results = Vec::new();
    for lru in [false, true] {
        let entries = if lru { "200000" } else { "0" };
        let server = server(backend)
            .config(CONFIG)
            .env("RUST_LOG", "warn")
            .env("MOJ_CACHE_MEMORY_ENTRIES", entries)
            .start();
        let requests: Vec<JudgeRequest> = (0..rounds).map(batch).collect();
        // Warm up the connection and the server's code paths on a batch not measured.
        measure(&server, &[batch(10_000 + rounds)], false).await;
        if !lru {
            let bypass: Vec<JudgeRequest> =
                requests.iter().map(|r| r.clone().without_cache()).collect();
            let per_batch = measure(&server, &bypass, false).await;
            results.push(Measurement {
                backend: name,
                mode: "no cache (bypass)",
                per_batch,
            });
            let per_batch = measure(&server, &requests, false).await;
            results.push(Measurement {
                backend: name,
                mode: "cold (judge + insert)",
                per_batch,
            });
            let per_batch = measure(&server, &requests, true).await;
            results.push(Measurement {
                backend: name,
                mode: "warm, from database",
                per_batch,
            });
        } else {
            measure(&server, &requests, false).await;
            let per_batch = measure(&server, &requests, true).await;
            results.push(Measurement {
                backend: name,
                mode: "warm, from memory LRU",
                per_batch,
            });
        }
    }
    results
}

fn main() {
    let rounds: usize = std::env::var("MOJ_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut all = Vec::new();
    for (backend, name) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
        all.extend(runtime.block_on(run_backend(backend, name, rounds)));
    }
    println!(
        "\nhttp_verdicts: {rounds} batches of {ITEMS_PER_BATCH} items, regex judge, one client on loopback"
    );
    println!(
        "{:<10} {:<24} {:>12} {:>10} {:>10}",
        "backend", "cache", "verdicts/s", "p50 ms", "max ms"
    );
    for m in &all {
        println!(
            "{:<10} {:<24} {:>12.0} {:>10.1} {:>10.1}",
            m.backend,
            m.mode,
            m.verdicts_per_sec(),
            m.percentile_ms(0.5),
            m.percentile_ms(1.0)
        );
    }
    for backend in ["sqlite", "postgres"] {
        let find = |mode: &str| {
            all.iter()
                .find(|m| m.backend == backend && m.mode.starts_with(mode))
                .map(Measurement::verdicts_per_sec)
        };
        if let (Some(cold), Some(db), Some(memory)) = (
            find("cold"),
            find("warm, from database"),
            find("warm, from memory"),
        ) {
            println!(
                "{backend}: warm-db / cold = {:.2}x, warm-memory / cold = {:.2}x",
                db / cold,
                memory / cold
            );
        }
    }
}
