//! OpenAI-compatible chat-completions backends for the LLM judges.
//!
//! `[llm.backends.<name>]` in the config names each backend (base URL, model, the NAME of the
//! environment variable holding its key, extra headers, timeout, concurrency and per-minute
//! budgets). A [`Backend`] retries only transient failures (connect errors, timeouts, 429, 5xx)
//! with exponential backoff and jitter, honouring `Retry-After`, fails fast on other 4xx and on
//! unparseable payloads, and coalesces identical in-flight requests into one backend call.

mod backend;
mod budget;
pub mod protocol;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;

pub use backend::Backend;
pub use protocol::{ChatRequest, Completion, Message, Sampling, TokenLogprob, TopLogprob};

use crate::config::LlmConfig;

/// Why a backend call gave no completion. Judges turn it into an `error` verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("the backend did not answer within {0} ms")]
    Timeout(u64),
    #[error("the backend kept failing after {attempts} attempts: {last}")]
    Exhausted { attempts: u32, last: String },
    #[error("the backend rejected the request with HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("the backend answered with an unusable payload: {0}")]
    BadPayload(String),
    #[error("{0}")]
    Internal(String),
}

/// The configured backends, by name.
#[derive(Default)]
pub struct Backends {
    by_name: BTreeMap<String, Arc<Backend>>,
}

impl Backends {
    /// Builds every backend of `[llm.backends]`; `env` looks up the variables named by
    /// `api_key_env` (a missing variable is a start-up error, not an unauthenticated backend).
    pub fn from_config(
        config: &LlmConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Backends> {
        let mut by_name = BTreeMap::new();
        for (name, backend) in &config.backends {
            let api_key = match &backend.api_key_env {
                Some(var) => Some(env(var).filter(|k| !k.is_empty()).with_context(|| {
                    format!("llm.backends.{name}.api_key_env names {var}, which is not set")
                })?),
                None => None,
            };
            let built = Backend::new(name, backend, api_key)
                .with_context(|| format!("llm.backends.{name}"))?;
            by_name.insert(name.clone(), Arc::new(built));
        }
        Ok(Backends { by_name })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Backend>> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LlmBackendConfig;

    fn backend(api_key_env: Option<&str>) -> LlmConfig {
        let toml = format!(
            "base_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n{}",
            api_key_env.map_or(String::new(), |v| format!("api_key_env = \"{v}\""))
        );
        let backend: LlmBackendConfig = toml::from_str(&toml).unwrap();
        LlmConfig {
            backends: [("judge".to_owned(), backend)].into(),
        }
    }

    #[test]
    fn a_named_key_variable_must_be_set() {
        let error = Backends::from_config(&backend(Some("MOJ_TEST_KEY")), |_| None)
            .err()
            .unwrap();
        let text = format!("{error:#}");
        assert!(text.contains("MOJ_TEST_KEY"), "{text}");
        let built =
            Backends::from_config(&backend(Some("MOJ_TEST_KEY")), |_| Some("sk-secret".into()))
                .unwrap();
        assert_eq!(built.names(), vec!["judge"]);
        assert_eq!(built.get("judge").unwrap().model, "m");
        assert!(Backends::from_config(&backend(None), |_| None).is_ok());
    }

    #[test]
    fn extra_body_may_not_override_what_the_judges_send() {
        for (extra, ok) in [
            ("{ top_k = 1, cache_prompt = false }", true),
            ("{ temperature = 1.0 }", false),
            ("{ logprobs = false }", false),
            ("{ model = \"other\" }", false),
        ] {
            let toml = format!(
                "base_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\nextra_body = {extra}"
            );
            let config = LlmConfig {
                backends: [("judge".to_owned(), toml::from_str(&toml).unwrap())].into(),
            };
            match Backends::from_config(&config, |_| None) {
                Ok(_) => assert!(ok, "{extra} was accepted"),
                Err(error) => {
                    assert!(!ok, "{extra}: {error:#}");
                    let text = format!("{error:#}");
                    assert!(
                        text.contains("llm.backends.judge") && text.contains("extra_body."),
                        "{text}"
                    );
                }
            }
        }
    }
}
