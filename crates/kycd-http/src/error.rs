//! The one mapping from errors to HTTP: RFC 9457 problem+json with a stable `type`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kycd_engine::EngineError;

pub const PROBLEM_BASE: &str = "https://kycd.dev/problems/";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Seconds for `Retry-After` (429 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", detail)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found: check the id and that it belongs to this API key's account"),
        )
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::NotFound(what) => return Self::not_found(what),
            EngineError::RateLimited { detail, retry_after_secs } => {
                let mut err = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", detail.clone());
                err.retry_after = Some(*retry_after_secs);
                return err;
            }
            EngineError::Busy { detail, retry_after_secs } => {
                let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail.clone());
                err.retry_after = Some(*retry_after_secs);
                return err;
            }
            EngineError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            EngineError::Forbidden(_) => StatusCode::FORBIDDEN,
            EngineError::Invalid(_) | EngineError::UnprocessableImage(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::Conflict(_) => StatusCode::CONFLICT,
            EngineError::Gone(_) => StatusCode::GONE,
            EngineError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            EngineError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            EngineError::Store(kycd_engine::StoreError::BadCursor) => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::Store(_) | EngineError::Internal(_) => {
                // Never leak internals to the caller; the log has them, cause by cause (the
                // store's messages name tables and columns, never values). The line is in
                // the request's span: its request id is the one the caller got.
                tracing::error!(cause = %kycd_engine::error_chain(&e), "internal error: answered 500");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; retry later, and if it persists contact the operator with the time of the request",
                );
            }
        };
        let detail = match &e {
            EngineError::Store(s) => s.to_string(),
            other => other.to_string(),
        };
        Self::new(status, e.code(), detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": format!("{PROBLEM_BASE}{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
