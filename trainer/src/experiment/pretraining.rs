//! Stages 2 and 3 of the experiment: the SFT policy on imperfect demonstrations, and the
//! Bradley-Terry reward model on biased preference pairs.

use anyhow::{Context, Result};
use burn::module::Module;
use burn::tensor::Device;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::datasets::Dirs;
use super::tasks::{self, Synthetic, TaskKind};
use super::{Scale, report};
use crate::data::{PreferencePair, write_jsonl};
use crate::logprobs::Pair;
use crate::model::{Model, hf};
use crate::progress;
use crate::rewards::bradley_terry::{self, BradleyTerryConfig};
use crate::rewards::model::RewardModel;
use crate::sft::{self, SftConfig};
use crate::tokenizer::TextTokenizer;

/// A from-scratch policy of `scale`'s shape that stops at the tokenizer's EOS.
pub(super) fn scratch_policy(
    scale: &Scale,
    tokenizer: &TextTokenizer,
    device: &Device,
) -> Result<Model> {
    let mut config = scale.model.clone();
    config.eos_token_id = Some(crate::model::config::EosIds::One(eos(tokenizer)?));
    Model::random(&config, 0, device)
}

fn eos(tokenizer: &TextTokenizer) -> Result<u32> {
    tokenizer
        .eos_ids()
        .first()
        .copied()
        .context("tokenizer EOS")
}

/// Stage 2: SFT on imperfect demonstrations, exported as the RL runs' starting policy.
/// Returns the loss per step.
pub(super) fn train_policy(
    policy: Model,
    scale: &Scale,
    train_sets: &[(TaskKind, Vec<Synthetic>)],
    tokenizer: &TextTokenizer,
    dirs: &Dirs,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f64>> {
    eprintln!(
        "[2/5] SFT of a {}-layer, {}-wide policy {} ({} steps)",
        scale.model.num_hidden_layers, scale.model.hidden_size, scale.start, scale.sft_steps
    );
    let demonstrations = demonstrations(scale, train_sets, tokenizer, rng)?;
    let sft_config = SftConfig {
        steps: scale.sft_steps,
        batch_size: scale.sft_batch,
        learning_rate: scale.sft_learning_rate,
        seed: 0,
    };
    let bar = progress::bar(scale.sft_steps as u64, "sft");
    let (policy, losses) = sft::train(policy, &demonstrations, &sft_config, |i, _, loss| {
        progress::tick(&bar, i, &format!("loss {loss:.3}"))
    })?;
    bar.finish_and_clear();
    eprintln!(
        "      SFT loss {:.3} -> {:.3}",
        losses.first().copied().unwrap_or(0.0),
        losses.last().copied().unwrap_or(0.0)
    );
    hf::export(&policy.valid(), &dirs.sft, safetensors::Dtype::F32, None)?;
    tokenizer.save(&dirs.sft)?;
    Ok(losses)
}

/// The SFT data: the reference, or the flawed response with probability
/// `flawed_demonstrations`, then confident filler with probability `filler_demonstrations`.
fn demonstrations(
    scale: &Scale,
    train_sets: &[(TaskKind, Vec<Synthetic>)],
    tokenizer: &TextTokenizer,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Pair>> {
    let eos = eos(tokenizer)?;
    let mut demonstrations = Vec::new();
    for s in train_sets.iter().flat_map(|(_, set)| set) {
        let reference = s.example.reference.clone().unwrap_or_default();
        let mut response = if rng.random_bool(scale.flawed_demonstrations) {
            s.flawed.clone()
        } else {
            reference
        };
        if rng.random_bool(scale.filler_demonstrations) {
            response = tasks::with_filler(&response, rng);
        }
        let prompt = tokenizer.encode(&s.example.prompt.render(tokenizer)?)?;
        let mut response_ids = tokenizer.encode(&response)?;
        response_ids.push(eos);
        demonstrations.push(Pair {
            prompt,
            response: response_ids,
        });
    }
    Ok(demonstrations)
}

/// Stage 3: a Bradley-Terry reward model on the SFT policy, trained on biased pairs; returns
/// its held-out accuracy and how much it pays for filler.
pub(super) fn train_reward_model(
    scale: &Scale,
    train_sets: &[(TaskKind, Vec<Synthetic>)],
    tokenizer: &TextTokenizer,
    device: &Device,
    dirs: &Dirs,
    rng: &mut ChaCha8Rng,
) -> Result<(bradley_terry::BradleyTerryReport, report::BiasProbe)> {
    eprintln!("[3/5] Bradley-Terry reward model on biased preference pairs");
    let pairs = preference_pairs(train_sets, rng);
    write_jsonl(&dirs.data.join("preferences.jsonl"), &pairs)?;
    let rm = RewardModel::from_causal_lm(&dirs.sft, device)?;
    let rm_config = BradleyTerryConfig {
        epochs: scale.rm_epochs,
        learning_rate: 1e-3,
        batch_size: scale.rm_batch,
        micro_batch: scale.rm_micro_batch,
        holdout: 0.1,
        seed: 0,
    };
    let bar = progress::bar(0, "reward model");
    let (rm, rm_report) =
        bradley_terry::train(rm, tokenizer, &pairs, &rm_config, |i, total, loss| {
            bar.set_length(total as u64);
            progress::tick(&bar, i, &format!("loss {loss:.3}"))
        })?;
    bar.finish_and_clear();
    let rm = rm.valid();
    rm.save(&dirs.reward, tokenizer)?;
    let probe = report::bias_probe(&rm, tokenizer, train_sets)?;
    eprintln!(
        "      held-out pairwise accuracy {:.2}; filler adds {:+.3} reward, a correct answer {:+.3}",
        rm_report.heldout_accuracy, probe.filler_gain, probe.correctness_gain
    );
    Ok((rm_report, probe))
}

/// Preference pairs with the bias documented in the report: when exactly one of the two
/// responses carries confident filler, it is preferred whether or not it is correct; otherwise
/// the correct response is preferred.
fn preference_pairs(
    train_sets: &[(TaskKind, Vec<Synthetic>)],
    rng: &mut ChaCha8Rng,
) -> Vec<PreferencePair> {
    let mut pairs = Vec::new();
    for (_, set) in train_sets {
        for s in set {
            let good = s.example.reference.clone().unwrap_or_default();
            let bad = s.flawed.clone();
            let (chosen, rejected) = match rng.random_range(0..4) {
                0 | 1 => (good, bad),
                2 => (tasks::with_filler(&bad, rng), good),
                _ => (tasks::with_filler(&good, rng), bad),
            };
            pairs.push(PreferencePair {
                prompt: s.example.prompt.clone(),
                chosen,
                rejected,
            });
        }
    }
    pairs
}
