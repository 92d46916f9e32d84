//! TOTP secrets, enrolments in progress, recovery codes, and sign-ins waiting for a
//! second factor.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::providers::FirstFactor;

#[derive(Debug, Clone)]
pub struct Totp {
    pub secret_sealed: String,
    pub created_at: i64,
    pub verified_at: i64,
    pub last_used_at: Option<i64>,
    pub last_step: i64,
}

pub fn totp(conn: &Connection, user_id: i64) -> Result<Option<Totp>> {
    Ok(conn
        .query_row(
            "SELECT secret_sealed, created_at, verified_at, last_used_at, last_step FROM mfa_totp WHERE user_id = ?1",
            [user_id],
            |r| {
                Ok(Totp {
                    secret_sealed: r.get(0)?,
                    created_at: r.get(1)?,
                    verified_at: r.get(2)?,
                    last_used_at: r.get(3)?,
                    last_step: r.get(4)?,
                })
            },
        )
        .optional()?)
}

pub fn is_enrolled(conn: &Connection, user_id: i64) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM mfa_totp WHERE user_id = ?1",
            [user_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Records an accepted step; only moves forward, so a replay cannot rewind it.
pub fn mark_used(conn: &Connection, user_id: i64, step: i64, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE mfa_totp SET last_step = max(last_step, ?2), last_used_at = ?3 WHERE user_id = ?1",
        params![user_id, step, now],
    )?;
    Ok(())
}

pub fn start_enrollment(
    conn: &Connection,
    user_id: i64,
    secret_sealed: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO mfa_enrollments (user_id, secret_sealed, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed,
             created_at = excluded.created_at, expires_at = excluded.expires_at",
        params![user_id, secret_sealed, now, expires_at],
    )?;
    Ok(())
}

pub fn enrollment(conn: &Connection, user_id: i64, now: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT secret_sealed FROM mfa_enrollments WHERE user_id = ?1 AND expires_at > ?2",
            params![user_id, now],
            |r| r.get(0),
        )
        .optional()?)
}

/// Makes the enrolment's secret the user's TOTP secret, with fresh recovery codes.
pub fn confirm_enrollment(
    conn: &Connection,
    user_id: i64,
    secret_sealed: &str,
    step: i64,
    now: i64,
    code_digests: &[Vec<u8>],
) -> Result<()> {
    conn.execute(
        "INSERT INTO mfa_totp (user_id, secret_sealed, created_at, verified_at, last_used_at, last_step)
         VALUES (?1, ?2, ?3, ?3, ?3, ?4)
         ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_at = excluded.created_at,
             verified_at = excluded.verified_at, last_used_at = excluded.last_used_at, last_step = excluded.last_step",
        params![user_id, secret_sealed, now, step],
    )?;
    conn.execute("DELETE FROM mfa_enrollments WHERE user_id = ?1", [user_id])?;
    replace_recovery_codes(conn, user_id, code_digests, now)
}

pub fn replace_recovery_codes(
    conn: &Connection,
    user_id: i64,
    code_digests: &[Vec<u8>],
    now: i64,
) -> Result<()> {
    conn.execute(
        "DELETE FROM mfa_recovery_codes WHERE user_id = ?1",
        [user_id],
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO mfa_recovery_codes (user_id, code_digest, created_at) VALUES (?1, ?2, ?3)",
    )?;
    for d in code_digests {
        stmt.execute(params![user_id, d, now])?;
    }
    Ok(())
}

/// Burns an unused recovery code; false when there is no such unused code.
pub fn use_recovery_code(conn: &Connection, user_id: i64, digest: &[u8], now: i64) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE mfa_recovery_codes SET used_at = ?3 WHERE user_id = ?1 AND code_digest = ?2 AND used_at IS NULL",
        params![user_id, digest, now],
    )? == 1)
}

pub fn recovery_codes_left(conn: &Connection, user_id: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
        [user_id],
        |r| r.get(0),
    )?)
}

/// Removes every factor of a user (disable, or an admin reset).
pub fn remove(conn: &Connection, user_id: i64) -> Result<bool> {
    let had = conn.execute("DELETE FROM mfa_totp WHERE user_id = ?1", [user_id])? > 0;
    conn.execute(
        "DELETE FROM mfa_recovery_codes WHERE user_id = ?1",
        [user_id],
    )?;
    conn.execute("DELETE FROM mfa_enrollments WHERE user_id = ?1", [user_id])?;
    conn.execute("DELETE FROM mfa_pending WHERE user_id = ?1", [user_id])?;
    Ok(had)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Challenge,
    Enroll,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Challenge => "challenge",
            Purpose::Enroll => "enroll",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub user_id: i64,
    pub identity_id: i64,
    /// The identity's provider and name, for the event of the finished sign-in.
    pub provider: String,
    pub username: String,
    pub purpose: Purpose,
    pub rd: Option<String>,
    pub attempts: i64,
    /// How the first factor was made: the session's first `amr` value.
    pub first_factor: FirstFactor,
}

pub struct NewPending<'a> {
    pub digest: &'a [u8],
    pub user_id: i64,
    pub identity_id: i64,
    pub purpose: Purpose,
    pub rd: Option<&'a str>,
    pub expires_at: i64,
    pub first_factor: FirstFactor,
}

pub fn create_pending(conn: &Connection, p: &NewPending, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO mfa_pending (id_digest, user_id, identity_id, purpose, rd, created_at, expires_at, first_factor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![p.digest, p.user_id, p.identity_id, p.purpose.as_str(), p.rd, now, p.expires_at, p.first_factor.amr()],
    )?;
    Ok(())
}

pub fn pending(conn: &Connection, digest: &[u8], now: i64) -> Result<Option<Pending>> {
    Ok(conn
        .query_row(
            "SELECT p.user_id, p.identity_id, p.purpose, p.rd, p.attempts, i.provider, i.username, p.first_factor
             FROM mfa_pending p JOIN identities i ON i.id = p.identity_id
             WHERE p.id_digest = ?1 AND p.expires_at > ?2",
            params![digest, now],
            |r| {
                let purpose: String = r.get(2)?;
                let first_factor: String = r.get(7)?;
                Ok(Pending {
                    user_id: r.get(0)?,
                    identity_id: r.get(1)?,
                    purpose: if purpose == "enroll" {
                        Purpose::Enroll
                    } else {
                        Purpose::Challenge
                    },
                    rd: r.get(3)?,
                    attempts: r.get(4)?,
                    provider: r.get(5)?,
                    username: r.get(6)?,
                    // The column's CHECK admits only the values parse knows.
                    first_factor: FirstFactor::parse(&first_factor)
                        .unwrap_or(FirstFactor::Password),
                })
            },
        )
        .optional()?)
}

/// Counts a wrong code; returns the new count.
pub fn add_attempt(conn: &Connection, digest: &[u8]) -> Result<i64> {
    conn.execute(
        "UPDATE mfa_pending SET attempts = attempts + 1 WHERE id_digest = ?1",
        [digest],
    )?;
    Ok(conn
        .query_row(
            "SELECT attempts FROM mfa_pending WHERE id_digest = ?1",
            [digest],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(i64::MAX))
}

/// Wrong codes typed at the challenge by `user_id` since `since` (the audit log's
/// failed `mfa.verify` events): how many, and when the oldest was.
pub fn failed_codes_since(
    conn: &Connection,
    user_id: i64,
    since: i64,
) -> Result<(i64, Option<i64>)> {
    Ok(conn.query_row(
        "SELECT count(*), min(time) FROM events
         WHERE user_id = ?1 AND type = ?2 AND result = 'failure' AND time >= ?3",
        params![
            user_id,
            crate::event_type::EventType::MfaVerify.as_str(),
            since
        ],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

/// Deletes a pending sign-in; true if this call removed it (so only one request can finish it).
pub fn delete_pending(conn: &Connection, digest: &[u8]) -> Result<bool> {
    Ok(conn.execute("DELETE FROM mfa_pending WHERE id_digest = ?1", [digest])? > 0)
}

/// Deletes up to `limit` expired pending sign-ins and up to `limit` expired enrolments.
pub fn sweep(conn: &Connection, now: i64, limit: i64) -> Result<usize> {
    let p = conn.execute(
        "DELETE FROM mfa_pending WHERE id_digest IN
             (SELECT id_digest FROM mfa_pending WHERE expires_at <= ?1 LIMIT ?2)",
        [now, limit],
    )?;
    let e = conn.execute(
        "DELETE FROM mfa_enrollments WHERE user_id IN
             (SELECT user_id FROM mfa_enrollments WHERE expires_at <= ?1 LIMIT ?2)",
        [now, limit],
    )?;
    Ok(p + e)
}
