//! The meta table: small facts about this database.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

pub fn get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub fn set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Removes these keys (those not set are no error).
pub fn delete(conn: &Connection, keys: &[&str]) -> Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM meta WHERE key = ?1")?;
    for key in keys {
        stmt.execute([key])?;
    }
    Ok(())
}
