//! BoldSign's error body: `{"error": "<message>"}` (the SDK's `ErrorResult`), with the
//! statuses the SDK declares for identity verification: 400 for a refused request
//! (missing or bad fields, unknown signer, order or file), 401 for a missing or bad key,
//! 403 when the caller is not the document's sender or its key may not do this. A
//! document the caller may not see, unknown or another account's, is 403 `Invalid Document
//! ID` (the vendor's answer): the same for both, so it tells nobody which exists.

use super::map;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kycd_engine::EngineError;

#[derive(Debug)]
pub struct BoldSignError {
    pub status: StatusCode,
    pub message: String,
}

impl BoldSignError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    /// 403 `Invalid Document ID`: unknown, malformed or another account's document.
    pub fn invalid_document() -> Self {
        Self::new(StatusCode::FORBIDDEN, map::INVALID_DOCUMENT)
    }
}

impl From<EngineError> for BoldSignError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(what) => match map::not_found_message(what) {
                map::INVALID_DOCUMENT => Self::invalid_document(),
                m => Self::bad_request(m),
            },
            EngineError::Unauthorized(_) => Self::unauthorized(map::INVALID_KEY),
            EngineError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, m),
            EngineError::Gone(_) => Self::bad_request(map::FILE_ERASED),
            EngineError::RateLimited { detail, .. } => Self::new(StatusCode::TOO_MANY_REQUESTS, detail),
            EngineError::Busy { detail, .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, detail),
            EngineError::Invalid(m)
            | EngineError::Conflict(m)
            | EngineError::TooLarge(m)
            | EngineError::UnsupportedMedia(m)
            | EngineError::UnprocessableImage(m) => Self::bad_request(m),
            EngineError::Store(kycd_engine::StoreError::BadCursor) => Self::bad_request("bad pagination cursor"),
            other @ (EngineError::Store(_) | EngineError::Internal(_)) => {
                tracing::error!(cause = %kycd_engine::error_chain(&other), "internal error (boldsign dialect): answered 500");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "An internal error occurred; retry later")
            }
        }
    }
}

impl IntoResponse for BoldSignError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
