//! `cgpo.toml`: the training configuration, validated up front with errors that name the field.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::optim::OptimizerConfig;
use crate::rewards::RewardConfig;
use crate::sampling::SamplingConfig;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    #[serde(default)]
    pub seed: u64,
    pub steps: usize,
    #[serde(default = "default_device")]
    pub device: String,
    /// Metrics, checkpoints, plots and the exported model go here.
    pub output_dir: PathBuf,
    /// Save a checkpoint every N steps (0: only at the end).
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Evaluate on the held-out prompts every N steps (0: only at the end).
    #[serde(default)]
    pub eval_every: usize,
    pub policy: PolicyConfig,
    #[serde(default)]
    pub optimizer: AdamWSettings,
    pub judge_server: JudgeServerConfig,
    pub tasks: Vec<TaskConfig>,
}

fn default_device() -> String {
    "cpu".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// HF folder of the initial policy.
    pub path: PathBuf,
    /// HF folder of the frozen reference model; defaults to the initial policy.
    #[serde(default)]
    pub reference: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamWSettings {
    pub learning_rate: f64,
    pub beta1: f32,
    pub beta2: f32,
    pub weight_decay: f32,
    pub warmup_steps: usize,
    pub schedule: Schedule,
    /// Clip the global gradient norm to this value (0 disables clipping).
    pub grad_clip: f32,
}

impl Default for AdamWSettings {
    fn default() -> Self {
        AdamWSettings {
            learning_rate: 1e-5,
            beta1: 0.9,
            beta2: 0.999,
            weight_decay: 0.0,
            warmup_steps: 0,
            schedule: Schedule::Constant,
            grad_clip: 1.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    Linear,
    Cosine,
}

impl AdamWSettings {
    /// Learning rate of `step` (0-based) out of `total`.
    pub fn learning_rate_at(&self, step: usize, total: usize) -> f64 {
        if step < self.warmup_steps {
            return self.learning_rate * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = total.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        match self.schedule {
            Schedule::Constant => self.learning_rate,
            Schedule::Linear => self.learning_rate * (1.0 - progress),
            Schedule::Cosine => {
                self.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeServerConfig {
    pub url: String,
    /// Name of the environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default = "default_judge_timeout")]
    pub timeout_secs: f64,
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_judge_timeout() -> f64 {
    300.0
}
fn default_retries() -> u32 {
    5
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    pub name: String,
    /// Training prompts (JSONL).
    pub train: PathBuf,
    /// Held-out prompts (JSONL) for evaluation.
    #[serde(default)]
    pub eval: Option<PathBuf>,
    /// The server-side task whose mixture of judges scores this task...
    #[serde(default)]
    pub judge_task: Option<String>,
    /// ...or an explicit list of server-side judges.
    #[serde(default)]
    pub judges: Option<Vec<String>>,
    /// ρ_l: weight of this task's gradient.
    #[serde(default = "default_weight")]
    pub weight: f32,
    /// B_l: prompts per step.
    pub prompts_per_step: usize,
    /// K: samples per prompt.
    pub samples_per_prompt: usize,
    pub optimizer: OptimizerConfig,
    pub reward: RewardConfig,
    #[serde(default)]
    pub generation: SamplingConfig,
    /// Held-out prompts evaluated per evaluation (0: all).
    #[serde(default)]
    pub eval_prompts: usize,
}

fn default_weight() -> f32 {
    1.0
}

impl TrainConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config: TrainConfig =
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        // Relative paths are relative to the config file.
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config
            .validate()
            .with_context(|| format!("{}", path.display()))?;
        Ok(config)
    }

    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.output_dir);
        fix(&mut self.policy.path);
        if let Some(r) = &mut self.policy.reference {
            fix(r);
        }
        for task in &mut self.tasks {
            fix(&mut task.train);
            if let Some(e) = &mut task.eval {
                fix(e);
            }
            if let RewardConfig::Model { path } = &mut task.reward {
                fix(path);
            }
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.steps == 0 {
            bail!("steps: must be at least 1");
        }
        crate::device::parse(&self.device).context("device")?;
        let o = &self.optimizer;
        if !(o.learning_rate > 0.0 && o.learning_rate.is_finite()) {
            bail!("optimizer.learning_rate: must be positive");
        }
        if !(0.0..1.0).contains(&o.beta1) || !(0.0..1.0).contains(&o.beta2) {
            bail!("optimizer.beta1 / beta2: must be in [0, 1)");
        }
        if o.grad_clip < 0.0 || o.weight_decay < 0.0 {
            bail!("optimizer.grad_clip / weight_decay: must be >= 0");
        }
        if !self.judge_server.url.starts_with("http://")
            && !self.judge_server.url.starts_with("https://")
        {
            bail!(
                "judge_server.url: expected http:// or https://, got {:?}",
                self.judge_server.url
            );
        }
        if self.tasks.is_empty() {
            bail!("tasks: at least one [[tasks]] table is needed");
        }
        let mut names = std::collections::HashSet::new();
        for (i, task) in self.tasks.iter().enumerate() {
            let at = |field: &str| format!("tasks[{i}] ({}).{field}", task.name);
            if task.name.is_empty() || !names.insert(task.name.clone()) {
                bail!("tasks[{i}].name: must be non-empty and unique");
            }
            match (&task.judge_task, &task.judges) {
                (Some(_), None) => {}
                (None, Some(j)) if !j.is_empty() => {}
                _ => bail!(
                    "{}: give exactly one of judge_task and judges",
                    at("judge_task")
                ),
            }
            if !(task.weight > 0.0 && task.weight.is_finite()) {
                bail!("{}: must be positive", at("weight"));
            }
            if task.prompts_per_step == 0 {
                bail!("{}: must be at least 1", at("prompts_per_step"));
            }
            if task.samples_per_prompt == 0 {
                bail!("{}: must be at least 1", at("samples_per_prompt"));
            }
            task.optimizer.validate().with_context(|| at("optimizer"))?;
            task.generation
                .validate()
                .with_context(|| at("generation"))?;
            if !task.train.exists() {
                bail!("{}: {} does not exist", at("train"), task.train.display());
            }
            if let Some(eval) = &task.eval
                && !eval.exists()
            {
                bail!("{}: {} does not exist", at("eval"), eval.display());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let s = AdamWSettings {
            learning_rate: 1.0,
            warmup_steps: 2,
            schedule: Schedule::Linear,
            ..Default::default()
        };
        assert_eq!(s.learning_rate_at(0, 10), 0.5);
        assert_eq!(s.learning_rate_at(1, 10), 1.0);
        assert_eq!(s.learning_rate_at(2, 10), 1.0);
        assert_eq!(s.learning_rate_at(6, 10), 0.5);
        let c = AdamWSettings {
            learning_rate: 1.0,
            schedule: Schedule::Cosine,
            ..Default::default()
        };
        assert!((c.learning_rate_at(5, 10) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn the_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cgpo.toml");
        let config = TrainConfig::load(&path).unwrap();
        assert_eq!(config.tasks.len(), 2);
        assert!(matches!(config.tasks[1].reward, RewardConfig::Remote(_)));
    }

    #[test]
    fn errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.jsonl"), "{\"prompt\":\"x\"}\n").unwrap();
        let base = r#"
            steps = 1
            output_dir = "out"
            [policy]
            path = "p"
            [judge_server]
            url = "http://127.0.0.1:1"
            [[tasks]]
            name = "math"
            train = "t.jsonl"
            judge_task = "math"
            prompts_per_step = 2
            samples_per_prompt = 2
            optimizer = { kind = "crpg", kl_max = 1.0 }
            reward = { kind = "model", path = "rm" }
        "#;
        let write = |text: &str| {
            let path = dir.path().join("c.toml");
            std::fs::write(&path, text).unwrap();
            TrainConfig::load(&path).map_err(|e| format!("{e:#}"))
        };
        write(base).unwrap();
        for (from, to, field) in [
            ("kl_max = 1.0", "kl_max = -1.0", "optimizer"),
            (
                "samples_per_prompt = 2",
                "samples_per_prompt = 0",
                "samples_per_prompt",
            ),
            ("judge_task = \"math\"", "", "judge_task"),
            (
                "url = \"http://127.0.0.1:1\"",
                "url = \"ftp://x\"",
                "judge_server.url",
            ),
            ("steps = 1", "steps = 1\nbogus = 2", "bogus"),
            ("train = \"t.jsonl\"", "train = \"missing.jsonl\"", "train"),
        ] {
            let err = write(&base.replace(from, to)).unwrap_err();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
