//! The second factor: the challenge after sign-in, enrolment, and changing or turning
//! off MFA. The pending cookie (its own kind) is accepted only here, and only for what
//! its purpose allows; changing an existing factor needs a recent second factor.

use rouille::Response;
use serde_json::{Value, json};

use crate::crypto::tokens::digest;
use crate::crypto::totp;
use crate::db::{mfa as store, sessions, users};
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::mfa::{self, Factor};
use crate::ratelimit::Failed;
use crate::views;
use crate::web::guards::{UserSession, require_user};
use crate::web::request::Ctx;
use crate::web::signin::second_factor_done;
use crate::web::{cookies, page};

/// A sign-in waiting for its second factor, by its cookie.
struct PendingSignIn {
    digest: Vec<u8>,
    row: store::Pending,
}

fn pending(ctx: &Ctx) -> Result<Option<PendingSignIn>> {
    let Some(id) = cookies::Cookie::Mfa.read(ctx) else {
        return Ok(None);
    };
    let d = digest(&id);
    let row = store::pending(&*ctx.app.db.conn()?, &d, ctx.now())?;
    Ok(row.map(|row| PendingSignIn { digest: d, row }))
}

fn pending_for(ctx: &Ctx, purpose: store::Purpose) -> Result<Option<PendingSignIn>> {
    Ok(pending(ctx)?.filter(|p| p.row.purpose == purpose))
}

/// Who may enrol: a signed-in user, or a sign-in that must enrol before it gets a session.
enum Enroller {
    Session(Box<UserSession>),
    Pending(PendingSignIn),
}

impl Enroller {
    fn user_id(&self) -> i64 {
        match self {
            Enroller::Session(s) => s.row.user_id,
            Enroller::Pending(p) => p.row.user_id,
        }
    }
}

fn enroller(ctx: &Ctx) -> Result<Enroller> {
    if !ctx.app.config.mfa_enable {
        return Err(AppError::NotFound);
    }
    if let Some(p) = pending_for(ctx, store::Purpose::Enroll)? {
        return Ok(Enroller::Pending(p));
    }
    Ok(Enroller::Session(Box::new(require_user(ctx)?)))
}

/// The `code` field of a JSON or form body (absent for an empty body).
fn code_field(ctx: &Ctx) -> Result<Option<String>> {
    if ctx.is_json_body() {
        let v: Value = ctx.json(r#"{"code":"123456"}"#)?;
        return match &v["code"] {
            Value::String(s) => Ok(Some(s.clone())),
            Value::Null => Ok(None),
            _ => Err(AppError::bad_request("code must be a string")),
        };
    }
    let ct = ctx.req.header("Content-Type").unwrap_or("");
    if ct.is_empty() && ctx.body()?.is_empty() {
        return Ok(None);
    }
    Ok(ctx.form()?.get("code").map(str::to_string))
}

fn limit(ctx: &Ctx, user_id: i64) -> Result<()> {
    let now = ctx.app.clock.now_ms();
    let limits = &ctx.app.limits;
    limits
        .mfa_ip
        .check_ip(ctx.ip, now)
        .and_then(|_| limits.mfa_user.check(&format!("user:{user_id}"), now))
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })
}

fn event(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    kind: EventType,
    user_id: i64,
    ok: bool,
    detail: Value,
) -> Result<()> {
    crate::web::events::record(ctx, tx, kind, Some(user_id), ok, detail)
}

/// Counts a wrong challenge code against the user's back-off, and writes `mfa.locked`
/// once when it starts the back-off or spends the last of the day's budget
/// (`budget_left` codes remain after this one).
fn wrong_code(ctx: &Ctx, tx: &rusqlite::Connection, user_id: i64, budget_left: i64) -> Result<()> {
    let failed = ctx
        .app
        .limits
        .mfa_account
        .fail(&user_id.to_string(), ctx.app.clock.now_ms());
    if let Failed::Wait {
        secs,
        tripped: true,
    } = failed
    {
        event(
            ctx,
            tx,
            EventType::MfaLocked,
            user_id,
            false,
            json!({ "reason": "wrong codes in a row", "retry_after_secs": secs }),
        )?;
    }
    if budget_left == 0 {
        event(
            ctx,
            tx,
            EventType::MfaLocked,
            user_id,
            false,
            json!({ "reason": "daily limit of wrong codes", "limit": mfa::DAILY_FAILURES }),
        )?;
    }
    Ok(())
}

pub fn challenge_get(ctx: &Ctx) -> Result<Response> {
    let Some(p) = pending_for(ctx, store::Purpose::Challenge)? else {
        return Ok(Response::redirect_303("/"));
    };
    let left = mfa::MAX_ATTEMPTS - p.row.attempts;
    Ok(page(ctx, views::mfa::challenge(None, left)))
}

/// POST /mfa/challenge/verify: a TOTP or recovery code turns the pending sign-in into a
/// full session with a new id.
pub fn challenge_verify_post(ctx: &Ctx) -> Result<Response> {
    let Some(p) = pending_for(ctx, store::Purpose::Challenge)? else {
        return Err(AppError::Unauthorized);
    };
    limit(ctx, p.row.user_id)?;
    let account = p.row.user_id.to_string();
    let backoff = &ctx.app.limits.mfa_account;
    if let Err(retry_after_secs) = backoff.check(&account, ctx.app.clock.now_ms()) {
        return Err(AppError::Locked {
            reason: "too many wrong codes for this account",
            retry_after_secs,
        });
    }
    if p.row.attempts >= mfa::MAX_ATTEMPTS {
        store::delete_pending(&*ctx.app.db.conn()?, &p.digest)?;
        return Err(AppError::RateLimited {
            retry_after_secs: 60,
        });
    }
    let code = code_field(ctx)?.unwrap_or_default();
    let now = ctx.now();
    let outcome = ctx.app.db.with_tx(|tx| {
        // Counted and spent in this IMMEDIATE transaction: parallel guesses queue here.
        let budget = match mfa::daily_budget(tx, p.row.user_id, now)? {
            Ok(left) => left,
            Err(retry_after_secs) => {
                return Err(AppError::Locked {
                    reason: "too many wrong codes for this account today (an admin can reset two-factor sign-in)",
                    retry_after_secs,
                });
            }
        };
        let Some(factor) = mfa::check_code(ctx.app, tx, p.row.user_id, &code, now)? else {
            let attempts = store::add_attempt(tx, &p.digest)?;
            event(
                ctx,
                tx,
                EventType::MfaVerify,
                p.row.user_id,
                false,
                json!({ "attempts": attempts }),
            )?;
            wrong_code(ctx, tx, p.row.user_id, budget - 1)?;
            return Ok(Err(attempts));
        };
        backoff.succeed(&account);
        event(
            ctx,
            tx,
            EventType::MfaVerify,
            p.row.user_id,
            true,
            json!({ "method": factor.as_str() }),
        )?;
        let cookie = second_factor_done(ctx, tx, &p.digest, &p.row, factor)?;
        Ok(Ok((factor, cookie)))
    })?;
    let clear = cookies::Cookie::Mfa.clear(&ctx.app.config);
    let target = p.row.rd.clone().unwrap_or_else(|| "/home".into());
    match outcome {
        Ok((factor, cookie)) => {
            let left = match factor {
                Factor::Recovery { left } => Some(left),
                Factor::Totp => None,
            };
            let response = if ctx.is_json_body() {
                Response::json(&json!({ "redirect": target, "recovery_codes_left": left }))
            } else if let Some(left) = left {
                page(ctx, views::mfa::recovery_used(left, &target))
            } else {
                Response::redirect_303(target)
            };
            Ok(response
                .with_additional_header("Set-Cookie", cookie)
                .with_additional_header("Set-Cookie", clear)
                .with_no_cache())
        }
        Err(attempts) => {
            let left = (mfa::MAX_ATTEMPTS - attempts).max(0);
            if ctx.is_json_body() {
                return Ok(Response::json(
                    &json!({ "error": "invalid code", "attempts_left": left }),
                )
                .with_status_code(401));
            }
            Ok(page(
                ctx,
                views::mfa::challenge(Some("That code is not valid."), left),
            )
            .with_status_code(401))
        }
    }
}

pub fn enroll_get(ctx: &Ctx) -> Result<Response> {
    let who = match enroller(ctx) {
        Err(AppError::Unauthorized) => return Ok(Response::redirect_303("/")),
        other => other?,
    };
    let conn = ctx.app.db.conn()?;
    let user_id = who.user_id();
    let enrolled = store::is_enrolled(&conn, user_id)?;
    let left = store::recovery_codes_left(&conn, user_id)?;
    let enroll = views::mfa::EnrollPage {
        enrolled,
        pending: matches!(who, Enroller::Pending(_)),
        enforced: enforced_for(ctx, &conn, user_id)?,
        recent: matches!(&who, Enroller::Session(s) if is_recent(ctx, s)),
        recovery_codes_left: left,
    };
    drop(conn);
    Ok(page(ctx, views::mfa::enroll(&enroll)))
}

fn enforced_for(ctx: &Ctx, conn: &rusqlite::Connection, user_id: i64) -> Result<bool> {
    let groups = users::groups(conn, user_id)?;
    mfa::enforced(ctx.app, conn, &groups)
}

fn is_recent(ctx: &Ctx, s: &UserSession) -> bool {
    s.row.mfa_at.is_some_and(|t| ctx.now() - t <= mfa::RECENT)
}

pub fn enroll_status_get(ctx: &Ctx) -> Result<Response> {
    let who = enroller(ctx)?;
    let user_id = who.user_id();
    let conn = ctx.app.db.conn()?;
    let totp_row = store::totp(&conn, user_id)?;
    let time = |t: Option<i64>| {
        t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.to_rfc3339())
    };
    Ok(Response::json(&json!({
        "enrolled": totp_row.is_some(),
        "enforced": enforced_for(ctx, &conn, user_id)?,
        "created_at": time(totp_row.as_ref().map(|t| t.created_at)),
        "verified_at": time(totp_row.as_ref().map(|t| t.verified_at)),
        "last_used_at": time(totp_row.as_ref().and_then(|t| t.last_used_at)),
        "recovery_codes_left": store::recovery_codes_left(&conn, user_id)?,
        "recent_mfa": matches!(&who, Enroller::Session(s) if is_recent(ctx, s)),
    }))
    .with_no_cache())
}

/// Changing an existing factor needs a second factor proved in the last 10 minutes, or
/// a fresh code now. Users with no factor yet have nothing to prove.
fn prove_recent(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    s: &UserSession,
    code: Option<&str>,
) -> Result<()> {
    if !store::is_enrolled(tx, s.row.user_id)? || is_recent(ctx, s) {
        return Ok(());
    }
    let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
        return Err(AppError::Forbidden(
            "enter a current code from your authenticator app (or a recovery code) first",
        ));
    };
    match mfa::check_code(ctx.app, tx, s.row.user_id, code, ctx.now())? {
        Some(_) => sessions::touch_mfa(tx, &s.digest, ctx.now()),
        None => Err(AppError::Forbidden("that code is not valid")),
    }
}

/// POST /mfa/enroll/start: a new secret to confirm; the current one (if any) stays in
/// force until a code from the new one is verified.
pub fn enroll_start_post(ctx: &Ctx) -> Result<Response> {
    let who = enroller(ctx)?;
    let user_id = who.user_id();
    limit(ctx, user_id)?;
    let code = code_field(ctx)?;
    let now = ctx.now();
    let secret = mfa::new_secret();
    let sealed = ctx.app.sealer.seal(&mfa::secret_purpose(user_id), &secret);
    let account = ctx.app.db.with_tx(|tx| {
        match &who {
            // A pending sign-in exists only for users without a factor; never let it
            // replace one that was added meanwhile.
            Enroller::Pending(_) if store::is_enrolled(tx, user_id)? => {
                return Err(AppError::Forbidden(
                    "two-factor sign-in is already set up for this account",
                ));
            }
            Enroller::Pending(_) => {}
            Enroller::Session(s) => prove_recent(ctx, tx, s, code.as_deref())?,
        }
        store::start_enrollment(tx, user_id, &sealed, now, now + mfa::ENROLL_TTL)?;
        users::profile(tx, user_id)?
            .map(|(_, username, _)| username)
            .ok_or_else(|| AppError::internal("the user of this enrolment is gone"))
    })?;
    let uri = mfa::otpauth_uri(&ctx.app.config.mfa_issuer, &account, &secret);
    Ok(Response::json(&json!({
        "secret": totp::base32(&secret),
        "otpauth": uri,
        "qr_svg": mfa::qr_svg(&uri)?,
        "digits": totp::DIGITS,
        "period": totp::PERIOD,
        "expires_in": mfa::ENROLL_TTL,
    }))
    .with_no_cache())
}

/// POST /mfa/enroll/verify {code}: confirms the new secret and returns 10 recovery
/// codes, shown this once. A pending sign-in becomes a full session here.
pub fn enroll_verify_post(ctx: &Ctx) -> Result<Response> {
    let who = enroller(ctx)?;
    let user_id = who.user_id();
    limit(ctx, user_id)?;
    let code = code_field(ctx)?.unwrap_or_default();
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let now = ctx.now();
    let (shown, digests) = mfa::new_recovery_codes();
    let cookie = ctx.app.db.with_tx(|tx| {
        let sealed = store::enrollment(tx, user_id, now)?
            .ok_or_else(|| AppError::bad_request("no set-up in progress; start again"))?;
        let secret = mfa::open_secret(ctx.app, user_id, &sealed)?;
        let Some(step) = totp::verify(&secret, &code, now, 0) else {
            event(ctx, tx, EventType::MfaEnroll, user_id, false, json!({}))?;
            return Ok(Err(()));
        };
        if matches!(who, Enroller::Pending(_)) && store::is_enrolled(tx, user_id)? {
            return Err(AppError::Forbidden(
                "two-factor sign-in is already set up for this account",
            ));
        }
        store::confirm_enrollment(tx, user_id, &sealed, step, now, &digests)?;
        event(ctx, tx, EventType::MfaEnroll, user_id, true, json!({}))?;
        match &who {
            Enroller::Session(s) => {
                sessions::touch_mfa(tx, &s.digest, now)?;
                Ok(Ok(None))
            }
            Enroller::Pending(p) => Ok(Ok(Some(second_factor_done(
                ctx,
                tx,
                &p.digest,
                &p.row,
                Factor::Totp,
            )?))),
        }
    })?;
    let Ok(cookie) = cookie else {
        return Err(AppError::bad_request(
            "that code does not match; check that your phone's clock is right and try the next code",
        ));
    };
    let redirect = match &who {
        Enroller::Pending(p) => p.row.rd.clone().unwrap_or_else(|| "/home".into()),
        Enroller::Session(_) => "/mfa/enroll".into(),
    };
    let mut response =
        Response::json(&json!({ "recovery_codes": shown, "redirect": redirect })).with_no_cache();
    if let Some(c) = cookie {
        response = response
            .with_additional_header("Set-Cookie", c)
            .with_additional_header("Set-Cookie", cookies::Cookie::Mfa.clear(&ctx.app.config));
    }
    Ok(response)
}

/// POST /mfa/recovery-codes: replaces every recovery code with 10 new ones.
pub fn recovery_codes_post(ctx: &Ctx) -> Result<Response> {
    let s = require_user(ctx)?;
    limit(ctx, s.row.user_id)?;
    let code = code_field(ctx)?;
    let (shown, digests) = mfa::new_recovery_codes();
    ctx.app.db.with_tx(|tx| {
        if !store::is_enrolled(tx, s.row.user_id)? {
            return Err(AppError::bad_request("two-factor sign-in is not set up"));
        }
        prove_recent(ctx, tx, &s, code.as_deref())?;
        store::replace_recovery_codes(tx, s.row.user_id, &digests, ctx.now())?;
        event(
            ctx,
            tx,
            EventType::MfaRecoveryCodes,
            s.row.user_id,
            true,
            json!({}),
        )
    })?;
    Ok(Response::json(&json!({ "recovery_codes": shown })).with_no_cache())
}

/// POST /mfa/disable: removes the factor, unless MFA is enforced for this user.
pub fn disable_post(ctx: &Ctx) -> Result<Response> {
    let s = require_user(ctx)?;
    limit(ctx, s.row.user_id)?;
    let code = code_field(ctx)?;
    ctx.app.db.with_tx(|tx| {
        if !store::is_enrolled(tx, s.row.user_id)? {
            return Err(AppError::bad_request("two-factor sign-in is not set up"));
        }
        if enforced_for(ctx, tx, s.row.user_id)? {
            return Err(AppError::Forbidden(
                "two-factor sign-in is required for your account",
            ));
        }
        prove_recent(ctx, tx, &s, code.as_deref())?;
        store::remove(tx, s.row.user_id)?;
        event(
            ctx,
            tx,
            EventType::MfaDisable,
            s.row.user_id,
            true,
            json!({}),
        )
    })?;
    Ok(Response::json(&json!({ "enrolled": false })).with_no_cache())
}
