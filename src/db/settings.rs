//! Runtime settings: one JSON document per section, versioned, with history.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Setting {
    pub version: i64,
    pub config: Value,
    pub updated_at: i64,
    pub updated_by: Option<String>,
}

pub fn get(conn: &Connection, section: &str) -> Result<Option<Setting>> {
    Ok(conn
        .query_row(
            "SELECT version, config_json, updated_at, updated_by FROM settings WHERE section = ?1",
            [section],
            |r| {
                let text: String = r.get(1)?;
                Ok(Setting {
                    version: r.get(0)?,
                    // Written only by `put` from a serde_json::Value.
                    config: serde_json::from_str(&text).unwrap_or(Value::Null),
                    updated_at: r.get(2)?,
                    updated_by: r.get(3)?,
                })
            },
        )
        .optional()?)
}

/// A stale write: someone saved `current` since the writer read the section.
#[derive(Debug, PartialEq, Eq)]
pub struct Conflict {
    pub current: i64,
}

pub struct Change<'a> {
    pub section: &'a str,
    /// The version the writer read (0 when the section was never saved).
    pub expected_version: i64,
    pub config: &'a Value,
    pub by: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// Saves a new version if `expected_version` is still current. Call inside a transaction.
pub fn put(conn: &Connection, c: &Change, now: i64) -> Result<std::result::Result<i64, Conflict>> {
    let current = get(conn, c.section)?.map_or(0, |s| s.version);
    if current != c.expected_version {
        return Ok(Err(Conflict { current }));
    }
    let version = current + 1;
    let json = c.config.to_string();
    conn.execute(
        "INSERT INTO settings (section, version, config_json, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (section) DO UPDATE SET version = excluded.version, config_json = excluded.config_json,
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        params![c.section, version, json, now, c.by],
    )?;
    conn.execute(
        "INSERT INTO settings_history (section, version, config_json, updated_at, updated_by, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![c.section, version, json, now, c.by, c.reason],
    )?;
    Ok(Ok(version))
}

/// One saved version of a section.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Version {
    pub version: i64,
    pub config: Value,
    pub updated_at: i64,
    pub updated_by: Option<String>,
    pub reason: Option<String>,
    /// What this version changed from the one before ("path: old -> new"), filled in
    /// for the console by settings::history_for_console.
    pub changes: Vec<String>,
}

/// Every saved version of a section, newest first.
pub fn history(conn: &Connection, section: &str) -> Result<Vec<Version>> {
    let mut stmt = conn.prepare(
        "SELECT version, config_json, updated_at, updated_by, reason FROM settings_history
         WHERE section = ?1 ORDER BY version DESC",
    )?;
    let rows = stmt.query_map([section], |r| {
        let text: String = r.get(1)?;
        Ok(Version {
            version: r.get(0)?,
            config: serde_json::from_str(&text).unwrap_or(Value::Null),
            updated_at: r.get(2)?,
            updated_by: r.get(3)?,
            reason: r.get(4)?,
            changes: Vec::new(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// An uploaded image: (content type, bytes, updated at).
pub fn branding_file(conn: &Connection, name: &str) -> Result<Option<(String, Vec<u8>, i64)>> {
    Ok(conn
        .query_row(
            "SELECT content_type, data, updated_at FROM branding_files WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

pub fn set_branding_file(
    conn: &Connection,
    name: &str,
    content_type: &str,
    data: &[u8],
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO branding_files (name, content_type, data, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET content_type = excluded.content_type, data = excluded.data, updated_at = excluded.updated_at",
        params![name, content_type, data, now],
    )?;
    Ok(())
}

pub fn delete_branding_file(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM branding_files WHERE name = ?1", [name])? > 0)
}

/// An uploaded image without its bytes.
pub struct BrandingFile {
    pub name: String,
    pub content_type: String,
    pub bytes: i64,
    pub updated_at: i64,
}

pub fn branding_files(conn: &Connection) -> Result<Vec<BrandingFile>> {
    let mut stmt = conn.prepare(
        "SELECT name, content_type, length(data), updated_at FROM branding_files ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(BrandingFile {
            name: r.get(0)?,
            content_type: r.get(1)?,
            bytes: r.get(2)?,
            updated_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
