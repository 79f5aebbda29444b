//! GGUF files (llama.cpp's format), read directly: metadata, the model configuration, every
//! tensor dequantised to f32 with Hugging Face names and layouts (llama.cpp's rotary permutation
//! of Q/K undone), and the byte-level BPE tokenizer rebuilt as an HF `tokenizer.json`.
//!
//! Supported tensor types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K.
//! Supported tokenizers: `gpt2`-style byte-level BPE (Llama 3, Qwen2, SmolLM2, StarCoder, GPT-2).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;

use super::config::{EosIds, ModelConfig};
use super::quants::{GgmlType, dequantize};
use super::weights::{HostTensor, WeightMap};

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Meta {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Meta>),
}

impl Meta {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Meta::Int(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Meta::Float(v) => Some(*v),
            Meta::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Meta::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct TensorInfo {
    name: String,
    /// GGUF order: innermost dimension first.
    dims: Vec<usize>,
    kind: u32,
    offset: usize,
}

pub struct GgufFile {
    pub metadata: HashMap<String, Meta>,
    tensors: Vec<TensorInfo>,
    data: Vec<u8>,
    data_start: usize,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .context("GGUF file is truncated")?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }
    fn string(&mut self) -> Result<String> {
        let len = self.u64()? as usize;
        if len > 1 << 30 {
            bail!("GGUF string of {len} bytes");
        }
        Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
    fn value(&mut self, kind: u32, depth: usize) -> Result<Meta> {
        Ok(match kind {
            0 => Meta::Int(self.take(1)?[0] as i64),
            1 => Meta::Int(self.take(1)?[0] as i8 as i64),
            2 => Meta::Int(u16::from_le_bytes(self.take(2)?.try_into()?) as i64),
            3 => Meta::Int(i16::from_le_bytes(self.take(2)?.try_into()?) as i64),
            4 => Meta::Int(self.u32()? as i64),
            5 => Meta::Int(self.u32()? as i32 as i64),
            6 => Meta::Float(f32::from_le_bytes(self.take(4)?.try_into()?) as f64),
            7 => Meta::Bool(self.take(1)?[0] != 0),
            8 => Meta::Str(self.string()?),
            9 => {
                if depth > 4 {
                    bail!("GGUF arrays nested too deeply");
                }
                let inner = self.u32()?;
                let count = self.u64()? as usize;
                if count > self.bytes.len() {
                    bail!("GGUF array of {count} elements is larger than the file");
                }
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(inner, depth + 1)?);
                }
                Meta::Array(items)
            }
            10 => Meta::Int(self.u64()? as i64),
            11 => Meta::Int(self.u64()? as i64),
            12 => Meta::Float(f64::from_le_bytes(self.take(8)?.try_into()?)),
            other => bail!("unknown GGUF metadata type {other}"),
        })
    }
}

impl GgufFile {
    pub fn read(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(data).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(data: Vec<u8>) -> Result<Self> {
        let mut r = Reader {
            bytes: &data,
            pos: 0,
        };
        if r.take(4)? != b"GGUF" {
            bail!("not a GGUF file (bad magic)");
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            bail!("GGUF version {version} is not supported (2, 3)");
        }
        let tensor_count = r.u64()? as usize;
        let kv_count = r.u64()? as usize;
        let mut metadata = HashMap::new();
        for _ in 0..kv_count {
            let key = r.string()?;
            let kind = r.u32()?;
            metadata.insert(key, r.value(kind, 0)?);
        }
        let mut tensors = Vec::with_capacity(tensor_count.min(1 << 16));
        for _ in 0..tensor_count {
            let name = r.string()?;
            let n_dims = r.u32()? as usize;
            if n_dims > 4 {
                bail!("tensor {name} has {n_dims} dimensions");
            }
            let dims = (0..n_dims)
                .map(|_| r.u64().map(|d| d as usize))
                .collect::<Result<Vec<_>>>()?;
            let kind = r.u32()?;
            let offset = r.u64()? as usize;
            tensors.push(TensorInfo {
                name,
                dims,
                kind,
                offset,
            });
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(Meta::as_i64)
            .unwrap_or(32)
            .max(1) as usize;
        let data_start = r.pos.div_ceil(alignment) * alignment;
        Ok(GgufFile {
            metadata,
            tensors,
            data,
            data_start,
        })
    }

    fn meta(&self, key: &str) -> Result<&Meta> {
        self.metadata
            .get(key)
            .with_context(|| format!("GGUF metadata {key} is missing"))
    }

    pub fn architecture(&self) -> Result<&str> {
        self.meta("general.architecture")?
            .as_str()
            .context("general.architecture is not a string")
    }

    /// The tensor `name` dequantised, in HF (row-major, outermost first) shape.
    pub fn tensor(&self, name: &str) -> Result<HostTensor> {
        let info = self
            .tensors
            .iter()
            .find(|t| t.name == name)
            .with_context(|| format!("GGUF tensor {name} is missing"))?;
        let count: usize = info.dims.iter().product();
        let kind = GgmlType::from_id(info.kind).with_context(|| format!("tensor {name}"))?;
        let (block, bytes_per_block) = kind.block_size();
        if !count.is_multiple_of(block) {
            bail!("tensor {name}: {count} elements is not a multiple of the block size {block}");
        }
        let size = count / block * bytes_per_block;
        let start = self.data_start + info.offset;
        let raw = self
            .data
            .get(start..start + size)
            .with_context(|| format!("tensor {name} lies outside the file"))?;
        let data = dequantize(kind, raw, count)?;
        Ok(HostTensor::new(
            info.dims.iter().rev().copied().collect(),
            data,
        ))
    }

    /// Model configuration from the `<arch>.*` metadata.
    pub fn config(&self) -> Result<ModelConfig> {
        let arch = self.architecture()?.to_string();
        if !matches!(arch.as_str(), "llama" | "qwen2") {
            bail!("GGUF architecture {arch:?} is not supported (llama, qwen2)");
        }
        let int = |key: &str| -> Result<usize> {
            self.meta(&format!("{arch}.{key}"))?
                .as_i64()
                .map(|v| v as usize)
                .with_context(|| format!("{arch}.{key} is not an integer"))
        };
        let vocab = match self.metadata.get("tokenizer.ggml.tokens") {
            Some(Meta::Array(tokens)) => tokens.len(),
            _ => int("vocab_size")?,
        };
        let heads = int("attention.head_count")?;
        let hidden = int("embedding_length")?;
        let head_dim = self
            .metadata
            .get(&format!("{arch}.attention.key_length"))
            .and_then(Meta::as_i64)
            .map(|v| v as usize);
        Ok(ModelConfig {
            model_type: arch.clone(),
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: int("feed_forward_length")?,
            num_hidden_layers: int("block_count")?,
            num_attention_heads: heads,
            num_key_value_heads: Some(int("attention.head_count_kv").unwrap_or(heads)),
            head_dim: head_dim.filter(|&d| d != hidden / heads),
            rms_norm_eps: self
                .meta(&format!("{arch}.attention.layer_norm_rms_epsilon"))?
                .as_f64()
                .unwrap_or(1e-6),
            rope_theta: self
                .metadata
                .get(&format!("{arch}.rope.freq_base"))
                .and_then(Meta::as_f64)
                .unwrap_or(10_000.0),
            rope_scaling: None,
            max_position_embeddings: int("context_length")?,
            attention_bias: Some(arch == "qwen2"),
            tie_word_embeddings: !self.tensors.iter().any(|t| t.name == "output.weight"),
            bos_token_id: self
                .metadata
                .get("tokenizer.ggml.bos_token_id")
                .and_then(Meta::as_i64)
                .map(|v| v as u32),
            eos_token_id: self
                .metadata
                .get("tokenizer.ggml.eos_token_id")
                .and_then(Meta::as_i64)
                .map(|v| EosIds::One(v as u32)),
            hidden_act: "silu".into(),
            architectures: None,
            torch_dtype: None,
        })
    }

    /// Every weight, dequantised, under its HF name.
    pub fn weights(&self, config: &ModelConfig) -> Result<WeightMap> {
        let llama = config.model_type == "llama";
        let mut map = WeightMap::default();
        for info in &self.tensors {
            let mut tensor = self.tensor(&info.name)?;
            let name = match info.name.as_str() {
                "token_embd.weight" => "model.embed_tokens.weight".to_string(),
                "output_norm.weight" => "model.norm.weight".to_string(),
                "output.weight" => "lm_head.weight".to_string(),
                other => {
                    let parts: Vec<&str> = other.split('.').collect();
                    let [_, layer, part, kind] = parts[..] else {
                        continue;
                    };
                    let hf = match part {
                        "attn_norm" => "input_layernorm",
                        "ffn_norm" => "post_attention_layernorm",
                        "attn_q" => "self_attn.q_proj",
                        "attn_k" => "self_attn.k_proj",
                        "attn_v" => "self_attn.v_proj",
                        "attn_output" => "self_attn.o_proj",
                        "ffn_gate" => "mlp.gate_proj",
                        "ffn_up" => "mlp.up_proj",
                        "ffn_down" => "mlp.down_proj",
                        _ => continue,
                    };
                    if llama && part == "attn_q" {
                        unpermute(&mut tensor, config.num_attention_heads);
                    }
                    if llama && part == "attn_k" {
                        unpermute(&mut tensor, config.kv_heads());
                    }
                    format!("model.layers.{layer}.{hf}.{kind}")
                }
            };
            map.insert(name, tensor);
        }
        Ok(map)
    }

    /// The tokenizer as HF `tokenizer.json`, plus the chat template, BOS and EOS strings.
    pub fn tokenizer_json(&self) -> Result<GgufTokenizer> {
        let model = self
            .meta("tokenizer.ggml.model")?
            .as_str()
            .unwrap_or_default();
        if model != "gpt2" {
            bail!("GGUF tokenizer model {model:?} is not supported (only byte-level BPE, `gpt2`)");
        }
        let Meta::Array(tokens) = self.meta("tokenizer.ggml.tokens")? else {
            bail!("tokenizer.ggml.tokens is not an array")
        };
        let tokens: Vec<&str> = tokens
            .iter()
            .map(|t| t.as_str().unwrap_or_default())
            .collect();
        let types: Vec<i64> = match self.metadata.get("tokenizer.ggml.token_type") {
            Some(Meta::Array(t)) => t.iter().map(|v| v.as_i64().unwrap_or(1)).collect(),
            _ => vec![1; tokens.len()],
        };
        let merges: Vec<&str> = match self.metadata.get("tokenizer.ggml.merges") {
            Some(Meta::Array(m)) => m.iter().map(|v| v.as_str().unwrap_or_default()).collect(),
            _ => vec![],
        };
        let vocab: serde_json::Map<String, Value> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), json!(i)))
            .collect();
        let added: Vec<Value> = tokens
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(types.get(*i), Some(3) | Some(4)))
            .map(|(i, t)| json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                                 "normalized": false, "special": types[i] == 3}))
            .collect();
        let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
        let split = |pattern: &str| json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false});
        let pre = self
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(Meta::as_str)
            .unwrap_or("default");
        let (normalizer, pre_tokenizer) = match pre {
            "smollm" | "starcoder" | "refact" => (
                Value::Null,
                json!({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, byte_level(true)]}),
            ),
            "qwen2" => (
                json!({"type": "NFC"}),
                json!({"type": "Sequence", "pretokenizers": [split(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), byte_level(false)]}),
            ),
            "llama-bpe" | "llama3" => (
                Value::Null,
                json!({"type": "Sequence", "pretokenizers": [split(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), byte_level(false)]}),
            ),
            _ => (Value::Null, byte_level(true)),
        };
        let tokenizer = json!({
            "version": "1.0", "truncation": null, "padding": null,
            "added_tokens": added,
            "normalizer": normalizer,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                      "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab, "merges": merges}
        });
        let id_token = |key: &str| {
            self.metadata
                .get(key)
                .and_then(Meta::as_i64)
                .and_then(|i| tokens.get(i as usize))
                .map(|s| s.to_string())
        };
        let template = self
            .metadata
            .get("tokenizer.chat_template")
            .and_then(Meta::as_str)
            .map(str::to_string);
        Ok(GgufTokenizer {
            json: tokenizer,
            chat_template: template,
            bos_token: id_token("tokenizer.ggml.bos_token_id"),
            eos_token: id_token("tokenizer.ggml.eos_token_id"),
        })
    }
}

/// A tokenizer rebuilt from GGUF metadata: `tokenizer.json` document, chat template, BOS and EOS.
pub struct GgufTokenizer {
    pub json: Value,
    pub chat_template: Option<String>,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
}

/// Undoes llama.cpp's Q/K row permutation (its converter interleaves the two rotary halves).
fn unpermute(tensor: &mut HostTensor, heads: usize) {
    let (rows, cols) = (tensor.shape[0], tensor.shape.get(1).copied().unwrap_or(1));
    let half = rows / heads / 2;
    let mut out = vec![0f32; tensor.data.len()];
    for h in 0..heads {
        for d in 0..half {
            for a in 0..2 {
                let from = h * 2 * half + d * 2 + a;
                let to = h * 2 * half + a * half + d;
                out[to * cols..(to + 1) * cols]
                    .copy_from_slice(&tensor.data[from * cols..(from + 1) * cols]);
            }
        }
    }
    tensor.data = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_restores_hf_row_order() {
        // one head, head_dim 4: llama.cpp stores rows [r0, r2, r1, r3]
        let mut t = HostTensor::new(vec![4, 1], vec![0.0, 2.0, 1.0, 3.0]);
        unpermute(&mut t, 1);
        assert_eq!(t.data, vec![0.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(GgufFile::parse(b"nope".to_vec()).is_err());
        let mut header = b"GGUF".to_vec();
        header.extend(3u32.to_le_bytes());
        header.extend(u64::MAX.to_le_bytes());
        header.extend(u64::MAX.to_le_bytes());
        assert!(GgufFile::parse(header).is_err());
    }
}
