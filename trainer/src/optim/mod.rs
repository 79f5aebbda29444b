//! The policy optimizers of CGPO (../shared/design/cgpo.md) and the reward-only baselines.
//!
//! Every optimizer turns one task batch (prompts x K samples, with verdicts, rewards and
//! log-probs taken at sampling time) into a [`LossPlan`]: which sequences enter the loss and
//! with which weights. `loss.rs` turns the plan plus the policy's differentiable log-probs into
//! the loss tensor. One file per optimizer; [`build`] is the only place that knows them all.

pub mod codpo;
pub mod crpg;
pub mod crraft;
pub mod loss;
pub mod online_dpo;
pub mod reward_pg;

use anyhow::{Result, bail};
use judge_api::Verdict;
use serde::{Deserialize, Serialize};

/// One sampled response, with what the judges, the reward source and the models said of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The mixture-of-judges verdict.
    pub verdict: Verdict,
    /// Raw reward-source score `r(s, a)`.
    pub reward: f32,
    /// `sigmoid(r(s, a) - r(s, ā))`.
    pub calibrated: f32,
    /// `log π_θ(s, a)` at sampling time (sum over response tokens).
    pub logp_policy: f32,
    /// `log π_ref(s, a)`.
    pub logp_ref: f32,
    /// Response length in tokens.
    pub len: usize,
}

impl Sample {
    /// Sequence-level KL estimate `log π_θ - log π_ref`.
    pub fn kl(&self) -> f32 {
        self.logp_policy - self.logp_ref
    }
}

/// The dataset reference response `ā` of a prompt, as the CRRAFT fallback.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub verdict: Verdict,
    pub logp_ref: f32,
    pub len: usize,
}

/// One prompt and its K samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub samples: Vec<Sample>,
    pub reference: Option<Reference>,
}

/// A sequence of the batch: sample `index` of group `group`, or the group's reference response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seq {
    Sample { group: usize, index: usize },
    Reference { group: usize },
}

/// What the optimizer wants minimised.
#[derive(Clone, Debug, PartialEq)]
pub enum LossPlan {
    /// `-(1/n) Σ weight_i · log π_θ(seq_i)`, weights treated as constants.
    Weighted { terms: Vec<(Seq, f32)>, n: usize },
    /// Per pair: `-[log σ(β(Δ_chosen - Δ_rejected)) + (λ/|chosen|) log π_θ(chosen)]`, averaged,
    /// with `Δ = log π_θ - log π_ref`.
    Pairwise {
        pairs: Vec<PreferencePair>,
        beta: f32,
        lambda: f32,
    },
    /// Nothing in this batch can be learned from (e.g. no positive sample anywhere).
    Empty,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PreferencePair {
    pub chosen: Seq,
    pub rejected: Seq,
    pub chosen_ref: f32,
    pub rejected_ref: f32,
    pub chosen_len: usize,
}

impl PreferencePair {
    /// Sample `chosen` over sample `rejected` of group `group`.
    pub fn of_samples(group: usize, chosen: (usize, &Sample), rejected: (usize, &Sample)) -> Self {
        PreferencePair {
            chosen: Seq::Sample {
                group,
                index: chosen.0,
            },
            rejected: Seq::Sample {
                group,
                index: rejected.0,
            },
            chosen_ref: chosen.1.logp_ref,
            rejected_ref: rejected.1.logp_ref,
            chosen_len: chosen.1.len,
        }
    }
}

impl LossPlan {
    /// A weighted plan, or `Empty` when every weight is zero (no gradient to follow, e.g. CRPG
    /// on a batch where nothing passed the judges).
    pub fn weighted(terms: Vec<(Seq, f32)>, n: usize) -> LossPlan {
        if terms.iter().all(|(_, w)| *w == 0.0) {
            LossPlan::Empty
        } else {
            LossPlan::Weighted { terms, n }
        }
    }

    /// `-(1/n) Σ (r_i - mean r) log π` over `shaped` (sequence, shaped reward): the batch-mean
    /// baseline shared by CRPG and the reward-only policy gradient.
    pub fn centered(shaped: Vec<(Seq, f32)>) -> LossPlan {
        if shaped.is_empty() {
            return LossPlan::Empty;
        }
        let mean = shaped.iter().map(|(_, r)| r).sum::<f32>() / shaped.len() as f32;
        let n = shaped.len();
        LossPlan::weighted(shaped.into_iter().map(|(s, r)| (s, r - mean)).collect(), n)
    }

    /// A pairwise plan, or `Empty` without pairs.
    pub fn pairwise(pairs: Vec<PreferencePair>, beta: f32, lambda: f32) -> LossPlan {
        if pairs.is_empty() {
            LossPlan::Empty
        } else {
            LossPlan::Pairwise {
                pairs,
                beta,
                lambda,
            }
        }
    }

    /// Every sequence whose differentiable log-prob the loss needs, without repeats, in order.
    pub fn sequences(&self) -> Vec<Seq> {
        let mut out: Vec<Seq> = Vec::new();
        let mut push = |s: Seq| {
            if !out.contains(&s) {
                out.push(s)
            }
        };
        match self {
            LossPlan::Weighted { terms, .. } => terms.iter().for_each(|(s, _)| push(*s)),
            LossPlan::Pairwise { pairs, .. } => pairs.iter().for_each(|p| {
                push(p.chosen);
                push(p.rejected)
            }),
            LossPlan::Empty => {}
        }
        out
    }
}

/// A policy optimizer: CRPG, CODPO, CRRAFT, or a baseline.
pub trait PolicyOptimizer: Send + Sync {
    fn name(&self) -> &'static str;
    /// Whether the judges' verdicts matter (false for the reward-only baselines).
    fn uses_judges(&self) -> bool {
        true
    }
    /// Whether [`Group::reference`] must be filled (judged and scored): CRRAFT's fallback.
    fn needs_reference(&self) -> bool {
        false
    }
    fn plan(&self, groups: &[Group]) -> LossPlan;
}

/// Optimizer choice and hyperparameters, as written in a task's `[optimizer]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerConfig {
    Crpg {
        #[serde(default = "default_kl_max")]
        kl_max: f32,
    },
    Codpo {
        #[serde(default = "default_beta")]
        beta: f32,
        #[serde(default = "default_lambda")]
        lambda: f32,
    },
    Crraft {
        #[serde(default = "default_kl_max")]
        kl_max: f32,
    },
    /// Reward-only policy gradient (one-step PPO surrogate, batch-mean baseline), judges ignored.
    RewardPg {
        /// Per-sample KL penalty coefficient on the reward (0 disables it).
        #[serde(default)]
        kl_coef: f32,
    },
    /// Online DPO on reward-ranked pairs, judges ignored.
    OnlineDpo {
        #[serde(default = "default_beta")]
        beta: f32,
        #[serde(default)]
        lambda: f32,
    },
}

/// The KL threshold (nats per sequence) past which CRPG and CRRAFT leave a sample out.
fn default_kl_max() -> f32 {
    20.0
}
fn default_beta() -> f32 {
    0.1
}
fn default_lambda() -> f32 {
    5.0
}

impl OptimizerConfig {
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: f32| -> Result<()> {
            if !(v > 0.0 && v.is_finite()) {
                bail!("{name} must be a positive number, got {v}");
            }
            Ok(())
        };
        let non_negative = |name: &str, v: f32| -> Result<()> {
            if !(v >= 0.0 && v.is_finite()) {
                bail!("{name} must be >= 0, got {v}");
            }
            Ok(())
        };
        match self {
            OptimizerConfig::Crpg { kl_max } | OptimizerConfig::Crraft { kl_max } => {
                positive("kl_max", *kl_max)
            }
            OptimizerConfig::Codpo { beta, lambda }
            | OptimizerConfig::OnlineDpo { beta, lambda } => {
                positive("beta", *beta)?;
                non_negative("lambda", *lambda)
            }
            OptimizerConfig::RewardPg { kl_coef } => non_negative("kl_coef", *kl_coef),
        }
    }
}

pub fn build(config: &OptimizerConfig) -> Box<dyn PolicyOptimizer> {
    match *config {
        OptimizerConfig::Crpg { kl_max } => Box::new(crpg::Crpg { kl_max }),
        OptimizerConfig::Codpo { beta, lambda } => Box::new(codpo::Codpo { beta, lambda }),
        OptimizerConfig::Crraft { kl_max } => Box::new(crraft::Crraft { kl_max }),
        OptimizerConfig::RewardPg { kl_coef } => Box::new(reward_pg::RewardPg { kl_coef }),
        OptimizerConfig::OnlineDpo { beta, lambda } => {
            Box::new(online_dpo::OnlineDpo { beta, lambda })
        }
    }
}

/// Indices of the samples of a group that are not judge errors.
pub(crate) fn decided(group: &Group) -> impl Iterator<Item = (usize, &Sample)> {
    group
        .samples
        .iter()
        .enumerate()
        .filter(|(_, s)| s.verdict != Verdict::Error)
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn sample(verdict: Verdict, reward: f32, calibrated: f32, kl: f32) -> Sample {
        Sample {
            verdict,
            reward,
            calibrated,
            logp_policy: -10.0 + kl,
            logp_ref: -10.0,
            len: 4,
        }
    }

    /// A group of `samples`, each `(verdict, reward, calibrated, kl)` as [`sample`] takes them.
    pub fn group(reference: Option<Reference>, samples: &[(Verdict, f32, f32, f32)]) -> Group {
        Group {
            samples: samples
                .iter()
                .map(|&(verdict, reward, calibrated, kl)| sample(verdict, reward, calibrated, kl))
                .collect(),
            reference,
        }
    }
}
