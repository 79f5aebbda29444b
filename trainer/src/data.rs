//! JSONL datasets: task prompts (`prompt` or `messages`, optional `reference`, `metadata`) and
//! preference pairs (`prompt`, `chosen`, `rejected`). Errors name the file, line and field.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::Path;

use crate::tokenizer::{Message, TextTokenizer};

/// A prompt as plain text or as OpenAI-style messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PromptSpec {
    Text(String),
    Messages(Vec<Message>),
}

impl PromptSpec {
    /// The text the policy sees: messages through the chat template (with the generation prompt),
    /// plain text through the template as one user turn when there is a template, else verbatim.
    pub fn render(&self, tokenizer: &TextTokenizer) -> Result<String> {
        match self {
            PromptSpec::Messages(messages) => tokenizer.apply_chat_template(messages, true),
            PromptSpec::Text(text) => {
                if tokenizer.has_chat_template() {
                    tokenizer.apply_chat_template(
                        &[Message {
                            role: "user".into(),
                            content: text.clone(),
                        }],
                        true,
                    )
                } else {
                    Ok(text.clone())
                }
            }
        }
    }

    /// For the judge server: a string prompt or messages.
    pub fn to_judge_prompt(&self) -> judge_api::Prompt {
        match self {
            PromptSpec::Text(text) => judge_api::Prompt::Text(text.clone()),
            PromptSpec::Messages(messages) => judge_api::Prompt::Messages(
                messages
                    .iter()
                    .map(|m| judge_api::ChatMessage {
                        role: m.role.clone(),
                        content: judge_api::MessageContent::Text(m.content.clone()),
                    })
                    .collect(),
            ),
        }
    }
}

/// One training or evaluation prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub prompt: PromptSpec,
    /// The dataset's golden response `ā`, if any.
    pub reference: Option<String>,
    /// Passed to the judges untouched.
    pub metadata: Map<String, Value>,
}

/// One preference pair for reward-model training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreferencePair {
    pub prompt: PromptSpec,
    pub chosen: String,
    pub rejected: String,
}

fn lines(path: &Path) -> Result<Vec<(usize, Value)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not valid JSON", path.display(), i + 1))?;
        out.push((i + 1, value));
    }
    if out.is_empty() {
        bail!("{} has no records", path.display());
    }
    Ok(out)
}

/// Reads task examples: each line has `prompt` (string) or `messages` (list), and optionally
/// `reference` (string) and `metadata` (object). Unknown fields are rejected.
pub fn read_examples(path: &Path) -> Result<Vec<Example>> {
    lines(path)?
        .into_iter()
        .map(|(line, value)| {
            parse_example(value).with_context(|| format!("{}:{line}", path.display()))
        })
        .collect()
}

fn parse_example(value: Value) -> Result<Example> {
    let Value::Object(mut object) = value else {
        bail!("a record must be a JSON object")
    };
    let prompt = match (object.remove("prompt"), object.remove("messages")) {
        (Some(Value::String(text)), None) => PromptSpec::Text(text),
        (None, Some(messages)) => PromptSpec::Messages(
            serde_json::from_value(messages)
                .context("field `messages`: expected [{role, content}]")?,
        ),
        (Some(_), None) => bail!("field `prompt`: expected a string"),
        (Some(_), Some(_)) => bail!("fields `prompt` and `messages`: give one, not both"),
        (None, None) => bail!("field `prompt` (or `messages`) is missing"),
    };
    let reference = match object.remove("reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text),
        Some(_) => bail!("field `reference`: expected a string"),
    };
    let metadata = match object.remove("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => bail!("field `metadata`: expected an object"),
    };
    if let Some(unknown) = object.keys().next() {
        bail!("field `{unknown}` is not known (prompt, messages, reference, metadata)");
    }
    Ok(Example {
        prompt,
        reference,
        metadata,
    })
}

pub fn read_pairs(path: &Path) -> Result<Vec<PreferencePair>> {
    lines(path)?
        .into_iter()
        .map(|(line, value)| {
            serde_json::from_value(value).with_context(|| {
                format!(
                    "{}:{line}: expected {{prompt, chosen, rejected}}",
                    path.display()
                )
            })
        })
        .collect()
}

pub fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Example> {
        parse_example(serde_json::from_str(line).unwrap())
    }

    #[test]
    fn examples_and_their_errors() {
        let e = parse(r#"{"prompt":"2+2?","reference":"4","metadata":{"answer":"4"}}"#).unwrap();
        assert_eq!(e.prompt, PromptSpec::Text("2+2?".into()));
        assert_eq!(e.metadata["answer"], "4");
        let e = parse(r#"{"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
        assert!(matches!(e.prompt, PromptSpec::Messages(ref m) if m.len() == 1));
        for (line, field) in [
            (r#"{"reference":"4"}"#, "`prompt`"),
            (r#"{"prompt":3}"#, "`prompt`"),
            (r#"{"prompt":"x","metadata":[1]}"#, "`metadata`"),
            (r#"{"prompt":"x","answer":"4"}"#, "`answer`"),
            (r#"{"messages":[{"role":"user"}]}"#, "`messages`"),
        ] {
            let err = format!("{:#}", parse(line).unwrap_err());
            assert!(err.contains(field), "{line}: {err}");
        }
    }

    #[test]
    fn files_report_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(&path, "{\"prompt\":\"a\"}\n\n{\"prompt\":\n").unwrap();
        let err = format!("{:#}", read_examples(&path).unwrap_err());
        assert!(err.contains("d.jsonl:3"), "{err}");
    }
}
