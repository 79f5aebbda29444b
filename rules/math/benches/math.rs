//! Throughput of `verify` over the 1,703 shared conformance pairs, in process, compared with
//! Hugging Face math-verify on the same inputs (scripts/bench_reference.py) when python3 and
//! math_verify are importable.
//!
//! Run: `cargo bench -p moj-math` (set MOJ_MATH_BENCH_ROUNDS to change the number of rounds).

use std::process::Command;
use std::time::Instant;

use moj_math::{MathConfig, verify};
use serde::Deserialize;

const PAIRS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/math/pairs.jsonl"
);
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_reference.py");

#[derive(Deserialize)]
struct Pair {
    gold: String,
    response: String,
}

fn main() {
    let text = std::fs::read_to_string(PAIRS)
        .unwrap_or_else(|e| panic!("conformance data missing at {PAIRS}: {e}"));
    let pairs: Vec<Pair> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("pair"))
        .collect();
    let cfg = MathConfig::default();
    let rounds: usize = std::env::var("MOJ_MATH_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);

    // Warm-up round, also the verdict count.
    let equivalent = pairs
        .iter()
        .filter(|p| verify(&p.response, &p.gold, &cfg).is_equivalent())
        .count();
    let start = Instant::now();
    let mut verdicts = 0usize;
    for _ in 0..rounds {
        for p in &pairs {
            std::hint::black_box(verify(std::hint::black_box(&p.response), &p.gold, &cfg));
            verdicts += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let ours = verdicts as f64 / secs;
    println!(
        "moj-math: {verdicts} verdicts in {secs:.3} s = {ours:.0} verdicts/s ({} pairs x {rounds} rounds; {equivalent} equivalent)",
        pairs.len()
    );
    println!(
        "moj-math: {:.1} us per verdict",
        1e6 * secs / verdicts as f64
    );

    match reference() {
        Ok(theirs) => println!(
            "math-verify 0.9.0 (python3): {theirs:.1} verdicts/s; moj-math is {:.0}x faster",
            ours / theirs
        ),
        Err(why) => println!(
            "reference missing: {why} (pip install \"math-verify[antlr4_13_2]\" to compare)"
        ),
    }
}

/// Runs scripts/bench_reference.py and parses its `verdicts_per_sec=` figure.
fn reference() -> Result<f64, String> {
    let probe = Command::new("python3")
        .args(["-c", "import math_verify"])
        .output()
        .map_err(|e| format!("python3 not runnable ({e})"))?;
    if !probe.status.success() {
        return Err("python3 cannot import math_verify".into());
    }
    let out = Command::new("python3")
        .args([REFERENCE, PAIRS])
        .output()
        .map_err(|e| format!("bench_reference.py failed to start ({e})"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "bench_reference.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("verdicts_per_sec="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("unexpected reference output: {stdout}"))
}
