//! `POST /v1/tasks/{name}/get_reward`: OpenRLHF's remote reward protocol served natively, so
//! `--reward.remote_url http://moj:8080/v1/tasks/math/get_reward` needs no Python file.
//!
//! OpenRLHF 0.11 (`openrlhf/utils/agent.py`, `SingleTurnAgentExecutor._fetch_rewards_via_http`)
//! posts `{"query", "prompts", "labels"}` and reads `rewards`, `scores` and `extra_logs`. The
//! query is the decoded prompt+response with special tokens, so the response is the query minus
//! its prompt, with trailing end-of-turn tokens removed. An item no judge could decide is never
//! given a made-up reward: the request fails with 502 naming the item and the judge, unless the
//! URL opts into a value (`?error_reward=0`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hyper::ext::ReasonPhrase;
use judge_api::{Item, ItemResult, RewardRequest, RewardResponse, Verdict};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::extract::ApiJson;
use super::judge::{score_items, task_judges};
use super::{ApiError, App};
use crate::client::ClientId;

/// Text chat templates put after an assistant turn (decoded with special tokens).
const END_OF_TURN: [&str; 9] = [
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "<|end|>",
    "<end_of_turn>",
    "<｜end▁of▁sentence｜>",
    "</s>",
    "<eos>",
];

/// The URL's options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardOptions {
    /// The metadata field the labels fill (default `answer`).
    #[serde(default = "default_label_key")]
    label_key: String,
    /// The reward of an item no judge could decide; without it such an item fails the request.
    error_reward: Option<f64>,
    /// `false` bypasses the verdict cache.
    #[serde(default = "default_true")]
    cache: bool,
}

fn default_label_key() -> String {
    "answer".to_owned()
}

fn default_true() -> bool {
    true
}

#[utoipa::path(
    post, path = "/v1/tasks/{name}/get_reward", tag = "scoring",
    params(
        ("name" = String, Path, description = "The task whose mixture scores the queries"),
        ("label_key" = Option<String>, Query, description = "Metadata field the labels fill (default `answer`)"),
        ("error_reward" = Option<f64>, Query, description = "Reward for undecided items; without it they fail the request (502)"),
        ("cache" = Option<bool>, Query, description = "`false` bypasses the verdict cache"),
    ),
    request_body = RewardRequest,
    responses(
        (status = 200, description = "One reward per query, in order", body = RewardResponse),
        (status = 422, description = "Unknown task, or a field that does not fit (named)", body = judge_api::ErrorBody),
        (status = 502, description = "A judge could not decide an item (named), and no error_reward was given", body = judge_api::ErrorBody),
        (status = 503, description = "Saturated; retry after the Retry-After header", body = judge_api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_reward(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Extension(client): Extension<ClientId>,
    options: Result<Query<RewardOptions>, axum::extract::rejection::QueryRejection>,
    request: Result<ApiJson<RewardRequest>, ApiError>,
) -> Response {
    let answered = match request {
        Ok(ApiJson(request)) => rewards(&app, &name, client, options, request).await,
        Err(error) => Err(error),
    };
    match answered {
        Ok(answer) => Json(answer).into_response(),
        Err(error) => with_reason_phrase(error),
    }
}

/// The error as a response whose HTTP/1 status line carries the message: OpenRLHF's client
/// (`aiohttp` `raise_for_status`) logs the status line, never the body.
fn with_reason_phrase(error: ApiError) -> Response {
    let mut phrase: String = format!(
        "moj {}: {}{}",
        error.code,
        error.message,
        error
            .field
            .as_ref()
            .map_or(String::new(), |f| format!(" (at {f})"))
    )
    .chars()
    .map(|c| {
        if c.is_ascii_graphic() || c == ' ' {
            c
        } else {
            ' '
        }
    })
    .collect();
    phrase.truncate(REASON_PHRASE_MAX);
    let mut response = error.into_response();
    if let Ok(reason) = ReasonPhrase::try_from(phrase) {
        response.extensions_mut().insert(reason);
    }
    response
}

/// Longest reason phrase sent (the body has the whole message).
const REASON_PHRASE_MAX: usize = 400;

async fn rewards(
    app: &App,
    name: &str,
    client: ClientId,
    options: Result<Query<RewardOptions>, axum::extract::rejection::QueryRejection>,
    request: RewardRequest,
) -> Result<RewardResponse, ApiError> {
    let Query(options) = options.map_err(|rejection| {
        ApiError::unprocessable("invalid_request", rejection.body_text()).at("query string")
    })?;
    let judges = task_judges(app, name).map_err(|e| e.at("name"))?;
    let items = items(&request, &options.label_key)?;
    let response = score_items(app, &judges, items, options.cache, client)
        .await
        .map_err(|e| rename_field(e, &options.label_key))?;
    answer(&response.results, options.error_reward)
}

/// One judge item per query.
fn items(request: &RewardRequest, label_key: &str) -> Result<Vec<Item>, ApiError> {
    let n = request.query.len();
    same_length("prompts", request.prompts.len(), n, true)?;
    same_length("labels", request.labels.len(), n, true)?;
    let mut extras = Vec::new();
    for (key, value) in &request.extra {
        match value {
            Value::Array(values) if values.len() == n => extras.push((key, values)),
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_request",
                    format!("extra field {key:?} must be a list with one entry per query ({n})"),
                )
                .at(key.clone()));
            }
        }
    }
    Ok((0..n)
        .map(|i| {
            let prompt = request.prompts.get(i).map_or("", String::as_str);
            let mut metadata = Map::new();
            for (key, values) in &extras {
                metadata.insert((*key).clone(), values[i].clone());
            }
            match request.labels.get(i) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s.is_empty() => {}
                Some(label) => {
                    metadata.insert(label_key.to_owned(), label.clone());
                }
            }
            Item::new(prompt, response_of(&request.query[i], prompt))
                .with_id(i as u64)
                .with_metadata(metadata)
        })
        .collect())
}

fn same_length(field: &str, len: usize, n: usize, may_be_empty: bool) -> Result<(), ApiError> {
    if len == n || (may_be_empty && len == 0) {
        return Ok(());
    }
    Err(ApiError::unprocessable(
        "invalid_request",
        format!("{field} has {len} entries for {n} queries"),
    )
    .at(field))
}

/// The response in a query: what follows the prompt, end-of-turn tokens removed.
pub fn response_of(query: &str, prompt: &str) -> String {
    let response = query.strip_prefix(prompt).unwrap_or(query);
    strip_end_of_turn(response).to_owned()
}

/// `text` without trailing end-of-turn tokens (and the whitespace between them).
fn strip_end_of_turn(text: &str) -> &str {
    let mut rest = text;
    let mut removed = false;
    loop {
        let candidate = rest.trim_end();
        match END_OF_TURN.iter().find(|t| candidate.ends_with(*t)) {
            Some(token) => {
                rest = &candidate[..candidate.len() - token.len()];
                removed = true;
            }
            None => return if removed { candidate } else { text },
        }
    }
}

/// The request's own names for the fields an item error names.
fn rename_field(mut error: ApiError, label_key: &str) -> ApiError {
    if let Some(field) = &error.field
        && let Some(rest) = field.strip_prefix("items[")
        && let Some((index, path)) = rest.split_once(']')
    {
        let label = format!(".metadata.{label_key}");
        let renamed = match path {
            ".response" => format!("query[{index}]"),
            ".prompt" => format!("prompts[{index}]"),
            p if p == label || p.starts_with(&format!("{label}.")) => format!("labels[{index}]"),
            p => match p.strip_prefix(".metadata.") {
                Some(extra) => format!("{extra}[{index}]"),
                None => field.clone(),
            },
        };
        error.field = Some(renamed);
    }
    error
}

/// OpenRLHF's answer, or 502 naming the first item no judge could decide.
fn answer(results: &[ItemResult], error_reward: Option<f64>) -> Result<RewardResponse, ApiError> {
    let mut rewards = Vec::with_capacity(results.len());
    for (i, result) in results.iter().enumerate() {
        let reward = match result.verdict {
            Verdict::Pass => 1.0,
            Verdict::Fail => 0.0,
            Verdict::Error => match error_reward {
                Some(value) => value,
                None => return Err(undecided(i, result)),
            },
        };
        rewards.push(reward);
    }
    let mut logs = Map::new();
    let flag = |yes: bool| json!(if yes { 1.0 } else { 0.0 });
    logs.insert(
        "moj_pass".to_owned(),
        results
            .iter()
            .map(|r| flag(r.verdict == Verdict::Pass))
            .collect(),
    );
    logs.insert(
        "moj_error".to_owned(),
        results
            .iter()
            .map(|r| flag(r.verdict == Verdict::Error))
            .collect(),
    );
    if let Some(first) = results.first() {
        for (j, judge) in first.judges.iter().enumerate() {
            let column = results
                .iter()
                .map(|r| flag(r.judges.get(j).is_some_and(|v| v.verdict == Verdict::Pass)))
                .collect();
            logs.insert(format!("moj/{}", judge.name), column);
        }
    }
    Ok(RewardResponse {
        scores: rewards.clone(),
        rewards,
        extra_logs: logs,
    })
}

fn undecided(index: usize, result: &ItemResult) -> ApiError {
    let reasons: Vec<String> = result
        .judges
        .iter()
        .filter(|j| j.verdict == Verdict::Error)
        .map(|j| format!("judge {}: {}", j.name, j.reason))
        .collect();
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "judge_error",
        format!(
            "query {index} could not be judged ({}); no reward is made up for it \
             (add ?error_reward=<value> to the URL to map undecided items to a value)",
            reasons.join("; ")
        ),
    )
    .at(format!("query[{index}]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_response_is_the_query_after_its_prompt_without_end_of_turn_tokens() {
        let prompt = "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n";
        let query = format!("{prompt}The final answer is 4<|im_end|>\n<|endoftext|>");
        assert_eq!(response_of(&query, prompt), "The final answer is 4");
        assert_eq!(response_of("x 5</s>", "x "), "5");
        assert_eq!(response_of("no prompt prefix", "other"), "no prompt prefix");
        // Nothing removed: trailing whitespace is the response's own.
        assert_eq!(response_of("p: 4 \n", "p: "), "4 \n");
    }

    #[test]
    fn item_errors_are_named_with_the_requests_own_fields() {
        let at = |field: &str| {
            rename_field(ApiError::unprocessable("x", "y").at(field), "answer")
                .field
                .unwrap()
        };
        assert_eq!(at("items[3].metadata.answer"), "labels[3]");
        assert_eq!(at("items[0].response"), "query[0]");
        assert_eq!(at("items[2].metadata.test_list"), "test_list[2]");
        assert_eq!(at("items"), "items");
    }
}
