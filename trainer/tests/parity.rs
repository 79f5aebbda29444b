//! Parity of the Burn decoder with the independent NumPy reference (fixtures/make_parity.py):
//! logits within 1e-4 for a Llama-style (GQA, llama3 RoPE scaling, sharded safetensors) and a
//! Qwen2-style (q/k/v bias, tied embeddings) checkpoint, greedy tokens identical, and
//! load -> export -> load giving identical logits.

use burn::tensor::Device;
use moj_trainer::device;
use moj_trainer::logprobs::{Pair, score};
use moj_trainer::model::{Model, StepInput, hf};
use moj_trainer::sampling::{SamplingConfig, generate};
use moj_trainer::tokenizer::TextTokenizer;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The CPU, or the device `MOJ_TEST_DEVICE` names (`cuda`, `wgpu`; built with that feature).
fn test_device() -> Device {
    device::from_env("MOJ_TEST_DEVICE").expect("MOJ_TEST_DEVICE names a device this build has")
}

#[derive(Deserialize)]
struct Expected {
    inputs: Vec<Vec<u32>>,
    logits: Vec<Vec<Vec<f32>>>,
    greedy: Vec<Vec<u32>>,
}

const FIXTURES: [&str; 2] = ["llama-gqa-sharded", "qwen2-bias-tied"];

fn fixture(name: &str) -> (PathBuf, Expected) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    (dir, serde_json::from_str(&text).unwrap())
}

/// Logits of every input, computed in ONE right-padded batch (so padding must not leak).
fn batch_logits(model: &Model, inputs: &[Vec<u32>]) -> Vec<Vec<Vec<f32>>> {
    let b = inputs.len();
    let len = inputs.iter().map(Vec::len).max().unwrap();
    let mut tokens = vec![];
    let mut valid = vec![];
    for ids in inputs {
        tokens.extend(
            ids.iter()
                .copied()
                .chain(std::iter::repeat_n(0, len - ids.len())),
        );
        valid.extend((0..len).map(|j| j < ids.len()));
    }
    let positions: Vec<usize> = (0..b).flat_map(|_| 0..len).collect();
    let input = StepInput {
        batch: b,
        tokens: &tokens,
        positions: &positions,
        key_valid: &valid,
    };
    let logits = model.logits(&input, None).unwrap();
    let v = model.config.vocab_size;
    let host = logits.try_into_vec_as::<f32>().unwrap();
    inputs
        .iter()
        .enumerate()
        .map(|(row, ids)| {
            (0..ids.len())
                .map(|t| host[(row * len + t) * v..(row * len + t + 1) * v].to_vec())
                .collect()
        })
        .collect()
}

fn max_diff(a: &[Vec<Vec<f32>>], b: &[Vec<Vec<f32>>]) -> f32 {
    let shape = |x: &[Vec<Vec<f32>>]| {
        x.iter()
            .map(|r| (r.len(), r.iter().map(Vec::len).sum::<usize>()))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(a), shape(b), "logit shapes differ");
    assert!(
        a.iter().flatten().flatten().any(|x| x.abs() > 0.1),
        "logits are trivially small"
    );
    a.iter()
        .flatten()
        .flatten()
        .zip(b.iter().flatten().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn logits_match_the_numpy_reference() {
    for name in FIXTURES {
        let (dir, expected) = fixture(name);
        let model = hf::load(&dir, &test_device()).unwrap();
        let ours = batch_logits(&model, &expected.inputs);
        let diff = max_diff(&ours, &expected.logits);
        eprintln!("{name}: max |logit diff| vs NumPy {diff:e}");
        assert!(diff < 1e-4, "{name}: max |logit diff| {diff}");
    }
}

#[test]
fn greedy_generation_matches_token_for_token_in_a_left_padded_batch() {
    let tokenizer = TextTokenizer::byte_level().unwrap();
    for name in FIXTURES {
        let (dir, expected) = fixture(name);
        let model = hf::load(&dir, &test_device()).unwrap();
        let n = expected.greedy[0].len();
        let seeds = vec![0; expected.inputs.len()];
        let out = generate(
            &model,
            &tokenizer,
            &expected.inputs,
            &seeds,
            &SamplingConfig::greedy(n),
            &[],
        )
        .unwrap();
        for (got, want) in out.iter().zip(&expected.greedy) {
            assert_eq!(&got.tokens, want, "{name}");
            assert_eq!(got.logprobs.len(), n);
            assert!(got.logprobs.iter().all(|lp| *lp <= 0.0 && lp.is_finite()));
        }
    }
}

#[test]
fn export_then_load_gives_identical_logits() {
    for name in FIXTURES {
        let (dir, expected) = fixture(name);
        let model = hf::load(&dir, &test_device()).unwrap();
        let out = tempfile::tempdir().unwrap();
        hf::export(&model, out.path(), safetensors::Dtype::F32, None).unwrap();
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
                .unwrap();
        assert!(
            config["architectures"][0]
                .as_str()
                .unwrap()
                .ends_with("ForCausalLM")
        );
        let reloaded = hf::load(out.path(), &test_device()).unwrap();
        assert_eq!(
            batch_logits(&model, &expected.inputs),
            batch_logits(&reloaded, &expected.inputs),
            "{name}"
        );
        assert_eq!(model.to_weights(), reloaded.to_weights());
    }
}

#[test]
fn sequence_log_probs_agree_with_the_reference_and_carry_gradients() {
    let (dir, expected) = fixture("qwen2-bias-tied");
    let ids = &expected.inputs[0];
    let split = 3;
    // log pi(response | prompt) from the reference logits
    let want_from = |split: usize| {
        let mut want = 0f64;
        for t in split..ids.len() {
            let row = &expected.logits[0][t - 1];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max
                + row
                    .iter()
                    .map(|&x| (x as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            want += row[ids[t] as usize] as f64 - lse;
        }
        want
    };
    let want = want_from(split);
    let pairs = vec![
        Pair {
            prompt: ids[..split].to_vec(),
            response: ids[split..].to_vec(),
        },
        Pair {
            prompt: vec![7],
            response: vec![7, 7],
        },
    ];
    let frozen = hf::load(&dir, &test_device()).unwrap();
    let scored = score(&frozen, &pairs).unwrap();
    let got = scored.host_sums();
    assert!((got[0] as f64 - want).abs() < 1e-4, "{} vs {want}", got[0]);
    assert_eq!(scored.lengths, vec![ids.len() - split, 2]);

    // Every prompt longer than one token: only positions from the shortest prompt's last token
    // on are projected to the vocabulary; sums and per-token values are the same.
    let longer = vec![
        pairs[0].clone(),
        Pair {
            prompt: ids[..split + 1].to_vec(),
            response: ids[split + 1..].to_vec(),
        },
    ];
    let windowed = score(&frozen, &longer).unwrap();
    let sums = windowed.host_sums();
    assert!((sums[0] - got[0]).abs() < 1e-5, "{} vs {}", sums[0], got[0]);
    assert!((sums[1] as f64 - want_from(split + 1)).abs() < 1e-4);
    let row = |t: &burn::tensor::Tensor<2>| {
        let [_, n] = t.dims();
        t.clone()
            .slice([0..1, 0..n])
            .try_into_vec_as::<f32>()
            .unwrap()
    };
    let (full, part) = (row(&scored.per_token), row(&windowed.per_token));
    assert_eq!(full.len(), part.len());
    for (a, b) in full.iter().zip(&part) {
        assert!((a - b).abs() < 1e-5, "{full:?} vs {part:?}");
    }
    assert_eq!(&part[..split - 1], &vec![0f32; split - 1][..]);

    let trainable = hf::load(&dir, &device::trainable(&test_device())).unwrap();
    let scored = score(&trainable, &pairs).unwrap();
    assert!((scored.host_sums()[0] - got[0]).abs() < 1e-5);
    let grads = scored.sums.clone().sum().backward();
    let g = trainable
        .embed_tokens
        .val()
        .grad(&grads)
        .expect("embedding gradient");
    let norm: f32 = g.abs().sum().into_scalar();
    assert!(norm > 0.0, "gradients reach the embeddings");
}
