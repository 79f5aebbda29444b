//! `math`: extracts the final answer from the response and checks it against `metadata.answer`
//! (a string or a number) with the `moj-math` crate: normalisation, exact rational arithmetic,
//! symbolic equivalence by simplification and by evaluation at random points, all bounded.
//!
//! Config: `moj_math::MathConfig` (`extract`, `relative_tolerance`, `budget`), defaults filled in.
//! No extractable answer fails; an answer that cannot be verified within the budget fails with a
//! reason that says so.

use std::sync::Arc;

use judge_api::Item;
use moj_math::{MathConfig, Outcome};
use serde_json::{Value, json};

use super::{
    ConfigError, Fingerprint, InputError, Judge, JudgeContext, Judgement, KindSpec, RuleJudge,
    Stop, parse_config,
};

pub const KIND: KindSpec = KindSpec {
    name: "math",
    version: 1,
    description: "Final-answer extraction (The final answer is X, \\boxed{X}, Answer: X) and equivalence with metadata.answer.",
    build,
};

struct MathJudge {
    config: MathConfig,
}

fn build(config: &Value, _context: &JudgeContext) -> Result<Arc<dyn Judge>, ConfigError> {
    let config: MathConfig = parse_config(config)?;
    config.validate().map_err(|message| ConfigError {
        field: "config".into(),
        message,
    })?;
    Ok(super::on_blocking_pool(
        Fingerprint::of(KIND.name, KIND.version, &config),
        MathJudge { config },
    ))
}

fn gold(item: &Item) -> Result<String, InputError> {
    match item.metadata.get("answer") {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        // Integer literals beyond 64 bits arrive as strings (`api/exact.rs`); a float literal
        // this large has no exact integer value: refuse it instead of judging against a
        // different number.
        Some(Value::Number(number))
            if number.is_f64()
                && number
                    .as_f64()
                    .is_some_and(|x| x.fract() == 0.0 && x.abs() >= 9_007_199_254_740_992.0) =>
        {
            Err(InputError {
                field: "metadata.answer".into(),
                message: format!(
                    "the number {number} is a float beyond 2^53, which holds no exact integer; \
                     give the answer as an integer or a string"
                ),
            })
        }
        Some(Value::Number(number)) => Ok(number.to_string()),
        Some(_) => Err(InputError {
            field: "metadata.answer".into(),
            message: "must be a non-empty string or a number".into(),
        }),
        None => Err(InputError {
            field: "metadata.answer".into(),
            message: "math items need the reference answer in metadata.answer".into(),
        }),
    }
}

impl RuleJudge for MathJudge {
    /// The reference answer.
    type Input = String;

    fn prepare(&self, item: &Item) -> Result<String, InputError> {
        gold(item)
    }

    fn judge(&self, item: &Item, gold: String, _stop: &Stop) -> Judgement {
        match moj_math::verify(&item.response, &gold, &self.config) {
            Outcome::Equivalent { extracted } => {
                Judgement::pass(format!("{extracted:?} matches the reference"))
                    .with_score(1.0)
                    .with_details(json!({"extracted": extracted}))
            }
            Outcome::NotEquivalent { extracted, reason } => Judgement::fail(format!(
                "{extracted:?} does not match the reference: {reason}"
            ))
            .with_score(0.0)
            .with_details(json!({"extracted": extracted})),
            Outcome::NoAnswer => {
                Judgement::fail("no final answer found in the response").with_score(0.0)
            }
            Outcome::Unverifiable { extracted, reason } => Judgement::fail(format!(
                "the answer {extracted:?} could not be verified: {reason}"
            ))
            .with_score(0.0)
            .with_details(json!({"extracted": extracted, "unverifiable": true})),
        }
    }
}
