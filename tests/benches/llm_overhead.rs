//! judge-server's overhead per LLM-judged item: the same chat completions sent straight to an
//! OpenAI-compatible backend, and sent through `POST /v1/judge` (a `rubric` judge, cache
//! bypassed, one item per request), at 1 and 64 requests in flight. The backend is the tests'
//! fake (tests/llm/fake.rs) on loopback, answering at once with logprobs, so the difference in
//! latency is what the server adds: HTTP, admission, rendering, the backend client, the decision.
//!
//! Run: `cargo bench -p judge-server --bench llm_overhead`. `MOJ_BENCH_ROUNDS`: items per
//! measurement (default 2000).

#[path = "../common/mod.rs"]
mod common;
#[path = "../llm/fake.rs"]
mod fake;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Backend, Server, server};
use fake::Fake;
use judge_api::{Item, JudgeRequest, Verdict};
use serde_json::json;

fn config(url: &str) -> String {
    format!(
        r#"
[llm.backends.fake]
base_url = "{url}"
model = "fake-judge"
max_concurrent = 64

[judges.rubric]
kind = "rubric"
config = {{ backend = "fake", template = "{{{{ response }}}}", pass_token = "yes", fail_token = "no" }}
"#
    )
}

/// Runs `total` calls of `call(i)` with `concurrency` in flight; returns each call's latency.
async fn run<F, Fut>(total: usize, concurrency: usize, call: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..concurrency).map(|_| {
        let (call, next) = (Arc::clone(&call), Arc::clone(&next));
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return latencies;
                }
                let started = Instant::now();
                call(i).await;
                latencies.push(started.elapsed());
            }
        })
    });
    let mut all = Vec::new();
    for worker in futures_util::future::join_all(workers).await {
        all.extend(worker.unwrap());
    }
    all
}

fn mean_us(latencies: &[Duration]) -> f64 {
    latencies.iter().sum::<Duration>().as_secs_f64() * 1e6 / latencies.len() as f64
}

fn percentile_us(latencies: &[Duration], p: f64) -> f64 {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e6
}

async fn direct(url: &str, round: &str, total: usize, concurrency: usize) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let url = format!("{url}/chat/completions");
    let round = round.to_owned();
    run(total, concurrency, move |i| {
        let request = http.post(&url).json(&json!({
            "model": "fake-judge",
            "messages": [{"role": "user", "content": format!("lp-pass:{round}:{i}")}],
            "temperature": 0.0, "max_tokens": 16, "seed": 0, "n": 1, "stream": false,
            "logprobs": true, "top_logprobs": 10,
        }));
        async move {
            let response = request.send().await.unwrap();
            assert!(response.status().is_success());
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["choices"][0]["message"]["content"], "yes");
        }
    })
    .await
}

async fn through_server(
    server: &Server,
    round: &str,
    total: usize,
    concurrency: usize,
) -> Vec<Duration> {
    let client = server.client();
    let round = round.to_owned();
    run(total, concurrency, move |i| {
        let client = client.clone();
        let item = Item::new("Is this fine?", format!("lp-pass:{round}:{i}"));
        async move {
            let request = JudgeRequest::for_judges(["rubric"], vec![item]).without_cache();
            let response = client.judge(&request).await.unwrap();
            assert_eq!(response.results[0].verdict, Verdict::Pass);
        }
    })
    .await
}

fn main() {
    let total: usize = std::env::var("MOJ_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (fake, url) = Fake::start().await;
        let server = server(Backend::Sqlite).config(&config(&url)).start();
        // Warm both paths (connections, the judge's first build).
        direct(&url, "warm", 64, 8).await;
        through_server(&server, "warm", 64, 8).await;
        println!(
            "\nllm_overhead: {total} items per row, one item per request, fake backend on loopback"
        );
        println!(
            "{:<12} {:>9} {:>12} {:>12} {:>12} {:>12}",
            "in flight", "path", "items/s", "mean us", "p50 us", "p99 us"
        );
        for concurrency in [1, 64] {
            let started = Instant::now();
            let plain = direct(&url, &format!("d{concurrency}"), total, concurrency).await;
            let plain_rate = total as f64 / started.elapsed().as_secs_f64();
            let started = Instant::now();
            let judged =
                through_server(&server, &format!("s{concurrency}"), total, concurrency).await;
            let judged_rate = total as f64 / started.elapsed().as_secs_f64();
            for (path, latencies, rate) in [
                ("direct", &plain, plain_rate),
                ("server", &judged, judged_rate),
            ] {
                println!(
                    "{concurrency:<12} {path:>9} {rate:>12.0} {:>12.0} {:>12.0} {:>12.0}",
                    mean_us(latencies),
                    percentile_us(latencies, 0.5),
                    percentile_us(latencies, 0.99)
                );
            }
            println!(
                "{concurrency:<12} overhead per item: {:.0} us (mean latency, server - direct)",
                mean_us(&judged) - mean_us(&plain)
            );
        }
        assert!(
            fake.total_calls() >= 2 * total,
            "every item reached the backend"
        );
    });
}
