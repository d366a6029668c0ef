//! Checkout.com's error body: `{"request_id": "…", "error_type": "…", "error_codes": [...]}`
//! (the shape the official SDKs read into `CheckoutApiException`), with the request id
//! repeated in the `Cko-Request-Id` header.

use super::map;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kycd_engine::EngineError;

pub const REQUEST_ID_HEADER: &str = "cko-request-id";

/// A fresh request id (Checkout's are opaque strings).
pub fn request_id() -> String {
    kycd_core::random_token(26).to_ascii_lowercase()
}

#[derive(Debug)]
pub struct CheckoutError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub codes: Vec<String>,
}

impl CheckoutError {
    pub fn new(status: StatusCode, error_type: &'static str, code: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            codes: vec![code.into()],
        }
    }
    /// 422 `request_invalid` with every field code found (`<field>_required`, `<field>_invalid`).
    pub fn invalid(codes: Vec<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            error_type: "request_invalid",
            codes,
        }
    }
    pub fn invalid_one(code: impl Into<String>) -> Self {
        Self::invalid(vec![code.into()])
    }
    /// 400: the request could not be read at all (not JSON, a query value not a number).
    pub fn malformed(code: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "request_malformed", code)
    }
    pub fn unauthorized(code: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", code)
    }
    pub fn not_found(code: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "resource_not_found", code)
    }
    pub fn conflict(code: &'static str) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", code)
    }
}

impl From<EngineError> for CheckoutError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(what) => Self::not_found(map::not_found_code(what)),
            EngineError::Unauthorized(_) => Self::unauthorized("invalid_authorization"),
            EngineError::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, "forbidden", "api_key_scope_insufficient"),
            EngineError::Invalid(_) => Self::invalid_one("request_invalid"),
            EngineError::TooLarge(_) | EngineError::UnsupportedMedia(_) | EngineError::UnprocessableImage(_) => {
                Self::invalid_one("file_invalid")
            }
            EngineError::Conflict(_) => Self::conflict("identity_verification_status_invalid"),
            // Checkout answers 429 "Too many requests" (Retry-After comes from the middleware
            // for request limits; the detail is not part of its error shape).
            EngineError::RateLimited { .. } => Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", "rate_limit_exceeded"),
            EngineError::Busy { .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "service_unavailable"),
            // Erased with an anonymization: as good as gone.
            EngineError::Gone(_) => Self::not_found("resource_anonymized"),
            EngineError::Store(kycd_engine::StoreError::BadCursor) => Self::invalid_one("skip_invalid"),
            other @ (EngineError::Store(_) | EngineError::Internal(_)) => {
                tracing::error!(cause = %kycd_engine::error_chain(&other), "internal error (checkout dialect): answered 500");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal_error")
            }
        }
    }
}

impl IntoResponse for CheckoutError {
    fn into_response(self) -> Response {
        let id = request_id();
        let body = serde_json::json!({
            "request_id": id,
            "error_type": self.error_type,
            "error_codes": self.codes,
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&id) {
            h.insert(REQUEST_ID_HEADER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
