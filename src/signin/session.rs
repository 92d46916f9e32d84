//! Opening a session: the row, its lifetime (the owner's security settings) and the
//! address it signed in from; the browser's previous session ends (ids always rotate).

use crate::crypto::tokens::digest;
use crate::db::{sessions, users};
use crate::error::Result;
use crate::providers::{Amr, FirstFactor};

use super::Origin;

/// Creates a session with the new id `id` for `linked`, deleting the browser's previous
/// session `previous` if any, and returns how long it lasts (seconds). Its `amr` is the
/// first factor's value, then "otp" when a second factor was proved at `mfa_at`.
pub fn open_session(
    origin: &Origin,
    tx: &rusqlite::Connection,
    previous: Option<&[u8]>,
    id: &[u8],
    linked: users::Linked,
    first: FirstFactor,
    mfa_at: Option<i64>,
) -> Result<i64> {
    // The owner's choice (section security), read in the sign-in's own transaction.
    let ttl = crate::settings::security(tx)?.session_ttl();
    let now = origin.now;
    if let Some(old) = previous {
        sessions::delete(tx, &digest(old))?;
    }
    let ip = origin.ip.to_string();
    let amr: &[&str] = match mfa_at {
        Some(_) => &[first.amr(), Amr::Otp.as_str()],
        None => &[first.amr()],
    };
    sessions::create(
        tx,
        &sessions::NewSession {
            digest: &digest(id),
            user_id: linked.user_id,
            identity_id: linked.identity_id,
            amr,
            auth_time: now,
            mfa_at,
            expires_at: now + ttl,
            ip: &ip,
            user_agent: origin.user_agent,
        },
        now,
    )?;
    crate::db::signin_ips::record_signin_ip(tx, linked.user_id, &ip, now)?;
    Ok(ttl)
}
