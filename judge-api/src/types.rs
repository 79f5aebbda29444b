//! The JSON wire format of the judge server's `/v1` API.
//!
//! Field names here are part of the public contract: clients and docs rely on them.
//! Fields may be added; existing ones are never renamed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The outcome of a judge (or of a mixture of judges) on one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The constraint holds.
    Pass,
    /// The constraint is violated.
    Fail,
    /// The judge could not decide (timeout, backend down, malformed input). Never a pass, never cached.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }

    /// Combines per-judge verdicts with the mixture-of-judges rule:
    /// any `fail` -> `fail`; else any `error` -> `error`; else `pass` (also for no judges at all).
    pub fn combine<I: IntoIterator<Item = Verdict>>(verdicts: I) -> Verdict {
        let mut combined = Verdict::Pass;
        for verdict in verdicts {
            match verdict {
                Verdict::Fail => return Verdict::Fail,
                Verdict::Error => combined = Verdict::Error,
                Verdict::Pass => {}
            }
        }
        combined
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message of an OpenAI-style conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool`, ...
    pub role: String,
    /// A string, or OpenAI content parts (`[{"type": "text", "text": "..."}]`).
    pub content: MessageContent,
}

/// Message content: plain text or OpenAI-style content parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One OpenAI content part. Only `text` parts contribute to the text judges see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl MessageContent {
    /// The text of the content; non-text parts are skipped, text parts are joined by newlines.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(text) => text.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|part| part.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// A prompt: a plain string, or an OpenAI-style list of messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(untagged)]
pub enum Prompt {
    Text(String),
    Messages(Vec<ChatMessage>),
}

impl Default for Prompt {
    fn default() -> Self {
        Prompt::Text(String::new())
    }
}

impl From<&str> for Prompt {
    fn from(text: &str) -> Self {
        Prompt::Text(text.to_owned())
    }
}

impl From<String> for Prompt {
    fn from(text: String) -> Self {
        Prompt::Text(text)
    }
}

impl Prompt {
    /// The prompt as one string: the text itself, or the messages as `role: content` lines.
    pub fn text(&self) -> String {
        match self {
            Prompt::Text(text) => text.clone(),
            Prompt::Messages(messages) => messages
                .iter()
                .map(|m| format!("{}: {}", m.role, m.content.text()))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The last user turn (the request the response answers), or the whole text prompt.
    pub fn last_user_text(&self) -> String {
        match self {
            Prompt::Text(text) => text.clone(),
            Prompt::Messages(messages) => messages
                .iter()
                .rev()
                .find(|m| m.role == "user")
                .map(|m| m.content.text())
                .unwrap_or_default(),
        }
    }

    /// Total bytes of text in the prompt (for size limits).
    pub fn text_len(&self) -> usize {
        match self {
            Prompt::Text(text) => text.len(),
            Prompt::Messages(messages) => messages
                .iter()
                .map(|m| m.role.len() + m.content.text().len())
                .sum(),
        }
    }
}

/// One (prompt, response, metadata) item to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Echoed back in the result: a string or an integer. Defaults to the item's index in the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub id: Option<Value>,
    /// The prompt, as a string or as OpenAI-style messages.
    #[serde(default)]
    pub prompt: Prompt,
    /// The policy's response to judge.
    pub response: String,
    /// Per-item data for the judges (reference answers, instructions, unit tests, ...).
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl Item {
    pub fn new(prompt: impl Into<Prompt>, response: impl Into<String>) -> Self {
        Item {
            id: None,
            prompt: prompt.into(),
            response: response.into(),
            metadata: Map::new(),
        }
    }

    pub fn with_id(mut self, id: impl Into<Value>) -> Self {
        self.id = Some(id.into());
        self
    }

    pub fn with_metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = metadata;
        self
    }
}

fn default_true() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// `POST /v1/judge`: a batch of items and the judges to score them with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JudgeRequest {
    /// A task name: its mixture of judges scores every item. Exactly one of `task` and `judges`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Judge names: an explicit mixture. Exactly one of `task` and `judges`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judges: Option<Vec<String>>,
    pub items: Vec<Item>,
    /// `false` bypasses the verdict cache: nothing is read from it and nothing is written to it.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub cache: bool,
}

impl JudgeRequest {
    pub fn for_task(task: impl Into<String>, items: Vec<Item>) -> Self {
        JudgeRequest {
            task: Some(task.into()),
            judges: None,
            items,
            cache: true,
        }
    }

    pub fn for_judges<S: Into<String>>(
        judges: impl IntoIterator<Item = S>,
        items: Vec<Item>,
    ) -> Self {
        JudgeRequest {
            task: None,
            judges: Some(judges.into_iter().map(Into::into).collect()),
            items,
            cache: true,
        }
    }

    pub fn without_cache(mut self) -> Self {
        self.cache = false;
        self
    }
}

/// One judge's verdict on one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct JudgeVerdict {
    /// The judge's name.
    pub name: String,
    pub verdict: Verdict,
    /// An optional graded score (judge-specific meaning, documented per kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// A short human-readable reason.
    pub reason: String,
    /// Whether the verdict came from the cache.
    pub cached: bool,
    /// Time the judge spent on this item, in microseconds (0 for cache hits).
    pub micros: u64,
    /// Judge-specific structured details (e.g. per-instruction results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub details: Option<Value>,
}

/// The result for one item, in request order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ItemResult {
    /// The item's `id`, or its index in the batch when it had none.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub id: Value,
    /// The mixture's verdict: any fail -> fail, else any error -> error, else pass.
    pub verdict: Verdict,
    pub judges: Vec<JudgeVerdict>,
}

/// Counts for a whole batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BatchStats {
    pub items: u64,
    /// Item-level (combined) verdict counts.
    pub pass: u64,
    pub fail: u64,
    pub error: u64,
    /// (item, judge) verdicts served from the cache.
    pub cache_hits: u64,
    /// (item, judge) verdicts computed by a judge in this request.
    pub cache_misses: u64,
    /// Cache lookups or writes that failed (the batch was scored without the cache).
    pub cache_errors: u64,
    /// (item, judge) pairs whose input repeated another item of the batch and reused its verdict.
    pub deduplicated: u64,
    /// Wall-clock time the server spent on the batch, in microseconds.
    pub micros: u64,
}

/// `POST /v1/judge` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct JudgeResponse {
    pub results: Vec<ItemResult>,
    pub stats: BatchStats,
}

/// `PUT /v1/judges/{name}` body: a named instance of a judge kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JudgeDefinition {
    /// The judge kind (`regex`, `refusal`, ...); `GET /v1/kinds` lists them.
    pub kind: String,
    /// Kind-specific configuration.
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: Value,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// `PUT /v1/tasks/{name}` body: a named mixture of judges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskDefinition {
    pub judges: Vec<String>,
}

/// Where a definition comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Declared in the server's config file; read-only through the API.
    Config,
    /// Created through the API and persisted in the database.
    Api,
}

/// A judge as the server reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct JudgeInfo {
    pub name: String,
    pub kind: String,
    /// The configuration with every default filled in.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: Value,
    /// Hex SHA-256 of (kind, kind version, normalised config): part of every cache key.
    pub fingerprint: String,
    pub source: Source,
}

/// A task as the server reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TaskInfo {
    pub name: String,
    pub judges: Vec<String>,
    pub source: Source,
}

/// `GET /v1/judges`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct JudgeList {
    pub judges: Vec<JudgeInfo>,
    /// When more judges follow: the last name of this page (ask `?after=<next>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET /v1/tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TaskList {
    pub tasks: Vec<TaskInfo>,
    /// When more tasks follow: the last name of this page (ask `?after=<next>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A judge kind the server can build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KindInfo {
    pub kind: String,
    /// Bumped whenever the kind's behaviour changes, so old cache entries stop matching.
    pub version: u32,
    pub description: String,
}

/// `GET /v1/kinds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct KindList {
    pub kinds: Vec<KindInfo>,
}

/// Every 4xx/5xx answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `invalid_json`, `unknown_judge`, `too_many_items`.
    pub code: String,
    pub message: String,
    /// The request field at fault, as a path such as `items[3].response`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn combine_follows_the_mixture_rule() {
        use Verdict::*;
        assert_eq!(Verdict::combine([]), Pass);
        assert_eq!(Verdict::combine([Pass, Pass]), Pass);
        assert_eq!(Verdict::combine([Pass, Error]), Error);
        assert_eq!(Verdict::combine([Error, Fail, Pass]), Fail);
        assert_eq!(Verdict::combine([Fail, Error]), Fail);
    }

    #[test]
    fn prompt_accepts_text_and_messages() {
        let item: Item = serde_json::from_value(json!({
            "prompt": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]}
            ],
            "response": "hello"
        }))
        .unwrap();
        assert_eq!(item.prompt.last_user_text(), "hi");
        assert_eq!(item.prompt.text(), "system: be brief\nuser: hi");
        let item: Item = serde_json::from_value(json!({"prompt": "p", "response": "r"})).unwrap();
        assert_eq!(item.prompt, Prompt::Text("p".into()));
        assert!(item.metadata.is_empty());
    }

    #[test]
    fn request_round_trips_and_defaults_cache_to_true() {
        let request: JudgeRequest =
            serde_json::from_value(json!({"task": "math", "items": []})).unwrap();
        assert!(request.cache);
        let back = serde_json::to_value(&request).unwrap();
        assert_eq!(back, json!({"task": "math", "items": []}));
        let unknown = serde_json::from_value::<JudgeRequest>(json!({"tasks": "x", "items": []}));
        assert!(unknown.is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any JSON value, nested a few levels (floats only when asked: serde_json's default
        /// float parsing may differ from the printed value in the last bit).
        fn json_value() -> impl Strategy<Value = Value> {
            json_value_with(true)
        }

        fn json_value_with(floats: bool) -> impl Strategy<Value = Value> {
            let float = any::<f64>().prop_map(move |f| {
                serde_json::Number::from_f64(f)
                    .filter(|_| floats)
                    .map_or(Value::Null, Value::Number)
            });
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                float,
                any::<String>().prop_map(Value::from),
                prop_oneof![
                    Just("prompt"),
                    Just("response"),
                    Just("items"),
                    Just("task"),
                    Just("judges"),
                    Just("role"),
                    Just("user"),
                ]
                .prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    proptest::collection::btree_map(
                        prop_oneof![
                            Just("task".to_owned()),
                            Just("judges".to_owned()),
                            Just("items".to_owned()),
                            Just("cache".to_owned()),
                            Just("prompt".to_owned()),
                            Just("response".to_owned()),
                            Just("metadata".to_owned()),
                            Just("id".to_owned()),
                            Just("role".to_owned()),
                            Just("content".to_owned()),
                            any::<String>(),
                        ],
                        inner,
                        0..6
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn message() -> impl Strategy<Value = ChatMessage> {
            (
                prop_oneof![Just("system"), Just("user"), Just("assistant")],
                any::<String>(),
            )
                .prop_map(|(role, text)| ChatMessage {
                    role: role.into(),
                    content: MessageContent::Text(text),
                })
        }

        fn item() -> impl Strategy<Value = Item> {
            (
                prop_oneof![
                    any::<String>().prop_map(Prompt::Text),
                    proptest::collection::vec(message(), 0..4).prop_map(Prompt::Messages),
                ],
                any::<String>(),
                proptest::option::of(prop_oneof![
                    any::<u32>().prop_map(Value::from),
                    any::<String>().prop_map(Value::from)
                ]),
                proptest::collection::btree_map(any::<String>(), json_value_with(false), 0..4),
            )
                .prop_map(|(prompt, response, id, metadata)| Item {
                    id,
                    prompt,
                    response,
                    metadata: metadata.into_iter().collect(),
                })
        }

        proptest! {
            #[test]
            fn any_json_is_a_request_or_an_error_never_a_panic(value in json_value()) {
                let _ = serde_json::from_value::<JudgeRequest>(value.clone());
                let _ = serde_json::from_str::<JudgeRequest>(&value.to_string());
                let _ = serde_json::from_value::<Item>(value);
            }

            #[test]
            fn requests_survive_the_wire_unchanged(
                items in proptest::collection::vec(item(), 0..4),
                task in proptest::option::of("[a-z_]{1,12}"),
                cache in any::<bool>(),
            ) {
                let request = JudgeRequest {
                    judges: task.is_none().then(|| vec!["j".to_owned()]),
                    task,
                    items,
                    cache,
                };
                let text = serde_json::to_string(&request).unwrap();
                let back: JudgeRequest = serde_json::from_str(&text).unwrap();
                prop_assert_eq!(back, request);
            }
        }
    }
}
