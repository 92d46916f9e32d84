//! What re-validation reads and writes: the identities in use, when each was last
//! confirmed, and the status of the last pass (for the console).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// An identity whose user holds a live session or refresh token.
#[derive(Debug, Clone)]
pub struct InUse {
    pub identity_id: i64,
    pub user_id: i64,
    pub provider: String,
    pub provider_user_id: String,
    pub token_sealed: Option<String>,
    /// The last time the provider confirmed access (a check, or else the sign-in).
    pub confirmed_at: i64,
    /// The last successful check (None: never checked since the sign-in).
    pub checked_at: Option<i64>,
}

/// One indexed probe per identity (sessions_identity, oauth_tokens_user): never a scan
/// of all sessions per identity, which made a pass quadratic in the community's size.
const IN_USE: &str = "SELECT i.id, i.user_id, i.provider, i.provider_user_id, i.token_sealed,
        max(coalesce(i.checked_at, 0), i.last_login_at) AS confirmed, i.checked_at
     FROM identities i
     WHERE i.authorized = 1 AND (
         EXISTS (SELECT 1 FROM sessions s WHERE s.identity_id = i.id AND s.expires_at > ?1)
         OR EXISTS (SELECT 1 FROM oauth_tokens t WHERE t.user_id = i.user_id AND t.kind = 'refresh'
                    AND t.revoked_at IS NULL AND t.rotated_at IS NULL AND t.expires_at > ?1))
     ORDER BY coalesce(i.checked_at, 0), i.id";

/// Identities in use, least recently confirmed first (so a bounded pass is fair).
pub fn in_use(conn: &Connection, now: i64) -> Result<Vec<InUse>> {
    let mut stmt = conn.prepare(IN_USE)?;
    let rows = stmt.query_map([now], |r| {
        Ok(InUse {
            identity_id: r.get(0)?,
            user_id: r.get(1)?,
            provider: r.get(2)?,
            provider_user_id: r.get(3)?,
            token_sealed: r.get(4)?,
            confirmed_at: r.get(5)?,
            checked_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn confirmed(conn: &Connection, identity_id: i64, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE identities SET checked_at = ?2 WHERE id = ?1",
        params![identity_id, now],
    )?;
    Ok(())
}

/// Whether a revocation decided on the snapshot from `in_use` still stands: the identity
/// is still authorized and nobody confirmed it since (a sign-in or another pass's check
/// moved its confirmation past `seen`, the snapshot's `confirmed_at`). Read inside the
/// revoking transaction so a sign-in cannot slip in between. Times are in seconds, so a
/// sign-in in the very second the snapshot already shows as confirmed is not told apart.
pub fn still_unconfirmed(conn: &Connection, identity_id: i64, seen: i64) -> Result<bool> {
    let latest: Option<i64> = conn
        .query_row(
            "SELECT max(coalesce(checked_at, 0), last_login_at) FROM identities
             WHERE id = ?1 AND authorized = 1",
            [identity_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(latest.is_some_and(|at| at <= seen))
}

const STATUS_KEY: &str = "revalidation_status";

pub fn status(conn: &Connection) -> Result<Option<serde_json::Value>> {
    Ok(crate::db::meta::get(conn, STATUS_KEY)?.and_then(|s| serde_json::from_str(&s).ok()))
}

pub fn set_status(conn: &Connection, v: &serde_json::Value) -> Result<()> {
    crate::db::meta::set(conn, STATUS_KEY, &v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for the selection, one line per step.
    fn plan(conn: &Connection) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {IN_USE}"))
            .unwrap();
        let steps: Vec<String> = stmt
            .query_map([0], |r| r.get(3))
            .unwrap()
            .map(|step| step.unwrap())
            .collect();
        steps.join("\n")
    }

    #[test]
    fn the_selection_probes_sessions_by_identity_not_by_expiry() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        let plan = plan(&c);
        assert!(
            plan.contains("USING INDEX sessions_identity")
                || plan.contains("USING COVERING INDEX sessions_identity"),
            "{plan}"
        );
        assert!(!plan.contains("sessions_expiry"), "{plan}");
        assert!(plan.contains("oauth_tokens_user"), "{plan}");
    }
}
