//! Reward sources: one trait, three implementations (a Burn reward model, a remote endpoint,
//! and the calibration wrapper every task uses).
//!
//! - `model.rs`: the decoder with a scalar head (HF `*ForSequenceClassification` layout)
//! - `bradley_terry.rs`: training that model from preference pairs
//! - `remote.rs`: OpenRLHF `/get_reward` and a generic JSON endpoint
//! - `calibrated.rs`: `sigmoid(r(s,a) - r(s,ā))`, reference scores cached per prompt

pub mod bradley_terry;
pub mod calibrated;
pub mod model;
pub mod remote;

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// One (prompt, response) to score. `prompt` is the text the policy saw (chat template applied).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardQuery {
    pub prompt: String,
    pub response: String,
}

/// Anything that gives a scalar reward to (prompt, response) pairs.
pub trait RewardSource {
    fn name(&self) -> String;
    /// One reward per query, in order.
    fn score(&self, queries: &[RewardQuery]) -> Result<Vec<f32>>;
}

/// One source shared by several tasks (one reward model in memory, however many tasks use it).
impl<T: RewardSource + ?Sized> RewardSource for std::rc::Rc<T> {
    fn name(&self) -> String {
        (**self).name()
    }

    fn score(&self, queries: &[RewardQuery]) -> Result<Vec<f32>> {
        (**self).score(queries)
    }
}

/// Where a task's rewards come from, as written in its `[reward]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RewardConfig {
    /// A reward model folder (HF `*ForSequenceClassification`, e.g. written by `trainer reward-model train`).
    Model { path: std::path::PathBuf },
    /// A remote endpoint.
    Remote(remote::RemoteConfig),
}
