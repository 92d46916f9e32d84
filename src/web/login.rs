//! Sign-in routes: `/auth/start-web`, `/auth/poll`, `/auth/forward` (GET and POST).
//!
//! Plex: start-web creates a PIN and a flow row bound to this browser by a signed flow
//! cookie; the popup returns to /auth/forward and the page polls /auth/poll, and
//! whichever sees the approved PIN first completes the sign-in (the other sees "done").
//! Jellyfin/Emby: the popup (or full page) shows a form that posts to /auth/forward.
//! Jellyfin Quick Connect: start-web with `"method":"quick_connect"` starts a request on
//! the server and answers its code; the secret stays in the flow row (sealed), and
//! /auth/poll redeems it once a Jellyfin app approved the code.

use rouille::Response;
use serde::Deserialize;
use serde_json::json;

use crate::crypto::tokens::{digest, new_id};
use crate::db::flows::{self, Flow, FlowState};
use crate::error::{AppError, Result};
use crate::providers::jellyfin::{MediaServer, QuickConnectError};
use crate::providers::plex::{PinStatus, Plex};
use crate::providers::{Outcome, ProviderError, ProviderKind};
use crate::signin::backoff;
use crate::views;
use crate::web::portal::restricted_response;
use crate::web::redirect::safe_rd;
use crate::web::request::Ctx;
use crate::web::signin::first_factor_done;
use crate::web::{cookies, page, refused_form};

/// Longest back-off between polls of a PIN after plex.tv says 429.
const MAX_BACKOFF_MS: i64 = 30_000;

/// How long a Quick Connect request lives: the server's own expiry.
const QUICK_CONNECT_TTL: i64 = 600;

/// What the sealed Quick Connect secret is for (the seal's purpose).
const QUICK_CONNECT_SECRET: &str = "quick-connect-secret";

const QUICK_CONNECT_OFF: &str = "Quick Connect is turned off on this Jellyfin server";

/// The `method` of start-web that asks for Quick Connect.
const QUICK_CONNECT: &str = "quick_connect";

#[derive(Deserialize)]
struct StartWeb {
    provider: String,
    #[serde(default)]
    rd: Option<String>,
    /// "quick_connect" (Jellyfin only); absent for the provider's ordinary sign-in.
    #[serde(default)]
    method: Option<String>,
}

fn enabled_provider(ctx: &Ctx, name: Option<&str>) -> Result<ProviderKind> {
    name.and_then(ProviderKind::parse)
        .filter(|p| ctx.app.providers().is_enabled(*p))
        .ok_or_else(|| AppError::bad_request("unknown or disabled provider"))
}

fn charge_signin(ctx: &Ctx) -> Result<()> {
    ctx.app
        .limits
        .signin
        .check_ip(ctx.ip, ctx.app.clock.now_ms())
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })
}

/// An attempt that failed because the media server was unreachable does not count.
fn refund_signin(ctx: &Ctx) {
    ctx.app.limits.signin.refund_ip(ctx.ip);
}

pub fn start_web_post(ctx: &Ctx) -> Result<Response> {
    let body: StartWeb = ctx.json(r#"{"provider":"plex"}"#)?;
    let provider = enabled_provider(ctx, Some(&body.provider))?;
    let rd = body.rd.as_deref().and_then(|r| safe_rd(&ctx.app.config, r));
    match body.method.as_deref() {
        None => {}
        Some(QUICK_CONNECT) => return start_quick_connect(ctx, provider, rd.as_deref()),
        Some(_) => return Err(AppError::bad_request("unknown sign-in method")),
    }
    let providers = ctx.app.providers();
    let Some(plex) = providers
        .plex
        .as_ref()
        .filter(|_| provider == ProviderKind::Plex)
    else {
        // Jellyfin and Emby sign in on the portal's own form.
        let mut url = format!("/auth/forward?provider={}", provider.as_str());
        if let Some(rd) = &rd {
            url.push_str("&rd=");
            url.push_str(&urlencode(rd));
        }
        return Ok(Response::json(
            &json!({ "authUrl": ctx.app.config.url_for(&url) }),
        ));
    };
    charge_signin(ctx)?;
    let pin = plex.create_pin(&ctx.app.http, ctx.now()).map_err(|e| {
        if matches!(e, ProviderError::Unreachable(_)) {
            refund_signin(ctx);
        }
        provider_error(e)
    })?;
    let id = new_id();
    let now = ctx.now();
    flows::create(
        &*ctx.app.db.conn()?,
        &digest(&id),
        pin.id,
        rd.as_deref(),
        now,
        pin.expires_at,
    )?;
    let auth_url = plex.auth_url(
        &pin.code,
        &ctx.app.config.url_for("/auth/forward?provider=plex"),
    );
    let cookie = cookies::Cookie::Flow.issue(ctx, &id, (pin.expires_at - now).max(60));
    Ok(Response::json(&json!({ "authUrl": auth_url }))
        .with_additional_header("Set-Cookie", cookie)
        .with_no_cache())
}

/// start-web with `"method":"quick_connect"`: 200 `{code, expires_in}`, the secret kept
/// in a flow row bound to this browser's flow cookie.
fn start_quick_connect(ctx: &Ctx, provider: ProviderKind, rd: Option<&str>) -> Result<Response> {
    let providers = ctx.app.providers();
    let server = providers
        .media_server(provider)
        .filter(|_| provider == ProviderKind::Jellyfin)
        .ok_or_else(|| AppError::bad_request("Quick Connect is a Jellyfin sign-in"))?;
    charge_signin(ctx)?;
    let request = server
        .quick_connect_initiate(&ctx.app.http, ctx.app.clock.now_ms())
        .map_err(|e| quick_connect_error(ctx, e))?;
    let id = new_id();
    let now = ctx.now();
    let sealed = ctx
        .app
        .sealer
        .seal(QUICK_CONNECT_SECRET, request.secret.as_bytes());
    flows::create_quick_connect(
        &*ctx.app.db.conn()?,
        &digest(&id),
        &sealed,
        rd,
        now,
        now + QUICK_CONNECT_TTL,
    )?;
    let cookie = cookies::Cookie::Flow.issue(ctx, &id, QUICK_CONNECT_TTL);
    Ok(
        Response::json(&json!({ "code": request.code, "expires_in": QUICK_CONNECT_TTL }))
            .with_additional_header("Set-Cookie", cookie)
            .with_no_cache(),
    )
}

/// A Quick Connect failure as the person sees it; an unreachable server is not their
/// attempt, so it is refunded.
fn quick_connect_error(ctx: &Ctx, e: QuickConnectError) -> AppError {
    match e {
        QuickConnectError::Off => AppError::Conflict(QUICK_CONNECT_OFF),
        QuickConnectError::Unknown => AppError::bad_request("the sign-in expired, start again"),
        QuickConnectError::TokenRefused => AppError::Upstream("Quick Connect refused".into()),
        QuickConnectError::Provider(e) => {
            if matches!(e, ProviderError::Unreachable(_)) {
                refund_signin(ctx);
            }
            provider_error(e)
        }
    }
}

/// The flow this browser started, by its cookie.
fn current_flow(ctx: &Ctx) -> Result<Option<(Vec<u8>, Flow)>> {
    let Some(id) = cookies::Cookie::Flow.read(ctx) else {
        return Ok(None);
    };
    let d = digest(&id);
    let flow = flows::get(&*ctx.app.db.conn()?, &d, ctx.now())?;
    Ok(flow.map(|f| (d, f)))
}

/// Where a finished sign-in goes: the flow's safe `rd`, or /home.
fn landing(rd: Option<&str>) -> String {
    rd.unwrap_or("/home").to_string()
}

/// GET /auth/poll: the page asks whether the Plex PIN was approved. plex.tv is asked at
/// most once a second per flow (slower after a 429), however often the page polls.
pub fn poll_get(ctx: &Ctx) -> Result<Response> {
    if let Err(retry_after_secs) = ctx.app.limits.poll.check_ip(ctx.ip, ctx.app.clock.now_ms()) {
        return Err(AppError::RateLimited { retry_after_secs });
    }
    let Some((flow_digest, flow)) = current_flow(ctx)? else {
        return Ok(poll_reply("expired", None));
    };
    match flow.state {
        FlowState::Done => return Ok(poll_reply("done", Some(landing(flow.rd.as_deref())))),
        FlowState::Denied => {
            return Ok(poll_reply(
                "denied",
                Some(format!("/restricted?provider={}", flow.provider)),
            ));
        }
        FlowState::Pending => {}
    }
    let now_ms = ctx.app.clock.now_ms();
    if now_ms < flow.next_poll_ms {
        return Ok(poll_reply("pending", None));
    }
    let providers = ctx.app.providers();
    if flow.provider != ProviderKind::Plex.as_str() {
        let server = providers
            .media_server(ProviderKind::Jellyfin)
            .ok_or(AppError::NotFound)?;
        return poll_quick_connect(ctx, server, &flow_digest, &flow, now_ms);
    }
    let plex = providers.plex.as_ref().ok_or(AppError::NotFound)?;
    match plex.check_pin(&ctx.app.http, flow.pin_id) {
        Ok(PinStatus::Waiting) => {
            flows::schedule_poll(&*ctx.app.db.conn()?, &flow_digest, now_ms + 1000, 1000)?;
            Ok(poll_reply("pending", None))
        }
        Ok(PinStatus::Claimed(token)) => {
            let (response, _) = finish_plex(ctx, plex, &flow_digest, &flow, &token)?;
            Ok(response)
        }
        Err(ProviderError::Expired) => {
            flows::delete(&*ctx.app.db.conn()?, &flow_digest)?;
            Ok(poll_reply("expired", None))
        }
        Err(ProviderError::RateLimited | ProviderError::Unreachable(_)) => {
            back_off(ctx, &flow_digest, &flow, now_ms)
        }
        Err(e) => Err(provider_error(e)),
    }
}

/// The upstream asked us to slow down or did not answer: ask again later, each time
/// waiting twice as long (up to MAX_BACKOFF_MS). The page keeps polling meanwhile.
fn back_off(ctx: &Ctx, flow_digest: &[u8], flow: &Flow, now_ms: i64) -> Result<Response> {
    let backoff = (flow.backoff_ms * 2).min(MAX_BACKOFF_MS);
    flows::schedule_poll(&*ctx.app.db.conn()?, flow_digest, now_ms + backoff, backoff)?;
    Ok(poll_reply("pending", None))
}

/// The poll of a Quick Connect flow: asks the server (at most once a second) whether a
/// Jellyfin app approved the code, then redeems the secret once and signs in.
fn poll_quick_connect(
    ctx: &Ctx,
    server: &MediaServer,
    flow_digest: &[u8],
    flow: &Flow,
    now_ms: i64,
) -> Result<Response> {
    let Some(sealed) = flows::secret(&*ctx.app.db.conn()?, flow_digest)? else {
        // Another poll of this browser is redeeming it right now.
        return Ok(poll_reply("pending", None));
    };
    let secret = open_secret(ctx, &sealed)?;
    match server.quick_connect_approved(&ctx.app.http, &secret) {
        Ok(false) => {
            flows::schedule_poll(&*ctx.app.db.conn()?, flow_digest, now_ms + 1000, 1000)?;
            Ok(poll_reply("pending", None))
        }
        Ok(true) => redeem_quick_connect(ctx, server, flow_digest, flow, now_ms),
        Err(e) => quick_connect_poll_failed(ctx, flow_digest, flow, now_ms, e),
    }
}

/// Takes the secret out of the flow (so only this request redeems it) and signs in.
fn redeem_quick_connect(
    ctx: &Ctx,
    server: &MediaServer,
    flow_digest: &[u8],
    flow: &Flow,
    now_ms: i64,
) -> Result<Response> {
    let Some(sealed) = flows::take_secret(&*ctx.app.db.conn()?, flow_digest)? else {
        return Ok(poll_reply("pending", None));
    };
    let secret = open_secret(ctx, &sealed)?;
    let outcome = match server.quick_connect_redeem(&ctx.app.http, &secret) {
        Ok(outcome) => Ok(outcome),
        Err(QuickConnectError::Provider(e)) => Err(e),
        Err(e) => return quick_connect_poll_failed(ctx, flow_digest, flow, now_ms, e),
    };
    ctx.app.metrics.signin(ProviderKind::Jellyfin, &outcome);
    match outcome {
        Ok(outcome) => {
            let (response, _) = finish(ctx, ProviderKind::Jellyfin, flow_digest, flow, outcome)?;
            Ok(response)
        }
        Err(e @ (ProviderError::RateLimited | ProviderError::Unreachable(_))) => {
            // Not redeemed: the next poll tries again with the same secret.
            flows::return_secret(&*ctx.app.db.conn()?, flow_digest, &sealed)?;
            crate::log_warn!("req={} Quick Connect redeem: {e}", ctx.request_id);
            back_off(ctx, flow_digest, flow, now_ms)
        }
        Err(e) => Err(provider_error(e)),
    }
}

/// What a poll answers when the server refused to go on with the request.
fn quick_connect_poll_failed(
    ctx: &Ctx,
    flow_digest: &[u8],
    flow: &Flow,
    now_ms: i64,
    e: QuickConnectError,
) -> Result<Response> {
    match e {
        QuickConnectError::Provider(ProviderError::RateLimited | ProviderError::Unreachable(_)) => {
            back_off(ctx, flow_digest, flow, now_ms)
        }
        QuickConnectError::Unknown => {
            flows::delete(&*ctx.app.db.conn()?, flow_digest)?;
            Ok(poll_reply("expired", None))
        }
        QuickConnectError::Off => {
            flows::delete(&*ctx.app.db.conn()?, flow_digest)?;
            Err(AppError::Conflict(QUICK_CONNECT_OFF))
        }
        e => Err(quick_connect_error(ctx, e)),
    }
}

fn open_secret(ctx: &Ctx, sealed: &str) -> Result<String> {
    let raw = ctx
        .app
        .sealer
        .open(QUICK_CONNECT_SECRET, sealed)
        .map_err(|_| AppError::internal("a Quick Connect secret did not open"))?;
    String::from_utf8(raw).map_err(|_| AppError::internal("a Quick Connect secret is not text"))
}

fn with_cookie(r: Response, cookie: Option<String>) -> Response {
    match cookie {
        Some(c) => r.with_additional_header("Set-Cookie", c),
        None => r,
    }
}

fn poll_reply(status: &str, redirect: Option<String>) -> Response {
    Response::json(&json!({ "status": status, "redirect": redirect })).with_no_cache()
}

/// Turns an approved PIN into a session (or a denial), once (see [`finish`]).
fn finish_plex(
    ctx: &Ctx,
    plex: &Plex,
    flow_digest: &[u8],
    flow: &Flow,
    token: &str,
) -> Result<(Response, String)> {
    let outcome = plex.authorize(&ctx.app.http, token);
    ctx.app.metrics.signin(ProviderKind::Plex, &outcome);
    let outcome = outcome.map_err(provider_error)?;
    finish(ctx, ProviderKind::Plex, flow_digest, flow, outcome)
}

/// Turns the provider's word on a flow into a session (or a denial), once: the flow row
/// is claimed in the same transaction, so the popup and the poll cannot both sign in.
/// Returns the JSON reply for the poll and the page redirect.
fn finish(
    ctx: &Ctx,
    provider: ProviderKind,
    flow_digest: &[u8],
    flow: &Flow,
    outcome: Outcome,
) -> Result<(Response, String)> {
    match outcome {
        Outcome::Authorized(ident) => {
            // The flow cookie stays: a popup returning after the poll finished
            // finds the flow done and moves on to where it led.
            match first_factor_done(ctx, &ident, flow.rd.as_deref(), Some(flow_digest))? {
                Some(l) => Ok((
                    with_cookie(poll_reply("done", Some(l.redirect.clone())), l.cookie),
                    l.redirect,
                )),
                None => {
                    // Someone else finished this flow meanwhile: read where it led.
                    let conn = ctx.app.db.conn()?;
                    let target = flows::get(&conn, flow_digest, ctx.now())?.and_then(|f| f.rd);
                    let target = landing(target.as_deref());
                    Ok((poll_reply("done", Some(target.clone())), target))
                }
            }
        }
        Outcome::Denied {
            log,
            account,
            username,
        } => {
            crate::log_warn!("req={} sign-in denied: {log}", ctx.request_id);
            crate::signin::withdraw_access(
                &ctx.origin(),
                provider,
                account.as_deref(),
                username.as_deref(),
            )?;
            crate::signin::record_failure(
                &ctx.origin(),
                provider.as_str(),
                username.as_deref(),
                "no access to the media server",
            );
            flows::set_state(&*ctx.app.db.conn()?, flow_digest, FlowState::Denied)?;
            let target = format!("/restricted?provider={}", provider.as_str());
            Ok((poll_reply("denied", Some(target.clone())), target))
        }
    }
}

fn is_popup(value: Option<&str>) -> bool {
    value == Some("1")
}

/// GET /auth/forward: Plex returns here from app.plex.tv; Jellyfin/Emby show their form.
pub fn forward_get(ctx: &Ctx) -> Result<Response> {
    let provider = enabled_provider(ctx, ctx.query("provider").as_deref())?;
    if provider != ProviderKind::Plex {
        let rd = ctx.query("rd").and_then(|r| safe_rd(&ctx.app.config, &r));
        return Ok(page(
            ctx,
            views::login::password_form(&views::login::PasswordForm {
                provider,
                username: "",
                rd: rd.as_deref(),
                popup: is_popup(ctx.query("popup").as_deref()),
                error: None,
            }),
        ));
    }
    let providers = ctx.app.providers();
    let plex = providers.plex.as_ref().ok_or(AppError::NotFound)?;
    let Some((flow_digest, flow)) =
        current_flow(ctx)?.filter(|(_, f)| f.provider == ProviderKind::Plex.as_str())
    else {
        return Ok(page(ctx, views::login::not_completed()).with_status_code(400));
    };
    let target = match flow.state {
        FlowState::Done => landing(flow.rd.as_deref()),
        FlowState::Denied => "/restricted?provider=plex".into(),
        FlowState::Pending => match plex
            .check_pin(&ctx.app.http, flow.pin_id)
            .map_err(provider_error)?
        {
            PinStatus::Waiting => {
                return Ok(page(ctx, views::login::not_completed()).with_status_code(400));
            }
            PinStatus::Claimed(token) => {
                let (reply, target) = finish_plex(ctx, plex, &flow_digest, &flow, &token)?;
                return Ok(with_cookies_of(
                    &reply,
                    page(ctx, views::login::finished(&target)),
                ));
            }
        },
    };
    Ok(page(ctx, views::login::finished(&target)))
}

/// Copies the Set-Cookie headers of one response onto another.
fn with_cookies_of(from: &Response, mut to: Response) -> Response {
    for (name, value) in &from.headers {
        if name.eq_ignore_ascii_case("Set-Cookie") {
            to = to.with_additional_header("Set-Cookie", value.clone());
        }
    }
    to
}

/// POST /auth/forward?provider=jellyfin|emby with `username`, `password`.
pub fn forward_post(ctx: &Ctx) -> Result<Response> {
    let provider = enabled_provider(ctx, ctx.query("provider").as_deref())?;
    let providers = ctx.app.providers();
    let server = providers
        .media_server(provider)
        .ok_or_else(|| AppError::bad_request("this provider signs in through its own page"))?;
    let form = ctx.form()?;
    let username = form.get("username").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let rd = form.get("rd").and_then(|r| safe_rd(&ctx.app.config, r));
    let popup = is_popup(form.get("popup"));
    let form_page = |status: u16, error: &str| {
        page(
            ctx,
            views::login::password_form(&views::login::PasswordForm {
                provider,
                username,
                rd: rd.as_deref(),
                popup,
                error: Some(error),
            }),
        )
        .with_status_code(status)
    };
    if username.is_empty() || username.len() > 256 || password.len() > 1024 {
        return Ok(form_page(400, "Enter your username and password."));
    }
    // Refused attempts keep the username typed (never the password) and say why, and
    // when to try again.
    let refused = |e: AppError| {
        refused_form(
            ctx,
            &e,
            views::login::password_form(&views::login::PasswordForm {
                provider,
                username,
                rd: rd.as_deref(),
                popup,
                error: Some(&e.sentence()),
            }),
        )
    };
    if let Err(e) = charge_signin(ctx) {
        crate::log_warn!("req={} sign-in rate limit for {}", ctx.request_id, ctx.ip);
        return Ok(refused(e));
    }
    let _account = server.one_at_a_time(username);
    // Per account as well as per address: guesses spread over many addresses still
    // queue up behind the account's back-off (checked under its lock, so in order).
    let account = backoff::Account::new(provider, username);
    if let Err(retry_after_secs) = backoff::check(ctx.app, &account) {
        crate::log_warn!(
            "req={} sign-in back-off for a {} account",
            ctx.request_id,
            provider.as_str()
        );
        return Ok(refused(AppError::Locked {
            reason: "too many failed sign-ins for this account",
            retry_after_secs,
        }));
    }
    let outcome = server.authenticate(&ctx.app.http, username, password);
    ctx.app.metrics.signin(provider, &outcome);
    match outcome {
        Ok(Outcome::Authorized(ident)) => {
            backoff::password_accepted(ctx.app, &account);
            let l = first_factor_done(ctx, &ident, rd.as_deref(), None)?
                .ok_or_else(|| AppError::internal("sign-in not recorded"))?;
            let page = if popup {
                page(ctx, views::login::finished(&l.redirect))
            } else {
                Response::redirect_303(l.redirect)
            };
            Ok(with_cookie(page, l.cookie))
        }
        Ok(Outcome::Denied {
            username: who,
            account,
            log,
        }) => {
            crate::log_warn!("req={} sign-in denied: {log}", ctx.request_id);
            crate::signin::withdraw_access(
                &ctx.origin(),
                provider,
                account.as_deref(),
                who.as_deref(),
            )?;
            crate::signin::record_failure(
                &ctx.origin(),
                provider.as_str(),
                who.as_deref(),
                "no access to the media server",
            );
            if popup {
                let target = format!("/restricted?provider={}", provider.as_str());
                return Ok(page(ctx, views::login::finished(&target)).with_status_code(403));
            }
            Ok(
                restricted_response(ctx, Some(provider), who.as_deref(), false)
                    .with_status_code(403),
            )
        }
        Err(ProviderError::InvalidCredentials) => {
            backoff::password_refused(&ctx.origin(), &account, provider, username);
            crate::log_info!(
                "req={} sign-in failed: {} wrong credentials from {}",
                ctx.request_id,
                provider.as_str(),
                ctx.ip
            );
            Ok(form_page(401, "Invalid username or password."))
        }
        Err(e) => {
            if matches!(e, ProviderError::Unreachable(_)) {
                refund_signin(ctx);
            }
            let err = provider_error(e);
            if let Some(d) = err.log_detail() {
                crate::log_warn!(
                    "req={} sign-in with {}: {d}",
                    ctx.request_id,
                    provider.as_str()
                );
            }
            // The form again, as typed; with Retry-After when the server asked us to slow down.
            Ok(refused(err))
        }
    }
}

fn provider_error(e: ProviderError) -> AppError {
    match e {
        ProviderError::InvalidCredentials => AppError::Forbidden("invalid username or password"),
        ProviderError::Unreachable(d) => AppError::Unavailable(d),
        ProviderError::RateLimited => AppError::RateLimited {
            retry_after_secs: 5,
        },
        ProviderError::Expired => AppError::bad_request("the sign-in expired, start again"),
        ProviderError::Malformed(d) => AppError::Upstream(d),
        ProviderError::Misconfigured(d) => AppError::Upstream(format!("configuration: {d}")),
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
