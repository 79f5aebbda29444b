//! One OpenAI-compatible backend: budgets, a concurrency cap, retries and request coalescing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::LlmError;
use super::budget::Bucket;
use super::protocol::{ChatRequest, Completion, parse_completion};
use crate::config::LlmBackendConfig;

/// Longest wait for a TCP connection when the request budget is longer than this.
const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Largest response body read from a backend.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Longest `Retry-After` honoured; a longer one is capped (the request deadline still applies).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

type Outcome = Result<Completion, LlmError>;

pub struct Backend {
    pub name: String,
    /// Sent with every request; part of the fingerprint of every judge using this backend.
    pub model: String,
    /// Merged into every request body; part of the fingerprint with `model`.
    pub extra_body: serde_json::Map<String, serde_json::Value>,
    url: String,
    http: reqwest::Client,
    /// Extra headers and the bearer key (marked sensitive so it is never printed).
    headers: HeaderMap,
    timeout: Duration,
    max_retries: u32,
    backoff: Duration,
    concurrency: Semaphore,
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    in_flight: Mutex<HashMap<[u8; 32], Shared<BoxFuture<'static, Outcome>>>>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("name", &self.name)
            .field("model", &self.model)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A failed attempt: worth retrying or not.
enum Attempt {
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    Fatal(LlmError),
}

impl Backend {
    pub fn new(
        name: &str,
        config: &LlmBackendConfig,
        api_key: Option<String>,
    ) -> anyhow::Result<Backend> {
        let mut headers = HeaderMap::new();
        for (key, value) in &config.headers {
            let name = HeaderName::from_bytes(key.as_bytes())
                .map_err(|_| anyhow::anyhow!("headers: {key:?} is not a header name"))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| anyhow::anyhow!("headers.{key}: not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if let Some(key) = api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| anyhow::anyhow!("the API key is not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        if let Some(key) = config
            .extra_body
            .keys()
            .find(|key| ChatRequest::FIELDS.contains(&key.as_str()))
        {
            anyhow::bail!(
                "extra_body.{key}: set by the judges themselves (sampling parameters belong in a judge's `sampling`)"
            );
        }
        // The request deadline (`call`) bounds connecting too; a separate connect timeout only
        // matters for long budgets. One equal to the budget would race the deadline and report
        // a connect error where the budget ran out.
        let mut http = reqwest::Client::builder();
        if config.timeout_ms > CONNECT_TIMEOUT_MS {
            http = http.connect_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS));
        }
        let http = http.build()?;
        Ok(Backend {
            name: name.to_owned(),
            model: config.model.clone(),
            extra_body: config.extra_body.clone(),
            url: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            http,
            headers,
            timeout: Duration::from_millis(config.timeout_ms),
            max_retries: config.max_retries,
            backoff: Duration::from_millis(config.backoff_ms),
            concurrency: Semaphore::new(config.max_concurrent),
            requests: config.requests_per_minute.map(Bucket::per_minute),
            tokens: config.tokens_per_minute.map(Bucket::per_minute),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The error of a call whose budget ran out.
    fn timed_out(&self) -> LlmError {
        LlmError::Timeout(self.timeout.as_millis() as u64)
    }

    /// One chat completion. Identical requests in flight at the same time share one call.
    pub async fn complete(self: &Arc<Self>, request: &ChatRequest) -> Outcome {
        let mut body = request.body(&self.model);
        for (key, value) in &self.extra_body {
            body[key] = value.clone();
        }
        let bytes = serde_json::to_vec(&body).expect("a JSON value serialises");
        let key: [u8; 32] = Sha256::digest(&bytes).into();
        let shared = {
            let mut in_flight = self.in_flight.lock().expect("in-flight map");
            match in_flight.get(&key) {
                Some(shared) => shared.clone(),
                None => {
                    let this = Arc::clone(self);
                    let tokens = request.estimated_tokens();
                    // Spawned, so that a caller giving up does not cancel the call for the others.
                    let call = tokio::spawn(async move {
                        let outcome = this.call(bytes, tokens).await;
                        this.in_flight.lock().expect("in-flight map").remove(&key);
                        outcome
                    });
                    let shared = async move {
                        call.await.unwrap_or_else(|e| {
                            Err(LlmError::Internal(format!("backend call: {e}")))
                        })
                    }
                    .boxed()
                    .shared();
                    in_flight.insert(key, shared.clone());
                    shared
                }
            }
        };
        shared.await
    }

    /// The call with its retries, all within the backend's timeout.
    async fn call(&self, body: Vec<u8>, tokens: u64) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        match tokio::time::timeout_at(deadline, self.call_with_retries(body, tokens, deadline))
            .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(self.timed_out()),
        }
    }

    async fn call_with_retries(&self, body: Vec<u8>, tokens: u64, deadline: Instant) -> Outcome {
        let mut attempt = 0u32;
        loop {
            if let Some(bucket) = &self.requests {
                bucket.take(1).await;
            }
            if let Some(bucket) = &self.tokens {
                bucket.take(tokens).await;
            }
            let outcome = {
                let _permit = self
                    .concurrency
                    .acquire()
                    .await
                    .map_err(|e| LlmError::Internal(e.to_string()))?;
                self.attempt(&body).await
            };
            let (reason, retry_after) = match outcome {
                Ok(completion) => return Ok(completion),
                Err(Attempt::Fatal(error)) => return Err(error),
                Err(Attempt::Transient {
                    reason,
                    retry_after,
                }) => (reason, retry_after),
            };
            if Instant::now() >= deadline {
                // The budget ran out while this attempt failed (a client-side timer firing
                // with the deadline's): that is the timeout, whatever the attempt reported.
                return Err(self.timed_out());
            }
            attempt += 1;
            if attempt > self.max_retries {
                return Err(LlmError::Exhausted {
                    attempts: attempt,
                    last: reason,
                });
            }
            let delay = retry_after
                .map(|d| d.min(MAX_RETRY_AFTER))
                .unwrap_or_else(|| backoff(self.backoff, attempt));
            if Instant::now() + delay >= deadline {
                return Err(LlmError::Exhausted {
                    attempts: attempt,
                    last: format!("{reason} (no time left to retry in {delay:?})"),
                });
            }
            tracing::warn!(backend = %self.name, attempt, ?delay, %reason, "transient LLM backend failure; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One HTTP exchange. The caller's deadline (`call`) bounds it, so it sets no timeout itself.
    async fn attempt(&self, body: &[u8]) -> Result<Completion, Attempt> {
        let sent = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) if error.is_connect() || error.is_timeout() || error.is_request() => {
                return Err(Attempt::Transient {
                    reason: format!("request failed: {}", describe(error)),
                    retry_after: None,
                });
            }
            Err(error) => {
                return Err(Attempt::Fatal(LlmError::Internal(format!(
                    "request failed: {}",
                    describe(error)
                ))));
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_RESPONSE_BYTES {
                        return Err(Attempt::Fatal(LlmError::BadPayload(format!(
                            "the response is larger than {MAX_RESPONSE_BYTES} bytes"
                        ))));
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    return Err(Attempt::Transient {
                        reason: format!("reading the response: {}", describe(error)),
                        retry_after: None,
                    });
                }
            }
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(Attempt::Transient {
                reason: format!("HTTP {}", status.as_u16()),
                retry_after,
            });
        }
        if !status.is_success() {
            return Err(Attempt::Fatal(LlmError::Rejected {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            }));
        }
        parse_completion(&bytes).map_err(|e| Attempt::Fatal(LlmError::BadPayload(e)))
    }
}

/// A client error with its causes ("error sending request: client error (Connect): tcp connect
/// error: Connection refused"): reqwest's own message names none. The URL is left out.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `Retry-After` (seconds or an HTTP-date), at most `MAX_RETRY_AFTER`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    judge_api::retry_after(value, std::time::SystemTime::now()).map(|d| d.min(MAX_RETRY_AFTER))
}

/// `base * 2^(attempt-1)`, capped at 30 s, times a jitter factor in [0.5, 1).
fn backoff(base: Duration, attempt: u32) -> Duration {
    let exponential = base.saturating_mul(1u32 << (attempt - 1).min(16));
    exponential
        .min(Duration::from_secs(30))
        .mul_f64(0.5 + jitter() / 2.0)
}

/// A uniform number in [0, 1) (splitmix64 over a counter seeded from the clock).
fn jitter() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::super::protocol::{Message, Sampling};
    use super::*;

    fn backend(base_url: &str, timeout_ms: u64) -> Arc<Backend> {
        let toml = format!(
            "base_url = \"{base_url}\"\nmodel = \"m\"\ntimeout_ms = {timeout_ms}\nmax_retries = 0"
        );
        let config: LlmBackendConfig = toml::from_str(&toml).unwrap();
        Arc::new(Backend::new("b", &config, None).unwrap())
    }

    fn request(content: String) -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: "user".into(),
                content,
            }],
            sampling: Sampling {
                temperature: 0.0,
                max_tokens: 1,
                seed: 0,
                logprobs: false,
                top_logprobs: 0,
            },
        }
    }

    #[tokio::test]
    async fn a_failed_connection_names_its_cause() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let backend = backend(&format!("http://127.0.0.1:{port}/v1"), 5_000);
        let error = backend.complete(&request("x".into())).await.unwrap_err();
        let text = error.to_string();
        assert!(text.contains("after 1 attempts"), "{text}");
        assert!(text.to_lowercase().contains("connection refused"), "{text}");
    }

    /// A budget shorter than connecting takes under load: always the timeout, never a connect
    /// error from a client-side timer racing the deadline (a CI failure once).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tiny_budget_is_always_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        // Accepts and never answers.
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let backend = backend(&url, 1);
        for i in 0..100 {
            let error = backend
                .complete(&request(format!("{i}")))
                .await
                .unwrap_err();
            assert!(matches!(error, LlmError::Timeout(1)), "{i}: {error}");
        }
        server.abort();
    }

    #[test]
    fn backoff_grows_exponentially_with_bounded_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 1..=5 {
            let full = base * (1 << (attempt - 1));
            let delay = backoff(base, attempt);
            assert!(delay >= full / 2 && delay < full, "{attempt}: {delay:?}");
        }
        assert!(backoff(base, 40) <= Duration::from_secs(30));
    }

    #[test]
    fn retry_after_in_seconds_or_a_date_and_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1e300"));
        assert_eq!(retry_after(&headers), None);
        // A date far ahead waits no longer than the cap.
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
    }
}
