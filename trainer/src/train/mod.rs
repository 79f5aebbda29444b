//! One CGPO training run: for every step and task, sample prompts, generate K responses each,
//! judge the batch in one request, score rewards, build the task's loss with its optimizer and
//! accumulate ρ-weighted gradients; then one AdamW step on the shared policy.

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, ModuleOptimizer};
use judge_api::Item;
use std::collections::HashMap;
use std::sync::Arc;

use crate::checkpoint::{self, Cursor, RunState};
use crate::config::{TaskConfig, TrainConfig};
use crate::data::{Example, read_examples};
use crate::device;
use crate::judging::{JudgeServerDown, Judged, Judges};
use crate::metrics::{BatchFigures, MetricsWriter, RecordKind, TaskMetrics, Timings};
use crate::model::Model;
use crate::optim::{PolicyOptimizer, build};
use crate::pretrained::{self, Pretrained};
use crate::rewards::calibrated::{Calibrated, Rewards};
use crate::rewards::model::LocalRewardModel;
use crate::rewards::remote::RemoteReward;
use crate::rewards::{RewardConfig, RewardSource};
use crate::sampling::{Generation, SamplingConfig, generate};
use crate::tokenizer::TextTokenizer;

mod evaluation;
mod step;

/// Called after every step with the step's records.
pub type Progress<'a> = dyn FnMut(usize, usize, &[TaskMetrics]) + 'a;

struct Task {
    config: TaskConfig,
    train: Vec<Example>,
    eval: Vec<Example>,
    optimizer: Box<dyn PolicyOptimizer>,
    rewards: Calibrated,
    /// Greedy responses of the reference model, for prompts without a dataset reference.
    sampled_references: HashMap<usize, String>,
}

pub struct Trainer {
    config: TrainConfig,
    policy: Model,
    reference: Model,
    tokenizer: TextTokenizer,
    eos_ids: Vec<u32>,
    optimizer: ModuleOptimizer,
    tasks: Vec<Task>,
    judges: Judges,
    state: RunState,
    metrics: MetricsWriter,
}

/// Seeds derived from the run seed, so a resumed run draws exactly what an uninterrupted one would.
fn derive_seed(parts: &[u64]) -> u64 {
    parts.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, p| {
        (h ^ p).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(17)
    })
}

fn name_hash(name: &str) -> u64 {
    derive_seed(&name.bytes().map(u64::from).collect::<Vec<_>>())
}

impl Trainer {
    /// Loads models, data and reward sources; with `resume`, continues from the latest checkpoint.
    pub fn new(
        config: TrainConfig,
        resume: bool,
        runtime: Arc<tokio::runtime::Runtime>,
    ) -> Result<Self> {
        let base = device::parse(&config.device)?;
        let Pretrained {
            model: policy,
            tokenizer,
            eos_ids,
        } = pretrained::load(&config.policy.path, &device::trainable(&base))
            .context("policy.path")?;
        let reference_path = config
            .policy
            .reference
            .clone()
            .unwrap_or_else(|| config.policy.path.clone());
        let reference = pretrained::load(&reference_path, &device::frozen(&base))
            .context("policy.reference")?
            .model;
        let mut tasks = Vec::new();
        // Tasks naming the same reward-model folder share one copy of it.
        let mut reward_models: HashMap<std::path::PathBuf, std::rc::Rc<LocalRewardModel>> =
            HashMap::new();
        for task in &config.tasks {
            let train =
                read_examples(&task.train).with_context(|| format!("task {}", task.name))?;
            let eval = match &task.eval {
                Some(path) => read_examples(path).with_context(|| format!("task {}", task.name))?,
                None => Vec::new(),
            };
            let source: Box<dyn RewardSource> = match &task.reward {
                RewardConfig::Model { path } => match reward_models.get(path) {
                    Some(model) => Box::new(std::rc::Rc::clone(model)),
                    None => {
                        let model = std::rc::Rc::new(
                            LocalRewardModel::load(path, &device::frozen(&base))
                                .with_context(|| format!("task {}: reward model", task.name))?,
                        );
                        reward_models.insert(path.clone(), std::rc::Rc::clone(&model));
                        Box::new(model)
                    }
                },
                RewardConfig::Remote(remote) => {
                    Box::new(RemoteReward::new(remote.clone(), runtime.clone())?)
                }
            };
            tasks.push(Task {
                config: task.clone(),
                train,
                eval,
                optimizer: build(&task.optimizer),
                rewards: Calibrated::new(source),
                sampled_references: HashMap::new(),
            });
        }
        let o = &config.optimizer;
        let mut adamw = AdamWConfig::new()
            .with_beta_1(o.beta1)
            .with_beta_2(o.beta2)
            .with_weight_decay(o.weight_decay);
        if o.grad_clip > 0.0 {
            adamw = adamw.with_grad_clipping(Some(GradientClippingConfig::Norm(o.grad_clip)));
        }
        let mut optimizer = adamw.init();
        let judges = Judges::new(&config.judge_server, runtime)?;
        let metrics = MetricsWriter::new(&config.output_dir)?;
        let mut policy = policy;
        let mut state = RunState {
            step: 0,
            cursors: config
                .tasks
                .iter()
                .map(|t| (t.name.clone(), Cursor::default()))
                .collect(),
        };
        if resume {
            let (loaded_policy, loaded_optimizer, loaded_state) =
                checkpoint::load_latest(&config.output_dir, policy, optimizer)?
                    .context("--resume: no checkpoint found")?;
            policy = loaded_policy;
            optimizer = loaded_optimizer;
            state = loaded_state;
            metrics.truncate_after(state.step)?;
        } else if metrics.path().exists() {
            std::fs::remove_file(metrics.path())?;
        }
        Ok(Trainer {
            config,
            policy,
            reference,
            tokenizer,
            eos_ids,
            optimizer,
            tasks,
            judges,
            state,
            metrics,
        })
    }

    pub fn step(&self) -> usize {
        self.state.step
    }

    pub fn judge_requests(&self) -> usize {
        self.judges.requests()
    }

    pub fn policy(&self) -> &Model {
        &self.policy
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Runs the remaining steps, evaluating and checkpointing on the configured cadence.
    pub fn run(&mut self, progress: &mut Progress) -> Result<()> {
        let total = self.config.steps;
        while self.state.step < total {
            let records = match self.train_step() {
                Ok(records) => records,
                Err(e) if e.downcast_ref::<JudgeServerDown>().is_some() => {
                    let dir = self.save_checkpoint()?;
                    bail!(
                        "{e:#}\nstopped without training on missing verdicts; checkpoint of step {} saved at {}; rerun with --resume",
                        self.state.step,
                        dir.display()
                    );
                }
                Err(e) => return Err(e),
            };
            let step = self.state.step;
            let mut all = records;
            let eval_every = self.config.eval_every;
            if (eval_every > 0 && step.is_multiple_of(eval_every)) || step == total {
                all.extend(self.evaluate()?);
            }
            let every = self.config.checkpoint_every;
            if (every > 0 && step.is_multiple_of(every)) || step == total {
                self.save_checkpoint()?;
            }
            progress(step, total, &all);
        }
        Ok(())
    }

    pub fn save_checkpoint(&self) -> Result<std::path::PathBuf> {
        checkpoint::save(
            &self.config.output_dir,
            &self.policy,
            &self.optimizer,
            &self.state,
        )
    }

    /// Writes the policy as an HF folder.
    pub fn export(&self, dir: &std::path::Path) -> Result<()> {
        crate::model::hf::export(&self.policy.valid(), dir, safetensors::Dtype::F32, None)?;
        self.tokenizer.save(dir)
    }

    /// Task `t`'s record of a batch at the current step.
    fn record(
        &self,
        kind: RecordKind,
        t: usize,
        figures: &BatchFigures,
        loss: Option<f64>,
        timings: &Timings,
        learning_rate: f64,
    ) -> TaskMetrics {
        let task = &self.tasks[t];
        let (name, optimizer) = (&task.config.name, task.optimizer.name());
        let step = self.state.step;
        TaskMetrics::from_batch(
            kind,
            step,
            name,
            optimizer,
            figures,
            loss,
            timings,
            learning_rate,
        )
    }

    fn reference_text(&mut self, task: usize, index: usize) -> Result<String> {
        if let Some(r) = &self.tasks[task].train[index].reference {
            return Ok(r.clone());
        }
        if let Some(r) = self.tasks[task].sampled_references.get(&index) {
            return Ok(r.clone());
        }
        let prompt = self.tasks[task].train[index]
            .prompt
            .render(&self.tokenizer)?;
        let ids = self.tokenizer.encode(&prompt)?;
        let g = generate(
            &self.reference,
            &self.tokenizer,
            &[ids],
            &[0],
            &SamplingConfig::greedy(self.tasks[task].config.generation.max_new_tokens),
            &self.eos_ids,
        )?;
        let text = g[0].text.clone();
        self.tasks[task]
            .sampled_references
            .insert(index, text.clone());
        Ok(text)
    }
}

/// The judge item of `response` to `example`'s prompt, with the example's metadata.
fn example_item(example: &Example, response: &str) -> Item {
    Item::new(example.prompt.to_judge_prompt(), response).with_metadata(example.metadata.clone())
}

/// What the judges, the reward source and the two models said of a batch's generations.
fn batch_figures<'a>(
    generations: &'a [Generation],
    judged: &'a [Judged],
    rewards: &'a Rewards,
    logp_policy: &'a [f32],
    logp_ref: &'a [f32],
) -> BatchFigures<'a> {
    BatchFigures {
        generations,
        judged,
        raw: &rewards.raw,
        calibrated: &rewards.calibrated,
        logp_policy,
        logp_ref,
    }
}
