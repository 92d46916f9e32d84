//! A person's own app passwords for the LDAP directory: `GET|POST /api/me/app-passwords`,
//! `DELETE /api/me/app-passwords/{id}`, and the /home forms (`POST /app-passwords/new`,
//! which shows the new password once, and `POST /app-passwords/revoke`).

use rouille::Response;
use serde::Deserialize;
use serde_json::json;

use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::ldap::accounts;
use crate::web::events::record;
use crate::web::guards::{UserSession, current_session};
use crate::web::request::Ctx;

/// Signed in with access: app passwords open the directory only to people the tree lists.
fn signed_in(ctx: &Ctx) -> Result<UserSession> {
    let s = current_session(ctx)?.ok_or(AppError::Unauthorized)?;
    if !s.authorized() {
        return Err(AppError::Forbidden(
            "your account has no access to this server",
        ));
    }
    Ok(s)
}

/// GET /api/me/app-passwords: names and dates, never the passwords.
pub fn list_get(ctx: &Ctx) -> Result<Response> {
    let s = signed_in(ctx)?;
    let list = accounts::app_passwords(ctx.app, s.row.user_id)?;
    Ok(Response::json(&json!({ "app_passwords": list })).with_no_cache())
}

#[derive(Deserialize)]
struct NewBody {
    name: String,
}

/// POST /api/me/app-passwords `{"name"}` -> 201 `{id, name, password}` (shown once).
pub fn create_post(ctx: &Ctx) -> Result<Response> {
    let s = signed_in(ctx)?;
    let body: NewBody = ctx.json(r#"{"name": "Nextcloud"}"#)?;
    let made = create(ctx, &s, &body.name)?;
    Ok(Response::json(&made).with_status_code(201).with_no_cache())
}

/// Makes an app password and its `app_password.create` event, in one transaction.
fn create(ctx: &Ctx, s: &UserSession, name: &str) -> Result<accounts::NewAppPassword> {
    let user_id = s.row.user_id;
    ctx.app.db.with_tx(|tx| {
        let made = accounts::create_app_password(tx, user_id, name, ctx.now())?;
        let detail = json!({ "id": made.id, "name": made.name });
        record(
            ctx,
            tx,
            EventType::AppPasswordCreate,
            Some(user_id),
            true,
            detail,
        )?;
        Ok(made)
    })
}

/// Revokes one of the person's app passwords and records `app_password.revoke`.
fn revoke(ctx: &Ctx, s: &UserSession, id: i64) -> Result<()> {
    let user_id = s.row.user_id;
    ctx.app.db.with_tx(|tx| {
        accounts::delete_app_password(tx, user_id, id)?;
        record(
            ctx,
            tx,
            EventType::AppPasswordRevoke,
            Some(user_id),
            true,
            json!({ "id": id }),
        )
    })
}

fn parse_id(raw: &str) -> Result<i64> {
    raw.parse().map_err(|_| AppError::NotFound)
}

/// DELETE /api/me/app-passwords/{id}: 204; another person's id is 404 like a missing one.
pub fn delete(ctx: &Ctx, id: &str) -> Result<Response> {
    let s = signed_in(ctx)?;
    revoke(ctx, &s, parse_id(id)?)?;
    Ok(Response::empty_204().with_no_cache())
}

/// POST /app-passwords/new with `name`: /home again, showing the new password once.
pub fn new_post(ctx: &Ctx) -> Result<Response> {
    let s = signed_in(ctx)?;
    let form = ctx.form()?;
    let made = create(ctx, &s, form.get("name").unwrap_or(""))?;
    crate::web::portal::home_page(ctx, &s, Some(&made))
}

/// POST /app-passwords/revoke with `id`: back to /home.
pub fn revoke_post(ctx: &Ctx) -> Result<Response> {
    let s = signed_in(ctx)?;
    let form = ctx.form()?;
    let id = parse_id(form.get("id").unwrap_or(""))?;
    revoke(ctx, &s, id)?;
    Ok(Response::redirect_303("/home"))
}
