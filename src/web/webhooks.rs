//! `/api/admin/webhooks` (rules, test deliveries, the delivery log) and the console page
//! `/admin/webhooks`. Reads need webhooks.read, changes webhooks.write; every change is
//! audited. Header values and secrets are never returned.

use rouille::Response;
use serde_json::json;

use crate::db::webhooks as store;
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::roles::Permission;
use crate::web::admin::audit;
use crate::web::guards::{Admin, UserSession};
use crate::web::request::Ctx;
use crate::webhooks::{self, Spec};

fn id_of(raw: &str) -> Result<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(AppError::NotFound)
}

fn spec(ctx: &Ctx) -> Result<Spec> {
    let body = ctx.body()?;
    serde_json::from_slice(&body).map_err(|e| {
        // serde names the field and what was wrong ("unknown field `x`", "missing field `url`").
        AppError::bad_request(format!(
            "{e}; expected a JSON body like {}",
            webhooks::EXAMPLE
        ))
    })
}

/// Whether this reader may also change rules, and so see their URLs in full.
fn can_write(ctx: &Ctx, who: &UserSession) -> Result<bool> {
    let roles = crate::settings::roles(&*ctx.app.db.conn()?)?;
    Ok(roles.allows(&who.groups, Permission::WebhooksWrite))
}

pub fn list_get(ctx: &Ctx, who: Admin) -> Result<Response> {
    let full = can_write(ctx, &who)?;
    let list = store::list(&*ctx.app.db.conn()?)?;
    let shown: Vec<_> = list.iter().map(|w| webhooks::describe(w, full)).collect();
    Ok(Response::json(&json!({ "webhooks": shown })).with_no_cache())
}

pub fn one_get(ctx: &Ctx, who: Admin, id: &str) -> Result<Response> {
    let full = can_write(ctx, &who)?;
    let hook = store::get(&*ctx.app.db.conn()?, id_of(id)?)?.ok_or(AppError::NotFound)?;
    Ok(Response::json(&webhooks::describe(&hook, full)).with_no_cache())
}

pub fn create_post(ctx: &Ctx, admin: Admin) -> Result<Response> {
    let spec = spec(ctx)?;
    let hook = webhooks::prepare(ctx.app, spec, None, ctx.now()).map_err(AppError::BadRequest)?;
    let id = ctx.app.db.with_tx(|tx| {
        let id = store::save(tx, &hook)?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminWebhookCreate,
            json!({ "webhook": id, "name": hook.name }),
        )?;
        Ok(id)
    })?;
    Ok(Response::json(&json!({ "id": id }))
        .with_status_code(201)
        .with_no_cache())
}

pub fn update_put(ctx: &Ctx, admin: Admin, id: &str) -> Result<Response> {
    let id = id_of(id)?;
    let spec = spec(ctx)?;
    let saved = ctx.app.db.with_tx(|tx| {
        let old = store::get(tx, id)?.ok_or(AppError::NotFound)?;
        let hook = webhooks::prepare(ctx.app, spec, Some(&old), ctx.now())
            .map_err(AppError::BadRequest)?;
        store::save(tx, &hook)?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminWebhookUpdate,
            json!({ "webhook": id, "name": hook.name }),
        )?;
        store::get(tx, id)?.ok_or(AppError::NotFound)
    })?;
    Ok(Response::json(&webhooks::describe(&saved, true)).with_no_cache())
}

pub fn delete(ctx: &Ctx, admin: Admin, id: &str) -> Result<Response> {
    let id = id_of(id)?;
    ctx.app.db.with_tx(|tx| {
        if !store::delete(tx, id)? {
            return Err(AppError::NotFound);
        }
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminWebhookDelete,
            json!({ "webhook": id }),
        )
    })?;
    Ok(Response::empty_204())
}

/// POST /api/admin/webhooks/preview: what the rule in the body would send for a
/// made-up event (see webhooks::preview). Changes nothing; 400 with the save's message
/// for what saving would refuse.
pub fn preview_post(ctx: &Ctx, _: Admin) -> Result<Response> {
    let draft: webhooks::Draft = ctx.json(PREVIEW_EXAMPLE)?;
    let shown = webhooks::preview(&draft).map_err(AppError::BadRequest)?;
    Ok(Response::json(&shown).with_no_cache())
}

const PREVIEW_EXAMPLE: &str = r#"{"name": "Pangolin", "events": ["signin.success"], "method": "POST", "url": "https://pangolin.example.com/v1/resource/12/rule/41", "body_format": "json", "body_template": "{\"value\": \"{client_ip}\"}"}"#;

/// POST /api/admin/webhooks/{id}/test: queues a delivery of a sample event (also for a
/// disabled rule: that is how an owner tries one out before enabling it).
pub fn test_post(ctx: &Ctx, admin: Admin, id: &str) -> Result<Response> {
    let id = id_of(id)?;
    let delivery = ctx.app.db.with_tx(|tx| {
        store::get(tx, id)?.ok_or(AppError::NotFound)?;
        let delivery = store::insert_delivery(tx, id, None, true, ctx.now())?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminWebhookTest,
            json!({ "webhook": id }),
        )?;
        Ok(delivery)
    })?;
    Ok(
        Response::json(&json!({ "delivery": delivery, "state": "pending" }))
            .with_status_code(202)
            .with_no_cache(),
    )
}

/// GET /api/admin/webhooks/{id}/deliveries?limit=: recent deliveries, newest first.
pub fn deliveries_get(ctx: &Ctx, _: Admin, id: &str) -> Result<Response> {
    let id = id_of(id)?;
    let limit = ctx
        .query("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| (1..=200).contains(l))
        .unwrap_or(50);
    let conn = ctx.app.db.conn()?;
    store::get(&conn, id)?.ok_or(AppError::NotFound)?;
    let list = store::deliveries(&conn, id, limit)?;
    Ok(Response::json(&json!({ "deliveries": list })).with_no_cache())
}

/// GET /admin/webhooks: the rules, their recent deliveries, a test button and a form.
pub fn page_get(ctx: &Ctx, c: crate::web::admin_pages::Console) -> Result<Response> {
    use crate::views::admin::Area;
    use crate::views::admin::{WebhookRow, webhooks as view};
    use crate::web::admin_pages::page;
    let conn = ctx.app.db.conn()?;
    let hooks = store::list(&conn)?;
    let deliveries = hooks
        .iter()
        .map(|h| store::deliveries(&conn, h.id, 10))
        .collect::<Result<Vec<_>>>()?;
    drop(conn);
    let rows: Vec<WebhookRow> = hooks
        .iter()
        .zip(&deliveries)
        .map(|(hook, deliveries)| WebhookRow { hook, deliveries })
        .collect();
    Ok(page(view(
        &c.frame(Area::Webhooks),
        &rows,
        c.can(Permission::WebhooksWrite),
    )))
}
