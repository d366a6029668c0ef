//! Transmit's error body: `{"message": "...", "error_code": <HTTP status>}`.

use crate::dialect::StatusError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kycd_engine::EngineError;

/// Marks [`StatusError`]s answered in Transmit's shape.
#[derive(Debug)]
pub enum Transmit {}

pub type TransmitError = StatusError<Transmit>;

impl TransmitError {
    pub fn session_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Session not found")
    }
    pub fn image_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Image not found")
    }
}

impl From<EngineError> for TransmitError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound("verification") => Self::session_not_found(),
            EngineError::NotFound("image" | "file") => Self::image_not_found(),
            EngineError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, format!("{what} not found")),
            EngineError::Unauthorized(m) => Self::unauthorized(m),
            EngineError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, m),
            EngineError::Invalid(m) | EngineError::TooLarge(m) | EngineError::UnsupportedMedia(m) | EngineError::UnprocessableImage(m) => {
                Self::bad_request(m)
            }
            EngineError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            EngineError::RateLimited { detail, .. } => Self::new(StatusCode::TOO_MANY_REQUESTS, detail),
            EngineError::Busy { detail, .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, detail),
            // An erased image is as good as gone.
            EngineError::Gone(_) => Self::image_not_found(),
            EngineError::Store(kycd_engine::StoreError::BadCursor) => Self::bad_request("bad pagination cursor"),
            other @ (EngineError::Store(_) | EngineError::Internal(_)) => {
                Self::internal(&other, "transmit", "an internal error occurred; retry later")
            }
        }
    }
}

impl IntoResponse for TransmitError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"message": self.message, "error_code": self.status.as_u16()});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
