//! The portal pages: `/` (sign-in), `/home`, `/restricted`, `/whoami`, `/me`, `/logout`.

use rouille::Response;
use serde_json::json;

use crate::db::sessions;
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::providers::ProviderKind;
use crate::views;
use crate::web::guards::{UserSession, current_session};
use crate::web::redirect::safe_rd;
use crate::web::request::Ctx;
use crate::web::{cookies, page};

pub fn index_get(ctx: &Ctx) -> Result<Response> {
    let rd = ctx.query("rd").and_then(|r| safe_rd(&ctx.app.config, &r));
    // prompt=login: an application wants a fresh sign-in even from someone signed in.
    let fresh_sign_in = ctx.query("prompt").as_deref() == Some("login");
    if let Some(s) = current_session(ctx)? {
        if s.authorized() && !fresh_sign_in {
            return Ok(Response::redirect_303(rd.unwrap_or_else(|| "/home".into())));
        }
    }
    let cfg = &ctx.app.config;
    let wrong_origin = ctx
        .req
        .header("Host")
        .filter(|host| Some(*host) != host_port(&cfg.base_url).as_deref())
        .map(|_| cfg.origin());
    let providers = ctx.app.providers();
    // Jellyfin only (Emby has no Quick Connect), and only while the server has it on.
    let quick_connect = providers.is_enabled(ProviderKind::Jellyfin)
        && providers
            .media_server(ProviderKind::Jellyfin)
            .is_some_and(|s| s.quick_connect_offered(&ctx.app.http, ctx.app.clock.now_ms()));
    Ok(page(
        ctx,
        views::login::login(&views::login::LoginPage {
            providers: &providers.enabled,
            rd: rd.as_deref(),
            error: None,
            wrong_origin,
            quick_connect,
        }),
    ))
}

/// `host[:port]` as a browser sends it in the Host header for this URL.
fn host_port(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

pub fn home_get(ctx: &Ctx) -> Result<Response> {
    let Some(s) = current_session(ctx)? else {
        return Ok(Response::redirect_303("/"));
    };
    if !s.authorized() {
        return Ok(restricted_page(ctx, Some(&s)).with_status_code(403));
    }
    home_page(ctx, &s, None)
}

/// The home page of a person with access; `new_app_password` is shown once, right after
/// it was made.
pub fn home_page(
    ctx: &Ctx,
    s: &UserSession,
    new_app_password: Option<&crate::ldap::accounts::NewAppPassword>,
) -> Result<Response> {
    let cfg = &ctx.app.config;
    let provider = ProviderKind::parse(&s.row.provider).map_or("?", ProviderKind::label);
    let conn = ctx.app.db.conn()?;
    let apps = crate::db::oauth::consents_of(&conn, s.row.user_id)?;
    let places = crate::db::signin_ips::signin_ips_of(&conn, s.row.user_id)?;
    let own_sessions = sessions::of_user(&conn, s.row.user_id, ctx.now())?;
    // Only while the directory is on: app passwords are for it alone.
    let app_passwords = match crate::ldap::settings::in_force(cfg, &conn)?.listen_addr {
        Some(_) => Some(crate::db::ldap::app_passwords(&conn, s.row.user_id)?),
        None => None,
    };
    let admin_link =
        crate::settings::roles(&conn)?.allows(&s.groups, crate::roles::Permission::AdminAccess);
    let branding = crate::settings::branding(&conn)?;
    let icons: Vec<String> = crate::db::settings::branding_files(&conn)?
        .into_iter()
        .filter_map(|f| f.name.strip_prefix("icon:").map(str::to_string))
        .collect();
    let link_tv = ctx.app.providers().is_enabled(ProviderKind::Jellyfin)
        && crate::db::users::provider_token_sealed(
            &conn,
            s.row.user_id,
            ProviderKind::Jellyfin.as_str(),
            None,
        )?
        .is_some();
    drop(conn);
    Ok(page(
        ctx,
        views::portal::home(&views::portal::Home {
            username: &s.row.username,
            provider,
            groups: &s.groups,
            extra_link: cfg
                .login_extra_link
                .as_ref()
                .map(|(u, t)| (u.as_str(), t.as_str())),
            mfa_link: cfg.mfa_enable,
            admin_link,
            apps: &apps,
            places: &places,
            sessions: &own_sessions,
            current_sid: &s.row.sid,
            tz: cfg.timezone,
            welcome_text: branding.welcome_text.as_deref(),
            links: branding.links_for(&s.groups).collect(),
            icons: &icons,
            link_tv,
            app_passwords: app_passwords.as_deref(),
            new_app_password,
            ldap_dn: crate::ldap::directory::Layout::of(ctx.app).person_dn(&s.row.username),
        }),
    ))
}

pub fn restricted_get(ctx: &Ctx) -> Result<Response> {
    let session = current_session(ctx)?;
    Ok(restricted_page(ctx, session.as_ref()))
}

/// The "no access" page. The provider named in `?provider=` only picks the wording.
pub fn restricted_page(ctx: &Ctx, session: Option<&UserSession>) -> Response {
    let provider = session
        .and_then(|s| ProviderKind::parse(&s.row.provider))
        .or_else(|| ctx.query("provider").and_then(|p| ProviderKind::parse(&p)));
    restricted_response(
        ctx,
        provider,
        session.map(|s| s.row.username.as_str()),
        session.is_some(),
    )
}

/// The owner's "no access" words (branding), when set and readable.
fn restricted_text(ctx: &Ctx) -> Option<String> {
    let conn = ctx.app.db.conn().ok()?;
    crate::settings::branding(&conn).ok()?.restricted_text
}

/// The forward-auth 403 page: which app refused, who is signed in, the owner's "no
/// access" words, and a way to sign in as someone else.
pub fn app_forbidden(ctx: &Ctx, host: Option<&str>, reason: &str) -> Response {
    let session = current_session(ctx).ok().flatten();
    let text = restricted_text(ctx);
    page(
        ctx,
        views::portal::app_forbidden(&views::portal::AppForbidden {
            host,
            username: session.as_ref().map(|s| s.row.username.as_str()),
            reason,
            text,
        }),
    )
    .with_status_code(403)
}

pub fn restricted_response(
    ctx: &Ctx,
    provider: Option<ProviderKind>,
    username: Option<&str>,
    signed_in: bool,
) -> Response {
    let cfg = &ctx.app.config;
    let mailto = cfg.unauth_request_email.as_ref().map(|email| {
        let body = match (username, provider) {
            (Some(u), Some(p)) => format!("Please give my {} account \"{u}\" access.", p.label()),
            _ => "Please give my account access.".to_string(),
        };
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("subject", &cfg.unauth_request_subject)
            .append_pair("body", &body)
            .finish()
            // mailto wants %20, not '+', for spaces.
            .replace('+', "%20");
        format!("mailto:{email}?{query}")
    });
    let text = restricted_text(ctx);
    page(
        ctx,
        views::portal::restricted(&views::portal::Restricted {
            text,
            provider: provider.map(ProviderKind::label),
            username,
            mailto,
            signed_in,
        }),
    )
}

pub fn whoami_get(ctx: &Ctx) -> Result<Response> {
    let body = match current_session(ctx)? {
        None => json!({ "authenticated": false, "authorized": false }),
        Some(s) => json!({
            "authenticated": true,
            "authorized": s.authorized(),
            "username": s.row.username,
            "uuid": s.row.uuid,
            "email": s.row.email,
            "provider": s.row.provider,
            "groups": s.groups,
            "admin": s.admin,
            "amr": s.row.amr,
            "auth_time": s.row.auth_time,
            "expires": chrono::DateTime::from_timestamp(s.row.expires_at, 0).map(|t| t.to_rfc3339()),
        }),
    };
    Ok(Response::json(&body).with_no_cache())
}

pub fn me_get(ctx: &Ctx) -> Result<Response> {
    let s = current_session(ctx)?.ok_or(AppError::Unauthorized)?;
    Ok(Response::json(&json!({ "username": s.row.username, "uuid": s.row.uuid })).with_no_cache())
}

/// Deletes the server-side session (a copied cookie is dead too), then clears the cookie.
pub fn logout_post(ctx: &Ctx) -> Result<Response> {
    if let Some(s) = current_session(ctx)? {
        end_session(ctx, &s)?;
    }
    let clear = cookies::Cookie::Session.clear(&ctx.app.config);
    let response = if ctx.wants_json() {
        Response::json(&json!({ "ok": true }))
    } else {
        Response::redirect_303("/")
    };
    Ok(response
        .with_additional_header("Set-Cookie", clear)
        .with_no_cache())
}

/// Deletes a session and revokes the tokens applications got through it.
pub fn end_session(ctx: &Ctx, s: &UserSession) -> Result<()> {
    let now = ctx.now();
    ctx.app.db.with_tx(|tx| {
        sessions::delete(tx, &s.digest)?;
        let revoked = crate::db::oauth::revoke_signed_out_tokens(tx, &s.row.sid, now)?;
        crate::web::events::record(
            ctx,
            tx,
            EventType::Logout,
            Some(s.row.user_id),
            true,
            json!({ "sid": s.row.sid, "tokens_revoked": revoked }),
        )
    })
}

/// POST /consents/revoke with `client_id`: withdraws what the user allowed an application.
pub fn consent_revoke_post(ctx: &Ctx) -> Result<Response> {
    let s = crate::web::guards::require_user(ctx)?;
    let form = ctx.form()?;
    let client_id = form
        .get("client_id")
        .ok_or_else(|| AppError::bad_request("client_id is required"))?;
    let now = ctx.now();
    ctx.app.db.with_tx(|tx| {
        let client = crate::db::oauth::client(tx, client_id)?.ok_or(AppError::NotFound)?;
        crate::db::oauth::delete_consent(tx, s.row.user_id, client.id)?;
        let revoked =
            crate::db::oauth::revoke_user_client_tokens(tx, s.row.user_id, client.id, now)?;
        crate::web::events::record(
            ctx,
            tx,
            EventType::ConsentRevoked,
            Some(s.row.user_id),
            true,
            json!({ "client_id": client_id, "tokens_revoked": revoked }),
        )
    })?;
    Ok(Response::redirect_303("/home"))
}

/// POST /trusted-ips/forget with `ip`: native apps may no longer pass as this user from
/// that address (rules with trusted_ip_hours).
pub fn trusted_ip_forget_post(ctx: &Ctx) -> Result<Response> {
    let s = crate::web::guards::require_user(ctx)?;
    let form = ctx.form()?;
    let ip = form
        .get("ip")
        .ok_or_else(|| AppError::bad_request("ip is required"))?;
    crate::db::signin_ips::forget_signin_ip(&*ctx.app.db.conn()?, s.row.user_id, ip)?;
    Ok(Response::redirect_303("/home"))
}
