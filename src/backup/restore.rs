//! Restoring a backup: check the file completely, migrate an older snapshot to the
//! current schema, take a safety backup, then replace the data in ONE IMMEDIATE
//! transaction on the live database (all or nothing), and refresh every cache.
//!
//! What a restore does not bring back, on purpose:
//! - the audit log (`events`, and the strings its details share, `event_strings`): it records what happened, including the restore, and
//!   keeps growing; events of users absent from the backup lose their user link;
//! - webhook deliveries and their attempts: a backup's old deliveries are never sent
//!   again (a stale "allow this IP" must not fire); those of a webhook the restored
//!   rules no longer have are dropped, the rest stay queued;
//! - meta rows that belong to this box rather than to the data: the DATA_KEY canary,
//!   the first-run setup code and unlock, the backup schedule state; and a finished
//!   setup is never reopened by restoring an older backup.
//!
//! Restoring everything signs everyone out and revokes every OAuth token: sessions,
//! tokens and trusted addresses are never brought back from a backup, since one ended
//! after it was taken (a stolen cookie, a withdrawn user) must stay ended. Restoring is
//! as powerful as being an admin (the backup's admins come back), so it takes
//! backups.write, which the default roles give only to admins.

use std::fs;
use std::io::{BufWriter, Read};

use rusqlite::Connection;
use serde::Serialize;

use super::format::{self, Header};
use super::{Kind, TempDb};
use crate::app::App;
use crate::db::{self, migrate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every table but the audit log.
    All,
    /// The settings sections, their history, the uploaded branding files and the
    /// webhook rules.
    Settings,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "all" => Some(Scope::All),
            "settings" => Some(Scope::Settings),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Settings => "settings",
        }
    }
}

const SETTINGS_TABLES: &[&str] = &["settings", "settings_history", "branding_files", "webhooks"];
/// Never replaced by a restore (see the module doc).
const LIVE_TABLES: &[&str] = &[
    "events",
    "event_strings",
    "webhook_deliveries",
    "webhook_attempts",
];
/// Meta rows that stay as they are on this box.
const LIVE_META: &[&str] = &[
    "data_key_check",
    "setup_code",
    "setup_unlock",
    super::schedule::STATE_KEY,
];

#[derive(Debug, Serialize)]
pub struct Report {
    pub scope: &'static str,
    pub created_at: i64,
    pub created_by: String,
    /// The schema version of the backup, when it was migrated to the current one.
    pub migrated_from: Option<i64>,
    /// The safety backup of what was there before.
    pub safety_backup: String,
    pub tables: Vec<String>,
}

/// A backup file that opened, checked out, and sits decrypted in a temp file.
pub struct Checked {
    pub header: Header,
    pub schema_version: i64,
    tmp: TempDb,
}

/// Every check a restore makes before touching anything: the whole file's seal (key,
/// tampering, truncation, chunk order, format) while the snapshot is rebuilt in a temp
/// file a chunk at a time, then the snapshot itself (a SQLite database that passes
/// integrity_check, with a schema this release can read).
pub fn check(app: &App, file: impl Read) -> Result<Checked, String> {
    let dir = super::ensure_dir(app)?;
    let tmp = TempDb::create(&dir)?;
    let out = fs::OpenOptions::new()
        .write(true)
        .open(&tmp.0)
        .map_err(|e| format!("cannot write a temporary file: {e}"))?;
    let header =
        format::unseal_to(&app.sealer, file, BufWriter::new(out)).map_err(|e| e.to_string())?;
    let schema_version = crate::db::backup::check_snapshot(&tmp.0)?;
    if schema_version > migrate::CURRENT {
        return Err(format!(
            "this backup comes from a newer authportal (schema version {schema_version}; this release knows up to {}): upgrade authportal first, then restore",
            migrate::CURRENT
        ));
    }
    Ok(Checked {
        header,
        schema_version,
        tmp,
    })
}

/// Restores `file` (a backup, read as a stream). `by` names who asked, for the safety
/// backup.
pub fn restore(app: &App, file: impl Read, scope: Scope, by: &str) -> Result<Report, String> {
    let checked = check(app, file)?;
    let migrated_from =
        (checked.schema_version < migrate::CURRENT).then_some(checked.schema_version);
    if migrated_from.is_some() {
        let mut conn = Connection::open(&checked.tmp.0).map_err(|e| e.to_string())?;
        migrate::run(&mut conn).map_err(|e| format!("the backup could not be migrated: {e}"))?;
    }
    // The safety backup is taken once the write lock is held, so nothing written
    // meanwhile can fall between it and the restored data.
    let (tables, safety) = replace(app, &checked.tmp, scope, || {
        super::create(app, by, Kind::Safety)
            .map_err(|e| format!("no safety backup could be taken, so nothing was restored: {e}"))
    })?;
    if let Err(e) = super::prune_safety(app) {
        crate::log_warn!("backups: old safety backups could not be removed: {e}");
    }
    refresh(app);
    crate::log_info!(
        "backups: {by} restored {} from a backup taken {} by {}{}; the data from before is in {}",
        if scope == Scope::All {
            "everything"
        } else {
            "the settings"
        },
        checked.header.created_at_utc,
        checked.header.created_by,
        migrated_from
            .map(|v| format!(" (migrated from schema version {v})"))
            .unwrap_or_default(),
        safety.name
    );
    Ok(Report {
        scope: scope.as_str(),
        created_at: checked.header.created_at,
        created_by: checked.header.created_by,
        migrated_from,
        safety_backup: safety.name,
        tables,
    })
}

/// Everything kept in memory that a restore can make stale.
fn refresh(app: &App) {
    app.settings_changed();
    app.access_cache.clear();
    // The signing keys reload on their next use: replace() gave them a new version.
}

/// A connection of its own (not from the pool), so the ATTACH and the foreign-key
/// switch never leak into request handling.
fn open_live(app: &App) -> Result<Connection, String> {
    let conn = Connection::open(app.config.data_dir.join(crate::datadir::DB_FILE))
        .map_err(|e| format!("cannot open the database: {e}"))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Replaces the tables of `scope` with the snapshot's, in one IMMEDIATE transaction;
/// `safety` runs once the write lock is held, before anything changes.
fn replace<S>(
    app: &App,
    snap: &TempDb,
    scope: Scope,
    safety: impl FnOnce() -> Result<S, String>,
) -> Result<(Vec<String>, S), String> {
    let conn = open_live(app)?;
    // Off for the swap (deletes must not cascade into the audit log; rows go in in any
    // order); foreign_key_check below proves the result consistent before COMMIT.
    db::restore::attach(&conn, snap.path_str()?)
        .map_err(|e| format!("cannot open the backup's database: {e}"))?;
    db::restore::begin(&conn).map_err(|e| format!("the database is busy, try again: {e}"))?;
    let result = safety().and_then(|s| Ok((swap(&conn, scope, app.clock.now())?, s)));
    let done = match result {
        Ok(done) => db::restore::commit(&conn)
            .map(|_| done)
            .map_err(|e| format!("the restore could not be committed: {e}")),
        Err(e) => Err(e),
    };
    if done.is_err() {
        db::restore::rollback(&conn);
    }
    db::restore::detach(&conn);
    done
}

fn swap(conn: &Connection, scope: Scope, now: i64) -> Result<Vec<String>, String> {
    let sql = |e: rusqlite::Error| format!("restoring failed, nothing was changed: {e}");
    let live = db::restore::table_names(conn, "main").map_err(sql)?;
    let saved = db::restore::table_names(conn, "snap").map_err(sql)?;
    let wanted: Vec<String> = live
        .into_iter()
        .filter(|t| match scope {
            Scope::All => !LIVE_TABLES.contains(&t.as_str()),
            Scope::Settings => SETTINGS_TABLES.contains(&t.as_str()),
        })
        .collect();
    for table in &wanted {
        if !saved.contains(table) {
            return Err(format!(
                "the backup has no table {table}; nothing was restored"
            ));
        }
        if table == "meta" {
            db::restore::copy_meta(conn, LIVE_META).map_err(sql)?;
            continue;
        }
        db::restore::replace_table(conn, table).map_err(sql)?;
    }
    db::restore::drop_orphan_deliveries(conn).map_err(sql)?;
    if scope == Scope::All {
        db::restore::end_sign_ins(conn, now).map_err(sql)?;
        // Audit entries keep their user only when that user exists after the restore,
        // and restored rows keep a link into the audit log only when it is still there.
        for live in LIVE_TABLES {
            db::restore::clear_dangling(conn, live, |parent| wanted.iter().any(|w| w == parent))
                .map_err(sql)?;
        }
        for table in &wanted {
            db::restore::clear_dangling(conn, table, |parent| LIVE_TABLES.contains(&parent))
                .map_err(sql)?;
        }
        // The running servers' key rings reload when this changes.
        // Without an active signing key the portal could not sign ID tokens afterwards.
        let active = db::restore::active_signing_keys(conn).map_err(sql)?;
        if active == 0 {
            return Err("the backup holds no active signing key; nothing was restored".into());
        }
        let version = crate::crypto::b64url(&crate::crypto::random_bytes::<8>());
        crate::db::meta::set(conn, crate::oidc::keys::VERSION_KEY, &version)
            .map_err(|e| e.to_string())?;
    }
    let broken = db::restore::first_broken_reference(conn).map_err(sql)?;
    if let Some(table) = broken {
        return Err(format!(
            "the restored data would be inconsistent (table {table} points at missing rows); nothing was restored"
        ));
    }
    Ok(wanted)
}
