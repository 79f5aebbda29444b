//! Model throughput on this machine: batched generation (tokens/s at batch 1, 8, 32) and one
//! forward+backward over 16 x 256 tokens, for the tiny configuration and for SmolLM2-135M
//! (GGUF, dequantised to f32) when it is installed (scripts/fetch-smollm2.sh). When llama.cpp's
//! tools are built (scripts/fetch-llama-cpp.sh; `MOJ_LLAMA_CPP_BIN` names another folder), the
//! same run measures llama.cpp on the same model: at F32 (the Q4_1 file dequantised by
//! `llama-quantize`, the like-for-like comparison) and on the Q4_1 file itself, with
//! `llama-batched-bench` (16-token prompts, 32 new tokens, 1/8/32 sequences, 2 threads), and
//! prints moj/llama.cpp ratios.
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

/// `trainable` lives on an autodiff device; generation runs on its frozen copy.
fn report(
    name: &str,
    trainable: &Model,
    tokenizer: &TextTokenizer,
    quick: bool,
) -> Vec<(usize, f64)> {
    let model = &trainable.valid();
    println!("== {name}: {} parameters", model.num_params());
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
    let secs = train_step(trainable, batch, len);
    println!(
        "forward+backward {batch}x{len}: {:.3} s ({:.0} tokens/s)",
        secs,
        (batch * len) as f64 / secs
    );
    rates
}

fn main() {
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

    let gguf = std::env::var("MOJ_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/moj/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    if !gguf.exists() {
        println!(
            "== SmolLM2-135M: {} not found (scripts/fetch-smollm2.sh); skipped",
            gguf.display()
        );
        return;
    }
    let loaded = pretrained::load(&gguf, &device.clone().autodiff()).unwrap();
    let rates = report(
        "SmolLM2-135M-Instruct (GGUF Q4_1 dequantised to f32)",
        &loaded.model,
        &loaded.tokenizer,
        quick,
    );
    llama_cpp_reference(&gguf, &rates, quick);
}

/// llama.cpp's tools folder, when built.
fn llama_cpp_bin() -> Option<PathBuf> {
    let dir = std::env::var("MOJ_LLAMA_CPP_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/moj/llama.cpp-11434.0.0/bin")
        });
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
