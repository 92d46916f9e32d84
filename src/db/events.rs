//! The audit log.

use rusqlite::{Connection, params};
use serde_json::Value;

use crate::error::Result;

pub struct Event<'a> {
    /// Dotted: signin.success, mfa.verify, admin.mfa.reset...
    pub kind: &'a str,
    pub user_id: Option<i64>,
    pub ip: Option<&'a str>,
    /// "success" or "failure".
    pub result: &'a str,
    pub detail: Value,
}

pub fn record(conn: &Connection, e: &Event, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO events (type, time, user_id, ip, result, detail_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![e.kind, now, e.user_id, e.ip, e.result, e.detail.to_string()],
    )?;
    Ok(())
}
