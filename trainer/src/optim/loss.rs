//! From a [`LossPlan`] and the policy's differentiable sequence log-probs to the loss tensor.

use anyhow::{Context, Result};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

use super::{LossPlan, Seq};

/// `logp[k]` is `log π_θ` of `seqs[k]` (a `[len(seqs)]` tensor, with graph on an autodiff device).
/// Returns `None` for an empty plan.
pub fn loss(
    plan: &LossPlan,
    seqs: &[Seq],
    logp: Tensor<1>,
    device: &Device,
) -> Result<Option<Tensor<1>>> {
    let position = |s: &Seq| {
        seqs.iter()
            .position(|x| x == s)
            .with_context(|| format!("{s:?} was not scored"))
    };
    match plan {
        LossPlan::Empty => Ok(None),
        LossPlan::Weighted { terms, n } => {
            let mut weights = vec![0f32; seqs.len()];
            for (seq, w) in terms {
                weights[position(seq)?] += *w;
            }
            let weights = Tensor::<1>::from_data(TensorData::new(weights, [seqs.len()]), device);
            Ok(Some((logp * weights).sum().div_scalar(*n as f32).neg()))
        }
        LossPlan::Pairwise {
            pairs,
            beta,
            lambda,
        } => {
            let m = pairs.len();
            let index = |ids: Vec<usize>| {
                let ids: Vec<i64> = ids.into_iter().map(|i| i as i64).collect();
                Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(ids, [m]), device)
            };
            let chosen_ids = pairs
                .iter()
                .map(|p| position(&p.chosen))
                .collect::<Result<Vec<_>>>()?;
            let rejected_ids = pairs
                .iter()
                .map(|p| position(&p.rejected))
                .collect::<Result<Vec<_>>>()?;
            let host = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [m]), device);
            let chosen = logp.clone().select(0, index(chosen_ids));
            let rejected = logp.select(0, index(rejected_ids));
            let chosen_ref = host(pairs.iter().map(|p| p.chosen_ref).collect());
            let rejected_ref = host(pairs.iter().map(|p| p.rejected_ref).collect());
            let inv_len = host(
                pairs
                    .iter()
                    .map(|p| 1.0 / p.chosen_len.max(1) as f32)
                    .collect(),
            );
            let margin =
                ((chosen.clone() - chosen_ref) - (rejected - rejected_ref)).mul_scalar(*beta);
            let per_pair = log_sigmoid(margin) + (chosen * inv_len).mul_scalar(*lambda);
            Ok(Some(per_pair.mean().neg()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::PreferencePair;

    fn device() -> Device {
        Device::flex().autodiff()
    }

    fn leaf(values: &[f32]) -> Tensor<1> {
        Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), &device())
            .require_grad()
    }

    fn host(t: Tensor<1>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn weighted_loss_and_its_gradient_by_hand() {
        let seqs = [
            Seq::Sample { group: 0, index: 0 },
            Seq::Sample { group: 0, index: 1 },
        ];
        let plan = LossPlan::Weighted {
            terms: vec![(seqs[0], 0.5), (seqs[1], -0.25)],
            n: 2,
        };
        let logp = leaf(&[-2.0, -4.0]);
        let loss = loss(&plan, &seqs, logp.clone(), &device())
            .unwrap()
            .unwrap();
        // -(0.5*-2 + -0.25*-4)/2 = -(-1 + 1)/2 = 0
        assert!(host(loss.clone())[0].abs() < 1e-6);
        // d/dlogp_i = -w_i / n
        let grads = loss.backward();
        let g = host(logp.grad(&grads).unwrap());
        assert!(
            (g[0] + 0.25).abs() < 1e-6 && (g[1] - 0.125).abs() < 1e-6,
            "{g:?}"
        );
    }

    #[test]
    fn pairwise_loss_and_its_gradient_by_hand() {
        let a = Seq::Sample { group: 0, index: 0 };
        let b = Seq::Sample { group: 0, index: 1 };
        let plan = LossPlan::Pairwise {
            pairs: vec![PreferencePair {
                chosen: a,
                rejected: b,
                chosen_ref: -3.0,
                rejected_ref: -3.0,
                chosen_len: 4,
            }],
            beta: 0.5,
            lambda: 2.0,
        };
        let logp = leaf(&[-2.0, -4.0]);
        let loss = loss(&plan, &[a, b], logp.clone(), &device())
            .unwrap()
            .unwrap();
        // margin = 0.5*((-2+3) - (-4+3)) = 1; loss = -(log σ(1) + 2/4 * -2) = -log σ(1) + 1
        let sig = 1.0 / (1.0 + (-1f64).exp());
        let want = -(sig.ln()) + 1.0;
        assert!((host(loss.clone())[0] as f64 - want).abs() < 1e-5);
        // d/dchosen = -(β(1-σ) + λ/len); d/drejected = β(1-σ)
        let g = host(logp.grad(&loss.backward()).unwrap());
        let d = 0.5 * (1.0 - sig);
        assert!(
            (g[0] as f64 + d + 0.5).abs() < 1e-5 && (g[1] as f64 - d).abs() < 1e-5,
            "{g:?}"
        );
    }

    #[test]
    fn unscored_sequences_are_an_error_not_a_silent_zero() {
        let plan = LossPlan::Weighted {
            terms: vec![(Seq::Reference { group: 3 }, 1.0)],
            n: 1,
        };
        let scored = [Seq::Sample { group: 0, index: 0 }];
        assert!(loss(&plan, &scored, leaf(&[0.0]), &device()).is_err());
        assert!(
            loss(&LossPlan::Empty, &scored, leaf(&[0.0]), &device())
                .unwrap()
                .is_none()
        );
    }
}
