//! Teacher-forced scoring of (prompt, response) pairs: per-token log-probs of the response
//! tokens and their sums, with prompt and padding masked out. On an autodiff device the result
//! carries the graph (the policy); on a plain device no graph is built (the reference model).

use anyhow::{Result, bail};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

use crate::model::{Model, PaddedBatch};

/// One (prompt, response) pair as token ids.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub prompt: Vec<u32>,
    pub response: Vec<u32>,
}

pub struct SequenceLogProbs {
    /// `[batch, len - 1]`: log p(token j+1 | tokens ..= j), zero outside the response.
    pub per_token: Tensor<2>,
    /// `[batch, len - 1]`: 1 where the target token belongs to the response.
    pub mask: Tensor<2>,
    /// `[batch]`: sum over the response tokens (`log π(s, a)`).
    pub sums: Tensor<1>,
    /// Response length in tokens, per row.
    pub lengths: Vec<usize>,
}

impl SequenceLogProbs {
    /// The sums on the host.
    pub fn host_sums(&self) -> Vec<f32> {
        self.sums
            .clone()
            .detach()
            .try_into_vec_as::<f32>()
            .unwrap_or_default()
    }
}

/// Scores `pairs` in one right-padded batch.
pub fn score(model: &Model, pairs: &[Pair]) -> Result<SequenceLogProbs> {
    if pairs.is_empty() {
        bail!("nothing to score");
    }
    if let Some(bad) = pairs
        .iter()
        .position(|p| p.prompt.is_empty() || p.response.is_empty())
    {
        bail!("pair {bad} has an empty prompt or response");
    }
    let b = pairs.len();
    let rows: Vec<Vec<u32>> = pairs
        .iter()
        .map(|p| p.prompt.iter().chain(&p.response).copied().collect())
        .collect();
    let padded = PaddedBatch::right(&rows);
    let len = padded.len;
    if len > model.config.max_position_embeddings {
        bail!(
            "a pair has {len} tokens, more than the model's {} positions",
            model.config.max_position_embeddings
        );
    }
    // Only positions whose next token can be a response token are projected to the
    // vocabulary (the output projection and its log-softmax are the largest tensors of the
    // step): from the shortest prompt's last token on.
    let first = pairs.iter().map(|p| p.prompt.len()).min().unwrap_or(1) - 1;
    let window = len - 1 - first;
    let mut targets = Vec::with_capacity(b * window);
    let mut mask = Vec::with_capacity(b * (len - 1));
    for (row, pair) in pairs.iter().enumerate() {
        let real = padded.lengths[row];
        for j in 0..len - 1 {
            if j >= first {
                targets.push(padded.tokens[row * len + j + 1] as i64);
            }
            let in_response = j + 1 >= pair.prompt.len() && j + 1 < real;
            mask.push(if in_response { 1f32 } else { 0f32 });
        }
    }
    let input = padded.input();
    let hidden = model.hidden(&input, None)?;
    let device = model.device();
    let h = model.config.hidden_size;
    let logits = model.head(hidden.slice([0..b, first..len - 1, 0..h]));
    let logp = log_softmax(logits, 2);
    let targets = Tensor::<3, Int>::from_data(TensorData::new(targets, [b, window, 1]), &device);
    let picked: Tensor<2> = logp.gather(2, targets).reshape([b, window]);
    let mask = Tensor::<2>::from_data(TensorData::new(mask, [b, len - 1]), &device);
    let picked = if first == 0 {
        picked
    } else {
        Tensor::cat(vec![Tensor::<2>::zeros([b, first], &device), picked], 1)
    };
    let per_token = picked * mask.clone();
    let sums: Tensor<1> = per_token.clone().sum_dim(1).reshape([b]);
    Ok(SequenceLogProbs {
        per_token,
        mask,
        sums,
        lengths: pairs.iter().map(|p| p.response.len()).collect(),
    })
}
