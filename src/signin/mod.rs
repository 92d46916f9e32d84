//! Signing in once a provider vouched for an account: recording the identity, applying
//! the admin bootstrap, then a session or a pending second factor, and the events of it.
//! The provider flows that lead here are flow.rs (Plex PIN, Jellyfin Quick Connect) and
//! password.rs (Jellyfin/Emby form). HTTP (cookies, redirects, pages) stays in
//! web/signin.rs and web/login.rs.

pub mod attempt;
pub mod backoff;
pub mod device_link;
pub mod flow;
pub mod password;
pub mod session;
pub mod withdraw;

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::app::App;
use crate::crypto::tokens::{digest, new_id};
use crate::db::events;
use crate::db::{flows, mfa as mfa_store, users};
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::mfa::{self, Need};
use crate::providers::Identity;

pub use session::open_session;
pub use withdraw::{withdraw, withdraw_access};

/// Who asked, from where, and when: what the sign-in service (and the audit log) needs
/// of a request.
pub struct Origin<'a> {
    pub app: &'a App,
    pub now: i64,
    pub ip: IpAddr,
    pub user_agent: Option<&'a str>,
    /// The request id, for log lines.
    pub request_id: &'a str,
}

impl Origin<'_> {
    /// Writes an event from this origin: its address, and the user agent in `detail`.
    pub fn record(
        &self,
        tx: &rusqlite::Connection,
        kind: EventType,
        user_id: Option<i64>,
        ok: bool,
        mut detail: Value,
    ) -> Result<()> {
        if let (Some(ua), Value::Object(map)) = (self.user_agent, &mut detail) {
            map.entry("user_agent").or_insert_with(|| json!(ua));
        }
        events::record(
            tx,
            &events::Event {
                kind,
                user_id,
                ip: Some(&self.ip.to_string()),
                result: if ok { "success" } else { "failure" },
                detail,
            },
            self.now,
        )
    }
}

/// What the browser is given to carry the sign-in on: which pass, its new random id and
/// how long it lasts. web/ turns it into a signed cookie.
pub struct Issued {
    pub pass: Pass,
    pub id: Vec<u8>,
    pub ttl: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// A full session.
    Session,
    /// A sign-in that passed the first factor and waits for the second (or enrolment).
    SecondFactor,
}

/// Where the browser goes next, and what it carries there (nothing when an admin
/// disabled the account: it goes to the restricted page).
pub struct Landing {
    pub issued: Option<Issued>,
    pub redirect: String,
}

/// Records the sign-in of `ident` and decides the next step. `previous` is the id of the
/// browser's current session, if any (a sign-in always rotates it). With a Plex flow, the
/// flow is claimed in the same transaction; if another request already claimed it, None.
pub fn first_factor_done(
    origin: &Origin,
    ident: &Identity,
    rd: Option<&str>,
    flow: Option<&[u8]>,
    previous: Option<&[u8]>,
) -> Result<Option<Landing>> {
    let app = origin.app;
    let now = origin.now;
    let purpose = format!(
        "provider-token:{}:{}",
        ident.provider.as_str(),
        ident.provider_user_id
    );
    let sealed = app.sealer.seal(&purpose, ident.token.as_bytes());
    let id = new_id();
    let landing = app.db.with_tx(|tx| {
        let linked = users::record_sign_in(tx, ident, Some(&sealed), now)?;
        apply_admin_bootstrap(app, tx, ident, linked.user_id, now)?;
        let groups = users::groups(tx, linked.user_id)?;
        let need = mfa::need(app, tx, linked.user_id, &groups)?;
        let disabled = users::is_disabled(tx, linked.user_id)?;
        let landing = match need {
            _ if disabled => Landing {
                issued: None,
                redirect: format!("/restricted?provider={}", ident.provider.as_str()),
            },
            Need::Nothing => {
                let ttl = open_session(origin, tx, previous, &id, linked, ident.method, None)?;
                Landing {
                    issued: Some(Issued {
                        pass: Pass::Session,
                        id: id.to_vec(),
                        ttl,
                    }),
                    redirect: rd.unwrap_or("/home").to_string(),
                }
            }
            Need::Challenge | Need::Enroll => {
                let purpose = if need == Need::Challenge {
                    mfa_store::Purpose::Challenge
                } else {
                    mfa_store::Purpose::Enroll
                };
                mfa_store::create_pending(
                    tx,
                    &mfa_store::NewPending {
                        digest: &digest(&id),
                        user_id: linked.user_id,
                        identity_id: linked.identity_id,
                        purpose,
                        rd,
                        expires_at: now + mfa::PENDING_TTL,
                        first_factor: ident.method,
                    },
                    now,
                )?;
                Landing {
                    issued: Some(Issued {
                        pass: Pass::SecondFactor,
                        id: id.to_vec(),
                        ttl: mfa::PENDING_TTL,
                    }),
                    redirect: if need == Need::Challenge {
                        "/mfa/challenge"
                    } else {
                        "/mfa/enroll"
                    }
                    .to_string(),
                }
            }
        };
        if let Some(flow_digest) = flow {
            // The flow remembers where it led, for a popup that returns after the poll.
            if !flows::claim_done(tx, flow_digest, &landing.redirect)? {
                return Ok(None);
            }
        }
        let provider = ident.provider.as_str();
        match need {
            _ if disabled => origin.record(
                tx,
                EventType::SigninFailure,
                Some(linked.user_id),
                false,
                json!({ "provider": provider, "username": ident.username, "reason": "disabled by an admin" }),
            )?,
            Need::Nothing => {
                record_success(origin, tx, linked.user_id, provider, &ident.username, None)?
            }
            // Not signed in yet: its own type, which no "signin.*" rule receives.
            Need::Challenge | Need::Enroll => origin.record(
                tx,
                EventType::SigninFirstFactor,
                Some(linked.user_id),
                true,
                json!({ "provider": provider, "username": ident.username, "next": format!("{need:?}").to_lowercase() }),
            )?,
        }
        Ok(Some(landing))
    })?;
    if landing.as_ref().is_some_and(|l| l.issued.is_some()) {
        crate::log_info!(
            "req={} signed in: {} user {} ({})",
            origin.request_id,
            ident.provider.as_str(),
            ident.provider_user_id,
            ident.groups.join(",")
        );
    }
    Ok(landing)
}

/// A sign-in waiting for its second factor (`pending`, by its digest) proved it with
/// `factor` (a TOTP or a recovery code), in `tx`: the pending sign-in is spent, a session opens
/// (its amr: the first factor's value, then `otp`) and `signin.success` is written. The
/// browser's previous session `previous` ends. Unauthorized if another request spent the
/// pending sign-in first (`tx` then rolls back).
pub fn second_factor_done(
    origin: &Origin,
    tx: &rusqlite::Connection,
    previous: Option<&[u8]>,
    pending_digest: &[u8],
    pending: &mfa_store::Pending,
    factor: mfa::Factor,
) -> Result<Issued> {
    if !mfa_store::delete_pending(tx, pending_digest)? {
        return Err(AppError::Unauthorized);
    }
    let linked = users::Linked {
        user_id: pending.user_id,
        identity_id: pending.identity_id,
    };
    let id = new_id();
    let ttl = open_session(
        origin,
        tx,
        previous,
        &id,
        linked,
        pending.first_factor,
        Some(origin.now),
    )?;
    record_success(
        origin,
        tx,
        pending.user_id,
        &pending.provider,
        &pending.username,
        Some(factor),
    )?;
    Ok(Issued {
        pass: Pass::Session,
        id: id.to_vec(),
        ttl,
    })
}

/// ADMIN_BOOTSTRAP_USERS: an account it names joins `admins` when it signs in.
fn apply_admin_bootstrap(
    app: &App,
    tx: &rusqlite::Connection,
    ident: &Identity,
    user_id: i64,
    now: i64,
) -> Result<()> {
    if app.config.admin_bootstrap.iter().any(|e| e.matches(ident)) {
        users::add_group(tx, user_id, "admins", now)?;
    }
    Ok(())
}

/// The event of a finished sign-in (`signin.success`), written when the session is made:
/// after the provider vouched and, for users with MFA, after the second factor
/// (`second_factor`: the one proved; its name goes in `detail.mfa`).
pub fn record_success(
    origin: &Origin,
    tx: &rusqlite::Connection,
    user_id: i64,
    provider: &str,
    username: &str,
    second_factor: Option<mfa::Factor>,
) -> Result<()> {
    origin.record(
        tx,
        EventType::SigninSuccess,
        Some(user_id),
        true,
        json!({ "provider": provider, "username": username, "mfa": second_factor.map(mfa::Factor::as_str) }),
    )
}

/// A sign-in that did not end in a session (wrong password, no access): an event with
/// the provider, the name typed and why, written on its own (no user row may exist).
pub fn record_failure(origin: &Origin, provider: &str, username: Option<&str>, reason: &str) {
    record_unfinished(
        origin,
        EventType::SigninFailure,
        provider,
        username,
        json!({ "provider": provider, "username": username, "reason": reason }),
    );
}

/// The account (provider and name typed) just started its back-off after too many wrong
/// passwords in a row: one `signin.locked` event, not one per refused attempt.
pub fn record_locked(origin: &Origin, provider: &str, username: &str, retry_after_secs: u64) {
    record_unfinished(
        origin,
        EventType::SigninLocked,
        provider,
        Some(username),
        json!({ "provider": provider, "username": username, "retry_after_secs": retry_after_secs }),
    );
}

/// Writes a sign-in event that made no session, with the user when the name is known.
fn record_unfinished(
    origin: &Origin,
    kind: EventType,
    provider: &str,
    username: Option<&str>,
    detail: Value,
) {
    let user_id = username.and_then(|u| {
        origin.app.db.conn().ok().and_then(|c| {
            users::find_identity(&c, provider, None, Some(u))
                .ok()
                .flatten()
                .map(|(_, user)| user)
        })
    });
    let written = origin
        .app
        .db
        .with_tx(|tx| origin.record(tx, kind, user_id, false, detail));
    if let Err(e) = written {
        crate::log_error!(
            "req={} could not record a sign-in event ({kind}): {e}",
            origin.request_id
        );
    }
}
