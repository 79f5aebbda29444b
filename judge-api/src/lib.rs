//! Wire types and an async client for the moj judge server.
//!
//! The types are plain serde structs, usable without the client (`default-features = false`).
//! With the `client` feature (default), [`JudgeClient`] talks to a running server: every call
//! is retried on transient failures (connect errors, timeouts, 429, 502-504) with exponential
//! backoff and jitter, honouring `Retry-After` ([`RetryPolicy`]); other 4xx come back as
//! [`ClientError::Api`] with the server's JSON error (which names the offending field).
//!
//! Score a batch with a task's mixture of judges, and turn verdicts into rewards (an `error`
//! is "no reward", never 0):
//!
//! ```no_run
//! use judge_api::{Item, JudgeClient, JudgeRequest, RetryPolicy, Verdict};
//! use serde_json::json;
//! # async fn demo() -> Result<(), judge_api::ClientError> {
//! let client = JudgeClient::new("http://127.0.0.1:8080")?
//!     .with_api_key(std::env::var("MOJ_API_KEY").unwrap_or_default())
//!     .with_retry(RetryPolicy { max_retries: 8, ..RetryPolicy::default() });
//! let metadata = json!({ "answer": "4" }).as_object().unwrap().clone();
//! let items = vec![
//!     Item::new("What is 2+2?", "The final answer is 4").with_metadata(metadata.clone()),
//!     Item::new("What is 2+2?", "The final answer is 5").with_metadata(metadata),
//! ];
//! let answer = client.judge(&JudgeRequest::for_task("math", items)).await?;
//! let rewards: Vec<Option<f64>> = answer
//!     .results
//!     .iter()
//!     .map(|r| match r.verdict {
//!         Verdict::Pass => Some(1.0),
//!         Verdict::Fail => Some(0.0),
//!         Verdict::Error => None,
//!     })
//!     .collect();
//! println!("{rewards:?}; {} cache hits", answer.stats.cache_hits);
//! # Ok(()) }
//! ```
//!
//! Register a judge and a task at run time (an admin key), then score with explicit judges
//! without touching the cache:
//!
//! ```no_run
//! use judge_api::{Item, JudgeClient, JudgeDefinition, JudgeRequest, TaskDefinition};
//! use serde_json::json;
//! # async fn demo() -> Result<(), judge_api::ClientError> {
//! let admin = JudgeClient::new("http://127.0.0.1:8080")?.with_api_key("admin-key");
//! let definition = JudgeDefinition {
//!     kind: "regex".into(),
//!     config: json!({ "must_not_match": ["(?i)as an ai"] }),
//! };
//! admin.put_judge("no_disclaimer", &definition).await?;
//! admin
//!     .put_task("chat", &TaskDefinition { judges: vec!["no_disclaimer".into()] })
//!     .await?;
//! let request = JudgeRequest::for_judges(["no_disclaimer"], vec![Item::new("Hi", "Hello!")])
//!     .without_cache();
//! let answer = admin.judge(&request).await?;
//! assert_eq!(answer.results.len(), 1);
//! # Ok(()) }
//! ```

#[cfg(feature = "client")]
mod client;
mod compat;
mod retry;
mod types;

#[cfg(feature = "client")]
pub use client::{ClientError, JudgeClient, RetryPolicy};
pub use compat::*;
pub use retry::retry_after;
pub use types::*;
