//! Throughput of a full check (every instruction of an item, strict and loose) over the 1,092
//! conformance responses, and the ratio to the Python reference when it is importable
//! (`scripts/bench_reference.py`). Run: `cargo bench -p moj-ifeval`.

use std::process::Command;
use std::time::Instant;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/ifeval/gpt4-responses.jsonl"
);

fn main() {
    let text = std::fs::read_to_string(DATA)
        .unwrap_or_else(|e| panic!("conformance data missing at {DATA}: {e} (the shared/ folder must sit beside the repository)"));
    let items: Vec<(String, Vec<moj_ifeval::Instruction>)> = text
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
            let ins = moj_ifeval::parse_instructions(&v["instruction_id_list"], &v["kwargs"])
                .expect("valid instructions");
            (v["response"].as_str().expect("response").to_string(), ins)
        })
        .collect();
    // Warm-up: lazily built tables (Punkt model, langdetect profiles, regexes).
    let mut passed = 0usize;
    for (response, ins) in &items {
        passed += moj_ifeval::check(response, ins)
            .iter()
            .filter(|r| r.strict)
            .count();
    }
    let rounds = 5;
    let start = Instant::now();
    for _ in 0..rounds {
        for (response, ins) in &items {
            passed += std::hint::black_box(moj_ifeval::check(response, ins)).len();
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = rounds * items.len();
    let rust_rate = n as f64 / elapsed;
    println!(
        "moj-ifeval: {n} verdicts in {elapsed:.3} s = {rust_rate:.1} verdicts/s (1 thread; checksum {passed})"
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_reference.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    match Command::new(&python).arg(script).arg(DATA).output() {
        Ok(out) if out.status.success() => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            print!("{stdout}");
            let rate = stdout
                .split("= ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|s| s.parse::<f64>().ok());
            match rate {
                Some(py_rate) => println!(
                    "ratio: moj-ifeval is {:.1}x the Python reference",
                    rust_rate / py_rate
                ),
                None => println!("reference output not understood: {stdout}"),
            }
        }
        Ok(out) => println!(
            "reference missing or failed ({python} {script}): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => println!("reference missing: cannot run {python}: {e}"),
    }
}
