//! Calibrated reward `sigmoid(r(s,a) - r(s,ā))`: the reference response `ā` of each prompt is
//! scored once with the same source and kept.

use anyhow::Result;
use std::collections::HashMap;

use super::{RewardQuery, RewardSource};

pub struct Calibrated {
    source: Box<dyn RewardSource>,
    reference_scores: HashMap<(String, String), f32>,
}

/// Raw and calibrated rewards of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Rewards {
    pub raw: Vec<f32>,
    pub calibrated: Vec<f32>,
    /// `r(s, ā)` per query.
    pub reference: Vec<f32>,
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Calibrated {
    pub fn new(source: Box<dyn RewardSource>) -> Self {
        Calibrated {
            source,
            reference_scores: HashMap::new(),
        }
    }

    pub fn source_name(&self) -> String {
        self.source.name()
    }

    /// Scores `queries`; `references[i]` is the reference response for `queries[i].prompt`.
    pub fn score(&mut self, queries: &[RewardQuery], references: &[String]) -> Result<Rewards> {
        anyhow::ensure!(queries.len() == references.len(), "one reference per query");
        let raw = self.source.score(queries)?;
        anyhow::ensure!(
            raw.len() == queries.len(),
            "{} returned {} rewards for {} queries",
            self.source.name(),
            raw.len(),
            queries.len()
        );
        let mut missing: Vec<RewardQuery> = Vec::new();
        for (q, r) in queries.iter().zip(references) {
            let key = (q.prompt.clone(), r.clone());
            if !self.reference_scores.contains_key(&key)
                && !missing
                    .iter()
                    .any(|m| m.prompt == q.prompt && &m.response == r)
            {
                missing.push(RewardQuery {
                    prompt: q.prompt.clone(),
                    response: r.clone(),
                });
            }
        }
        if !missing.is_empty() {
            let scores = self.source.score(&missing)?;
            for (m, s) in missing.into_iter().zip(scores) {
                self.reference_scores.insert((m.prompt, m.response), s);
            }
        }
        let reference: Vec<f32> = queries
            .iter()
            .zip(references)
            .map(|(q, r)| self.reference_scores[&(q.prompt.clone(), r.clone())])
            .collect();
        let calibrated = raw
            .iter()
            .zip(&reference)
            .map(|(r, b)| sigmoid(r - b))
            .collect();
        Ok(Rewards {
            raw,
            calibrated,
            reference,
        })
    }

    /// Reference scores computed so far (`r(s, ā)` per prompt and reference).
    pub fn cached_references(&self) -> usize {
        self.reference_scores.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Reward = response length; counts how many texts it scored.
    struct Length(Arc<AtomicUsize>);
    impl RewardSource for Length {
        fn name(&self) -> String {
            "length".into()
        }
        fn score(&self, queries: &[RewardQuery]) -> Result<Vec<f32>> {
            self.0.fetch_add(queries.len(), Ordering::SeqCst);
            Ok(queries.iter().map(|q| q.response.len() as f32).collect())
        }
    }

    #[test]
    fn calibrates_against_the_reference_scored_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut calibrated = Calibrated::new(Box::new(Length(calls.clone())));
        let q = |r: &str| RewardQuery {
            prompt: "p".into(),
            response: r.into(),
        };
        let refs = vec!["abc".to_string(); 3];
        let out = calibrated
            .score(&[q("abc"), q("abcde"), q("a")], &refs)
            .unwrap();
        assert_eq!(out.raw, vec![3.0, 5.0, 1.0]);
        assert_eq!(out.reference, vec![3.0; 3]);
        assert!((out.calibrated[0] - 0.5).abs() < 1e-6);
        assert!((out.calibrated[1] - sigmoid(2.0)).abs() < 1e-6);
        assert_eq!(calls.load(Ordering::SeqCst), 4, "3 samples + 1 reference");
        calibrated.score(&[q("xy")], &refs[..1]).unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            5,
            "the reference score is cached"
        );
    }
}
