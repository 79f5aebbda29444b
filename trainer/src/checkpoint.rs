//! Training checkpoints: policy weights and optimizer state (burnpack), plus the run state
//! (step and data cursors; every random draw derives from the seed, the step and the cursors,
//! so `--resume` continues exactly where an uninterrupted run would be).

use anyhow::{Context, Result, anyhow};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::Model;

/// Position in a task's training prompts: epoch and offset in that epoch's shuffled order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub epoch: u64,
    pub offset: usize,
}

impl Cursor {
    /// The next `count` prompt indices of a dataset of `len`, reshuffled (seeded) every epoch.
    pub fn take(&mut self, count: usize, len: usize, seed: u64) -> Vec<usize> {
        let mut out = Vec::with_capacity(count);
        while out.len() < count && len > 0 {
            let mut order: Vec<usize> = (0..len).collect();
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(
                seed ^ self.epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ));
            while out.len() < count && self.offset < len {
                out.push(order[self.offset]);
                self.offset += 1;
            }
            if self.offset == len {
                self.epoch += 1;
                self.offset = 0;
            }
        }
        out
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Steps completed.
    pub step: usize,
    pub cursors: BTreeMap<String, Cursor>,
}

fn dir_of(output: &Path, step: usize) -> PathBuf {
    output.join("checkpoints").join(format!("step-{step:06}"))
}

/// Writes `checkpoints/step-N/{policy.bpk, optimizer.bpk, state.json}` and points `checkpoints/latest` at it.
pub fn save(
    output: &Path,
    policy: &Model,
    optimizer: &ModuleOptimizer,
    state: &RunState,
) -> Result<PathBuf> {
    let dir = dir_of(output, state.step);
    let partial = dir.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial)?;
    }
    std::fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    policy
        .clone()
        .save_file(partial.join("policy.bpk"))
        .map_err(|e| anyhow!("saving the policy: {e}"))?;
    optimizer
        .save(partial.join("optimizer.bpk"))
        .map_err(|e| anyhow!("saving the optimizer: {e}"))?;
    std::fs::write(
        partial.join("state.json"),
        serde_json::to_string_pretty(state)?,
    )?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    // A crash mid-save leaves a `.partial` folder, never a half-written checkpoint.
    std::fs::rename(&partial, &dir)?;
    std::fs::write(
        output.join("checkpoints").join("latest"),
        format!("{}\n", state.step),
    )?;
    Ok(dir)
}

/// Loads the latest checkpoint into `policy` (same architecture) and `optimizer`.
pub fn load_latest(
    output: &Path,
    policy: Model,
    optimizer: ModuleOptimizer,
) -> Result<Option<(Model, ModuleOptimizer, RunState)>> {
    let latest = output.join("checkpoints").join("latest");
    if !latest.exists() {
        return Ok(None);
    }
    let step: usize = std::fs::read_to_string(&latest)?
        .trim()
        .parse()
        .with_context(|| format!("{} is corrupt", latest.display()))?;
    let dir = dir_of(output, step);
    let policy = policy
        .try_load_file(dir.join("policy.bpk"))
        .map_err(|e| anyhow!("loading {}: {e}", dir.join("policy.bpk").display()))?;
    let optimizer = optimizer
        .load(dir.join("optimizer.bpk"))
        .map_err(|e| anyhow!("loading the optimizer state: {e}"))?;
    let state: RunState = serde_json::from_str(&std::fs::read_to_string(dir.join("state.json"))?)?;
    Ok(Some((policy, optimizer, state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_visits_every_prompt_once_per_epoch_and_resumes() {
        let mut a = Cursor::default();
        let first: Vec<usize> = a.take(3, 5, 9).into_iter().chain(a.take(2, 5, 9)).collect();
        let mut sorted = first.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        assert_eq!(
            a,
            Cursor {
                epoch: 1,
                offset: 0
            }
        );
        let mut b = a.clone();
        assert_eq!(a.take(4, 5, 9), b.take(4, 5, 9));
        let mut c = Cursor::default();
        assert_eq!(c.take(7, 5, 9).len(), 7, "wraps into the next epoch");
    }
}
