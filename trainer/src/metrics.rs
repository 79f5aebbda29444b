//! Per-step, per-task training and evaluation records, appended to `metrics.jsonl`.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::judging::{Judged, judge_pass_rates};
use crate::sampling::{Finish, Generation};
use judge_api::Verdict;

/// Whether a record summarises a training batch or a held-out evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    #[default]
    Train,
    Eval,
}

impl RecordKind {
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Train => "train",
            RecordKind::Eval => "eval",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    pub kind: RecordKind,
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
    /// Peak resident set of the step (training) or of the evaluation, in MiB.
    #[serde(default)]
    pub peak_rss_mib: Option<f64>,
    /// Evaluation records: every held-out prompt's mixture-of-judges verdict, in dataset
    /// order (the report's bootstrap resamples them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<Verdict>,
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
        kind: RecordKind,
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
            kind,
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
            peak_rss_mib: None,
            verdicts: match kind {
                RecordKind::Eval => b.judged.iter().map(|j| j.verdict).collect(),
                RecordKind::Train => Vec::new(),
            },
        }
    }
}

/// One held-out answer as the judges saw it: `samples.jsonl`, one object per line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalSample {
    pub step: usize,
    pub task: String,
    /// The prompt as the policy saw it (through the chat template where there is one).
    pub prompt: String,
    pub response: String,
    pub finish: Finish,
    pub verdict: Verdict,
}

/// Appends records to `<dir>/metrics.jsonl` and held-out answers to `<dir>/samples.jsonl`,
/// one JSON object per line, flushed at once.
pub struct MetricsWriter {
    path: PathBuf,
    samples: PathBuf,
}

impl MetricsWriter {
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(MetricsWriter {
            path: dir.join("metrics.jsonl"),
            samples: dir.join("samples.jsonl"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, record: &TaskMetrics) -> Result<()> {
        append(&self.path, std::slice::from_ref(record))
    }

    pub fn write_samples(&self, samples: &[EvalSample]) -> Result<()> {
        append(&self.samples, samples)
    }

    /// Drops records and samples of steps after `step` (a resumed run rewrites them).
    pub fn truncate_after(&self, step: usize) -> Result<()> {
        for path in [&self.path, &self.samples] {
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(path)?;
            let mut kept = String::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let value: serde_json::Value = serde_json::from_str(line)
                    .with_context(|| format!("reading {}", path.display()))?;
                if value["step"].as_u64().is_some_and(|s| s as usize <= step) {
                    kept.push_str(line);
                    kept.push('\n');
                }
            }
            std::fs::write(path, kept)?;
        }
        Ok(())
    }
}

fn append<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    let mut text = String::new();
    for record in records {
        text.push_str(&serde_json::to_string(record)?);
        text.push('\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
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
