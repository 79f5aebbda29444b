//! Stage 1 of the experiment: the report directory and the synthetic datasets.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

use super::Scale;
use super::tasks::{self, Synthetic, TaskKind};
use crate::data::write_jsonl;
use crate::tokenizer::TextTokenizer;

/// The report directory's layout.
pub(super) struct Dirs {
    pub(super) out: PathBuf,
    pub(super) data: PathBuf,
    pub(super) sft: PathBuf,
    pub(super) reward: PathBuf,
}

impl Dirs {
    /// Creates `out` (clearing an existing one) and its data folder.
    pub(super) fn create(out: &Path) -> Result<Self> {
        if out.exists() {
            std::fs::remove_dir_all(out).with_context(|| format!("clearing {}", out.display()))?;
        }
        let dirs = Dirs {
            out: out.to_path_buf(),
            data: out.join("data"),
            sft: out.join("models").join("sft"),
            reward: out.join("models").join("reward"),
        };
        std::fs::create_dir_all(&dirs.data)?;
        Ok(dirs)
    }
}

/// The most tokens a training prompt takes, as the policy sees it (chat template included).
pub(super) fn longest_prompt(
    train_sets: &[(TaskKind, Vec<Synthetic>)],
    tokenizer: &TextTokenizer,
) -> Result<usize> {
    let mut longest = 0;
    for s in train_sets.iter().flat_map(|(_, set)| set) {
        let text = s.example.prompt.render(tokenizer)?;
        longest = longest.max(tokenizer.encode(&text)?.len());
    }
    Ok(longest)
}

/// Stage 1: the synthetic training and evaluation sets of every task, written as JSONL. No
/// evaluation prompt is a training prompt. With `validation`, the evaluation set is the
/// training stream's last `eval_per_task` examples (at most half of it; fewer where their
/// prompts repeat earlier ones) and training keeps the rest: the test split is never drawn.
pub(super) fn write_datasets(
    scale: &Scale,
    dirs: &Dirs,
    validation: bool,
) -> Result<Vec<(TaskKind, Vec<Synthetic>)>> {
    let mut train_sets = Vec::new();
    for (i, kind) in TaskKind::ALL.into_iter().enumerate() {
        let seed = 1000 + i as u64;
        let (n_train, n_eval) = (scale.train_per_task, scale.eval_per_task);
        let mut parts = if validation {
            let held_back = n_eval.min(n_train / 2);
            tasks::splits(kind, seed, &[n_train - held_back, held_back], n_train)
        } else {
            tasks::splits(kind, seed, &[n_train, n_eval], SPLIT_DRAWS)
        };
        let eval = parts.pop().unwrap_or_default();
        let train = parts.pop().unwrap_or_default();
        eprintln!(
            "[1/5] {}: {} training and {} {} prompts",
            kind.name(),
            train.len(),
            eval.len(),
            if validation { "validation" } else { "held-out" }
        );
        for (split, set) in [("train", &train), ("eval", &eval)] {
            let path = dirs.data.join(format!("{}.{split}.jsonl", kind.name()));
            write_jsonl(&path, &set.iter().map(|s| &s.example).collect::<Vec<_>>())?;
        }
        train_sets.push((kind, train));
    }
    Ok(train_sets)
}

/// How far down a task's stream the held-out split may look for prompts unseen in training.
const SPLIT_DRAWS: usize = 1_000_000;
