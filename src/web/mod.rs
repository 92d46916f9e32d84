//! The HTTP front: request ids, logging, security headers, dispatch by area, and the
//! one place errors are rendered.

mod access_pages;
mod access_tester;
pub(crate) mod admin;
mod admin_mfa;
pub(crate) mod admin_pages;
mod admin_users;
mod app_passwords;
pub mod assets;
mod backups;
mod branding;
pub mod cookies;
mod device;
pub mod events;
mod forward_auth;
pub mod guards;
mod health;
mod ldap_services;
mod link;
mod login;
mod media_servers;
mod mfa;
mod my_sessions;
mod oidc;
pub mod portal;
pub mod redirect;
pub mod request;
mod revalidation;
pub mod routes;
pub mod server;
pub mod setup;
pub mod signin;
pub mod webhooks;

use std::time::Instant;

use rouille::{Request, Response};

use crate::app::App;
use crate::error::{AppError, Result};
use crate::views;
use request::Ctx;

pub fn handle(app: &App, req: &Request) -> Response {
    let started = Instant::now();
    let request_id = app.next_request_id();
    let ctx = Ctx::new(app, req, request_id);
    // Decoded once: rouille builds a new String on every url() call.
    let path = req.url();
    let segs = routes::segments(&path);
    let (route, answer) = dispatch(&ctx, &segs);
    let response = match answer {
        Ok(r) => r,
        Err(e) => render_error(&ctx, &e),
    };
    let response = with_security_headers(app, response);
    app.metrics.request(
        routes::metric_label(route),
        response.status_code,
        started.elapsed(),
    );
    if route.is_some_and(|r| r.path == "/auth/verify") {
        app.metrics.forward_auth(response.status_code);
    }
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

/// Asked by the server before it reads the body of an upload (Body::Upload) or gives
/// it one of the few large-body slots: only a same-origin request from a live console
/// session may make the server take in up to 64 MiB, so anonymous clients cannot hold
/// the slots. `req` has the head and no body; the route checks its own permission after.
pub fn upload_check(app: &App, req: &Request) -> std::result::Result<(), Response> {
    let request_id = app.next_request_id();
    let ctx = Ctx::new(app, req, request_id);
    ctx.require_same_origin()
        .and_then(|()| guards::require_permission(&ctx, crate::roles::Permission::AdminAccess))
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

/// Finds the route, applies the checks every browser write gets (same origin, the
/// write rate limit), runs the route's guard and hands its proof to the handler. Also
/// says which route answered, for the metrics label.
fn dispatch<'a>(
    ctx: &Ctx,
    segs: &'a [&'a str],
) -> (Option<&'static routes::Route>, Result<Response>) {
    let found = routes::find(ctx.req.method(), segs);
    let route = match &found {
        routes::Found::Route(r, _)
        | routes::Found::OtherMethods(r)
        | routes::Found::Preflight(r) => Some(*r),
        routes::Found::NotFound => None,
    };
    (route, run(ctx, found))
}

fn run(ctx: &Ctx, found: routes::Found) -> Result<Response> {
    // Application endpoints are authenticated by client credentials or a bearer token
    // and have their own rate limit; the proxy asks /auth/verify with whatever method
    // the original request had, and changes nothing.
    let (app_endpoint, cross_site) = match &found {
        routes::Found::Route(r, _) | routes::Found::OtherMethods(r) => (r.app, r.cross_site),
        _ => (false, false),
    };
    if !matches!(ctx.req.method(), "GET" | "HEAD" | "OPTIONS") && !app_endpoint {
        if !cross_site {
            ctx.require_same_origin()?;
        }
        if let Err(retry_after_secs) = ctx
            .app
            .limits
            .writes
            .check_ip(ctx.ip, ctx.app.clock.now_ms())
        {
            return Err(AppError::RateLimited { retry_after_secs });
        }
    }
    let (route, params) = match found {
        routes::Found::Route(route, params) => (route, params),
        routes::Found::Preflight(_) => return Ok(oidc::preflight()),
        routes::Found::OtherMethods(_) => return Err(AppError::MethodNotAllowed),
        routes::Found::NotFound => return Err(AppError::NotFound),
    };
    match route.handler {
        routes::Handler::Open(h) => {
            check_body(ctx, route)?;
            h(ctx, &params)
        }
        routes::Handler::Api(permission, h) => {
            let proof = guards::require_permission(ctx, permission)?;
            check_body(ctx, route)?;
            h(ctx, proof, &params)
        }
        routes::Handler::Page(permission, h) => match admin_pages::enter(ctx, permission)? {
            Ok(console) => h(ctx, console, &params),
            Err(refused) => Ok(refused),
        },
    }
}

/// A JSON-only route refuses a body of another declared type (a form or text, what a
/// cross-site HTML form can send) before its handler reads it.
fn check_body(ctx: &Ctx, route: &routes::Route) -> Result<()> {
    if route.body != routes::Body::Json {
        return Ok(());
    }
    match ctx.req.header("Content-Type") {
        Some(_) if !ctx.is_json_body() => Err(AppError::bad_request(
            "this route takes a JSON body (Content-Type: application/json)",
        )),
        _ => Ok(()),
    }
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
        // Only a 404 asks who is visiting (one read): the other errors stay cheap under load.
        let signed_in = status == 404 && matches!(guards::current_session(ctx), Ok(Some(_)));
        page(ctx, views::portal::error_page(status, &message, signed_in)).with_status_code(status)
    };
    if let Some(secs) = e.retry_after() {
        response = response.with_unique_header("Retry-After", secs.to_string());
    }
    if status == 405 {
        let path = ctx.req.url();
        let allow = routes::allow(&routes::segments(&path));
        response = response.with_unique_header("Allow", allow);
    }
    response.with_no_cache()
}

/// A portal page in the shared frame, with the owner's branding.
pub fn page(ctx: &Ctx, p: views::layout::Page) -> Response {
    html(views::layout::frame(p, &brand(ctx.app)))
}

/// A form page answering a refused attempt (a rate limit or a back-off): its status,
/// Retry-After, and the form as it was typed, so nothing but the secret is typed again.
pub fn refused_form(ctx: &Ctx, e: &AppError, p: views::layout::Page) -> Response {
    let response = page(ctx, p).with_status_code(e.status());
    match e.retry_after() {
        Some(secs) => response.with_unique_header("Retry-After", secs.to_string()),
        None => response,
    }
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
