//! Final-answer extraction and math answer equivalence checking, conformant with Hugging Face
//! Math-Verify (`verify(parse("$" + gold + "$"), parse(response))`) except where Math-Verify has
//! documented false positives / negatives.
//!
//! Pipeline: [`extract_answer`] finds the last final answer in the response (see
//! [`Extractor`]); both it and the gold answer are normalised (LaTeX noise, units, separators),
//! parsed into an answer structure (text, expression, relation, set, tuple, interval, union,
//! matrix) and compared: exactly with big rationals when both sides are rational numbers, and
//! otherwise by evaluation at deterministic pseudo-random points within
//! [`MathConfig::relative_tolerance`]. All work is bounded by a [`Budget`].

mod answer;
mod budget;
mod equiv;
mod eval;
mod expr;
mod extract;
mod latex;
mod lex;
mod parse;

use serde::{Deserialize, Serialize};

pub use budget::Budget;
use budget::{Meter, Stop};

/// Configuration of the math judge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MathConfig {
    /// Extraction patterns in the order tried; the LAST match in the response wins across all.
    pub extract: Vec<Extractor>,
    /// Relative tolerance for numeric (non-rational) comparisons. Default 1e-6. Exact rational
    /// values (integers, decimals, fractions, factorials) are always compared exactly, so
    /// `1000001` never equals `1000000`; an absolute floor of 1e-10 absorbs round-off near 0.
    pub relative_tolerance: f64,
    /// Bounded work.
    pub budget: Budget,
}

impl Default for MathConfig {
    fn default() -> Self {
        MathConfig {
            extract: vec![
                Extractor::FinalAnswer,
                Extractor::Boxed,
                Extractor::AnswerColon,
                Extractor::Gsm8k,
            ],
            relative_tolerance: 1e-6,
            budget: Budget::default(),
        }
    }
}

impl MathConfig {
    /// Rejects unusable configurations.
    pub fn validate(&self) -> Result<(), String> {
        if self.extract.is_empty() {
            return Err("math: `extract` must list at least one extractor".into());
        }
        if !self.relative_tolerance.is_finite() || self.relative_tolerance < 0.0 {
            return Err(format!(
                "math: `relative_tolerance` must be a finite number >= 0, got {}",
                self.relative_tolerance
            ));
        }
        if self.relative_tolerance >= 1.0 {
            return Err("math: `relative_tolerance` must be below 1".into());
        }
        let b = &self.budget;
        if b.max_answer_bytes == 0 || b.max_nodes == 0 || b.max_steps == 0 {
            return Err("math: budget limits must be positive".into());
        }
        Ok(())
    }
}

/// Final-answer patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Extractor {
    /// "The final answer is X" (case-insensitive; also "Final answer: X"); X is the rest of the
    /// line, or the leading `$...$` group, or the sentence up to ". ".
    FinalAnswer,
    /// `\boxed{...}` with nested braces, also `\fbox{...}` and `\boxed 5`.
    Boxed,
    /// "Answer: X" (case-insensitive; markdown bold tolerated).
    AnswerColon,
    /// GSM8K's `#### 18`: a line that is `####` and a number (digits with `,` / `.`, an optional
    /// sign or `$`) and nothing else, so a markdown heading `#### Step 2` is not an answer.
    Gsm8k,
}

/// The verdict of one verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Equivalent {
        extracted: String,
    },
    NotEquivalent {
        extracted: String,
        reason: String,
    },
    /// Nothing extractable: the judge fails with this reason.
    NoAnswer,
    /// Budget exceeded or unparsable: the judge fails saying it could not be verified.
    Unverifiable {
        extracted: String,
        reason: String,
    },
}

impl Outcome {
    pub fn is_equivalent(&self) -> bool {
        matches!(self, Outcome::Equivalent { .. })
    }
}

/// The final answer the configured extractors find (the last match in the response), trimmed
/// of `$` delimiters and trailing punctuation. An answer running past
/// `budget.max_answer_bytes` is cut there; `verify` reports such an answer as unverifiable.
pub fn extract_answer(response: &str, config: &MathConfig) -> Option<String> {
    extract::extract(response, &config.extract, config.budget.max_answer_bytes).map(|c| c.text)
}

/// Checks the response's final answer against `gold` (metadata.answer as given: the text of a
/// JSON string or number).
pub fn verify(response: &str, gold: &str, config: &MathConfig) -> Outcome {
    if let Err(e) = config.validate() {
        return Outcome::Unverifiable {
            extracted: String::new(),
            reason: e,
        };
    }
    let max = config.budget.max_answer_bytes;
    let Some(candidate) = extract::extract(response, &config.extract, max) else {
        return Outcome::NoAnswer;
    };
    let extracted = candidate.text;
    let unverifiable = |reason: String| Outcome::Unverifiable {
        extracted: extracted.clone(),
        reason,
    };
    if candidate.truncated || extracted.len() > max {
        return unverifiable(format!("extracted answer longer than {max} bytes"));
    }
    if gold.len() > max {
        return unverifiable(format!("gold answer longer than {max} bytes"));
    }
    match compare(gold, &extracted, config) {
        Ok(true) => Outcome::Equivalent { extracted },
        Ok(false) => Outcome::NotEquivalent {
            reason: format!("answer `{extracted}` is not equivalent to gold `{gold}`"),
            extracted,
        },
        Err(Stop::Parse(why)) => unverifiable(format!("could not parse: {why}")),
        Err(e) => unverifiable(format!("could not be verified: {e}")),
    }
}

fn compare(gold: &str, extracted: &str, config: &MathConfig) -> Result<bool, Stop> {
    let g = latex::normalise(gold);
    let p = latex::normalise(extracted);
    let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    if compact(&g) == compact(&p) && !g.is_empty() {
        return Ok(true);
    }
    let mut meter = Meter::new(&config.budget);
    let ga = answer::parse_answer(&g, &mut meter).map_err(|e| match e {
        Stop::Parse(why) => Stop::Parse(format!("gold answer: {why}")),
        other => other,
    })?;
    let pa = answer::parse_answer(&p, &mut meter)?;
    let decimal = |s: &str| {
        s.as_bytes()
            .windows(2)
            .any(|w| w[0] == b'.' && w[1].is_ascii_digit())
    };
    let mut cx = equiv::Ctx {
        tol: config.relative_tolerance,
        decimals: decimal(&g) || decimal(&p),
        meter: &mut meter,
    };
    if equiv::answers(&ga, &pa, &mut cx)? {
        return Ok(true);
    }
    // A percentage also matches its fraction: `50\%` ~ `0.5` (either side may carry the sign).
    cx.decimals = true;
    if gold.contains('%')
        && let Some(g100) = percent(&ga)
    {
        return equiv::answers(&g100, &pa, &mut cx);
    }
    if extracted.contains('%')
        && let Some(p100) = percent(&pa)
    {
        return equiv::answers(&ga, &p100, &mut cx);
    }
    Ok(false)
}

/// `a` / 100 for a plain expression answer.
fn percent(a: &expr::Answer) -> Option<expr::Answer> {
    match a {
        expr::Answer::Expr(e) => {
            let hundred = expr::Expr::Num(num_rational::BigRational::from_integer(100.into()));
            Some(expr::Answer::Expr(expr::Expr::bin(
                expr::Expr::Div,
                e.clone(),
                hundred,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
