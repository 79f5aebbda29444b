//! `trainer reward-model train`: Bradley-Terry training of a [`RewardModel`] on preference pairs,
//! `loss = -log σ(r(chosen) - r(rejected))`, with pairwise accuracy on a held-out split.

use anyhow::{Result, bail};
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams};
use burn::tensor::activation::log_sigmoid;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::model::RewardModel;
use crate::data::PreferencePair;
use crate::tokenizer::TextTokenizer;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BradleyTerryConfig {
    pub epochs: usize,
    pub learning_rate: f64,
    pub batch_size: usize,
    /// Pairs per forward and backward pass; a batch's gradients are summed over its
    /// micro-batches before the one optimizer step, so activations (which dominate memory for
    /// a pretrained body) are held for this many pairs at a time, not the whole batch.
    pub micro_batch: usize,
    /// Share of pairs kept out of training to measure accuracy.
    pub holdout: f64,
    pub seed: u64,
}

impl Default for BradleyTerryConfig {
    fn default() -> Self {
        BradleyTerryConfig {
            epochs: 2,
            learning_rate: 1e-3,
            batch_size: 16,
            micro_batch: 2,
            holdout: 0.1,
            seed: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BradleyTerryReport {
    pub train_pairs: usize,
    pub heldout_pairs: usize,
    /// Mean loss per epoch.
    pub epoch_loss: Vec<f64>,
    pub train_accuracy: f64,
    pub heldout_accuracy: f64,
}

struct TokenizedPair {
    chosen: Vec<u32>,
    rejected: Vec<u32>,
}

/// Trains `model` (on an autodiff device) and reports. `progress` is called after every batch
/// with (batch index, batches in all, mean loss of the batch).
pub fn train(
    mut model: RewardModel,
    tokenizer: &TextTokenizer,
    pairs: &[PreferencePair],
    config: &BradleyTerryConfig,
    mut progress: impl FnMut(usize, usize, f64),
) -> Result<(RewardModel, BradleyTerryReport)> {
    if pairs.len() < 2 {
        bail!("need at least 2 preference pairs, got {}", pairs.len());
    }
    if !(0.0..1.0).contains(&config.holdout)
        || config.batch_size == 0
        || config.micro_batch == 0
        || config.epochs == 0
    {
        bail!("holdout must be in [0, 1), batch_size, micro_batch and epochs at least 1");
    }
    let mut tokenized = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let prompt = pair.prompt.render(tokenizer)?;
        tokenized.push(TokenizedPair {
            chosen: tokenizer.encode(&format!("{prompt}{}", pair.chosen))?,
            rejected: tokenizer.encode(&format!("{prompt}{}", pair.rejected))?,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..tokenized.len()).collect();
    order.shuffle(&mut rng);
    let heldout_n = ((tokenized.len() as f64) * config.holdout).round() as usize;
    let (heldout, train_idx) = order.split_at(heldout_n);
    let mut train_idx = train_idx.to_vec();
    let mut optimizer = AdamWConfig::new().with_weight_decay(0.0).init();
    let batches_per_epoch = train_idx.len().div_ceil(config.batch_size);
    let total = batches_per_epoch * config.epochs;
    let mut epoch_loss = Vec::new();
    let mut step = 0;
    for _ in 0..config.epochs {
        train_idx.shuffle(&mut rng);
        let mut sum = 0.0;
        for chunk in train_idx.chunks(config.batch_size) {
            let (grads, loss) = batch_gradients(&model, &tokenized, chunk, config.micro_batch)?;
            model = optimizer.step(config.learning_rate, model, grads);
            sum += loss * chunk.len() as f64;
            step += 1;
            progress(step, total, loss);
        }
        epoch_loss.push(sum / train_idx.len().max(1) as f64);
    }
    // Scored without autodiff: a forward pass on the autodiff device that no backward pass
    // consumes keeps its graph, so scoring the training pairs that way held every batch's
    // activations (15.6 GB for the full from-scratch preset, against 0.4 GB for training).
    let scorer = model.valid();
    let train_accuracy = accuracy(&scorer, &tokenized, &train_idx, config.batch_size)?;
    let heldout_accuracy = accuracy(&scorer, &tokenized, heldout, config.batch_size)?;
    let report = BradleyTerryReport {
        train_pairs: train_idx.len(),
        heldout_pairs: heldout.len(),
        epoch_loss,
        train_accuracy,
        heldout_accuracy,
    };
    Ok((model, report))
}

/// The gradient of a batch's mean loss and that loss, from forward and backward passes over
/// `micro_batch` pairs at a time (each micro-batch's loss scaled by its share of the batch).
fn batch_gradients(
    model: &RewardModel,
    tokenized: &[TokenizedPair],
    batch: &[usize],
    micro_batch: usize,
) -> Result<(GradientsParams, f64)> {
    let mut accumulator = GradientsAccumulator::<RewardModel>::new();
    let mut loss_sum = 0.0;
    for micro in batch.chunks(micro_batch) {
        let rows: Vec<Vec<u32>> = micro
            .iter()
            .flat_map(|&i| [tokenized[i].chosen.clone(), tokenized[i].rejected.clone()])
            .collect();
        let rewards = model.forward(&rows)?;
        let n = micro.len();
        let paired = rewards.reshape([n, 2]);
        let chosen = paired.clone().slice([0..n, 0..1]);
        let rejected = paired.slice([0..n, 1..2]);
        let loss = log_sigmoid(chosen - rejected).sum().neg() / batch.len() as f32;
        let value: f32 = loss.clone().detach().into_scalar();
        loss_sum += value as f64;
        accumulator.accumulate(model, GradientsParams::from_grads(loss.backward(), model));
    }
    Ok((accumulator.grads(), loss_sum))
}

/// Share of pairs where the chosen response gets the higher reward.
fn accuracy(
    model: &RewardModel,
    pairs: &[TokenizedPair],
    subset: &[usize],
    batch: usize,
) -> Result<f64> {
    if subset.is_empty() {
        return Ok(f64::NAN);
    }
    let mut right = 0usize;
    for chunk in subset.chunks(batch) {
        let rows: Vec<Vec<u32>> = chunk
            .iter()
            .flat_map(|&i| [pairs[i].chosen.clone(), pairs[i].rejected.clone()])
            .collect();
        let rewards = model
            .forward(&rows)?
            .detach()
            .try_into_vec_as::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        right += rewards.chunks(2).filter(|r| r[0] > r[1]).count();
    }
    Ok(right as f64 / subset.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::PromptSpec;
    use crate::model::{Model, ModelConfig};
    use burn::tensor::Device;

    #[test]
    fn learns_a_separable_preference_and_reports_held_out_accuracy() {
        let tokenizer = TextTokenizer::byte_level().unwrap();
        let mut config = ModelConfig::tiny(tokenizer.vocab_size());
        config.num_hidden_layers = 1;
        let body = Model::random(&config, 0, &Device::flex().autodiff()).unwrap();
        let score = burn::module::Param::from_tensor(burn::tensor::Tensor::zeros(
            [config.hidden_size, 1],
            &Device::flex().autodiff(),
        ));
        let model = RewardModel { body, score };
        // chosen responses are shouting, rejected ones whisper
        let pairs: Vec<PreferencePair> = (0..40)
            .map(|i| PreferencePair {
                prompt: PromptSpec::Text(format!("say {i}")),
                chosen: "YES!!".into(),
                rejected: "no.".into(),
            })
            .collect();
        let config = BradleyTerryConfig {
            epochs: 3,
            learning_rate: 1e-2,
            batch_size: 8,
            holdout: 0.25,
            seed: 1,
            ..BradleyTerryConfig::default()
        };
        let mut steps = 0;
        let (_, report) = train(model, &tokenizer, &pairs, &config, |_, _, _| steps += 1).unwrap();
        assert_eq!((report.train_pairs, report.heldout_pairs), (30, 10));
        assert_eq!(steps, 3 * 4);
        assert!(
            report.epoch_loss.last().unwrap() < &report.epoch_loss[0],
            "{:?}",
            report.epoch_loss
        );
        assert_eq!(report.heldout_accuracy, 1.0, "{report:?}");
    }

    #[test]
    fn micro_batches_give_the_whole_batch_gradient() {
        let tokenizer = TextTokenizer::byte_level().unwrap();
        let mut config = ModelConfig::tiny(tokenizer.vocab_size());
        config.num_hidden_layers = 1;
        let device = Device::flex().autodiff();
        let body = Model::random(&config, 3, &device).unwrap();
        let score = burn::module::Param::from_tensor(burn::tensor::Tensor::<2>::ones(
            [config.hidden_size, 1],
            &device,
        ));
        let model = RewardModel { body, score };
        let tokenized: Vec<TokenizedPair> = (0..5)
            .map(|i| TokenizedPair {
                chosen: tokenizer
                    .encode(&format!("q{i} yes{}", "!".repeat(i)))
                    .unwrap(),
                rejected: tokenizer.encode(&format!("q{i} no")).unwrap(),
            })
            .collect();
        let batch = [0, 1, 2, 3, 4];
        let (whole, whole_loss) = batch_gradients(&model, &tokenized, &batch, 5).unwrap();
        let (parts, parts_loss) = batch_gradients(&model, &tokenized, &batch, 2).unwrap();
        assert!(
            (whole_loss - parts_loss).abs() < 1e-5,
            "{whole_loss} {parts_loss}"
        );
        let id = model.score.id;
        let a: Vec<f32> = whole
            .get::<2>(id)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let b: Vec<f32> = parts
            .get::<2>(id)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(
            a.iter().any(|g| g.abs() > 1e-6),
            "a zero gradient compares nothing"
        );
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-4 * (1.0 + x.abs()), "{x} vs {y}");
        }
    }
}
