//! Request bodies must arrive in time: a client that sends its headers and then trickles its
//! body (or never sends it) gets a 408 after `limits.body_read_timeout_ms` instead of holding a
//! connection and a task. Runs after the key check, so unauthenticated clients never make the
//! server buffer anything.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

pub async fn read_in_time(State(app): AppState, request: Request, next: Next) -> Response {
    let limits = &app.config.limits;
    let timeout = Duration::from_millis(limits.body_read_timeout_ms);
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(error)) => {
            let error = error.into_inner();
            if error.is::<http_body_util::LengthLimitError>() {
                ApiError::too_large(
                    "body_too_large",
                    "the request body exceeds limits.max_body_bytes",
                )
                .into_response()
            } else {
                ApiError::bad_request("unreadable_body", error.to_string()).into_response()
            }
        }
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} ms (limits.body_read_timeout_ms)",
                limits.body_read_timeout_ms
            ),
        )
        .into_response(),
    }
}
