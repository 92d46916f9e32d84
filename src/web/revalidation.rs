//! `GET /api/admin/revalidation`: how re-validation is doing (revalidate.rs asks the
//! media servers whether access still holds) and the settings in force.

use rouille::Response;
use serde_json::json;

use crate::error::Result;
use crate::web::guards::Admin;
use crate::web::request::Ctx;

/// GET /api/admin/revalidation: the last re-validation pass (when it last reached every
/// server it asked, the last error) and the settings in force.
pub fn status_get(ctx: &Ctx, _: Admin) -> Result<Response> {
    let status = crate::revalidate::status(ctx.app)?;
    let settings = crate::settings::revalidation(&*ctx.app.db.conn()?)?;
    Ok(Response::json(&json!({ "status": status, "settings": settings })).with_no_cache())
}
