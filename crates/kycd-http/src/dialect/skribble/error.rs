//! Skribble's error envelope, on every error under the mount:
//! `{"type": "<host>/problem/<slug>", "method", "path", "status", "message", "key"?}`.
//! Skribble's clients match the slug after `/problem/` and the optional `key`; the host in
//! front is the environment's own (kycd's public URL here), as Skribble documents.
//!
//! The envelope names the request's method and path, which a handler's error does not
//! know: an error is answered as a draft (status, slug, message, key) and [`envelope`],
//! the dialect's outermost layer, writes the body with the request's method and path. It
//! also wraps what axum answers by itself under the mount (405, a body over the limit).

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kycd_engine::EngineError;

/// The problem slugs Skribble publishes (the part of `type` after `/problem/`); the
/// variants keep Skribble's names, one of which repeats the enum's.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    ProblemWithMessage,
    EntityNotFound,
    FeatureNotEnabled,
    ConstraintViolation,
    LimitExceeded,
}

impl Problem {
    pub fn slug(self) -> &'static str {
        match self {
            Self::ProblemWithMessage => "problem-with-message",
            Self::EntityNotFound => "entity-not-found",
            Self::FeatureNotEnabled => "feature-not-enabled",
            Self::ConstraintViolation => "constraint-violation",
            Self::LimitExceeded => "limit-exceeded",
        }
    }
}

/// The machine-readable `key`s Skribble publishes that kycd answers.
pub mod key {
    pub const TOKEN_EXPIRED: &str = "error.auth.token_expired";
    pub const TOKEN_INVALID: &str = "error.auth.token_invalid";
    pub const CREDENTIALS_INVALID: &str = "error.auth.credentials_invalid";
    pub const RATE_LIMIT: &str = "error.rate_limit.exceeded";
}

#[derive(Debug, Clone)]
pub struct SkribbleError {
    pub status: StatusCode,
    pub problem: Problem,
    pub message: String,
    pub key: Option<&'static str>,
}

impl SkribbleError {
    pub fn new(status: StatusCode, problem: Problem, message: impl Into<String>) -> Self {
        Self {
            status,
            problem,
            message: message.into(),
            key: None,
        }
    }
    fn with_key(mut self, key: &'static str) -> Self {
        self.key = Some(key);
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Problem::ProblemWithMessage, message)
    }
    pub fn token_missing() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            Problem::ProblemWithMessage,
            "missing access token: POST your API key id (username) and key (api-key) to /access/login, then send 'Authorization: Bearer <token>'",
        )
    }
    pub fn token_invalid() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            Problem::ProblemWithMessage,
            "the access token is not valid (malformed, not issued here, or its API key was revoked): log in again at /access/login",
        )
        .with_key(key::TOKEN_INVALID)
    }
    pub fn token_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            Problem::ProblemWithMessage,
            "the access token expired (they live 20 minutes): log in again at /access/login",
        )
        .with_key(key::TOKEN_EXPIRED)
    }
    pub fn credentials_invalid() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            Problem::ProblemWithMessage,
            "the credentials were rejected: username is an API key id (key_…) and api-key that key, from 'kycd apikey create'; a revoked key cannot log in",
        )
        .with_key(key::CREDENTIALS_INVALID)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            Problem::EntityNotFound,
            format!("{what} not found: check the id and that it belongs to this API key's business"),
        )
    }
    /// 403: the business does not have the Express QES identification evidence feature.
    pub fn feature_not_enabled() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            Problem::FeatureNotEnabled,
            "Express QES identification evidence is not enabled for this business; the operator enables it with \
             'kycd tenant features --tenant <tenant id> --enable express_qes_evidence'",
        )
    }
    /// 409: the identification has not reached a verdict yet.
    pub fn not_completed(status: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            Problem::ConstraintViolation,
            format!(
                "the identification process is not completed (status {status}); its evidence is available once \
                 completedAt is set"
            ),
        )
    }
}

impl From<EngineError> for SkribbleError {
    fn from(e: EngineError) -> Self {
        use StatusCode as S;
        match e {
            EngineError::NotFound(what) => Self::not_found(what),
            EngineError::Unauthorized(_) => Self::token_invalid(),
            EngineError::Forbidden(m) => Self::new(S::FORBIDDEN, Problem::ProblemWithMessage, m),
            EngineError::Conflict(m) => Self::new(S::CONFLICT, Problem::ConstraintViolation, m),
            // Anonymized (or deleted) since: its files were erased.
            EngineError::Gone(m) => Self::new(S::GONE, Problem::ProblemWithMessage, m),
            EngineError::Invalid(m) => Self::bad_request(m),
            EngineError::RateLimited { detail, .. } => {
                Self::new(S::TOO_MANY_REQUESTS, Problem::LimitExceeded, detail).with_key(key::RATE_LIMIT)
            }
            EngineError::Busy { detail, .. } => Self::new(S::SERVICE_UNAVAILABLE, Problem::ProblemWithMessage, detail),
            EngineError::TooLarge(m) => Self::new(S::PAYLOAD_TOO_LARGE, Problem::LimitExceeded, m),
            // The dialect takes no images; should one reach here, it is still the caller's error.
            EngineError::UnsupportedMedia(m) | EngineError::UnprocessableImage(m) => Self::bad_request(m),
            EngineError::Store(kycd_engine::StoreError::BadCursor) => Self::bad_request("bad pagination cursor"),
            other @ (EngineError::Store(_) | EngineError::Internal(_)) => {
                tracing::error!(cause = %kycd_engine::error_chain(&other), "internal error (skribble dialect): answered 500");
                Self::new(
                    S::INTERNAL_SERVER_ERROR,
                    Problem::ProblemWithMessage,
                    "an internal error occurred; retry later, and if it persists contact the operator with the time of the request",
                )
            }
        }
    }
}

/// The answer is a draft: [`envelope`] writes the body.
impl IntoResponse for SkribbleError {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// What axum answers by itself under the mount, in Skribble's words.
fn framework_error(status: StatusCode) -> SkribbleError {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => SkribbleError::new(
            status,
            Problem::ProblemWithMessage,
            "this method is not allowed on this path: see docs/dialects.md for the Skribble endpoints kycd answers",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => SkribbleError::new(status, Problem::LimitExceeded, "the request body is too large"),
        StatusCode::NOT_FOUND => SkribbleError::not_found("endpoint"),
        s if s.is_server_error() => SkribbleError::new(s, Problem::ProblemWithMessage, "an internal error occurred; retry later"),
        s => SkribbleError::new(s, Problem::ProblemWithMessage, "the request was refused"),
    }
}

/// The dialect's outermost layer: every error answered under the mount leaves in
/// Skribble's envelope, with the request's method and path (never its query: it may hold
/// secrets).
pub async fn envelope(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    // This layer sits on the router nested at the mount, which sees paths without it.
    let path = format!("{}{}", super::MOUNT, req.uri().path());
    let mut resp = next.run(req).await;
    let draft = match resp.extensions_mut().remove::<SkribbleError>() {
        Some(e) => e,
        None if resp.status().is_client_error() || resp.status().is_server_error() => framework_error(resp.status()),
        None => return resp,
    };
    let base = s.engine.config().public_url.trim_end_matches('/').to_owned();
    let mut body = serde_json::json!({
        "type": format!("{base}/problem/{}", draft.problem.slug()),
        "method": method,
        "path": path,
        "status": draft.status.as_u16(),
        "message": draft.message,
    });
    if let Some(k) = draft.key {
        body["key"] = serde_json::Value::String(k.to_owned());
    }
    let mut out = (draft.status, axum::Json(body)).into_response();
    // Keep what other layers set (rate-limit headers, request ids), replace the body's type.
    for (name, value) in resp.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if draft.status == StatusCode::UNAUTHORIZED {
        out.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    out
}
