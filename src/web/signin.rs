//! Finishing a sign-in once the provider vouched for an account: record the identity,
//! then either a full session or a pending second factor (its own cookie kind).

use serde_json::json;

use crate::crypto::tokens::{digest, new_id};
use crate::db::events::kind;
use crate::db::{mfa as mfa_store, sessions, users};
use crate::error::Result;
use crate::mfa::{self, Need};
use crate::providers::Identity;
use crate::web::cookies;
use crate::web::request::Ctx;

/// Where the browser goes next, and the cookie that gets it there (none when an admin
/// disabled the account: it goes to the restricted page).
pub struct Landing {
    pub cookie: Option<String>,
    pub redirect: String,
}

/// Records the sign-in of `ident` and decides the next step. With a Plex flow, the flow
/// is claimed in the same transaction; if another request already claimed it, None.
pub fn first_factor_done(
    ctx: &Ctx,
    ident: &Identity,
    rd: Option<&str>,
    flow: Option<&[u8]>,
) -> Result<Option<Landing>> {
    let app = ctx.app;
    let now = ctx.now();
    let purpose = format!(
        "provider-token:{}:{}",
        ident.provider.as_str(),
        ident.provider_user_id
    );
    let sealed = app.sealer.seal(&purpose, ident.token.as_bytes());
    let id = new_id();
    let landing = app.db.with_tx(|tx| {
        let linked = users::record_sign_in(tx, ident, Some(&sealed), now)?;
        if app.config.admin_bootstrap.iter().any(|e| e.matches(ident)) {
            users::add_group(tx, linked.user_id, "admins", now)?;
        }
        let mut groups = ident.groups.clone();
        groups.extend(users::assigned_groups(tx, linked.user_id)?);
        let need = mfa::need(app, tx, linked.user_id, &groups)?;
        let disabled = users::is_disabled(tx, linked.user_id)?;
        let landing = match need {
            _ if disabled => Landing {
                cookie: None,
                redirect: format!("/restricted?provider={}", ident.provider.as_str()),
            },
            Need::Nothing => Landing {
                cookie: Some(new_session(ctx, tx, &id, linked, &["pwd"], None)?),
                redirect: rd.unwrap_or("/home").to_string(),
            },
            Need::Challenge | Need::Enroll => {
                let purpose = if need == Need::Challenge { mfa_store::Purpose::Challenge } else { mfa_store::Purpose::Enroll };
                mfa_store::create_pending(
                    tx,
                    &mfa_store::NewPending {
                        digest: &digest(&id),
                        user_id: linked.user_id,
                        identity_id: linked.identity_id,
                        purpose,
                        rd,
                        expires_at: now + mfa::PENDING_TTL,
                    },
                    now,
                )?;
                let value = app.cookies.sign(cookies::MFA_KIND, &id);
                Landing {
                    cookie: Some(cookies::set(&app.config, cookies::MFA, &value, mfa::PENDING_TTL)),
                    redirect: if need == Need::Challenge { "/mfa/challenge" } else { "/mfa/enroll" }.to_string(),
                }
            }
        };
        if let Some(flow_digest) = flow {
            // The flow remembers where it led, for a popup that returns after the poll.
            let claimed = tx.execute(
                "UPDATE login_flows SET state = 'done', rd = ?2 WHERE id_digest = ?1 AND state = 'pending'",
                rusqlite::params![flow_digest, landing.redirect],
            )?;
            if claimed == 0 {
                return Ok(None);
            }
        }
        let provider = ident.provider.as_str();
        match need {
            _ if disabled => crate::web::events::record(
                ctx,
                tx,
                kind::SIGNIN_FAILURE,
                Some(linked.user_id),
                false,
                json!({ "provider": provider, "username": ident.username, "reason": "disabled by an admin" }),
            )?,
            Need::Nothing => {
                record_success(ctx, tx, linked.user_id, provider, &ident.username, None)?
            }
            // Not signed in yet: its own type, which no "signin.*" rule receives.
            Need::Challenge | Need::Enroll => crate::web::events::record(
                ctx,
                tx,
                kind::SIGNIN_FIRST_FACTOR,
                Some(linked.user_id),
                true,
                json!({ "provider": provider, "username": ident.username, "next": format!("{need:?}").to_lowercase() }),
            )?,
        }
        Ok(Some(landing))
    })?;
    if landing.as_ref().is_some_and(|l| l.cookie.is_some()) {
        crate::log_info!(
            "req={} signed in: {} user {} ({})",
            ctx.request_id,
            ident.provider.as_str(),
            ident.provider_user_id,
            ident.groups.join(",")
        );
    }
    Ok(landing)
}

/// The event of a finished sign-in (`signin.success`), written when the session is made:
/// after the provider vouched and, for users with MFA, after the second factor
/// (`second_factor`: "totp" or "recovery").
pub fn record_success(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    user_id: i64,
    provider: &str,
    username: &str,
    second_factor: Option<&str>,
) -> Result<()> {
    crate::web::events::record(
        ctx,
        tx,
        kind::SIGNIN_SUCCESS,
        Some(user_id),
        true,
        json!({ "provider": provider, "username": username, "mfa": second_factor }),
    )
}

/// Creates a session with the new id `id` (the browser's previous session, if any, is
/// deleted: a sign-in always rotates the id) and returns its Set-Cookie value.
pub fn new_session(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    id: &[u8],
    linked: users::Linked,
    amr: &[&str],
    mfa_at: Option<i64>,
) -> Result<String> {
    let app = ctx.app;
    // The owner's choice (section security), read in the sign-in's own transaction.
    let ttl = crate::settings::security(tx)?.session_ttl();
    let now = ctx.now();
    let old = ctx
        .cookie(cookies::SESSION)
        .and_then(|v| app.cookies.verify(cookies::SESSION_KIND, &v));
    if let Some(old) = old {
        sessions::delete(tx, &digest(&old))?;
    }
    sessions::create(
        tx,
        &sessions::NewSession {
            digest: &digest(id),
            user_id: linked.user_id,
            identity_id: linked.identity_id,
            amr,
            auth_time: now,
            mfa_at,
            expires_at: now + ttl,
            ip: &ctx.ip.to_string(),
            user_agent: ctx.user_agent(),
        },
        now,
    )?;
    users::record_signin_ip(tx, linked.user_id, &ctx.ip.to_string(), now)?;
    let value = app.cookies.sign(cookies::SESSION_KIND, id);
    Ok(cookies::set(&app.config, cookies::SESSION, &value, ttl))
}

/// Ends what an identity the provider no longer vouches for was given: its sessions, and
/// when no other linked account of the user still has access, every token applications
/// hold and the addresses trusted for native apps. Returns the tokens revoked.
pub fn withdraw(
    app: &crate::app::App,
    tx: &rusqlite::Connection,
    identity_id: i64,
    user_id: i64,
    now: i64,
) -> Result<usize> {
    users::revoke_identity(tx, identity_id)?;
    app.access_cache.forget_user(user_id);
    if crate::oidc::grants::still_authorized(tx, user_id)? {
        return Ok(0);
    }
    users::forget_all_signin_ips(tx, user_id)?;
    crate::db::oauth::revoke_user_tokens(tx, user_id, now)
}

/// The provider refused an account: if the portal knew it, it loses its sessions and,
/// when no other linked account still has access, every token applications hold.
pub fn withdraw_access(
    ctx: &Ctx,
    provider: crate::providers::ProviderKind,
    account: Option<&str>,
    username: Option<&str>,
) -> Result<()> {
    let now = ctx.now();
    ctx.app.db.with_tx(|tx| {
        let Some((identity_id, user_id)) =
            users::find_identity(tx, provider.as_str(), account, username)?
        else {
            return Ok(());
        };
        let revoked = withdraw(ctx.app, tx, identity_id, user_id, now)?;
        crate::web::events::record(
            ctx,
            tx,
            "access.withdrawn",
            Some(user_id),
            true,
            json!({ "provider": provider.as_str(), "tokens_revoked": revoked }),
        )
    })
}

/// A sign-in that did not end in a session (wrong password, no access): an event with
/// the provider, the name typed and why, written on its own (no user row may exist).
pub fn record_failure(ctx: &Ctx, provider: &str, username: Option<&str>, reason: &str) {
    record_unfinished(
        ctx,
        kind::SIGNIN_FAILURE,
        provider,
        username,
        json!({ "provider": provider, "username": username, "reason": reason }),
    );
}

/// The account (provider and name typed) just started its back-off after too many wrong
/// passwords in a row: one `signin.locked` event, not one per refused attempt.
pub fn record_locked(ctx: &Ctx, provider: &str, username: &str, retry_after_secs: u64) {
    record_unfinished(
        ctx,
        kind::SIGNIN_LOCKED,
        provider,
        Some(username),
        json!({ "provider": provider, "username": username, "retry_after_secs": retry_after_secs }),
    );
}

/// Writes a sign-in event that made no session, with the user when the name is known.
fn record_unfinished(
    ctx: &Ctx,
    kind: &str,
    provider: &str,
    username: Option<&str>,
    detail: serde_json::Value,
) {
    let user_id = username.and_then(|u| {
        ctx.app.db.conn().ok().and_then(|c| {
            users::find_identity(&c, provider, None, Some(u))
                .ok()
                .flatten()
                .map(|(_, user)| user)
        })
    });
    let written = ctx
        .app
        .db
        .with_tx(|tx| crate::web::events::record(ctx, tx, kind, user_id, false, detail));
    if let Err(e) = written {
        crate::log_error!(
            "req={} could not record a sign-in event ({kind}): {e}",
            ctx.request_id
        );
    }
}
