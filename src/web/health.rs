//! Liveness and readiness for systemd, Docker-style health checks and load balancers.

use rouille::Response;

use crate::error::{AppError, Result};
use crate::web::request::Ctx;

pub fn healthz_get() -> Response {
    Response::json(&serde_json::json!({ "status": "ok" })).with_no_cache()
}

/// Ready (and started) once the database answers.
pub fn readyz_get(ctx: &Ctx) -> Result<Response> {
    ctx.app
        .db
        .ping()
        .map_err(|e| AppError::NotReady(format!("database: {e}")))?;
    Ok(Response::json(&serde_json::json!({ "status": "ok", "database": "ok" })).with_no_cache())
}
