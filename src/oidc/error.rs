//! The OAuth errors the provider answers with: each registered error code (RFC 6749
//! 4.1.2.1 and 5.2, OpenID Connect Core 3.1.2.6, RFC 6750 3.1, RFC 8628 3.5) with its
//! human description and HTTP status. web/oidc.rs turns one into the JSON body, the
//! redirect parameters or the WWW-Authenticate challenge.

use std::borrow::Cow;
use std::fmt;

use crate::error::AppError;

/// Why a client's request was refused; the text is the `error_description` it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    InvalidRequest(Cow<'static, str>),
    InvalidClient(Cow<'static, str>),
    InvalidGrant(Cow<'static, str>),
    UnauthorizedClient(Cow<'static, str>),
    UnsupportedGrantType(Cow<'static, str>),
    InvalidScope(Cow<'static, str>),
    AccessDenied(Cow<'static, str>),
    UnsupportedResponseType(Cow<'static, str>),
    ServerError(Cow<'static, str>),
    LoginRequired(Cow<'static, str>),
    ConsentRequired(Cow<'static, str>),
    RequestNotSupported(Cow<'static, str>),
    RequestUriNotSupported(Cow<'static, str>),
    /// RFC 6750: the bearer token is unknown, expired or revoked.
    InvalidToken(Cow<'static, str>),
    /// RFC 6750: the token lacks a scope the resource needs.
    InsufficientScope(Cow<'static, str>),
    /// RFC 8628 3.5: a device polled faster than its interval (which now grows); also
    /// the answer, with 429 and Retry-After, to too many requests from one address.
    SlowDown(Cow<'static, str>),
    /// RFC 8628 3.5: the person has not approved or denied the device's request yet.
    AuthorizationPending(Cow<'static, str>),
    /// RFC 8628 3.5: the device code expired before it was approved.
    ExpiredToken(Cow<'static, str>),
}

use OAuthError::*;

impl OAuthError {
    /// The registered error name (the `error` parameter).
    pub fn code(&self) -> &'static str {
        match self {
            InvalidRequest(_) => "invalid_request",
            InvalidClient(_) => "invalid_client",
            InvalidGrant(_) => "invalid_grant",
            UnauthorizedClient(_) => "unauthorized_client",
            UnsupportedGrantType(_) => "unsupported_grant_type",
            InvalidScope(_) => "invalid_scope",
            AccessDenied(_) => "access_denied",
            UnsupportedResponseType(_) => "unsupported_response_type",
            ServerError(_) => "server_error",
            LoginRequired(_) => "login_required",
            ConsentRequired(_) => "consent_required",
            RequestNotSupported(_) => "request_not_supported",
            RequestUriNotSupported(_) => "request_uri_not_supported",
            InvalidToken(_) => "invalid_token",
            InsufficientScope(_) => "insufficient_scope",
            SlowDown(_) => "slow_down",
            AuthorizationPending(_) => "authorization_pending",
            ExpiredToken(_) => "expired_token",
        }
    }

    /// The `error_description`: fixed or built from the request, never internal detail.
    pub fn description(&self) -> &str {
        match self {
            InvalidRequest(d)
            | InvalidClient(d)
            | InvalidGrant(d)
            | UnauthorizedClient(d)
            | UnsupportedGrantType(d)
            | InvalidScope(d)
            | AccessDenied(d)
            | UnsupportedResponseType(d)
            | ServerError(d)
            | LoginRequired(d)
            | ConsentRequired(d)
            | RequestNotSupported(d)
            | RequestUriNotSupported(d)
            | InvalidToken(d)
            | InsufficientScope(d)
            | SlowDown(d)
            | AuthorizationPending(d)
            | ExpiredToken(d) => d,
        }
    }

    /// The HTTP status at the token-style endpoints (RFC 6749 5.2: 400 unless the client
    /// failed to authenticate, RFC 8628 3.5's polling errors included; RFC 6750 3.1 for
    /// bearer tokens). The rate limit's slow_down is sent with 429 by web/oidc.rs.
    pub fn status(&self) -> u16 {
        match self {
            InvalidClient(_) | InvalidToken(_) => 401,
            InsufficientScope(_) => 403,
            ServerError(_) => 500,
            _ => 400,
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.description())
    }
}

/// A token-style request that did not succeed: refused under OAuth's rules, or failed on
/// our side (the web layer logs that and answers server_error).
#[derive(Debug)]
pub enum Failure {
    OAuth(OAuthError),
    App(AppError),
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Failure::App(e)
    }
}

impl From<OAuthError> for Failure {
    fn from(e: OAuthError) -> Self {
        Failure::OAuth(e)
    }
}

/// The result of a token-style request.
pub type Outcome<T> = std::result::Result<T, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_follow_the_rfcs() {
        let cases = [
            (InvalidRequest("x".into()), "invalid_request", 400),
            (InvalidClient("x".into()), "invalid_client", 401),
            (InvalidGrant("x".into()), "invalid_grant", 400),
            (UnauthorizedClient("x".into()), "unauthorized_client", 400),
            (
                UnsupportedGrantType("x".into()),
                "unsupported_grant_type",
                400,
            ),
            (InvalidScope("x".into()), "invalid_scope", 400),
            (AccessDenied("x".into()), "access_denied", 400),
            (
                UnsupportedResponseType("x".into()),
                "unsupported_response_type",
                400,
            ),
            (ServerError("x".into()), "server_error", 500),
            (LoginRequired("x".into()), "login_required", 400),
            (ConsentRequired("x".into()), "consent_required", 400),
            (
                RequestNotSupported("x".into()),
                "request_not_supported",
                400,
            ),
            (
                RequestUriNotSupported("x".into()),
                "request_uri_not_supported",
                400,
            ),
            (InvalidToken("x".into()), "invalid_token", 401),
            (InsufficientScope("x".into()), "insufficient_scope", 403),
            (SlowDown("x".into()), "slow_down", 400),
            (
                AuthorizationPending("x".into()),
                "authorization_pending",
                400,
            ),
            (ExpiredToken("x".into()), "expired_token", 400),
        ];
        for (e, code, status) in cases {
            assert_eq!(e.code(), code);
            assert_eq!(e.status(), status, "{code}");
            assert_eq!(e.description(), "x");
        }
    }

    #[test]
    fn descriptions_may_be_built_from_the_request() {
        let e = InvalidScope(format!("scope {:?} was not granted", "admin").into());
        assert_eq!(e.description(), r#"scope "admin" was not granted"#);
        assert_eq!(
            e.to_string(),
            r#"invalid_scope: scope "admin" was not granted"#
        );
    }

    #[test]
    fn failures_come_from_both_sides() {
        assert!(matches!(
            Failure::from(InvalidGrant("x".into())),
            Failure::OAuth(InvalidGrant(_))
        ));
        assert!(matches!(
            Failure::from(AppError::internal("db")),
            Failure::App(_)
        ));
    }
}
