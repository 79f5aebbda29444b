//! Reward-only policy gradient: the one-step form of PPO's clipped surrogate (on-policy, one
//! update per batch, so the ratio is 1 and clipping is inactive) with a batch-mean baseline:
//! `A_i = (r_i - kl_coef · kl_i) - mean`, loss `-(1/n) Σ A_i log π_θ(s_i, a_i)`. The judges are
//! ignored entirely: this is the baseline that reward-hacks.

use super::{Group, LossPlan, PolicyOptimizer, Seq};

pub struct RewardPg {
    pub kl_coef: f32,
}

impl PolicyOptimizer for RewardPg {
    fn name(&self) -> &'static str {
        "reward_pg"
    }

    fn uses_judges(&self) -> bool {
        false
    }

    fn plan(&self, groups: &[Group]) -> LossPlan {
        let shaped: Vec<(Seq, f32)> = groups
            .iter()
            .enumerate()
            .flat_map(|(g, group)| {
                group.samples.iter().enumerate().map(move |(i, s)| {
                    (
                        Seq::Sample { group: g, index: i },
                        s.reward - self.kl_coef * s.kl(),
                    )
                })
            })
            .collect();
        LossPlan::centered(shaped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::sample;
    use judge_api::Verdict;

    #[test]
    fn verdicts_do_not_matter() {
        let groups = vec![Group {
            samples: vec![
                sample(Verdict::Fail, 3.0, 0.5, 2.0),
                sample(Verdict::Error, 1.0, 0.5, 0.0),
            ],
            reference: None,
        }];
        // shaped: 3 - 0.5*2 = 2 and 1; mean 1.5
        let LossPlan::Weighted { terms, n } = (RewardPg { kl_coef: 0.5 }).plan(&groups) else {
            panic!()
        };
        assert_eq!(n, 2);
        assert!((terms[0].1 - 0.5).abs() < 1e-6 && (terms[1].1 + 0.5).abs() < 1e-6);
    }
}
