//! The userinfo endpoint (OpenID Connect Core 5.3): the claims a live Bearer access token
//! (RFC 6750) releases about its user.

use rusqlite::Connection;
use serde_json::{Map, Value};

use super::grants::{self, digest_of};
use super::{OAuthError, Outcome};
use crate::db::oauth::{self, Kind};

/// The claims for `token`: invalid_token unless it is a live access token of a user who
/// still has access, insufficient_scope without openid.
pub fn claims(
    app: &crate::app::App,
    conn: &Connection,
    token: &str,
    now: i64,
) -> Outcome<Map<String, Value>> {
    let invalid =
        || OAuthError::InvalidToken("the access token is invalid, expired or revoked".into());
    let t = match oauth::token(conn, &digest_of(token))? {
        Some(t) if t.kind == Kind::Access && t.revoked_at.is_none() && t.expires_at > now => t,
        _ => return Err(invalid().into()),
    };
    let Some(user_id) = t.user_id else {
        return Err(invalid().into());
    };
    if !crate::db::users::still_authorized(conn, user_id)? {
        return Err(invalid().into());
    }
    if !t.scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::InsufficientScope(
            "the token was not granted the openid scope".into(),
        )
        .into());
    }
    Ok(grants::user_claims(app, conn, user_id, &t.scopes)?)
}
