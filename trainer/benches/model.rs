//! Model throughput on this machine: batched generation (tokens/s at batch 1, 8, 32) and two
//! forward+backward steps over 16 x 256 tokens (the first, then one with memory already obtained), for the tiny configuration and for SmolLM2-135M
//! (GGUF, dequantised to f32) when it is installed (scripts/fetch-smollm2.sh). When llama.cpp's
//! tools are built (scripts/fetch-llama-cpp.sh; `MOJ_LLAMA_CPP_BIN` names another folder), the
//! same run measures llama.cpp on the same model: at F32 (the Q4_1 file dequantised by
//! `llama-quantize`, the like-for-like comparison) and on the Q4_1 file itself, with
//! `llama-batched-bench` (16-token prompts, 32 new tokens, 1/8/32 sequences, 2 threads), and
//! prints moj/llama.cpp ratios.
//!
//! When a Python with PyTorch is available (`MOJ_TORCH_PYTHON`, else the venv that
//! scripts/fetch-torch.sh makes), the same run also times PyTorch eager on the same
//! configurations (`benches/torch_reference.py`: the same decoder in plain torch ops, same
//! thread count, same prompts and lengths) and prints moj/PyTorch ratios.
//!
//!     cargo bench -p moj-trainer --bench model [-- --quick]

use burn::module::Module;
use burn::tensor::Device;
use moj_trainer::logprobs::{Pair, score};
use moj_trainer::model::{Model, ModelConfig};
use moj_trainer::pretrained;
use moj_trainer::sampling::{SamplingConfig, generate};
use moj_trainer::tokenizer::TextTokenizer;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn generation(model: &Model, tokenizer: &TextTokenizer, batch: usize, new_tokens: usize) -> f64 {
    let prompt: Vec<u32> = (0..16)
        .map(|i| (i * 7 + 3) as u32 % model.config.vocab_size as u32)
        .collect();
    let prompts = vec![prompt; batch];
    let seeds: Vec<u64> = (0..batch as u64).collect();
    let config = SamplingConfig {
        temperature: 1.0,
        max_new_tokens: new_tokens,
        ..Default::default()
    };
    let started = Instant::now();
    let out = generate(model, tokenizer, &prompts, &seeds, &config, &[]).unwrap();
    let tokens: usize = out.iter().map(|g| g.tokens.len()).sum();
    tokens as f64 / started.elapsed().as_secs_f64()
}

fn train_step(model: &Model, batch: usize, len: usize) -> f64 {
    let v = model.config.vocab_size as u32;
    let pairs: Vec<Pair> = (0..batch)
        .map(|b| Pair {
            prompt: (0..len / 2)
                .map(|i| ((i * 31 + b * 7) as u32) % v)
                .collect(),
            response: (0..len / 2)
                .map(|i| ((i * 17 + b * 3 + 1) as u32) % v)
                .collect(),
        })
        .collect();
    let started = Instant::now();
    let scored = score(model, &pairs).unwrap();
    let grads = scored.sums.sum().backward();
    drop(grads);
    started.elapsed().as_secs_f64()
}

/// Our figures for one model: generation tokens/s per batch size, and the training step.
struct Figures {
    rates: Vec<(usize, f64)>,
    /// The first training step, then a second one (memory already obtained from the system
    /// once, as in every step of a training run after the first).
    train_step_secs: [f64; 2],
}

/// `trainable` lives on an autodiff device; generation runs on its frozen copy.
fn report(name: &str, trainable: &Model, tokenizer: &TextTokenizer, quick: bool) -> Figures {
    let model = &trainable.valid();
    println!("== {name}: {} parameters", model.num_params());
    // PyTorch first: this process keeps its peak heap once it has trained (memory.rs), and both
    // at once would not fit in memory.
    let torch = torch_figures(&model.config, quick);
    let new_tokens = if quick { 8 } else { 32 };
    let mut rates = Vec::new();
    for batch in [1, 8, 32] {
        let rate = generation(model, tokenizer, batch, new_tokens);
        println!(
            "generation  batch {batch:>2}: {rate:>9.1} tokens/s ({new_tokens} new tokens, 16-token prompt)"
        );
        rates.push((batch, rate));
    }
    let (batch, len) = if quick { (4, 64) } else { (16, 256) };
    let secs = [
        train_step(trainable, batch, len),
        train_step(trainable, batch, len),
    ];
    for (step, secs) in ["first", "second"].iter().zip(secs) {
        println!(
            "forward+backward {batch}x{len}, {step} step: {secs:.3} s ({:.0} tokens/s)",
            (batch * len) as f64 / secs
        );
    }
    let figures = Figures {
        rates,
        train_step_secs: secs,
    };
    if let Some(torch) = torch {
        print_torch_ratios(&torch, &figures, quick);
    }
    figures
}

/// The path in environment variable `var`, else `relative` under `~/.cache/moj` (where the
/// fetch scripts put things).
fn env_or_cache(var: &str, relative: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/moj")
            .join(relative)
    })
}

/// A Python that can `import torch`, if any.
fn torch_python() -> Option<PathBuf> {
    let python = env_or_cache("MOJ_TORCH_PYTHON", "venv-torch/bin/python");
    python.exists().then_some(python)
}

/// PyTorch eager on the same configuration (random weights: timing does not depend on them).
fn torch_figures(
    config: &moj_trainer::model::ModelConfig,
    quick: bool,
) -> Option<serde_json::Value> {
    let Some(python) = torch_python() else {
        println!(
            "PyTorch: no Python with torch (scripts/fetch-torch.sh or MOJ_TORCH_PYTHON); no ratio printed"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, serde_json::to_vec(config).unwrap()).unwrap();
    let (batch, len, new_tokens) = if quick { (4, 64, 8) } else { (16, 256, 32) };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/torch_reference.py");
    let mut command = std::process::Command::new(&python);
    if KEPT.get() == Some(&true) {
        // The same heap policy for PyTorch (glibc's tunables for what memory.rs sets).
        command.env("GLIBC_TUNABLES", moj_trainer::memory::GLIBC_TUNABLES);
    }
    let output = command
        .arg(script)
        .arg(&config_path)
        .args(["--threads", "2", "--new-tokens", &new_tokens.to_string()])
        .args(["--batch", &batch.to_string(), "--len", &len.to_string()])
        .output()
        .expect("the PyTorch reference runs");
    assert!(
        output.status.success(),
        "torch_reference.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

fn print_torch_ratios(figures: &serde_json::Value, ours: &Figures, quick: bool) {
    let (batch, len) = if quick { (4, 64) } else { (16, 256) };
    for (batch, rate) in &ours.rates {
        let theirs = figures["generation_tokens_per_s"][batch.to_string()]
            .as_f64()
            .unwrap_or(f64::NAN);
        println!(
            "PyTorch {} eager batch {batch:>2}: {theirs:>9.1} tokens/s; moj/PyTorch = {:.2}",
            figures["torch"].as_str().unwrap_or("?"),
            rate / theirs
        );
    }
    for (i, step) in ["first", "second"].iter().enumerate() {
        let theirs = figures["train_step_s"][i].as_f64().unwrap_or(f64::NAN);
        println!(
            "PyTorch eager forward+backward {batch}x{len}, {step} step: {theirs:.3} s; moj takes {:.2}x PyTorch's time",
            ours.train_step_secs[i] / theirs
        );
    }
}

/// Whether `memory::keep_freed_memory` holds in this process (and is given to PyTorch's).
static KEPT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

fn main() {
    // As the trainer binary does (memory.rs); MOJ_RETURN_FREED_MEMORY=1 measures without it.
    let kept = moj_trainer::memory::keep_freed_memory();
    KEPT.set(kept).unwrap();
    println!("freed memory kept for reuse (memory.rs), for moj and PyTorch: {kept}");
    let quick = std::env::args().any(|a| a == "--quick");
    let tokenizer = TextTokenizer::byte_level().unwrap();
    let device = Device::flex();
    let tiny = Model::random(
        &ModelConfig::tiny(tokenizer.vocab_size()),
        0,
        &device.clone().autodiff(),
    )
    .unwrap();
    report(
        "tiny config (byte-level, 2 layers, hidden 64)",
        &tiny,
        &tokenizer,
        quick,
    );

    let gguf = env_or_cache("MOJ_SMOLLM2_GGUF", "models/SmolLM2-135M-Instruct.Q4_1.gguf");
    if !gguf.exists() {
        println!(
            "== SmolLM2-135M: {} not found (scripts/fetch-smollm2.sh); skipped",
            gguf.display()
        );
        return;
    }
    let loaded = pretrained::load(&gguf, &device.clone().autodiff()).unwrap();
    let figures = report(
        "SmolLM2-135M-Instruct (GGUF Q4_1 dequantised to f32)",
        &loaded.model,
        &loaded.tokenizer,
        quick,
    );
    llama_cpp_reference(&gguf, &figures.rates, quick);
}

/// llama.cpp's tools folder, when built.
fn llama_cpp_bin() -> Option<PathBuf> {
    let dir = env_or_cache("MOJ_LLAMA_CPP_BIN", "llama.cpp-11434.0.0/bin");
    dir.join("llama-batched-bench").exists().then_some(dir)
}

/// Generation tokens/s per number of parallel sequences, from llama-batched-bench's JSONL.
fn llama_batched(bin: &Path, gguf: &Path, batches: &[usize], new_tokens: usize) -> Vec<f64> {
    let list = batches
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let output = std::process::Command::new(bin.join("llama-batched-bench"))
        .arg("-m")
        .arg(gguf)
        .args(["-c", "4096", "-npp", "16", "-ntg", &new_tokens.to_string()])
        .args(["-npl", &list, "-t", "2", "--output-format", "jsonl"])
        .output()
        .expect("llama-batched-bench runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    batches
        .iter()
        .map(|&b| {
            rows.iter()
                .find(|r| r["pl"].as_u64() == Some(b as u64))
                // whole-run tokens/s (prompt + generation), as our figure
                .map(|r| (b * new_tokens) as f64 / r["t"].as_f64().unwrap_or(f64::NAN))
                .unwrap_or(f64::NAN)
        })
        .collect()
}

fn llama_cpp_reference(gguf: &Path, rates: &[(usize, f64)], quick: bool) {
    let Some(bin) = llama_cpp_bin() else {
        println!("llama.cpp: not built (scripts/fetch-llama-cpp.sh); no ratio printed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let f32_gguf = dir.path().join("f32.gguf");
    let status = std::process::Command::new(bin.join("llama-quantize"))
        .arg("--allow-requantize")
        .arg(gguf)
        .arg(&f32_gguf)
        .arg("F32")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("llama-quantize runs");
    assert!(status.success(), "llama-quantize failed");
    let new_tokens = if quick { 8 } else { 32 };
    let batches: Vec<usize> = rates.iter().map(|r| r.0).collect();
    for (label, file) in [("F32", f32_gguf.as_path()), ("Q4_1", gguf)] {
        let llama = llama_batched(&bin, file, &batches, new_tokens);
        for ((batch, ours), theirs) in rates.iter().zip(&llama) {
            println!(
                "llama.cpp {label:<4} batch {batch:>2}: {theirs:>9.1} tokens/s; moj/llama.cpp = {:.2}",
                ours / theirs
            );
        }
    }
}
