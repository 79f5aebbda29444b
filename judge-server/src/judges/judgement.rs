//! What a judge says about one item, bounded in bytes: every verdict is cached, so a reason or
//! details that copied a judge's input (a 1 MB gold answer, the tests, the response) would be
//! copied into every stored row. Judges do not put their inputs into details; whatever they put
//! is clipped here: the reason to `MAX_REASON_BYTES`, details to `MAX_DETAILS_BYTES` of JSON.

use judge_api::Verdict;
use serde_json::{Value, json};

/// Longest reason kept (longer ones are clipped with an ellipsis).
pub const MAX_REASON_BYTES: usize = 1024;
/// Largest details kept, as serialised JSON.
pub const MAX_DETAILS_BYTES: usize = 4096;

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
            reason: clip(reason.into(), MAX_REASON_BYTES),
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
        self.details = Some(bounded(details));
        self
    }
}

/// A reason within `MAX_REASON_BYTES` (for verdicts read back from the database).
pub fn clip_reason(reason: String) -> String {
    clip(reason, MAX_REASON_BYTES)
}

/// Details within `MAX_DETAILS_BYTES` (for verdicts read back from the database).
pub fn bounded_details(details: Value) -> Value {
    bounded(details)
}

/// `text` cut to at most `bytes` (at a character boundary), with an ellipsis when cut.
fn clip(mut text: String, bytes: usize) -> String {
    if text.len() > bytes {
        let mut end = bytes.saturating_sub('…'.len_utf8());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn size(value: &Value) -> usize {
    serde_json::to_string(value).map_or(usize::MAX, |s| s.len())
}

/// Strings clipped to `string_bytes`, arrays to their first `items` (and a note of how many
/// more there were), objects to their first `items` keys.
fn shrink(value: Value, string_bytes: usize, items: usize) -> Value {
    match value {
        Value::String(text) => Value::String(clip(text, string_bytes)),
        Value::Array(values) => {
            let more = values.len().saturating_sub(items);
            let mut kept: Vec<Value> = values
                .into_iter()
                .take(items)
                .map(|v| shrink(v, string_bytes, items))
                .collect();
            if more > 0 {
                kept.push(json!({"more": more}));
            }
            Value::Array(kept)
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .take(items)
                .map(|(k, v)| (clip(k, string_bytes), shrink(v, string_bytes, items)))
                .collect(),
        ),
        other => other,
    }
}

/// Details within `MAX_DETAILS_BYTES`: clipped step by step, or replaced by a note.
fn bounded(details: Value) -> Value {
    if size(&details) <= MAX_DETAILS_BYTES {
        return details;
    }
    let original = size(&details);
    let mut details = details;
    for (string_bytes, items) in [(512, 64), (128, 16), (32, 4)] {
        details = shrink(details, string_bytes, items);
        if size(&details) <= MAX_DETAILS_BYTES {
            return details;
        }
    }
    json!({"truncated": true, "bytes": original})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_and_details_are_bounded_in_bytes() {
        let huge = "é".repeat(1 << 20);
        let judgement = Judgement::fail(huge.clone()).with_details(json!({
            "answer": huge,
            "tests": vec![json!({"message": "x".repeat(3000)}); 1000],
        }));
        assert!(judgement.reason.len() <= MAX_REASON_BYTES);
        assert!(judgement.reason.ends_with('…'));
        let details = judgement.details.unwrap();
        assert!(size(&details) <= MAX_DETAILS_BYTES, "{}", size(&details));
        assert!(details["tests"].as_array().unwrap().last().unwrap()["more"].is_number());
        // Small details are untouched.
        let small = json!({"exit": "ok", "tests": [{"outcome": "pass"}]});
        assert_eq!(
            Judgement::pass("ok").with_details(small.clone()).details,
            Some(small)
        );
        // Nothing fits: a note instead.
        let wide: serde_json::Map<String, Value> =
            (0..100_000).map(|i| (format!("k{i}"), json!(i))).collect();
        let noted = bounded(Value::Object(
            [("a".to_owned(), Value::Object(wide))]
                .into_iter()
                .collect(),
        ));
        assert!(size(&noted) <= MAX_DETAILS_BYTES);
    }
}
