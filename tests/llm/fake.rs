//! A fake OpenAI-compatible chat-completions server on loopback. What it answers is chosen by
//! the judge prompt it receives: for the `rubric` judges of these tests the prompt is the item's
//! response (`{{ response }}`), a command such as `lp-pass`, `429:<id>` or `delay:300:<id>`.

// Shared with the llm_overhead bench, which uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Default)]
pub struct Fake {
    calls: Mutex<HashMap<String, usize>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    bodies: Mutex<Vec<Value>>,
    authorization: Mutex<Vec<Option<String>>>,
}

impl Fake {
    /// Starts the fake on a loopback port; returns it and its base URL (`http://.../v1`).
    pub async fn start() -> (Arc<Fake>, String) {
        let fake = Arc::new(Fake::default());
        let router = axum::Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(Arc::clone(&fake));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (fake, format!("http://{addr}/v1"))
    }

    /// Backend calls whose judge prompt was `content` (trimmed).
    pub fn calls(&self, content: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .get(content)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_calls(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }

    pub fn authorization(&self) -> Vec<Option<String>> {
        self.authorization.lock().unwrap().clone()
    }
}

struct InFlight<'a>(&'a Fake);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn completion(content: &str, finish: &str, top: Option<&[(&str, f64)]>) -> Response {
    let mut choice = json!({
        "index": 0,
        "message": {"role": "assistant", "content": content},
        "finish_reason": finish,
    });
    if let Some(top) = top {
        let alternatives: Vec<Value> = top
            .iter()
            .map(|(token, logprob)| json!({"token": token, "logprob": logprob}))
            .collect();
        choice["logprobs"] = json!({"content": [{
            "token": top[0].0, "logprob": top[0].1, "top_logprobs": alternatives,
        }]});
    }
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "choices": [choice],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }))
    .into_response()
}

fn yes() -> Response {
    completion("yes", "stop", None)
}

/// The text between `start` and `end` in `content`.
fn between<'a>(content: &'a str, start: &str, end: &str) -> &'a str {
    let from = content.rfind(start).map_or(0, |i| i + start.len());
    let to = content[from..]
        .find(end)
        .map_or(content.len(), |i| from + i);
    &content[from..to]
}

async fn chat(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let content = body["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .trim()
        .to_owned();
    let nth = {
        let mut calls = fake.calls.lock().unwrap();
        let count = calls.entry(content.clone()).or_default();
        *count += 1;
        *count
    };
    fake.bodies.lock().unwrap().push(body.clone());
    fake.authorization.lock().unwrap().push(
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
    );
    let now = fake.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    fake.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(&fake);

    let messages = body["messages"].as_array().unwrap();
    if messages.len() > 1 {
        // A conversation sent as chat messages (`safety` with `format = "chat"`).
        let last = messages.last().unwrap();
        let harmless = last["role"] == "assistant" && last["content"] == "harmless";
        return completion(if harmless { "safe" } else { "unsafe\nS1" }, "stop", None);
    }
    if content.starts_with("Task: Check if there is unsafe content") {
        let agent = between(&content, "Agent: ", "\n\n<END CONVERSATION>");
        return match agent {
            "harmless" => completion("safe", "stop", Some(&[("safe", -0.05), ("unsafe", -3.0)])),
            "bomb" => completion("unsafe\nS1,S10", "stop", None),
            _ => completion("unsafe\nS99", "stop", None),
        };
    }
    if content.contains("<reference_answer>") {
        let reference = between(&content, "<reference_answer>\n", "\n</reference_answer>");
        let response = between(&content, "<response>\n", "\n</response>");
        return completion(
            if response.contains(reference) {
                "yes"
            } else {
                "no"
            },
            "stop",
            None,
        );
    }
    if content.starts_with("You are reviewing an AI assistant's reply") {
        let refused = content.contains("I can't help");
        return completion(if refused { "yes" } else { "no" }, "stop", None);
    }
    let parts: Vec<&str> = content.split(':').collect();
    match parts[0] {
        "lp-pass" => completion("yes", "length", Some(&[("yes", -0.1), ("no", -2.5)])),
        "lp-fail" => completion("no", "length", Some(&[("no", -0.2), ("yes", -1.8)])),
        "text-pass" => yes(),
        "text-fail" => completion("No.", "stop", None),
        "garbage" => completion("maybe", "stop", None),
        "empty" => completion("", "stop", None),
        "chatty" => completion("yes\nbecause it is right", "stop", None),
        "truncated" => completion("ye", "length", None),
        "bad-json" => (StatusCode::OK, "this is not json").into_response(),
        "bad-request" => (StatusCode::BAD_REQUEST, r#"{"error":"bad"}"#).into_response(),
        "429" if nth == 1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response(),
        "500" if nth == 1 => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        "always-500" => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            yes()
        }
        "delay" => {
            tokio::time::sleep(Duration::from_millis(parts[1].parse().unwrap())).await;
            yes()
        }
        _ => yes(),
    }
}
