//! Sign-in routes: `/auth/start-web`, `/auth/poll`, `/auth/forward` (GET and POST).
//!
//! Plex: start-web creates a PIN and a flow bound to this browser by a signed flow
//! cookie; the popup returns to /auth/forward and the page polls /auth/poll, and
//! whichever sees the approved PIN first completes the sign-in (the other sees "done").
//! Jellyfin/Emby: the popup (or full page) shows a form that posts to /auth/forward.
//! Jellyfin Quick Connect: start-web with `"method":"quick_connect"` answers the code and
//! /auth/poll signs in once a Jellyfin app approved it. The rules of these flows are in
//! signin::flow and signin::password; this file decodes requests and encodes answers.

use rouille::Response;
use serde::Deserialize;
use serde_json::json;

use crate::error::{AppError, Result};
use crate::providers::ProviderKind;
use crate::signin::Issued;
use crate::signin::flow::{self, Started, Step};
use crate::signin::password::{self, Signed};
use crate::views;
use crate::web::portal::restricted_response;
use crate::web::redirect::safe_rd;
use crate::web::request::Ctx;
use crate::web::signin::{previous_session, set_cookie};
use crate::web::{cookies, page, refused_form};

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

pub fn start_web_post(ctx: &Ctx) -> Result<Response> {
    let body: StartWeb = ctx.json(r#"{"provider":"plex"}"#)?;
    let provider = enabled_provider(ctx, Some(&body.provider))?;
    let rd = body.rd.as_deref().and_then(|r| safe_rd(&ctx.app.config, r));
    match body.method.as_deref() {
        None => {}
        Some(QUICK_CONNECT) => {
            let started = flow::start_quick_connect(&ctx.origin(), provider, rd.as_deref())?;
            let answer = json!({ "code": started.shown, "expires_in": started.ttl });
            return Ok(with_flow_cookie(ctx, Response::json(&answer), &started));
        }
        Some(_) => return Err(AppError::bad_request("unknown sign-in method")),
    }
    let plex_pin = match provider {
        ProviderKind::Plex => {
            let forward_url = ctx.app.config.url_for("/auth/forward?provider=plex");
            flow::start_plex(&ctx.origin(), rd.as_deref(), &forward_url)?
        }
        _ => None,
    };
    let Some(started) = plex_pin else {
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
    let answer = json!({ "authUrl": started.shown });
    Ok(with_flow_cookie(ctx, Response::json(&answer), &started))
}

/// Binds a started flow to this browser.
fn with_flow_cookie(ctx: &Ctx, r: Response, started: &Started) -> Response {
    let cookie = cookies::Cookie::Flow.issue(ctx, &started.flow_id, started.ttl);
    r.with_additional_header("Set-Cookie", cookie)
        .with_no_cache()
}

/// GET /auth/poll: the page asks whether the Plex PIN or Quick Connect code was approved.
pub fn poll_get(ctx: &Ctx) -> Result<Response> {
    if let Err(retry_after_secs) = ctx.app.limits.poll.check_ip(ctx.ip, ctx.app.clock.now_ms()) {
        return Err(AppError::RateLimited { retry_after_secs });
    }
    let flow_id = cookies::Cookie::Flow.read(ctx);
    let previous = previous_session(ctx);
    let step = flow::poll(&ctx.origin(), flow_id.as_deref(), previous.as_deref())?;
    let reply = |status: &str, redirect: Option<String>| {
        Response::json(&json!({ "status": status, "redirect": redirect })).with_no_cache()
    };
    Ok(match step {
        Step::Expired => reply("expired", None),
        Step::Pending => reply("pending", None),
        // The flow cookie stays: a popup returning after the poll finished finds the
        // flow done and moves on to where it led.
        Step::Done { redirect, issued } => with_issued(ctx, reply("done", Some(redirect)), issued),
        Step::Denied { redirect } => reply("denied", Some(redirect)),
    })
}

/// Adds the cookie that carries what the sign-in issued, if anything.
fn with_issued(ctx: &Ctx, r: Response, issued: Option<Issued>) -> Response {
    match issued {
        Some(i) => r.with_additional_header("Set-Cookie", set_cookie(ctx, &i)),
        None => r,
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
    let flow_id = cookies::Cookie::Flow.read(ctx);
    let previous = previous_session(ctx);
    let step = flow::plex_returned(&ctx.origin(), flow_id.as_deref(), previous.as_deref())?;
    Ok(match step {
        Step::Expired | Step::Pending => {
            page(ctx, views::login::not_completed()).with_status_code(400)
        }
        Step::Done { redirect, issued } => {
            with_issued(ctx, page(ctx, views::login::finished(&redirect)), issued)
        }
        Step::Denied { redirect } => page(ctx, views::login::finished(&redirect)),
    })
}

/// POST /auth/forward?provider=jellyfin|emby with `username`, `password`.
pub fn forward_post(ctx: &Ctx) -> Result<Response> {
    let provider = enabled_provider(ctx, ctx.query("provider").as_deref())?;
    password::offered(ctx.app, provider)?;
    let form = ctx.form()?;
    let username = form.get("username").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let rd = form.get("rd").and_then(|r| safe_rd(&ctx.app.config, r));
    let popup = is_popup(form.get("popup"));
    // The form again, keeping the username typed (never the password), saying why.
    let form_page = |error: &str| {
        views::login::password_form(&views::login::PasswordForm {
            provider,
            username,
            rd: rd.as_deref(),
            popup,
            error: Some(error),
        })
    };
    let previous = previous_session(ctx);
    let signed = password::sign_in(
        &ctx.origin(),
        provider,
        username,
        password,
        rd.as_deref(),
        previous.as_deref(),
    )?;
    Ok(match signed {
        Signed::In(l) => with_issued(
            ctx,
            if popup {
                page(ctx, views::login::finished(&l.redirect))
            } else {
                Response::redirect_303(l.redirect)
            },
            l.issued,
        ),
        Signed::Denied { .. } if popup => {
            let target = format!("/restricted?provider={}", provider.as_str());
            page(ctx, views::login::finished(&target)).with_status_code(403)
        }
        Signed::Denied { username: who } => {
            restricted_response(ctx, Some(provider), who.as_deref(), false).with_status_code(403)
        }
        Signed::Incomplete => {
            page(ctx, form_page("Enter your username and password.")).with_status_code(400)
        }
        Signed::WrongPassword => {
            page(ctx, form_page("Invalid username or password.")).with_status_code(401)
        }
        // With Retry-After when the portal or the server asked to wait.
        Signed::Refused(e) => refused_form(ctx, &e, form_page(&e.sentence())),
    })
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
