//! CRPG: calibrated-regularized policy gradient.
//! `R~ = max(1 - kl/KL_max, 0) · (R_calib if pass else 0)`; `A_i = R~_i - mean R~` over the task
//! batch (judge errors excluded); loss `-(1/n) Σ A_i log π_θ(s_i, a_i)`.

use judge_api::Verdict;

use super::{Group, LossPlan, PolicyOptimizer, Seq, decided};

pub struct Crpg {
    pub kl_max: f32,
}

impl PolicyOptimizer for Crpg {
    fn name(&self) -> &'static str {
        "crpg"
    }

    fn plan(&self, groups: &[Group]) -> LossPlan {
        let mut shaped = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            for (i, s) in decided(group) {
                let constrained = if s.verdict == Verdict::Pass {
                    s.calibrated
                } else {
                    0.0
                };
                let damp = (1.0 - s.kl() / self.kl_max).max(0.0);
                shaped.push((Seq::Sample { group: g, index: i }, damp * constrained));
            }
        }
        LossPlan::centered(shaped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::testing::sample;

    #[test]
    fn advantages_by_hand() {
        // pass, kl 0 -> 0.8; pass, kl 1 of KL_max 2 -> 0.5*0.6 = 0.3; fail -> 0; error -> excluded;
        // pass, kl 3 > KL_max -> 0.  mean = 1.1 / 4 = 0.275
        let groups = vec![
            Group {
                samples: vec![
                    sample(Verdict::Pass, 2.0, 0.8, 0.0),
                    sample(Verdict::Pass, 1.0, 0.6, 1.0),
                    sample(Verdict::Error, 9.0, 0.99, 0.0),
                ],
                reference: None,
            },
            Group {
                samples: vec![
                    sample(Verdict::Fail, 5.0, 0.9, 0.0),
                    sample(Verdict::Pass, 1.0, 0.7, 3.0),
                ],
                reference: None,
            },
        ];
        let LossPlan::Weighted { terms, n } = (Crpg { kl_max: 2.0 }).plan(&groups) else {
            panic!()
        };
        assert_eq!(n, 4);
        let expected = [
            (0, 0, 0.8 - 0.275),
            (0, 1, 0.3 - 0.275),
            (1, 0, -0.275),
            (1, 1, -0.275),
        ];
        assert_eq!(terms.len(), 4);
        for ((seq, w), (g, i, want)) in terms.iter().zip(expected) {
            assert_eq!(*seq, Seq::Sample { group: g, index: i });
            assert!((w - want).abs() < 1e-6, "{seq:?}: {w} vs {want}");
        }
    }

    #[test]
    fn all_errors_give_nothing_to_learn() {
        let groups = vec![Group {
            samples: vec![sample(Verdict::Error, 1.0, 0.5, 0.0)],
            reference: None,
        }];
        assert_eq!((Crpg { kl_max: 1.0 }).plan(&groups), LossPlan::Empty);
        // nothing passes: every shaped reward is 0, so there is no gradient to follow
        let failing = vec![Group {
            samples: vec![
                sample(Verdict::Fail, 3.0, 0.9, 0.0),
                sample(Verdict::Fail, 1.0, 0.2, 0.0),
            ],
            reference: None,
        }];
        assert_eq!((Crpg { kl_max: 1.0 }).plan(&failing), LossPlan::Empty);
    }
}
