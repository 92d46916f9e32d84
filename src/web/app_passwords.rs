//! A person's own app passwords for the LDAP directory: `GET|POST /api/me/app-passwords`,
//! `DELETE /api/me/app-passwords/{id}`, and the /home forms (`POST /app-passwords/new`,
//! which shows the new password once, and `POST /app-passwords/revoke`).

use rouille::Response;
use serde::Deserialize;
use serde_json::json;

use crate::error::{AppError, Result};
use crate::ldap::accounts;
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
    let made = accounts::create_app_password(ctx.app, s.row.user_id, &body.name)?;
    Ok(Response::json(&made).with_status_code(201).with_no_cache())
}

fn parse_id(raw: &str) -> Result<i64> {
    raw.parse().map_err(|_| AppError::NotFound)
}

/// DELETE /api/me/app-passwords/{id}: 204; another person's id is 404 like a missing one.
pub fn delete(ctx: &Ctx, id: &str) -> Result<Response> {
    let s = signed_in(ctx)?;
    accounts::delete_app_password(ctx.app, s.row.user_id, parse_id(id)?)?;
    Ok(Response::empty_204().with_no_cache())
}

/// POST /app-passwords/new with `name`: /home again, showing the new password once.
pub fn new_post(ctx: &Ctx) -> Result<Response> {
    let s = signed_in(ctx)?;
    let form = ctx.form()?;
    let made =
        accounts::create_app_password(ctx.app, s.row.user_id, form.get("name").unwrap_or(""))?;
    crate::web::portal::home_page(ctx, &s, Some(&made))
}

/// POST /app-passwords/revoke with `id`: back to /home.
pub fn revoke_post(ctx: &Ctx) -> Result<Response> {
    let s = signed_in(ctx)?;
    let form = ctx.form()?;
    let id = parse_id(form.get("id").unwrap_or(""))?;
    accounts::delete_app_password(ctx.app, s.row.user_id, id)?;
    Ok(Response::redirect_303("/home"))
}
