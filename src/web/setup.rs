//! The first-run setup wizard: with no media server configured and setup not done, `/`
//! asks for the one-time setup code (printed in the log at start-up and by
//! `authportal setup-code`), then the owner connects their Jellyfin or Emby server and
//! signs in as one of its administrators, becoming the portal's first admin. Then the
//! wizard is gone for good.

use rouille::Response;
use serde_json::json;

use crate::config::MediaServerConfig;
use crate::crypto::tokens::{digest, new_id};
use crate::crypto::{b64url, ct_eq, random_bytes};
use crate::db::{events, meta, users};
use crate::error::{AppError, Result};
use crate::providers::jellyfin::MediaServer;
use crate::providers::{Outcome, ProviderError, ProviderKind};
use crate::views;
use crate::web::request::Ctx;
use crate::web::signin::new_session;
use crate::web::{cookies, html};

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
    let Some(value) = ctx.cookie(cookies::SETUP) else {
        return Ok(false);
    };
    let Some(id) = ctx.app.cookies.verify(cookies::SETUP_KIND, &value) else {
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
        return Ok(html(views::setup::server_form(
            None,
            "",
            ProviderKind::Jellyfin,
        )));
    }
    Ok(html(views::setup::code_form(None)))
}

/// POST /setup/unlock {code}
pub fn unlock_post(ctx: &Ctx) -> Result<Response> {
    require_open(ctx)?;
    limit(ctx)?;
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
        return Ok(html(views::setup::code_form(Some("That is not the setup code. It is printed in the portal's log at start-up, and by the command authportal setup-code."))).with_status_code(401));
    }
    let id = new_id();
    meta::set(&*ctx.app.db.conn()?, UNLOCK_KEY, &b64url(&digest(&id)))?;
    let cookie = cookies::set(
        &ctx.app.config,
        cookies::SETUP,
        &ctx.app.cookies.sign(cookies::SETUP_KIND, &id),
        UNLOCK_TTL,
    );
    Ok(Response::redirect_303("/").with_additional_header("Set-Cookie", cookie))
}

fn limit(ctx: &Ctx) -> Result<()> {
    ctx.app
        .limits
        .signin
        .check(&ctx.ip.to_string(), ctx.app.clock.now_ms())
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })
}

/// POST /setup/server {kind, url, username, password}: checks the server answers, signs
/// the owner in as one of its administrators, stores the server and makes them admin.
pub fn server_post(ctx: &Ctx) -> Result<Response> {
    require_open(ctx)?;
    if !unlocked(ctx)? {
        return Err(AppError::Forbidden("enter the setup code first"));
    }
    limit(ctx)?;
    let form = ctx.form()?;
    let kind = match form.get("kind") {
        Some("jellyfin") => ProviderKind::Jellyfin,
        Some("emby") => ProviderKind::Emby,
        _ => return Err(AppError::bad_request("choose Jellyfin or Emby")),
    };
    let url_text = form.get("url").unwrap_or("").trim().to_string();
    let again = |msg: &str, status: u16| {
        Ok(html(views::setup::server_form(Some(msg), &url_text, kind)).with_status_code(status))
    };
    let url = match url::Url::parse(&url_text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        _ => {
            return again(
                "Enter the server's address, like http://192.168.1.10:8096",
                400,
            );
        }
    };
    let server = MediaServer::new(
        kind,
        MediaServerConfig { url, api_key: None },
        ctx.app.install_id.clone(),
    );
    if let Err(e) = server.server_info(&ctx.app.http) {
        crate::log_warn!(
            "req={} setup: {} at {url_text}: {e}",
            ctx.request_id,
            kind.label()
        );
        return again(
            &format!("No {} server answered at that address.", kind.label()),
            502,
        );
    }
    let username = form.get("username").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let ident = match server.authenticate(&ctx.app.http, username, password) {
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
    let now = ctx.now();
    let id = new_id();
    let stored = crate::settings::prepare(
        "providers",
        &json!({ "media_servers": [kind.as_str()], kind.as_str(): { "url": url_text } }),
        &serde_json::Value::Null,
        &ctx.app.sealer,
    )
    .map_err(AppError::BadRequest)?;
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
            section: "providers",
            expected_version: crate::db::settings::get(tx, "providers")?.map_or(0, |s| s.version),
            config: &stored,
            by: Some(&ident.username),
            reason: Some("setup wizard"),
        };
        crate::db::settings::put(tx, &change, now)?
            .map_err(|_| AppError::internal("providers changed during setup"))?;
        let linked = users::record_sign_in(tx, &ident, Some(&sealed_token), now)?;
        users::add_group(tx, linked.user_id, "admins", now)?;
        meta::set(tx, DONE_KEY, &now.to_string())?;
        tx.execute(
            "DELETE FROM meta WHERE key IN (?1, ?2)",
            [CODE_KEY, UNLOCK_KEY],
        )?;
        events::record(
            tx,
            &events::Event {
                kind: "setup.done",
                user_id: Some(linked.user_id),
                ip: Some(&ctx.ip.to_string()),
                result: "success",
                detail: json!({ "provider": kind.as_str() }),
            },
            now,
        )?;
        new_session(ctx, tx, &id, linked, &["pwd"], None)
    })?;
    ctx.app.settings_changed();
    crate::log_info!(
        "setup done: {} at {url_text}, first admin {}",
        kind.label(),
        ident.username
    );
    Ok(Response::redirect_303("/admin")
        .with_additional_header("Set-Cookie", cookie)
        .with_additional_header(
            "Set-Cookie",
            cookies::clear(&ctx.app.config, cookies::SETUP),
        ))
}
