//! Vendor dialects: each answers one vendor's public API exactly (paths, fields, status
//! words, error bodies), translating requests into engine calls and engine results into
//! the vendor's shapes. No business rule lives here: what to decide is the engine's.

use axum::http::{HeaderMap, StatusCode};
use std::marker::PhantomData;

pub mod boldsign;
pub mod checkout;
pub(crate) mod oauth;
pub mod skribble;
pub mod transmit;

/// An error that is a status and a message (BoldSign's and Transmit's): `D` names the
/// dialect, whose own body shape it answers with.
#[derive(Debug)]
pub struct StatusError<D> {
    pub status: StatusCode,
    pub message: String,
    dialect: PhantomData<D>,
}

impl<D> StatusError<D> {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            dialect: PhantomData,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    /// 500 with the dialect's `message`, the cause logged (the answer says nothing of it).
    pub fn internal(cause: &kycd_engine::EngineError, dialect: &str, message: &str) -> Self {
        tracing::error!(cause = %kycd_engine::error_chain(cause), "internal error ({dialect} dialect): answered 500");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// The credential of `Authorization: Bearer <credential>` (either case of `Bearer`),
/// trimmed; `None` when the header is absent, of another scheme or empty.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    crate::extract::bearer_credential(headers).filter(|credential| !credential.is_empty())
}
