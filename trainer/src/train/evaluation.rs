//! Evaluation: greedy answers to every task's held-out prompts, judged by the same judges.

use anyhow::Result;
use burn::module::Module;
use std::time::Instant;

use super::{Trainer, batch_figures, example_item};
use crate::config::TaskConfig;
use crate::data::Example;
use crate::judging::Judged;
use crate::logprobs::{Pair, score};
use crate::memory;
use crate::metrics::{EvalSample, RecordKind, TaskMetrics, Timings};
use crate::model::Model;
use crate::rewards::RewardQuery;
use crate::sampling::{Generation, SamplingConfig, generate};

impl Trainer {
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
        let figures = batch_figures(&generations, &judged, &rewards, &logp_policy, &logp_ref);
        let timings = Timings {
            generation: time_generation,
            judging: time_judging,
            total: started.elapsed().as_secs_f64(),
            ..Timings::default()
        };
        Ok(Some(self.record(
            RecordKind::Eval,
            t,
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
