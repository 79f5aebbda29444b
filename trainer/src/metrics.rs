//! Per-step, per-task training and evaluation records, appended to `metrics.jsonl`.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::judging::{Judged, judge_pass_rates};
use crate::sampling::Generation;
use judge_api::Verdict;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// `train` or `eval`.
    pub kind: String,
    pub step: usize,
    pub task: String,
    pub optimizer: String,
    /// Samples in the batch (prompts x K for training, prompts for evaluation).
    pub samples: usize,
    /// Mean raw reward-source score.
    pub reward: f64,
    /// Mean `sigmoid(r - r_ref)`.
    pub calibrated_reward: f64,
    /// Share of samples whose mixture-of-judges verdict is `pass`.
    pub moj_pass_rate: f64,
    /// Pass rate of every judge of the mixture.
    pub judge_pass_rates: BTreeMap<String, f64>,
    /// Share of samples with a judge `error` (excluded from the update).
    pub error_rate: f64,
    /// Mean sequence KL `log π_θ - log π_ref`.
    pub kl: f64,
    /// The task's loss (before the ρ weight); absent when nothing could be learned from the batch.
    pub loss: Option<f64>,
    /// Mean response length in tokens.
    pub response_length: f64,
    pub samples_per_sec: f64,
    pub time_generation_s: f64,
    pub time_judging_s: f64,
    pub time_reward_s: f64,
    pub time_update_s: f64,
    pub learning_rate: f64,
}

/// What one batch produced, summarised by [`TaskMetrics::from_batch`].
pub struct BatchFigures<'a> {
    pub generations: &'a [Generation],
    pub judged: &'a [Judged],
    pub raw: &'a [f32],
    pub calibrated: &'a [f32],
    pub logp_policy: &'a [f32],
    pub logp_ref: &'a [f32],
}

/// Seconds spent in each phase of a task batch.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    pub generation: f64,
    pub judging: f64,
    pub reward: f64,
    pub update: f64,
    pub total: f64,
}

impl TaskMetrics {
    #[allow(clippy::too_many_arguments)]
    pub fn from_batch(
        kind: &str,
        step: usize,
        task: &str,
        optimizer: &str,
        b: &BatchFigures,
        loss: Option<f64>,
        t: &Timings,
        learning_rate: f64,
    ) -> Self {
        let n = b.generations.len();
        let share = |v: Verdict| {
            b.judged.iter().filter(|j| j.verdict == v).count() as f64 / n.max(1) as f64
        };
        TaskMetrics {
            kind: kind.into(),
            step,
            task: task.into(),
            optimizer: optimizer.into(),
            samples: n,
            reward: mean(b.raw.iter().map(|&x| x as f64)),
            calibrated_reward: mean(b.calibrated.iter().map(|&x| x as f64)),
            moj_pass_rate: share(Verdict::Pass),
            judge_pass_rates: judge_pass_rates(b.judged),
            error_rate: share(Verdict::Error),
            kl: mean(
                b.logp_policy
                    .iter()
                    .zip(b.logp_ref)
                    .map(|(p, r)| (p - r) as f64),
            ),
            loss,
            response_length: mean(b.generations.iter().map(|g| g.tokens.len() as f64)),
            samples_per_sec: n as f64 / t.total.max(1e-9),
            time_generation_s: t.generation,
            time_judging_s: t.judging,
            time_reward_s: t.reward,
            time_update_s: t.update,
            learning_rate,
        }
    }
}

/// Appends records to `<dir>/metrics.jsonl`, one JSON object per line, flushed at once.
pub struct MetricsWriter {
    path: PathBuf,
}

impl MetricsWriter {
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(MetricsWriter {
            path: dir.join("metrics.jsonl"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, record: &TaskMetrics) -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        writeln!(file, "{}", serde_json::to_string(record)?)?;
        Ok(())
    }

    /// Drops records of steps after `step` (a resumed run rewrites them).
    pub fn truncate_after(&self, step: usize) -> Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        let kept: Vec<TaskMetrics> = read(&self.path)?
            .into_iter()
            .filter(|r| r.step <= step)
            .collect();
        let mut text = String::new();
        for r in kept {
            text.push_str(&serde_json::to_string(&r)?);
            text.push('\n');
        }
        std::fs::write(&self.path, text)?;
        Ok(())
    }
}

pub fn read(path: &Path) -> Result<Vec<TaskMetrics>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect()
}

pub fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .into_iter()
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}
