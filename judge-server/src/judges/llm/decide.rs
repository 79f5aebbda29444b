//! The decision rules: the verdict tokens' probabilities when the backend returns logprobs
//! (as in the CGPO paper), otherwise a strict parse of the text. Anything else is an error.

use serde_json::{Value, json};

use crate::llm::Completion;

/// The two verdict tokens a judge model is asked to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictTokens {
    pub pass: String,
    pub fail: String,
}

impl VerdictTokens {
    pub fn new(pass: &str, fail: &str) -> Self {
        VerdictTokens {
            pass: pass.to_owned(),
            fail: fail.to_owned(),
        }
    }
}

/// How a completion was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// From the verdict tokens' probabilities.
    Logprobs,
    /// From a strict parse of the text.
    Text,
}

impl Method {
    /// The name in a verdict's details (`details.method`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Logprobs => "logprobs",
            Method::Text => "text",
        }
    }
}

/// A decided completion: fail or pass, the probability of pass when known, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub method: Method,
    pub fail: bool,
    pub p_pass: Option<f64>,
    /// The text after the verdict word's line (e.g. Llama Guard's categories), trimmed.
    pub rest: String,
    pub details: Value,
}

/// Lower-cased, trimmed, without a final period: how verdict words are compared.
pub fn normalise(token: &str) -> String {
    let trimmed = token.trim();
    trimmed
        .strip_suffix('.')
        .unwrap_or(trimmed)
        .trim()
        .to_lowercase()
}

/// Decides `completion`; `Err` says why it cannot be decided (an `error` verdict).
pub fn decide(
    completion: &Completion,
    tokens: &VerdictTokens,
    threshold: f64,
) -> Result<Decision, String> {
    let text = strict_text(completion, tokens);
    if let Some((p_pass, p_fail)) = logprob_pair(completion, tokens) {
        let total = p_pass + p_fail;
        let p_fail_share = p_fail / total;
        let fail = p_fail_share >= threshold;
        return Ok(Decision {
            method: Method::Logprobs,
            fail,
            p_pass: Some(p_pass / total),
            rest: text.map(|(_, rest)| rest).unwrap_or_default(),
            details: json!({
                "method": Method::Logprobs.name(),
                "p_pass": p_pass,
                "p_fail": p_fail,
                "threshold": threshold,
                "pass_token": tokens.pass,
                "fail_token": tokens.fail,
                "output": excerpt(&completion.content),
            }),
        });
    }
    let (fail, rest) = text?;
    Ok(Decision {
        method: Method::Text,
        fail,
        p_pass: None,
        rest,
        details: json!({
            "method": Method::Text.name(),
            "pass_token": tokens.pass,
            "fail_token": tokens.fail,
            "output": excerpt(&completion.content),
        }),
    })
}

/// The probabilities of the pass and fail tokens at the first generated non-blank token,
/// when that token is itself one of them (so "un"+"safe" never reads as "safe").
fn logprob_pair(completion: &Completion, tokens: &VerdictTokens) -> Option<(f64, f64)> {
    let first = completion
        .logprobs
        .as_ref()?
        .iter()
        .find(|t| !t.token.trim().is_empty())?;
    let generated = normalise(&first.token);
    let (pass, fail) = (normalise(&tokens.pass), normalise(&tokens.fail));
    if generated != pass && generated != fail {
        return None;
    }
    let mut p_pass = 0.0;
    let mut p_fail = 0.0;
    let mut seen = Vec::new();
    let alternatives = first.top_logprobs.iter().map(|t| (&t.token, t.logprob));
    for (token, logprob) in std::iter::once((&first.token, first.logprob)).chain(alternatives) {
        // The generated token usually appears in top_logprobs too: count each spelling once.
        if seen.contains(&token) || logprob.is_nan() || logprob > 0.0 {
            continue;
        }
        seen.push(token);
        let word = normalise(token);
        if word == pass {
            p_pass += logprob.exp();
        } else if word == fail {
            p_fail += logprob.exp();
        }
    }
    (p_pass + p_fail > 0.0).then_some((p_pass, p_fail))
}

/// The verdict word on the first line, exactly one of the two tokens; the rest of the text.
fn strict_text(completion: &Completion, tokens: &VerdictTokens) -> Result<(bool, String), String> {
    if completion.truncated() {
        return Err(format!(
            "the judge's answer was truncated (max_tokens): {:?}",
            excerpt(&completion.content)
        ));
    }
    let content = completion.content.trim();
    if content.is_empty() {
        return Err("the judge answered nothing".into());
    }
    let (first, rest) = content.split_once('\n').unwrap_or((content, ""));
    let word = normalise(first);
    let rest = rest.trim().to_owned();
    if word == normalise(&tokens.pass) {
        Ok((false, rest))
    } else if word == normalise(&tokens.fail) {
        Ok((true, rest))
    } else {
        Err(format!(
            "the judge answered {:?}; expected {:?} or {:?}",
            excerpt(content),
            tokens.pass,
            tokens.fail
        ))
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{TokenLogprob, TopLogprob};

    fn tokens() -> VerdictTokens {
        VerdictTokens {
            pass: "safe".into(),
            fail: "unsafe".into(),
        }
    }

    fn text(content: &str, finish: &str) -> Completion {
        Completion {
            content: content.into(),
            finish_reason: Some(finish.into()),
            logprobs: None,
        }
    }

    fn with_logprobs(generated: &str, top: &[(&str, f64)]) -> Completion {
        Completion {
            content: generated.into(),
            finish_reason: Some("length".into()),
            logprobs: Some(vec![TokenLogprob {
                token: generated.into(),
                logprob: top
                    .iter()
                    .find(|(t, _)| *t == generated)
                    .map_or(-0.1, |t| t.1),
                top_logprobs: top
                    .iter()
                    .map(|(t, l)| TopLogprob {
                        token: (*t).into(),
                        logprob: *l,
                    })
                    .collect(),
            }]),
        }
    }

    #[test]
    fn strict_text_accepts_only_the_two_words() {
        let pass = decide(&text(" Safe.\n", "stop"), &tokens(), 0.5).unwrap();
        assert!(!pass.fail && pass.p_pass.is_none());
        assert_eq!(pass.details["method"], "text");
        let fail = decide(&text("unsafe\nS1,S10", "stop"), &tokens(), 0.5).unwrap();
        assert!(fail.fail);
        assert_eq!(fail.rest, "S1,S10");
        for bad in ["", "  ", "maybe", "safe-ish", "The answer is safe"] {
            assert!(
                decide(&text(bad, "stop"), &tokens(), 0.5).is_err(),
                "{bad:?}"
            );
        }
        let truncated = decide(&text("safe", "length"), &tokens(), 0.5).unwrap_err();
        assert!(truncated.contains("truncated"));
    }

    #[test]
    fn logprobs_compare_the_two_tokens_against_the_threshold() {
        let completion = with_logprobs("safe", &[("safe", 0.7f64.ln()), ("unsafe", 0.2f64.ln())]);
        let decision = decide(&completion, &tokens(), 0.5).unwrap();
        assert!(!decision.fail);
        assert_eq!(decision.details["method"], "logprobs");
        assert!((decision.details["p_pass"].as_f64().unwrap() - 0.7).abs() < 1e-9);
        assert!((decision.details["p_fail"].as_f64().unwrap() - 0.2).abs() < 1e-9);
        assert_eq!(decision.details["threshold"], 0.5);
        assert!((decision.p_pass.unwrap() - 0.7 / 0.9).abs() < 1e-9);
        // A low threshold turns the same probabilities into a fail.
        assert!(decide(&completion, &tokens(), 0.2).unwrap().fail);
        // Truncation does not matter when the first token decides.
        assert_eq!(completion.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn a_generated_token_that_is_no_verdict_falls_back_to_the_text() {
        // "un" + "safe": the top list mentions "safe", but the model did not say it.
        let mut completion = with_logprobs("un", &[("un", -0.1), ("safe", -2.5)]);
        completion.content = "unsafe\nS2".into();
        completion.finish_reason = Some("stop".into());
        let decision = decide(&completion, &tokens(), 0.5).unwrap();
        assert!(decision.fail);
        assert_eq!(decision.details["method"], "text");
        completion.content = "unclear".into();
        assert!(decide(&completion, &tokens(), 0.5).is_err());
    }
}
