//! Opening a model the user points at: an HF folder (config.json + safetensors + tokenizer files).

use anyhow::{Context, Result};
use burn::tensor::Device;
use std::path::Path;

use crate::model::{Model, hf};
use crate::tokenizer::TextTokenizer;

pub struct Pretrained {
    pub model: Model,
    pub tokenizer: TextTokenizer,
    /// Ids that end a response: the config's `eos_token_id`s and the tokenizer's EOS token.
    pub eos_ids: Vec<u32>,
}

pub fn load(path: &Path, device: &Device) -> Result<Pretrained> {
    let model = hf::load(path, device)?;
    let tokenizer =
        TextTokenizer::load(path).with_context(|| format!("tokenizer of {}", path.display()))?;
    let mut eos_ids = model.config.eos_ids();
    for id in tokenizer.eos_ids() {
        if !eos_ids.contains(&id) {
            eos_ids.push(id);
        }
    }
    Ok(Pretrained {
        model,
        tokenizer,
        eos_ids,
    })
}
