//! The SQLite store: a small connection pool, pragmas, and `with_tx`. SQL lives only in db/.

pub mod backup;
pub mod counts;
pub mod devices;
pub mod events;
pub mod flows;
pub mod holders;
pub mod ldap;
pub mod meta;
pub mod mfa;
pub(crate) mod migrate;
pub mod oauth;
pub mod restore;
pub mod revalidation;
pub mod sessions;
pub mod settings;
pub mod signin_ips;
pub mod users;
pub mod webhooks;

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{AppError, Result};

/// Idle connections kept for reuse (as many as requests handled at once by default);
/// more are opened on demand under load.
const MAX_IDLE: usize = 16;

pub struct Db {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Transactions this process committed (see [`Db::commits`]).
    commits: Arc<AtomicU64>,
}

/// Pages in the write-ahead log past which a commit checkpoints it: SQLite's own
/// default, which the commit counter's WAL hook takes over from.
const WAL_AUTOCHECKPOINT_PAGES: i32 = 1000;

/// A pooled connection; returns to the pool when dropped.
pub struct Conn<'a> {
    conn: Option<Connection>,
    db: &'a Db,
}

impl Deref for Conn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut idle = self.db.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(c);
            }
        }
    }
}

/// Creates the file owner-only before SQLite does; its -wal and -shm files inherit the mode.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Present while a server has the database open: written at start, removed by a clean
/// shutdown. Found at open, it means the last run ended without one (killed, power lost).
fn running_marker(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".running");
    path.with_file_name(name)
}

/// SQLite's quick_check (structure, not index contents; time linear in the file: 0.38 s
/// at 300 MB): a damaged file is refused at start-up rather than failing requests later.
fn check_intact(conn: &Connection) -> std::result::Result<(), String> {
    let mut stmt = conn
        .prepare("PRAGMA quick_check(3)")
        .map_err(|e| e.to_string())?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| e.to_string())?;
    match problems.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        _ => Err(problems.join("; ")),
    }
}

/// What to do about a database SQLite cannot read, for the owner reading the log.
fn damaged(path: &Path, problem: &str) -> String {
    let dir = path.parent().unwrap_or(Path::new("."));
    format!(
        "the database {} is damaged or not a portal database ({problem}). \
         Stop the portal, move the file (and its -wal and -shm files) aside, and restore \
         the latest backup with `authportal restore FILE` (backups are kept in {}, unless \
         BACKUP_DIR says otherwise), then start the portal again",
        path.display(),
        dir.join("backups").display()
    )
}

impl Db {
    /// Opens (creating if needed) and migrates the database; checks the whole file first
    /// when the last run did not shut down cleanly (a clean start does not read it all).
    pub fn open(path: &Path) -> std::result::Result<Db, String> {
        create_private(path)
            .map_err(|e| format!("cannot create database {}: {e}", path.display()))?;
        let db = Db {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            commits: Arc::new(AtomicU64::new(0)),
        };
        let mut conn = db.connect().map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                damaged(path, &e.to_string())
            }
            _ => format!("cannot open database {}: {e}", path.display()),
        })?;
        if running_marker(path).exists() {
            crate::log_info!("the last run did not shut down cleanly: checking the database");
            check_intact(&conn).map_err(|problem| damaged(path, &problem))?;
        }
        migrate::run(&mut conn)?;
        db.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        Ok(db)
    }

    /// Checks the whole file now (`authportal check --db`).
    pub fn check(&self) -> std::result::Result<(), String> {
        let conn = self.conn().map_err(|e| e.to_string())?;
        check_intact(&conn).map_err(|problem| damaged(&self.path, &problem))
    }

    /// A server now has the database open: until `mark_stopped`, the next open checks it.
    pub fn mark_running(&self) -> std::result::Result<(), String> {
        let marker = running_marker(&self.path);
        create_private(&marker).map_err(|e| format!("cannot write {}: {e}", marker.display()))
    }

    /// The server stopped cleanly: the next start need not read the whole file.
    pub fn mark_stopped(&self) {
        match std::fs::remove_file(running_marker(&self.path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                crate::log_warn!("cannot remove the running marker: {e}")
            }
            _ => {}
        }
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let mut conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // Keep one plan per cached statement: the bundled SQLite (STAT4) otherwise
        // re-prepares range queries such as the session lookup on every new bound value,
        // under a global lock (measured: 35-46% of server CPU, /auth/verify 7-13k -> 60-70k req/s).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;",
        )?;
        self.count_commits(&mut conn)?;
        Ok(conn)
    }

    /// Counts every transaction this connection commits, after it is durable and visible
    /// to readers. SQLite calls the WAL hook then; it replaces the automatic checkpoint,
    /// which this hook therefore does itself, as SQLite would.
    fn count_commits(&self, conn: &mut Connection) -> rusqlite::Result<()> {
        let commits = Arc::clone(&self.commits);
        conn.wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages| {
            commits.fetch_add(1, Ordering::SeqCst);
            if pages >= WAL_AUTOCHECKPOINT_PAGES {
                // Passive, like SQLite's own: a busy reader only postpones it.
                let _ = wal.checkpoint();
            }
            Ok(())
        }))
    }

    /// A number that changes after every transaction committed by this process, so a
    /// value read from the store after it was taken is as new as the store was then.
    /// Caches tag what they read with it (access_cache's sessions). Writes by another
    /// process (the recovery CLI) do not change it.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    pub fn conn(&self) -> Result<Conn<'_>> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        Ok(Conn {
            conn: Some(conn),
            db: self,
        })
    }

    /// Runs `f` in an IMMEDIATE transaction (the write lock is taken up front, so
    /// read-then-write flows cannot interleave) and commits only when it returns Ok.
    pub fn with_tx<T>(&self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        let c = conn.conn.as_mut().expect("connection present");
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit().map_err(AppError::from)?;
        Ok(out)
    }

    /// Cheap liveness query for /readyz.
    pub fn ping(&self) -> Result<()> {
        let conn = self.conn()?;
        conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database file in a directory of its own, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "authportal-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
        fn db(&self) -> PathBuf {
            self.0.join("t.db")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn every_commit_changes_the_count_and_nothing_else_does() {
        let dir = Scratch::new("commits");
        let db = Db::open(&dir.db()).unwrap();
        let start = db.commits();
        let read = |db: &Db| -> i64 {
            db.conn()
                .unwrap()
                .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
                .unwrap()
        };
        read(&db);
        assert_eq!(db.commits(), start, "a read commits nothing");
        db.with_tx(|tx| Ok(tx.execute("CREATE TABLE t (x)", [])?))
            .unwrap();
        let after_tx = db.commits();
        assert!(after_tx > start, "a transaction");
        db.conn()
            .unwrap()
            .execute("INSERT INTO t VALUES (1)", [])
            .unwrap();
        let after_statement = db.commits();
        assert!(after_statement > after_tx, "a statement on its own");
        let refused = db.with_tx(|tx| {
            tx.execute("INSERT INTO t VALUES (2)", [])?;
            Err::<(), _>(AppError::bad_request("changed my mind"))
        });
        assert!(refused.is_err());
        assert_eq!(db.commits(), after_statement, "rolled back");
    }

    /// The commit counter's WAL hook replaces SQLite's automatic checkpoint: it must do
    /// that job too, or the log grows with every commit (here > 12 MB).
    #[test]
    fn the_write_ahead_log_is_still_checkpointed() {
        let dir = Scratch::new("wal");
        let db = Db::open(&dir.db()).unwrap();
        db.with_tx(|tx| Ok(tx.execute("CREATE TABLE t (x)", [])?))
            .unwrap();
        let conn = db.conn().unwrap();
        for i in 0..3000 {
            conn.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
        }
        let wal = std::fs::metadata(dir.0.join("t.db-wal")).unwrap().len();
        assert!(wal < 8 << 20, "the log holds {wal} bytes");
    }
}
