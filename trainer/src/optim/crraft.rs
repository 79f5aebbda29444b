//! CRRAFT: calibrated-regularized reward-ranked fine-tuning. Per prompt, among passing samples
//! with `kl <= KL_max`, keep `a* = argmax r`; if none, the reference `ā` when it passes the judges
//! (weight σ(0) = 0.5), else skip. Loss `-(1/n) Σ R_calib(a*) log π_θ(a*)`.

use judge_api::Verdict;

use super::{Group, LossPlan, PolicyOptimizer, Seq, decided};

pub struct Crraft {
    pub kl_max: f32,
}

impl PolicyOptimizer for Crraft {
    fn name(&self) -> &'static str {
        "crraft"
    }

    fn needs_reference(&self) -> bool {
        true
    }

    fn plan(&self, groups: &[Group]) -> LossPlan {
        let mut terms = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let best = decided(group)
                .filter(|(_, s)| s.verdict == Verdict::Pass && s.kl() <= self.kl_max)
                .max_by(|a, b| a.1.reward.total_cmp(&b.1.reward));
            match best {
                Some((i, s)) => terms.push((Seq::Sample { group: g, index: i }, s.calibrated)),
                None => {
                    if group
                        .reference
                        .as_ref()
                        .is_some_and(|r| r.verdict == Verdict::Pass)
                    {
                        terms.push((Seq::Reference { group: g }, 0.5));
                    }
                }
            }
        }
        if terms.is_empty() {
            return LossPlan::Empty;
        }
        let n = terms.len();
        LossPlan::weighted(terms, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Reference;
    use crate::optim::testing::group;

    #[test]
    fn selection_and_reference_fallback() {
        let passing_ref = Some(Reference {
            verdict: Verdict::Pass,
            logp_ref: -3.0,
            len: 2,
        });
        let failing_ref = Some(Reference {
            verdict: Verdict::Fail,
            logp_ref: -3.0,
            len: 2,
        });
        let groups = vec![
            // best reward among passing within KL: index 2 (index 1 has higher reward but kl too big)
            group(
                failing_ref.clone(),
                &[
                    (Verdict::Pass, 1.0, 0.6, 0.0),
                    (Verdict::Pass, 9.0, 0.9, 5.0),
                    (Verdict::Pass, 2.0, 0.7, 0.5),
                    (Verdict::Fail, 10.0, 0.95, 0.0),
                ],
            ),
            // nothing passes: passing reference, weight 0.5
            group(passing_ref, &[(Verdict::Fail, 1.0, 0.5, 0.0)]),
            // nothing passes and the reference fails: skipped
            group(failing_ref, &[(Verdict::Error, 1.0, 0.5, 0.0)]),
        ];
        let plan = (Crraft { kl_max: 1.0 }).plan(&groups);
        assert_eq!(
            plan,
            LossPlan::Weighted {
                terms: vec![
                    (Seq::Sample { group: 0, index: 2 }, 0.7),
                    (Seq::Reference { group: 1 }, 0.5)
                ],
                n: 2
            }
        );
    }
}
