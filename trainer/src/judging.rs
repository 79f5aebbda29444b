//! The trainer's side of the judge server: one `POST /v1/judge` per task batch through the shared
//! Rust client (judge-api), with retries on transient failures; results keep request order.

use anyhow::{Context, Result, bail};
use judge_api::{Item, JudgeRequest, Verdict};
use judge_api::{JudgeClient, RetryPolicy};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::{JudgeServerConfig, TaskConfig};

/// The verdicts of one judged item: the mixture's and each judge's.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    pub verdict: Verdict,
    pub judges: Vec<(String, Verdict)>,
}

pub struct Judges {
    client: JudgeClient,
    runtime: Arc<tokio::runtime::Runtime>,
    url: String,
    retries: u32,
    requests: AtomicUsize,
}

/// The judge server could not be reached or kept failing after the retries: training must stop.
#[derive(Debug, thiserror::Error)]
#[error("the judge server at {url} failed after {retries} retries: {source}")]
pub struct JudgeServerDown {
    pub url: String,
    pub retries: u32,
    pub source: judge_api::ClientError,
}

impl Judges {
    pub fn new(config: &JudgeServerConfig, runtime: Arc<tokio::runtime::Runtime>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(config.timeout_secs))
            .build()
            .context("building the HTTP client")?;
        let mut client = JudgeClient::with_http_client(&config.url, http)
            .with_context(|| format!("judge_server.url {:?}", config.url))?
            .with_retry(RetryPolicy {
                max_retries: config.retries,
                ..RetryPolicy::default()
            });
        if let Some(var) = &config.api_key_env {
            let key = std::env::var(var)
                .with_context(|| format!("judge_server.api_key_env: {var} is not set"))?;
            client = client.with_api_key(key);
        }
        Ok(Judges {
            client,
            runtime,
            url: config.url.clone(),
            retries: config.retries,
            requests: AtomicUsize::new(0),
        })
    }

    /// Requests sent so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Judges all `items` of a task batch in one request.
    pub fn judge(&self, task: &TaskConfig, items: Vec<Item>) -> Result<Vec<Judged>> {
        let n = items.len();
        let request = match (&task.judge_task, &task.judges) {
            (Some(name), _) => JudgeRequest::for_task(name.clone(), items),
            (None, Some(judges)) => JudgeRequest::for_judges(judges.clone(), items),
            (None, None) => bail!("task {} has no judges", task.name),
        };
        self.requests.fetch_add(1, Ordering::SeqCst);
        let answer = self.runtime.block_on(self.client.judge(&request));
        let answer = match answer {
            Ok(answer) => answer,
            Err(e)
                if e.status()
                    .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
            {
                bail!("the judge server rejected task {}'s batch: {e}", task.name)
            }
            Err(source) => {
                return Err(JudgeServerDown {
                    url: self.url.clone(),
                    retries: self.retries,
                    source,
                }
                .into());
            }
        };
        if answer.results.len() != n {
            bail!(
                "the judge server answered {} results for {n} items",
                answer.results.len()
            );
        }
        Ok(answer
            .results
            .into_iter()
            .map(|r| Judged {
                verdict: r.verdict,
                judges: r.judges.into_iter().map(|j| (j.name, j.verdict)).collect(),
            })
            .collect())
    }
}

/// Pass rate of every judge over `judged`.
pub fn judge_pass_rates(judged: &[Judged]) -> BTreeMap<String, f64> {
    let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for j in judged {
        for (name, verdict) in &j.judges {
            let entry = counts.entry(name.clone()).or_default();
            entry.1 += 1;
            if *verdict == Verdict::Pass {
                entry.0 += 1;
            }
        }
    }
    counts
        .into_iter()
        .map(|(k, (pass, all))| (k, pass as f64 / all as f64))
        .collect()
}
