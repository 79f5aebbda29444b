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
use crate::judging::{JudgeServerDown, Judged, Judges};
use crate::logprobs::{Pair, score};
use crate::metrics::{BatchFigures, EvalSample, MetricsWriter, RecordKind, TaskMetrics, Timings};
use crate::model::Model;
use crate::optim::{Group, LossPlan, PolicyOptimizer, Reference, Sample, Seq, build, loss::loss};
use crate::pretrained::{self, Pretrained};
use crate::rewards::calibrated::{Calibrated, Rewards};
use crate::rewards::model::LocalRewardModel;
use crate::rewards::remote::RemoteReward;
use crate::rewards::{RewardConfig, RewardQuery, RewardSource};
use crate::sampling::{Generation, SamplingConfig, generate};
use crate::tokenizer::TextTokenizer;
use crate::{device, memory};

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
        let peak = memory::Peak::start();
        let frozen = self.policy.valid();
        let mut accumulator = GradientsAccumulator::<Model>::new();
        let mut records = Vec::new();
        let mut any_gradient = false;
        for t in 0..self.tasks.len() {
            let record = self.task_step(t, lr, &frozen, &mut accumulator)?;
            any_gradient |= record.loss.is_some();
            records.push(record);
        }
        if any_gradient {
            let grads = accumulator.grads();
            self.policy = self.optimizer.step(lr, self.policy.clone(), grads);
        }
        self.state.step += 1;
        let peak = peak.mib();
        for r in &mut records {
            r.step = self.state.step;
            r.peak_rss_mib = peak;
            self.metrics.write(r)?;
        }
        Ok(records)
    }

    /// Task `t`'s part of the step: sample, judge, score, and accumulate its weighted gradient
    /// (a record with a loss when it contributed one).
    fn task_step(
        &mut self,
        t: usize,
        lr: f64,
        frozen: &Model,
        accumulator: &mut GradientsAccumulator<Model>,
    ) -> Result<TaskMetrics> {
        let started = Instant::now();
        let cfg = self.tasks[t].config.clone();
        // 1. generation: K samples per prompt, one batch, seeded per row
        let batch = self.sample(t, &cfg, frozen)?;
        let time_generation = started.elapsed().as_secs_f64();
        // 2. references (dataset or the reference model's greedy answer)
        let references = batch
            .picked
            .iter()
            .map(|&i| self.reference_text(t, i))
            .collect::<Result<Vec<_>>>()?;
        // 3. judges: samples (and, for CRRAFT's fallback, the references) in ONE request
        let judged_started = Instant::now();
        let with_references = self.tasks[t].optimizer.needs_reference();
        let (judged, reference_verdicts) =
            self.judge_batch(t, &cfg, &batch, &references, with_references)?;
        let time_judging = judged_started.elapsed().as_secs_f64();
        // 4. rewards
        let reward_started = Instant::now();
        let rewards = self.score_rewards(t, &batch, &references)?;
        let time_reward = reward_started.elapsed().as_secs_f64();
        // 5. log-probs at sampling time, policy and reference (no graph)
        let update_started = Instant::now();
        let logp_policy = score(frozen, &batch.pairs)?.host_sums();
        let logp_ref = score(&self.reference, &batch.pairs)?.host_sums();
        let reference_batch = match reference_verdicts {
            Some(verdicts) => Some(self.reference_batch(&batch, &references, verdicts)?),
            None => None,
        };
        let sampled = SampledFigures {
            judged: &judged,
            rewards: &rewards,
            logp_policy: &logp_policy,
            logp_ref: &logp_ref,
        };
        let groups = groups(&batch, &sampled, reference_batch.as_ref());
        // 6. the task loss, with graph, and its ρ-weighted gradient
        let plan = self.tasks[t].optimizer.plan(&groups);
        let task_loss =
            self.accumulate_loss(&cfg, &plan, &batch, reference_batch.as_ref(), accumulator)?;
        let time_update = update_started.elapsed().as_secs_f64();
        let figures = BatchFigures {
            generations: &batch.generations,
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
        let step = self.state.step;
        Ok(TaskMetrics::from_batch(
            RecordKind::Train,
            step,
            name,
            optimizer,
            &figures,
            task_loss,
            &timings,
            lr,
        ))
    }

    /// The task's next prompts and K samples of each from the frozen policy, every row seeded
    /// by (run seed, step, task, prompt, sample) so a resumed run draws the same.
    fn sample(&mut self, t: usize, cfg: &TaskConfig, frozen: &Model) -> Result<Batch> {
        let step = self.state.step;
        let n_train = self.tasks[t].train.len();
        let cursor = self.state.cursors.entry(cfg.name.clone()).or_default();
        let picked = cursor.take(
            cfg.prompts_per_step,
            n_train,
            derive_seed(&[self.config.seed, name_hash(&cfg.name)]),
        );
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
            frozen,
            &self.tokenizer,
            &rows,
            &seeds,
            &cfg.generation,
            &self.eos_ids,
        )?;
        let pairs = generations
            .iter()
            .enumerate()
            .map(|(r, g)| Pair {
                prompt: prompt_ids[r / k].clone(),
                response: g.tokens.clone(),
            })
            .collect();
        Ok(Batch {
            picked,
            k,
            prompt_texts,
            prompt_ids,
            generations,
            pairs,
        })
    }

    /// The samples' verdicts, and the references' when `with_references`, from one request.
    fn judge_batch(
        &self,
        t: usize,
        cfg: &TaskConfig,
        batch: &Batch,
        references: &[String],
        with_references: bool,
    ) -> Result<(Vec<Judged>, Option<Vec<Verdict>>)> {
        let mut items: Vec<Item> = batch
            .generations
            .iter()
            .enumerate()
            .map(|(r, g)| self.item(t, batch.picked[r / batch.k], &g.text))
            .collect();
        if with_references {
            for (&i, reference) in batch.picked.iter().zip(references) {
                items.push(self.item(t, i, reference));
            }
        }
        let mut judged = self.judges.judge(cfg, items)?;
        let reference_verdicts = with_references.then(|| {
            judged
                .split_off(batch.generations.len())
                .into_iter()
                .map(|j| j.verdict)
                .collect()
        });
        Ok((judged, reference_verdicts))
    }

    /// The reward source's raw and calibrated scores of every sample.
    fn score_rewards(&mut self, t: usize, batch: &Batch, references: &[String]) -> Result<Rewards> {
        let k = batch.k;
        let queries: Vec<RewardQuery> = batch
            .generations
            .iter()
            .enumerate()
            .map(|(r, g)| RewardQuery {
                prompt: batch.prompt_texts[r / k].clone(),
                response: g.text.clone(),
            })
            .collect();
        let refs_per_sample: Vec<String> = (0..batch.generations.len())
            .map(|r| references[r / k].clone())
            .collect();
        self.tasks[t].rewards.score(&queries, &refs_per_sample)
    }

    /// The references as sequences (ending in EOS) with their reference-model log-probs.
    fn reference_batch(
        &self,
        batch: &Batch,
        references: &[String],
        verdicts: Vec<Verdict>,
    ) -> Result<ReferenceBatch> {
        let pairs: Vec<Pair> = batch
            .prompt_ids
            .iter()
            .zip(references)
            .map(|(prompt, reference)| -> Result<Pair> {
                let mut response = self.tokenizer.encode(reference)?;
                response.extend(self.eos_ids.first());
                Ok(Pair {
                    prompt: prompt.clone(),
                    response,
                })
            })
            .collect::<Result<_>>()?;
        let logp_ref = if pairs.is_empty() {
            vec![]
        } else {
            score(&self.reference, &pairs)?.host_sums()
        };
        Ok(ReferenceBatch {
            verdicts,
            pairs,
            logp_ref,
        })
    }

    /// Builds `plan`'s loss on the policy (with graph) and accumulates its gradient, scaled by
    /// the task's weight ρ. Returns the loss, or `None` when the plan had nothing to learn.
    fn accumulate_loss(
        &self,
        cfg: &TaskConfig,
        plan: &LossPlan,
        batch: &Batch,
        references: Option<&ReferenceBatch>,
        accumulator: &mut GradientsAccumulator<Model>,
    ) -> Result<Option<f64>> {
        let seqs = plan.sequences();
        if seqs.is_empty() {
            return Ok(None);
        }
        let seq_pairs: Vec<Pair> = seqs
            .iter()
            .map(|s| match *s {
                Seq::Sample { group, index } => Ok(batch.pairs[group * batch.k + index].clone()),
                Seq::Reference { group } => references
                    .map(|r| r.pairs[group].clone())
                    .context("the plan names a reference the batch does not have"),
            })
            .collect::<Result<_>>()?;
        let logp = score(&self.policy, &seq_pairs)?.sums;
        let Some(l) = loss(plan, &seqs, logp, &self.policy.device())? else {
            return Ok(None);
        };
        let value: f32 = l.clone().detach().into_scalar();
        if !value.is_finite() {
            bail!(
                "task {}: the loss is {value} at step {}",
                cfg.name,
                self.state.step
            );
        }
        let grads = GradientsParams::from_grads(l.mul_scalar(cfg.weight).backward(), &self.policy);
        accumulator.accumulate(&self.policy, grads);
        Ok(Some(value as f64))
    }

    fn item(&self, task: usize, index: usize, response: &str) -> Item {
        example_item(&self.tasks[task].train[index], response)
    }

    /// Greedy decoding on held-out prompts of every task, judged by the same judges.
    pub fn evaluate(&mut self) -> Result<Vec<TaskMetrics>> {
        let peak = memory::Peak::start();
        let frozen = self.policy.valid();
        let mut out = Vec::new();
        for t in 0..self.tasks.len() {
            if let Some(record) = self.evaluate_task(t, &frozen)? {
                out.push(record);
            }
        }
        let peak = peak.mib();
        for record in &mut out {
            record.peak_rss_mib = peak;
            self.metrics.write(record)?;
        }
        Ok(out)
    }

    /// Task `t`'s held-out record (its first `eval_prompts`, all when 0); `None` without any.
    fn evaluate_task(&mut self, t: usize, frozen: &Model) -> Result<Option<TaskMetrics>> {
        let started = Instant::now();
        let cfg = self.tasks[t].config.clone();
        let limit = match cfg.eval_prompts {
            0 => usize::MAX,
            n => n,
        };
        let examples: Vec<Example> = self.tasks[t].eval.iter().take(limit).cloned().collect();
        if examples.is_empty() {
            return Ok(None);
        }
        let (texts, generations, pairs) = self.greedy(frozen, &cfg, &examples)?;
        let time_generation = started.elapsed().as_secs_f64();
        let judge_started = Instant::now();
        let items = examples
            .iter()
            .zip(&generations)
            .map(|(e, g)| example_item(e, &g.text))
            .collect();
        let judged = self.judges.judge(&cfg, items)?;
        let time_judging = judge_started.elapsed().as_secs_f64();
        let samples = eval_samples(self.state.step, &cfg.name, &texts, &generations, &judged);
        self.metrics.write_samples(&samples)?;
        let queries: Vec<RewardQuery> = texts
            .into_iter()
            .zip(&generations)
            .map(|(prompt, g)| RewardQuery {
                prompt,
                response: g.text.clone(),
            })
            .collect();
        let references: Vec<String> = examples
            .iter()
            .zip(&generations)
            .map(|(e, g)| e.reference.clone().unwrap_or_else(|| g.text.clone()))
            .collect();
        let rewards = self.tasks[t].rewards.score(&queries, &references)?;
        let logp_policy = score(frozen, &pairs)?.host_sums();
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
        let step = self.state.step;
        Ok(Some(TaskMetrics::from_batch(
            RecordKind::Eval,
            step,
            name,
            optimizer,
            &figures,
            None,
            &timings,
            0.0,
        )))
    }

    /// Greedy answers of `frozen` to `examples`: the rendered prompts, the generations and the
    /// (prompt, response) token pairs.
    fn greedy(
        &self,
        frozen: &Model,
        cfg: &TaskConfig,
        examples: &[Example],
    ) -> Result<(Vec<String>, Vec<Generation>, Vec<Pair>)> {
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
            frozen,
            &self.tokenizer,
            &ids,
            &seeds,
            &greedy,
            &self.eos_ids,
        )?;
        let pairs = ids
            .into_iter()
            .zip(&generations)
            .map(|(prompt, g)| Pair {
                prompt,
                response: g.tokens.clone(),
            })
            .collect();
        Ok((texts, generations, pairs))
    }
}

/// The held-out answers of one evaluation, as `samples.jsonl` keeps them.
fn eval_samples(
    step: usize,
    task: &str,
    prompts: &[String],
    generations: &[Generation],
    judged: &[Judged],
) -> Vec<EvalSample> {
    prompts
        .iter()
        .zip(generations)
        .zip(judged)
        .map(|((prompt, g), j)| EvalSample {
            step,
            task: task.to_owned(),
            prompt: prompt.clone(),
            response: g.text.clone(),
            finish: g.finish,
            verdict: j.verdict,
        })
        .collect()
}

/// The judge item of `response` to `example`'s prompt, with the example's metadata.
fn example_item(example: &Example, response: &str) -> Item {
    Item::new(example.prompt.to_judge_prompt(), response).with_metadata(example.metadata.clone())
}

/// One task's prompts of a step and their K samples each (rows prompt-major).
struct Batch {
    picked: Vec<usize>,
    k: usize,
    prompt_texts: Vec<String>,
    prompt_ids: Vec<Vec<u32>>,
    generations: Vec<Generation>,
    /// (prompt, response tokens) per row, as the log-prob scorer takes them.
    pairs: Vec<Pair>,
}

/// The references of a batch's prompts, for CRRAFT's fallback.
struct ReferenceBatch {
    verdicts: Vec<Verdict>,
    pairs: Vec<Pair>,
    logp_ref: Vec<f32>,
}

/// What the judges, the reward source and the two models said of every sample.
struct SampledFigures<'a> {
    judged: &'a [Judged],
    rewards: &'a Rewards,
    logp_policy: &'a [f32],
    logp_ref: &'a [f32],
}

/// The optimizer's view of the batch: one group per prompt.
fn groups(
    batch: &Batch,
    figures: &SampledFigures,
    references: Option<&ReferenceBatch>,
) -> Vec<Group> {
    let k = batch.k;
    (0..batch.picked.len())
        .map(|j| Group {
            samples: (j * k..(j + 1) * k)
                .map(|r| Sample {
                    verdict: figures.judged[r].verdict,
                    reward: figures.rewards.raw[r],
                    calibrated: figures.rewards.calibrated[r],
                    logp_policy: figures.logp_policy[r],
                    logp_ref: figures.logp_ref[r],
                    len: batch.generations[r].tokens.len(),
                })
                .collect(),
            reference: references.map(|refs| Reference {
                verdict: refs.verdicts[j],
                logp_ref: refs.logp_ref[j],
                len: refs.pairs[j].response.len(),
            }),
        })
        .collect()
}
