//! Opening a model the user points at: an HF folder (config.json + safetensors + tokenizer
//! files) or a GGUF file (dequantised on load, tokenizer rebuilt from its metadata).

use anyhow::{Context, Result};
use burn::tensor::Device;
use std::path::Path;

use crate::model::gguf::GgufFile;
use crate::model::{Model, hf};
use crate::tokenizer::TextTokenizer;

pub struct Pretrained {
    pub model: Model,
    pub tokenizer: TextTokenizer,
    /// Ids that end a response: the config's `eos_token_id`s and the tokenizer's EOS token.
    pub eos_ids: Vec<u32>,
}

pub fn load(path: &Path, device: &Device) -> Result<Pretrained> {
    let (model, tokenizer) = if path.extension().is_some_and(|e| e == "gguf") {
        let file = GgufFile::read(path)?;
        let config = file.config()?;
        let weights = file.weights(&config)?;
        let model = Model::from_weights(config, &weights, device)
            .with_context(|| format!("loading {}", path.display()))?;
        let t = file.tokenizer_json()?;
        let tokenizer =
            TextTokenizer::from_parts(&t.json, t.chat_template, t.bos_token, t.eos_token)?;
        (model, tokenizer)
    } else {
        let model = hf::load(path, device)?;
        let tokenizer = TextTokenizer::load(path)
            .with_context(|| format!("tokenizer of {}", path.display()))?;
        (model, tokenizer)
    };
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
