//! Model throughput on this machine: batched generation (tokens/s at batch 1, 8, 32) and one
//! forward+backward over 16 x 256 tokens, for the tiny configuration and for SmolLM2-135M
//! (GGUF, dequantised to f32) when it is installed (scripts/fetch-smollm2.sh). When a llama.cpp
//! `llama-bench` binary is given (MOJ_LLAMA_BENCH=/path/to/llama-bench), it runs on the same GGUF
//! in the same process run and the ratio is printed.
//!
//!     cargo bench -p moj-trainer --bench model [-- --quick]

use burn::module::Module;
use burn::tensor::Device;
use moj_trainer::logprobs::{Pair, score};
use moj_trainer::model::{Model, ModelConfig};
use moj_trainer::pretrained;
use moj_trainer::sampling::{SamplingConfig, generate};
use moj_trainer::tokenizer::TextTokenizer;
use std::path::PathBuf;
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
    match std::env::var("MOJ_LLAMA_BENCH") {
        Ok(bin) => {
            // llama.cpp on the same file: text generation of 32 tokens, batch 1, 2 threads.
            let output = std::process::Command::new(&bin)
                .args([
                    "-m",
                    gguf.to_str().unwrap(),
                    "-p",
                    "0",
                    "-n",
                    "32",
                    "-t",
                    "2",
                    "-o",
                    "json",
                ])
                .output()
                .expect("llama-bench runs");
            let text = String::from_utf8_lossy(&output.stdout);
            let parsed: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let llama = parsed[0]["avg_ts"].as_f64().unwrap_or(f64::NAN);
            println!(
                "llama.cpp (llama-bench, Q4_1, batch 1): {llama:.1} tokens/s; moj/llama.cpp = {:.3}",
                rates[0].1 / llama
            );
        }
        Err(_) => println!(
            "llama.cpp: set MOJ_LLAMA_BENCH to a llama-bench binary to compare on the same GGUF"
        ),
    }
}
