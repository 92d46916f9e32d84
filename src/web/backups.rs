//! The backups API (`/api/admin/backups*`): create, list with the schedule state,
//! download (still sealed), delete, upload, restore. Reading needs backups.read,
//! everything else backups.write; every change is audited.

use rouille::Response;
use serde_json::json;

use crate::backup::{self, restore};
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::web::admin::audit;
use crate::web::guards::{Admin, UserSession};
use crate::web::request::Ctx;

/// Largest backup accepted by upload (the server lets this route read that much).
const MAX_UPLOAD: usize = 64 * 1024 * 1024;

/// The disk or the database failed while handling a backup: logged with the detail,
/// answered 500 (bad input never gets here: it is checked before and answered 4xx).
fn failed(e: String) -> AppError {
    AppError::Internal(format!("backup: {e}"))
}

/// GET /api/admin/backups
pub fn list_get(ctx: &Ctx, _: Admin) -> Result<Response> {
    // The schedule's state is worth showing even when the directory cannot be read.
    let (files, error) = match backup::list(ctx.app) {
        Ok(files) => (files, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let (settings, state) = backup::schedule::current(ctx.app)?;
    Ok(Response::json(&json!({
        "backups": files,
        "directory_error": error,
        "directory": backup::dir(ctx.app).display().to_string(),
        "schedule": settings,
        "status": {
            "last_run": state.last_run,
            "last_success": state.last_success,
            "last_backup": state.last_backup,
            "next_run": state.next_run,
            "last_error": state.last_error,
            "failures": state.failures,
        },
    }))
    .with_no_cache())
}

/// POST /api/admin/backups: a backup now; retention applies after it.
pub fn create_post(ctx: &Ctx, admin: Admin) -> Result<Response> {
    let info =
        backup::create(ctx.app, &admin.row.username, backup::Kind::Manual).map_err(failed)?;
    let pruned = backup::prune(ctx.app, backup::keep_setting(ctx.app)).unwrap_or_else(|e| {
        crate::log_warn!("backups: retention could not remove old backups: {e}");
        Vec::new()
    });
    ctx.app.db.with_tx(|tx| {
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminBackupCreate,
            json!({ "name": info.name, "size": info.size, "pruned": pruned }),
        )
    })?;
    let mut body = serde_json::to_value(&info).map_err(AppError::internal)?;
    body["pruned"] = json!(pruned);
    Ok(Response::json(&body).with_status_code(201).with_no_cache())
}

/// GET /api/admin/backups/{name}: the file as it is on disk (sealed). A whole copy of
/// the data leaves the box, so it takes the write permission, not a viewer's read.
pub fn download_get(ctx: &Ctx, _: Admin, name: &str) -> Result<Response> {
    if !backup::valid_name(name) {
        return Err(AppError::bad_request("that is not a backup file name"));
    }
    let file = backup::open_file(ctx.app, name)
        .map_err(failed)?
        .ok_or(AppError::NotFound)?;
    Ok(Response::from_file("application/octet-stream", file)
        .with_unique_header(
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        )
        .with_unique_header("Cache-Control", "no-store"))
}

/// DELETE /api/admin/backups/{name}
pub fn delete(ctx: &Ctx, admin: Admin, name: &str) -> Result<Response> {
    if !backup::valid_name(name) {
        return Err(AppError::bad_request("that is not a backup file name"));
    }
    if !backup::delete(ctx.app, name).map_err(failed)? {
        return Err(AppError::NotFound);
    }
    ctx.app.db.with_tx(|tx| {
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminBackupDelete,
            json!({ "name": name }),
        )
    })?;
    Ok(Response::empty_204())
}

/// PUT /api/admin/backups/upload with the file as the body: checked completely (seal,
/// key, database, schema), then stored as `uploaded-...`.
pub fn upload_put(ctx: &Ctx, admin: Admin) -> Result<Response> {
    let data = ctx.upload(MAX_UPLOAD)?;
    let checked = restore::check(ctx.app, &data[..]).map_err(AppError::BadRequest)?;
    let info = backup::store_upload(ctx.app, &data).map_err(failed)?;
    ctx.app.db.with_tx(|tx| {
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminBackupUpload,
            json!({ "name": info.name, "size": info.size, "created_at": checked.header.created_at }),
        )
    })?;
    Ok(Response::json(&info).with_status_code(201).with_no_cache())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    scope: String,
}

/// POST /api/admin/backups/{name}/restore {"scope": "all"|"settings"}
pub fn restore_post(ctx: &Ctx, admin: Admin, name: &str) -> Result<Response> {
    if !backup::valid_name(name) {
        return Err(AppError::bad_request("that is not a backup file name"));
    }
    let body: RestoreBody = ctx.json(r#"{"scope":"all"}"#)?;
    let scope = restore::Scope::parse(&body.scope).ok_or_else(|| {
        AppError::bad_request("scope: \"all\" (everything) or \"settings\" (settings only)")
    })?;
    let file = backup::open_file(ctx.app, name)
        .map_err(failed)?
        .ok_or(AppError::NotFound)?;
    let report = restore::restore(ctx.app, file, scope, &admin.row.username)
        .map_err(AppError::BadRequest)?;
    let signed_out = record_restore(ctx, &admin, name, &report)?;
    let mut out = serde_json::to_value(&report).map_err(AppError::internal)?;
    out["name"] = json!(name);
    out["signed_out"] = json!(signed_out);
    Ok(Response::json(&out).with_no_cache())
}

/// Audits a restore. The admin may not exist in the restored data (then the event
/// names them without a user link). Returns whether their own session ended.
fn record_restore(
    ctx: &Ctx,
    admin: &UserSession,
    name: &str,
    report: &restore::Report,
) -> Result<bool> {
    ctx.app.db.with_tx(|tx| {
        let still_there = crate::db::users::profile(tx, admin.row.user_id)?.is_some();
        let session_alive = crate::db::sessions::load(tx, &admin.digest, ctx.now())?.is_some();
        crate::db::events::record(
            tx,
            &crate::db::events::Event {
                kind: EventType::AdminBackupRestore,
                user_id: still_there.then_some(admin.row.user_id),
                ip: Some(&ctx.ip.to_string()),
                result: "success",
                detail: json!({
                    "name": name,
                    "scope": report.scope,
                    "by": admin.row.username,
                    "safety_backup": report.safety_backup,
                    "migrated_from": report.migrated_from,
                }),
            },
            ctx.now(),
        )?;
        Ok(!session_alive)
    })
}
