//! Supervised fine-tuning: next-token cross-entropy on response tokens only (prompt and padding
//! masked), AdamW. Used to build the experiment's starting policy from demonstrations.

use anyhow::{Result, bail};
use burn::optim::{AdamWConfig, GradientsParams};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::logprobs::{Pair, score};
use crate::model::Model;

#[derive(Clone, Debug, PartialEq)]
pub struct SftConfig {
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

/// Trains `model` (on an autodiff device) on `(prompt ids, response ids)` pairs; the response
/// should end with the EOS token so the model learns to stop. Returns the model and the loss
/// (mean token NLL) of every step.
pub fn train(
    mut model: Model,
    data: &[Pair],
    config: &SftConfig,
    mut progress: impl FnMut(usize, usize, f64),
) -> Result<(Model, Vec<f64>)> {
    if data.is_empty() || config.batch_size == 0 {
        bail!("SFT needs data and a batch size of at least 1");
    }
    let mut optimizer = AdamWConfig::new().with_weight_decay(0.0).init();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut rng);
    let mut offset = 0;
    let mut losses = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        let mut batch = Vec::with_capacity(config.batch_size);
        while batch.len() < config.batch_size {
            if offset == order.len() {
                order.shuffle(&mut rng);
                offset = 0;
            }
            batch.push(data[order[offset]].clone());
            offset += 1;
        }
        let scored = score(&model, &batch)?;
        let tokens: usize = scored.lengths.iter().sum();
        let loss = scored.sums.sum().div_scalar(tokens as f32).neg();
        let value: f32 = loss.clone().detach().into_scalar();
        if !value.is_finite() {
            bail!("SFT loss is {value} at step {step}");
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(config.learning_rate, model, grads);
        losses.push(value as f64);
        progress(step + 1, config.steps, value as f64);
    }
    Ok((model, losses))
}
