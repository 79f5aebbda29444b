//! The `Judge` trait, judge fingerprints, and the registry of judge kinds.
//!
//! Adding a kind: write one module with a `pub const KIND: KindSpec`, and add one line to [`KINDS`].

mod code;
mod ifeval;
mod judgement;
mod llm;
mod math;
mod plugin;
mod python;
mod refusal;
mod regex;
mod rule;
mod sandboxed;

use std::sync::Arc;

use async_trait::async_trait;
use judge_api::{Item, KindInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use crate::cache::key::canonical_json;
pub use code::script_invocation;
pub use judgement::{Judgement, bounded_details, clip_reason};
pub use rule::{RuleJudge, Stop, on_blocking_pool};

/// Every judge kind this server can build. The only place that knows them all.
pub const KINDS: &[KindSpec] = &[
    regex::KIND,
    refusal::KIND,
    ifeval::KIND,
    math::KIND,
    code::KIND,
    plugin::KIND,
    python::KIND,
    llm::false_refusal::KIND,
    llm::factuality::KIND,
    llm::safety::KIND,
    llm::rubric::KIND,
];

/// A judge: scores batches of items. Implementations are cheap to share (`Arc<dyn Judge>`).
#[async_trait]
pub trait Judge: Send + Sync {
    /// The judge's identity (kind, kind version, normalised config): part of every cache key.
    fn fingerprint(&self) -> &Fingerprint;

    /// Validates one item before anything in the batch is scored, so that malformed
    /// metadata is a 4xx naming the field, never a silent pass or fail.
    fn check_item(&self, _item: &Item) -> Result<(), InputError> {
        Ok(())
    }

    /// Scores a batch: exactly one judgement per item, in order. Infrastructure trouble is
    /// a `Verdict::Error` judgement, never a panic.
    async fn judge_batch(&self, items: &[Arc<Item>]) -> Vec<Judgement>;
}

/// Builds a judge from its JSON config.
pub type BuildFn = fn(&Value, &JudgeContext) -> Result<Arc<dyn Judge>, ConfigError>;

/// A judge kind: how to build a judge from its JSON config.
pub struct KindSpec {
    pub name: &'static str,
    /// Bump when the kind's behaviour changes: old cache entries then stop matching.
    pub version: u32,
    pub description: &'static str,
    pub build: BuildFn,
}

/// Shared services some kinds need to build a judge: the sandbox (code, python, plugin) and
/// the LLM backends (the LLM kinds).
#[derive(Clone, Default)]
pub struct JudgeContext {
    pub sandbox: Option<Arc<crate::sandbox::Sandbox>>,
    /// The `[llm.backends]` the LLM judge kinds call.
    pub llm: Arc<crate::llm::Backends>,
}

impl KindSpec {
    pub fn info(&self) -> KindInfo {
        KindInfo {
            kind: self.name.into(),
            version: self.version,
            description: self.description.into(),
        }
    }
}

pub fn find_kind(name: &str) -> Option<&'static KindSpec> {
    KINDS.iter().find(|kind| kind.name == name)
}

/// Builds a judge of `kind` from `config`.
pub fn build(
    kind: &str,
    config: &Value,
    context: &JudgeContext,
) -> Result<Arc<dyn Judge>, ConfigError> {
    let spec = find_kind(kind).ok_or_else(|| ConfigError {
        field: "kind".into(),
        message: format!(
            "unknown judge kind {kind:?}; known kinds: {}",
            KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
        ),
    })?;
    (spec.build)(config, context)
}

/// A judge's identity: SHA-256 over (kind, kind version, normalised config as canonical JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub kind: &'static str,
    pub version: u32,
    /// The config with every default filled in.
    pub config: Value,
    pub digest: [u8; 32],
}

impl Fingerprint {
    /// `config` is the kind's typed config after parsing, so defaults are explicit and
    /// two spellings of the same config give the same fingerprint.
    pub fn of<C: Serialize>(kind: &'static str, version: u32, config: &C) -> Fingerprint {
        let config = serde_json::to_value(config).expect("judge configs serialise to JSON");
        let mut hasher = Sha256::new();
        hasher.update(b"moj-judge-fingerprint-v1\0");
        hasher.update(kind.as_bytes());
        hasher.update(b"\0");
        hasher.update(version.to_le_bytes());
        hasher.update(canonical_json(&config).as_bytes());
        Fingerprint {
            kind,
            version,
            config,
            digest: hasher.finalize().into(),
        }
    }

    pub fn hex(&self) -> String {
        hex::encode(self.digest)
    }
}

/// A judge config that does not parse or validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Path inside the judge definition, e.g. `config.must_match[1]`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// An item that a judge cannot score because its input is malformed (a 4xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Path inside the item, e.g. `metadata.answer`.
    pub field: String,
    pub message: String,
}

/// Parses a kind's typed config from JSON, naming the offending field on error.
pub fn parse_config<C: DeserializeOwned>(config: &Value) -> Result<C, ConfigError> {
    serde_path_to_error::deserialize::<_, C>(config).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        let field = match path.as_str() {
            "." | "" => "config".to_owned(),
            _ => format!("config.{path}"),
        };
        ConfigError {
            field: with_missing_field(field, &message),
            message,
        }
    })
}

/// serde reports a missing field at its parent's path; point at the field itself.
pub fn with_missing_field(path: String, message: &str) -> String {
    match message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        Some(name) if path.is_empty() || path == "." => name.to_owned(),
        Some(name) => format!("{path}.{name}"),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprint_depends_on_kind_version_and_normalised_config() {
        #[derive(Serialize)]
        struct C {
            a: u32,
            b: Vec<&'static str>,
        }
        let one = Fingerprint::of("regex", 1, &C { a: 1, b: vec!["x"] });
        let same = Fingerprint::of("regex", 1, &C { a: 1, b: vec!["x"] });
        assert_eq!(one, same);
        assert_ne!(
            one.digest,
            Fingerprint::of("regex", 2, &C { a: 1, b: vec!["x"] }).digest
        );
        assert_ne!(
            one.digest,
            Fingerprint::of("refusal", 1, &C { a: 1, b: vec!["x"] }).digest
        );
        assert_ne!(
            one.digest,
            Fingerprint::of("regex", 1, &C { a: 2, b: vec!["x"] }).digest
        );
        assert_eq!(one.hex().len(), 64);
    }

    #[test]
    fn unknown_kind_names_the_known_ones() {
        let error = build("nope", &json!({}), &JudgeContext::default())
            .err()
            .unwrap();
        assert_eq!(error.field, "kind");
        assert!(error.message.contains("regex") && error.message.contains("refusal"));
    }

    #[test]
    fn kind_names_are_unique() {
        let mut names: Vec<_> = KINDS.iter().map(|k| k.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
    }

    #[test]
    fn missing_fields_point_at_the_field() {
        assert_eq!(
            with_missing_field("items[0]".into(), "missing field `response`"),
            "items[0].response"
        );
        assert_eq!(
            with_missing_field(".".into(), "missing field `items`"),
            "items"
        );
        assert_eq!(with_missing_field("x".into(), "other"), "x");
    }
}
