//! The route table, declared once: each route's method, path pattern, guard, body kind,
//! answer style and metrics label, and its handler. Dispatch, 404 vs 405 and `Allow`,
//! the upload body limit, JSON error answers, CORS preflights, the application
//! endpoints and the metrics labels are all read from it.
//!
//! A new route is one line here. A handler that needs a console permission takes the
//! proof ([`Admin`] or [`Console`]) as an argument; only the guard the table names
//! makes one, so the route cannot forget its guard.

use std::sync::LazyLock;

use rouille::Response;

use super::admin_pages::Console;
use super::guards::Admin;
use super::request::Ctx;
use super::{
    access_pages, access_tester, admin, admin_mfa, admin_pages, admin_users, app_passwords, assets,
    backups, branding, device, events, forward_auth, health, ldap_services, link, login,
    media_servers, mfa, my_sessions, oidc, portal, revalidation, setup, webhooks,
};
use crate::error::{AppError, Result};
use crate::roles::Permission;
use Permission::*;

/// The HTTP method a route answers. HEAD is answered as GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    /// Every method: the forward-auth endpoint sees whatever the original request used.
    Any,
}

impl Method {
    fn accepts(self, method: &str) -> bool {
        match self {
            Method::Get => method == "GET",
            Method::Post => method == "POST",
            Method::Put => method == "PUT",
            Method::Delete => method == "DELETE",
            Method::Any => true,
        }
    }

    /// The name a client sends ("ANY" for [`Method::Any`]).
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Any => "ANY",
        }
    }
}

/// What a route's request body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Up to the ordinary 64 KiB (server::BODY_LIMIT), any type the handler reads.
    Small,
    /// Up to the ordinary limit, and only JSON: a form or text body (what a cross-site
    /// HTML form can send) is refused before the handler runs.
    Json,
    /// A file upload: the server reads up to 64 MiB (server::Limits::uploads), after
    /// upload_check saw a same-origin console session.
    Upload,
}

/// Path segments a pattern captured: `{name}` segments in order, and the rest a
/// trailing `{*}` matched.
pub struct Params<'a> {
    vars: [&'a str; 3],
    rest: &'a [&'a str],
}

impl<'a> Params<'a> {
    /// The `i`th `{name}` segment ("" if the pattern has fewer).
    pub fn at(&self, i: usize) -> &'a str {
        self.vars.get(i).copied().unwrap_or("")
    }

    /// The segments a trailing `{*}` matched (none, one or more).
    pub fn rest(&self) -> &'a [&'a str] {
        self.rest
    }
}

pub type OpenFn = fn(&Ctx, &Params) -> Result<Response>;
pub type ApiFn = fn(&Ctx, Admin, &Params) -> Result<Response>;
pub type PageFn = fn(&Ctx, Console, &Params) -> Result<Response>;

/// A handler with the guard it needs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// No console permission: the handler decides who may use it (a session, a client's
    /// credentials, a bearer token, nobody at all).
    Open(OpenFn),
    /// A console JSON route: the session must hold the permission (guards::require_permission).
    Api(Permission, ApiFn),
    /// A console page: the same check, answered with a sign-in redirect or a 403 page
    /// (admin_pages::enter).
    Page(Permission, PageFn),
}

pub struct Route {
    pub method: Method,
    /// `/a/{name}/b`: literal segments, `{name}` matches any one segment, a trailing
    /// `{*}` any rest (also none).
    pub path: &'static str,
    pub handler: Handler,
    pub body: Body,
    /// Errors are answered as JSON `{error}` (else as an HTML page unless the client
    /// asks for JSON).
    pub json: bool,
    /// Called by applications, not browsers: authenticated by client credentials or a
    /// bearer token, rate limited on its own, so no same-origin check and no write
    /// limit. (The proxy asks /auth/verify with the original request's method.)
    pub app: bool,
    /// Browsers on other origins may call it: OPTIONS answers the CORS preflight.
    pub cors: bool,
    /// A browser POST from another site is part of the protocol (an application's form
    /// posting to the authorization or logout endpoint): no same-origin check. The
    /// handler must treat the POST like the GET it stands for.
    pub cross_site: bool,
    /// The `route` label in /metrics (bounded whatever paths clients send).
    pub label: &'static str,
}

/// The metrics label of unknown paths and of routes without one of their own.
pub const OTHER: &str = "other";

impl Route {
    const fn new(method: Method, path: &'static str, handler: Handler) -> Route {
        Route {
            method,
            path,
            handler,
            body: Body::Small,
            json: false,
            app: false,
            cors: false,
            cross_site: false,
            label: OTHER,
        }
    }

    /// The permission the route's guard checks, if any.
    pub fn permission(&self) -> Option<Permission> {
        match self.handler {
            Handler::Open(_) => None,
            Handler::Api(p, _) | Handler::Page(p, _) => Some(p),
        }
    }

    /// Whether the route is a console page (guard failures answer with pages).
    pub fn is_page(&self) -> bool {
        matches!(self.handler, Handler::Page(..))
    }

    const fn label(mut self, label: &'static str) -> Route {
        self.label = label;
        self
    }

    const fn json(mut self) -> Route {
        self.json = true;
        self
    }

    const fn json_body(mut self) -> Route {
        self.body = Body::Json;
        self
    }

    const fn upload(mut self) -> Route {
        self.body = Body::Upload;
        self
    }

    const fn app(mut self) -> Route {
        self.app = true;
        self
    }

    const fn cross_site(mut self) -> Route {
        self.cross_site = true;
        self
    }

    const fn cors(mut self) -> Route {
        self.cors = true;
        self
    }
}

const fn get(path: &'static str, h: OpenFn) -> Route {
    Route::new(Method::Get, path, Handler::Open(h))
}

const fn post(path: &'static str, h: OpenFn) -> Route {
    Route::new(Method::Post, path, Handler::Open(h))
}

/// A console JSON route under /api/admin.
const fn api(method: Method, path: &'static str, p: Permission, h: ApiFn) -> Route {
    Route::new(method, path, Handler::Api(p, h))
        .json()
        .label("/api/admin/*")
}

/// A console page under /admin.
const fn page(path: &'static str, p: Permission, h: PageFn) -> Route {
    Route::new(Method::Get, path, Handler::Page(p, h)).label("/admin*")
}

use Method::{Delete, Get, Post, Put};

/// Every route. The first whose method and pattern match answers, so a literal comes
/// before a `{name}` that would also match it. /auth/verify, the hot path (every
/// asset of every protected app), comes first.
#[rustfmt::skip] // one route a line: the table reads as a table
pub static ROUTES: &[Route] = &[
    Route::new(Method::Any, "/auth/verify", Handler::Open(|c, _| forward_auth::verify(c))).app().label("/auth/verify"),
    get("/", |c, _| if setup::needed(c.app)? { setup::welcome_get(c) } else { portal::index_get(c) }).label("/"),
    post("/setup/unlock", |c, _| setup::unlock_post(c)).label("/setup/*"),
    post("/setup/server", |c, _| setup::server_post(c)).label("/setup/*"),
    post("/setup/plex/start", |c, _| setup::plex_start_post(c)).label("/setup/*"),
    get("/setup/plex/return", |c, _| setup::plex_return_get(c)).label("/setup/*"),
    post("/setup/plex/choose", |c, _| setup::plex_choose_post(c)).label("/setup/*"),
    get("/home", |c, _| portal::home_get(c)).label("/home"),
    get("/restricted", |c, _| portal::restricted_get(c)).label("/restricted"),
    get("/whoami", |c, _| portal::whoami_get(c)).json().label("/whoami"),
    get("/me", |c, _| portal::me_get(c)).json().label("/me"),
    post("/logout", |c, _| portal::logout_post(c)).label("/logout"),
    post("/consents/revoke", |c, _| portal::consent_revoke_post(c)),
    post("/trusted-ips/forget", |c, _| portal::trusted_ip_forget_post(c)),
    get("/api/me/sessions", |c, _| my_sessions::list_get(c)).json().label("/api/me/*"),
    Route::new(Method::Delete, "/api/me/sessions/{id}", Handler::Open(|c, p| my_sessions::delete(c, p.at(0)))).json().label("/api/me/*"),
    post("/sessions/end", |c, _| my_sessions::end_post(c)).label("/home"),
    post("/link/jellyfin", |c, _| link::jellyfin_post(c)).label("/link/*"),
    get("/api/me/app-passwords", |c, _| app_passwords::list_get(c)).json().label("/api/me/*"),
    post("/api/me/app-passwords", |c, _| app_passwords::create_post(c)).json().json_body().label("/api/me/*"),
    Route::new(Method::Delete, "/api/me/app-passwords/{id}", Handler::Open(|c, p| app_passwords::delete(c, p.at(0)))).json().label("/api/me/*"),
    post("/app-passwords/new", |c, _| app_passwords::new_post(c)).label("/home"),
    post("/app-passwords/revoke", |c, _| app_passwords::revoke_post(c)).label("/home"),
    api(Get, "/api/admin/trusted-ips", UsersRead, |c, a, _| admin::trusted_ips_get(c, a)),
    api(Post, "/api/admin/trusted-ips/forget", UsersWrite, |c, a, _| admin::trusted_ip_forget_post(c, a)).json_body(),
    get("/static/{*}", |c, p| assets::serve(c, &p.rest().join("/"))).label("/static/*"),
    get("/branding/theme.css", |c, _| branding::theme_get(c)).label("/branding/*"),
    get("/branding/{kind}/{*}", |c, p| branding::image_get(c, slot(p)?)).label("/branding/*"),
    api(Get, "/api/admin/branding/images", ConfigRead, |c, a, _| branding::images_get(c, a)),
    api(Put, "/api/admin/branding/{kind}/{*}", ConfigWrite, |c, a, p| branding::image_put(c, a, slot(p)?)).upload(),
    api(Delete, "/api/admin/branding/{kind}/{*}", ConfigWrite, |c, a, p| branding::image_delete(c, a, slot(p)?)),
    post("/auth/start-web", |c, _| login::start_web_post(c)).json().json_body().label("/auth/start-web"),
    get("/auth/poll", |c, _| login::poll_get(c)).json().label("/auth/poll"),
    get("/auth/forward", |c, _| login::forward_get(c)).label("/auth/forward"),
    post("/auth/forward", |c, _| login::forward_post(c)).label("/auth/forward"),
    get("/mfa/challenge", |c, _| mfa::challenge_get(c)).label("/mfa/*"),
    post("/mfa/challenge/verify", |c, _| mfa::challenge_verify_post(c)).label("/mfa/*"),
    get("/mfa/enroll", |c, _| mfa::enroll_get(c)).label("/mfa/*"),
    get("/mfa/enroll/status", |c, _| mfa::enroll_status_get(c)).json().label("/mfa/*"),
    post("/mfa/enroll/start", |c, _| mfa::enroll_start_post(c)).json().label("/mfa/*"),
    post("/mfa/enroll/verify", |c, _| mfa::enroll_verify_post(c)).json().label("/mfa/*"),
    post("/mfa/recovery-codes", |c, _| mfa::recovery_codes_post(c)).json().label("/mfa/*"),
    post("/mfa/disable", |c, _| mfa::disable_post(c)).json().label("/mfa/*"),
    api(Post, "/api/admin/users/{uuid}/mfa/reset", UsersWrite, |c, a, p| admin_mfa::reset_post(c, a, p.at(0))),
    // --- console pages (web/admin_pages.rs) ---
    page("/admin", AdminAccess, |c, v, _| admin_pages::overview_get(c, v)),
    page("/admin/users", UsersRead, |c, v, _| admin_pages::users_get(c, v)),
    page("/admin/sessions", UsersRead, |c, v, _| admin_pages::sessions_get(c, v)),
    page("/admin/users/{uuid}", UsersRead, |c, v, p| admin_pages::user_get(c, v, p.at(0))),
    page("/admin/settings", ConfigRead, |c, v, _| admin_pages::settings_get(c, v)),
    page("/admin/settings/{section}", ConfigRead, |c, v, p| admin_pages::setting_get(c, v, p.at(0))),
    page("/admin/access", ConfigRead, |c, v, _| access_pages::access_get(c, v)),
    page("/admin/roles", ConfigRead, |c, v, _| access_pages::roles_get(c, v)),
    page("/admin/branding", ConfigRead, |c, v, _| admin_pages::branding_get(c, v)),
    page("/admin/clients", OauthRead, |c, v, _| admin_pages::clients_get(c, v)),
    page("/admin/clients/{id}", OauthRead, |c, v, p| admin_pages::client_get(c, v, p.at(0))),
    page("/admin/backups", BackupsRead, |c, v, _| admin_pages::backups_get(c, v)),
    page("/admin/events", EventsRead, |c, v, _| events::page_get(c, v)),
    page("/admin/webhooks", WebhooksRead, |c, v, _| webhooks::page_get(c, v)),
    page("/admin/media", ConfigRead, |c, v, _| media_servers::page_get(c, v)),
    page("/admin/media/plex", ConfigWrite, |c, v, _| media_servers::plex_return_get(c, v)),
    api(Post, "/api/admin/media/servers", ConfigWrite, |c, a, _| media_servers::server_post(c, a)).json_body(),
    api(Delete, "/api/admin/media/servers/{kind}", ConfigWrite, |c, a, p| media_servers::server_delete(c, a, p.at(0))),
    api(Post, "/api/admin/media/plex/start", ConfigWrite, |c, a, _| media_servers::plex_start_post(c, a)),
    api(Post, "/api/admin/media/plex", ConfigWrite, |c, a, _| media_servers::plex_choose_post(c, a)).json_body(),
    page("/admin/ldap", ConfigRead, |c, v, _| ldap_services::page_get(c, v)),
    // --- the console's JSON API ---
    api(Get, "/api/admin/events", EventsRead, |c, a, _| events::list_get(c, a)),
    api(Get, "/api/admin/revalidation", EventsRead, |c, a, _| revalidation::status_get(c, a)),
    api(Get, "/api/admin/webhooks", WebhooksRead, |c, a, _| webhooks::list_get(c, a)),
    api(Post, "/api/admin/webhooks", WebhooksWrite, |c, a, _| webhooks::create_post(c, a)).json_body(),
    api(Post, "/api/admin/webhooks/preview", WebhooksWrite, |c, a, _| webhooks::preview_post(c, a)).json_body(),
    api(Get, "/api/admin/webhooks/{id}", WebhooksRead, |c, a, p| webhooks::one_get(c, a, p.at(0))),
    api(Put, "/api/admin/webhooks/{id}", WebhooksWrite, |c, a, p| webhooks::update_put(c, a, p.at(0))).json_body(),
    api(Delete, "/api/admin/webhooks/{id}", WebhooksWrite, |c, a, p| webhooks::delete(c, a, p.at(0))),
    api(Post, "/api/admin/webhooks/{id}/test", WebhooksWrite, |c, a, p| webhooks::test_post(c, a, p.at(0))),
    api(Get, "/api/admin/webhooks/{id}/deliveries", WebhooksRead, |c, a, p| webhooks::deliveries_get(c, a, p.at(0))),
    api(Get, "/api/admin/users", UsersRead, |c, a, _| admin_users::list_get(c, a)),
    api(Get, "/api/admin/users/{uuid}", UsersRead, |c, a, p| admin_users::detail_get(c, a, p.at(0))),
    api(Put, "/api/admin/users/{uuid}/groups", UsersWrite, |c, a, p| admin_users::groups_put(c, a, p.at(0))).json_body(),
    api(Post, "/api/admin/users/{uuid}/disable", UsersWrite, |c, a, p| admin_users::disable_post(c, a, p.at(0), true)),
    api(Post, "/api/admin/users/{uuid}/enable", UsersWrite, |c, a, p| admin_users::disable_post(c, a, p.at(0), false)),
    api(Post, "/api/admin/users/{uuid}/sessions/revoke", UsersWrite, |c, a, p| admin_users::sessions_revoke_post(c, a, p.at(0))),
    api(Delete, "/api/admin/users/{uuid}/grants/{client}", UsersWrite, |c, a, p| admin_users::grant_delete(c, a, p.at(0), p.at(1))),
    api(Delete, "/api/admin/sessions/{sid}", UsersWrite, |c, a, p| admin_users::session_delete(c, a, p.at(0))),
    api(Get, "/api/admin/backups", BackupsRead, |c, a, _| backups::list_get(c, a)),
    api(Post, "/api/admin/backups", BackupsWrite, |c, a, _| backups::create_post(c, a)),
    api(Put, "/api/admin/backups/upload", BackupsWrite, |c, a, _| backups::upload_put(c, a)).upload(),
    // A whole copy of the data leaves the box: the write permission, not a viewer's read.
    api(Get, "/api/admin/backups/{name}", BackupsWrite, |c, a, p| backups::download_get(c, a, p.at(0))),
    api(Delete, "/api/admin/backups/{name}", BackupsWrite, |c, a, p| backups::delete(c, a, p.at(0))),
    api(Post, "/api/admin/backups/{name}/restore", BackupsWrite, |c, a, p| backups::restore_post(c, a, p.at(0))).json_body(),
    api(Get, "/api/admin/config", ConfigRead, |c, a, _| admin::config_get(c, a)),
    // A dry run of /auth/verify: changes nothing, so reading the rules is enough.
    api(Post, "/api/admin/access/test", ConfigRead, |c, a, _| access_tester::test_post(c, a)).json_body(),
    api(Get, "/api/admin/config/{section}", ConfigRead, |c, a, p| admin::config_section_get(c, a, p.at(0))),
    api(Put, "/api/admin/config/{section}", ConfigWrite, |c, a, p| admin::config_section_put(c, a, p.at(0))).json_body(),
    api(Get, "/api/admin/config/{section}/history", ConfigRead, |c, a, p| admin::config_history_get(c, a, p.at(0))),
    api(Post, "/api/admin/config/{section}/revert", ConfigWrite, |c, a, p| admin::config_revert_post(c, a, p.at(0))).json_body(),
    api(Get, "/api/admin/ldap/services", ConfigRead, |c, a, _| ldap_services::list_get(c, a)),
    api(Post, "/api/admin/ldap/services", ConfigWrite, |c, a, _| ldap_services::create_post(c, a)).json_body(),
    api(Delete, "/api/admin/ldap/services/{name}", ConfigWrite, |c, a, p| ldap_services::delete(c, a, p.at(0))),
    api(Get, "/api/admin/oauth/clients", OauthRead, |c, a, _| admin::clients_get(c, a)),
    api(Post, "/api/admin/oauth/clients", OauthWrite, |c, a, _| admin::clients_post(c, a)).json_body(),
    api(Put, "/api/admin/oauth/clients/{id}", OauthWrite, |c, a, p| admin::client_put(c, a, p.at(0))).json_body(),
    api(Delete, "/api/admin/oauth/clients/{id}", OauthWrite, |c, a, p| admin::client_delete(c, a, p.at(0))),
    api(Post, "/api/admin/oauth/clients/{id}/rotate-secret", OauthWrite, |c, a, p| admin::client_rotate_post(c, a, p.at(0))),
    // --- OIDC provider (web/oidc.rs) ---
    get("/.well-known/openid-configuration", |c, _| oidc::discovery_get(c)).cors().label("/.well-known/openid-configuration"),
    // RFC 8414: the same metadata, for OAuth 2.0 clients that look here.
    get("/.well-known/oauth-authorization-server", |c, _| oidc::discovery_get(c)).cors().label("/.well-known/oauth-authorization-server"),
    get("/oidc/jwks.json", |c, _| oidc::jwks_get(c)).cors().label("/oidc/jwks.json"),
    get("/oidc/authorize", |c, _| oidc::authorize_get(c)).label("/oidc/authorize*"),
    post("/oidc/authorize", |c, _| oidc::authorize_post(c)).cross_site().label("/oidc/authorize*"),
    post("/oidc/authorize/decision", |c, _| oidc::decision_post(c)).label("/oidc/authorize*"),
    post("/oidc/authorize/switch", |c, _| oidc::switch_post(c)).label("/oidc/authorize*"),
    post("/oidc/token", |c, _| Ok(oidc::token_post(c))).app().cors().label("/oidc/token"),
    post("/oidc/device_authorization", |c, _| Ok(oidc::device_authorization_post(c))).app().cors().label("/oidc/*"),
    get("/oidc/userinfo", |c, _| Ok(oidc::userinfo(c))).app().cors().label("/oidc/userinfo"),
    post("/oidc/userinfo", |c, _| Ok(oidc::userinfo(c))).app().cors().label("/oidc/userinfo"),
    post("/oidc/revoke", |c, _| Ok(oidc::revoke_post(c))).app().cors().label("/oidc/*"),
    post("/oidc/introspect", |c, _| Ok(oidc::introspect_post(c))).app().cors().label("/oidc/*"),
    get("/oidc/picture/{key}", |c, p| oidc::picture_get(c, p.at(0))).cors().label("/oidc/picture"),
    get("/oidc/logout", |c, _| oidc::logout(c)).label("/oidc/*"),
    post("/oidc/logout", |c, _| oidc::logout(c)).cross_site().label("/oidc/*"),
    // --- devices signing in with a code (RFC 8628; web/device.rs) ---
    get("/device", |c, _| device::page_get(c)).label("/device*"),
    post("/device", |c, _| device::decision_post(c)).label("/device*"),
    get("/device/qr", |c, _| device::qr_get(c)).label("/device*"),
    // --- probes ---
    get("/healthz", |_, _| Ok(health::healthz_get())).label("/healthz"),
    get("/readyz", |c, _| health::readyz_get(c)).label("/readyz"),
    get("/startupz", |c, _| health::readyz_get(c)).label("/startupz"),
    get("/metrics", |c, _| health::metrics_get(c)).label("/metrics"),
];

/// The branding image a path names (`logo`, `background`, `icons/NAME`), else 404.
fn slot<'a>(p: &Params<'a>) -> Result<branding::Slot<'a>> {
    let name = match p.rest() {
        [] => None,
        [n] => Some(*n),
        _ => return Err(AppError::NotFound),
    };
    branding::Slot::parse(p.at(0), name).ok_or(AppError::NotFound)
}

/// The captures if `pattern` matches the path's segments (split on `/`, empty ones
/// dropped). No allocation: this runs for every request.
fn capture<'a>(pattern: &str, segs: &'a [&'a str]) -> Option<Params<'a>> {
    let mut params = Params {
        vars: [""; 3],
        rest: &[],
    };
    let mut n = 0;
    let mut i = 0;
    for part in pattern.split('/').filter(|s| !s.is_empty()) {
        if part == "{*}" {
            params.rest = segs.get(i..).unwrap_or(&[]);
            return Some(params);
        }
        let seg = segs.get(i)?;
        if part.starts_with('{') {
            if let Some(v) = params.vars.get_mut(n) {
                *v = seg;
            }
            n += 1;
        } else if part != *seg {
            return None;
        }
        i += 1;
    }
    (i == segs.len()).then_some(params)
}

/// What a request's method and path found in the table.
pub enum Found<'a> {
    /// The route to run, with its captures.
    Route(&'static Route, Params<'a>),
    /// The path is known but not for this method: the routes it has.
    OtherMethods(&'static Route),
    /// An OPTIONS preflight on a route browsers may call cross-origin.
    Preflight(&'static Route),
    NotFound,
}

/// The route for `method` (HEAD counts as GET) on a path split into `segs`.
pub fn find<'a>(method: &str, segs: &'a [&'a str]) -> Found<'a> {
    let method = if method == "HEAD" { "GET" } else { method };
    let mut known = None;
    for route in ROUTES {
        let Some(params) = capture(route.path, segs) else {
            continue;
        };
        if route.method.accepts(method) {
            return Found::Route(route, params);
        }
        if method == "OPTIONS" && route.cors {
            return Found::Preflight(route);
        }
        known = known.or(Some(route));
    }
    known.map_or(Found::NotFound, Found::OtherMethods)
}

/// The path's segments as dispatch and [`find`] see them.
pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The `Allow` header for a path: the methods its routes answer, in a fixed order.
pub fn allow(segs: &[&str]) -> String {
    let routes: Vec<&Route> = ROUTES
        .iter()
        .filter(|r| capture(r.path, segs).is_some())
        .collect();
    let has = |m: Method| {
        routes
            .iter()
            .any(|r| r.method == m || r.method == Method::Any)
    };
    let mut names = Vec::new();
    if has(Method::Get) {
        names.extend(["GET", "HEAD"]);
    }
    for m in [Method::Post, Method::Put, Method::Delete] {
        if has(m) {
            names.push(m.name());
        }
    }
    if routes.iter().any(|r| r.cors || r.method == Method::Any) {
        names.push("OPTIONS");
    }
    names.join(", ")
}

/// Whether errors on this path are answered as JSON: a route that says so, or
/// anything under /api/ (known or not).
pub fn json_answer(path: &str) -> bool {
    path.starts_with("/api/") || {
        let segs = segments(path);
        ROUTES
            .iter()
            .any(|r| r.json && capture(r.path, &segs).is_some())
    }
}

/// Path prefixes of the upload routes (their pattern up to the first `{`), for
/// server::Limits::uploads: the server reads up to 64 MiB for these only.
pub fn upload_prefixes() -> &'static [&'static str] {
    static PREFIXES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        ROUTES
            .iter()
            .filter(|r| r.body == Body::Upload)
            .map(|r| r.path.split('{').next().unwrap_or(r.path))
            .collect()
    });
    &PREFIXES
}

/// The metrics route labels, each once, in table order, then [`OTHER`].
pub fn metric_labels() -> &'static [&'static str] {
    static LABELS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        let mut labels: Vec<&'static str> = Vec::new();
        for r in ROUTES {
            if r.label != OTHER && !labels.contains(&r.label) {
                labels.push(r.label);
            }
        }
        labels.push(OTHER);
        labels
    });
    &LABELS
}

/// The index of a route's label in [`metric_labels`] (unknown paths: `None`, counted
/// under [`OTHER`]).
pub fn metric_label(route: Option<&Route>) -> usize {
    let labels = metric_labels();
    let label = route.map_or(OTHER, |r| r.label);
    labels
        .iter()
        .position(|l| *l == label)
        .unwrap_or(labels.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(method: &str, path: &str) -> Option<&'static str> {
        match find(method, &segments(path)) {
            Found::Route(r, _) => Some(r.path),
            _ => None,
        }
    }

    #[test]
    fn literals_win_over_captures_and_rest_matches_none_or_more() {
        assert_eq!(
            found("GET", "/branding/theme.css"),
            Some("/branding/theme.css")
        );
        assert_eq!(
            found("GET", "/branding/icons/x.png"),
            Some("/branding/{kind}/{*}")
        );
        assert_eq!(
            found("PUT", "/api/admin/backups/upload"),
            Some("/api/admin/backups/upload")
        );
        assert_eq!(found("GET", "/static"), Some("/static/{*}"));
        assert_eq!(found("HEAD", "/healthz"), Some("/healthz"));
        assert_eq!(found("PATCH", "/auth/verify"), Some("/auth/verify"));
        assert_eq!(found("GET", "/api/admin/backups/a/b"), None);
        assert!(matches!(
            find("GET", &segments("/api/admin/users/x/nope")),
            Found::NotFound
        ));
    }

    #[test]
    fn captures_come_in_order() {
        let segs = segments("/api/admin/users/u1/grants/c1");
        let Found::Route(_, p) = find("DELETE", &segs) else {
            panic!("no route")
        };
        assert_eq!((p.at(0), p.at(1), p.at(2)), ("u1", "c1", ""));
    }

    #[test]
    fn allow_lists_the_methods_of_the_path() {
        assert_eq!(allow(&segments("/healthz")), "GET, HEAD");
        assert_eq!(allow(&segments("/api/admin/config/x")), "GET, HEAD, PUT");
        assert_eq!(allow(&segments("/oidc/token")), "POST, OPTIONS");
        assert_eq!(
            allow(&segments("/oidc/userinfo")),
            "GET, HEAD, POST, OPTIONS"
        );
    }

    #[test]
    fn derived_lists() {
        assert_eq!(
            upload_prefixes(),
            ["/api/admin/branding/", "/api/admin/backups/upload"]
        );
        let labels = metric_labels();
        assert_eq!(labels[0], "/auth/verify");
        assert_eq!(labels.last(), Some(&OTHER));
        assert!(labels.len() <= crate::metrics::MAX_ROUTE_LABELS);
        assert_eq!(metric_label(None), labels.len() - 1);
        assert!(json_answer("/api/admin/nothing-here"));
        assert!(json_answer("/mfa/enroll/start"));
        assert!(!json_answer("/mfa/enroll"));
    }

    #[test]
    fn metric_labels_stay_bounded_and_coarse() {
        let label = |method: &str, path: &str| {
            let segs = segments(path);
            let route = match find(method, &segs) {
                Found::Route(r, _) | Found::OtherMethods(r) | Found::Preflight(r) => Some(r),
                Found::NotFound => None,
            };
            metric_labels()[metric_label(route)]
        };
        assert_eq!(label("GET", "/auth/verify"), "/auth/verify");
        assert_eq!(label("GET", "/"), "/");
        assert_eq!(label("GET", "/admin"), "/admin*");
        assert_eq!(label("GET", "/admin/users/x"), "/admin*");
        assert_eq!(label("GET", "/api/admin/users/x"), "/api/admin/*");
        assert_eq!(
            label("POST", "/api/admin/users/x/mfa/reset"),
            "/api/admin/*"
        );
        assert_eq!(label("GET", "/oidc/logout"), "/oidc/*");
        assert_eq!(
            label("POST", "/oidc/authorize/decision"),
            "/oidc/authorize*"
        );
        assert_eq!(label("GET", "/oidc/token"), "/oidc/token");
        assert_eq!(label("POST", "/consents/revoke"), OTHER);
        assert_eq!(label("GET", "/wp-login.php"), OTHER);
    }

    #[test]
    fn a_console_write_needs_a_write_permission() {
        // The access-rule tester posts a question and changes nothing (a dry run).
        const DRY_RUNS: &[&str] = &["/api/admin/access/test"];
        for r in ROUTES.iter().filter(|r| r.method != Method::Get) {
            if let Some(p) = r.permission().filter(|_| !DRY_RUNS.contains(&r.path)) {
                assert!(
                    p.name().ends_with(".write"),
                    "{} {}: {p}",
                    r.method.name(),
                    r.path
                );
            }
        }
    }

    #[test]
    fn every_api_route_is_guarded_and_every_guarded_route_is_under_admin() {
        for r in ROUTES {
            assert_eq!(
                r.path.starts_with("/api/admin/") || r.path.starts_with("/admin"),
                r.permission().is_some(),
                "{}",
                r.path
            );
        }
    }
}
