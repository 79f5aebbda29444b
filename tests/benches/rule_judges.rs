//! The `ifeval` and `math` judges through the HTTP API: verdicts/s for the conformance data
//! posted as batches (cache bypassed, so every verdict is computed). In-process figures and the
//! ratio to the Python references come from `cargo bench -p moj-ifeval` and `-p moj-math`.
//!
//! Run: `cargo bench -p judge-server --bench rule_judges`. `MOJ_BENCH_ROUNDS` (default 5).

#[path = "../common/mod.rs"]
mod common;

use std::time::Instant;

use judge_api::{Item, JudgeRequest};
use serde_json::{Value, json};

fn rows(path: &str) -> Vec<Value> {
    let full = format!(
        "{}/../../shared/conformance/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("{full}: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn main() {
    let rounds: usize = std::env::var("MOJ_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = common::server(common::Backend::Sqlite)
        .config("[judges.ifeval]\nkind = \"ifeval\"\n[judges.math]\nkind = \"math\"\n")
        .env("RUST_LOG", "warn")
        .start();
    let ifeval: Vec<Item> = rows("ifeval/gpt4-responses.jsonl")
        .iter()
        .map(|r| {
            let meta =
                json!({"instruction_id_list": r["instruction_id_list"], "kwargs": r["kwargs"]});
            Item::new(
                r["prompt"].as_str().unwrap(),
                r["response"].as_str().unwrap(),
            )
            .with_metadata(meta.as_object().unwrap().clone())
        })
        .collect();
    let math: Vec<Item> = rows("math/pairs.jsonl")
        .iter()
        .map(|r| {
            Item::new("q", r["response"].as_str().unwrap())
                .with_metadata(json!({"answer": r["gold"]}).as_object().unwrap().clone())
        })
        .collect();
    println!(
        "\nrule_judges: {rounds} rounds per judge through POST /v1/judge, cache bypassed, one client on loopback"
    );
    for (judge, items) in [("ifeval", ifeval), ("math", math)] {
        let request = JudgeRequest::for_judges([judge], items.clone()).without_cache();
        let client = server.client();
        runtime.block_on(client.judge(&request)).unwrap();
        let started = Instant::now();
        for _ in 0..rounds {
            runtime.block_on(client.judge(&request)).unwrap();
        }
        let per_sec = (rounds * items.len()) as f64 / started.elapsed().as_secs_f64();
        println!(
            "{judge:<8} batches of {:>5} items: {per_sec:>10.0} verdicts/s",
            items.len()
        );
    }
}
