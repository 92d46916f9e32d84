//! `/api/admin/users*` and `/api/admin/sessions*`: who uses the portal, their groups
//! (and so roles), sessions and application grants. Every change is an audit event.

use rouille::Response;
use serde_json::json;

use crate::db::{oauth, sessions, users};
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::web::admin::audit;
use crate::web::guards::Admin;
use crate::web::request::Ctx;

fn user_id(tx: &rusqlite::Connection, uuid: &str) -> Result<i64> {
    users::id_by_uuid(tx, uuid)?.ok_or(AppError::NotFound)
}

/// GET /api/admin/users?q=&limit=&cursor= (or the older &offset=)
pub fn list_get(ctx: &Ctx, _: Admin) -> Result<Response> {
    let q = ctx.query("q").unwrap_or_default();
    let number = |name: &str, default: i64, max: i64| -> Result<i64> {
        match ctx.query(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| {
                    AppError::bad_request(format!("{name} must be a number from 0 to {max}"))
                }),
        }
    };
    let limit = number("limit", 50, 500)?;
    let start = match (ctx.query("cursor"), ctx.query("offset")) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_request(
                "give cursor or offset, not both (cursor is the next value of the previous page)",
            ));
        }
        (Some(c), None) => {
            users::PageStart::After(users::Cursor::parse(c.trim()).ok_or_else(|| {
                AppError::bad_request("cursor: use the next value of the previous page")
            })?)
        }
        (None, Some(_)) => users::PageStart::Offset(number("offset", 0, i64::MAX)?),
        (None, None) => users::PageStart::First,
    };
    let page = users::list(&*ctx.app.db.conn()?, q.trim(), limit, start)?;
    Ok(Response::json(&json!({
        "users": page.users,
        "total": page.total,
        "next": page.next.map(|n| n.to_string()),
    }))
    .with_no_cache())
}

/// GET /api/admin/users/{uuid}: the user, their sessions and application grants.
pub fn detail_get(ctx: &Ctx, _: Admin, uuid: &str) -> Result<Response> {
    let conn = ctx.app.db.conn()?;
    let id = user_id(&conn, uuid)?;
    let summary = users::summary(&conn, id)?.ok_or(AppError::NotFound)?;
    let grants: Vec<_> = oauth::consents_of(&conn, id)?
        .into_iter()
        .map(
            |c| json!({ "client_id": c.client_id, "name": c.name, "scopes": c.scopes, "at": c.at }),
        )
        .collect();
    Ok(Response::json(&json!({
        "user": summary,
        "sessions": sessions::of_user(&conn, id, ctx.now())?,
        "grants": grants,
    }))
    .with_no_cache())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Groups {
    groups: Vec<String>,
}

/// PUT /api/admin/users/{uuid}/groups {groups}: the groups an admin assigns ("admins"
/// makes an admin; groups named in the roles settings carry console permissions).
pub fn groups_put(ctx: &Ctx, admin: Admin, uuid: &str) -> Result<Response> {
    let body: Groups = ctx.json(r#"{"groups":["admins","family"]}"#)?;
    let mut groups: Vec<String> = Vec::new();
    for g in body.groups.iter().map(|g| g.trim()) {
        let valid = !g.is_empty()
            && g.len() <= 64
            && g.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(AppError::bad_request(format!(
                "group {g:?}: use 1 to 64 letters, digits, - _ ."
            )));
        }
        if !groups.iter().any(|x| x == g) {
            groups.push(g.to_string());
        }
    }
    ctx.app.db.with_tx(|tx| {
        let id = user_id(tx, uuid)?;
        let before = users::groups(tx, id)?;
        let added: Vec<String> = groups
            .iter()
            .filter(|g| !before.contains(g))
            .cloned()
            .collect();
        let roles = crate::settings::roles(tx)?;
        crate::lockout::check_target(&roles, &before, &admin.groups)
            .and_then(|()| crate::lockout::check_assignment(&roles, &added, &admin.groups))
            .map_err(AppError::BadRequest)?;
        users::set_groups(tx, id, &groups, ctx.now())?;
        if users::count_admins(tx)? == 0 {
            return Err(AppError::bad_request(
                "this would leave no admin; make someone else an admin first",
            ));
        }
        if id == admin.row.user_id {
            let mine = users::groups(tx, id)?;
            crate::lockout::check_roles(&crate::settings::roles(tx)?, &mine)
                .map_err(AppError::BadRequest)?;
        }
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminUserGroups,
            json!({ "target": uuid, "groups": groups }),
        )
    })?;
    Ok(Response::json(&json!({ "groups": groups })).with_no_cache())
}

/// Refuses acting on a user who holds a console permission the acting admin lacks.
pub(crate) fn not_above(tx: &rusqlite::Connection, admin: &Admin, target: i64) -> Result<()> {
    let roles = crate::settings::roles(tx)?;
    crate::lockout::check_target(&roles, &users::groups(tx, target)?, &admin.groups)
        .map_err(AppError::BadRequest)
}

/// POST /api/admin/users/{uuid}/disable and /enable. Disabling ends the user's
/// sessions and revokes every token applications hold for them.
pub fn disable_post(ctx: &Ctx, admin: Admin, uuid: &str, disable: bool) -> Result<Response> {
    let now = ctx.now();
    ctx.app.db.with_tx(|tx| {
        let id = user_id(tx, uuid)?;
        if disable && id == admin.row.user_id {
            return Err(AppError::bad_request("you cannot disable yourself"));
        }
        if disable {
            not_above(tx, &admin, id)?;
        }
        users::set_disabled(tx, id, disable.then_some(now))?;
        if disable {
            sessions::delete_of_user(tx, id)?;
            oauth::revoke_user_tokens(tx, id, now)?;
            if users::count_admins(tx)? == 0 {
                return Err(AppError::bad_request(
                    "this would leave no admin; make someone else an admin first",
                ));
            }
        }
        let kind = if disable {
            EventType::AdminUserDisable
        } else {
            EventType::AdminUserEnable
        };
        audit(ctx, tx, &admin, kind, json!({ "target": uuid }))
    })?;
    if disable {
        if let Some(id) = users::id_by_uuid(&*ctx.app.db.conn()?, uuid)? {
            ctx.app.access_cache.forget_user(id);
        }
    }
    Ok(Response::json(&json!({ "disabled": disable })).with_no_cache())
}

/// DELETE /api/admin/sessions/{sid}: ends one session and the tokens issued through it.
pub fn session_delete(ctx: &Ctx, admin: Admin, sid: &str) -> Result<Response> {
    let now = ctx.now();
    ctx.app.db.with_tx(|tx| {
        let owner = sessions::delete_by_sid(tx, sid)?.ok_or(AppError::NotFound)?;
        oauth::revoke_session_tokens(tx, sid, now)?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminSessionRevoke,
            json!({ "sid": sid, "user_id": owner }),
        )
    })?;
    Ok(Response::empty_204())
}

/// POST /api/admin/users/{uuid}/sessions/revoke: ends all of a user's sessions and
/// the tokens issued through them.
pub fn sessions_revoke_post(ctx: &Ctx, admin: Admin, uuid: &str) -> Result<Response> {
    let now = ctx.now();
    let ended = ctx.app.db.with_tx(|tx| {
        let id = user_id(tx, uuid)?;
        let sids = sessions::delete_of_user(tx, id)?;
        for sid in &sids {
            oauth::revoke_session_tokens(tx, sid, now)?;
        }
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminSessionRevokeAll,
            json!({ "target": uuid, "sessions": sids.len() }),
        )?;
        Ok(sids.len())
    })?;
    Ok(Response::json(&json!({ "ended": ended })).with_no_cache())
}

/// DELETE /api/admin/users/{uuid}/grants/{client_id}: withdraws an application's consent
/// and revokes its tokens for this user.
pub fn grant_delete(ctx: &Ctx, admin: Admin, uuid: &str, client_id: &str) -> Result<Response> {
    let now = ctx.now();
    ctx.app.db.with_tx(|tx| {
        let id = user_id(tx, uuid)?;
        let client = oauth::client(tx, client_id)?.ok_or(AppError::NotFound)?;
        oauth::delete_consent(tx, id, client.id)?;
        oauth::revoke_user_client_tokens(tx, id, client.id, now)?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminGrantRevoke,
            json!({ "target": uuid, "client_id": client_id }),
        )
    })?;
    Ok(Response::empty_204())
}
