//! What backups ask of SQLite: a consistent snapshot of the live database, what a
//! snapshot holds (for a backup's header), and whether a rebuilt snapshot is sound.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// Writes a consistent copy of the live database to `path` (an empty file): VACUUM INTO
/// reads one snapshot while requests keep writing.
pub fn snapshot_into(conn: &Connection, path: &Path) -> Result<(), String> {
    let path = path
        .to_str()
        .ok_or_else(|| "the backup directory path is not UTF-8".to_string())?;
    conn.execute("VACUUM INTO ?1", [path])
        .map_err(|e| format!("cannot take a snapshot of the database: {e}"))?;
    Ok(())
}

/// What a snapshot holds, as a backup's header says.
pub struct Contents {
    pub schema_version: i64,
    /// Row count of every table.
    pub tables: BTreeMap<String, i64>,
    /// The settings sections saved.
    pub sections: Vec<String>,
}

pub fn describe(path: &Path) -> Result<Contents, String> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open the snapshot: {e}"))?;
    let read = || -> rusqlite::Result<Contents> {
        let schema_version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let names: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut tables = BTreeMap::new();
        for name in names {
            let n: i64 = conn.query_row(&format!("SELECT count(*) FROM \"{name}\""), [], |r| {
                r.get(0)
            })?;
            tables.insert(name, n);
        }
        let sections = conn
            .prepare("SELECT section FROM settings ORDER BY section")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Contents {
            schema_version,
            tables,
            sections,
        })
    };
    read().map_err(|e| format!("cannot read the snapshot: {e}"))
}

/// The schema version of a snapshot rebuilt from a backup, once it passes
/// integrity_check and holds an authportal database.
pub fn check_snapshot(path: &Path) -> Result<i64, String> {
    let conn = Connection::open(path).map_err(|e| format!("the backup is unreadable: {e}"))?;
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("the backup's database is unreadable: {e}"))?;
    if ok != "ok" {
        return Err(format!("the backup's database is damaged: {ok}"));
    }
    let schema_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| format!("the backup's database is unreadable: {e}"))?;
    if schema_version < 1 {
        return Err("the backup holds no authportal database".into());
    }
    Ok(schema_version)
}
