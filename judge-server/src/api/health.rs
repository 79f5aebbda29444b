//! Liveness, readiness and metrics: unauthenticated, for orchestrators and scrapers.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, App};

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    pub judges: usize,
    pub tasks: usize,
    /// The pre-initialised Python interpreter: `ready` (runs start from the snapshot),
    /// `building` (runs start CPython from scratch until it is), `failed`, or `off`.
    pub python_snapshot: &'static str,
    /// Each sandbox language's runtime: `ready`, `loading` (a large optional runtime compiling
    /// in the background; its items are `error` until then) or `missing`.
    pub runtimes: std::collections::BTreeMap<&'static str, &'static str>,
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Database reachable and judges loaded", body = Readiness),
        (status = 503, description = "Not ready", body = judge_api::ErrorBody),
    ))]
pub async fn readyz(State(app): State<Arc<App>>) -> Result<Json<Readiness>, ApiError> {
    match tokio::time::timeout(Duration::from_secs(2), app.db.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(not_ready(format!("database unreachable: {error}"))),
        Err(_) => return Err(not_ready("database did not answer within 2 s".into())),
    }
    if !app.catalog.is_loaded() {
        // The database is back: load now rather than wait for the next refresh.
        app.catalog
            .refresh()
            .await
            .map_err(|e| not_ready(format!("judges not loaded: {e}")))?;
    }
    Ok(Json(Readiness {
        status: "ready",
        database: app.db.backend(),
        judges: app.catalog.judge_count(),
        tasks: app.catalog.task_count(),
        python_snapshot: app.sandbox.python_snapshot_state().name(),
        runtimes: app.sandbox.runtime_states().into_iter().collect(),
    }))
}

fn not_ready(message: String) -> ApiError {
    ApiError {
        retry_after: Some(5),
        ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message)
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let load = app.sandbox.load();
    app.metrics.sandbox_runs_running.set(load.running as i64);
    app.metrics.sandbox_runs_queued.set(load.queued as i64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}
