//! `ApiJson<T>`: a JSON body extractor whose rejections are [`ApiError`]s naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::exact::big_integers_as_strings;
use crate::judges::with_missing_field;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::too_large(
                        "body_too_large",
                        "the request body exceeds limits.max_body_bytes",
                    )
                } else {
                    ApiError::bad_request("unreadable_body", rejection.body_text())
                }
            })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Deserialises JSON; syntax errors are 400 `invalid_json`, type/shape errors are 422
/// `invalid_request` with the path of the offending field. Integers beyond 64 bits arrive as
/// strings of their digits (`exact.rs`), never as floats that lost digits.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = big_integers_as_strings(bytes);
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = with_missing_field(path, &message);
                let error = ApiError::unprocessable("invalid_request", message);
                if field.is_empty() || field == "." {
                    error
                } else {
                    error.at(field)
                }
            }
            _ => ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {message}"),
            ),
        }
    })?;
    deserializer.end().map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("trailing data after the JSON body: {e}"),
        )
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use judge_api::JudgeRequest;

    #[test]
    fn errors_name_the_field() {
        let error =
            parse::<JudgeRequest>(br#"{"task": "t", "items": [{"prompt": "p"}]}"#).unwrap_err();
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.field.as_deref(), Some("items[0].response"));
        let error =
            parse::<JudgeRequest>(br#"{"task": "t", "items": [{"response": 5}]}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("items[0].response"));
        let error = parse::<JudgeRequest>(br#"{"task": "t"}"#).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("items"));
        let error =
            parse::<JudgeRequest>(br#"{"task": "t", "items": [], "bogus": 1}"#).unwrap_err();
        assert_eq!(error.code, "invalid_request");
        let error = parse::<JudgeRequest>(br#"{"task": "#).unwrap_err();
        assert_eq!(
            (error.status, error.code),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
        let error = parse::<JudgeRequest>(br#"{"task": "t", "items": []} x"#).unwrap_err();
        assert_eq!(error.code, "invalid_json");
    }
}
