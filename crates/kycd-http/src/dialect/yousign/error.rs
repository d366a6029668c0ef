//! The dialect's errors: RFC 9457 problem+json (`type`, `title`, `status`, `detail`), the
//! shape the vendor documents for these endpoints (`feature-not-enabled`). The `type` is
//! the bare problem word the vendor names (a relative URI reference), not kycd's
//! `https://kycd.dev/problems/…`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kycd_engine::EngineError;

#[derive(Debug)]
pub struct YousignError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: String,
}

impl YousignError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
        }
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found: check the id and that it belongs to this API key's business"),
        )
    }
    /// 403: the business does not have the Express QES identification evidence feature.
    pub fn feature_not_enabled() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "feature-not-enabled",
            "Express QES identification evidence is not enabled for this business; the operator enables it with \
             'kycd tenant features --tenant <tenant id> --enable express_qes_evidence'",
        )
    }
    /// 409: the identification has not reached a verdict yet.
    pub fn not_completed(status: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "identification-not-completed",
            format!(
                "the identification process is not completed (status {status}); its evidence is available once \
                 completedAt is set"
            ),
        )
    }
}

impl From<EngineError> for YousignError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(what) => Self::not_found(what),
            EngineError::Unauthorized(m) => Self::unauthorized(m),
            EngineError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            EngineError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            // Anonymized (or deleted) since: its files were erased.
            EngineError::Gone(m) => Self::new(StatusCode::GONE, "evidence-erased", m),
            EngineError::Invalid(m) => Self::new(StatusCode::BAD_REQUEST, "invalid-request", m),
            EngineError::RateLimited { detail, .. } => Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", detail),
            // The evidence endpoints take no uploads today; should one ever reach here,
            // a bad image is still the caller's error, never a 500.
            EngineError::TooLarge(m) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", m),
            EngineError::UnsupportedMedia(m) => Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", m),
            EngineError::UnprocessableImage(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable-image", m),
            other => {
                tracing::error!(error = %other, "internal error (yousign dialect)");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; retry later, and if it persists contact the operator with the time of the request",
                )
            }
        }
    }
}

impl IntoResponse for YousignError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": self.kind,
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
