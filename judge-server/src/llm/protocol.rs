//! OpenAI chat-completions wire format: the request we send and the parts of the answer we read.

use serde::{Deserialize, Serialize};

/// One chat message sent to the judge model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// Sampling parameters, always sent explicitly so server-side generation defaults (vLLM applies
/// the model's generation_config.json otherwise) cannot change verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    #[serde(default)]
    pub temperature: f64,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    #[serde(default)]
    pub seed: u64,
    /// Ask for log-probabilities of the first tokens (the paper's decision rule).
    #[serde(default = "default_logprobs")]
    pub logprobs: bool,
    #[serde(default = "default_top_logprobs")]
    pub top_logprobs: u32,
}

fn default_max_tokens() -> u32 {
    16
}

fn default_logprobs() -> bool {
    true
}

fn default_top_logprobs() -> u32 {
    10
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            max_tokens: default_max_tokens(),
            seed: 0,
            logprobs: default_logprobs(),
            top_logprobs: default_top_logprobs(),
        }
    }
}

/// What a judge asks a backend; the backend adds its model name.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub sampling: Sampling,
}

impl ChatRequest {
    /// The body fields a judge sets; a backend's `extra_body` may not override them.
    pub const FIELDS: [&str; 9] = [
        "model",
        "messages",
        "temperature",
        "max_tokens",
        "seed",
        "n",
        "stream",
        "logprobs",
        "top_logprobs",
    ];

    /// The JSON body for `model`.
    pub fn body(&self, model: &str) -> serde_json::Value {
        let mut body = serde_json::json!({
            "model": model,
            "messages": self.messages,
            "temperature": self.sampling.temperature,
            "max_tokens": self.sampling.max_tokens,
            "seed": self.sampling.seed,
            "n": 1,
            "stream": false,
        });
        if self.sampling.logprobs {
            body["logprobs"] = true.into();
            body["top_logprobs"] = self.sampling.top_logprobs.into();
        }
        body
    }

    /// A rough token estimate for tokens-per-minute budgets.
    pub fn estimated_tokens(&self) -> u64 {
        let bytes: usize = self.messages.iter().map(|m| m.content.len()).sum();
        bytes as u64 / 4 + u64::from(self.sampling.max_tokens)
    }
}

/// One alternative for a generated token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLogprob {
    pub token: String,
    pub logprob: f64,
}

/// One generated token with its alternatives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprob {
    pub token: String,
    pub logprob: f64,
    #[serde(default)]
    pub top_logprobs: Vec<TopLogprob>,
}

/// The parts of a chat completion the judges use.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub content: String,
    pub finish_reason: Option<String>,
    /// Present when the backend returned log-probabilities.
    pub logprobs: Option<Vec<TokenLogprob>>,
}

impl Completion {
    pub fn truncated(&self) -> bool {
        self.finish_reason.as_deref() == Some("length")
    }
}

#[derive(Deserialize)]
struct Wire {
    choices: Vec<WireChoice>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<WireLogprobs>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireLogprobs {
    #[serde(default)]
    content: Option<Vec<TokenLogprob>>,
}

/// Parses a chat-completions response body; `Err` names what is wrong.
pub fn parse_completion(bytes: &[u8]) -> Result<Completion, String> {
    let wire: Wire =
        serde_json::from_slice(bytes).map_err(|e| format!("not a chat completion: {e}"))?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| "the completion has no choices".to_owned())?;
    Ok(Completion {
        content: choice.message.content.unwrap_or_default(),
        finish_reason: choice.finish_reason,
        logprobs: choice
            .logprobs
            .and_then(|l| l.content)
            .filter(|tokens| !tokens.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_explicit_in_the_body() {
        let request = ChatRequest {
            messages: vec![Message {
                role: "user".into(),
                content: "hi".into(),
            }],
            sampling: Sampling::default(),
        };
        let body = request.body("m");
        assert_eq!(body["model"], "m");
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["max_tokens"], 16);
        assert_eq!(body["seed"], 0);
        assert_eq!(body["logprobs"], true);
        assert_eq!(body["top_logprobs"], 10);
        let without = ChatRequest {
            sampling: Sampling {
                logprobs: false,
                ..Sampling::default()
            },
            ..request
        };
        assert!(without.body("m").get("logprobs").is_none());
    }

    #[test]
    fn parses_content_finish_reason_and_logprobs() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"no"},"finish_reason":"stop",
            "logprobs":{"content":[{"token":"no","logprob":-0.1,"top_logprobs":[{"token":"no","logprob":-0.1},{"token":"yes","logprob":-2.3}]}]}}]}"#;
        let completion = parse_completion(body).unwrap();
        assert_eq!(completion.content, "no");
        assert!(!completion.truncated());
        let tokens = completion.logprobs.unwrap();
        assert_eq!(tokens[0].top_logprobs[1].token, "yes");
    }

    #[test]
    fn rejects_garbage_and_empty_choices() {
        assert!(parse_completion(b"<html>").is_err());
        assert!(parse_completion(br#"{"choices":[]}"#).is_err());
        let no_logprobs = parse_completion(
            br#"{"choices":[{"message":{"content":null},"finish_reason":"length"}]}"#,
        )
        .unwrap();
        assert_eq!(no_logprobs.content, "");
        assert!(no_logprobs.truncated() && no_logprobs.logprobs.is_none());
    }
}
