//! `factuality`: does the response contain the information in the reference answer
//! (`metadata.answer`, else `metadata.reference`) without contradicting it?
//!
//! Config: `{"backend": "judge", "template"?: "...", "sampling"?: {...}, "threshold"?: 0.5}`.
//! The template sees `reference` besides the common variables. The judge model answers `yes`
//! (pass) or `no` (fail).

use std::sync::Arc;

use judge_api::Item;
use serde_json::{Map, Value};

use super::decide::VerdictTokens;
use super::{CommonConfig, LlmJudge, Parts};
use crate::judges::{ConfigError, InputError, Judge, JudgeContext, KindSpec};

pub const KIND: KindSpec = KindSpec {
    name: "factuality",
    version: 1,
    description: "An LLM judge (OpenAI-compatible backend): passes responses that agree with metadata.answer / metadata.reference.",
    build,
};

pub const TEMPLATE: &str = r#"You are checking an answer against a reference answer.

<conversation>
{% for m in messages %}[{{ m.role }}]
{{ m.content }}

{% endfor %}</conversation>

<reference_answer>
{{ reference }}
</reference_answer>

<response>
{{ response }}
</response>

Does the response contain the information in the reference answer, without contradicting it? Differences in wording, format or extra correct detail do not matter. Answer with exactly one word: "{{ pass_token }}" if it does, "{{ fail_token }}" if it does not."#;

/// The reference: `metadata.answer`, else `metadata.reference`; a string or a number.
fn reference(item: &Item) -> Result<String, InputError> {
    let (field, value) = ["answer", "reference"]
        .into_iter()
        .find_map(|field| item.metadata.get(field).map(|value| (field, value)))
        .ok_or_else(|| InputError {
            field: "metadata.answer".into(),
            message: "factuality needs metadata.answer or metadata.reference".into(),
        })?;
    match value {
        Value::String(text) if !text.trim().is_empty() => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        _ => Err(InputError {
            field: format!("metadata.{field}"),
            message: "must be a non-empty string or a number".into(),
        }),
    }
}

fn check(item: &Item) -> Result<(), InputError> {
    reference(item).map(drop)
}

fn variables(item: &Item) -> Map<String, Value> {
    let mut variables = Map::new();
    if let Ok(reference) = reference(item) {
        variables.insert("reference".into(), reference.into());
    }
    variables
}

fn build(config: &Value, context: &JudgeContext) -> Result<Arc<dyn Judge>, ConfigError> {
    let config = CommonConfig::parse(config, TEMPLATE)?;
    let tokens = VerdictTokens::new("yes", "no");
    let parts = Parts::word(&KIND, &config, config.settings(), tokens);
    LlmJudge::build(
        Parts {
            check,
            variables,
            ..parts
        },
        context,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(metadata: Value) -> Item {
        Item {
            id: None,
            prompt: "q".into(),
            response: "r".into(),
            metadata: metadata.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn the_reference_comes_from_answer_or_reference() {
        assert_eq!(reference(&item(json!({"answer": 4}))).unwrap(), "4");
        assert_eq!(
            reference(&item(json!({"reference": "Paris"}))).unwrap(),
            "Paris"
        );
        assert_eq!(
            reference(&item(json!({}))).unwrap_err().field,
            "metadata.answer"
        );
        assert_eq!(
            reference(&item(json!({"reference": ["x"]})))
                .unwrap_err()
                .field,
            "metadata.reference"
        );
    }
}
