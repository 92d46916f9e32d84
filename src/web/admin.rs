//! The admin JSON API (`/api/admin/*`). Every route takes an admin session; writes are
//! same-origin checked and rate limited by the dispatcher like every other write.

use rouille::Response;
use serde_json::json;

use crate::db::oauth;
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::oidc::clients::{self, ClientSpec};
use crate::providers::Amr;
use crate::web::guards::{Admin, UserSession};
use crate::web::request::Ctx;

/// Records an admin's action in the audit log.
pub(crate) fn audit(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    admin: &UserSession,
    kind: EventType,
    detail: serde_json::Value,
) -> Result<()> {
    crate::web::events::record(ctx, tx, kind, Some(admin.row.user_id), true, detail)
}

pub fn clients_get(ctx: &Ctx, _: Admin) -> Result<Response> {
    let list = oauth::clients(&*ctx.app.db.conn()?)?;
    Ok(Response::json(
        &json!({ "clients": list.iter().map(clients::describe).collect::<Vec<_>>() }),
    )
    .with_no_cache())
}

fn spec(ctx: &Ctx) -> Result<ClientSpec> {
    ctx.json(
        r#"{"name":"Grafana","redirect_uris":["https://grafana.example.com/login/generic_oauth"]}"#,
    )
}

pub fn clients_post(ctx: &Ctx, admin: Admin) -> Result<Response> {
    let spec = spec(ctx)?;
    let (client, secret) = ctx.app.db.with_tx(|tx| {
        let (client, secret) = clients::create(tx, spec, ctx.now())?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminOauthClientCreate,
            json!({ "client_id": client.client_id }),
        )?;
        Ok((client, secret))
    })?;
    let mut body = clients::describe(&client);
    body["client_secret"] = json!(secret);
    body["setup"] = clients::setup(&ctx.app.config, &client, secret.as_deref());
    Ok(Response::json(&body).with_status_code(201).with_no_cache())
}

pub fn client_put(ctx: &Ctx, admin: Admin, client_id: &str) -> Result<Response> {
    let spec = spec(ctx)?;
    let client = ctx.app.db.with_tx(|tx| {
        let old = oauth::client(tx, client_id)?.ok_or(AppError::NotFound)?;
        let client = clients::updated(old, spec, ctx.now())?;
        oauth::save_client(tx, &client)?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminOauthClientUpdate,
            json!({ "client_id": client_id }),
        )?;
        oauth::client(tx, client_id)?.ok_or(AppError::NotFound)
    })?;
    Ok(Response::json(&clients::describe(&client)).with_no_cache())
}

pub fn client_delete(ctx: &Ctx, admin: Admin, client_id: &str) -> Result<Response> {
    ctx.app.db.with_tx(|tx| {
        if !oauth::delete_client(tx, client_id)? {
            return Err(AppError::NotFound);
        }
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminOauthClientDelete,
            json!({ "client_id": client_id }),
        )
    })?;
    Ok(Response::empty_204())
}

pub fn client_rotate_post(ctx: &Ctx, admin: Admin, client_id: &str) -> Result<Response> {
    let secret = ctx.app.db.with_tx(|tx| {
        let secret = clients::rotate_secret(tx, client_id, ctx.now())?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminOauthClientRotateSecret,
            json!({ "client_id": client_id }),
        )?;
        Ok(secret)
    })?;
    Ok(Response::json(&json!({ "client_id": client_id, "client_secret": secret })).with_no_cache())
}

/// One section as the API shows it (defaults when never saved).
fn section_json(ctx: &Ctx, conn: &rusqlite::Connection, name: &str) -> Result<serde_json::Value> {
    let default = crate::settings::default_of(name).ok_or(AppError::NotFound)?;
    let (version, stored, updated_at, updated_by) = match crate::db::settings::get(conn, name)? {
        Some(s) => (s.version, s.config, Some(s.updated_at), s.updated_by),
        None => (0, default, None, None),
    };
    let locked = crate::settings::locked(name, &ctx.app.config);
    Ok(json!({
        "section": name,
        "version": version,
        "config": crate::settings::present(name, &stored),
        "updated_at": updated_at,
        "updated_by": updated_by,
        "locked": locked,
    }))
}

pub fn config_get(ctx: &Ctx, _: Admin) -> Result<Response> {
    let conn = ctx.app.db.conn()?;
    let sections = crate::settings::SECTIONS
        .iter()
        .map(|name| section_json(ctx, &conn, name))
        .collect::<Result<Vec<_>>>()?;
    Ok(Response::json(&json!({ "sections": sections })).with_no_cache())
}

pub fn config_section_get(ctx: &Ctx, _: Admin, name: &str) -> Result<Response> {
    Ok(Response::json(&section_json(ctx, &*ctx.app.db.conn()?, name)?).with_no_cache())
}

/// The body of a PUT: what GET answers is accepted whole (the `GET | jq | PUT` script),
/// so its read-only fields are allowed and ignored, except `section`, which must agree.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionPut {
    version: i64,
    config: serde_json::Value,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    section: Option<String>,
    #[serde(default, rename = "updated_at")]
    _updated_at: serde::de::IgnoredAny,
    #[serde(default, rename = "updated_by")]
    _updated_by: serde::de::IgnoredAny,
    #[serde(default, rename = "locked")]
    _locked: serde::de::IgnoredAny,
}

/// Refuses a save that would take the console away from the admin making it.
fn keep_my_access(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    admin: &UserSession,
    name: &str,
    stored: &serde_json::Value,
) -> Result<()> {
    let me = crate::lockout::Me {
        groups: &admin.groups,
        second_factor: Amr::Otp.is_in(&admin.row.amr),
        mfa_enabled: ctx.app.config.mfa_enable,
    };
    crate::lockout::check_section(name, stored, &me).map_err(AppError::BadRequest)?;
    let in_force = crate::settings::roles(tx)?;
    crate::lockout::check_grants(name, stored, &in_force, &admin.groups)
        .map_err(AppError::BadRequest)
}

/// PUT /api/admin/config/{section} {version, config, reason?}: 409 when someone saved
/// since `version` was read; the old value stays in the history.
pub fn config_section_put(ctx: &Ctx, admin: Admin, name: &str) -> Result<Response> {
    if crate::settings::default_of(name).is_none() {
        return Err(AppError::NotFound);
    }
    let body: SectionPut = ctx.json(r#"{"version":1,"config":{...},"reason":"why"}"#)?;
    if let Some(section) = body.section.as_deref().filter(|s| *s != name) {
        return Err(AppError::bad_request(format!(
            "this document is section {section:?} but was sent to {name:?}; send it to /api/admin/config/{section}"
        )));
    }
    save_section(
        ctx,
        &admin,
        name,
        body.version,
        &body.config,
        body.reason.as_deref(),
    )
}

/// Saves a console edit of section `name` over `version` (409 when stale), by the
/// section's own rules, as the config API and the console's forms do.
pub(crate) fn save_section(
    ctx: &Ctx,
    admin: &Admin,
    name: &str,
    version: i64,
    config: &serde_json::Value,
    reason: Option<&str>,
) -> Result<Response> {
    let saved = ctx.app.db.with_tx(|tx| {
        let current = crate::db::settings::get(tx, name)?
            .map(|s| s.config)
            .unwrap_or(serde_json::Value::Null);
        let stored = crate::settings::prepare(name, config, &current, &ctx.app.sealer)
            .map_err(AppError::BadRequest)?;
        crate::settings::check_edit(name, &stored, &current, &ctx.app.providers().enabled)
            .map_err(AppError::BadRequest)?;
        keep_my_access(ctx, tx, admin, name, &stored)?;
        let change = crate::db::settings::Change {
            section: name,
            expected_version: version,
            config: &stored,
            by: Some(&admin.row.username),
            reason,
        };
        save_version(
            ctx,
            tx,
            admin,
            &change,
            EventType::AdminConfigUpdate,
            json!({ "reason": reason }),
        )
    })?;
    ctx.app.settings_changed();
    Ok(saved_or_conflict(saved))
}

/// GET /api/admin/trusted-ips: every recent sign-in address, for rules with trusted_ip_hours.
pub fn trusted_ips_get(ctx: &Ctx, _: Admin) -> Result<Response> {
    let conn = ctx.app.db.conn()?;
    let rows: Vec<serde_json::Value> = crate::db::signin_ips::all_signin_ips(&conn)?
        .into_iter()
        .map(
            |s| json!({ "uuid": s.uuid, "username": s.username, "ip": s.ip, "last_at": s.last_at }),
        )
        .collect();
    Ok(Response::json(&json!({ "trusted_ips": rows })).with_no_cache())
}

/// POST /api/admin/trusted-ips/forget {uuid, ip}
pub fn trusted_ip_forget_post(ctx: &Ctx, admin: Admin) -> Result<Response> {
    #[derive(serde::Deserialize)]
    struct Forget {
        uuid: String,
        ip: String,
    }
    let body: Forget = ctx.json(r#"{"uuid":"...","ip":"203.0.113.9"}"#)?;
    let removed = ctx.app.db.with_tx(|tx| {
        let user_id = crate::db::users::id_by_uuid(tx, &body.uuid)?.ok_or(AppError::NotFound)?;
        let removed = crate::db::signin_ips::forget_signin_ip(tx, user_id, &body.ip)?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminTrustedIpForget,
            json!({ "target": body.uuid, "ip": body.ip }),
        )?;
        Ok(removed)
    })?;
    Ok(Response::json(&json!({ "removed": removed })).with_no_cache())
}

/// GET /api/admin/config/{section}/history: every saved version, newest first.
pub fn config_history_get(ctx: &Ctx, _: Admin, name: &str) -> Result<Response> {
    if crate::settings::default_of(name).is_none() {
        return Err(AppError::NotFound);
    }
    let versions = crate::settings::history_for_console(&*ctx.app.db.conn()?, name)?;
    Ok(Response::json(&json!({ "section": name, "versions": versions })).with_no_cache())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Revert {
    /// The version the caller is looking at (optimistic concurrency, as for PUT).
    version: i64,
    /// The version whose value comes back.
    to: i64,
    #[serde(default)]
    reason: Option<String>,
}

/// POST /api/admin/config/{section}/revert {version, to}: saves an old value as a new
/// version (history only grows).
pub fn config_revert_post(ctx: &Ctx, admin: Admin, name: &str) -> Result<Response> {
    if crate::settings::default_of(name).is_none() {
        return Err(AppError::NotFound);
    }
    let body: Revert = ctx.json(r#"{"version":3,"to":1,"reason":"why"}"#)?;
    let saved = ctx.app.db.with_tx(|tx| {
        let old = crate::db::settings::history(tx, name)?
            .into_iter()
            .find(|v| v.version == body.to)
            .ok_or_else(|| {
                AppError::bad_request(format!("there is no version {} of {name}", body.to))
            })?;
        // A value from an older release may not fit the current rules any more.
        crate::settings::validate(name, &old.config).map_err(AppError::BadRequest)?;
        keep_my_access(ctx, tx, &admin, name, &old.config)?;
        let reason = body
            .reason
            .clone()
            .unwrap_or_else(|| format!("revert to version {}", body.to));
        let change = crate::db::settings::Change {
            section: name,
            expected_version: body.version,
            config: &old.config,
            by: Some(&admin.row.username),
            reason: Some(&reason),
        };
        save_version(
            ctx,
            tx,
            &admin,
            &change,
            EventType::AdminConfigRevert,
            json!({ "to": body.to }),
        )
    })?;
    ctx.app.settings_changed();
    Ok(saved_or_conflict(saved))
}

/// Saves a new version of a section and audits it; Err(current version) when someone
/// saved since the caller read it.
fn save_version(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    admin: &UserSession,
    change: &crate::db::settings::Change,
    kind: EventType,
    mut detail: serde_json::Value,
) -> Result<std::result::Result<serde_json::Value, i64>> {
    match crate::db::settings::put(tx, change, ctx.now())? {
        Ok(version) => {
            detail["section"] = json!(change.section);
            detail["version"] = json!(version);
            audit(ctx, tx, admin, kind, detail)?;
            Ok(Ok(section_json(ctx, tx, change.section)?))
        }
        Err(conflict) => Ok(Err(conflict.current)),
    }
}

/// The saved section, or 409 naming the version someone else saved meanwhile.
fn saved_or_conflict(saved: std::result::Result<serde_json::Value, i64>) -> Response {
    match saved {
        Ok(v) => Response::json(&v).with_no_cache(),
        Err(current) => Response::json(&json!({
            "error": "this section was changed meanwhile; reload it and apply your change again",
            "current_version": current,
        }))
        .with_status_code(409)
        .with_no_cache(),
    }
}
