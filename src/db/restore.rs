//! The SQL of a restore: attaching the checked snapshot as `snap`, replacing tables of
//! `main` with its rows in one IMMEDIATE transaction, and the clean-ups around it. Which
//! tables and what must hold afterwards are backup/restore.rs's rules.

use rusqlite::{Connection, OptionalExtension};

/// Attaches the snapshot as `snap`, with foreign keys off for the swap (deletes must not
/// cascade into the audit log; rows go in in any order): the caller proves the result
/// consistent with `first_broken_reference` before it commits.
pub fn attach(conn: &Connection, snapshot: &str) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    conn.execute("ATTACH DATABASE ?1 AS snap", [snapshot])?;
    Ok(())
}

pub fn begin(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")
}

pub fn commit(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("COMMIT")
}

/// Best effort: a failed rollback leaves nothing committed either.
pub fn rollback(conn: &Connection) {
    let _ = conn.execute_batch("ROLLBACK");
}

pub fn detach(conn: &Connection) {
    let _ = conn.execute_batch("DETACH DATABASE snap");
}

pub fn table_names(conn: &Connection, schema: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(&format!(
        "SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ))?
    .query_map([], |r| r.get(0))?
    .collect()
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<String> {
    let cols: Vec<String> = conn
        .prepare(&format!("PRAGMA main.table_info(\"{table}\")"))?
        .query_map([], |r| r.get::<_, String>(1))?
        .map(|c| c.map(|c| format!("\"{c}\"")))
        .collect::<rusqlite::Result<_>>()?;
    Ok(cols.join(", "))
}

/// Replaces every row of `main.table` with the snapshot's, column by column (by name).
pub fn replace_table(conn: &Connection, table: &str) -> rusqlite::Result<()> {
    let cols = columns(conn, table)?;
    conn.execute(&format!("DELETE FROM main.\"{table}\""), [])?;
    conn.execute(
        &format!("INSERT INTO main.\"{table}\" ({cols}) SELECT {cols} FROM snap.\"{table}\""),
        [],
    )?;
    Ok(())
}

/// Signing keys that still sign (not retired).
pub fn active_signing_keys(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT count(*) FROM main.signing_keys WHERE retired_at IS NULL",
        [],
        |r| r.get(0),
    )
}

/// The first table whose rows point at missing rows, if any.
pub fn first_broken_reference(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("PRAGMA main.foreign_key_check", [], |r| r.get(0))
        .optional()
}

/// After a full restore nothing signed in comes back to life: a session, token, app
/// password or trusted address ended since the backup (a stolen cookie, a leaked app
/// password, a withdrawn user) must stay ended. Everyone signs in again; applications get
/// new tokens; people make new app passwords.
pub fn end_sign_ins(conn: &Connection, now: i64) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DELETE FROM main.sessions;
         DELETE FROM main.mfa_pending;
         DELETE FROM main.login_flows;
         DELETE FROM main.oauth_codes;
         DELETE FROM main.signin_ips;
         DELETE FROM main.oidc_pending;
         DELETE FROM main.device_codes;
         DELETE FROM main.app_passwords;",
    )?;
    conn.execute(
        "UPDATE main.oauth_tokens SET revoked_at = ?1 WHERE revoked_at IS NULL",
        [now],
    )?;
    Ok(())
}

/// Deliveries (and their attempts) of webhooks the restored rules do not have.
pub fn drop_orphan_deliveries(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "DELETE FROM main.webhook_attempts WHERE delivery_id IN
           (SELECT id FROM main.webhook_deliveries
             WHERE webhook_id NOT IN (SELECT id FROM main.webhooks));
         DELETE FROM main.webhook_deliveries
          WHERE webhook_id NOT IN (SELECT id FROM main.webhooks);",
    )
}

/// Sets to NULL the references from `child` into tables `parent_filter` picks that no
/// longer find their row (what ON DELETE SET NULL would have done).
pub fn clear_dangling(
    conn: &Connection,
    child: &str,
    parent_filter: impl Fn(&str) -> bool,
) -> rusqlite::Result<()> {
    let links: Vec<(String, String, Option<String>)> = conn
        .prepare(&format!("PRAGMA main.foreign_key_list(\"{child}\")"))?
        .query_map([], |r| Ok((r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (parent, from, to) in links {
        if !parent_filter(&parent) {
            continue;
        }
        let to = to.unwrap_or_else(|| "rowid".into());
        conn.execute(
            &format!(
                "UPDATE main.\"{child}\" SET \"{from}\" = NULL WHERE \"{from}\" IS NOT NULL \
                 AND \"{from}\" NOT IN (SELECT \"{to}\" FROM main.\"{parent}\")"
            ),
            [],
        )?;
    }
    Ok(())
}

/// The snapshot's meta rows, except those that belong to this box (`live_meta`). A
/// finished setup stays finished.
pub fn copy_meta(conn: &Connection, live_meta: &[&str]) -> rusqlite::Result<()> {
    let keep: Vec<String> = live_meta.iter().map(|k| format!("'{k}'")).collect();
    let keep = keep.join(", ");
    conn.execute(
        &format!("DELETE FROM main.meta WHERE key NOT IN ({keep}, 'setup_done')"),
        [],
    )?;
    conn.execute(
        &format!("INSERT OR REPLACE INTO main.meta (key, value) SELECT key, value FROM snap.meta WHERE key NOT IN ({keep})"),
        [],
    )?;
    Ok(())
}
