//! A person's own sessions: `GET /api/me/sessions`, `DELETE /api/me/sessions/{id}` and
//! the /home form that ends one (`POST /sessions/end`). The id is the session's public
//! id (the OpenID Connect `sid`), never the cookie's secret.

use std::collections::HashMap;

use rouille::Response;
use serde_json::json;

use crate::db::{oauth, sessions};
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::web::cookies;
use crate::web::guards::{UserSession, current_session};
use crate::web::request::Ctx;

fn signed_in(ctx: &Ctx) -> Result<UserSession> {
    current_session(ctx)?.ok_or(AppError::Unauthorized)
}

/// The session's own list, newest first, for /api/me/sessions and /home.
pub fn mine(ctx: &Ctx, s: &UserSession) -> Result<Vec<serde_json::Value>> {
    let conn = ctx.app.db.conn()?;
    let seen: HashMap<String, i64> = sessions::last_seen_of_user(&conn, s.row.user_id)?
        .into_iter()
        .collect();
    Ok(sessions::of_user(&conn, s.row.user_id, ctx.now())?
        .into_iter()
        .map(|i| {
            json!({
                "id": i.sid,
                "current": i.sid == s.row.sid,
                "created_at": i.created_at,
                "last_seen": seen.get(&i.sid).copied().unwrap_or(i.created_at),
                "ip": i.ip,
                "user_agent": i.user_agent,
                "browser": crate::user_agent::describe(i.user_agent.as_deref().unwrap_or("")),
                "amr": i.amr,
            })
        })
        .collect())
}

/// GET /api/me/sessions
pub fn list_get(ctx: &Ctx) -> Result<Response> {
    let s = signed_in(ctx)?;
    Ok(Response::json(&json!({ "sessions": mine(ctx, &s)? })).with_no_cache())
}

/// Ends one of the person's own sessions and the tokens issued through it; Ok(true)
/// when it was the one making this request. Another person's id is NotFound, exactly
/// like an id that does not exist.
fn end(ctx: &Ctx, s: &UserSession, sid: &str) -> Result<bool> {
    let now = ctx.now();
    let current = sid == s.row.sid;
    ctx.app.db.with_tx(|tx| {
        if !sessions::delete_own(tx, s.row.user_id, sid)? {
            return Err(AppError::NotFound);
        }
        let revoked = oauth::revoke_session_tokens(tx, sid, now)?;
        crate::web::events::record(
            ctx,
            tx,
            EventType::SessionEnd,
            Some(s.row.user_id),
            true,
            json!({ "sid": sid, "current": current, "tokens_revoked": revoked }),
        )
    })?;
    Ok(current)
}

/// DELETE /api/me/sessions/{id}: 204; ending the current session also clears its cookie.
pub fn delete(ctx: &Ctx, sid: &str) -> Result<Response> {
    let s = signed_in(ctx)?;
    let mut response = Response::empty_204();
    if end(ctx, &s, sid)? {
        response = response.with_additional_header(
            "Set-Cookie",
            cookies::Cookie::Session.clear(&ctx.app.config),
        );
    }
    Ok(response.with_no_cache())
}

/// POST /sessions/end with `id`: the /home form; back to /home, or to sign-in when the
/// session ended was this one.
pub fn end_post(ctx: &Ctx) -> Result<Response> {
    let s = signed_in(ctx)?;
    let form = ctx.form()?;
    let sid = form
        .get("id")
        .ok_or_else(|| AppError::bad_request("id is required"))?;
    if end(ctx, &s, sid)? {
        return Ok(Response::redirect_303("/").with_additional_header(
            "Set-Cookie",
            cookies::Cookie::Session.clear(&ctx.app.config),
        ));
    }
    Ok(Response::redirect_303("/home"))
}
