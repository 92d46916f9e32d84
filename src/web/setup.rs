//! The first-run setup wizard: with no media server configured and setup not done, `/`
//! asks for the one-time setup code (printed in the log at start-up and by
//! `authportal setup-code`), then the owner connects their server: Jellyfin or Emby by
//! address and an administrator's sign-in, Plex by signing in with Plex and picking one
//! of their own servers. The owner becomes the portal's first admin, and the wizard is
//! gone for good.

use rouille::Response;
use serde_json::json;

use crate::crypto::tokens::{digest, new_id};
use crate::crypto::{b64url, ct_eq, random_bytes};
use crate::db::{events, meta, users};
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::providers::connect::{self, AddressProblem};
use crate::providers::{Outcome, ProviderError, ProviderKind};
use crate::views;
use crate::web::request::Ctx;
use crate::web::signin::new_session;
use crate::web::{cookies, page, refused_form};

const CODE_KEY: &str = "setup_code";
const DONE_KEY: &str = "setup_done";
const UNLOCK_KEY: &str = "setup_unlock";
/// The unlock cookie lives this long.
const UNLOCK_TTL: i64 = 3600;

/// Setup is open while no media server is configured and it was never completed.
pub fn needed(app: &crate::App) -> Result<bool> {
    if !app.providers().enabled.is_empty() {
        return Ok(false);
    }
    Ok(meta::get(&*app.db.conn()?, DONE_KEY)?.is_none())
}

/// The setup code (made once, kept sealed until setup is done), if setup is open.
pub fn code(app: &crate::App) -> Result<Option<String>> {
    if !needed(app)? {
        return Ok(None);
    }
    let conn = app.db.conn()?;
    if let Some(sealed) = meta::get(&conn, CODE_KEY)? {
        if let Ok(code) = app.sealer.open(CODE_KEY, &sealed) {
            return Ok(Some(String::from_utf8_lossy(&code).into_owned()));
        }
    }
    // 10 characters of base32: 50 bits, typed once by the owner.
    let raw: String = random_bytes::<10>()
        .iter()
        .map(|b| b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789"[(b & 31) as usize] as char)
        .collect();
    let code = format!("{}-{}", &raw[..5], &raw[5..]);
    meta::set(&conn, CODE_KEY, &app.sealer.seal(CODE_KEY, code.as_bytes()))?;
    Ok(Some(code))
}

fn unlocked(ctx: &Ctx) -> Result<bool> {
    let Some(id) = cookies::Cookie::Setup.read(ctx) else {
        return Ok(false);
    };
    let stored = meta::get(&*ctx.app.db.conn()?, UNLOCK_KEY)?;
    Ok(stored.is_some_and(|s| ct_eq(s.as_bytes(), b64url(&digest(&id)).as_bytes())))
}

fn require_open(ctx: &Ctx) -> Result<()> {
    if needed(ctx.app)? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// GET / while setup is open.
pub fn welcome_get(ctx: &Ctx) -> Result<Response> {
    if unlocked(ctx)? {
        return Ok(page(
            ctx,
            views::setup::server_form(None, "", "", ProviderKind::Jellyfin),
        ));
    }
    Ok(page(ctx, views::setup::code_form(None)))
}

/// POST /setup/unlock {code}
pub fn unlock_post(ctx: &Ctx) -> Result<Response> {
    require_open(ctx)?;
    if let Err(e) = limit(ctx, &ctx.app.limits.setup_code) {
        return Ok(refused_form(
            ctx,
            &e,
            views::setup::code_form(Some(&e.sentence())),
        ));
    }
    let form = ctx.form()?;
    let typed: String = form
        .get("code")
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase()
        .replace(' ', "");
    let expected = code(ctx.app)?.unwrap_or_default();
    if expected.is_empty()
        || !ct_eq(
            typed.replace('-', "").as_bytes(),
            expected.replace('-', "").as_bytes(),
        )
    {
        return Ok(page(ctx, views::setup::code_form(Some("That is not the setup code. It is printed in the portal's log at start-up, and by the command authportal setup-code."))).with_status_code(401));
    }
    let id = new_id();
    meta::set(&*ctx.app.db.conn()?, UNLOCK_KEY, &b64url(&digest(&id)))?;
    let cookie = cookies::Cookie::Setup.issue(ctx, &id, UNLOCK_TTL);
    Ok(Response::redirect_303("/").with_additional_header("Set-Cookie", cookie))
}

/// The wizard's own budgets (app::Limits::setup and setup_code), apart from sign-in's.
fn limit(ctx: &Ctx, limiter: &crate::ratelimit::RateLimiter) -> Result<()> {
    limiter
        .check_ip(ctx.ip, ctx.app.clock.now_ms())
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })
}

/// POST /setup/server {kind, url, username, password}: checks the server answers, signs
/// the owner in as one of its administrators, stores the server and makes them admin.
pub fn server_post(ctx: &Ctx) -> Result<Response> {
    require_open(ctx)?;
    if !unlocked(ctx)? {
        return Err(AppError::Forbidden("enter the setup code first"));
    }
    let form = ctx.form()?;
    let kind = match form.get("kind") {
        Some("jellyfin") => ProviderKind::Jellyfin,
        Some("emby") => ProviderKind::Emby,
        _ => return Err(AppError::bad_request("choose Jellyfin or Emby")),
    };
    let url_text = form.get("url").unwrap_or("").trim().to_string();
    let username = form.get("username").unwrap_or("").trim();
    let again = |msg: &str, status: u16| {
        Ok(page(
            ctx,
            views::setup::server_form(Some(msg), &url_text, username, kind),
        )
        .with_status_code(status))
    };
    if let Err(e) = limit(ctx, &ctx.app.limits.setup) {
        return Ok(refused_form(
            ctx,
            &e,
            views::setup::server_form(Some(&e.sentence()), &url_text, username, kind),
        ));
    }
    let named = match connect::check_address(ctx.app, kind, &url_text) {
        Ok(named) => named,
        Err(problem) => {
            if let AddressProblem::NoAnswer(detail) = &problem {
                crate::log_warn!(
                    "req={} setup: {} at {url_text}: {detail}",
                    ctx.request_id,
                    kind.label()
                );
            }
            return again(&problem.message(kind), problem.status());
        }
    };
    let password = form.get("password").unwrap_or("");
    let ident = match named.server.authenticate(&named.agent, username, password) {
        Ok(Outcome::Authorized(ident)) => ident,
        Ok(Outcome::Denied { .. }) => {
            return again("That account may not sign in to the server.", 403);
        }
        Err(ProviderError::InvalidCredentials) => {
            return again("Invalid username or password.", 401);
        }
        Err(e) => {
            crate::log_warn!("req={} setup sign-in: {e}", ctx.request_id);
            return again("The server could not check that account; try again.", 502);
        }
    };
    if !ident.groups.iter().any(|g| g.ends_with("-admin")) {
        return again(
            &format!(
                "Sign in with an administrator of the {} server.",
                kind.label()
            ),
            403,
        );
    }
    let stored = crate::settings::prepare(
        <crate::provider_settings::ProvidersSettings as crate::settings::Section>::NAME,
        &connect::with_media_server(&serde_json::Value::Null, kind, &url_text, None),
        &serde_json::Value::Null,
        &ctx.app.sealer,
    )
    .map_err(AppError::BadRequest)?;
    finish(
        ctx,
        kind,
        &ident,
        &stored,
        &format!("{} at {url_text}", kind.label()),
    )
}

/// The Plex account the wizard signed in with, between choosing and saving a server.
const PLEX_TOKEN_KEY: &str = "setup_plex_token";

fn unlocked_open(ctx: &Ctx) -> Result<()> {
    require_open(ctx)?;
    if !unlocked(ctx)? {
        return Err(AppError::Forbidden("enter the setup code first"));
    }
    Ok(())
}

/// POST /setup/plex/start: a Plex PIN, then off to app.plex.tv (whole page: no popup in
/// the wizard), which comes back to /setup/plex/return.
pub fn plex_start_post(ctx: &Ctx) -> Result<Response> {
    unlocked_open(ctx)?;
    if let Err(e) = limit(ctx, &ctx.app.limits.setup) {
        return Ok(refused_form(
            ctx,
            &e,
            views::setup::server_form(Some(&e.sentence()), "", "", ProviderKind::Jellyfin),
        ));
    }
    let plex = connect::plex_without_server(ctx.app);
    let pin = plex
        .create_pin(&ctx.app.http, ctx.now())
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let id = new_id();
    let now = ctx.now();
    crate::signin::flow::store_plex_pin(
        ctx.app,
        ctx.ip,
        &digest(&id),
        pin.id,
        None,
        pin.expires_at,
    )?;
    let cookie = cookies::Cookie::Flow.issue(ctx, &id, (pin.expires_at - now).max(60));
    let auth_url = plex.auth_url(&pin.code, &ctx.app.config.url_for("/setup/plex/return"));
    Ok(Response::redirect_303(auth_url).with_additional_header("Set-Cookie", cookie))
}

/// GET /setup/plex/return: the PIN approved, the owner picks one of their own servers.
pub fn plex_return_get(ctx: &Ctx) -> Result<Response> {
    unlocked_open(ctx)?;
    let flow = cookies::Cookie::Flow.read(ctx).map(|id| digest(&id));
    let conn = ctx.app.db.conn()?;
    let Some((flow_digest, flow)) = flow.and_then(|d| {
        crate::db::flows::get(&conn, &d, ctx.now())
            .ok()
            .flatten()
            .map(|f| (d, f))
    }) else {
        return Ok(page(
            ctx,
            views::setup::server_form(
                Some("The Plex sign-in expired; start again."),
                "",
                "",
                ProviderKind::Jellyfin,
            ),
        )
        .with_status_code(400));
    };
    drop(conn);
    let plex = connect::plex_without_server(ctx.app);
    let token = match plex.check_pin(&ctx.app.http, flow.pin_id) {
        Ok(crate::providers::plex::PinStatus::Claimed(t)) => t,
        Ok(_) | Err(ProviderError::Expired) => {
            return Ok(page(
                ctx,
                views::setup::server_form(
                    Some("The Plex sign-in was not approved; start again."),
                    "",
                    "",
                    ProviderKind::Jellyfin,
                ),
            )
            .with_status_code(400));
        }
        Err(e) => return Err(AppError::Unavailable(e.to_string())),
    };
    let servers = plex
        .owned_servers(&ctx.app.http, &token)
        .map_err(|e| AppError::Upstream(e.to_string()))?;
    let conn = ctx.app.db.conn()?;
    crate::db::flows::delete(&conn, &flow_digest)?;
    meta::set(
        &conn,
        PLEX_TOKEN_KEY,
        &ctx.app.sealer.seal(PLEX_TOKEN_KEY, token.as_bytes()),
    )?;
    Ok(page(ctx, views::setup::plex_servers(&servers)))
}

/// POST /setup/plex/choose {machine_id}: stores the server and the owner token (sealed),
/// and signs the owner in as the first admin.
pub fn plex_choose_post(ctx: &Ctx) -> Result<Response> {
    unlocked_open(ctx)?;
    let form = ctx.form()?;
    let machine_id = form.get("machine_id").unwrap_or("").trim().to_string();
    let token = meta::get(&*ctx.app.db.conn()?, PLEX_TOKEN_KEY)?
        .and_then(|s| ctx.app.sealer.open(PLEX_TOKEN_KEY, &s).ok())
        .map(|t| String::from_utf8_lossy(&t).into_owned())
        .ok_or_else(|| AppError::bad_request("sign in with Plex first"))?;
    let plex = connect::plex_without_server(ctx.app);
    let owned = plex
        .owned_servers(&ctx.app.http, &token)
        .map_err(|e| AppError::Upstream(e.to_string()))?;
    let Some((_, name)) = owned.iter().find(|(id, _)| *id == machine_id) else {
        return Err(AppError::bad_request("choose one of your own Plex servers"));
    };
    let mut cfg = ctx.app.config.plex.clone();
    cfg.machine_id = Some(machine_id.clone());
    let ident = match crate::providers::plex::Plex::new(cfg, ctx.app.install_id.clone())
        .authorize(&ctx.app.http, &token)
    {
        Ok(Outcome::Authorized(ident)) => ident,
        Ok(Outcome::Denied { .. }) => {
            return Err(AppError::Forbidden(
                "this Plex account has no access to that server",
            ));
        }
        Err(e) => return Err(AppError::Upstream(e.to_string())),
    };
    let stored = crate::settings::prepare(
        <crate::provider_settings::ProvidersSettings as crate::settings::Section>::NAME,
        &connect::with_plex_server(&serde_json::Value::Null, &machine_id, name, &token),
        &serde_json::Value::Null,
        &ctx.app.sealer,
    )
    .map_err(AppError::BadRequest)?;
    finish(
        ctx,
        ProviderKind::Plex,
        &ident,
        &stored,
        &format!("Plex server {machine_id}"),
    )
}

/// Stores the providers section, makes the owner the first admin with a session, and
/// closes the wizard, all in one transaction.
fn finish(
    ctx: &Ctx,
    kind: ProviderKind,
    ident: &crate::providers::Identity,
    stored: &serde_json::Value,
    what: &str,
) -> Result<Response> {
    let now = ctx.now();
    let id = new_id();
    let purpose = format!(
        "provider-token:{}:{}",
        kind.as_str(),
        ident.provider_user_id
    );
    let sealed_token = ctx.app.sealer.seal(&purpose, ident.token.as_bytes());
    let cookie = ctx.app.db.with_tx(|tx| {
        if meta::get(tx, DONE_KEY)?.is_some() {
            return Err(AppError::NotFound);
        }
        let change = crate::db::settings::Change {
            section:
                <crate::provider_settings::ProvidersSettings as crate::settings::Section>::NAME,
            expected_version: crate::db::settings::get(
                tx,
                <crate::provider_settings::ProvidersSettings as crate::settings::Section>::NAME,
            )?
            .map_or(0, |s| s.version),
            config: stored,
            by: Some(&ident.username),
            reason: Some("setup wizard"),
        };
        crate::db::settings::put(tx, &change, now)?
            .map_err(|_| AppError::internal("providers changed during setup"))?;
        let linked = users::record_sign_in(tx, ident, Some(&sealed_token), now)?;
        users::add_group(tx, linked.user_id, "admins", now)?;
        meta::set(tx, DONE_KEY, &now.to_string())?;
        meta::delete(tx, &[CODE_KEY, UNLOCK_KEY, PLEX_TOKEN_KEY])?;
        events::record(
            tx,
            &events::Event {
                kind: EventType::SetupDone,
                user_id: Some(linked.user_id),
                ip: Some(&ctx.ip.to_string()),
                result: "success",
                detail: json!({ "provider": kind.as_str() }),
            },
            now,
        )?;
        new_session(ctx, tx, &id, linked, ident.method)
    })?;
    ctx.app.settings_changed();
    crate::log_info!("setup done: {what}, first admin {}", ident.username);
    Ok(Response::redirect_303("/admin")
        .with_additional_header("Set-Cookie", cookie)
        .with_additional_header("Set-Cookie", cookies::Cookie::Setup.clear(&ctx.app.config)))
}
