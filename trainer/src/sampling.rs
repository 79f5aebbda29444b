//! Batched generation with a KV cache: left-padded prompts of different lengths, temperature,
//! top-k, top-p, EOS and stop strings, one seeded RNG per row, and the log-prob of every
//! sampled token under the distribution it was drawn from.

use anyhow::{Result, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::model::{DecodeHead, KvCache, Model, StepInput};
use crate::tokenizer::TextTokenizer;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingConfig {
    /// 0 means greedy decoding.
    pub temperature: f32,
    /// 1.0 disables nucleus sampling.
    pub top_p: f32,
    /// 0 disables top-k.
    pub top_k: usize,
    pub max_new_tokens: usize,
    /// Generation stops after any of these strings; the text is cut before it.
    pub stop: Vec<String>,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            max_new_tokens: 64,
            stop: Vec::new(),
        }
    }
}

impl SamplingConfig {
    pub fn greedy(max_new_tokens: usize) -> Self {
        SamplingConfig {
            temperature: 0.0,
            max_new_tokens,
            ..Default::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            bail!("temperature must be a finite number >= 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            bail!("top_p must be in (0, 1]");
        }
        if self.max_new_tokens == 0 {
            bail!("max_new_tokens must be at least 1");
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    Eos,
    Stop,
    Length,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// Sampled ids, including the EOS token when generation ended on one.
    pub tokens: Vec<u32>,
    pub text: String,
    /// Log-prob of each sampled token under the (tempered, truncated) sampling distribution.
    pub logprobs: Vec<f32>,
    pub finish: Finish,
}

/// Generates one continuation per prompt. `seeds[i]` drives row i's sampling, so a row's
/// output does not depend on what else is in the batch.
pub fn generate(
    model: &Model,
    tokenizer: &TextTokenizer,
    prompts: &[Vec<u32>],
    seeds: &[u64],
    config: &SamplingConfig,
    eos_ids: &[u32],
) -> Result<Vec<Generation>> {
    check_request(model, prompts, seeds, config)?;
    if prompts.is_empty() {
        return Ok(Vec::new());
    }
    let mut batch = LeftPadded::new(prompts);
    let mut rows: Vec<Row> = seeds.iter().map(|&seed| Row::new(seed)).collect();
    let mut cache = KvCache::new(model.layers.len());
    let head = model.decode_head()?;
    for _ in 0..config.max_new_tokens {
        let logits = batch.next_logits(model, &mut cache, &head)?;
        let vocab = logits.len() / rows.len();
        let next = rows
            .iter_mut()
            .zip(logits.chunks_exact(vocab))
            .map(|(row, logits)| row.advance(logits, config, tokenizer, eos_ids))
            .collect::<Result<Vec<u32>>>()?;
        if rows.iter().all(|row| row.done) {
            break;
        }
        batch.append(&next);
    }
    rows.into_iter()
        .map(|row| row.finish(tokenizer, config))
        .collect()
}

fn check_request(
    model: &Model,
    prompts: &[Vec<u32>],
    seeds: &[u64],
    config: &SamplingConfig,
) -> Result<()> {
    config.validate()?;
    if prompts.len() != seeds.len() {
        bail!("{} prompts but {} seeds", prompts.len(), seeds.len());
    }
    if prompts.iter().any(Vec::is_empty) {
        bail!("every prompt needs at least one token");
    }
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    if longest + config.max_new_tokens > model.config.max_position_embeddings {
        bail!(
            "prompt ({longest} tokens) + max_new_tokens ({}) exceeds the model's {} positions",
            config.max_new_tokens,
            model.config.max_position_embeddings
        );
    }
    Ok(())
}

/// The decoder's next input: first the left-padded prompts (every row's last prompt token in
/// the same column), then one token per row per step.
struct LeftPadded {
    batch: usize,
    tokens: Vec<u32>,
    positions: Vec<usize>,
    /// Per row, which of the keys seen so far are real (not padding).
    key_valid: Vec<Vec<bool>>,
    next_position: Vec<usize>,
}

impl LeftPadded {
    fn new(prompts: &[Vec<u32>]) -> Self {
        let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let mut tokens = Vec::with_capacity(prompts.len() * longest);
        let mut positions = Vec::with_capacity(prompts.len() * longest);
        let mut key_valid = Vec::with_capacity(prompts.len());
        for prompt in prompts {
            let pad = longest - prompt.len();
            tokens.extend(std::iter::repeat_n(0, pad).chain(prompt.iter().copied()));
            positions.extend(std::iter::repeat_n(0, pad).chain(0..prompt.len()));
            key_valid.push(
                std::iter::repeat_n(false, pad)
                    .chain(std::iter::repeat_n(true, prompt.len()))
                    .collect(),
            );
        }
        LeftPadded {
            batch: prompts.len(),
            tokens,
            positions,
            key_valid,
            next_position: prompts.iter().map(Vec::len).collect(),
        }
    }

    /// The last position's logits of every row, on the host, row-major.
    fn next_logits(
        &self,
        model: &Model,
        cache: &mut KvCache,
        head: &DecodeHead,
    ) -> Result<Vec<f32>> {
        let flat_valid: Vec<bool> = self.key_valid.iter().flatten().copied().collect();
        let input = StepInput {
            batch: self.batch,
            tokens: &self.tokens,
            positions: &self.positions,
            key_valid: &flat_valid,
        };
        model
            .next_logits(&input, Some(cache), head)?
            .try_into_vec_as::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    /// Makes `next` (one token per row) the following input.
    fn append(&mut self, next: &[u32]) {
        self.tokens = next.to_vec();
        self.positions = self.next_position.clone();
        for (position, valid) in self.next_position.iter_mut().zip(&mut self.key_valid) {
            *position += 1;
            valid.push(true);
        }
    }
}

/// One row's sampling state.
struct Row {
    rng: ChaCha8Rng,
    generation: Generation,
    done: bool,
}

impl Row {
    fn new(seed: u64) -> Self {
        Row {
            rng: ChaCha8Rng::seed_from_u64(seed),
            generation: Generation {
                tokens: vec![],
                text: String::new(),
                logprobs: vec![],
                finish: Finish::Length,
            },
            done: false,
        }
    }

    /// Draws the row's next token from `logits` (token 0, ignored, once the row is done) and
    /// ends the row on EOS or a stop string.
    fn advance(
        &mut self,
        logits: &[f32],
        config: &SamplingConfig,
        tokenizer: &TextTokenizer,
        eos_ids: &[u32],
    ) -> Result<u32> {
        if self.done {
            return Ok(0);
        }
        let (token, logprob) = pick(logits, config, &mut self.rng);
        let g = &mut self.generation;
        g.tokens.push(token);
        g.logprobs.push(logprob);
        if eos_ids.contains(&token) {
            self.done = true;
            g.finish = Finish::Eos;
        } else if !config.stop.is_empty() {
            let text = tokenizer.decode(&g.tokens)?;
            if config.stop.iter().any(|s| text.contains(s.as_str())) {
                self.done = true;
                g.finish = Finish::Stop;
            }
        }
        Ok(token)
    }

    /// The generation with its text, cut before the first stop string when it ended on one.
    fn finish(self, tokenizer: &TextTokenizer, config: &SamplingConfig) -> Result<Generation> {
        let mut g = self.generation;
        let text = tokenizer.decode(&g.tokens)?;
        g.text = match g.finish {
            Finish::Stop => {
                let cut = config
                    .stop
                    .iter()
                    .filter_map(|s| text.find(s.as_str()))
                    .min()
                    .unwrap_or(text.len());
                text[..cut].to_string()
            }
            _ => text,
        };
        Ok(g)
    }
}

/// Draws one token from `logits` and returns it with its log-prob under the distribution used.
fn pick(logits: &[f32], config: &SamplingConfig, rng: &mut ChaCha8Rng) -> (u32, f32) {
    if config.temperature == 0.0 {
        let (best, _) = logits
            .iter()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |acc, (i, &x)| if x > acc.1 { (i, x) } else { acc },
            );
        return (best as u32, log_softmax_at(logits, best, 1.0));
    }
    let t = config.temperature;
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut candidates: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &x)| (i, (((x - max) / t) as f64).exp()))
        .collect();
    let needs_sort = config.top_k > 0 || config.top_p < 1.0;
    if needs_sort {
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if config.top_k > 0 {
            candidates.truncate(config.top_k);
        }
        if config.top_p < 1.0 {
            let total: f64 = candidates.iter().map(|c| c.1).sum();
            let mut cumulative = 0.0;
            let mut keep = candidates.len();
            for (i, c) in candidates.iter().enumerate() {
                cumulative += c.1 / total;
                if cumulative >= config.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            candidates.truncate(keep);
        }
    }
    let total: f64 = candidates.iter().map(|c| c.1).sum();
    let mut target = rng.random::<f64>() * total;
    let mut chosen = candidates[candidates.len() - 1];
    for c in &candidates {
        if target < c.1 {
            chosen = *c;
            break;
        }
        target -= c.1;
    }
    (chosen.0 as u32, (chosen.1 / total).ln() as f32)
}

fn log_softmax_at(logits: &[f32], index: usize, temperature: f32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits
        .iter()
        .map(|&x| (((x - max) / temperature) as f64).exp())
        .sum();
    (((logits[index] - max) / temperature) as f64 - sum.ln()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_argmax_with_its_log_prob() {
        let (token, lp) = pick(
            &[0.0, 2.0, 1.0],
            &SamplingConfig::greedy(1),
            &mut ChaCha8Rng::seed_from_u64(0),
        );
        assert_eq!(token, 1);
        let expected = 2.0 - (1f64 + 2f64.exp() + 1f64.exp()).ln();
        assert!((lp as f64 - expected).abs() < 1e-6);
    }

    #[test]
    fn top_k_one_is_greedy_with_log_prob_zero() {
        let config = SamplingConfig {
            top_k: 1,
            ..Default::default()
        };
        for seed in 0..20 {
            let (token, lp) = pick(
                &[0.5, 0.1, 3.0, 2.9],
                &config,
                &mut ChaCha8Rng::seed_from_u64(seed),
            );
            assert_eq!((token, lp), (2, 0.0));
        }
    }

    #[test]
    fn top_p_keeps_the_nucleus_and_renormalises() {
        // probabilities ~ [0.643, 0.237, 0.087, 0.032]: top_p 0.8 keeps the first two
        let logits = [3.0, 2.0, 1.0, 0.0];
        let config = SamplingConfig {
            top_p: 0.8,
            ..Default::default()
        };
        let mut seen = [0usize; 4];
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..2000 {
            let (token, lp) = pick(&logits, &config, &mut rng);
            seen[token as usize] += 1;
            let p0 = 1.0 / (1.0 + (-1f64).exp());
            let expected = if token == 0 { p0 } else { 1.0 - p0 };
            assert!((lp as f64 - expected.ln()).abs() < 1e-6);
        }
        assert_eq!(seen[2] + seen[3], 0);
        let share = seen[0] as f64 / 2000.0;
        assert!((share - 0.731).abs() < 0.04, "token 0 share {share}");
    }

    #[test]
    fn temperature_sharpens() {
        let logits = [1.0, 0.0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let cold = SamplingConfig {
            temperature: 0.25,
            ..Default::default()
        };
        let picks = (0..1000)
            .filter(|_| pick(&logits, &cold, &mut rng).0 == 0)
            .count();
        // p0 = sigmoid(4) = 0.982
        assert!(picks > 960, "{picks}");
    }

    #[test]
    fn invalid_settings_are_rejected() {
        assert!(
            SamplingConfig {
                top_p: 0.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            SamplingConfig {
                temperature: -1.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            SamplingConfig {
                max_new_tokens: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
