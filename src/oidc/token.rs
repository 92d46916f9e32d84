//! The token endpoint (RFC 6749 3.2): client authentication, then one grant —
//! authorization_code with PKCE (RFC 7636), client_credentials, refresh_token
//! (refresh.rs) or device_code (device.rs, RFC 8628) — in one write transaction. The ID
//! token is signed after it commits.

use rusqlite::Connection;
use serde_json::{Value, json};

use super::clients::{self, Credentials};
use super::grants::{self, Grant, Issued, digest_of};
use super::{Caller, Failure, GRANT_TYPES, OAuthError, Outcome, device, parse_scopes, refresh};
use crate::app::App;
use crate::crypto::{b64url, ct_eq, random_bytes, sha256};
use crate::db::oauth::{self, Client};
use crate::error::Result;
use crate::event_type::EventType;

/// The parameters of a token request, as sent (web/ refuses any sent twice).
#[derive(Debug, Default)]
pub struct TokenRequest<'a> {
    pub grant_type: Option<&'a str>,
    pub code: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    pub refresh_token: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub device_code: Option<&'a str>,
}

/// A grant's answer inside its transaction. The outer error is a database fault (rolled
/// back); the inner one is the client's answer, and commits: a replay's revocations stick.
pub(super) type Granted = std::result::Result<Issued, Failure>;

fn invalid_grant(description: &'static str) -> Failure {
    OAuthError::InvalidGrant(description.into()).into()
}

/// POST /oidc/token: the token response (with a signed ID token when openid was granted).
pub fn exchange(
    app: &App,
    caller: &Caller,
    creds: &Credentials,
    req: &TokenRequest,
    now: i64,
) -> Outcome<Value> {
    let client = clients::authenticate(&*app.db.conn()?, creds)?;
    let grant_type = req
        .grant_type
        .ok_or_else(|| OAuthError::InvalidRequest("grant_type is missing".into()))?;
    if !GRANT_TYPES.contains(&grant_type) {
        return Err(OAuthError::UnsupportedGrantType(
            "grant_type must be authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code".into(),
        )
        .into());
    }
    if !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use that grant type".into(),
        )
        .into());
    }
    let result = app.db.with_tx(|tx| {
        let granted = match grant_type {
            "authorization_code" => code_grant(app, caller, tx, &client, req, now),
            "refresh_token" => refresh::grant(app, caller, tx, &client, req, now),
            device::GRANT_TYPE => device::grant(app, tx, &client, req.device_code, now),
            _ => client_credentials_grant(app, tx, &client, req.scope, now),
        }?;
        if let Ok(issued) = &granted {
            token_event(caller, tx, &client, grant_type, issued, now)?;
        }
        Ok(granted)
    })?;
    // The write lock is released: now the RSA signature.
    Ok(result?.sign(app, now)?)
}

/// Audits tokens handed out (never their values): whose, to which client, which scopes.
/// Refused requests are not events: the endpoint is open to any client and rate limited
/// generously, and a misbehaving one must not fill the log.
fn token_event(
    caller: &Caller,
    tx: &Connection,
    client: &Client,
    grant_type: &str,
    issued: &Issued,
    now: i64,
) -> Result<()> {
    let kind = if grant_type == "refresh_token" {
        EventType::TokenRefreshed
    } else {
        EventType::TokenIssued
    };
    let body = &issued.response;
    caller.record(
        tx,
        kind,
        issued.user_id,
        json!({
            "client_id": client.client_id,
            "grant_type": grant_type,
            "scope": body["scope"],
            "refresh_token": body.get("refresh_token").is_some(),
        }),
        now,
    )
}

/// PKCE S256 (RFC 7636 4.1, 4.6): a well-formed verifier whose SHA-256 is the challenge,
/// compared in constant time.
pub fn verifier_matches(challenge: &str, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed
        && ct_eq(
            b64url(&sha256(verifier.as_bytes())).as_bytes(),
            challenge.as_bytes(),
        )
}

fn code_grant(
    app: &App,
    caller: &Caller,
    tx: &Connection,
    client: &Client,
    req: &TokenRequest,
    now: i64,
) -> Result<Granted> {
    let Some(code) = req.code else {
        return Ok(Err(
            OAuthError::InvalidRequest("code is missing".into()).into()
        ));
    };
    let digest = digest_of(code);
    let Some(grant) = oauth::code(tx, &digest)? else {
        return Ok(Err(invalid_grant("unknown authorization code")));
    };
    if grant.client != client.id {
        return Ok(Err(invalid_grant("the code was issued to another client")));
    }
    if !oauth::use_code(tx, &digest, now)? {
        // A second redemption: someone has a copy. Everything from this code ends.
        let e = replayed(caller, tx, client, &grant.family, "authorization code", now)?;
        return Ok(Err(e));
    }
    if grant.expires_at <= now {
        return Ok(Err(invalid_grant("the code expired")));
    }
    if req.redirect_uri != Some(grant.redirect_uri.as_str()) {
        return Ok(Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        )));
    }
    match (&grant.code_challenge, req.code_verifier) {
        (Some(challenge), Some(verifier)) => {
            if !verifier_matches(challenge, verifier) {
                return Ok(Err(invalid_grant(
                    "code_verifier does not match the code_challenge",
                )));
            }
        }
        (Some(_), None) => return Ok(Err(invalid_grant("code_verifier is missing"))),
        (None, Some(_)) => {
            return Ok(Err(invalid_grant(
                "code_verifier given but the authorization request had no code_challenge",
            )));
        }
        (None, None) => {}
    }
    if !crate::db::users::still_authorized(tx, grant.user_id)? {
        return Ok(Err(invalid_grant("the user no longer has access")));
    }
    Ok(Ok(grants::issue_tokens(
        app,
        tx,
        &Grant {
            client,
            user_id: Some(grant.user_id),
            family: &grant.family,
            sid: Some(&grant.sid),
            scopes: &grant.scopes,
            refresh_scopes: &grant.scopes,
            auth_time: Some(grant.auth_time),
            amr: &grant.amr,
            nonce: grant.nonce.as_deref(),
        },
        now,
    )?))
}

/// A code or refresh token presented twice: revokes every token of its grant.
pub(super) fn replayed(
    caller: &Caller,
    tx: &Connection,
    client: &Client,
    family: &str,
    what: &str,
    now: i64,
) -> Result<Failure> {
    let n = oauth::revoke_family(tx, family, now)?;
    crate::log_warn!(
        "req={} {what} replayed by client {}; revoked {n} tokens of its grant",
        caller.request_id,
        client.client_id
    );
    Ok(OAuthError::InvalidGrant(
        format!("the {what} was already used; every token of its grant is revoked").into(),
    )
    .into())
}

fn client_credentials_grant(
    app: &App,
    tx: &Connection,
    client: &Client,
    scope: Option<&str>,
    now: i64,
) -> Result<Granted> {
    if client.public {
        return Ok(Err(OAuthError::UnauthorizedClient(
            "public clients cannot use client_credentials".into(),
        )
        .into()));
    }
    let scopes = parse_scopes(scope.unwrap_or(""));
    if let Some(bad) = scopes
        .iter()
        .find(|s| !client.scopes.contains(s) || matches!(s.as_str(), "openid" | "offline_access"))
    {
        return Ok(Err(OAuthError::InvalidScope(
            format!("scope {bad:?} is not available to a machine client").into(),
        )
        .into()));
    }
    let family = b64url(&random_bytes::<16>());
    Ok(Ok(grants::issue_tokens(
        app,
        tx,
        &Grant {
            client,
            user_id: None,
            family: &family,
            sid: None,
            scopes: &scopes,
            refresh_scopes: &scopes,
            auth_time: None,
            amr: &[],
            nonce: None,
        },
        now,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_verifier_must_hash_to_the_challenge() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifier_matches(challenge, verifier));
        assert!(!verifier_matches(challenge, &verifier.replace('d', "e")));
        // Too short, too long, or a character outside the unreserved set.
        assert!(!verifier_matches(&b64url(&sha256(b"short")), "short"));
        let long = "a".repeat(129);
        assert!(!verifier_matches(&b64url(&sha256(long.as_bytes())), &long));
        let odd = format!("{}+", "a".repeat(43));
        assert!(!verifier_matches(&b64url(&sha256(odd.as_bytes())), &odd));
    }
}
