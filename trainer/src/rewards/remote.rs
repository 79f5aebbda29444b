//! A reward model behind HTTP: OpenRLHF's `POST /get_reward {query, prompts}` ->
//! `{rewards}` or a generic `POST {items: [{prompt, response}]}` -> `{rewards}`.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

use super::{RewardQuery, RewardSource};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    pub url: String,
    #[serde(default)]
    pub shape: RemoteShape,
    /// Name of the environment variable holding a bearer token (never the token itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
}

fn default_timeout() -> f64 {
    60.0
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteShape {
    /// `{query: [prompt + response], prompts: [prompt]}` -> `{rewards: [float]}`.
    #[default]
    Openrlhf,
    /// `{items: [{prompt, response}]}` -> `{rewards: [float]}`.
    Generic,
}

pub struct RemoteReward {
    config: RemoteConfig,
    http: reqwest::Client,
    api_key: Option<String>,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl RemoteReward {
    pub fn new(config: RemoteConfig, runtime: Arc<tokio::runtime::Runtime>) -> Result<Self> {
        if !(config.timeout_secs > 0.0 && config.timeout_secs.is_finite()) {
            bail!("reward.timeout_secs must be positive");
        }
        let api_key = match &config.api_key_env {
            Some(var) => Some(std::env::var(var).with_context(|| {
                format!("reward.api_key_env: environment variable {var} is not set")
            })?),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(config.timeout_secs))
            .build()?;
        Ok(RemoteReward {
            config,
            http,
            api_key,
            runtime,
        })
    }
}

impl RewardSource for RemoteReward {
    fn name(&self) -> String {
        format!("remote reward {}", self.config.url)
    }

    fn score(&self, queries: &[RewardQuery]) -> Result<Vec<f32>> {
        let body = match self.config.shape {
            RemoteShape::Openrlhf => json!({
                "query": queries.iter().map(|q| format!("{}{}", q.prompt, q.response)).collect::<Vec<_>>(),
                "prompts": queries.iter().map(|q| q.prompt.clone()).collect::<Vec<_>>(),
            }),
            RemoteShape::Generic => json!({ "items": queries }),
        };
        let mut request = self.http.post(&self.config.url).json(&body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let answer: Value = self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .with_context(|| format!("calling {}", self.config.url))?;
            let status = response.status();
            if !status.is_success() {
                bail!("{} answered HTTP {status}", self.config.url);
            }
            response
                .json::<Value>()
                .await
                .with_context(|| format!("{} did not answer JSON", self.config.url))
        })?;
        let rewards = answer
            .get("rewards")
            .and_then(Value::as_array)
            .with_context(|| format!("{} answered without a `rewards` array", self.config.url))?;
        if rewards.len() != queries.len() {
            bail!(
                "{} returned {} rewards for {} queries",
                self.config.url,
                rewards.len(),
                queries.len()
            );
        }
        rewards
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.as_f64()
                    .filter(|v| v.is_finite())
                    .map(|v| v as f32)
                    .with_context(|| {
                        format!(
                            "reward {i} from {} is not a finite number: {r}",
                            self.config.url
                        )
                    })
            })
            .collect()
    }
}
