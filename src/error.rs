//! AppError and Result: the only place where statuses and client-visible messages are chosen.

use std::fmt;

pub type Result<T> = std::result::Result<T, AppError>;

/// Everything a handler can fail with. The `String` payloads of `Internal` and
/// `Upstream` are for the log only; clients see the fixed message of `public_message`.
#[derive(Debug)]
pub enum AppError {
    /// Malformed input; the message is shown to the person and must not echo secrets.
    BadRequest(String),
    Unauthorized,
    Forbidden(&'static str),
    NotFound,
    MethodNotAllowed,
    CrossOrigin,
    PayloadTooLarge,
    RateLimited {
        retry_after_secs: u64,
    },
    /// The media server (or plex.tv) could not be reached; never counted as a failed attempt.
    Unavailable(String),
    /// The media server answered something we cannot trust: fail closed.
    Upstream(String),
    /// A dependency of our own (the database) does not answer: 503 for health checks.
    NotReady(String),
    Internal(String),
}

impl AppError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        AppError::BadRequest(msg.into())
    }

    pub fn internal(detail: impl fmt::Display) -> Self {
        AppError::Internal(detail.to_string())
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Unauthorized => 401,
            AppError::Forbidden(_) | AppError::CrossOrigin => 403,
            AppError::NotFound => 404,
            AppError::MethodNotAllowed => 405,
            AppError::PayloadTooLarge => 413,
            AppError::RateLimited { .. } => 429,
            AppError::Upstream(_) => 502,
            AppError::Unavailable(_) | AppError::NotReady(_) => 503,
            AppError::Internal(_) => 500,
        }
    }

    /// The message a person sees. Internal detail never leaks through here.
    pub fn public_message(&self) -> String {
        match self {
            AppError::BadRequest(m) => m.clone(),
            AppError::Unauthorized => "sign-in required".into(),
            AppError::Forbidden(m) => (*m).into(),
            AppError::NotFound => "not found".into(),
            AppError::MethodNotAllowed => "method not allowed".into(),
            AppError::CrossOrigin => "cross-origin request refused".into(),
            AppError::PayloadTooLarge => "request body too large".into(),
            AppError::RateLimited { .. } => "too many attempts, try again later".into(),
            AppError::Unavailable(_) => "media server unreachable, try again".into(),
            AppError::Upstream(_) => {
                "the media server gave an unexpected answer, try again later".into()
            }
            AppError::NotReady(_) => "not ready".into(),
            AppError::Internal(_) => "internal error".into(),
        }
    }

    /// Detail worth a log line (None for ordinary client mistakes).
    pub fn log_detail(&self) -> Option<&str> {
        match self {
            AppError::Unavailable(d)
            | AppError::Upstream(d)
            | AppError::NotReady(d)
            | AppError::Internal(d) => Some(d),
            _ => None,
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status(), self.public_message())?;
        if let Some(d) = self.log_detail() {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for AppError {}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        AppError::Internal(format!("database: {e}"))
    }
}
