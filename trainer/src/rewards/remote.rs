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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    /// Serves one HTTP request with `answer` and returns the request body it received.
    fn serve_once(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/get_reward", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = stream;
            write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}", answer.len()).unwrap();
            String::from_utf8(body).unwrap()
        });
        (url, handle)
    }

    fn runtime() -> Arc<tokio::runtime::Runtime> {
        Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        )
    }

    fn queries() -> Vec<RewardQuery> {
        vec![
            RewardQuery {
                prompt: "p1 ".into(),
                response: "a".into(),
            },
            RewardQuery {
                prompt: "p2 ".into(),
                response: "b".into(),
            },
        ]
    }

    #[test]
    fn openrlhf_shape_round_trip() {
        let (url, server) = serve_once(r#"{"rewards": [0.5, -1.25], "scores": [0.5, -1.25]}"#);
        let remote = RemoteReward::new(
            RemoteConfig {
                url,
                shape: RemoteShape::Openrlhf,
                api_key_env: None,
                timeout_secs: 10.0,
            },
            runtime(),
        )
        .unwrap();
        assert_eq!(remote.score(&queries()).unwrap(), vec![0.5, -1.25]);
        let sent: Value = serde_json::from_str(&server.join().unwrap()).unwrap();
        assert_eq!(sent["query"], json!(["p1 a", "p2 b"]));
        assert_eq!(sent["prompts"], json!(["p1 ", "p2 "]));
    }

    #[test]
    fn malformed_answers_are_errors_not_zeros() {
        for answer in [
            r#"{"rewards": [1.0]}"#,
            r#"{"scores": [1.0, 2.0]}"#,
            r#"{"rewards": [1.0, "x"]}"#,
            "not json",
        ] {
            let (url, server) = serve_once(answer);
            let remote = RemoteReward::new(
                RemoteConfig {
                    url,
                    shape: RemoteShape::Generic,
                    api_key_env: None,
                    timeout_secs: 10.0,
                },
                runtime(),
            )
            .unwrap();
            assert!(remote.score(&queries()).is_err(), "{answer} was accepted");
            let sent: Value = serde_json::from_str(&server.join().unwrap()).unwrap();
            assert_eq!(sent["items"][1]["response"], "b");
        }
    }
}
