//! CODPO: constrained online DPO. Per prompt, `a+ = argmax r` over passing samples and
//! `a- = argmin r` over failing ones; no positive -> skip; no negative -> the lowest-reward sample
//! overall (other than `a+`). Loss `-[log σ(β(Δ+ - Δ-)) + (λ/|a+|) log π_θ(a+)]`.

use judge_api::Verdict;

use super::{Group, LossPlan, PolicyOptimizer, PreferencePair, decided};

pub struct Codpo {
    pub beta: f32,
    pub lambda: f32,
}

impl PolicyOptimizer for Codpo {
    fn name(&self) -> &'static str {
        "codpo"
    }

    fn plan(&self, groups: &[Group]) -> LossPlan {
        let mut pairs = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let by_reward = |a: &(usize, &super::Sample), b: &(usize, &super::Sample)| {
                a.1.reward.total_cmp(&b.1.reward)
            };
            let Some(best) = decided(group)
                .filter(|(_, s)| s.verdict == Verdict::Pass)
                .max_by(by_reward)
            else {
                continue;
            };
            let worst = decided(group)
                .filter(|(_, s)| s.verdict == Verdict::Fail)
                .min_by(by_reward)
                .or_else(|| {
                    decided(group)
                        .filter(|(i, _)| *i != best.0)
                        .min_by(by_reward)
                });
            let Some(worst) = worst else { continue };
            pairs.push(PreferencePair::of_samples(g, best, worst));
        }
        LossPlan::pairwise(pairs, self.beta, self.lambda)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Seq;
    use crate::optim::testing::group;

    fn chosen_rejected(plan: &LossPlan) -> Vec<(Seq, Seq)> {
        match plan {
            LossPlan::Pairwise { pairs, .. } => {
                pairs.iter().map(|p| (p.chosen, p.rejected)).collect()
            }
            _ => vec![],
        }
    }

    #[test]
    fn masking_rules() {
        let s = |g, i| Seq::Sample { group: g, index: i };
        let groups = vec![
            // highest-reward passing sample (2) vs lowest-reward failing one (3); errors ignored
            group(
                None,
                &[
                    (Verdict::Pass, 2.0, 0.5, 0.0),
                    (Verdict::Fail, 7.0, 0.5, 0.0),
                    (Verdict::Pass, 1.0, 0.5, 0.0),
                    (Verdict::Fail, 3.0, 0.5, 0.0),
                    (Verdict::Error, -5.0, 0.5, 0.0),
                ],
            ),
            // no positive: skipped
            group(
                None,
                &[
                    (Verdict::Fail, 1.0, 0.5, 0.0),
                    (Verdict::Error, 2.0, 0.5, 0.0),
                ],
            ),
            // no negative: lowest-reward other sample
            group(
                None,
                &[
                    (Verdict::Pass, 1.0, 0.5, 0.0),
                    (Verdict::Pass, 4.0, 0.5, 0.0),
                    (Verdict::Pass, 0.5, 0.5, 0.0),
                ],
            ),
            // a single passing sample: nothing to pair with
            group(None, &[(Verdict::Pass, 1.0, 0.5, 0.0)]),
        ];
        let plan = (Codpo {
            beta: 0.1,
            lambda: 5.0,
        })
        .plan(&groups);
        assert_eq!(
            chosen_rejected(&plan),
            vec![(s(0, 0), s(0, 3)), (s(2, 1), s(2, 2))]
        );
        let all_fail = vec![group(None, &[(Verdict::Fail, 1.0, 0.5, 0.0)])];
        assert_eq!(
            (Codpo {
                beta: 0.1,
                lambda: 5.0
            })
            .plan(&all_fail),
            LossPlan::Empty
        );
    }
}
