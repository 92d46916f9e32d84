//! The addresses people completed a sign-in from (`signin_ips`): what native apps'
//! trusted-address rules read, and what people see and forget on their home page.

use rusqlite::{Connection, params};

use crate::error::Result;

/// Records that a user completed a sign-in from this address.
pub fn record_signin_ip(conn: &Connection, user_id: i64, ip: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO signin_ips (user_id, ip, last_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, ip) DO UPDATE SET last_at = excluded.last_at",
        params![user_id, ip, now],
    )?;
    Ok(())
}

/// Users who signed in from this address since `since`, most recent first.
pub fn users_signed_in_from(conn: &Connection, ip: &str, since: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id FROM signin_ips WHERE ip = ?1 AND last_at >= ?2 ORDER BY last_at DESC",
    )?;
    let rows = stmt.query_map(params![ip, since], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// (ip, last_at) of a user's recent sign-in addresses.
pub fn signin_ips_of(conn: &Connection, user_id: i64) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT ip, last_at FROM signin_ips WHERE user_id = ?1 ORDER BY last_at DESC",
    )?;
    let rows = stmt.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A recent sign-in address and whose it is.
pub struct SigninIp {
    pub uuid: String,
    pub username: String,
    pub ip: String,
    pub last_at: i64,
}

/// Every recent sign-in address of every user, newest first.
pub fn all_signin_ips(conn: &Connection) -> Result<Vec<SigninIp>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.uuid, u.username, s.ip, s.last_at FROM signin_ips s
         JOIN users u ON u.id = s.user_id ORDER BY s.last_at DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(SigninIp {
            uuid: r.get(0)?,
            username: r.get(1)?,
            ip: r.get(2)?,
            last_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Forgets every address a user signed in from (their access was withdrawn).
pub fn forget_all_signin_ips(conn: &Connection, user_id: i64) -> Result<usize> {
    Ok(conn.execute("DELETE FROM signin_ips WHERE user_id = ?1", [user_id])?)
}

pub fn forget_signin_ip(conn: &Connection, user_id: i64, ip: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM signin_ips WHERE user_id = ?1 AND ip = ?2",
        params![user_id, ip],
    )? > 0)
}
