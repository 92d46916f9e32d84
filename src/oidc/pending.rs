//! Authorization requests waiting for their sign-in: kept server-side (`oidc_pending`,
//! bound to the browser, taken once, expiring), so only a short id travels through the
//! sign-in's `rd` and a request of any size the server accepted comes back whole.

use std::net::IpAddr;

use super::authorize::AuthRequest;
use crate::app::App;
use crate::crypto::tokens::{digest, random_token};
use crate::db::holders::Store;
use crate::db::oauth::{self, PendingRequest};
use crate::error::Result;
use crate::fair_share;
use crate::signin::flow::too_many_in_progress;

/// How long a request waits for its sign-in (and second factor).
pub const PENDING_TTL_SECS: i64 = 600;

/// The request kept for sign-in under `id` by this `browser`, taken once.
pub fn resume(app: &App, id: &str, browser: &[u8], now: i64) -> Result<Option<PendingRequest>> {
    let conn = app.db.conn()?;
    oauth::take_pending(&conn, &digest(id.as_bytes()), &digest(browser), now)
}

/// Keeps the request from `ip` while the person signs in, for this browser; returns its
/// id. Only the id travels through sign-in, so a request of any size the server accepted
/// comes back whole. A full table makes room from the network holding the most requests;
/// this one is refused (429) only when that is its own.
pub(super) fn keep(
    app: &App,
    req: &AuthRequest,
    browser: &[u8],
    ip: IpAddr,
    auth_after: Option<i64>,
    now: i64,
) -> Result<String> {
    let id = random_token();
    let pending = PendingRequest {
        params: req.to_params(),
        auth_after,
    };
    let from = fair_share::holder_of(ip);
    app.db.with_tx(|tx| {
        let store = Store::PendingAuthorizations;
        if !fair_share::make_room(tx, &app.metrics, store, oauth::MAX_PENDING, &from, now)? {
            return Err(too_many_in_progress());
        }
        let (id_digest, expires_at) = (digest(id.as_bytes()), now + PENDING_TTL_SECS);
        oauth::save_pending(
            tx,
            &id_digest,
            &digest(browser),
            &pending,
            &from,
            now,
            expires_at,
        )
    })?;
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
