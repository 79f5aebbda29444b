//! Load and faults: 64 concurrent clients drive a mixed workload through `POST /v1/judge` on
//! loopback (PostgreSQL cache) and the bench reports throughput, p50/p99 latency, status counts
//! and the server's peak RSS; then it checks what the server survives:
//!
//! 1. `steady`: rule batches with new items (regex + math + IFEval), cached batches (the same
//!    items again), and code items (Python unit tests in the sandbox), for `MOJ_LOAD_SECS`
//!    (default 60) with `MOJ_LOAD_CLIENTS` (default 64) clients. Expect zero 5xx and bounded RSS.
//! 2. `saturated`: one batch at a time, 4 queued, every client posting code items: the server
//!    sheds load with 503 + Retry-After, never a timeout or unbounded memory.
//! 3. `postgres restart`: PostgreSQL stopped for 5 s in the middle of the load and started again
//!    (`pg_ctlcluster`; needs the local cluster): zero failed requests (scoring goes on without the
//!    cache), the cache resumes by itself, the rows written before the stop are still there.
//! 4. `server killed`: the server SIGKILLed during the load and started again: clients that retry
//!    (the Rust client's policy) all succeed; the database is consistent afterwards.
//!
//! Run: `cargo bench -p judge-server --bench load` (PostgreSQL running, the CPython WASI runtime
//! installed: scripts/test.sh prepares both). Results: RELIABILITY.md.

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, Server};
use judge_api::{Item, JudgeClient, JudgeRequest, RetryPolicy};
use serde_json::{Value, json};
use tokio::sync::Mutex;

const CONFIG: &str = r#"
[judges.final_answer]
kind = "regex"
config = { must_match = ["The final answer is \\S+"] }

[judges.math_answer]
kind = "math"

[judges.ifeval_strict]
kind = "ifeval"
config = { mode = "strict" }

[judges.unit_tests]
kind = "code"
config = { timeout_ms = 10000, memory_mb = 128 }

[tasks.math]
judges = ["final_answer", "math_answer"]
"#;

const ITEMS: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Rules,
    Cached,
    Code,
}

fn rules_request(seed: u64) -> Value {
    let items: Vec<Value> = (0..ITEMS as u64)
        .map(|i| {
            let n = seed * 1000 + i;
            json!({
                "prompt": format!("What is {n} + 1? Answer in lowercase."),
                "response": format!("adding one gives the result. The final answer is {}", n + 1),
                "metadata": {
                    "answer": (n + 1).to_string(),
                    "instruction_id_list": ["change_case:english_lowercase"],
                    "kwargs": [{}],
                },
            })
        })
        .collect();
    json!({ "judges": ["final_answer", "math_answer", "ifeval_strict"], "items": items })
}

fn cached_request() -> Value {
    rules_request(u64::MAX / 2000)
}

fn code_request(seed: u64) -> Value {
    let correct = seed.is_multiple_of(2);
    let body = if correct { "a + b" } else { "a - b" };
    json!({
        "judges": ["unit_tests"],
        "items": [{
            "prompt": "Write add(a, b).",
            "response": format!("```python\ndef add(a, b):\n    # variant {seed}\n    return {body}\n```"),
            "metadata": { "unit_tests": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"] },
        }],
    })
}

#[derive(Default)]
struct Tally {
    latencies: BTreeMap<Kind, Vec<Duration>>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    retry_after_missing: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

/// Samples the server's RSS every 50 ms until `stop`; returns the peak in MiB.
fn watch_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        let mut peak_kib = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                for line in status.lines() {
                    if let Some(rest) = line.strip_prefix("VmRSS:") {
                        let kib: u64 = rest
                            .trim()
                            .trim_end_matches(" kB")
                            .trim()
                            .parse()
                            .unwrap_or(0);
                        peak_kib = peak_kib.max(kib);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        peak_kib as f64 / 1024.0
    })
}

/// `clients` tasks post `pick(counter)` requests until `duration` has passed.
async fn drive(
    url: &str,
    clients: usize,
    duration: Duration,
    pick: fn(u64) -> (Kind, Value),
) -> Tally {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, tally, counter, url) =
            (http.clone(), tally.clone(), counter.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let (kind, body) = pick(n);
                let started = Instant::now();
                let answer = http
                    .post(format!("{url}/v1/judge"))
                    .json(&body)
                    .send()
                    .await;
                let elapsed = started.elapsed();
                let mut t = tally.lock().await;
                match answer {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        if (status == 503 || status == 429)
                            && response.headers().get("retry-after").is_none()
                        {
                            t.retry_after_missing += 1;
                        }
                        *t.statuses.entry(status).or_default() += 1;
                        if status == 200 {
                            t.latencies.entry(kind).or_default().push(elapsed);
                        } else if status == 503 || status == 429 {
                            drop(t);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    Err(_) => t.transport_errors += 1,
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(tally).ok().unwrap().into_inner()
}

fn steady_mix(n: u64) -> (Kind, Value) {
    match n % 10 {
        0 => (Kind::Code, code_request(n)),
        1..=4 => (Kind::Cached, cached_request()),
        _ => (Kind::Rules, rules_request(n)),
    }
}

fn code_only(n: u64) -> (Kind, Value) {
    (Kind::Code, code_request(n))
}

fn report(name: &str, tally: &Tally, seconds: f64, peak_mib: f64) {
    let ok: u64 = tally.statuses.get(&200).copied().unwrap_or(0);
    let server_errors: u64 = tally
        .statuses
        .iter()
        .filter(|(s, _)| **s >= 500 && **s != 503)
        .map(|(_, n)| n)
        .sum();
    println!(
        "== {name}: {:.0} requests/s OK over {seconds:.0} s; statuses {:?}; transport errors {}; \
         5xx other than 503: {server_errors}; 503/429 without Retry-After: {}; peak RSS {peak_mib:.0} MiB",
        ok as f64 / seconds,
        tally.statuses,
        tally.transport_errors,
        tally.retry_after_missing
    );
    for (kind, latencies) in &tally.latencies {
        let mut sorted = latencies.clone();
        sorted.sort();
        println!(
            "   {kind:?}: {} requests ({} items each), p50 {:.1} ms, p99 {:.1} ms",
            sorted.len(),
            if *kind == Kind::Code { 1 } else { ITEMS },
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.99)
        );
    }
}

async fn phase(
    name: &str,
    server: &Server,
    clients: usize,
    seconds: u64,
    pick: fn(u64) -> (Kind, Value),
) -> Tally {
    let stop = Arc::new(AtomicBool::new(false));
    let rss = watch_rss(server.pid().unwrap(), stop.clone());
    let tally = drive(&server.base, clients, Duration::from_secs(seconds), pick).await;
    stop.store(true, Ordering::Relaxed);
    report(name, &tally, seconds as f64, rss.join().unwrap());
    tally
}

fn pg_ctl(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("a local PostgreSQL cluster under /etc/postgresql")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .max()
        .unwrap();
    let status = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", action])
        .status()
        .expect("pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster {action}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("MOJ_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let clients: usize = std::env::var("MOJ_LOAD_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);

    // 1. steady
    let server = common::server(Backend::Postgres).config(CONFIG).start();
    let tally = phase("steady mixed load", &server, clients, seconds, steady_mix).await;
    assert_eq!(tally.transport_errors, 0, "requests failed");
    drop(server);

    // 2. saturated
    let server = common::server(Backend::Postgres)
        .config(CONFIG)
        .env("MOJ_LIMITS_MAX_CONCURRENT_BATCHES", "1")
        .env("MOJ_LIMITS_MAX_QUEUED_BATCHES", "4")
        .start();
    let tally = phase(
        "saturated (1 running, 4 queued, code only)",
        &server,
        clients,
        seconds.min(20),
        code_only,
    )
    .await;
    assert!(
        tally.statuses.get(&503).copied().unwrap_or(0) > 0,
        "no load was shed"
    );
    assert_eq!(tally.retry_after_missing, 0);
    drop(server);

    // 3. PostgreSQL stopped and started during the load
    let server = common::server(Backend::Postgres).config(CONFIG).start();
    let rows_before_load = {
        let client = server.client();
        let warm = JudgeRequest::for_task(
            "math",
            vec![
                Item::new("2+2?", "The final answer is 4")
                    .with_metadata(json!({"answer": "4"}).as_object().unwrap().clone()),
            ],
        );
        client.judge(&warm).await.unwrap();
        server.db.verdict_rows()
    };
    let url = server.base.clone();
    let load =
        tokio::spawn(
            async move { drive(&url, clients, Duration::from_secs(20), steady_mix).await },
        );
    tokio::time::sleep(Duration::from_secs(5)).await;
    pg_ctl("stop");
    tokio::time::sleep(Duration::from_secs(5)).await;
    pg_ctl("start");
    let tally = load.await.unwrap();
    report(
        "PostgreSQL stopped 5 s during the load",
        &tally,
        20.0,
        f64::NAN,
    );
    let failed: u64 = tally
        .statuses
        .iter()
        .filter(|(s, _)| **s != 200)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        failed + tally.transport_errors,
        0,
        "requests failed while PostgreSQL was down"
    );
    // the cache resumes by itself: a new verdict is written again
    let mut resumed = false;
    for _ in 0..100 {
        let before = server.db.verdict_rows();
        drive(&server.base, 1, Duration::from_millis(200), |n| {
            (Kind::Rules, rules_request(n + 1_000_000))
        })
        .await;
        if server.db.verdict_rows() > before {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        resumed,
        "the cache did not resume after PostgreSQL came back"
    );
    assert!(
        server.db.verdict_rows() >= rows_before_load,
        "rows written before the stop were lost"
    );
    println!(
        "   cache resumed; {} rows (>= {rows_before_load} before the stop)",
        server.db.verdict_rows()
    );
    drop(server);

    // 4. the server killed during the load; clients retry
    let mut server = common::server(Backend::Postgres).config(CONFIG).start();
    let base = server.base.clone();
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients.min(16) {
        let (base, done, failures) = (base.clone(), done.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let client = JudgeClient::new(&base).unwrap().with_retry(RetryPolicy {
                max_retries: 20,
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
            });
            for i in 0..20u64 {
                let body = rules_request(5_000_000 + c as u64 * 100 + i);
                let request: JudgeRequest = serde_json::from_value(body).unwrap();
                match client.judge(&request).await {
                    Ok(_) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failures.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // same port: the clients' base URL stays valid
    let port = base.rsplit(':').next().unwrap().to_owned();
    server.set_env("MOJ_LISTEN", &format!("127.0.0.1:{port}"));
    server.start_again();
    for task in tasks {
        task.await.unwrap();
    }
    println!(
        "== server SIGKILLed during the load and restarted: {} requests succeeded, {} failed (clients retry)",
        done.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed)
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    // Consistent: every answered (item, judge) pair is stored exactly once (a response is sent
    // after its verdicts are written; a request cut by the kill was retried and written then).
    let expected = clients.min(16) as i64 * 20 * ITEMS as i64 * 3;
    assert_eq!(
        server.db.verdict_rows(),
        expected,
        "cache rows after the restart"
    );
    println!("   database consistent: {expected} verdict rows, one per answered (item, judge)");
}
