//! The refresh_token grant: every use rotates the token, and an old one coming back ends
//! its whole grant (a copy is in someone else's hands). A refresh may narrow the scopes,
//! never widen them.

use rusqlite::Connection;

use super::grants::{self, Grant, digest_of};
use super::token::{Granted, TokenRequest, replayed};
use super::{Caller, OAuthError, parse_scopes};
use crate::app::App;
use crate::db::oauth::{self, Client, Kind};
use crate::error::Result;

pub(super) fn grant(
    app: &App,
    caller: &Caller,
    tx: &Connection,
    client: &Client,
    req: &TokenRequest,
    now: i64,
) -> Result<Granted> {
    let invalid = |d: &'static str| Ok(Err(OAuthError::InvalidGrant(d.into()).into()));
    let Some(presented) = req.refresh_token else {
        return Ok(Err(OAuthError::InvalidRequest(
            "refresh_token is missing".into(),
        )
        .into()));
    };
    let digest = digest_of(presented);
    let t = match oauth::token(tx, &digest)? {
        Some(t) if t.kind == Kind::Refresh && t.client == client.id => t,
        _ => return invalid("unknown refresh token"),
    };
    if t.revoked_at.is_some() {
        return invalid("the refresh token was revoked");
    }
    if t.rotated_at.is_some() || !oauth::rotate_token(tx, &digest, now)? {
        // An old refresh token came back: it was copied. End the whole family.
        let e = replayed(caller, tx, client, &t.family, "refresh token", now)?;
        return Ok(Err(e));
    }
    if t.expires_at <= now {
        return invalid("the refresh token expired");
    }
    let Some(user_id) = t.user_id else {
        return invalid("not a user's token");
    };
    if !crate::db::users::still_authorized(tx, user_id)? {
        oauth::revoke_family(tx, &t.family, now)?;
        return invalid("the user no longer has access");
    }
    if !super::authorize::member_of_allowed_group(tx, client, user_id)? {
        oauth::revoke_family(tx, &t.family, now)?;
        return invalid("the user is no longer in a group allowed to use this application");
    }
    let scopes = match narrowed(&t.scopes, req.scope) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.into())),
    };
    Ok(Ok(grants::issue_tokens(
        app,
        tx,
        &Grant {
            client,
            user_id: Some(user_id),
            family: &t.family,
            sid: t.sid.as_deref(),
            scopes: &scopes,
            refresh_scopes: &t.scopes,
            auth_time: t.auth_time,
            amr: &t.amr,
            nonce: None,
        },
        now,
    )?))
}

/// The scopes a refresh asks for: all that were granted when it names none, else a
/// subset of them (RFC 6749 6).
fn narrowed(
    granted: &[String],
    asked: Option<&str>,
) -> std::result::Result<Vec<String>, OAuthError> {
    let Some(asked) = asked else {
        return Ok(granted.to_vec());
    };
    let asked = parse_scopes(asked);
    match asked.iter().find(|x| !granted.contains(x)) {
        Some(extra) => Err(OAuthError::InvalidScope(
            format!("scope {extra:?} was not granted").into(),
        )),
        None => Ok(asked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_may_narrow_scopes_but_not_widen_them() {
        let granted = parse_scopes("openid profile offline_access");
        assert_eq!(narrowed(&granted, None), Ok(granted.clone()));
        assert_eq!(
            narrowed(&granted, Some("profile openid profile")),
            Ok(parse_scopes("profile openid"))
        );
        let e = narrowed(&granted, Some("openid email")).unwrap_err();
        assert_eq!(e.code(), "invalid_scope");
        assert_eq!(e.description(), r#"scope "email" was not granted"#);
    }
}
