//! `/v1/judges` and `/v1/kinds`: named judge instances and the kinds they are built from.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use judge_api::{JudgeDefinition, JudgeInfo, JudgeList, KindList};

use super::extract::ApiJson;
use super::page::{PageQuery, page};
use super::{ApiError, App};
use crate::judges::KINDS;

#[utoipa::path(get, path = "/v1/judges", tag = "judges",
    params(
        ("limit" = Option<usize>, Query, description = "Judges per page (1-1000, default 1000)"),
        ("after" = Option<String>, Query, description = "Start after this name (the previous page's `next`)"),
    ),
    responses((status = 200, body = JudgeList), (status = 422, body = judge_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Arc<App>>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<JudgeList>, ApiError> {
    let (judges, next) = page(
        |after, n| app.catalog.judges_after(after, n),
        |e| e.name.as_str(),
        query,
    )?;
    Ok(Json(JudgeList {
        judges: judges.iter().map(|e| e.info()).collect(),
        next,
    }))
}

#[utoipa::path(get, path = "/v1/judges/{name}", tag = "judges",
    params(("name" = String, Path, description = "Judge name")),
    responses((status = 200, body = JudgeInfo), (status = 404, body = judge_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Json<JudgeInfo>, ApiError> {
    app.catalog
        .judge(&name)
        .map(|entry| Json(entry.info()))
        .ok_or_else(|| {
            ApiError::not_found("unknown_judge", format!("judge {name:?} does not exist"))
        })
}

#[utoipa::path(put, path = "/v1/judges/{name}", tag = "judges",
    params(("name" = String, Path, description = "Judge name: 1-128 of A-Z a-z 0-9 _ . -")),
    request_body = JudgeDefinition,
    responses(
        (status = 200, description = "Replaced", body = JudgeInfo),
        (status = 201, description = "Created", body = JudgeInfo),
        (status = 400, body = judge_api::ErrorBody),
        (status = 403, description = "Needs an admin key", body = judge_api::ErrorBody),
        (status = 409, description = "Declared in the config file", body = judge_api::ErrorBody),
        (status = 413, body = judge_api::ErrorBody),
        (status = 422, description = "Unknown kind or invalid config", body = judge_api::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn put(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    ApiJson(definition): ApiJson<JudgeDefinition>,
) -> Result<(StatusCode, Json<JudgeInfo>), ApiError> {
    let size = definition.config.to_string().len();
    let max = app.config.limits.max_judge_config_bytes;
    if size > max {
        return Err(ApiError::too_large(
            "field_too_large",
            format!("the config exceeds {max} bytes (limits.max_judge_config_bytes)"),
        )
        .at("config"));
    }
    let (entry, created) = app.catalog.put_judge(&name, definition).await?;
    tracing::info!(
        judge = name,
        kind = entry.definition.kind,
        created,
        "judge stored"
    );
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entry.info())))
}

#[utoipa::path(delete, path = "/v1/judges/{name}", tag = "judges",
    params(("name" = String, Path, description = "Judge name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = judge_api::ErrorBody),
        (status = 409, description = "Used by a task, or declared in the config file", body = judge_api::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.catalog.delete_judge(&name).await?;
    tracing::info!(judge = name, "judge deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/kinds", tag = "judges",
    responses((status = 200, body = KindList)), security(("bearer" = [])))]
pub async fn kinds() -> Json<KindList> {
    Json(KindList {
        kinds: KINDS.iter().map(|k| k.info()).collect(),
    })
}
