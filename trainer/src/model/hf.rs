//! Hugging Face model folders: `config.json` + `model.safetensors` (or a sharded
//! `model.safetensors.index.json`), loaded into a [`Model`] and exported back in the same layout.

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use safetensors::Dtype;
use std::collections::BTreeSet;
use std::path::Path;

use super::{Model, ModelConfig, WeightMap};

/// Files copied next to the weights on export, when the source folder has them.
const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
];

/// Reads every weight of an HF folder (single file or sharded).
pub fn read_weights(dir: &Path) -> Result<WeightMap> {
    let mut weights = WeightMap::default();
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    if single.exists() {
        weights.read_safetensors(&single)?;
    } else if index.exists() {
        let text = std::fs::read_to_string(&index)
            .with_context(|| format!("reading {}", index.display()))?;
        let parsed: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", index.display()))?;
        let map = parsed
            .get("weight_map")
            .and_then(|m| m.as_object())
            .with_context(|| format!("{} has no weight_map", index.display()))?;
        let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        for shard in shards {
            if shard.contains('/') || shard.contains("..") {
                bail!(
                    "{}: shard name {shard:?} leaves the model folder",
                    index.display()
                );
            }
            weights.read_safetensors(&dir.join(shard))?;
        }
    } else {
        bail!(
            "{} has neither model.safetensors nor model.safetensors.index.json",
            dir.display()
        );
    }
    Ok(weights)
}

/// Loads `config.json` and the weights of an HF folder onto `device`.
pub fn load(dir: &Path, device: &Device) -> Result<Model> {
    let config = ModelConfig::load(&dir.join("config.json"))?;
    let weights = read_weights(dir)?;
    Model::from_weights(config, &weights, device)
        .with_context(|| format!("loading {}", dir.display()))
}

/// Writes `model` as an HF folder: `config.json`, `model.safetensors` in `dtype`, and the tokenizer
/// files of `tokenizer_dir` (when given), so vLLM, transformers and llama.cpp's converter read it.
pub fn export(model: &Model, out: &Path, dtype: Dtype, tokenizer_dir: Option<&Path>) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut config = model.config.clone();
    config.architectures = Some(vec![config.architecture().to_string()]);
    config.torch_dtype = Some(
        match dtype {
            Dtype::BF16 => "bfloat16",
            Dtype::F16 => "float16",
            _ => "float32",
        }
        .to_string(),
    );
    let text = serde_json::to_string_pretty(&config)?;
    std::fs::write(out.join("config.json"), text)
        .with_context(|| format!("writing {}/config.json", out.display()))?;
    model
        .to_weights()
        .write_safetensors(&out.join("model.safetensors"), dtype)?;
    if let Some(source) = tokenizer_dir {
        for name in TOKENIZER_FILES {
            let from = source.join(name);
            if from.exists() && source != out {
                std::fs::copy(&from, out.join(name))
                    .with_context(|| format!("copying {}", from.display()))?;
            }
        }
    }
    Ok(())
}
