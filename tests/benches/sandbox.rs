//! The code sandbox against the obvious alternative, in the same run:
//! - start-up: compiling CPython for WASI vs loading the compiled module from the disk cache;
//! - latency per execution (p50/p99, sequential) and executions/s (all workers busy) for
//!   hello-world and a HumanEval-sized program, in the Wasmtime sandbox vs spawning native
//!   `python3 -c` (when python3 is installed);
//! - HumanEval-sized items/s through the HTTP API with the `code` judge.
//!
//! Run: `cargo bench -p judge-server --bench sandbox` (needs sandboxes/python/fetch.sh run once).
//! `MOJ_BENCH_RUNS` sets the runs per measurement (default 40).

#[path = "../common/mod.rs"]
mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use judge_api::{Item, JudgeRequest};
use judge_server::config::Config;
use judge_server::sandbox::{Language, RunLimits, Sandbox};
use serde_json::json;

const HELLO: &str = "print('hello world')";
/// A HumanEval-sized item: a solution of a dozen lines and its tests.
const HUMANEVAL: &str = r#"
from typing import List

def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2:
                distance = abs(elem - elem2)
                if distance < threshold:
                    return True
    return False

def check(candidate):
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.8) == False
    assert candidate([1.0, 2.0, 3.0, 4.0, 5.0, 2.0], 0.1) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 0.5) == False

check(has_close_elements)
"#;

fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

struct Figures {
    p50_ms: f64,
    p99_ms: f64,
    per_sec: f64,
}

fn limits() -> RunLimits {
    RunLimits {
        timeout: Duration::from_secs(60),
        memory_bytes: 256 << 20,
        output_bytes: 1 << 20,
    }
}

async fn sandbox_figures(sandbox: &Arc<Sandbox>, code: &str, runs: usize) -> Figures {
    let args = vec!["-c".to_owned(), code.to_owned()];
    let mut latencies = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let output = sandbox
            .run(Language::Python, &args, Vec::new(), limits())
            .await
            .unwrap();
        latencies.push(started.elapsed());
        assert_eq!(
            output.exit,
            judge_server::sandbox::Exit::Code(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let started = Instant::now();
    let concurrent: Vec<_> = (0..runs)
        .map(|_| {
            let sandbox = Arc::clone(sandbox);
            let args = args.clone();
            tokio::spawn(async move {
                sandbox
                    .run(Language::Python, &args, Vec::new(), limits())
                    .await
                    .unwrap()
            })
        })
        .collect();
    for run in concurrent {
        run.await.unwrap();
    }
    let per_sec = runs as f64 / started.elapsed().as_secs_f64();
    Figures {
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        per_sec,
    }
}

fn native_figures(code: &str, runs: usize, workers: usize) -> Option<Figures> {
    let run = || Command::new("python3").args(["-I", "-c", code]).output();
    run().ok().filter(|o| o.status.success())?;
    let mut latencies = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        assert!(run().unwrap().status.success());
        latencies.push(started.elapsed());
    }
    let started = Instant::now();
    std::thread::scope(|scope| {
        for w in 0..workers {
            scope.spawn(move || {
                for _ in (w..runs).step_by(workers) {
                    assert!(run().unwrap().status.success());
                }
            });
        }
    });
    let per_sec = runs as f64 / started.elapsed().as_secs_f64();
    Some(Figures {
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        per_sec,
    })
}

async fn http_items_per_sec(items: usize) -> f64 {
    let server = common::server(common::Backend::Sqlite)
        .config("[judges.code]\nkind = \"code\"\n")
        .env("RUST_LOG", "warn")
        .start();
    let solution = HUMANEVAL.split("def check").next().unwrap().to_owned();
    let test = format!(
        "def check{}",
        HUMANEVAL
            .split("def check")
            .nth(1)
            .unwrap()
            .replace("check(has_close_elements)", "")
    );
    let metadata = json!({"test": test, "entry_point": "has_close_elements"})
        .as_object()
        .unwrap()
        .clone();
    let batch: Vec<Item> = (0..items)
        .map(|i| Item::new(format!("p{i}"), solution.clone()).with_metadata(metadata.clone()))
        .collect();
    let request = JudgeRequest::for_judges(["code"], batch).without_cache();
    let client = server.client();
    client
        .judge(&JudgeRequest::for_judges(["code"], request.items[..2].to_vec()).without_cache())
        .await
        .unwrap();
    let started = Instant::now();
    let answer = client.judge(&request).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(answer.stats.pass as usize, items, "{:?}", answer.results[0]);
    items as f64 / elapsed.as_secs_f64()
}

fn main() {
    let runs: usize = std::env::var("MOJ_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut config = Config::load_with_env(None, &env).expect("config").sandbox;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let fresh = tempfile::tempdir().unwrap();
        config.compiled_cache_dir = fresh.path().to_owned();
        let (_, first) = Sandbox::start(&config).expect("sandbox");
        let (sandbox, second) = Sandbox::start(&config).expect("sandbox");
        let (first, second) = (first.expect("python runtime installed"), second.unwrap());
        println!("\nsandbox start-up: first start {:?} in {} ms; later starts {:?} in {} ms", first.origin, first.millis, second.origin, second.millis);
        let sandbox = Arc::new(sandbox);
        let workers = sandbox.workers;
        println!("{runs} runs per row; throughput with {workers} workers (sandbox) / {workers} processes at a time (native)");
        println!("{:<22} {:<10} {:>9} {:>9} {:>10}", "program", "runner", "p50 ms", "p99 ms", "runs/s");
        for (name, code) in [("hello world", HELLO), ("HumanEval-sized", HUMANEVAL)] {
            let wasm = sandbox_figures(&sandbox, code, runs).await;
            println!("{:<22} {:<10} {:>9.1} {:>9.1} {:>10.1}", name, "wasmtime", wasm.p50_ms, wasm.p99_ms, wasm.per_sec);
            match native_figures(code, runs, workers) {
                Some(native) => {
                    println!("{:<22} {:<10} {:>9.1} {:>9.1} {:>10.1}", name, "python3", native.p50_ms, native.p99_ms, native.per_sec);
                    println!(
                        "{:<22} ratio native/wasmtime: p50 latency {:.2}x, throughput {:.2}x",
                        name,
                        native.p50_ms / wasm.p50_ms,
                        wasm.per_sec / native.per_sec
                    );
                }
                None => println!("{name}: python3 not installed; no native comparison"),
            }
        }
        let http = http_items_per_sec(200).await;
        println!("HTTP: {http:.1} HumanEval-sized items/s through POST /v1/judge (code judge, cache bypassed, 200 items)");
    });
}
