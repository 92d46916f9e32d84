//! The console's media-servers page (`/admin/media`): which servers sign people in, and
//! adding or editing them with the setup wizard's own checks (providers::connect):
//! Jellyfin and Emby by an address that answers as that kind, Plex by a PIN sign-in and
//! then one of the owner's own servers. Saves go through the "providers" section like
//! any console edit (version, history, audit event).

use rouille::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::crypto::tokens::{digest, new_id};
use crate::error::{AppError, Result};
use crate::provider_settings::ProvidersSettings;
use crate::providers::ProviderKind;
use crate::providers::connect;
use crate::providers::plex::PinStatus;
use crate::roles::Permission;
use crate::settings::Section;
use crate::views::admin::{self as view, Area};
use crate::web::admin::save_section;
use crate::web::admin_pages::{Console, page};
use crate::web::cookies;
use crate::web::guards::Admin;
use crate::web::request::Ctx;

const SECTION: &str = ProvidersSettings::NAME;
/// Where app.plex.tv sends the owner back to.
const PLEX_RETURN: &str = "/admin/media/plex";
const REASON: &str = "media servers page";

/// The providers section as the console sees it (secrets as set / not set), and its version.
fn stored(ctx: &Ctx) -> Result<(Value, i64)> {
    let saved = crate::db::settings::get(&*ctx.app.db.conn()?, SECTION)?;
    Ok(match saved {
        Some(s) => (crate::settings::present(SECTION, &s.config), s.version),
        None => (json!({}), 0),
    })
}

/// GET /admin/media
pub fn page_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let (doc, version) = stored(ctx)?;
    let in_use = crate::providers::check::in_use(ctx.app).map_err(AppError::internal)?;
    let servers = crate::providers::check::describe(&in_use);
    let locked = crate::provider_settings::locked(&ctx.app.config);
    Ok(page(view::media_servers(
        &c.frame(Area::MediaServers),
        &view::MediaServersPage {
            in_use: &servers,
            doc: &doc,
            version,
            locked: &locked,
            can_write: c.can(Permission::ConfigWrite),
        },
    )))
}

/// Refuses an edit the environment would override anyway, saying where to make it.
fn not_locked(ctx: &Ctx, kind: ProviderKind, fields: &[&str]) -> Result<()> {
    let locked = crate::provider_settings::locked(&ctx.app.config);
    for field in fields {
        let path = format!("{}.{field}", kind.as_str());
        if locked.contains(&path.as_str()) {
            return Err(AppError::bad_request(format!(
                "{} is set in the environment ({}), which wins over the console: change it there",
                path,
                crate::provider_settings::env_var(&path).unwrap_or("see authportal check")
            )));
        }
    }
    if locked.contains(&"media_servers") && !ctx.app.config.providers.contains(&kind) {
        return Err(AppError::bad_request(format!(
            "MEDIA_SERVER is set in the environment and does not name {}: add {} there to use it",
            kind.as_str(),
            kind.as_str()
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
struct ServerEdit {
    kind: String,
    url: String,
    #[serde(default)]
    api_key: Option<String>,
    version: i64,
}

/// POST /api/admin/media/servers {kind, url, api_key?, version}: Jellyfin or Emby, saved
/// once its address answers as that kind.
pub fn server_post(ctx: &Ctx, admin: Admin) -> Result<Response> {
    let body: ServerEdit = ctx.json(
        r#"{"kind":"jellyfin","url":"http://192.168.1.10:8096","api_key":null,"version":1}"#,
    )?;
    let kind = match ProviderKind::parse(&body.kind) {
        Some(k @ (ProviderKind::Jellyfin | ProviderKind::Emby)) => k,
        _ => return Err(AppError::bad_request("kind: choose jellyfin or emby")),
    };
    not_locked(ctx, kind, &["url", "api_key"])?;
    let url = body.url.trim();
    if let Err(problem) = connect::check_address(ctx.app, kind, url) {
        if let connect::AddressProblem::NoAnswer(detail) = &problem {
            crate::log_warn!(
                "req={} media servers: {} at {url}: {detail}",
                ctx.request_id,
                kind.label()
            );
        }
        return Ok(Response::json(&json!({ "error": problem.message(kind) }))
            .with_status_code(problem.status()));
    }
    let (doc, _) = stored(ctx)?;
    let edited = connect::with_media_server(&doc, kind, url, body.api_key.as_deref());
    save_section(ctx, &admin, SECTION, body.version, &edited, Some(REASON))
}

/// DELETE /api/admin/media/servers/{kind}?version=N: the server stops signing people
/// in, unless that would leave nobody (or this admin) a way in.
pub fn server_delete(ctx: &Ctx, admin: Admin, kind: &str) -> Result<Response> {
    let kind = ProviderKind::parse(kind).ok_or(AppError::NotFound)?;
    let version = ctx
        .query("version")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| AppError::bad_request("version: send the version the page showed"))?;
    if crate::provider_settings::locked(&ctx.app.config).contains(&"media_servers") {
        return Err(AppError::bad_request(
            "MEDIA_SERVER is set in the environment, which decides the servers in use: change it there",
        ));
    }
    let in_use = ctx.app.providers().enabled.clone();
    connect::may_stop(&in_use, kind, &admin.row.provider).map_err(AppError::BadRequest)?;
    let (doc, _) = stored(ctx)?;
    let edited = connect::without_server(&doc, kind);
    save_section(ctx, &admin, SECTION, version, &edited, Some(REASON))
}

/// POST /api/admin/media/plex/start -> {authUrl}: a Plex PIN bound to this browser; the
/// page goes to app.plex.tv, which comes back to /admin/media/plex.
pub fn plex_start_post(ctx: &Ctx, _: Admin) -> Result<Response> {
    not_locked(ctx, ProviderKind::Plex, &["machine_id", "owner_token"])?;
    let plex = connect::plex_without_server(ctx.app);
    let now = ctx.now();
    let pin = plex
        .create_pin(&ctx.app.http, now)
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let id = new_id();
    crate::signin::flow::store_plex_pin(
        ctx.app,
        ctx.ip,
        &digest(&id),
        pin.id,
        None,
        pin.expires_at,
    )?;
    let cookie = cookies::Cookie::Flow.issue(ctx, &id, (pin.expires_at - now).max(60));
    let auth_url = plex.auth_url(&pin.code, &ctx.app.config.url_for(PLEX_RETURN));
    Ok(Response::json(&json!({ "authUrl": auth_url }))
        .with_additional_header("Set-Cookie", cookie)
        .with_no_cache())
}

/// The Plex account this browser's approved PIN signed in.
struct PlexOwner {
    flow_digest: Vec<u8>,
    token: String,
    /// (machine id, name) of the servers it owns.
    servers: Vec<(String, String)>,
}

/// The Plex owner of this browser's sign-in; None when there is no approved PIN.
fn plex_owner(ctx: &Ctx) -> Result<Option<PlexOwner>> {
    let Some(flow_digest) = cookies::Cookie::Flow.read(ctx).map(|id| digest(&id)) else {
        return Ok(None);
    };
    let Some(flow) = crate::db::flows::get(&*ctx.app.db.conn()?, &flow_digest, ctx.now())? else {
        return Ok(None);
    };
    let plex = connect::plex_without_server(ctx.app);
    let token = match plex.check_pin(&ctx.app.http, flow.pin_id) {
        Ok(PinStatus::Claimed(t)) => t,
        Ok(_) | Err(crate::providers::ProviderError::Expired) => return Ok(None),
        Err(e) => return Err(AppError::Unavailable(e.to_string())),
    };
    let servers = plex
        .owned_servers(&ctx.app.http, &token)
        .map_err(|e| AppError::Upstream(e.to_string()))?;
    Ok(Some(PlexOwner {
        flow_digest,
        token,
        servers,
    }))
}

/// GET /admin/media/plex: back from app.plex.tv, the owner picks one of their servers.
pub fn plex_return_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let servers = plex_owner(ctx)?.map(|o| o.servers);
    let (_, version) = stored(ctx)?;
    Ok(page(view::plex_servers(
        &c.frame(Area::MediaServers),
        servers.as_deref(),
        version,
    )))
}

#[derive(Deserialize)]
struct PlexChoice {
    machine_id: String,
    version: i64,
}

/// POST /api/admin/media/plex {machine_id, version}: one of the signed-in owner's own
/// servers, saved with their token (sealed) to ask it with.
pub fn plex_choose_post(ctx: &Ctx, admin: Admin) -> Result<Response> {
    let body: PlexChoice = ctx.json(r#"{"machine_id":"...","version":1}"#)?;
    not_locked(ctx, ProviderKind::Plex, &["machine_id", "owner_token"])?;
    let Some(owner) = plex_owner(ctx)? else {
        return Err(AppError::bad_request(
            "the Plex sign-in expired or was not approved: sign in with Plex again",
        ));
    };
    let Some((id, name)) = owner.servers.iter().find(|(id, _)| *id == body.machine_id) else {
        return Err(AppError::bad_request(
            "choose one of the servers this Plex account owns",
        ));
    };
    let (doc, _) = stored(ctx)?;
    let edited = connect::with_plex_server(&doc, id, name, &owner.token);
    let saved = save_section(ctx, &admin, SECTION, body.version, &edited, Some(REASON))?;
    if saved.status_code == 200 {
        crate::db::flows::delete(&*ctx.app.db.conn()?, &owner.flow_digest)?;
    }
    Ok(saved)
}
