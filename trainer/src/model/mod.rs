//! The policy / reference / reward decoder: a Llama-family transformer in Burn.
//!
//! - `config.rs`: hyperparameters from HF `config.json`
//! - `layers.rs`: RMSNorm, attention (GQA + RoPE + KV cache), SwiGLU MLP
//! - `weights.rs`: host-side weight maps with HF names; safetensors in and out
//! - `hf.rs`: Hugging Face folders (load and export)
//! - `gguf.rs`: GGUF files, dequantised on load (`quants.rs`: the GGML block formats)

pub mod config;
pub mod gguf;
pub mod hf;
pub mod layers;
pub mod quants;
pub mod weights;

use anyhow::{Result, bail};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use config::ModelConfig;
use layers::{Attend, Attention, DecoderLayer, LayerCache, Mlp, RmsNorm, Rotary};
pub use weights::{HostTensor, WeightMap};

/// Additive mask value for positions a query may not see (finite, so fully masked
/// padding rows stay finite instead of NaN).
const MASKED: f32 = -1e9;

#[derive(Module, Debug)]
pub struct Model {
    pub embed_tokens: Param<Tensor<2>>,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
    /// `[hidden, vocab]`; `None` when tied to the embeddings.
    pub lm_head: Option<Param<Tensor<2>>>,
    #[module(skip)]
    pub config: ModelConfig,
}

/// The tokens of one forward call for a batch, with everything needed to mask and position them.
pub struct StepInput<'a> {
    pub batch: usize,
    /// `batch * len` token ids, row-major.
    pub tokens: &'a [u32],
    /// Position id of every token (`batch * len`), counted from each row's first real token.
    pub positions: &'a [usize],
    /// Which keys are real (not padding), for all `seen + len` keys of each row: `batch * (seen + len)`.
    pub key_valid: &'a [bool],
}

/// Rows of token ids right-padded into one batch (for teacher forcing and scoring: nothing is
/// generated after them, so causal masking alone keeps real tokens away from the padding).
pub struct PaddedBatch {
    pub batch: usize,
    pub len: usize,
    pub tokens: Vec<u32>,
    pub positions: Vec<usize>,
    pub key_valid: Vec<bool>,
    /// Real length of every row.
    pub lengths: Vec<usize>,
}

impl PaddedBatch {
    pub fn right(rows: &[Vec<u32>]) -> Self {
        let batch = rows.len();
        let len = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut tokens = Vec::with_capacity(batch * len);
        let mut key_valid = Vec::with_capacity(batch * len);
        for row in rows {
            tokens.extend(
                row.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0, len - row.len())),
            );
            key_valid.extend((0..len).map(|j| j < row.len()));
        }
        let positions = (0..batch).flat_map(|_| 0..len).collect();
        PaddedBatch {
            batch,
            len,
            tokens,
            positions,
            key_valid,
            lengths: rows.iter().map(Vec::len).collect(),
        }
    }

    pub fn input(&self) -> StepInput<'_> {
        StepInput {
            batch: self.batch,
            tokens: &self.tokens,
            positions: &self.positions,
            key_valid: &self.key_valid,
        }
    }
}

/// The output projection prepared by [`Model::decode_head`].
pub struct DecodeHead(Tensor<2>);

/// The KV cache of a batch being generated.
#[derive(Clone, Debug)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    seen: usize,
}

impl KvCache {
    pub fn new(layers: usize) -> Self {
        KvCache {
            layers: vec![LayerCache::default(); layers],
            seen: 0,
        }
    }
    /// Number of positions already in the cache.
    pub fn seen(&self) -> usize {
        self.seen
    }
}

impl Model {
    /// Random initialisation (normal, std 0.02; norms at 1), deterministic for a seed on every backend.
    pub fn random(config: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let weights = WeightMap::random(config, &mut rng);
        Self::from_weights(config.clone(), &weights, device)
    }

    /// Builds the model from HF-named host tensors, checking every name and shape.
    pub fn from_weights(config: ModelConfig, weights: &WeightMap, device: &Device) -> Result<Self> {
        config.validate()?;
        let h = config.hidden_size;
        let (nh, nkv, hd) = (
            config.num_attention_heads,
            config.kv_heads(),
            config.head_dim(),
        );
        let matrix = |name: &str, rows: usize, cols: usize| -> Result<Tensor<2>> {
            weights
                .get(name, &[rows, cols])
                .map(|t| t.to_tensor2(device))
        };
        // HF stores [out, in]; Burn's Linear wants [in, out], transposed on the host (materialised).
        let transposed = |name: &str, rows: usize, cols: usize| -> Result<Tensor<2>> {
            weights
                .get(name, &[rows, cols])
                .map(|t| t.transposed().to_tensor2(device))
        };
        let linear = |name: &str, d_in: usize, d_out: usize, bias: bool| -> Result<Linear> {
            let weight = transposed(&format!("{name}.weight"), d_out, d_in)?;
            let bias = if bias {
                Some(Param::from_tensor(
                    weights
                        .get(&format!("{name}.bias"), &[d_out])?
                        .to_tensor1(device),
                ))
            } else {
                None
            };
            Ok(Linear {
                weight: Param::from_tensor(weight),
                bias,
            })
        };
        let norm = |name: &str| -> Result<RmsNorm> {
            Ok(RmsNorm {
                weight: Param::from_tensor(weights.get(name, &[h])?.to_tensor1(device)),
                eps: config.rms_norm_eps,
            })
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let bias = config.qkv_bias();
            layers.push(DecoderLayer {
                input_layernorm: norm(&format!("{p}.input_layernorm.weight"))?,
                self_attn: Attention {
                    q_proj: linear(&format!("{p}.self_attn.q_proj"), h, nh * hd, bias)?,
                    k_proj: linear(&format!("{p}.self_attn.k_proj"), h, nkv * hd, bias)?,
                    v_proj: linear(&format!("{p}.self_attn.v_proj"), h, nkv * hd, bias)?,
                    o_proj: linear(&format!("{p}.self_attn.o_proj"), nh * hd, h, false)?,
                    n_heads: nh,
                    n_kv_heads: nkv,
                    head_dim: hd,
                },
                post_attention_layernorm: norm(&format!("{p}.post_attention_layernorm.weight"))?,
                mlp: Mlp {
                    gate_proj: linear(
                        &format!("{p}.mlp.gate_proj"),
                        h,
                        config.intermediate_size,
                        false,
                    )?,
                    up_proj: linear(
                        &format!("{p}.mlp.up_proj"),
                        h,
                        config.intermediate_size,
                        false,
                    )?,
                    down_proj: linear(
                        &format!("{p}.mlp.down_proj"),
                        config.intermediate_size,
                        h,
                        false,
                    )?,
                },
            });
        }
        let embed_tokens =
            Param::from_tensor(matrix("model.embed_tokens.weight", config.vocab_size, h)?);
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(Param::from_tensor(transposed(
                "lm_head.weight",
                config.vocab_size,
                h,
            )?))
        };
        let norm = norm("model.norm.weight")?;
        Ok(Model {
            embed_tokens,
            layers,
            norm,
            lm_head,
            config,
        })
    }

    /// The model's parameters as HF-named host tensors (HF layouts), for export.
    pub fn to_weights(&self) -> WeightMap {
        let mut out = WeightMap::default();
        let mut linear = |name: &str, l: &Linear| {
            out.insert(
                format!("{name}.weight"),
                HostTensor::from_tensor(l.weight.val().transpose()),
            );
            if let Some(b) = &l.bias {
                out.insert(format!("{name}.bias"), HostTensor::from_tensor(b.val()));
            }
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            linear(&format!("{p}.self_attn.q_proj"), &layer.self_attn.q_proj);
            linear(&format!("{p}.self_attn.k_proj"), &layer.self_attn.k_proj);
            linear(&format!("{p}.self_attn.v_proj"), &layer.self_attn.v_proj);
            linear(&format!("{p}.self_attn.o_proj"), &layer.self_attn.o_proj);
            linear(&format!("{p}.mlp.gate_proj"), &layer.mlp.gate_proj);
            linear(&format!("{p}.mlp.up_proj"), &layer.mlp.up_proj);
            linear(&format!("{p}.mlp.down_proj"), &layer.mlp.down_proj);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            out.insert(
                format!("{p}.input_layernorm.weight"),
                HostTensor::from_tensor(layer.input_layernorm.weight.val()),
            );
            out.insert(
                format!("{p}.post_attention_layernorm.weight"),
                HostTensor::from_tensor(layer.post_attention_layernorm.weight.val()),
            );
        }
        out.insert(
            "model.embed_tokens.weight".into(),
            HostTensor::from_tensor(self.embed_tokens.val()),
        );
        out.insert(
            "model.norm.weight".into(),
            HostTensor::from_tensor(self.norm.weight.val()),
        );
        if let Some(head) = &self.lm_head {
            out.insert(
                "lm_head.weight".into(),
                HostTensor::from_tensor(head.val().transpose()),
            );
        }
        out
    }

    pub fn device(&self) -> Device {
        self.embed_tokens.val().device()
    }

    /// Final hidden states `[batch, len, hidden]` (after the last norm).
    pub fn hidden(&self, input: &StepInput, cache: Option<&mut KvCache>) -> Result<Tensor<3>> {
        let b = input.batch;
        if b == 0
            || !input.tokens.len().is_multiple_of(b)
            || input.positions.len() != input.tokens.len()
        {
            bail!(
                "malformed step: {} tokens, {} positions for batch {b}",
                input.tokens.len(),
                input.positions.len()
            );
        }
        let t = input.tokens.len() / b;
        let seen = cache.as_ref().map_or(0, |c| c.seen);
        let s = seen + t;
        if input.key_valid.len() != b * s {
            bail!(
                "key_valid has {} entries, expected {} (batch {b} x keys {s})",
                input.key_valid.len(),
                b * s
            );
        }
        if let Some(&bad) = input
            .tokens
            .iter()
            .find(|&&id| id as usize >= self.config.vocab_size)
        {
            bail!(
                "token id {bad} is outside the vocabulary ({})",
                self.config.vocab_size
            );
        }
        let device = self.device();
        let ids: Vec<i64> = input.tokens.iter().map(|&id| id as i64).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [b * t]), &device);
        let h = self.config.hidden_size;
        let mut x = self.embed_tokens.val().select(0, ids).reshape([b, t, h]);
        let rotary = self.rotary(input.positions, b, t, &device);
        let groups = self.config.num_attention_heads / self.config.kv_heads();
        let mask = attention_mask(input.key_valid, b, t, seen, groups, &device);
        let attend = |cache| Attend {
            rotary: &rotary,
            mask: mask.clone(),
            cache,
        };
        match cache {
            Some(cache) => {
                for (layer, layer_cache) in self.layers.iter().zip(cache.layers.iter_mut()) {
                    x = layer.forward(x, attend(Some(layer_cache)));
                }
                cache.seen = s;
            }
            None => {
                for layer in &self.layers {
                    x = layer.forward(x, attend(None));
                }
            }
        }
        Ok(self.norm.forward(x))
    }

    /// Logits `[batch, len, vocab]`.
    pub fn logits(&self, input: &StepInput, cache: Option<&mut KvCache>) -> Result<Tensor<3>> {
        let hidden = self.hidden(input, cache)?;
        Ok(self.head(hidden))
    }

    /// The output projection laid out `[hidden, vocab]` in memory, for repeated decoding
    /// steps: a tied embedding is transposed once here instead of on every step (flex copies
    /// a transposed operand on every matmul: 113 MB per step for SmolLM2's vocabulary).
    /// It is a snapshot: build it again after the weights change.
    pub fn decode_head(&self) -> Result<DecodeHead> {
        Ok(DecodeHead(match &self.lm_head {
            Some(head) => head.val(),
            None => {
                let embed = self.embed_tokens.val();
                let [v, h] = embed.dims();
                let device = embed.device();
                let data = embed
                    .transpose()
                    .try_into_vec_as::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                Tensor::<2>::from_data(TensorData::new(data, [h, v]), &device)
            }
        }))
    }

    /// Logits of each row's last position `[batch, vocab]`: a decoding step (the prompt's
    /// other positions are never projected to the vocabulary).
    pub fn next_logits(
        &self,
        input: &StepInput,
        cache: Option<&mut KvCache>,
        head: &DecodeHead,
    ) -> Result<Tensor<2>> {
        let hidden = self.hidden(input, cache)?;
        let [b, t, h] = hidden.dims();
        let last = hidden.slice([0..b, t - 1..t, 0..h]).reshape([b, h]);
        Ok(last.matmul(head.0.clone()))
    }

    /// Projects hidden states to vocabulary logits.
    pub fn head(&self, hidden: Tensor<3>) -> Tensor<3> {
        let [b, t, h] = hidden.dims();
        let v = self.config.vocab_size;
        let rows = hidden.reshape([b * t, h]);
        let logits = match &self.lm_head {
            Some(head) => rows.matmul(head.val()),
            // Tied embeddings `[vocab, hidden]`: the backend copies E transposed for this call;
            // decoding, which calls it once per token, uses `decode_head` (transposed once).
            None => rows.matmul(self.embed_tokens.val().transpose()),
        };
        logits.reshape([b, t, v])
    }

    fn rotary(&self, positions: &[usize], b: usize, t: usize, device: &Device) -> Rotary {
        let inv_freq = self.config.rope_inv_freq();
        let half = inv_freq.len();
        let hd = half * 2;
        let mut cos = Vec::with_capacity(b * t * hd);
        let mut sin = Vec::with_capacity(b * t * hd);
        for &pos in positions {
            for _ in 0..2 {
                for f in &inv_freq {
                    let angle = pos as f64 * f;
                    cos.push(angle.cos() as f32);
                    sin.push(angle.sin() as f32);
                }
            }
        }
        let make = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [b, 1, t, hd]), device);
        Rotary {
            cos: make(cos),
            sin: make(sin),
        }
    }
}

/// `[batch, 1, groups * len, seen + len]` additive mask: causal within the step, padding keys
/// hidden; the `len` query rows repeated for each of the `groups` query heads that share a
/// key/value head (the layout attention uses, see `Attention::forward`).
fn attention_mask(
    key_valid: &[bool],
    b: usize,
    t: usize,
    seen: usize,
    groups: usize,
    device: &Device,
) -> Tensor<4> {
    let s = seen + t;
    let mut mask = vec![0f32; b * groups * t * s];
    for (row, rows) in mask.chunks_exact_mut(groups * t * s).enumerate() {
        for (q, keys) in rows.chunks_exact_mut(s).enumerate() {
            let q = q % t;
            for (k, value) in keys.iter_mut().enumerate() {
                if k > seen + q || !key_valid[row * s + k] {
                    *value = MASKED;
                }
            }
        }
    }
    Tensor::<4>::from_data(TensorData::new(mask, [b, 1, groups * t, s]), device)
}
