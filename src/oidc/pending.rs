//! Authorization requests waiting for their sign-in: kept server-side (`oidc_pending`,
//! bound to the browser, taken once, expiring), so only a short id travels through the
//! sign-in's `rd` and a request of any size the server accepted comes back whole.

use super::authorize::AuthRequest;
use crate::app::App;
use crate::crypto::tokens::{digest, random_token};
use crate::db::oauth::{self, PendingRequest};
use crate::error::Result;

/// How long a request waits for its sign-in (and second factor).
pub const PENDING_TTL_SECS: i64 = 600;

/// The request kept for sign-in under `id` by this `browser`, taken once.
pub fn resume(app: &App, id: &str, browser: &[u8], now: i64) -> Result<Option<PendingRequest>> {
    let conn = app.db.conn()?;
    oauth::take_pending(&conn, &digest(id.as_bytes()), &digest(browser), now)
}

/// Keeps the request while the person signs in, for this browser; returns its id. Only
/// the id travels through sign-in, so a request of any size the server accepted comes
/// back whole.
pub(super) fn keep(
    app: &App,
    req: &AuthRequest,
    browser: &[u8],
    auth_after: Option<i64>,
    now: i64,
) -> Result<String> {
    let id = random_token();
    let pending = PendingRequest {
        params: req.to_params(),
        auth_after,
    };
    oauth::save_pending(
        &*app.db.conn()?,
        &digest(id.as_bytes()),
        &digest(browser),
        &pending,
        now,
        now + PENDING_TTL_SECS,
    )?;
    Ok(id)
}

/// The sign-in page that comes back to the kept request `pending`.
pub fn sign_in_url(pending: &str) -> String {
    let rd = format!(
        "/oidc/authorize?pending={}",
        url::form_urlencoded::byte_serialize(pending.as_bytes()).collect::<String>()
    );
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("rd", &rd)
        .append_pair("prompt", "login")
        .finish();
    format!("/?{query}")
}
