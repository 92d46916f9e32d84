//! `POST /link/jellyfin`: approving a TV's Jellyfin Quick Connect code from /home (form
//! field or JSON `code`). The rule is signin::device_link's; this file decodes the code,
//! checks the session is whole, rate-limits and answers a page or JSON.

use rouille::Response;
use serde::Deserialize;
use serde_json::json;

use crate::error::{AppError, Result};
use crate::providers::ProviderKind;
use crate::signin::device_link::{self, Refused};
use crate::views;
use crate::web::guards::{UserSession, require_second_factor, require_user};
use crate::web::page;
use crate::web::request::Ctx;

#[derive(Deserialize)]
struct LinkBody {
    code: String,
}

/// POST /link/jellyfin: 200 (JSON `{"authorized": true}` when JSON is asked for, else a
/// page), or a 4xx saying what to do.
pub fn jellyfin_post(ctx: &Ctx) -> Result<Response> {
    let s = require_user(ctx)?;
    require_second_factor(ctx, &s)?;
    let typed = if ctx.is_json_body() {
        ctx.json::<LinkBody>(r#"{"code":"123456"}"#)?.code
    } else {
        ctx.form()?.get("code").unwrap_or("").to_string()
    };
    charge(ctx, &s)?;
    let code = device_link::parse_code(&typed)
        .ok_or_else(|| AppError::bad_request("enter the 6-digit code your TV or app shows"))?;
    let providers = ctx.app.providers();
    let server = providers
        .media_server(ProviderKind::Jellyfin)
        .filter(|_| providers.is_enabled(ProviderKind::Jellyfin))
        .ok_or_else(|| AppError::bad_request("this portal does not sign in with Jellyfin"))?;
    let origin = ctx.origin();
    match device_link::approve(&origin, server, s.row.user_id, s.row.identity_id, &code)? {
        Ok(()) => {
            crate::log_info!(
                "req={} user {} approved a Jellyfin Quick Connect code",
                ctx.request_id,
                s.row.user_id
            );
            if ctx.wants_json() {
                Ok(Response::json(&json!({ "authorized": true })).with_no_cache())
            } else {
                Ok(page(ctx, views::portal::device_linked()))
            }
        }
        Err(refused) => Err(refusal(refused)),
    }
}

/// Every attempt counts, per person and per address.
fn charge(ctx: &Ctx, s: &UserSession) -> Result<()> {
    let limits = &ctx.app.limits.link;
    let now_ms = ctx.app.clock.now_ms();
    limits
        .check(&format!("user:{}", s.row.user_id), now_ms)
        .and_then(|()| limits.check_ip(ctx.ip, now_ms))
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })
}

fn refusal(r: Refused) -> AppError {
    match r {
        Refused::NoJellyfinAccount => AppError::Forbidden(
            "only a Jellyfin sign-in can approve a Jellyfin app: sign in with Jellyfin first",
        ),
        Refused::UnknownCode => AppError::bad_request(
            "that code is unknown or expired: check the code on your TV, or start Quick Connect there again",
        ),
        Refused::QuickConnectOff => AppError::Conflict(
            "Quick Connect is turned off on this Jellyfin server: ask the server's owner to turn it on",
        ),
        Refused::SignInExpired => AppError::Forbidden(
            "your Jellyfin sign-in has expired: sign out, sign in with Jellyfin again, then retry",
        ),
        Refused::Provider(e) => match e {
            crate::providers::ProviderError::Unreachable(d) => AppError::Unavailable(d),
            crate::providers::ProviderError::RateLimited => AppError::RateLimited {
                retry_after_secs: 5,
            },
            e => AppError::Upstream(e.to_string()),
        },
    }
}
