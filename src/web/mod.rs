//! The HTTP front: request ids, logging, security headers, dispatch by area, and the
//! one place errors are rendered.

pub(crate) mod admin;
pub(crate) mod admin_pages;
mod admin_users;
pub mod assets;
mod backups;
mod branding;
pub mod cookies;
pub mod events;
mod forward_auth;
pub mod guards;
mod health;
mod login;
mod mfa;
mod oidc;
pub mod portal;
pub mod redirect;
pub mod request;
pub mod server;
pub mod setup;
pub mod signin;
pub mod webhooks;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rouille::{Request, Response};

use crate::app::App;
use crate::error::{AppError, Result};
use crate::views;
use request::Ctx;

/// Routes that take file uploads (images, backups): their bodies may be up to 64 MiB,
/// every other route's 64 KiB (see server::Limits::uploads and Ctx::upload).
pub const UPLOAD_ROUTES: &[&str] = &["/api/admin/branding/", "/api/admin/backups/upload"];

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

pub fn handle(app: &App, req: &Request) -> Response {
    let started = Instant::now();
    let request_id = format!("{:x}", REQUEST_SEQ.fetch_add(1, Ordering::Relaxed));
    let ctx = Ctx::new(app, req, request_id);
    // Decoded once: rouille builds a new String on every url() call.
    let path = req.url();
    let response = match dispatch(&ctx, &path) {
        Ok(r) => r,
        Err(e) => render_error(&ctx, &e),
    };
    let response = with_security_headers(app, response);
    app.metrics
        .request(&path, response.status_code, started.elapsed());
    let level = access_log_level(&path, response.status_code);
    if crate::log::enabled(level) {
        // Method, path, status, time and address only: query strings can carry codes and
        // tokens, and no header value is ever logged.
        crate::log::write(
            level,
            format_args!(
                "req={} {} {} {} {}ms ip={}",
                ctx.request_id,
                req.method(),
                crate::log::clean(&path),
                response.status_code,
                started.elapsed().as_millis(),
                ctx.ip
            ),
        );
    }
    response
}

/// Asked by the server before it reads the body of an upload (UPLOAD_ROUTES) or gives
/// it one of the few large-body slots: only a same-origin request from a live console
/// session may make the server take in up to 64 MiB, so anonymous clients cannot hold
/// the slots. `req` has the head and no body; the route checks its own permission after.
pub fn upload_check(app: &App, req: &Request) -> std::result::Result<(), Response> {
    let request_id = format!("{:x}", REQUEST_SEQ.fetch_add(1, Ordering::Relaxed));
    let ctx = Ctx::new(app, req, request_id);
    ctx.require_same_origin()
        .and_then(|()| guards::require_permission(&ctx, "admin.access"))
        .map(drop)
        .map_err(|e| with_security_headers(app, render_error(&ctx, &e)))
}

/// A reverse proxy asks /auth/verify for every asset of every protected app: its allowed
/// answers are routine (counted in /metrics) and logged at debug; everything else,
/// forward-auth denials included, at info.
fn access_log_level(path: &str, status: u16) -> crate::log::Level {
    if path == "/auth/verify" && (200..300).contains(&status) {
        crate::log::Level::Debug
    } else {
        crate::log::Level::Info
    }
}

fn dispatch(ctx: &Ctx, path: &str) -> Result<Response> {
    let method = match ctx.req.method() {
        "HEAD" => "GET",
        m => m,
    };
    // Token-style endpoints are called by applications, authenticated by client
    // credentials or a bearer token, and have their own rate limit; the proxy asks
    // /auth/verify with whatever method the original request had, and changes nothing.
    let app_endpoint = matches!(
        path,
        "/oidc/token" | "/oidc/revoke" | "/oidc/introspect" | "/oidc/userinfo" | "/auth/verify"
    );
    if !matches!(method, "GET" | "OPTIONS") && !app_endpoint {
        ctx.require_same_origin()?;
        if let Err(retry_after_secs) = ctx
            .app
            .limits
            .writes
            .check_ip(ctx.ip, ctx.app.clock.now_ms())
        {
            return Err(AppError::RateLimited { retry_after_secs });
        }
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segments.as_slice()) {
        ("GET", []) if setup::needed(ctx.app)? => setup::welcome_get(ctx),
        ("GET", []) => portal::index_get(ctx),
        ("POST", ["setup", "unlock"]) => setup::unlock_post(ctx),
        ("POST", ["setup", "server"]) => setup::server_post(ctx),
        ("POST", ["setup", "plex", "start"]) => setup::plex_start_post(ctx),
        ("GET", ["setup", "plex", "return"]) => setup::plex_return_get(ctx),
        ("POST", ["setup", "plex", "choose"]) => setup::plex_choose_post(ctx),
        ("GET", ["home"]) => portal::home_get(ctx),
        ("GET", ["restricted"]) => portal::restricted_get(ctx),
        ("GET", ["whoami"]) => portal::whoami_get(ctx),
        ("GET", ["me"]) => portal::me_get(ctx),
        ("POST", ["logout"]) => portal::logout_post(ctx),
        ("POST", ["consents", "revoke"]) => portal::consent_revoke_post(ctx),
        ("POST", ["trusted-ips", "forget"]) => portal::trusted_ip_forget_post(ctx),
        ("GET", ["api", "admin", "trusted-ips"]) => admin::trusted_ips_get(ctx),
        ("POST", ["api", "admin", "trusted-ips", "forget"]) => admin::trusted_ip_forget_post(ctx),
        ("GET", ["static", rest @ ..]) => assets::serve(ctx, &rest.join("/")),
        ("GET", ["branding", "theme.css"]) => branding::theme_get(ctx),
        ("GET", ["branding", kind, name @ ..]) => branding::image_get(ctx, slot(kind, name)?),
        ("GET", ["api", "admin", "branding", "images"]) => branding::images_get(ctx),
        ("PUT", ["api", "admin", "branding", kind, name @ ..]) => {
            branding::image_put(ctx, slot(kind, name)?)
        }
        ("DELETE", ["api", "admin", "branding", kind, name @ ..]) => {
            branding::image_delete(ctx, slot(kind, name)?)
        }
        ("POST", ["auth", "start-web"]) => login::start_web_post(ctx),
        ("GET", ["auth", "poll"]) => login::poll_get(ctx),
        (_, ["auth", "verify"]) => forward_auth::verify(ctx),
        ("GET", ["auth", "forward"]) => login::forward_get(ctx),
        ("POST", ["auth", "forward"]) => login::forward_post(ctx),
        ("GET", ["mfa", "challenge"]) => mfa::challenge_get(ctx),
        ("POST", ["mfa", "challenge", "verify"]) => mfa::challenge_verify_post(ctx),
        ("GET", ["mfa", "enroll"]) => mfa::enroll_get(ctx),
        ("GET", ["mfa", "enroll", "status"]) => mfa::enroll_status_get(ctx),
        ("POST", ["mfa", "enroll", "start"]) => mfa::enroll_start_post(ctx),
        ("POST", ["mfa", "enroll", "verify"]) => mfa::enroll_verify_post(ctx),
        ("POST", ["mfa", "recovery-codes"]) => mfa::recovery_codes_post(ctx),
        ("POST", ["mfa", "disable"]) => mfa::disable_post(ctx),
        ("POST", ["api", "admin", "users", uuid, "mfa", "reset"]) => {
            mfa::admin_reset_post(ctx, uuid)
        }
        // --- console pages (web/admin_pages.rs) ---
        ("GET", ["admin"]) => admin_pages::overview_get(ctx),
        ("GET", ["admin", "users"]) => admin_pages::users_get(ctx),
        ("GET", ["admin", "users", uuid]) => admin_pages::user_get(ctx, uuid),
        ("GET", ["admin", "settings"]) => admin_pages::settings_get(ctx),
        ("GET", ["admin", "settings", section]) => admin_pages::setting_get(ctx, section),
        ("GET", ["admin", "branding"]) => admin_pages::branding_get(ctx),
        ("GET", ["admin", "clients"]) => admin_pages::clients_get(ctx),
        ("GET", ["admin", "clients", id]) => admin_pages::client_get(ctx, id),
        ("GET", ["admin", "backups"]) => admin_pages::backups_get(ctx),
        ("GET", ["admin", "events"]) => events::page_get(ctx),
        ("GET", ["admin", "webhooks"]) => webhooks::page_get(ctx),
        // --- end of console pages ---
        ("GET", ["api", "admin", "events"]) => events::list_get(ctx),
        ("GET", ["api", "admin", "revalidation"]) => events::revalidation_get(ctx),
        ("GET", ["api", "admin", "webhooks"]) => webhooks::list_get(ctx),
        ("POST", ["api", "admin", "webhooks"]) => webhooks::create_post(ctx),
        ("GET", ["api", "admin", "webhooks", id]) => webhooks::one_get(ctx, id),
        ("PUT", ["api", "admin", "webhooks", id]) => webhooks::update_put(ctx, id),
        ("DELETE", ["api", "admin", "webhooks", id]) => webhooks::delete(ctx, id),
        ("POST", ["api", "admin", "webhooks", id, "test"]) => webhooks::test_post(ctx, id),
        ("GET", ["api", "admin", "webhooks", id, "deliveries"]) => {
            webhooks::deliveries_get(ctx, id)
        }
        ("GET", ["api", "admin", "users"]) => admin_users::list_get(ctx),
        ("GET", ["api", "admin", "users", uuid]) => admin_users::detail_get(ctx, uuid),
        ("PUT", ["api", "admin", "users", uuid, "groups"]) => admin_users::groups_put(ctx, uuid),
        ("POST", ["api", "admin", "users", uuid, "disable"]) => {
            admin_users::disable_post(ctx, uuid, true)
        }
        ("POST", ["api", "admin", "users", uuid, "enable"]) => {
            admin_users::disable_post(ctx, uuid, false)
        }
        ("POST", ["api", "admin", "users", uuid, "sessions", "revoke"]) => {
            admin_users::sessions_revoke_post(ctx, uuid)
        }
        ("DELETE", ["api", "admin", "users", uuid, "grants", client]) => {
            admin_users::grant_delete(ctx, uuid, client)
        }
        ("DELETE", ["api", "admin", "sessions", sid]) => admin_users::session_delete(ctx, sid),
        ("GET", ["api", "admin", "backups"]) => backups::list_get(ctx),
        ("POST", ["api", "admin", "backups"]) => backups::create_post(ctx),
        ("PUT", ["api", "admin", "backups", "upload"]) => backups::upload_put(ctx),
        ("GET", ["api", "admin", "backups", name]) => backups::download_get(ctx, name),
        ("DELETE", ["api", "admin", "backups", name]) => backups::delete(ctx, name),
        ("POST", ["api", "admin", "backups", name, "restore"]) => backups::restore_post(ctx, name),
        // A decoded "/" or ".." in a file name makes more segments: no such backup.
        (_, ["api", "admin", "backups", _, rest @ ..])
            if !rest.is_empty() && rest != ["restore"] =>
        {
            Err(AppError::NotFound)
        }
        ("GET", ["api", "admin", "config"]) => admin::config_get(ctx),
        ("GET", ["api", "admin", "config", section]) => admin::config_section_get(ctx, section),
        ("PUT", ["api", "admin", "config", section]) => admin::config_section_put(ctx, section),
        ("GET", ["api", "admin", "config", section, "history"]) => {
            admin::config_history_get(ctx, section)
        }
        ("POST", ["api", "admin", "config", section, "revert"]) => {
            admin::config_revert_post(ctx, section)
        }
        ("GET", ["api", "admin", "oauth", "clients"]) => admin::clients_get(ctx),
        ("POST", ["api", "admin", "oauth", "clients"]) => admin::clients_post(ctx),
        ("PUT", ["api", "admin", "oauth", "clients", id]) => admin::client_put(ctx, id),
        ("DELETE", ["api", "admin", "oauth", "clients", id]) => admin::client_delete(ctx, id),
        ("POST", ["api", "admin", "oauth", "clients", id, "rotate-secret"]) => {
            admin::client_rotate_post(ctx, id)
        }
        ("GET", [".well-known", "openid-configuration"]) => oidc::discovery_get(ctx),
        ("GET", ["oidc", "jwks.json"]) => oidc::jwks_get(ctx),
        ("GET", ["oidc", "authorize"]) => oidc::authorize_get(ctx),
        ("POST", ["oidc", "authorize", "decision"]) => oidc::decision_post(ctx),
        ("POST", ["oidc", "token"]) => Ok(oidc::token_post(ctx)),
        ("GET" | "POST", ["oidc", "userinfo"]) => Ok(oidc::userinfo(ctx)),
        ("POST", ["oidc", "revoke"]) => Ok(oidc::revoke_post(ctx)),
        ("POST", ["oidc", "introspect"]) => Ok(oidc::introspect_post(ctx)),
        ("GET" | "POST", ["oidc", "logout"]) => oidc::logout(ctx),
        (
            "OPTIONS",
            [".well-known", "openid-configuration"]
            | [
                "oidc",
                "jwks.json" | "token" | "userinfo" | "revoke" | "introspect",
            ],
        ) => Ok(oidc::preflight()),
        ("GET", ["healthz"]) => Ok(health::healthz_get()),
        ("GET", ["readyz"] | ["startupz"]) => health::readyz_get(ctx),
        ("GET", ["metrics"]) => health::metrics_get(ctx),
        (_, segs) if is_known(segs) => Err(AppError::MethodNotAllowed),
        _ => Err(AppError::NotFound),
    }
}

/// The branding image a path names (`logo`, `background`, `icons/NAME`), else 404.
fn slot<'a>(kind: &str, rest: &[&'a str]) -> Result<branding::Slot<'a>> {
    let name = match rest {
        [] => None,
        [n] => Some(*n),
        _ => return Err(AppError::NotFound),
    };
    branding::Slot::parse(kind, name).ok_or(AppError::NotFound)
}

fn is_known(segs: &[&str]) -> bool {
    matches!(
        segs,
        [] | ["home"
            | "restricted"
            | "whoami"
            | "me"
            | "logout"
            | "healthz"
            | "readyz"
            | "startupz"
            | "metrics"]
            | ["auth", "start-web" | "poll" | "forward"]
            | ["consents", "revoke"]
            | ["setup", "unlock" | "server"]
            | ["setup", "plex", "start" | "return" | "choose"]
            | ["admin"]
            | [
                "admin",
                "users" | "settings" | "clients" | "branding" | "backups"
            ]
            | ["admin", "events" | "webhooks"]
            | ["api", "admin", "events" | "webhooks" | "revalidation"]
            | ["api", "admin", "webhooks", _]
            | ["api", "admin", "webhooks", _, "test" | "deliveries"]
            | ["admin", "users" | "settings" | "clients", _]
            | ["trusted-ips", "forget"]
            | ["api", "admin", "trusted-ips", ..]
            | ["api", "admin", "oauth", "clients", ..]
            | ["api", "admin", "config", ..]
            | ["api", "admin", "backups", ..]
            | ["api", "admin", "users", ..]
            | ["api", "admin", "sessions", _]
            | ["mfa", "challenge" | "enroll" | "recovery-codes" | "disable"]
            | ["mfa", "challenge", "verify"]
            | ["mfa", "enroll", "status" | "start" | "verify"]
            | [".well-known", "openid-configuration"]
            | [
                "oidc",
                "jwks.json"
                    | "authorize"
                    | "token"
                    | "userinfo"
                    | "revoke"
                    | "introspect"
                    | "logout"
            ]
            | ["oidc", "authorize", "decision"]
            | ["static", ..]
            | ["branding", ..]
            | ["api", "admin", "branding", ..]
    )
}

/// HTML page or JSON `{error}`, with Retry-After on 429. Detail goes to the log only.
fn render_error(ctx: &Ctx, e: &AppError) -> Response {
    if let Some(detail) = e.log_detail() {
        crate::log_warn!(
            "req={} {} {}: {detail}",
            ctx.request_id,
            ctx.req.method(),
            crate::log::clean(&ctx.req.url())
        );
    }
    let status = e.status();
    let message = e.public_message();
    let mut response = if ctx.wants_json() {
        Response::json(&serde_json::json!({ "error": message })).with_status_code(status)
    } else {
        page(ctx, views::portal::error(status, &message)).with_status_code(status)
    };
    if let Some(secs) = e.retry_after() {
        response = response.with_unique_header("Retry-After", secs.to_string());
    }
    if status == 405 {
        response = response.with_unique_header("Allow", "GET, HEAD, POST, PUT, DELETE");
    }
    response.with_no_cache()
}

/// A portal page in the shared frame, with the owner's branding.
pub fn page(ctx: &Ctx, p: views::layout::Page) -> Response {
    html(views::layout::frame(p, &brand(ctx.app)))
}

/// The owner's branding for a page frame. A database error must not cost an error page
/// its frame, so it falls back to the defaults.
pub fn brand(app: &App) -> views::layout::Brand {
    let stamps = app.db.conn().and_then(|c| {
        let saved = crate::db::settings::get(
            &c,
            <crate::settings::Branding as crate::settings::Section>::NAME,
        )?;
        let version = saved.as_ref().map_or(0, |s| s.version);
        // Saved values were validated; an unreadable one (a downgrade) shows the default.
        let name = saved
            .and_then(|s| serde_json::from_value::<crate::settings::Branding>(s.config).ok())
            .and_then(|b| b.app_name);
        let files = crate::db::settings::branding_files(&c)?;
        // Time and size: a new upload changes the URL even within the same second.
        let at = |key: &str| {
            files
                .iter()
                .find(|f| f.name == key)
                .map_or(String::new(), |f| format!("{}-{}", f.updated_at, f.bytes))
        };
        Ok((name, version, at("logo"), at("background")))
    });
    let (name, version, logo_at, background_at) =
        stamps.unwrap_or((None, 0, String::new(), String::new()));
    views::layout::Brand {
        name: name.unwrap_or_else(|| crate::settings::DEFAULT_APP_NAME.to_string()),
        logo_url: format!("/branding/logo?v={logo_at}"),
        theme_url: format!("/branding/theme.css?v={version}.{background_at}"),
    }
}

pub fn html(markup: maud::Markup) -> Response {
    Response::html(markup.into_string()).with_no_cache()
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

fn with_security_headers(app: &App, r: Response) -> Response {
    let mut r = r
        .with_unique_header("X-Content-Type-Options", "nosniff")
        .with_unique_header("X-Frame-Options", "DENY")
        .with_unique_header("Referrer-Policy", "same-origin")
        .with_unique_header("Content-Security-Policy", CSP)
        .with_unique_header(
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        );
    if app.config.hsts() {
        r = r.with_unique_header(
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        );
    }
    r
}
