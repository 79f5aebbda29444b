//! `rubric`: a user-written judge prompt (a minijinja template) and two verdict tokens.
//!
//! Config: `{"backend": "judge", "template": "...", "pass_token": "yes", "fail_token": "no",
//! "sampling"?: {...}, "threshold"?: 0.5}`. The template sees `messages`, `prompt`, `response`,
//! `metadata` (e.g. `{{ metadata.rubric }}`; a field the item lacks makes the item a 422) and
//! `pass_token` / `fail_token`. The judge model answers with one of the two tokens.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::decide::VerdictTokens;
use super::{LlmJudge, Parts, Settings, default_threshold};
use crate::judges::{ConfigError, Judge, JudgeContext, KindSpec, parse_config};
use crate::llm::Sampling;

pub const KIND: KindSpec = KindSpec {
    name: "rubric",
    version: 1,
    description: "An LLM judge with a user template (minijinja) and two verdict tokens (OpenAI-compatible backend).",
    build,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    backend: String,
    template: String,
    pass_token: String,
    fail_token: String,
    #[serde(default)]
    sampling: Sampling,
    #[serde(default = "default_threshold")]
    threshold: f64,
}

fn build(config: &Value, context: &JudgeContext) -> Result<Arc<dyn Judge>, ConfigError> {
    let config: Config = parse_config(config)?;
    let c = &config;
    let settings = Settings::new(&c.backend, &c.template, &c.sampling, c.threshold);
    let tokens = VerdictTokens::new(&config.pass_token, &config.fail_token);
    LlmJudge::build(Parts::word(&KIND, &config, settings, tokens), context)
}
