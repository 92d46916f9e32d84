//! Backups: sealed snapshots of the whole database in BACKUP_DIR (default
//! `<data dir>/backups`): create, list, read, delete, retention. The file format is in
//! format.rs, restoring in restore.rs, the schedule in schedule.rs, settings export and
//! import in config_io.rs.
//!
//! Files are named `<prefix>-<UTC time>-<random>.apbak`, so two backups in one second
//! never collide and names sort by time. The prefix says where a file came from:
//! `authportal-` (made here, by hand or by the schedule: retention prunes these),
//! `safety-` (taken just before a restore: the newest SAFETY_KEEP are kept),
//! `uploaded-` (stored from the console: never pruned, the owner deletes them).

pub mod config_io;
pub mod format;
pub mod restore;
pub mod schedule;

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::app::App;
use crate::crypto::random_bytes;
use format::Header;

pub const EXTENSION: &str = "apbak";
/// Safety backups kept (the newest); older ones are removed after each restore.
pub const SAFETY_KEEP: usize = 5;

/// Where a backup came from; decides its file name prefix and whether retention applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Manual,
    Scheduled,
    Safety,
    Uploaded,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Manual | Kind::Scheduled => "authportal",
            Kind::Safety => "safety",
            Kind::Uploaded => "uploaded",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Manual => "manual",
            Kind::Scheduled => "scheduled",
            Kind::Safety => "safety",
            Kind::Uploaded => "uploaded",
        }
    }
}

/// A backup file as the list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub name: String,
    /// File size in bytes.
    pub size: u64,
    pub kind: String,
    pub created_at: Option<i64>,
    pub created_by: Option<String>,
    pub schema_version: Option<i64>,
    pub portal_version: Option<String>,
    /// Why the header cannot be read, for a damaged or foreign file.
    pub error: Option<String>,
}

/// BACKUP_DIR, or `<data dir>/backups`.
pub fn dir(app: &App) -> PathBuf {
    app.config
        .backup_dir
        .clone()
        .unwrap_or_else(|| app.config.data_dir.join("backups"))
}

/// The backup directory, created owner-only if missing.
fn ensure_dir(app: &App) -> Result<PathBuf, String> {
    let dir = dir(app);
    if !dir.is_dir() {
        fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the backup directory {}: {e}", dir.display()))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))?;
    }
    Ok(dir)
}

/// Temp files older than this are leftovers of a crash (a backup takes seconds).
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes what a crash in the middle of a backup or restore left behind: partly written
/// files and, more importantly, plaintext snapshots (`.snapshot-*`).
fn sweep_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let ours =
            name.starts_with(".snapshot-") || (name.starts_with('.') && name.ends_with(".tmp"));
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > LEFTOVER_AGE);
        if ours && old {
            match fs::remove_file(e.path()) {
                Ok(()) => crate::log_warn!(
                    "backups: removed {name}, left over from an interrupted backup or restore"
                ),
                Err(err) => crate::log_warn!("backups: cannot remove leftover {name}: {err}"),
            }
        }
    }
}

/// A name for a new file: prefix, UTC time to the second, 8 random characters.
fn new_name(kind: Kind, now: i64) -> String {
    let time = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ");
    let suffix: String = random_bytes::<8>()
        .iter()
        .map(|b| b"abcdefghijklmnopqrstuvwxyz234567"[(b & 31) as usize] as char)
        .collect();
    format!("{}-{time}-{suffix}.{EXTENSION}", kind.prefix())
}

/// When the newest backup this portal took (manual, scheduled or safety) was written,
/// from the file names alone: cheap enough for every /metrics scrape.
pub fn newest_taken(app: &App) -> Option<i64> {
    fs::read_dir(dir(app))
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| valid_name(n) && !n.starts_with("uploaded-"))
        .filter_map(|n| {
            let time = n.split('-').nth(1)?;
            chrono::NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%SZ").ok()
        })
        .map(|t| t.and_utc().timestamp())
        .max()
}

/// Whether `name` is one this module writes (and so safe to join to the directory):
/// `<prefix>-YYYYMMDDTHHMMSSZ-<8 of a-z2-7>.apbak`, nothing else.
pub fn valid_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(&format!(".{EXTENSION}")) else {
        return false;
    };
    let Some((prefix, rest)) = stem.split_once('-') else {
        return false;
    };
    let Some((time, suffix)) = rest.split_once('-') else {
        return false;
    };
    let time_ok = time.len() == 16
        && time.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    matches!(prefix, "authportal" | "safety" | "uploaded")
        && time_ok
        && suffix.len() == 8
        && suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

fn kind_of(name: &str) -> &'static str {
    match name.split('-').next() {
        Some("safety") => "safety",
        Some("uploaded") => "uploaded",
        _ => "backup",
    }
}

/// Writes a new owner-only file under a temp name (`fill` writes its content), then
/// renames it: a file with the final name is always whole.
fn write_new(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> Result<(), String> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        fill(&mut f)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        // The rename itself reaches the disk with the directory.
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write backup {name}: {e}")
    })
}

/// A plaintext database file next to the backups, removed (with any journal) on drop.
pub(crate) struct TempDb(pub PathBuf);

impl TempDb {
    /// An empty owner-only file (VACUUM INTO writes into an empty file).
    fn create(dir: &Path) -> Result<TempDb, String> {
        let path = dir.join(format!(
            ".snapshot-{}.db",
            crate::crypto::hex(&random_bytes::<8>())
        ));
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;
        Ok(TempDb(path))
    }

    fn path_str(&self) -> Result<&str, String> {
        self.0
            .to_str()
            .ok_or_else(|| "the backup directory path is not UTF-8".to_string())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = fs::remove_file(p);
        }
    }
}

/// A consistent copy of the live database in a temp file.
fn snapshot(app: &App, dir: &Path) -> Result<TempDb, String> {
    let tmp = TempDb::create(dir)?;
    let conn = app.db.conn().map_err(|e| e.to_string())?;
    crate::db::backup::snapshot_into(&conn, &tmp.0)?;
    Ok(tmp)
}

/// Size and SHA-256 (hex) of a file, read in small pieces.
fn digest_file(path: &Path) -> std::io::Result<(u64, String)> {
    use sha2::Digest;
    let mut file = fs::File::open(path)?;
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((size, crate::crypto::hex(&hash.finalize())));
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
}

/// Takes a backup now. `by`: the admin's username, "cli" or "schedule". The snapshot
/// streams from its temp file through compression and sealing into the backup file, so
/// memory stays a chunk's worth whatever the size of the database.
pub fn create(app: &App, by: &str, kind: Kind) -> Result<Info, String> {
    let dir = ensure_dir(app)?;
    sweep_leftovers(&dir);
    let now = app.clock.now();
    let snap = snapshot(app, &dir)?;
    let contents = crate::db::backup::describe(&snap.0)?;
    let (size, sha256) =
        digest_file(&snap.0).map_err(|e| format!("cannot read the snapshot: {e}"))?;
    let header = Header {
        created_at: now,
        created_at_utc: chrono::DateTime::from_timestamp(now, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        created_by: by.to_string(),
        kind: kind.label().to_string(),
        portal_version: env!("CARGO_PKG_VERSION").to_string(),
        schema_version: contents.schema_version,
        tables: contents.tables,
        sections: contents.sections,
        size,
        sha256,
        ..Header::default()
    };
    let name = new_name(kind, now);
    write_new(&dir, &name, |f| {
        let source = fs::File::open(&snap.0)?;
        format::seal_to(&app.sealer, header, source, BufWriter::new(f))?
            .into_inner()
            .map_err(|e| e.into_error())?;
        Ok(())
    })?;
    drop(snap);
    let info = info(&dir, &name)?;
    crate::log_info!(
        "backups: {} backup {name} written for {by} ({} bytes)",
        kind.label(),
        info.size
    );
    Ok(info)
}

/// Stores a backup file (already checked by the caller) under an `uploaded-` name.
pub fn store_upload(app: &App, data: &[u8]) -> Result<Info, String> {
    let dir = ensure_dir(app)?;
    let name = new_name(Kind::Uploaded, app.clock.now());
    write_new(&dir, &name, |f| f.write_all(data))?;
    info(&dir, &name)
}

/// The header of one file, read from its first bytes only.
fn info(dir: &Path, name: &str) -> Result<Info, String> {
    let path = dir.join(name);
    let size = fs::metadata(&path)
        .map_err(|e| format!("cannot read {name}: {e}"))?
        .len();
    let mut start = Vec::new();
    fs::File::open(&path)
        .and_then(|f| f.take(256 * 1024).read_to_end(&mut start))
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    let mut out = Info {
        name: name.to_string(),
        size,
        kind: kind_of(name).to_string(),
        created_at: None,
        created_by: None,
        schema_version: None,
        portal_version: None,
        error: None,
    };
    match format::header(&start) {
        Ok(h) => {
            out.created_at = Some(h.created_at);
            out.created_by = Some(h.created_by);
            out.schema_version = Some(h.schema_version);
            out.portal_version = Some(h.portal_version);
            if h.kind == "scheduled" || h.kind == "manual" {
                out.kind = h.kind;
            }
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    Ok(out)
}

/// Every backup file in the directory, newest first (a missing directory is empty).
pub fn list(app: &App) -> Result<Vec<Info>, String> {
    let dir = dir(app);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    let mut found: Vec<(String, std::time::SystemTime)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let written = e.metadata().ok()?.modified().ok()?;
            valid_name(&name).then_some((name, written))
        })
        .collect();
    // Newest first by the time in the name (the prefix must not decide), then by when
    // the file was written: two backups in one second keep their order.
    found.sort_by(|(a, at), (b, bt)| {
        let time = |n: &str| n.split('-').nth(1).unwrap_or("").to_string();
        time(b).cmp(&time(a)).then(bt.cmp(at))
    });
    found.iter().map(|(n, _)| info(&dir, n)).collect()
}

/// The file opened for reading (streamed, never read whole), if `name` is a valid
/// backup name and exists.
pub fn open_file(app: &App, name: &str) -> Result<Option<fs::File>, String> {
    if !valid_name(name) {
        return Ok(None);
    }
    match fs::File::open(dir(app).join(name)) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {name}: {e}")),
    }
}

/// Removes a backup; false when there was none by that name.
pub fn delete(app: &App, name: &str) -> Result<bool, String> {
    if !valid_name(name) {
        return Ok(false);
    }
    match fs::remove_file(dir(app).join(name)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("cannot delete {name}: {e}")),
    }
}

/// Keeps the newest `keep` files with this prefix (0 = all); returns the names removed.
fn prune_prefix(app: &App, prefix: &str, keep: usize) -> Result<Vec<String>, String> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let mut removed = Vec::new();
    let ours: Vec<Info> = list(app)?
        .into_iter()
        .filter(|i| i.name.starts_with(&format!("{prefix}-")))
        .collect();
    for old in ours.iter().skip(keep) {
        if delete(app, &old.name)? {
            removed.push(old.name.clone());
        }
    }
    Ok(removed)
}

/// Retention after a successful backup: the newest `keep` manual and scheduled
/// backups stay (0 = all). Safety and uploaded files are not counted nor removed.
pub fn prune(app: &App, keep: u32) -> Result<Vec<String>, String> {
    prune_prefix(app, Kind::Manual.prefix(), keep as usize)
}

/// After a restore: the newest SAFETY_KEEP safety backups stay.
pub fn prune_safety(app: &App) -> Result<Vec<String>, String> {
    prune_prefix(app, Kind::Safety.prefix(), SAFETY_KEEP)
}

/// The retention setting in force (the `backups` settings section).
pub fn keep_setting(app: &App) -> u32 {
    app.db
        .conn()
        .ok()
        .and_then(|c| schedule::settings(&c).ok())
        .map_or(schedule::BackupSettings::default().keep, |s| s.keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_sortable_and_strictly_checked() {
        let a = new_name(Kind::Manual, 1_795_000_000);
        let b = new_name(Kind::Manual, 1_795_000_000);
        assert_ne!(a, b);
        assert!(valid_name(&a), "{a}");
        assert!(valid_name(&new_name(Kind::Safety, 0)));
        assert!(valid_name(&new_name(Kind::Uploaded, 0)));
        for bad in [
            "",
            "..",
            "../authportal.db",
            "authportal-20261123T163500Z-abcdefgh.apbak/../x",
            "authportal-20261123T163500Z-abcdefg.apbak",
            "authportal-20261123T163500Z-ABCDEFGH.apbak",
            "other-20261123T163500Z-abcdefgh.apbak",
            "authportal-2026112XT163500Z-abcdefgh.apbak",
            "authportal-20261123T163500Z-abcdefgh.db",
            "/etc/passwd",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name("authportal-20261123T163500Z-abcdefgh.apbak"));
    }
}
