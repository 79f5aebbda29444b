//! What a judge says about one item.

use judge_api::Verdict;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub score: Option<f64>,
    pub reason: String,
    pub details: Option<Value>,
    /// Time spent on this item, in microseconds.
    pub micros: u64,
}

impl Judgement {
    fn new(verdict: Verdict, reason: impl Into<String>) -> Self {
        Judgement {
            verdict,
            score: None,
            reason: reason.into(),
            details: None,
            micros: 0,
        }
    }

    pub fn pass(reason: impl Into<String>) -> Self {
        Self::new(Verdict::Pass, reason)
    }

    pub fn fail(reason: impl Into<String>) -> Self {
        Self::new(Verdict::Fail, reason)
    }

    /// The judge could not decide. Never cached, never counted as pass or fail.
    pub fn error(reason: impl Into<String>) -> Self {
        Self::new(Verdict::Error, reason)
    }

    pub fn with_score(mut self, score: f64) -> Self {
        self.score = Some(score);
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}
