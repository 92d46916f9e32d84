//! The admin JSON API (`/api/admin/*`). Every route takes an admin session; writes are
//! same-origin checked and rate limited by the dispatcher like every other write.

use rouille::Response;
use serde_json::json;

use crate::db::{events, oauth};
use crate::error::{AppError, Result};
use crate::oidc::clients::{self, ClientSpec};
use crate::web::guards::{UserSession, require_admin};
use crate::web::request::Ctx;

fn audit(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    admin: &UserSession,
    kind: &str,
    detail: serde_json::Value,
) -> Result<()> {
    events::record(
        tx,
        &events::Event {
            kind,
            user_id: Some(admin.row.user_id),
            ip: Some(&ctx.ip.to_string()),
            result: "success",
            detail,
        },
        ctx.now(),
    )
}

pub fn clients_get(ctx: &Ctx) -> Result<Response> {
    require_admin(ctx)?;
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

pub fn clients_post(ctx: &Ctx) -> Result<Response> {
    let admin = require_admin(ctx)?;
    let spec = spec(ctx)?;
    let (client, secret) = ctx.app.db.with_tx(|tx| {
        let (client, secret) = clients::create(tx, spec, ctx.now())?;
        audit(
            ctx,
            tx,
            &admin,
            "admin.oauth_client.create",
            json!({ "client_id": client.client_id }),
        )?;
        Ok((client, secret))
    })?;
    let mut body = clients::describe(&client);
    body["client_secret"] = json!(secret);
    Ok(Response::json(&body).with_status_code(201).with_no_cache())
}

pub fn client_put(ctx: &Ctx, client_id: &str) -> Result<Response> {
    let admin = require_admin(ctx)?;
    let spec = spec(ctx)?;
    let client = ctx.app.db.with_tx(|tx| {
        let old = oauth::client(tx, client_id)?.ok_or(AppError::NotFound)?;
        if old.public != spec.public {
            return Err(AppError::bad_request(
                "a client cannot change between public and confidential; create a new one",
            ));
        }
        let mut client = clients::from_spec(spec, old.client_id.clone(), old.created_at)?;
        client.secret_digest = old.secret_digest;
        client.updated_at = ctx.now();
        oauth::save_client(tx, &client)?;
        audit(
            ctx,
            tx,
            &admin,
            "admin.oauth_client.update",
            json!({ "client_id": client_id }),
        )?;
        oauth::client(tx, client_id)?.ok_or(AppError::NotFound)
    })?;
    Ok(Response::json(&clients::describe(&client)).with_no_cache())
}

pub fn client_delete(ctx: &Ctx, client_id: &str) -> Result<Response> {
    let admin = require_admin(ctx)?;
    ctx.app.db.with_tx(|tx| {
        if !oauth::delete_client(tx, client_id)? {
            return Err(AppError::NotFound);
        }
        audit(
            ctx,
            tx,
            &admin,
            "admin.oauth_client.delete",
            json!({ "client_id": client_id }),
        )
    })?;
    Ok(Response::empty_204())
}

pub fn client_rotate_post(ctx: &Ctx, client_id: &str) -> Result<Response> {
    let admin = require_admin(ctx)?;
    let secret = ctx.app.db.with_tx(|tx| {
        let secret = clients::rotate_secret(tx, client_id, ctx.now())?;
        audit(
            ctx,
            tx,
            &admin,
            "admin.oauth_client.rotate_secret",
            json!({ "client_id": client_id }),
        )?;
        Ok(secret)
    })?;
    Ok(Response::json(&json!({ "client_id": client_id, "client_secret": secret })).with_no_cache())
}
