use kycd_store::StoreError;

/// Every way a use case can refuse. The HTTP edge maps each variant to one status code
/// and problem type; the messages are written for the API user and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMedia(String),
    #[error("{0}")]
    UnprocessableImage(String),
    /// Too many requests for a rate limit; `retry_after_secs` until one more is admitted.
    #[error("{detail}")]
    RateLimited { detail: String, retry_after_secs: u64 },
    /// The server is at a capacity bound of its own (password hashes, upload bytes in
    /// flight), not the caller's quota: 503, retry after `retry_after_secs`.
    #[error("{detail}")]
    Busy { detail: String, retry_after_secs: u64 },
    #[error("internal error")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// Problem `type` suffix, stable across versions.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not-found",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Invalid(_) => "invalid-request",
            Self::Conflict(_) => "conflict",
            Self::Gone(_) => "gone",
            Self::TooLarge(_) => "payload-too-large",
            Self::UnsupportedMedia(_) => "unsupported-media-type",
            Self::UnprocessableImage(_) => "unprocessable-image",
            Self::RateLimited { .. } => "rate-limited",
            Self::Busy { .. } => "busy",
            Self::Store(StoreError::BadCursor) => "invalid-cursor",
            Self::Store(_) | Self::Internal(_) => "internal",
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
