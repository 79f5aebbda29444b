//! One CGPO training run: for every step and task, sample prompts, generate K responses each,
//! judge the batch in one request, score rewards, build the task's loss with its optimizer and
//! accumulate ρ-weighted gradients; then one AdamW step on the shared policy.

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use judge_api::{Item, Verdict};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::checkpoint::{self, Cursor, RunState};
use crate::config::{TaskConfig, TrainConfig};
use crate::data::{Example, read_examples};
use crate::device;
use crate::judging::{JudgeServerDown, Judges};
use crate::logprobs::{Pair, score};
use crate::metrics::{BatchFigures, MetricsWriter, TaskMetrics, Timings};
use crate::model::Model;
use crate::optim::{Group, PolicyOptimizer, Reference, Sample, Seq, build, loss::loss};
use crate::pretrained::{self, Pretrained};
use crate::rewards::calibrated::Calibrated;
use crate::rewards::model::LocalRewardModel;
use crate::rewards::remote::RemoteReward;
use crate::rewards::{RewardConfig, RewardQuery, RewardSource};
use crate::sampling::{SamplingConfig, generate};
use crate::tokenizer::TextTokenizer;

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
        for task in &config.tasks {
            let train =
                read_examples(&task.train).with_context(|| format!("task {}", task.name))?;
            let eval = match &task.eval {
                Some(path) => read_examples(path).with_context(|| format!("task {}", task.name))?,
                None => Vec::new(),
            };
            let source: Box<dyn RewardSource> = match &task.reward {
                RewardConfig::Model { path } => Box::new(
                    LocalRewardModel::load(path, &device::frozen(&base))
                        .with_context(|| format!("task {}: reward model", task.name))?,
                ),
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

    fn train_step(&mut self) -> Result<Vec<TaskMetrics>> {
        let step = self.state.step;
        let lr = self
            .config
            .optimizer
            .learning_rate_at(step, self.config.steps);
        let frozen = self.policy.valid();
        let mut accumulator = GradientsAccumulator::<Model>::new();
        let mut records = Vec::new();
        let mut any_gradient = false;
        for t in 0..self.tasks.len() {
            let started = Instant::now();
            let (cfg, n_train) = (self.tasks[t].config.clone(), self.tasks[t].train.len());
            let cursor = self.state.cursors.entry(cfg.name.clone()).or_default();
            let picked = cursor.take(
                cfg.prompts_per_step,
                n_train,
                derive_seed(&[self.config.seed, name_hash(&cfg.name)]),
            );
            // 1. generation: K samples per prompt, one batch, seeded per row
            let mut prompt_texts = Vec::new();
            let mut prompt_ids = Vec::new();
            for &i in &picked {
                let text = self.tasks[t].train[i].prompt.render(&self.tokenizer)?;
                prompt_ids.push(self.tokenizer.encode(&text)?);
                prompt_texts.push(text);
            }
            let k = cfg.samples_per_prompt;
            let rows: Vec<Vec<u32>> = prompt_ids
                .iter()
                .flat_map(|ids| std::iter::repeat_n(ids.clone(), k))
                .collect();
            let seeds: Vec<u64> = (0..rows.len())
                .map(|r| {
                    derive_seed(&[
                        self.config.seed,
                        step as u64,
                        name_hash(&cfg.name),
                        picked[r / k] as u64,
                        (r % k) as u64,
                    ])
                })
                .collect();
            let generations = generate(
                &frozen,
                &self.tokenizer,
                &rows,
                &seeds,
                &cfg.generation,
                &self.eos_ids,
            )?;
            let time_generation = started.elapsed().as_secs_f64();

            // 2. references (dataset or the reference model's greedy answer)
            let mut references = Vec::new();
            for &i in &picked {
                references.push(self.reference_text(t, i)?);
            }
            // 3. judges: samples (and, for CRRAFT's fallback, the references) in ONE request
            let judged_started = Instant::now();
            let with_references =
                matches!(cfg.optimizer, crate::optim::OptimizerConfig::Crraft { .. });
            let mut items: Vec<Item> = generations
                .iter()
                .enumerate()
                .map(|(r, g)| self.item(t, picked[r / k], &g.text))
                .collect();
            if with_references {
                for (j, &i) in picked.iter().enumerate() {
                    items.push(self.item(t, i, &references[j]));
                }
            }
            let mut judged = self.judges.judge(&cfg, items)?;
            let reference_verdicts: Vec<Verdict> = if with_references {
                judged
                    .split_off(generations.len())
                    .into_iter()
                    .map(|j| j.verdict)
                    .collect()
            } else {
                vec![]
            };
            let time_judging = judged_started.elapsed().as_secs_f64();

            // 4. rewards
            let reward_started = Instant::now();
            let queries: Vec<RewardQuery> = generations
                .iter()
                .enumerate()
                .map(|(r, g)| RewardQuery {
                    prompt: prompt_texts[r / k].clone(),
                    response: g.text.clone(),
                })
                .collect();
            let refs_per_sample: Vec<String> = (0..generations.len())
                .map(|r| references[r / k].clone())
                .collect();
            let rewards = self.tasks[t].rewards.score(&queries, &refs_per_sample)?;
            let time_reward = reward_started.elapsed().as_secs_f64();

            // 5. log-probs at sampling time, policy and reference (no graph)
            let update_started = Instant::now();
            let pairs: Vec<Pair> = generations
                .iter()
                .enumerate()
                .map(|(r, g)| Pair {
                    prompt: prompt_ids[r / k].clone(),
                    response: g.tokens.clone(),
                })
                .collect();
            let logp_policy = score(&frozen, &pairs)?.host_sums();
            let logp_ref = score(&self.reference, &pairs)?.host_sums();
            let reference_pairs: Vec<Pair> = if with_references {
                picked
                    .iter()
                    .enumerate()
                    .map(|(j, _)| -> Result<Pair> {
                        let mut response = self.tokenizer.encode(&references[j])?;
                        response.extend(self.eos_ids.first());
                        Ok(Pair {
                            prompt: prompt_ids[j].clone(),
                            response,
                        })
                    })
                    .collect::<Result<_>>()?
            } else {
                vec![]
            };
            let reference_logp_ref = if reference_pairs.is_empty() {
                vec![]
            } else {
                score(&self.reference, &reference_pairs)?.host_sums()
            };
            let groups: Vec<Group> = (0..picked.len())
                .map(|j| Group {
                    samples: (j * k..(j + 1) * k)
                        .map(|r| Sample {
                            verdict: judged[r].verdict,
                            reward: rewards.raw[r],
                            calibrated: rewards.calibrated[r],
                            logp_policy: logp_policy[r],
                            logp_ref: logp_ref[r],
                            len: generations[r].tokens.len(),
                        })
                        .collect(),
                    reference: with_references.then(|| Reference {
                        verdict: reference_verdicts[j],
                        logp_ref: reference_logp_ref[j],
                        len: reference_pairs[j].response.len(),
                    }),
                })
                .collect();

            // 6. the task loss, with graph, and its ρ-weighted gradient
            let plan = self.tasks[t].optimizer.plan(&groups);
            let seqs = plan.sequences();
            let mut task_loss = None;
            if !seqs.is_empty() {
                let seq_pairs: Vec<Pair> = seqs
                    .iter()
                    .map(|s| match *s {
                        Seq::Sample { group, index } => pairs[group * k + index].clone(),
                        Seq::Reference { group } => reference_pairs[group].clone(),
                    })
                    .collect();
                let logp = score(&self.policy, &seq_pairs)?.sums;
                if let Some(l) = loss(&plan, &seqs, logp, &self.policy.device())? {
                    let value: f32 = l.clone().detach().into_scalar();
                    if !value.is_finite() {
                        bail!("task {}: the loss is {value} at step {step}", cfg.name);
                    }
                    task_loss = Some(value as f64);
                    let grads = GradientsParams::from_grads(
                        l.mul_scalar(cfg.weight).backward(),
                        &self.policy,
                    );
                    accumulator.accumulate(&self.policy, grads);
                    any_gradient = true;
                }
            }
            let time_update = update_started.elapsed().as_secs_f64();
            let figures = BatchFigures {
                generations: &generations,
                judged: &judged,
                raw: &rewards.raw,
                calibrated: &rewards.calibrated,
                logp_policy: &logp_policy,
                logp_ref: &logp_ref,
            };
            let timings = Timings {
                generation: time_generation,
                judging: time_judging,
                reward: time_reward,
                update: time_update,
                total: started.elapsed().as_secs_f64(),
            };
            let (name, optimizer) = (&cfg.name, self.tasks[t].optimizer.name());
            records.push(TaskMetrics::from_batch(
                "train", step, name, optimizer, &figures, task_loss, &timings, lr,
            ));
        }
        if any_gradient {
            let grads = accumulator.grads();
            self.policy = self.optimizer.step(lr, self.policy.clone(), grads);
        }
        self.state.step += 1;
        for r in &mut records {
            r.step = self.state.step;
            self.metrics.write(r)?;
        }
        Ok(records)
    }

    fn item(&self, task: usize, index: usize, response: &str) -> Item {
        let example = &self.tasks[task].train[index];
        Item::new(example.prompt.to_judge_prompt(), response)
            .with_metadata(example.metadata.clone())
    }

    /// Greedy decoding on held-out prompts of every task, judged by the same judges.
    pub fn evaluate(&mut self) -> Result<Vec<TaskMetrics>> {
        let frozen = self.policy.valid();
        let mut out = Vec::new();
        for t in 0..self.tasks.len() {
            let started = Instant::now();
            let cfg = self.tasks[t].config.clone();
            let limit = if cfg.eval_prompts == 0 {
                usize::MAX
            } else {
                cfg.eval_prompts
            };
            let examples: Vec<Example> = self.tasks[t].eval.iter().take(limit).cloned().collect();
            if examples.is_empty() {
                continue;
            }
            let texts = examples
                .iter()
                .map(|e| e.prompt.render(&self.tokenizer))
                .collect::<Result<Vec<_>>>()?;
            let ids = texts
                .iter()
                .map(|t| self.tokenizer.encode(t))
                .collect::<Result<Vec<_>>>()?;
            let greedy = SamplingConfig {
                temperature: 0.0,
                ..cfg.generation.clone()
            };
            let seeds = vec![0; ids.len()];
            let generations = generate(
                &frozen,
                &self.tokenizer,
                &ids,
                &seeds,
                &greedy,
                &self.eos_ids,
            )?;
            let time_generation = started.elapsed().as_secs_f64();
            let judge_started = Instant::now();
            let items = examples
                .iter()
                .zip(&generations)
                .map(|(e, g)| {
                    Item::new(e.prompt.to_judge_prompt(), g.text.clone())
                        .with_metadata(e.metadata.clone())
                })
                .collect();
            let judged = self.judges.judge(&cfg, items)?;
            let time_judging = judge_started.elapsed().as_secs_f64();
            let queries: Vec<RewardQuery> = texts
                .iter()
                .zip(&generations)
                .map(|(p, g)| RewardQuery {
                    prompt: p.clone(),
                    response: g.text.clone(),
                })
                .collect();
            let references: Vec<String> = examples
                .iter()
                .zip(&generations)
                .map(|(e, g)| e.reference.clone().unwrap_or_else(|| g.text.clone()))
                .collect();
            let rewards = self.tasks[t].rewards.score(&queries, &references)?;
            let pairs: Vec<Pair> = ids
                .iter()
                .zip(&generations)
                .map(|(p, g)| Pair {
                    prompt: p.clone(),
                    response: g.tokens.clone(),
                })
                .collect();
            let logp_policy = score(&frozen, &pairs)?.host_sums();
            let logp_ref = score(&self.reference, &pairs)?.host_sums();
            let figures = BatchFigures {
                generations: &generations,
                judged: &judged,
                raw: &rewards.raw,
                calibrated: &rewards.calibrated,
                logp_policy: &logp_policy,
                logp_ref: &logp_ref,
            };
            let timings = Timings {
                generation: time_generation,
                judging: time_judging,
                total: started.elapsed().as_secs_f64(),
                ..Timings::default()
            };
            let (name, optimizer) = (&cfg.name, self.tasks[t].optimizer.name());
            let record = TaskMetrics::from_batch(
                "eval",
                self.state.step,
                name,
                optimizer,
                &figures,
                None,
                &timings,
                0.0,
            );
            self.metrics.write(&record)?;
            out.push(record);
        }
        Ok(out)
    }
}
