//! The memory an experiment will need, estimated before it starts and checked against what
//! the machine has, so a run too big for the machine stops with a message instead of being
//! killed by the kernel hours in.
//!
//! The estimate counts f32 values: a trained model holds weights, gradients and AdamW's two
//! moments (16 bytes a parameter); a forward pass with autodiff keeps each layer's activations
//! for the backward pass; a language-model loss builds `[rows, tokens, vocab]` logits several
//! times over (logits, log-softmax, their gradients). It is calibrated against the measured
//! peaks in docs/benchmarks.md and errs high.

use anyhow::{Result, bail};
use serde::Serialize;

use super::Scale;
use crate::model::ModelConfig;

/// Set to `1` to start even when the estimate exceeds the memory available.
pub const SKIP_ENV: &str = "MOJ_SKIP_MEMORY_CHECK";

/// The process's own footprint outside the models (runtime, tokenizer, data, allocator slack);
/// with 400, SmolLM2's reward-model stage at the committed run's size measured 10 MiB over
/// the estimate (docs/benchmarks.md).
const BASE_MIB: f64 = 512.0;
/// Activations kept per layer, per token, in units of the hidden and intermediate widths.
const HIDDEN_COPIES: f64 = 16.0;
const INTERMEDIATE_COPIES: f64 = 6.0;
/// Copies of the `[rows, tokens, vocab]` logits a language-model loss holds at once.
const LOGIT_COPIES: f64 = 4.0;

/// Estimated peak resident memory of each stage, in MiB.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Estimate {
    pub sft_mib: f64,
    pub reward_model_mib: f64,
    /// One RL run's step.
    pub rl_step_mib: f64,
    /// RL runs at once (they share the process's own footprint).
    pub rl_jobs: usize,
}

impl Estimate {
    /// `longest_prompt` is the most tokens a training prompt takes (chat template included).
    pub fn of(scale: &Scale, longest_prompt: usize) -> Self {
        let model = &scale.model;
        let tokens = longest_prompt + scale.max_new_tokens;
        let p = parameters(model) as f64;
        let trained = 16.0 * p;
        let frozen = 4.0 * p;
        let sft = trained + activations(model, scale.sft_batch, tokens, true);
        let reward_model = trained + activations(model, 2 * scale.rm_micro_batch, tokens, false);
        // The policy trains next to the frozen reference and the reward model.
        let rows = scale.prompts_per_step * scale.samples_per_prompt;
        let rl = trained + 2.0 * frozen + activations(model, rows, tokens, true);
        let mib = |bytes: f64| BASE_MIB + bytes / (1024.0 * 1024.0);
        Estimate {
            sft_mib: mib(sft),
            reward_model_mib: mib(reward_model),
            rl_step_mib: mib(rl),
            rl_jobs: 1,
        }
    }

    /// The RL stage's peak with `rl_jobs` runs at once.
    fn rl_stage_mib(&self) -> f64 {
        BASE_MIB + self.rl_jobs as f64 * (self.rl_step_mib - BASE_MIB)
    }

    /// How many RL runs at once fit in `available_mib` (at least 1; unbounded when unknown).
    pub fn rl_runs_that_fit(&self, available_mib: Option<f64>) -> usize {
        match available_mib {
            Some(available) => {
                ((available - BASE_MIB) / (self.rl_step_mib - BASE_MIB)).max(1.0) as usize
            }
            None => usize::MAX,
        }
    }

    pub fn peak_mib(&self) -> f64 {
        self.sft_mib
            .max(self.reward_model_mib)
            .max(self.rl_stage_mib())
    }

    /// Fails, saying what to change, when the peak is more than `available_mib` (unless
    /// `MOJ_SKIP_MEMORY_CHECK=1`).
    pub fn check(&self, available_mib: Option<f64>) -> Result<()> {
        let Some(available) = available_mib else {
            return Ok(());
        };
        if self.peak_mib() <= available || std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
            return Ok(());
        }
        bail!(
            "this experiment needs about {:.1} GiB (SFT {:.1}, reward model {:.1}, RL step {:.1} \
             with {} run(s) at once) and {:.1} GiB is available: use a smaller preset (--quick, \
             --smoke) or model, fewer --jobs, or set {SKIP_ENV}=1 to start anyway",
            gib(self.peak_mib()),
            gib(self.sft_mib),
            gib(self.reward_model_mib),
            gib(self.rl_stage_mib()),
            self.rl_jobs,
            gib(available)
        )
    }
}

fn gib(mib: f64) -> f64 {
    mib / 1024.0
}

/// Parameters of a Llama-family model (embeddings once when tied).
fn parameters(config: &ModelConfig) -> usize {
    let h = config.hidden_size;
    let head_dim = config
        .head_dim
        .unwrap_or(h / config.num_attention_heads.max(1));
    let kv = config
        .num_key_value_heads
        .unwrap_or(config.num_attention_heads)
        * head_dim;
    let q = config.num_attention_heads * head_dim;
    let attention = h * q + 2 * h * kv + q * h;
    let mlp = 3 * h * config.intermediate_size;
    let layer = attention + mlp + 2 * h;
    let embeddings = config.vocab_size * h * if config.tie_word_embeddings { 1 } else { 2 };
    config.num_hidden_layers * layer + embeddings + h
}

/// Bytes of activations a forward pass with autodiff keeps for `rows` rows of `tokens` tokens
/// (with the vocabulary-wide logits when `logits`).
fn activations(config: &ModelConfig, rows: usize, tokens: usize, logits: bool) -> f64 {
    let positions = (rows * tokens) as f64;
    let per_layer = HIDDEN_COPIES * config.hidden_size as f64
        + INTERMEDIATE_COPIES * config.intermediate_size as f64
        + 2.0 * (config.num_attention_heads * tokens) as f64;
    let layers = positions * per_layer * config.num_hidden_layers as f64;
    let vocab = if logits {
        LOGIT_COPIES * positions * config.vocab_size as f64
    } else {
        0.0
    };
    4.0 * (layers + vocab)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::Size;

    fn smollm2() -> ModelConfig {
        let mut config = ModelConfig::tiny(49152);
        config.hidden_size = 576;
        config.intermediate_size = 1536;
        config.num_hidden_layers = 30;
        config.num_attention_heads = 9;
        config.num_key_value_heads = Some(3);
        config.tie_word_embeddings = true;
        config
    }

    #[test]
    fn counts_smollm2_parameters() {
        // SmolLM2-135M: 134,515,008 parameters.
        let n = parameters(&smollm2());
        assert!((134_000_000..135_000_000).contains(&n), "{n}");
    }

    #[test]
    fn a_machine_too_small_is_told_before_the_start() {
        let mut scale = Scale::preset(Size::Quick, 49152);
        scale.model = smollm2();
        scale.rm_micro_batch = 2;
        let estimate = Estimate::of(&scale, 120);
        // the weights and optimizer state alone are over 2 GiB
        assert!(estimate.peak_mib() > 2048.0, "{estimate:?}");
        let error = estimate.check(Some(1024.0)).unwrap_err().to_string();
        assert!(error.contains("GiB is available"), "{error}");
        estimate.check(Some(estimate.peak_mib() + 1.0)).unwrap();
        estimate.check(None).unwrap();
        // two RL runs at once need the RL step's memory twice, less the shared footprint
        let one = estimate.peak_mib();
        let mut two = estimate.clone();
        two.rl_jobs = 2;
        assert!(
            two.peak_mib() > one && two.peak_mib() < 2.0 * one,
            "{two:?}"
        );
        assert_eq!(
            estimate.rl_runs_that_fit(Some(2.0 * estimate.rl_step_mib)),
            2
        );
        assert_eq!(estimate.rl_runs_that_fit(Some(1.0)), 1);
        // micro-batches bound the reward model's activations
        scale.rm_micro_batch = 16;
        assert!(Estimate::of(&scale, 120).reward_model_mib > estimate.reward_model_mib);
    }
}
