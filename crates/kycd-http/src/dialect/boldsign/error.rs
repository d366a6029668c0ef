//! BoldSign's error body: `{"error": "<message>"}` (the SDK's `ErrorResult`), with the
//! statuses the SDK declares for identity verification: 400 for a refused request
//! (missing or bad fields, unknown signer, order or file), 401 for a missing or bad key,
//! 403 when the caller is not the document's sender or its key may not do this. A
//! document the caller may not see, unknown or another account's, is 403 `Invalid Document
//! ID` (the vendor's answer): the same for both, so it tells nobody which exists.

use super::map;
use crate::dialect::StatusError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kycd_engine::EngineError;

/// Marks [`StatusError`]s answered in BoldSign's shape.
#[derive(Debug)]
pub enum BoldSign {}

pub type BoldSignError = StatusError<BoldSign>;

impl BoldSignError {
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
                Self::internal(&other, "boldsign", "An internal error occurred; retry later")
            }
        }
    }
}

impl IntoResponse for BoldSignError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
