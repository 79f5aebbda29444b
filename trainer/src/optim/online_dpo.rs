//! Online DPO without the judge filter: per prompt, the highest- and lowest-reward samples form
//! the pair, whatever the judges said.

use super::{Group, LossPlan, PolicyOptimizer, PreferencePair};

pub struct OnlineDpo {
    pub beta: f32,
    pub lambda: f32,
}

impl PolicyOptimizer for OnlineDpo {
    fn name(&self) -> &'static str {
        "online_dpo"
    }

    fn uses_judges(&self) -> bool {
        false
    }

    fn plan(&self, groups: &[Group]) -> LossPlan {
        let mut pairs = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            let ranked = group.samples.iter().enumerate();
            let best = ranked
                .clone()
                .max_by(|a, b| a.1.reward.total_cmp(&b.1.reward));
            let worst = ranked.min_by(|a, b| a.1.reward.total_cmp(&b.1.reward));
            if let (Some(best), Some(worst)) = (best, worst)
                && best.0 != worst.0
                && best.1.reward > worst.1.reward
            {
                pairs.push(PreferencePair::of_samples(g, best, worst));
            }
        }
        LossPlan::pairwise(pairs, self.beta, self.lambda)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::Seq;
    use crate::optim::testing::sample;
    use judge_api::Verdict;

    #[test]
    fn pairs_by_reward_only_and_skips_ties() {
        let groups = vec![
            Group {
                samples: vec![
                    sample(Verdict::Fail, 5.0, 0.5, 0.0),
                    sample(Verdict::Pass, 1.0, 0.5, 0.0),
                ],
                reference: None,
            },
            Group {
                samples: vec![
                    sample(Verdict::Pass, 1.0, 0.5, 0.0),
                    sample(Verdict::Pass, 1.0, 0.5, 0.0),
                ],
                reference: None,
            },
        ];
        let LossPlan::Pairwise { pairs, .. } = (OnlineDpo {
            beta: 0.1,
            lambda: 0.0,
        })
        .plan(&groups) else {
            panic!()
        };
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].chosen, Seq::Sample { group: 0, index: 0 });
    }
}
