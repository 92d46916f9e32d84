//! /device over HTTP (RFC 8628's verification URI): a person signs in if needed, types
//! or confirms the code their TV or app shows, and approves or denies it; /device/qr
//! draws `verification_uri_complete` for apps. Wrong codes are rate limited per address
//! and per session. The rules are in oidc/device.rs; the device's own endpoint is in
//! web/oidc.rs with the other token-style endpoints.

use rouille::Response;

use crate::error::{AppError, Result};
use crate::oidc::device::{self, Decided, Decision};
use crate::views;
use crate::web::guards::{UserSession, current_session, require_second_factor};
use crate::web::page;
use crate::web::request::Ctx;

const UNKNOWN_CODE: &str = "That code is unknown, was already used or has expired. Check the code on your device, or start again there.";

/// What the code box shows again after a wrong code: at most a code's worth.
fn shown(typed: &str) -> String {
    typed.chars().take(32).collect()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Takes one guess from this address and this session (refunded by [`found`]).
fn guess(ctx: &Ctx, s: &UserSession) -> Result<()> {
    let limiter = &ctx.app.limits.device_codes;
    let now = ctx.app.clock.now_ms();
    limiter
        .check_ip(ctx.ip, now)
        .and_then(|()| limiter.check(&session_key(s), now))
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })
}

/// A code that was found is no guess: its tokens go back.
fn found(ctx: &Ctx, s: &UserSession) {
    let limiter = &ctx.app.limits.device_codes;
    limiter.refund_ip(ctx.ip);
    limiter.refund(&session_key(s));
}

fn session_key(s: &UserSession) -> String {
    format!("session:{}", s.row.sid)
}

/// To the sign-in page, and from there back to /device with the code typed (if any).
fn sign_in_first(typed: Option<&str>) -> Response {
    let here = match typed {
        Some(code) => format!("/device?user_code={}", enc(&shown(code))),
        None => "/device".to_string(),
    };
    Response::redirect_303(format!("/?rd={}", enc(&here)))
}

/// GET /device[?user_code=...]: sign in first (coming back here), then the code box or,
/// with a code, the review page.
pub fn page_get(ctx: &Ctx) -> Result<Response> {
    let typed = ctx.query("user_code").filter(|t| !t.trim().is_empty());
    let Some(session) = current_session(ctx)? else {
        return Ok(sign_in_first(typed.as_deref()));
    };
    if !session.authorized() {
        return Err(AppError::Forbidden("this account has no access"));
    }
    let Some(typed) = typed else {
        return Ok(page(ctx, views::device::enter(None, "")));
    };
    guess(ctx, &session)?;
    let Some(review) = device::review(ctx.app, &typed, ctx.now())? else {
        return Ok(page(
            ctx,
            views::device::enter(Some(UNKNOWN_CODE), &shown(&typed)),
        )
        .with_status_code(400));
    };
    found(ctx, &session);
    Ok(page(
        ctx,
        views::device::review(&views::device::Review {
            client_name: &review.client.name,
            username: &session.row.username,
            scopes: &review.scopes,
            user_code: &review.user_code,
        }),
    ))
}

/// POST /device: the review form's answer (`user_code`, `decision=allow|deny`). A session
/// that ended while the page was open goes to sign in, then back to the code.
pub fn decision_post(ctx: &Ctx) -> Result<Response> {
    let form = ctx.form()?;
    let Some(session) = current_session(ctx)? else {
        let typed = form.get("user_code").filter(|t| !t.trim().is_empty());
        return Ok(sign_in_first(typed));
    };
    let decision = match form.get("decision") {
        Some("allow") => Decision::Allow,
        Some("deny") => Decision::Deny,
        _ => return Err(AppError::bad_request("decision must be allow or deny")),
    };
    if decision == Decision::Allow {
        require_second_factor(ctx, &session)?;
    }
    let typed = form.get("user_code").unwrap_or("");
    guess(ctx, &session)?;
    let caller = super::oidc::caller(ctx);
    let decided = device::decide(ctx.app, &caller, &session.row, typed, decision, ctx.now())?;
    if !matches!(decided, Decided::Unknown) {
        found(ctx, &session);
    }
    Ok(match decided {
        Decided::Unknown => {
            page(ctx, views::device::enter(Some(UNKNOWN_CODE), &shown(typed))).with_status_code(400)
        }
        Decided::Approved { client_name } => page(ctx, views::device::decided(true, &client_name)),
        Decided::Denied { client_name } => page(ctx, views::device::decided(false, &client_name)),
        Decided::NotAllowed {
            client_name,
            reason,
        } => page(ctx, views::device::refused(&client_name, &reason)).with_status_code(403),
    })
}

/// GET /device/qr?user_code=...: an SVG QR code of `verification_uri_complete`. Only the
/// code's form is checked, never whether it exists: this must not answer guesses.
pub fn qr_get(ctx: &Ctx) -> Result<Response> {
    let code = ctx
        .query("user_code")
        .and_then(|t| device::normalize_user_code(&t))
        .ok_or_else(|| {
            AppError::bad_request("user_code must be a code like BCDF-GHJK (8 letters)")
        })?;
    let svg = crate::mfa::qr_svg(&device::verification_uri_complete(ctx.app, &code))?;
    Ok(Response::from_data("image/svg+xml", svg).with_public_cache(600))
}
