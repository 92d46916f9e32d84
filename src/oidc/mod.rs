//! The OpenID Connect provider's logic: clients, authorization requests, grants and
//! tokens, signing keys. The HTTP side is web/oidc.rs.

pub mod authorize;
pub mod clients;
pub mod grants;
pub mod keys;

/// An authorization code must be redeemed within this many seconds.
pub const CODE_TTL: i64 = 60;
pub const ACCESS_TTL: i64 = 3600;
pub const ID_TOKEN_TTL: i64 = 3600;
/// A refresh token lives this long; every use rotates it.
pub const REFRESH_TTL: i64 = 30 * 24 * 3600;

pub const SCOPES: &[&str] = &["openid", "profile", "email", "groups", "offline_access"];
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// An OAuth error (RFC 6749 4.1.2.1 and 5.2): `code` is the registered error name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    /// The HTTP status for this error at the token-style endpoints.
    pub fn status(&self) -> u16 {
        match self.code {
            "invalid_client" => 401,
            "server_error" => 500,
            "temporarily_unavailable" => 503,
            _ => 400,
        }
    }
}

/// Space-separated scope string -> list, in order, without duplicates.
pub fn parse_scopes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in s.split(' ').filter(|x| !x.is_empty()) {
        if !out.iter().any(|o| o == scope) {
            out.push(scope.to_string());
        }
    }
    out
}
