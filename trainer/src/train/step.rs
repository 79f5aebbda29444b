//! One training step: for every task, sample, judge, score and accumulate its weighted
//! gradient; then one AdamW step on the shared policy.

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use judge_api::{Item, Verdict};
use std::time::Instant;

use super::{Trainer, batch_figures, derive_seed, example_item, name_hash};
use crate::config::TaskConfig;
use crate::judging::Judged;
use crate::logprobs::{Pair, score};
use crate::memory;
use crate::metrics::{RecordKind, TaskMetrics, Timings};
use crate::model::Model;
use crate::optim::{Group, LossPlan, Reference, Sample, Seq, loss::loss};
use crate::rewards::RewardQuery;
use crate::rewards::calibrated::Rewards;
use crate::sampling::{Generation, generate};

impl Trainer {
    pub(super) fn train_step(&mut self) -> Result<Vec<TaskMetrics>> {
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
        let figures = batch_figures(
            &batch.generations,
            &judged,
            &rewards,
            &logp_policy,
            &logp_ref,
        );
        let timings = Timings {
            generation: time_generation,
            judging: time_judging,
            reward: time_reward,
            update: time_update,
            total: started.elapsed().as_secs_f64(),
        };
        Ok(self.record(RecordKind::Train, t, &figures, task_loss, &timings, lr))
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
