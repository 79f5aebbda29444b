//! `/v1/tasks`: named mixtures of judges.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use judge_api::{TaskDefinition, TaskInfo, TaskList};

use super::extract::ApiJson;
use super::page::{PageQuery, page};
use super::{ApiError, App};

#[utoipa::path(get, path = "/v1/tasks", tag = "tasks",
    params(
        ("limit" = Option<usize>, Query, description = "Tasks per page (1-1000, default 1000)"),
        ("after" = Option<String>, Query, description = "Start after this name (the previous page's `next`)"),
    ),
    responses((status = 200, body = TaskList), (status = 422, body = judge_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Arc<App>>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<TaskList>, ApiError> {
    let (tasks, next) = page(
        |after, n| app.catalog.tasks_after(after, n),
        |t| t.name.as_str(),
        query,
    )?;
    Ok(Json(TaskList {
        tasks: tasks.iter().map(|t| t.info()).collect(),
        next,
    }))
}

#[utoipa::path(get, path = "/v1/tasks/{name}", tag = "tasks",
    params(("name" = String, Path, description = "Task name")),
    responses((status = 200, body = TaskInfo), (status = 404, body = judge_api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Json<TaskInfo>, ApiError> {
    app.catalog
        .task(&name)
        .map(|task| Json(task.info()))
        .ok_or_else(|| ApiError::not_found("unknown_task", format!("task {name:?} does not exist")))
}

#[utoipa::path(put, path = "/v1/tasks/{name}", tag = "tasks",
    params(("name" = String, Path, description = "Task name: 1-128 of A-Z a-z 0-9 _ . -")),
    request_body = TaskDefinition,
    responses(
        (status = 200, description = "Replaced", body = TaskInfo),
        (status = 201, description = "Created", body = TaskInfo),
        (status = 400, body = judge_api::ErrorBody),
        (status = 403, description = "Needs an admin key", body = judge_api::ErrorBody),
        (status = 409, description = "Declared in the config file", body = judge_api::ErrorBody),
        (status = 422, description = "Unknown judge or empty list", body = judge_api::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn put(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    ApiJson(definition): ApiJson<TaskDefinition>,
) -> Result<(StatusCode, Json<TaskInfo>), ApiError> {
    let (entry, created) = app.catalog.put_task(&name, definition).await?;
    tracing::info!(task = name, judges = ?entry.judges, created, "task stored");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entry.info())))
}

#[utoipa::path(delete, path = "/v1/tasks/{name}", tag = "tasks",
    params(("name" = String, Path, description = "Task name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = judge_api::ErrorBody),
        (status = 409, description = "Declared in the config file", body = judge_api::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.catalog.delete_task(&name).await?;
    tracing::info!(task = name, "task deleted");
    Ok(StatusCode::NO_CONTENT)
}
