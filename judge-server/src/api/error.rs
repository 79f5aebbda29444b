//! The one error type of the HTTP API: every 4xx/5xx is `{"error": {code, message, field?}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use judge_api::{ErrorBody, ErrorDetail};

use crate::catalog::{CatalogError, JudgeListProblem};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds for a Retry-After header (429/503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn busy(message: impl Into<String>, retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl ApiError {
    /// A judge list's problem, its fields named by `field_of(index)` (`judges[i]`, or `task`
    /// when the list is a task's).
    pub fn from_judge_list(problem: JudgeListProblem, field_of: impl Fn(usize) -> String) -> Self {
        let message = problem.to_string();
        match problem {
            JudgeListProblem::Empty => {
                ApiError::unprocessable("invalid_task", message).at("judges")
            }
            JudgeListProblem::TooMany { .. } => {
                ApiError::too_large("too_many_judges", message).at(field_of(0))
            }
            JudgeListProblem::Duplicate { index, .. } => {
                ApiError::unprocessable("duplicate_judge", message).at(field_of(index))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        let message = error.to_string();
        match error {
            CatalogError::InvalidName(_) => {
                ApiError::bad_request("invalid_name", message).at("name")
            }
            CatalogError::InvalidConfig(config) => {
                ApiError::unprocessable("invalid_judge_config", config.message).at(config.field)
            }
            CatalogError::ReadOnly { .. } => {
                ApiError::new(StatusCode::CONFLICT, "read_only", message)
            }
            CatalogError::NotFound { what: "judge", .. } => {
                ApiError::not_found("unknown_judge", message)
            }
            CatalogError::NotFound { .. } => ApiError::not_found("unknown_task", message),
            CatalogError::InUse { .. } => {
                ApiError::new(StatusCode::CONFLICT, "judge_in_use", message)
            }
            CatalogError::UnknownJudge { index, .. } => {
                ApiError::unprocessable("unknown_judge", message).at(format!("judges[{index}]"))
            }
            CatalogError::InvalidJudgeList(problem) => {
                ApiError::from_judge_list(problem, |i| format!("judges[{i}]"))
            }
            CatalogError::Database(error) => {
                tracing::error!(%error, "database error while changing the catalog");
                ApiError::busy("the database is unavailable; try again", 5)
            }
        }
    }
}
