//! Transmit's error body: `{"message": "...", "error_code": <HTTP status>}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kycd_engine::EngineError;

#[derive(Debug)]
pub struct TransmitError {
    pub status: StatusCode,
    pub message: String,
}

impl TransmitError {
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
                tracing::error!(cause = %kycd_engine::error_chain(&other), "internal error (transmit dialect): answered 500");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "an internal error occurred; retry later")
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
