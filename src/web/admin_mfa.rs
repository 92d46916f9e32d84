//! `POST /api/admin/users/{uuid}/mfa/reset`: an admin removes a user's second factor
//! (a lost phone), audited. The person's own MFA pages are web/mfa.rs.

use rouille::Response;
use serde_json::json;

use crate::db::events;
use crate::db::{mfa as store, users};
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::web::guards::Admin;
use crate::web::request::Ctx;

/// POST /api/admin/users/{uuid}/mfa/reset: an admin removes a user's factors (audited).
pub fn reset_post(ctx: &Ctx, admin: Admin, uuid: &str) -> Result<Response> {
    let removed = ctx.app.db.with_tx(|tx| {
        let user_id = users::id_by_uuid(tx, uuid)?.ok_or(AppError::NotFound)?;
        super::admin_users::not_above(tx, &admin, user_id)?;
        let removed = store::remove(tx, user_id)?;
        events::record(
            tx,
            &events::Event {
                kind: EventType::AdminMfaReset,
                user_id: Some(admin.row.user_id),
                ip: Some(&ctx.ip.to_string()),
                result: "success",
                detail: json!({ "target": uuid, "had_mfa": removed }),
            },
            ctx.now(),
        )?;
        Ok(removed)
    })?;
    crate::log_info!(
        "req={} admin {} reset MFA of user {uuid}",
        ctx.request_id,
        admin.row.uuid
    );
    Ok(Response::json(&json!({ "reset": removed })).with_no_cache())
}
