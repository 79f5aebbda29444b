//! A real pretrained model: SmolLM2-135M-Instruct read straight from its GGUF (Q4_1, dequantised),
//! checked against an independent NumPy forward pass of the same file
//! (fixtures/make_smollm2_reference.py): identical prompt tokens through the chat template,
//! the same argmax at every position, last-position logits within 2e-3, and the same greedy
//! answer. `scripts/fetch-smollm2.sh` installs the model (scripts/test.sh runs it).

use burn::tensor::Device;
use moj_trainer::model::StepInput;
use moj_trainer::pretrained;
use moj_trainer::sampling::{SamplingConfig, generate};
use moj_trainer::tokenizer::Message;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Reference {
    prompt: String,
    ids: Vec<u32>,
    argmax: Vec<u32>,
    last_top: Vec<(u32, f32)>,
    greedy: Vec<u32>,
}

fn model_path() -> PathBuf {
    let path = std::env::var("MOJ_SMOLLM2_GGUF")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let cache = std::env::var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"));
            cache.join("moj/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    assert!(
        path.exists(),
        "{} is missing: run scripts/fetch-smollm2.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

#[test]
fn smollm2_from_gguf_matches_the_numpy_reference_and_answers_sensibly() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/smollm2-reference.json"
    ))
    .unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    let loaded = pretrained::load(&model_path(), &Device::flex()).unwrap();
    assert_eq!(loaded.model.config.num_hidden_layers, 30);

    // the chat template from the GGUF metadata renders the reference prompt exactly
    let rendered = loaded
        .tokenizer
        .apply_chat_template(
            &[Message {
                role: "user".into(),
                content: "What is the capital of France?".into(),
            }],
            true,
        )
        .unwrap();
    assert_eq!(rendered, reference.prompt);
    let ids = loaded.tokenizer.encode(&rendered).unwrap();
    assert_eq!(
        ids, reference.ids,
        "tokenization differs from HF tokenizers on the GGUF vocabulary"
    );

    let n = ids.len();
    let positions: Vec<usize> = (0..n).collect();
    let valid = vec![true; n];
    let logits = loaded
        .model
        .logits(
            &StepInput {
                batch: 1,
                tokens: &ids,
                positions: &positions,
                key_valid: &valid,
            },
            None,
        )
        .unwrap();
    let v = loaded.model.config.vocab_size;
    let host = logits.try_into_vec_as::<f32>().unwrap();
    let argmax: Vec<u32> = (0..n)
        .map(|t| {
            let row = &host[t * v..(t + 1) * v];
            row.iter()
                .enumerate()
                .fold((0, f32::MIN), |a, (i, &x)| if x > a.1 { (i, x) } else { a })
                .0 as u32
        })
        .collect();
    assert_eq!(argmax, reference.argmax, "argmax per position");
    let last = &host[(n - 1) * v..n * v];
    let worst = reference
        .last_top
        .iter()
        .map(|&(id, want)| (last[id as usize] - want).abs())
        .fold(0f32, f32::max);
    assert!(
        worst < 2e-3,
        "last-position top-20 logits differ by up to {worst}"
    );

    let out = generate(
        &loaded.model,
        &loaded.tokenizer,
        &[ids],
        &[0],
        &SamplingConfig::greedy(reference.greedy.len()),
        &loaded.eos_ids,
    )
    .unwrap();
    let expected: Vec<u32> = reference
        .greedy
        .iter()
        .copied()
        .take(out[0].tokens.len())
        .collect();
    assert_eq!(out[0].tokens, expected, "greedy tokens");
    assert!(out[0].text.contains("Paris"), "answer: {:?}", out[0].text);
}
