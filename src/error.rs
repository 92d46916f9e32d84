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
    /// Allowed, but only after a second factor, which this session did not pass (403): the
    /// console then shows how to set one up rather than a bare refusal.
    SecondFactorRequired,
    NotFound,
    MethodNotAllowed,
    /// The request cannot be done in the current state of things (409); the message says
    /// what to do.
    Conflict(&'static str),
    CrossOrigin,
    PayloadTooLarge,
    RateLimited {
        retry_after_secs: u64,
    },
    /// An account had too many failed attempts and must wait (429); `reason` is shown.
    Locked {
        reason: &'static str,
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
            AppError::Forbidden(_) | AppError::SecondFactorRequired | AppError::CrossOrigin => 403,
            AppError::NotFound => 404,
            AppError::MethodNotAllowed => 405,
            AppError::Conflict(_) => 409,
            AppError::PayloadTooLarge => 413,
            AppError::RateLimited { .. } | AppError::Locked { .. } => 429,
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
            AppError::Forbidden(m) | AppError::Conflict(m) => (*m).into(),
            AppError::SecondFactorRequired => "sign in with two-factor to use the console".into(),
            AppError::NotFound => "not found".into(),
            AppError::MethodNotAllowed => "method not allowed".into(),
            AppError::CrossOrigin => "cross-origin request refused".into(),
            AppError::PayloadTooLarge => "request body too large".into(),
            AppError::RateLimited { retry_after_secs } => {
                format!(
                    "too many attempts, try again in {}",
                    wait_text(*retry_after_secs)
                )
            }
            AppError::Locked {
                reason,
                retry_after_secs,
            } => format!("{reason}; try again in {}", wait_text(*retry_after_secs)),
            AppError::Unavailable(_) => "media server unreachable, try again".into(),
            AppError::Upstream(_) => {
                "the media server gave an unexpected answer, try again later".into()
            }
            AppError::NotReady(_) => "not ready".into(),
            AppError::Internal(_) => "internal error".into(),
        }
    }

    /// The public message as a sentence for a page ("Too many attempts, try again in
    /// about 2 minutes.").
    pub fn sentence(&self) -> String {
        let m = self.public_message();
        let mut c = m.chars();
        match c.next() {
            Some(first) => first.to_uppercase().chain(c).collect::<String>() + ".",
            None => String::new(),
        }
    }

    /// Seconds a client should wait before trying again (the Retry-After header).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after_secs }
            | AppError::Locked {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
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

/// A wait as a person reads it, rounded up: "1 second", "40 seconds", "about 15
/// minutes", "about 3 hours" (rounded waits say so: the clock keeps moving).
pub fn wait_text(secs: u64) -> String {
    let (n, unit, about) = match secs {
        0..90 => (secs.max(1), "second", ""),
        90..5400 => (secs.div_ceil(60), "minute", "about "),
        _ => (secs.div_ceil(3600), "hour", "about "),
    };
    format!("{about}{n} {unit}{}", if n == 1 { "" } else { "s" })
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

#[cfg(test)]
mod tests {
    #[test]
    fn waits_read_as_people_say_them() {
        use super::wait_text;
        assert_eq!(wait_text(0), "1 second");
        assert_eq!(wait_text(1), "1 second");
        assert_eq!(wait_text(89), "89 seconds");
        assert_eq!(wait_text(100), "about 2 minutes");
        assert_eq!(wait_text(900), "about 15 minutes");
        assert_eq!(wait_text(3601 * 23), "about 24 hours");
    }
}
