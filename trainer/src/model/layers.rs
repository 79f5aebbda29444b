//! The decoder's building blocks: RMSNorm, grouped-query attention with rotary embeddings,
//! the SwiGLU MLP, and one decoder layer. Linear weights keep Burn's `[in, out]` layout;
//! `weights.rs` transposes from and to Hugging Face's `[out, in]`.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::{silu, softmax};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

#[derive(Module, Debug)]
pub struct RmsNorm {
    pub weight: Param<Tensor<1>>,
    pub eps: f64,
}

impl RmsNorm {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let scale = x
            .clone()
            .square()
            .mean_dim(2)
            .add_scalar(self.eps)
            .sqrt()
            .recip();
        x * scale * self.weight.val().unsqueeze::<3>()
    }
}

/// Rotary cos/sin for every (row, position) of a step: `[batch, 1, len, head_dim]`.
#[derive(Clone, Debug)]
pub struct Rotary {
    pub cos: Tensor<4>,
    pub sin: Tensor<4>,
}

impl Rotary {
    /// HF's `rotate_half` convention: `x * cos + cat(-x2, x1) * sin`.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, h, t, d] = x.dims();
        let x1 = x.clone().slice([0..b, 0..h, 0..t, 0..d / 2]);
        let x2 = x.clone().slice([0..b, 0..h, 0..t, d / 2..d]);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * self.cos.clone() + rotated * self.sin.clone()
    }
}

/// Keys and values of the positions seen so far, per layer: `[batch, kv_heads, seen, head_dim]`.
#[derive(Clone, Debug, Default)]
pub struct LayerCache {
    pub kv: Option<(Tensor<4>, Tensor<4>)>,
}

/// What attention reads besides the hidden states, per layer: where the tokens sit (`rotary`),
/// what each may see (`mask`: additive, `[batch, 1, rep * len, seen + len]` where `rep` is the
/// number of query heads per key/value head, the `len` rows repeated `rep` times), and the
/// layer's keys and values of earlier steps, extended here (`cache`).
pub struct Attend<'a> {
    pub rotary: &'a Rotary,
    pub mask: Tensor<4>,
    pub cache: Option<&'a mut LayerCache>,
}

#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

impl Attention {
    /// `x`: `[batch, len, hidden]`.
    pub fn forward(&self, x: Tensor<3>, attend: Attend) -> Tensor<3> {
        let Attend {
            rotary,
            mask,
            cache,
        } = attend;
        let [b, t, _] = x.dims();
        let (nh, nkv, hd) = (self.n_heads, self.n_kv_heads, self.head_dim);
        let q = self
            .q_proj
            .forward(x.clone())
            .reshape([b, t, nh, hd])
            .swap_dims(1, 2);
        let k = self
            .k_proj
            .forward(x.clone())
            .reshape([b, t, nkv, hd])
            .swap_dims(1, 2);
        let v = self
            .v_proj
            .forward(x)
            .reshape([b, t, nkv, hd])
            .swap_dims(1, 2);
        let q = rotary.apply(q);
        let mut k = rotary.apply(k);
        let mut v = v;
        if let Some(cache) = cache {
            if let Some((past_k, past_v)) = cache.kv.take() {
                k = Tensor::cat(vec![past_k, k], 2);
                v = Tensor::cat(vec![past_v, v], 2);
            }
            cache.kv = Some((k.clone(), v.clone()));
        }
        // Query heads grouped by the key/value head they share (HF's `repeat_kv`: query head
        // `h` reads key/value head `h / rep`), so keys and values are used as they are, never
        // copied once per query head: `[batch, kv_heads, rep * len, head_dim]`.
        let rep = nh / nkv;
        let q = q.reshape([b, nkv, rep * t, hd]);
        let out = if q.is_tracked() {
            // Training: the plain composition (Burn's autodiff decomposes `attention` into
            // the same operations plus NaN guards this additive, finite mask never needs).
            // The scale applied to the queries: a quarter of the scores' size at 256 tokens.
            let q = q.div_scalar((hd as f64).sqrt());
            let scores = q.matmul(k.swap_dims(2, 3)) + mask;
            softmax(scores, 3).matmul(v)
        } else {
            // Inference: the backend's fused attention (one kernel on CPU and GPU).
            attention(q, k, v, None, Some(mask), AttentionModuleOptions::default())
        };
        let out = out
            .reshape([b, nh, t, hd])
            .swap_dims(1, 2)
            .reshape([b, t, nh * hd]);
        self.o_proj.forward(out)
    }
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

impl Mlp {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(gate * self.up_proj.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct DecoderLayer {
    pub input_layernorm: RmsNorm,
    pub self_attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: Mlp,
}

impl DecoderLayer {
    pub fn forward(&self, x: Tensor<3>, attend: Attend) -> Tensor<3> {
        let attended = self
            .self_attn
            .forward(self.input_layernorm.forward(x.clone()), attend);
        let x = x + attended;
        let mlp = self
            .mlp
            .forward(self.post_attention_layernorm.forward(x.clone()));
        x + mlp
    }
}
