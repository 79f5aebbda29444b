//! An async client for the judge server's `/v1` API.
//!
//! ```no_run
//! use judge_api::{Item, JudgeClient, JudgeRequest};
//! # async fn demo() -> Result<(), judge_api::ClientError> {
//! let client = JudgeClient::new("http://127.0.0.1:8080")?.with_api_key("secret");
//! let items = vec![Item::new("What is 2+2?", "The final answer is 4")];
//! let answer = client.judge(&JudgeRequest::for_task("math", items)).await?;
//! println!("{}", answer.results[0].verdict);
//! # Ok(()) }
//! ```

use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::{
    ErrorBody, JudgeDefinition, JudgeInfo, JudgeList, JudgeRequest, JudgeResponse, TaskDefinition,
    TaskInfo, TaskList,
};

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid base URL {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("could not reach the judge server: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered with an error body (4xx/5xx).
    #[error("judge server answered {status}: {} ({}){}", .body.error.message, .body.error.code,
        .body.error.field.as_ref().map(|f| format!(" at {f}")).unwrap_or_default())]
    Api { status: u16, body: ErrorBody },
    #[error("judge server answered {status} with an unexpected body: {body}")]
    UnexpectedBody { status: u16, body: String },
}

impl ClientError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::UnexpectedBody { status, .. } => {
                Some(*status)
            }
            ClientError::Transport(error) => error.status().map(|s| s.as_u16()),
            ClientError::BaseUrl { .. } => None,
        }
    }

    /// The server's error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.error.code),
            _ => None,
        }
    }
}

/// Retry policy for transient failures (connect errors, timeouts, connections dropped
/// mid-request except for DELETE, 429, 502, 503, 504).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_backoff);
        }
        let exponential = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX));
        let capped = exponential.min(self.max_backoff);
        // Full jitter between half and all of the capped delay, without a RNG dependency.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let fraction = 0.5 + (nanos % 1000) as f64 / 2000.0;
        capped.mul_f64(fraction)
    }
}

/// A cheap-to-clone handle to one judge server.
#[derive(Debug, Clone)]
pub struct JudgeClient {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
    retry: RetryPolicy,
}

impl JudgeClient {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`), with a 300 s request timeout.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Self::with_http_client(base_url, http)
    }

    /// A client that uses a caller-configured reqwest client (timeouts, proxies, TLS roots).
    pub fn with_http_client(base_url: &str, http: reqwest::Client) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BaseUrl {
                url: base_url.to_owned(),
                reason: "must start with http:// or https://".into(),
            });
        }
        Ok(JudgeClient {
            http,
            base,
            api_key: None,
            retry: RetryPolicy::default(),
        })
    }

    /// Sends `Authorization: Bearer <key>` with every request.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `POST /v1/judge`: scores a batch.
    pub async fn judge(&self, request: &JudgeRequest) -> Result<JudgeResponse, ClientError> {
        self.send(Method::POST, "/v1/judge", Some(request)).await
    }

    pub async fn put_judge(
        &self,
        name: &str,
        definition: &JudgeDefinition,
    ) -> Result<JudgeInfo, ClientError> {
        self.send(Method::PUT, &format!("/v1/judges/{name}"), Some(definition))
            .await
    }

    pub async fn get_judge(&self, name: &str) -> Result<JudgeInfo, ClientError> {
        self.send::<(), _>(Method::GET, &format!("/v1/judges/{name}"), None)
            .await
    }

    /// Every judge: the server's pages (`?after=`) followed to the end.
    pub async fn list_judges(&self) -> Result<JudgeList, ClientError> {
        let judges = self
            .all_pages("/v1/judges", |page: JudgeList| (page.judges, page.next))
            .await?;
        Ok(JudgeList { judges, next: None })
    }

    pub async fn delete_judge(&self, name: &str) -> Result<(), ClientError> {
        self.send_empty(Method::DELETE, &format!("/v1/judges/{name}"))
            .await
    }

    pub async fn put_task(
        &self,
        name: &str,
        definition: &TaskDefinition,
    ) -> Result<TaskInfo, ClientError> {
        self.send(Method::PUT, &format!("/v1/tasks/{name}"), Some(definition))
            .await
    }

    pub async fn get_task(&self, name: &str) -> Result<TaskInfo, ClientError> {
        self.send::<(), _>(Method::GET, &format!("/v1/tasks/{name}"), None)
            .await
    }

    /// Every task: the server's pages (`?after=`) followed to the end.
    pub async fn list_tasks(&self) -> Result<TaskList, ClientError> {
        let tasks = self
            .all_pages("/v1/tasks", |page: TaskList| (page.tasks, page.next))
            .await?;
        Ok(TaskList { tasks, next: None })
    }

    /// The entries of every page of a paged list (`next` -> `?after=next`).
    async fn all_pages<P: DeserializeOwned, T>(
        &self,
        path: &str,
        split: impl Fn(P) -> (Vec<T>, Option<String>),
    ) -> Result<Vec<T>, ClientError> {
        let mut all = Vec::new();
        let mut url = path.to_owned();
        loop {
            let (entries, next) = split(self.send::<(), P>(Method::GET, &url, None).await?);
            all.extend(entries);
            match next {
                // Names are [A-Za-z0-9_.-]: nothing to escape.
                Some(next) => url = format!("{path}?after={next}"),
                None => return Ok(all),
            }
        }
    }

    pub async fn delete_task(&self, name: &str) -> Result<(), ClientError> {
        self.send_empty(Method::DELETE, &format!("/v1/tasks/{name}"))
            .await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let response = self.execute(method, path, body).await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|_| ClientError::UnexpectedBody {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
        })
    }

    async fn send_empty(&self, method: Method, path: &str) -> Result<(), ClientError> {
        self.execute::<()>(method, path, None).await.map(|_| ())
    }

    /// Sends with retries on transient failures; returns only successful (2xx) responses.
    async fn execute<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut attempt = 0;
        loop {
            let mut request = self.http.request(method.clone(), &url);
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = request.send().await;
            let retryable_after = match &outcome {
                Ok(response) if is_transient_status(response.status()) => {
                    Some(retry_after(response.headers()))
                }
                Err(error) if error.is_connect() || error.is_timeout() => Some(None),
                // The connection dropped mid-request (e.g. the server was restarted): scoring
                // and PUTs are idempotent, so they are sent again; a DELETE is not resent (a
                // lost response would turn into a 404).
                Err(error) if error.is_request() && method != Method::DELETE => Some(None),
                _ => None,
            };
            match retryable_after {
                Some(wait) if attempt < self.retry.max_retries => {
                    tokio::time::sleep(self.retry.backoff(attempt, wait)).await;
                    attempt += 1;
                }
                _ => return into_success(outcome?).await,
            }
        }
    }
}

fn is_transient_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
    crate::retry_after(value, std::time::SystemTime::now())
}

async fn into_success(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let bytes = response.bytes().await?;
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Err(ClientError::Api {
            status: status.as_u16(),
            body,
        }),
        Err(_) => Err(ClientError::UnexpectedBody {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        let first = policy.backoff(0, None);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let late = policy.backoff(9, None);
        assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        let huge = policy.backoff(40, None);
        assert!(huge <= Duration::from_secs(1));
        assert_eq!(
            policy.backoff(0, Some(Duration::from_millis(300))),
            Duration::from_millis(300)
        );
        assert_eq!(
            policy.backoff(0, Some(Duration::from_secs(60))),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn rejects_base_urls_without_scheme() {
        assert!(JudgeClient::new("localhost:8080").is_err());
        let client = JudgeClient::new("http://127.0.0.1:1/").unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:1");
    }
}
