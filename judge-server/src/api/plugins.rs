//! `PUT /v1/plugins`: registers a judge plugin (a WASI command module) and answers its SHA-256,
//! the value of a `plugin` judge's `module`. The module is validated and compiled before it is
//! stored, so a judge never meets a module that cannot run.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::{ApiError, App};

#[utoipa::path(put, path = "/v1/plugins", tag = "plugins",
    request_body(content = Vec<u8>, content_type = "application/wasm",
        description = "A WASI preview 1 command module (binary)"),
    responses(
        (status = 200, description = "Already registered: {sha256, size}"),
        (status = 201, description = "Registered: {sha256, size}; use sha256 as a plugin judge's `module`"),
        (status = 403, description = "Needs an admin key", body = judge_api::ErrorBody),
        (status = 413, body = judge_api::ErrorBody),
        (status = 415, description = "Not Content-Type: application/wasm", body = judge_api::ErrorBody),
        (status = 422, description = "Not a valid WASI command module (the message names the problem)", body = judge_api::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn put(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/wasm") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the module bytes with Content-Type: application/wasm",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("invalid_plugin", "the body is empty"));
    }
    let sandbox = Arc::clone(&app.sandbox);
    let size = body.len();
    let sha256 = sandbox
        .register_plugin(body.to_vec())
        .await
        .map_err(|error| ApiError::unprocessable("invalid_plugin", error.0))?;
    let created = app.db.put_plugin(&sha256, &body).await.map_err(|error| {
        tracing::error!(%error, "database error while storing a plugin");
        ApiError::busy("the database is unavailable; try again", 5)
    })?;
    tracing::info!(sha256, size, created, "plugin stored");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"sha256": sha256, "size": size}))))
}
