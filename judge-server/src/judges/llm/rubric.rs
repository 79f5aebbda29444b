//! `rubric`: a user-written judge prompt (a minijinja template) and two verdict tokens.
//!
//! Config: `{"backend": "judge", "template": "...", "pass_token": "yes", "fail_token": "no",
//! "sampling"?: {...}, "threshold"?: 0.5}`. The template sees `messages`, `prompt`, `response`,
//! `metadata` (e.g. `{{ metadata.rubric }}`; a field the item lacks makes the item a 422) and
//! `pass_token` / `fail_token`. The judge model answers with one of the two tokens.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::decide::VerdictTokens;
use super::{Input, LlmJudge, Output, Parts, default_threshold, no_check, no_variables};
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
    LlmJudge::build(
        Parts {
            kind: &KIND,
            config: &config,
            backend: &config.backend,
            template: &config.template,
            sampling: &config.sampling,
            threshold: config.threshold,
            tokens: VerdictTokens {
                pass: config.pass_token.clone(),
                fail: config.fail_token.clone(),
            },
            constants: Map::new(),
            output: Output::Word,
            input: Input::Template,
            check: no_check,
            variables: no_variables,
        },
        context,
    )
}
