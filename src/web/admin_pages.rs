//! The console pages (`GET /admin*`): server-rendered views of the data the admin JSON
//! API serves. Reads happen here; every change is made by admin.js through
//! `/api/admin/*`, which checks the write permission again. Someone signed out is sent
//! to sign in and back; someone without the permission gets a friendly 403 page.

use rouille::Response;

use crate::db::{oauth, sessions, users};
use crate::error::{AppError, Result};
use crate::roles::{Permission, RolesSettings};
use crate::views::admin::{self as view, Area, Frame};
use crate::web::guards::{Admin, require_permission};
use crate::web::html;
use crate::web::request::Ctx;

/// Users shown per page of the list.
const PAGE_SIZE: i64 = 50;

/// A console visitor who holds the permission the page asked for: made only by
/// [`enter`], which the route table calls for every console page.
pub struct Console {
    pub(super) session: Admin,
    roles: RolesSettings,
    tz: chrono_tz::Tz,
    brand: crate::views::layout::Brand,
}

impl Console {
    pub(super) fn can(&self, permission: Permission) -> bool {
        self.roles.allows(&self.session.groups, permission)
    }

    pub(super) fn frame(&self, area: Area) -> Frame<'_> {
        Frame {
            username: &self.session.row.username,
            brand: &self.brand,
            tz: self.tz,
            area,
            users: self.can(Permission::UsersRead),
            settings: self.can(Permission::ConfigRead),
            clients: self.can(Permission::OauthRead),
            backups: self.can(Permission::BackupsRead),
            events: self.can(Permission::EventsRead),
            webhooks: self.can(Permission::WebhooksRead),
        }
    }
}

/// Console pages are never stored: they show who has access to what.
pub(crate) fn page(markup: maud::Markup) -> Response {
    html(markup).with_unique_header("Cache-Control", "no-store")
}

/// The visitor if they hold `permission` (and admin.access), else the response to send:
/// sign-in with a way back for the signed-out, a 403 page for the rest.
pub(crate) fn enter(
    ctx: &Ctx,
    permission: Permission,
) -> Result<std::result::Result<Console, Response>> {
    match require_permission(ctx, permission) {
        Ok(session) => {
            let roles = crate::settings::roles(&*ctx.app.db.conn()?)?;
            Ok(Ok(Console {
                session,
                roles,
                tz: ctx.app.config.timezone,
                brand: crate::web::brand(ctx.app),
            }))
        }
        Err(AppError::Unauthorized) => {
            let rd: String =
                url::form_urlencoded::byte_serialize(ctx.req.raw_url().as_bytes()).collect();
            Ok(Err(
                Response::redirect_303(format!("/?rd={rd}")).with_no_cache()
            ))
        }
        Err(e @ (AppError::Forbidden(_) | AppError::SecondFactorRequired)) => {
            let mfa_hint = matches!(e, AppError::SecondFactorRequired);
            Ok(Err(crate::web::page(
                ctx,
                view::forbidden(&e.public_message(), mfa_hint),
            )
            .with_status_code(403)))
        }
        Err(e) => Err(e),
    }
}

fn not_found(c: &Console, area: Area, what: &str, back: &str) -> Response {
    page(view::not_found(&c.frame(area), what, back)).with_status_code(404)
}

/// GET /admin: counts of what the visitor may read, and links.
pub fn overview_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let conn = ctx.app.db.conn()?;
    let (users, sessions) = if c.can(Permission::UsersRead) {
        let total = users::count(&conn)?;
        let live = crate::db::counts::live_sessions(&conn, ctx.now())?;
        (Some(total), Some(live))
    } else {
        (None, None)
    };
    let clients = if c.can(Permission::OauthRead) {
        Some(oauth::clients(&conn)?.len() as i64)
    } else {
        None
    };
    drop(conn);
    let sections = c
        .can(Permission::ConfigRead)
        .then_some(crate::settings::SECTIONS.len());
    let permissions: Vec<&str> = Permission::ALL
        .into_iter()
        .filter(|p| c.can(*p))
        .map(Permission::name)
        .collect();
    let revalidation = crate::revalidate::status(ctx.app)?;
    Ok(page(view::overview(
        &c.frame(Area::Overview),
        &view::Overview {
            users,
            sessions,
            clients,
            sections,
            permissions: &permissions,
            revalidation: if c.can(Permission::EventsRead) {
                Some(crate::views::admin::revalidation(
                    c.tz,
                    revalidation.as_ref(),
                ))
            } else {
                None
            },
            next_steps: if c.can(Permission::ConfigRead) {
                Some(next_steps(ctx, revalidation.as_ref())?)
            } else {
                None
            },
        },
    )))
}

/// The peer that sent this request with X-Forwarded-For without being a trusted proxy.
fn untrusted_proxy(ctx: &Ctx) -> Option<std::net::IpAddr> {
    let peer = crate::net::canonical(ctx.req.remote_addr().ip());
    let trusted = ctx
        .app
        .config
        .trusted_proxies
        .iter()
        .any(|c| c.contains(peer));
    (ctx.req.header("X-Forwarded-For").is_some() && !trusted).then_some(peer)
}

/// The overview's next-steps panel: this install's addresses and snippets, and what is off.
fn next_steps(ctx: &Ctx, revalidation: Option<&serde_json::Value>) -> Result<maud::Markup> {
    use crate::next_steps::{Facts, Install, Proxy, warnings};
    let cfg = &ctx.app.config;
    let conn = ctx.app.db.conn()?;
    let rule_hosts = crate::settings::access(&conn)?
        .rules
        .into_iter()
        .flat_map(|r| r.hosts)
        .collect();
    let backups = crate::settings::load::<crate::backup::schedule::BackupSettings>(&conn)?;
    drop(conn);
    let warnings = warnings(&Facts {
        base_url: &cfg.base_url,
        cookie_domain: cfg.cookie_domain.as_deref(),
        rule_hosts,
        revalidation_failing: revalidation.and_then(|s| s["failing"].as_bool()),
        backups_scheduled: backups.schedule != "off",
        metrics_token: cfg.metrics_token.is_some(),
        untrusted_proxy: untrusted_proxy(ctx),
    });
    let install = Install::of(cfg);
    let snippets: Vec<_> = Proxy::ALL
        .into_iter()
        .map(|p| (p.name(), p.label(), p.render(&install)))
        .collect();
    let issuer = cfg.issuer();
    Ok(view::next_steps(&view::NextSteps {
        signin_url: &cfg.url_for("/"),
        issuer: &issuer,
        discovery_url: &format!("{issuer}/.well-known/openid-configuration"),
        snippets: &snippets,
        warnings: &warnings,
    }))
}

/// GET /admin/users?q=&cursor=&at=
pub fn users_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let query = ctx.query("q").unwrap_or_default();
    let query: String = query.trim().chars().take(200).collect();
    // A bad cursor is not worth an error page: start at the top. `at` (how many came
    // before) only numbers the rows shown.
    let cursor = ctx.query("cursor").and_then(|c| users::Cursor::parse(&c));
    let at = match cursor {
        Some(_) => ctx
            .query("at")
            .and_then(|o| o.parse::<i64>().ok())
            .filter(|o| (0..=1_000_000_000).contains(o))
            .unwrap_or(0),
        None => 0,
    };
    let start = cursor.map_or(users::PageStart::First, users::PageStart::After);
    let list = users::list(&*ctx.app.db.conn()?, &query, PAGE_SIZE, start)?;
    Ok(page(view::users(
        &c.frame(Area::Users),
        &view::UserList {
            users: &list.users,
            total: list.total,
            query: &query,
            at,
            next: list.next.map(|n| n.to_string()),
        },
    )))
}

/// GET /admin/users/{uuid}: identities, groups, sessions, grants and account actions.
pub fn user_get(ctx: &Ctx, c: Console, uuid: &str) -> Result<Response> {
    let conn = ctx.app.db.conn()?;
    let Some(id) = users::id_by_uuid(&conn, uuid)? else {
        return Ok(not_found(&c, Area::Users, "such user", "/admin/users"));
    };
    let Some(summary) = users::summary(&conn, id)? else {
        return Ok(not_found(&c, Area::Users, "such user", "/admin/users"));
    };
    let sessions = sessions::of_user(&conn, id, ctx.now())?;
    let grants = oauth::consents_of(&conn, id)?;
    drop(conn);
    Ok(page(view::user(
        &c.frame(Area::Users),
        &view::UserPage {
            user: &summary,
            sessions: &sessions,
            grants: &grants,
            can_write: c.can(Permission::UsersWrite),
            is_self: id == c.session.row.user_id,
        },
    )))
}

/// The sessions page lists at most this many (newest first).
const SESSIONS_SHOWN: i64 = 500;

/// GET /admin/sessions: every live session, with revoke one / all of a person's.
pub fn sessions_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let list = sessions::live(&*ctx.app.db.conn()?, ctx.now(), SESSIONS_SHOWN)?;
    Ok(page(view::sessions(
        &c.frame(Area::Users),
        &view::SessionsPage {
            sessions: &list,
            limit: SESSIONS_SHOWN as usize,
            can_write: c.can(Permission::UsersWrite),
        },
    )))
}

/// GET /admin/settings: the sections and their versions.
pub fn settings_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let conn = ctx.app.db.conn()?;
    let mut rows = Vec::new();
    for name in crate::settings::SECTIONS {
        let saved = crate::db::settings::get(&conn, name)?;
        rows.push(view::SectionRow {
            name,
            version: saved.as_ref().map_or(0, |s| s.version),
            updated_at: saved.as_ref().map(|s| s.updated_at),
            updated_by: saved.and_then(|s| s.updated_by),
        });
    }
    drop(conn);
    Ok(page(view::settings(
        &c.frame(Area::Settings),
        &rows,
        c.can(Permission::ConfigWrite),
    )))
}

/// GET /admin/branding: the branding form and the uploaded images.
pub fn branding_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let conn = ctx.app.db.conn()?;
    let version = crate::db::settings::get(
        &conn,
        <crate::settings::Branding as crate::settings::Section>::NAME,
    )?
    .map_or(0, |s| s.version);
    let branding = crate::settings::branding(&conn)?;
    let files = crate::db::settings::branding_files(&conn)?;
    drop(conn);
    let has = |key: &str| files.iter().any(|f| f.name == key);
    let icons: Vec<String> = files
        .iter()
        .filter_map(|f| f.name.strip_prefix("icon:").map(str::to_string))
        .collect();
    Ok(page(view::branding(
        &c.frame(Area::Branding),
        &view::BrandingPage {
            version,
            branding: &branding,
            logo: has("logo"),
            background: has("background"),
            icons: &icons,
            can_write: c.can(Permission::ConfigWrite),
        },
    )))
}

/// GET /admin/settings/{section}: the section's form (when it has one), the JSON editor
/// and the history.
pub fn setting_get(ctx: &Ctx, c: Console, name: &str) -> Result<Response> {
    let Some(default) = crate::settings::default_of(name) else {
        return Ok(not_found(
            &c,
            Area::Settings,
            "such settings section",
            "/admin/settings",
        ));
    };
    let conn = ctx.app.db.conn()?;
    let saved = crate::db::settings::get(&conn, name)?;
    // Secrets in a section (the providers' API keys) are shown only as set / not set.
    let history = crate::settings::history_for_console(&conn, name)?;
    drop(conn);
    let (version, config, updated_at, updated_by) = match &saved {
        Some(s) => (
            s.version,
            &s.config,
            Some(s.updated_at),
            s.updated_by.as_deref(),
        ),
        None => (0, &default, None, None),
    };
    let pretty = serde_json::to_string_pretty(&crate::settings::present(name, config))
        .map_err(AppError::internal)?;
    let locked = crate::settings::locked(name, &ctx.app.config);
    let enabled = &ctx.app.providers().enabled;
    let warnings = crate::settings::warnings(name, config, enabled);
    // The mfa section is picked from the known groups; its JSON stays as the advanced view.
    let (known, enforced) =
        if name == <crate::settings::MfaSettings as crate::settings::Section>::NAME {
            let conn = ctx.app.db.conn()?;
            let known = crate::groups::known(&conn, enabled)?;
            (known, crate::settings::mfa(&conn)?.enforce_groups)
        } else {
            (Vec::new(), Vec::new())
        };
    let fields = crate::settings::form_fields(name);
    // From the value as the console may see it: the form's page carries the whole document.
    let filled = (!fields.is_empty())
        .then(|| crate::settings::filled(name, &crate::settings::present(name, config)));
    let form = filled
        .as_ref()
        .map(|config| view::SectionForm { fields, config });
    let mfa = (!known.is_empty()).then_some(view::MfaPick {
        groups: &known,
        enforced: &enforced,
        mfa_enabled: ctx.app.config.mfa_enable,
    });
    Ok(page(view::setting(
        &c.frame(Area::Settings),
        &view::SectionPage {
            name,
            version,
            config: &pretty,
            updated_at,
            updated_by,
            history: &history,
            locked: &locked,
            warnings: &warnings,
            mfa,
            form,
            can_write: c.can(Permission::ConfigWrite),
        },
    )))
}

/// GET /admin/clients: the list and the create form.
pub fn clients_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let list = oauth::clients(&*ctx.app.db.conn()?)?;
    Ok(page(view::clients(
        &c.frame(Area::Clients),
        &list,
        c.can(Permission::OauthWrite),
    )))
}

/// GET /admin/clients/{id}: edit, rotate the secret, delete.
pub fn client_get(ctx: &Ctx, c: Console, client_id: &str) -> Result<Response> {
    let Some(client) = oauth::client(&*ctx.app.db.conn()?, client_id)? else {
        return Ok(not_found(
            &c,
            Area::Clients,
            "such client",
            "/admin/clients",
        ));
    };
    let cfg = &ctx.app.config;
    let connect = view::Connect {
        endpoints: crate::oidc::discovery::endpoints(cfg),
        preset: client
            .preset
            .as_deref()
            .and_then(crate::oidc::presets::find)
            .map(|p| (p, p.setup(cfg, &client, None))),
    };
    Ok(page(view::client(
        &c.frame(Area::Clients),
        &client,
        c.can(Permission::OauthWrite),
        &connect,
    )))
}

/// GET /admin/backups: the files, the schedule and its state, restore and upload.
pub fn backups_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let (files, dir_error) = match crate::backup::list(ctx.app) {
        Ok(files) => (files, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let (settings, state) = crate::backup::schedule::current(ctx.app)?;
    let version = crate::db::settings::get(&*ctx.app.db.conn()?, crate::backup::schedule::SECTION)?
        .map_or(0, |s| s.version);
    Ok(page(crate::views::backups::page(
        &c.frame(Area::Backups),
        &crate::views::backups::BackupsPage {
            files: &files,
            dir_error: dir_error.as_deref(),
            settings: &settings,
            version,
            state: &state,
            can_write: c.can(Permission::BackupsWrite),
            can_configure: c.can(Permission::ConfigWrite),
        },
    )))
}
