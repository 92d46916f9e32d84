//! Server-side sessions, keyed by the SHA-256 digest of the id the cookie carries.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

pub struct NewSession<'a> {
    pub digest: &'a [u8],
    pub user_id: i64,
    pub identity_id: i64,
    pub amr: &'a [&'a str],
    pub auth_time: i64,
    /// When this session last passed a second factor.
    pub mfa_at: Option<i64>,
    pub expires_at: i64,
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
}

/// A live session with the user and identity it belongs to.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user_id: i64,
    pub uuid: String,
    pub username: String,
    pub email: Option<String>,
    pub provider: String,
    /// The user's groups (users::groups: identities with access plus assigned groups).
    pub groups: Vec<String>,
    pub authorized: bool,
    pub amr: Vec<String>,
    /// The session's public id (the OpenID Connect `sid` claim).
    pub sid: String,
    /// Groups an admin assigned (read in the same query: one read per request).
    pub assigned_groups: Vec<String>,
    pub identity_id: i64,
    pub auth_time: i64,
    pub mfa_at: Option<i64>,
    pub expires_at: i64,
}

pub fn create(conn: &Connection, s: &NewSession, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO sessions (id_digest, user_id, identity_id, amr_json, auth_time, mfa_at, created_at, expires_at, ip, user_agent, sid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?10, ?6, ?7, ?8, ?9, ?11)",
        params![
            s.digest,
            s.user_id,
            s.identity_id,
            serde_json::to_string(s.amr).expect("strings serialize"),
            s.auth_time,
            now,
            s.expires_at,
            s.ip,
            s.user_agent,
            s.mfa_at,
            crate::crypto::b64url(&crate::crypto::random_bytes::<16>())
        ],
    )?;
    Ok(())
}

/// The session, its user and identity, and the user's groups, in one indexed read
/// (every forward-auth request makes it). The groups follow users::groups: the assigned
/// ones plus those of the identities with access (each identity's JSON array, joined
/// by U+001F, which JSON text never holds raw).
pub fn load(conn: &Connection, digest: &[u8], now: i64) -> Result<Option<SessionRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.uuid, u.username, u.email, i.provider, i.authorized,
                s.amr_json, s.auth_time, s.expires_at, s.mfa_at, s.sid,
                (SELECT group_concat(g.name, char(31)) FROM user_groups g WHERE g.user_id = u.id),
                i.id,
                (SELECT group_concat(a.groups_json, char(31)) FROM identities a
                 WHERE a.user_id = u.id AND a.authorized = 1)
         FROM sessions s
         JOIN users u ON u.id = s.user_id
         JOIN identities i ON i.id = s.identity_id
         WHERE s.id_digest = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL",
    )?;
    let row = stmt
        .query_row(params![digest, now], |r| {
            let amr: String = r.get(6)?;
            let assigned_groups: Vec<String> = r
                .get_ref(11)?
                .as_str_or_null()?
                .map(|g| g.split('\u{1f}').map(str::to_string).collect())
                .unwrap_or_default();
            let provider_groups = r.get_ref(13)?.as_str_or_null()?.unwrap_or_default();
            Ok(SessionRow {
                user_id: r.get(0)?,
                uuid: r.get(1)?,
                username: r.get(2)?,
                email: r.get(3)?,
                provider: r.get(4)?,
                groups: crate::db::users::merge_groups(
                    assigned_groups.clone(),
                    provider_groups.split('\u{1f}').filter(|g| !g.is_empty()),
                ),
                authorized: r.get(5)?,
                // Written only by this module as a JSON array of strings; an unreadable
                // value counts as empty (fail closed).
                amr: serde_json::from_str(&amr).unwrap_or_default(),
                auth_time: r.get(7)?,
                expires_at: r.get(8)?,
                mfa_at: r.get(9)?,
                sid: r.get(10)?,
                assigned_groups,
                identity_id: r.get(12)?,
            })
        })
        .optional()?;
    Ok(row)
}

/// The session just proved a second factor again (e.g. a code typed to change MFA).
pub fn touch_mfa(conn: &Connection, digest: &[u8], now: i64) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET mfa_at = ?2 WHERE id_digest = ?1",
        params![digest, now],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, digest: &[u8]) -> Result<bool> {
    Ok(conn.execute("DELETE FROM sessions WHERE id_digest = ?1", [digest])? > 0)
}

/// Deletes up to `limit` expired sessions (one short write; the janitor repeats it).
pub fn sweep(conn: &Connection, now: i64, limit: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE id_digest IN
             (SELECT id_digest FROM sessions WHERE expires_at <= ?1 LIMIT ?2)",
        [now, limit],
    )?)
}

pub fn count_for_user(conn: &Connection, user_id: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM sessions WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?)
}

/// A session as the console lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionInfo {
    pub sid: String,
    pub provider: String,
    pub amr: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub fn of_user(conn: &Connection, user_id: i64, now: i64) -> Result<Vec<SessionInfo>> {
    let mut stmt = conn.prepare(
        "SELECT s.sid, i.provider, s.amr_json, s.created_at, s.expires_at, s.ip, s.user_agent
         FROM sessions s JOIN identities i ON i.id = s.identity_id
         WHERE s.user_id = ?1 AND s.expires_at > ?2 ORDER BY s.created_at DESC",
    )?;
    let rows = stmt.query_map(params![user_id, now], |r| {
        let amr: String = r.get(2)?;
        Ok(SessionInfo {
            sid: r.get(0)?,
            provider: r.get(1)?,
            amr: serde_json::from_str(&amr).unwrap_or_default(),
            created_at: r.get(3)?,
            expires_at: r.get(4)?,
            ip: r.get(5)?,
            user_agent: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A live session as the console's sessions page lists it, with its user.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub uuid: String,
    pub username: String,
    pub info: SessionInfo,
    /// The latest time the session is known to have been used: it started, or passed
    /// a second factor (there is no per-request write: forward-auth stays read-only).
    pub last_seen: i64,
}

/// Every live session, newest first, at most `limit`.
pub fn live(conn: &Connection, now: i64, limit: i64) -> Result<Vec<LiveSession>> {
    let mut stmt = conn.prepare(
        "SELECT s.sid, i.provider, s.amr_json, s.created_at, s.expires_at, s.ip, s.user_agent,
                u.uuid, u.username, max(s.created_at, coalesce(s.mfa_at, 0))
         FROM sessions s JOIN identities i ON i.id = s.identity_id JOIN users u ON u.id = s.user_id
         WHERE s.expires_at > ?1 ORDER BY s.created_at DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit], |r| {
        let amr: String = r.get(2)?;
        Ok(LiveSession {
            info: SessionInfo {
                sid: r.get(0)?,
                provider: r.get(1)?,
                amr: serde_json::from_str(&amr).unwrap_or_default(),
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
                ip: r.get(5)?,
                user_agent: r.get(6)?,
            },
            uuid: r.get(7)?,
            username: r.get(8)?,
            last_seen: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// When one of the user's sessions was last known to be used (see [`LiveSession`]).
pub fn last_seen_of_user(conn: &Connection, user_id: i64) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT sid, max(created_at, coalesce(mfa_at, 0)) FROM sessions WHERE user_id = ?1",
    )?;
    let rows = stmt.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Ends one of this user's sessions by its public id; false when the user has no such
/// session (someone else's id included).
pub fn delete_own(conn: &Connection, user_id: i64, sid: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE sid = ?1 AND user_id = ?2",
        params![sid, user_id],
    )? > 0)
}

/// Ends one session by its public id; returns its user.
pub fn delete_by_sid(conn: &Connection, sid: &str) -> Result<Option<i64>> {
    let user: Option<i64> = conn
        .query_row("SELECT user_id FROM sessions WHERE sid = ?1", [sid], |r| {
            r.get(0)
        })
        .optional()?;
    conn.execute("DELETE FROM sessions WHERE sid = ?1", [sid])?;
    Ok(user)
}

/// Ends every session of a user; returns their public ids.
pub fn delete_of_user(conn: &Connection, user_id: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT sid FROM sessions WHERE user_id = ?1")?;
    let sids: Vec<String> = stmt
        .query_map([user_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
    Ok(sids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Identity, ProviderKind};

    /// A database with one user holding `expired` expired sessions and one live one.
    fn with_sessions(expired: usize) -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        let ident = Identity {
            provider: ProviderKind::Plex,
            provider_user_id: "1".into(),
            username: "ann".into(),
            email: None,
            groups: vec![],
            token: String::new(),
            avatar: None,
            method: crate::providers::FirstFactor::Password,
        };
        let linked = crate::db::users::record_sign_in(&c, &ident, None, 0).unwrap();
        for i in 0..=expired {
            let digest = (i as u64).to_be_bytes();
            let s = NewSession {
                digest: &digest,
                user_id: linked.user_id,
                identity_id: linked.identity_id,
                amr: &["pwd"],
                auth_time: 0,
                mfa_at: None,
                expires_at: if i == expired { 1_000 } else { 10 },
                ip: "10.0.0.1",
                user_agent: None,
            };
            create(&c, &s, 0).unwrap();
        }
        c
    }

    #[test]
    fn a_session_read_gives_the_groups_users_groups_gives() {
        let c = with_sessions(0);
        let digest = 0u64.to_be_bytes();
        let user_id = load(&c, &digest, 100).unwrap().unwrap().user_id;
        crate::db::users::add_group(&c, user_id, "zeta", 0).unwrap();
        crate::db::users::add_group(&c, user_id, "admins", 0).unwrap();
        // Another identity with access, one without (its groups do not count), one whose
        // groups cannot be read (none count), and a group given twice.
        for (n, groups, authorized) in [
            (2, r#"["jellyfin-user","admins"]"#, 1),
            (3, r#"["emby-admin"]"#, 0),
            (4, "not json", 1),
        ] {
            c.execute(
                "INSERT INTO identities (user_id, provider, provider_user_id, username,
                     groups_json, authorized, created_at, last_login_at)
                 VALUES (?1, 'jellyfin', ?2, 'ann', ?3, ?4, 0, 0)",
                params![user_id, n.to_string(), groups, authorized],
            )
            .unwrap();
        }
        let row = load(&c, &digest, 100).unwrap().unwrap();
        assert_eq!(row.groups, crate::db::users::groups(&c, user_id).unwrap());
        assert_eq!(row.groups, ["admins", "jellyfin-user", "zeta"]);
        let mut assigned = row.assigned_groups.clone();
        assigned.sort();
        assert_eq!(assigned, ["admins", "zeta"]);
    }

    #[test]
    fn a_sweep_deletes_at_most_one_batch_of_expired_sessions() {
        let c = with_sessions(2_500);
        assert_eq!(sweep(&c, 100, 1_000).unwrap(), 1_000);
        assert_eq!(sweep(&c, 100, 1_000).unwrap(), 1_000);
        assert_eq!(sweep(&c, 100, 1_000).unwrap(), 500);
        assert_eq!(sweep(&c, 100, 1_000).unwrap(), 0);
        let live: i64 = c
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(live, 1, "the live session stays");
    }
}
