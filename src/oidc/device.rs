//! The device authorization grant (RFC 8628) for TVs and apps that cannot show a sign-in
//! page: the device endpoint hands out a device code and a short user code, the person
//! approves or denies the user code at /device, and the device polls the token endpoint
//! until then. Both codes are secrets: only their SHA-256 digests are stored.

use rusqlite::Connection;
use serde_json::{Value, json};

use super::authorize::member_of_allowed_group;
use super::clients::{self, Credentials};
use super::grants::{self, Grant, digest_of};
use super::token::Granted;
use super::{Caller, OAuthError, Outcome, parse_scopes};
use crate::app::App;
use crate::crypto::{b64url, ct_eq, random_bytes, sha256};
use crate::db::devices::{self, Approver, DeviceRequest, Status};
use crate::db::holders::Store;
use crate::db::oauth::{self, Client};
use crate::db::sessions::SessionRow;
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::fair_share;

/// The grant type a device polls with, and a client's opt-in to this grant.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// How long a device's request waits for the person (`expires_in`).
pub const TTL_SECS: i64 = 600;
/// The seconds a device waits between polls (`interval`), and what each `slow_down`
/// adds to it (RFC 8628 3.5).
pub const INTERVAL_SECS: i64 = 5;
pub const SLOW_DOWN_SECS: i64 = 5;
/// The page where people type the code.
pub const VERIFICATION_PATH: &str = "/device";
/// The device authorization endpoint (discovery's `device_authorization_endpoint`).
pub const AUTHORIZATION_PATH: &str = "/oidc/device_authorization";

/// RFC 8628 6.1's base-20 alphabet: consonants only, so no look-alikes (0/O, 1/I) and
/// no words. Eight of them are 20^8 ≈ 2^34.6 codes, guessed at a rate-limited trickle.
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;
/// Requests waiting from one address at most (a household's TVs and consoles stay far
/// below); past it the device endpoint answers 429 slow_down.
pub const MAX_PER_ADDRESS: i64 = 20;

/// A new user code (8 letters, without the dash).
fn new_user_code() -> String {
    let mut out = String::with_capacity(USER_CODE_LEN);
    while out.len() < USER_CODE_LEN {
        for b in random_bytes::<16>() {
            // 240 = 12 * 20: bytes above it are dropped so every letter is equally likely.
            if b < 240 && out.len() < USER_CODE_LEN {
                out.push(char::from(ALPHABET[usize::from(b % 20)]));
            }
        }
    }
    out
}

/// What a person typed as the code they see (any case, with or without the dash or
/// spaces) as its 8 letters, or None when it cannot be one.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    if typed.len() > 32 {
        return None;
    }
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// The code as people see it: `XXXX-XXXX`.
pub fn display_user_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(USER_CODE_LEN / 2));
    format!("{a}-{b}")
}

fn user_code_digest(code: &str) -> Vec<u8> {
    sha256(code.as_bytes()).to_vec()
}

/// `verification_uri_complete` for a user code.
pub fn verification_uri_complete(app: &App, code: &str) -> String {
    app.config.url_for(&format!(
        "{VERIFICATION_PATH}?user_code={}",
        display_user_code(code)
    ))
}

/// POST /oidc/device_authorization (RFC 8628 3.1-3.2): a new request for a client that
/// opted in to this grant.
pub fn start(
    app: &App,
    caller: &Caller,
    creds: &Credentials,
    scope: Option<&str>,
    now: i64,
) -> Outcome<Value> {
    let client = clients::authenticate(&*app.db.conn()?, creds)?;
    if !client.grant_types.iter().any(|g| g == GRANT_TYPE) {
        return Err(OAuthError::UnauthorizedClient(
            "this client may not use the device authorization grant".into(),
        )
        .into());
    }
    // Scopes the client may not have are ignored, as at the authorization endpoint; none
    // asked for means openid.
    let scopes: Vec<String> = parse_scopes(scope.unwrap_or("openid"))
        .into_iter()
        .filter(|s| client.scopes.contains(s))
        .collect();
    if scopes.is_empty() {
        return Err(OAuthError::InvalidScope(
            "none of the requested scopes is available to this client".into(),
        )
        .into());
    }
    let from = fair_share::holder_of(caller.ip);
    let device_code = b64url(&random_bytes::<32>());
    let user_code = app.db.with_tx(|tx| {
        let too_many = AppError::RateLimited {
            retry_after_secs: 60,
        };
        if devices::live_from(tx, &from.address, now)? >= MAX_PER_ADDRESS {
            return Err(too_many);
        }
        // A full table makes room from the network holding the most requests; this
        // device's is refused only when that is its own.
        let (store, kept) = (Store::DeviceCodes, devices::kept_after(now));
        if !fair_share::make_room(tx, &app.metrics, store, devices::MAX_PENDING, &from, kept)? {
            return Err(too_many);
        }
        // A user code already waiting is drawn again (about one in 2.5 million per draw
        // with the table full).
        for _ in 0..5 {
            let user_code = new_user_code();
            let request = DeviceRequest {
                device_digest: digest_of(&device_code),
                user_digest: user_code_digest(&user_code),
                client: client.id,
                from: from.clone(),
                scopes: scopes.clone(),
                status: Status::Pending,
                interval_secs: INTERVAL_SECS,
                last_poll_at: None,
                user_id: None,
                auth_time: None,
                amr: Vec::new(),
                expires_at: now + TTL_SECS,
            };
            if devices::insert(tx, &request, now)? {
                return Ok(user_code);
            }
        }
        Err(AppError::internal("no free user code after 5 draws"))
    })?;
    Ok(json!({
        "device_code": device_code,
        "user_code": display_user_code(&user_code),
        "verification_uri": app.config.url_for(VERIFICATION_PATH),
        "verification_uri_complete": verification_uri_complete(app, &user_code),
        "expires_in": TTL_SECS,
        "interval": INTERVAL_SECS,
    }))
}

fn invalid_grant(description: &'static str) -> Result<Granted> {
    Ok(Err(OAuthError::InvalidGrant(description.into()).into()))
}

fn refused(e: OAuthError) -> Result<Granted> {
    Ok(Err(e.into()))
}

/// The token endpoint's device_code grant (RFC 8628 3.4-3.5), inside its transaction:
/// pending, slow down, denied, expired, or the tokens (once).
pub(super) fn grant(
    app: &App,
    tx: &Connection,
    client: &Client,
    device_code: Option<&str>,
    now: i64,
) -> Result<Granted> {
    let Some(code) = device_code else {
        return refused(OAuthError::InvalidRequest("device_code is missing".into()));
    };
    let digest = digest_of(code);
    let Some(req) =
        devices::by_device_code(tx, &digest)?.filter(|r| ct_eq(&r.device_digest, &digest))
    else {
        return invalid_grant("unknown device code");
    };
    if req.client != client.id {
        return invalid_grant("the device code was issued to another client");
    }
    if req.status == Status::Redeemed {
        return invalid_grant("the device code was already used");
    }
    if req.expires_at <= now {
        return refused(OAuthError::ExpiredToken(
            "the device code expired; start the sign-in again".into(),
        ));
    }
    match req.status {
        Status::Denied => refused(OAuthError::AccessDenied(
            "the person denied the request".into(),
        )),
        Status::Pending => {
            let too_soon = req
                .last_poll_at
                .is_some_and(|last| now - last < req.interval_secs);
            let interval = req.interval_secs + if too_soon { SLOW_DOWN_SECS } else { 0 };
            devices::record_poll(tx, &req.device_digest, interval, now)?;
            if too_soon {
                return refused(OAuthError::SlowDown(
                    format!("polled too fast: wait {interval} seconds between requests").into(),
                ));
            }
            refused(OAuthError::AuthorizationPending(
                "the person has not approved the request yet".into(),
            ))
        }
        Status::Approved | Status::Redeemed => {
            if !devices::redeem(tx, &req.device_digest)? {
                return invalid_grant("the device code was already used");
            }
            issue(app, tx, client, &req, now)
        }
    }
}

/// The tokens of an approved request, if the person still may use the client.
fn issue(
    app: &App,
    tx: &Connection,
    client: &Client,
    req: &DeviceRequest,
    now: i64,
) -> Result<Granted> {
    let Some(user_id) = req.user_id else {
        return Err(AppError::internal("an approved device request has no user"));
    };
    if !crate::db::users::still_authorized(tx, user_id)? {
        return invalid_grant("the user no longer has access");
    }
    if !member_of_allowed_group(tx, client, user_id)? {
        return invalid_grant("the user is not in a group allowed to use this application");
    }
    let family = b64url(&random_bytes::<16>());
    Ok(Ok(grants::issue_tokens(
        app,
        tx,
        &Grant {
            client,
            user_id: Some(user_id),
            family: &family,
            // The device's tokens are not bound to the browser session that approved
            // them: signing out on the phone does not sign the TV out.
            sid: None,
            scopes: &req.scopes,
            refresh_scopes: &req.scopes,
            auth_time: req.auth_time,
            amr: &req.amr,
            nonce: None,
        },
        now,
    )?))
}

/// A waiting request as the person reviews it.
pub struct Review {
    pub client: Client,
    pub scopes: Vec<String>,
    /// `XXXX-XXXX`.
    pub user_code: String,
    digest: Vec<u8>,
}

/// The request waiting under what the person typed; None for a code that is malformed,
/// unknown, decided or expired, or whose client may no longer use this grant (the caller
/// counts it as a wrong guess).
pub fn review(app: &App, typed: &str, now: i64) -> Result<Option<Review>> {
    let Some(code) = normalize_user_code(typed) else {
        return Ok(None);
    };
    let conn = app.db.conn()?;
    let digest = user_code_digest(&code);
    let Some(req) = devices::pending_by_user_code(&conn, &digest, now)?
        .filter(|r| ct_eq(&r.user_digest, &digest))
    else {
        return Ok(None);
    };
    let client = oauth::client_by_row_id(&conn, req.client)?
        .ok_or_else(|| AppError::internal("a device request's client vanished"))?;
    // The owner took the grant from the client since: its device could get no tokens,
    // so nobody is asked to approve it (and no consent is recorded for it).
    if !client.grant_types.iter().any(|g| g == GRANT_TYPE) {
        return Ok(None);
    }
    Ok(Some(Review {
        client,
        scopes: req.scopes,
        user_code: display_user_code(&code),
        digest,
    }))
}

/// The person's answer at /device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// What came of the person's answer.
pub enum Decided {
    Approved {
        client_name: String,
    },
    Denied {
        client_name: String,
    },
    /// The code is malformed, unknown, already decided or expired.
    Unknown,
    /// The account may not use the server, or is not in a group the client allows.
    NotAllowed {
        client_name: String,
        reason: String,
    },
}

/// Approves or denies the request under `typed` for the signed-in person: server
/// access and the client's groups are checked; the approval is also the person's
/// consent to the client (withdrawn from /home like any other). One transaction with its
/// audit event.
pub fn decide(
    app: &App,
    caller: &Caller,
    session: &SessionRow,
    typed: &str,
    decision: Decision,
    now: i64,
) -> Result<Decided> {
    let Some(review) = review(app, typed, now)? else {
        return Ok(Decided::Unknown);
    };
    let client = &review.client;
    let client_name = client.name.clone();
    let approved = decision == Decision::Allow;
    app.db.with_tx(|tx| {
        if approved {
            if let Some(reason) = why_not_allowed(tx, session, client)? {
                return Ok(Decided::NotAllowed {
                    client_name: client_name.clone(),
                    reason,
                });
            }
        }
        let approver = Approver {
            user_id: session.user_id,
            auth_time: session.auth_time,
            amr: &session.amr,
        };
        if !devices::decide(tx, &review.digest, approved.then_some(&approver), now)? {
            return Ok(Decided::Unknown);
        }
        let kind = if approved {
            add_consent(tx, session.user_id, client, &review.scopes, now)?;
            EventType::DeviceApproved
        } else {
            EventType::DeviceDenied
        };
        caller.record(
            tx,
            kind,
            Some(session.user_id),
            json!({ "client_id": client.client_id, "scopes": review.scopes }),
            now,
        )?;
        let client_name = client_name.clone();
        Ok(if approved {
            Decided::Approved { client_name }
        } else {
            Decided::Denied { client_name }
        })
    })
}

/// Why this person may not sign a device in to `client`, if they may not: no access to
/// the media server, or not in a group the client allows.
fn why_not_allowed(
    tx: &Connection,
    session: &SessionRow,
    client: &Client,
) -> Result<Option<String>> {
    if !session.authorized || !crate::db::users::still_authorized(tx, session.user_id)? {
        return Ok(Some(
            "this account has no access to the media server".into(),
        ));
    }
    if !member_of_allowed_group(tx, client, session.user_id)? {
        return Ok(Some(format!(
            "only members of {} may sign in to {}",
            client.allowed_groups.join(", "),
            client.name
        )));
    }
    Ok(None)
}

/// Adds `scopes` to what the user has allowed `client`.
fn add_consent(
    tx: &Connection,
    user_id: i64,
    client: &Client,
    scopes: &[String],
    now: i64,
) -> Result<()> {
    let mut all = oauth::consent(tx, user_id, client.id)?.unwrap_or_default();
    for s in scopes {
        if !all.contains(s) {
            all.push(s.clone());
        }
    }
    oauth::save_consent(tx, user_id, client.id, &all, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_alphabet_and_read_in_any_form() {
        for _ in 0..200 {
            let code = new_user_code();
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            let shown = display_user_code(&code);
            assert_eq!(shown.len(), 9);
            for typed in [
                shown.clone(),
                shown.to_ascii_lowercase(),
                code.clone(),
                format!(" {} ", code.to_ascii_lowercase()),
                shown.replace('-', " "),
            ] {
                assert_eq!(
                    normalize_user_code(&typed).as_deref(),
                    Some(code.as_str()),
                    "{typed:?}"
                );
            }
        }
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-EFGH",
            "BCDF-GHJ0",
            "BCDF_GHJK",
            "ＢCDF-GHJK",
        ] {
            assert_eq!(normalize_user_code(bad), None, "{bad:?}");
        }
        assert_eq!(normalize_user_code(&"-".repeat(40)), None);
    }

    #[test]
    fn every_letter_is_drawn() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            seen.extend(new_user_code().bytes());
        }
        assert_eq!(seen.len(), ALPHABET.len());
    }
}
