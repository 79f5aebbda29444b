//! `POST /v1/judge`: score a batch with a task's mixture of judges or an explicit list.

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use judge_api::{Item, JudgeRequest, JudgeResponse};

use super::extract::ApiJson;
use super::{ApiError, App};
use crate::catalog::{JudgeEntry, validate_judge_list};
use crate::client::ClientId;
use crate::config::Limits;
use crate::scoring::Scorer;

#[utoipa::path(
    post, path = "/v1/judge", tag = "scoring",
    request_body = JudgeRequest,
    responses(
        (status = 200, description = "Verdicts per item, in request order", body = JudgeResponse),
        (status = 400, description = "Malformed JSON", body = judge_api::ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = judge_api::ErrorBody),
        (status = 413, description = "Body, batch or field too large", body = judge_api::ErrorBody),
        (status = 415, description = "Body is not JSON", body = judge_api::ErrorBody),
        (status = 422, description = "Invalid request: unknown judge or task, bad field", body = judge_api::ErrorBody),
        (status = 503, description = "Saturated; retry after the Retry-After header", body = judge_api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn score(
    State(app): State<Arc<App>>,
    Extension(client): Extension<ClientId>,
    ApiJson(request): ApiJson<JudgeRequest>,
) -> Result<Json<JudgeResponse>, ApiError> {
    let judges = resolve_judges(&app, &request)?;
    score_items(&app, &judges, request.items, request.cache, client)
        .await
        .map(Json)
}

/// At most `limits.max_items` items per request.
fn check_count(items: usize, limits: &Limits) -> Result<(), ApiError> {
    if items > limits.max_items {
        return Err(ApiError::too_large(
            "too_many_items",
            format!(
                "{items} items; at most {} per request (limits.max_items)",
                limits.max_items
            ),
        )
        .at("items"));
    }
    Ok(())
}

/// Sizes and metadata checked, a scoring slot admitted, the batch scored: what every scoring
/// endpoint (`/v1/judge`, OpenRLHF's `get_reward`) does once it has items and judges, for
/// `client` (slots and sandbox turns are shared out per client). Errors name fields as
/// `items[i]....`.
pub(super) async fn score_items(
    app: &App,
    judges: &[Arc<JudgeEntry>],
    items: Vec<Item>,
    cache: bool,
    client: ClientId,
) -> Result<JudgeResponse, ApiError> {
    check_count(items.len(), &app.config.limits)?;
    check_sizes(&items, &app.config.limits)?;
    Scorer::validate(judges, &items).map_err(|invalid| {
        ApiError::unprocessable(
            "invalid_item",
            format!("judge {}: {}", invalid.judge, invalid.error.message),
        )
        .at(format!("items[{}].{}", invalid.index, invalid.error.field))
    })?;
    let _permit = app.admit(items.len(), client).await?;
    Ok(app.scorer.score(judges, items, cache, client).await)
}

/// The judges of task `name` (422 `unknown_task` at `task` when there is none).
pub(super) fn task_judges(app: &App, name: &str) -> Result<Vec<Arc<JudgeEntry>>, ApiError> {
    let task = app.catalog.task(name).ok_or_else(|| {
        ApiError::unprocessable("unknown_task", format!("unknown task {name:?}")).at("task")
    })?;
    named_judges(app, &task.judges, |_| "task".to_owned())
}

fn resolve_judges(app: &App, request: &JudgeRequest) -> Result<Vec<Arc<JudgeEntry>>, ApiError> {
    match (&request.task, &request.judges) {
        (Some(_), Some(_)) | (None, None) => Err(ApiError::unprocessable(
            "invalid_request",
            "give exactly one of `task` and `judges`",
        )
        .at("task")),
        (Some(task), None) => task_judges(app, task),
        (None, Some(judges)) if judges.is_empty() => Err(ApiError::unprocessable(
            "invalid_request",
            "`judges` must name at least one judge",
        )
        .at("judges")),
        (None, Some(judges)) => named_judges(app, judges, |i| format!("judges[{i}]")),
    }
}

/// The catalog's judges for `names` (the judge-list rules checked; errors at `field_of(i)`).
fn named_judges(
    app: &App,
    names: &[String],
    field_of: impl Fn(usize) -> String,
) -> Result<Vec<Arc<JudgeEntry>>, ApiError> {
    validate_judge_list(names, app.config.limits.max_judges)
        .map_err(|problem| ApiError::from_judge_list(problem, &field_of))?;
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            app.catalog.judge(name).ok_or_else(|| {
                ApiError::unprocessable("unknown_judge", format!("unknown judge {name:?}"))
                    .at(field_of(i))
            })
        })
        .collect()
}

fn check_sizes(items: &[Item], limits: &Limits) -> Result<(), ApiError> {
    let field_limit = (limits.max_field_bytes, "limits.max_field_bytes");
    let metadata_limit = (limits.max_metadata_bytes, "limits.max_metadata_bytes");
    for (i, item) in items.iter().enumerate() {
        check_bytes(i, "prompt", item.prompt.text_len(), field_limit)?;
        check_bytes(i, "response", item.response.len(), field_limit)?;
        if !item.metadata.is_empty() {
            let size = serde_json::to_vec(&item.metadata).map_or(usize::MAX, |v| v.len());
            check_bytes(i, "metadata", size, metadata_limit)?;
        }
        if let Some(id) = &item.id
            && !(id.is_string() || id.is_i64() || id.is_u64())
        {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "an item id must be a string or an integer",
            )
            .at(format!("items[{i}].id")));
        }
    }
    Ok(())
}

/// 413 `field_too_large` at `items[i].{name}` when its `size` in bytes is over `max`, the limit
/// the config's `setting` sets.
fn check_bytes(
    i: usize,
    name: &str,
    size: usize,
    (max, setting): (usize, &str),
) -> Result<(), ApiError> {
    if size <= max {
        return Ok(());
    }
    Err(ApiError::too_large(
        "field_too_large",
        format!("the {name} exceeds {max} bytes ({setting})"),
    )
    .at(format!("items[{i}].{name}")))
}
