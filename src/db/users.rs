//! Users, their linked provider identities, and the groups an admin assigned.

use rusqlite::{Connection, OptionalExtension, params};

use crate::crypto::tokens::new_uuid;
use crate::error::Result;
use crate::providers::Identity;

/// Where a sign-in landed: the portal user and the identity row it came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linked {
    pub user_id: i64,
    pub identity_id: i64,
}

/// Finds the identity by (provider, provider user id) and refreshes it, or creates a
/// new user for it. Never links by username: a same-named account of another provider
/// is a different person until an admin says otherwise.
///
/// Portal usernames are unique without case (apps such as Nextcloud and every
/// Remote-User consumer take `Alice` and `alice` for one account; the database's UNIQUE
/// index enforces it). A new user gets the provider's name if it is free, else a marked
/// one (`bob-plex`) that stays theirs. A rename at the provider follows only to a free
/// name; a name someone else holds is never taken over.
pub fn record_sign_in(
    conn: &Connection,
    ident: &Identity,
    token_sealed: Option<&str>,
    now: i64,
) -> Result<Linked> {
    let groups = serde_json::to_string(&ident.groups).expect("strings serialize");
    let existing: Option<(i64, i64, String)> = conn
        .query_row(
            "SELECT id, user_id, username FROM identities WHERE provider = ?1 AND provider_user_id = ?2",
            params![ident.provider.as_str(), ident.provider_user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let linked = match existing {
        Some((identity_id, user_id, known_as)) => {
            if known_as != ident.username {
                follow_rename(conn, user_id, &ident.username)?;
            }
            conn.execute(
                "UPDATE identities SET username = ?2, email = ?3, groups_json = ?4, authorized = 1,
                        token_sealed = ?5, last_login_at = ?6, avatar = ?7
                 WHERE id = ?1",
                params![
                    identity_id,
                    ident.username,
                    ident.email,
                    groups,
                    token_sealed,
                    now,
                    ident.avatar
                ],
            )?;
            Linked {
                user_id,
                identity_id,
            }
        }
        None => {
            let user_id = insert_user(conn, ident, now)?;
            conn.execute(
                "INSERT INTO identities (user_id, provider, provider_user_id, username, email, groups_json,
                                         authorized, token_sealed, created_at, last_login_at, avatar)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?8, ?9)",
                params![
                    user_id,
                    ident.provider.as_str(),
                    ident.provider_user_id,
                    ident.username,
                    ident.email,
                    groups,
                    token_sealed,
                    now,
                    ident.avatar
                ],
            )?;
            Linked {
                user_id,
                identity_id: conn.last_insert_rowid(),
            }
        }
    };
    conn.execute(
        "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
        params![linked.user_id, now],
    )?;
    Ok(linked)
}

/// Creates the user row under the first free name of `name_candidates`. The UNIQUE
/// index decides (a sign-in racing for the same name gets the next one), so the check
/// and the claim cannot come apart.
fn insert_user(conn: &Connection, ident: &Identity, now: i64) -> Result<i64> {
    let uuid = new_uuid();
    for name in name_candidates(&ident.username, ident.provider.as_str(), &uuid) {
        match conn.execute(
            "INSERT INTO users (uuid, username, email, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![uuid, name, ident.email, now],
        ) {
            Ok(_) => return Ok(conn.last_insert_rowid()),
            Err(e) if is_name_taken(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(crate::error::AppError::internal("no free username"))
}

/// The provider renamed the account: the portal name follows when no one else holds the
/// new name (a change of case only is always the person's own); otherwise it stays.
fn follow_rename(conn: &Connection, user_id: i64, new_name: &str) -> Result<()> {
    match conn.execute(
        "UPDATE users SET username = ?2 WHERE id = ?1 AND username <> ?2",
        params![user_id, new_name],
    ) {
        Ok(_) => Ok(()),
        Err(e) if is_name_taken(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The names a new user may get, in order: the provider's name, then the name marked
/// with the provider (`bob-plex`, `bob-plex-2`, ... `bob-plex-99`), and last one made
/// unique by the user's UUID.
pub fn name_candidates(name: &str, provider: &str, uuid: &str) -> Vec<String> {
    let mut out = vec![name.to_string(), format!("{name}-{provider}")];
    out.extend((2..100).map(|n| format!("{name}-{provider}-{n}")));
    out.push(format!("{name}-{provider}-{}", &uuid[..uuid.len().min(8)]));
    out
}

/// The users.username UNIQUE index refused a name.
fn is_name_taken(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, Some(msg))
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            && msg.contains("users.username"))
}

/// Migration to the unique index: users who share a name (without case) keep it in
/// order of age (created_at, then id): the oldest keeps the name, each later one gets
/// the first candidate that no user holds, marked with the provider of their first
/// identity. Deterministic, so every copy of a database migrates alike.
pub fn rename_duplicates(conn: &Connection) -> Result<usize> {
    let mut stmt = conn.prepare(
        "SELECT u.id, u.uuid, u.username,
                (SELECT provider FROM identities i WHERE i.user_id = u.id ORDER BY i.id LIMIT 1)
         FROM users u ORDER BY u.created_at, u.id",
    )?;
    let users: Vec<(i64, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // NOCASE folds ASCII letters only; the same fold here.
    let fold = |s: &str| s.to_ascii_lowercase();
    let mut taken: std::collections::HashSet<String> =
        users.iter().map(|(_, _, name, _)| fold(name)).collect();
    let mut kept = std::collections::HashSet::new();
    let mut renamed = 0;
    for (id, uuid, name, provider) in &users {
        if kept.insert(fold(name)) {
            continue;
        }
        let provider = provider.as_deref().unwrap_or("user");
        let Some(new_name) = name_candidates(name, provider, uuid)
            .into_iter()
            .find(|c| !taken.contains(&fold(c)))
        else {
            return Err(crate::error::AppError::internal("no free username"));
        };
        taken.insert(fold(&new_name));
        kept.insert(fold(&new_name));
        conn.execute(
            "UPDATE users SET username = ?2 WHERE id = ?1",
            params![id, new_name],
        )?;
        renamed += 1;
    }
    Ok(renamed)
}

pub fn add_group(conn: &Connection, user_id: i64, name: &str, now: i64) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO user_groups (user_id, name, created_at) VALUES (?1, ?2, ?3)",
        params![user_id, name, now],
    )?;
    Ok(())
}

pub fn assigned_groups(conn: &Connection, user_id: i64) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT name FROM user_groups WHERE user_id = ?1 ORDER BY name")?;
    let rows = stmt.query_map([user_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every group name some user was assigned, sorted, each once.
pub fn assigned_group_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT name FROM user_groups ORDER BY name")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The user's groups, by the one rule every check uses: the provider groups of the linked
/// identities that currently have access (`authorized`: the provider still vouches for
/// them) plus the groups an admin assigned; sorted, each once.
/// (sessions::load reads the same rows in its own query and merges them with
/// [`merge_groups`]; a test there checks both agree.)
pub fn groups(conn: &Connection, user_id: i64) -> Result<Vec<String>> {
    let assigned = assigned_groups(conn, user_id)?;
    let mut stmt = conn.prepare_cached(
        "SELECT groups_json FROM identities WHERE user_id = ?1 AND authorized = 1",
    )?;
    let rows = stmt
        .query_map([user_id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(merge_groups(assigned, rows.iter().map(String::as_str)))
}

/// The assigned groups and the `groups_json` of each authorized identity, as
/// [`groups`] returns them: sorted, each once.
pub fn merge_groups<'a>(
    assigned: Vec<String>,
    identity_groups_json: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let mut out = assigned;
    for g in identity_groups_json {
        out.extend(provider_groups(g));
    }
    out.sort();
    out.dedup();
    out
}

/// An identity's `groups_json`: written only by this module as a JSON array of strings;
/// an unreadable value counts as no groups (fail closed).
fn provider_groups(json: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(json).unwrap_or_default()
}

/// The groups of each of `user_ids` by the rule of [`groups`], in two queries: the LDAP
/// directory reads people a batch at a time, and a query per person made each search
/// cost one per person.
pub fn groups_of(
    conn: &Connection,
    user_ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<String>>> {
    let ids = serde_json::to_string(user_ids).unwrap_or_else(|_| "[]".into());
    let mut assigned: std::collections::HashMap<i64, Vec<String>> =
        std::collections::HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, name FROM user_groups WHERE user_id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt.query_map([&ids], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (user_id, name) = row?;
        assigned.entry(user_id).or_default().push(name);
    }
    let mut jsons: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, groups_json FROM identities
         WHERE authorized = 1 AND user_id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt.query_map([&ids], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (user_id, json) = row?;
        jsons.entry(user_id).or_default().push(json);
    }
    Ok(user_ids
        .iter()
        .map(|id| {
            let json = jsons.remove(id).unwrap_or_default();
            let merged = merge_groups(
                assigned.remove(id).unwrap_or_default(),
                json.iter().map(String::as_str),
            );
            (*id, merged)
        })
        .collect())
}

/// The provider groups someone who may use the server holds (not disabled, the identity
/// authorized), sorted, each once. Read as the distinct `groups_json` values: a handful
/// however many people there are.
pub fn provider_group_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT i.groups_json FROM identities i JOIN users u ON u.id = i.user_id
         WHERE i.authorized = 1 AND u.disabled_at IS NULL",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let jsons = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(merge_groups(Vec::new(), jsons.iter().map(String::as_str)))
}

/// The pattern (for LIKE) that every `groups_json` holding `group` matches: its JSON
/// string form between anything. A superset to check again with [`merge_groups`] (LIKE
/// ignores ASCII case, `%` and `_` in a name match more).
pub fn groups_json_pattern(group: &str) -> String {
    let quoted = serde_json::to_string(group).unwrap_or_default();
    format!("%{quoted}%")
}

/// Whether the user may still use the server: not disabled, and some linked identity
/// is authorized.
pub fn still_authorized(conn: &Connection, user_id: i64) -> Result<bool> {
    // Every token refresh and userinfo call asks: keep the statement prepared.
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM identities i JOIN users u ON u.id = i.user_id
             WHERE i.user_id = ?1 AND i.authorized = 1 AND u.disabled_at IS NULL LIMIT 1",
        )?
        .query_row([user_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The sealed provider token of an identity, if one is kept.
pub fn sealed_token(conn: &Connection, identity_id: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT token_sealed FROM identities WHERE id = ?1",
            [identity_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// (provider user id, sealed token) of a user's authorized identity with `provider`:
/// `prefer` (the identity they signed in with) first, else the latest signed in.
pub fn provider_token_sealed(
    conn: &Connection,
    user_id: i64,
    provider: &str,
    prefer: Option<i64>,
) -> Result<Option<(String, String)>> {
    Ok(conn
        .query_row(
            "SELECT provider_user_id, token_sealed FROM identities
             WHERE user_id = ?1 AND provider = ?2 AND authorized = 1 AND token_sealed IS NOT NULL
             ORDER BY (id = ?3) DESC, last_login_at DESC LIMIT 1",
            params![user_id, provider, prefer.unwrap_or(0)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

pub fn id_by_uuid(conn: &Connection, uuid: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT id FROM users WHERE uuid = ?1", [uuid], |r| r.get(0))
        .optional()?)
}

pub fn id_by_username(conn: &Connection, username: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT id FROM users WHERE username = ?1 COLLATE NOCASE",
            [username],
            |r| r.get(0),
        )
        .optional()?)
}

/// The identity of a provider account, by its id, or else by its username (a Jellyfin
/// 403 names no id; usernames are unique on one server). Returns (identity, user).
pub fn find_identity(
    conn: &Connection,
    provider: &str,
    account: Option<&str>,
    username: Option<&str>,
) -> Result<Option<(i64, i64)>> {
    let by = |sql: &str, key: &str| -> Result<Option<(i64, i64)>> {
        Ok(conn
            .query_row(sql, params![provider, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    };
    if let Some(a) = account {
        return by(
            "SELECT id, user_id FROM identities WHERE provider = ?1 AND provider_user_id = ?2",
            a,
        );
    }
    match username {
        Some(u) => by(
            "SELECT id, user_id FROM identities WHERE provider = ?1 AND username = ?2 COLLATE NOCASE",
            u,
        ),
        None => Ok(None),
    }
}

/// Marks an identity as no longer allowed on the server and ends its sessions.
pub fn revoke_identity(conn: &Connection, identity_id: i64) -> Result<()> {
    conn.execute(
        "UPDATE identities SET authorized = 0 WHERE id = ?1",
        [identity_id],
    )?;
    conn.execute("DELETE FROM sessions WHERE identity_id = ?1", [identity_id])?;
    Ok(())
}

/// Where a user's avatar is: (provider, provider user id, avatar) of the most recently
/// used identity that still has access and has one.
pub fn avatar(conn: &Connection, user_id: i64) -> Result<Option<(String, String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT i.provider, i.provider_user_id, i.avatar FROM identities i
             JOIN users u ON u.id = i.user_id
             WHERE i.user_id = ?1 AND i.authorized = 1 AND i.avatar IS NOT NULL AND u.disabled_at IS NULL
             ORDER BY i.last_login_at DESC LIMIT 1",
        )?
        .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

/// Who a user is, for headers and claims: (uuid, username, email).
pub fn profile(
    conn: &Connection,
    user_id: i64,
) -> Result<Option<(String, String, Option<String>)>> {
    Ok(conn
        .query_row(
            "SELECT uuid, username, email FROM users WHERE id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

pub fn is_disabled(conn: &Connection, user_id: i64) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT disabled_at IS NOT NULL FROM users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(true))
}

/// One user as the console lists them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserSummary {
    pub uuid: String,
    pub username: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub disabled: bool,
    pub groups: Vec<String>,
    pub mfa: bool,
    pub sessions: i64,
    pub identities: Vec<IdentitySummary>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IdentitySummary {
    pub provider: String,
    pub provider_user_id: String,
    pub username: String,
    pub groups: Vec<String>,
    pub authorized: bool,
    pub last_login_at: i64,
}

pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?)
}

/// Where a page of the user list starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStart {
    First,
    /// After the user the previous page ended with (keyset: no scan of what came before).
    After(Cursor),
    /// Skipping this many (the older API parameter; reads every skipped row).
    Offset(i64),
}

/// The position of a user in the list's order: (last sign-in or 0, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub last_login_at: i64,
    pub id: i64,
}

impl Cursor {
    /// "LAST_LOGIN.ID", the `next` value of a page.
    pub fn parse(s: &str) -> Option<Cursor> {
        let (t, id) = s.split_once('.')?;
        let number = |v: &str| {
            v.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| v.parse::<i64>().ok())
                .flatten()
        };
        Some(Cursor {
            last_login_at: number(t)?,
            id: number(id)?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}.{}", self.last_login_at, self.id)
    }
}

/// A page of users, the count of all that match, and where the next page starts.
pub struct UserPage {
    pub users: Vec<UserSummary>,
    pub total: i64,
    pub next: Option<Cursor>,
}

/// The ids of users whose username or email starts with ?1 (case-insensitively, as
/// usernames are unique), or whose UUID does: ?1-?2 is the prefix's range and ?3 its LIKE
/// pattern. Each is a range on its own index, joined by UNION (SQLite plans an OR of
/// the three as a scan of every user); the LIKE only drops the few a range lets through,
/// such as `bob_` for `bob@`.
const FOUND: &str = "SELECT id FROM users WHERE username >= ?1 COLLATE NOCASE
        AND username < ?2 COLLATE NOCASE AND username LIKE ?3 ESCAPE '\\'
    UNION SELECT id FROM users WHERE email >= ?1 COLLATE NOCASE
        AND email < ?2 COLLATE NOCASE AND email LIKE ?3 ESCAPE '\\'
    UNION SELECT id FROM users WHERE uuid >= ?1 AND uuid < ?2 AND uuid LIKE ?3 ESCAPE '\\'";

/// The ids (and sort keys) of a page: ?1-?3 the search (FOUND), ?4-?5 the cursor, ?6 the
/// limit, ?7 the offset. Unsearched, a range on users_recent read backwards: no sort, no
/// scan of earlier pages; searched, a sort of the matches only.
fn page_sql(search: bool, after_cursor: bool) -> String {
    let keyset = if after_cursor {
        "coalesce(u.last_login_at, 0) <= ?4 AND (coalesce(u.last_login_at, 0) < ?4 OR u.id < ?5)"
    } else {
        "1"
    };
    let from = if search {
        format!(
            "(WITH found(id) AS ({FOUND}) SELECT id FROM found) f CROSS JOIN users u ON u.id = f.id"
        )
    } else {
        "users u".to_string()
    };
    format!(
        "SELECT u.id, coalesce(u.last_login_at, 0) FROM {from} WHERE {keyset}
         ORDER BY coalesce(u.last_login_at, 0) DESC, u.id DESC LIMIT ?6 OFFSET ?7"
    )
}

/// Users whose username, email or UUID starts with `query` (all when empty), most
/// recent sign-in first (never signed in last), newest account first among equals.
pub fn list(conn: &Connection, query: &str, limit: i64, start: PageStart) -> Result<UserPage> {
    // NOCASE folds ASCII only; so does this (a non-ASCII letter matches as typed).
    let query = query.to_ascii_lowercase();

    let pattern = format!(
        "{}%",
        query
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    // An empty query matches all (no bound is used); a query with no upper bound (its
    // last characters are the highest there are) ends above every string.
    let end = super::events::prefix_end(&query).unwrap_or_else(|| "\u{10FFFF}".repeat(2));
    let total: i64 = if query.is_empty() {
        count(conn)?
    } else {
        conn.query_row(
            &format!("SELECT count(*) FROM ({FOUND})"),
            params![query, end, pattern],
            |r| r.get(0),
        )?
    };
    let (after, offset) = match start {
        PageStart::First => (None, 0),
        PageStart::After(c) => (Some(c), 0),
        PageStart::Offset(n) => (None, n),
    };
    let mut stmt = conn.prepare(&page_sql(!query.is_empty(), after.is_some()))?;
    let mut keys: Vec<(i64, i64)> = stmt
        .query_map(
            params![
                query,
                end,
                pattern,
                after.map_or(0, |c| c.last_login_at),
                after.map_or(0, |c| c.id),
                // One more than asked says whether there is a next page.
                limit + 1,
                offset
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let more = keys.len() as i64 > limit;
    keys.truncate(limit.max(0) as usize);
    let next = keys
        .last()
        .filter(|_| more)
        .map(|&(id, last_login_at)| Cursor { last_login_at, id });
    let users = keys
        .into_iter()
        .filter_map(|(id, _)| summary(conn, id).transpose())
        .collect::<Result<Vec<_>>>()?;
    Ok(UserPage { users, total, next })
}

pub fn summary(conn: &Connection, user_id: i64) -> Result<Option<UserSummary>> {
    let base = conn
        .query_row(
            "SELECT uuid, username, email, created_at, last_login_at, disabled_at IS NOT NULL FROM users WHERE id = ?1",
            [user_id],
            |r| {
                Ok(UserSummary {
                    uuid: r.get(0)?,
                    username: r.get(1)?,
                    email: r.get(2)?,
                    created_at: r.get(3)?,
                    last_login_at: r.get(4)?,
                    disabled: r.get(5)?,
                    groups: Vec::new(),
                    mfa: false,
                    sessions: 0,
                    identities: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut user) = base else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT provider, provider_user_id, username, groups_json, authorized, last_login_at FROM identities WHERE user_id = ?1 ORDER BY id",
    )?;
    user.identities = stmt
        .query_map([user_id], |r| {
            let groups: String = r.get(3)?;
            Ok(IdentitySummary {
                provider: r.get(0)?,
                provider_user_id: r.get(1)?,
                username: r.get(2)?,
                groups: serde_json::from_str(&groups).unwrap_or_default(),
                authorized: r.get(4)?,
                last_login_at: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    user.sessions = conn.query_row(
        "SELECT count(*) FROM sessions WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?;
    user.groups = assigned_groups(conn, user_id)?;
    user.mfa = crate::db::mfa::is_enrolled(conn, user_id)?;
    Ok(Some(user))
}

/// Replaces the groups an admin assigned.
pub fn set_groups(conn: &Connection, user_id: i64, groups: &[String], now: i64) -> Result<()> {
    conn.execute("DELETE FROM user_groups WHERE user_id = ?1", [user_id])?;
    for g in groups {
        add_group(conn, user_id, g, now)?;
    }
    Ok(())
}

/// Enabled users in the admins group.
pub fn count_admins(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM user_groups g JOIN users u ON u.id = g.user_id WHERE g.name = 'admins' AND u.disabled_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}

/// A user by username, without case (usernames are unique without case): (id, uuid).
pub fn by_username(conn: &Connection, username: &str) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT id, uuid FROM users WHERE username = ?1 COLLATE NOCASE",
            [username],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// A member of the admins group, for `authportal admin list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdminRow {
    pub uuid: String,
    pub username: String,
    pub disabled: bool,
}

/// Everyone in the admins group (disabled ones too, marked), by username.
pub fn admins(conn: &Connection) -> Result<Vec<AdminRow>> {
    let mut stmt = conn.prepare(
        "SELECT u.uuid, u.username, u.disabled_at IS NOT NULL FROM user_groups g
         JOIN users u ON u.id = g.user_id WHERE g.name = 'admins' ORDER BY u.username",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AdminRow {
            uuid: r.get(0)?,
            username: r.get(1)?,
            disabled: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Takes one group an admin assigned away; whether the user had it.
pub fn remove_group(conn: &Connection, user_id: i64, name: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM user_groups WHERE user_id = ?1 AND name = ?2",
        params![user_id, name],
    )? > 0)
}

pub fn set_disabled(conn: &Connection, user_id: i64, at: Option<i64>) -> Result<()> {
    conn.execute(
        "UPDATE users SET disabled_at = ?2 WHERE id = ?1",
        params![user_id, at],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderKind;

    fn identity(id: &str, groups: &[&str]) -> Identity {
        Identity {
            provider: ProviderKind::Jellyfin,
            provider_user_id: id.into(),
            username: format!("user-{id}"),
            email: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            token: String::new(),
            avatar: None,
            method: crate::providers::FirstFactor::Password,
        }
    }

    #[test]
    fn groups_are_those_with_access_plus_assigned_sorted_once() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        let linked =
            record_sign_in(&c, &identity("1", &["zeta", "alpha", "zeta"]), None, 0).unwrap();
        add_group(&c, linked.user_id, "mid", 0).unwrap();
        add_group(&c, linked.user_id, "alpha", 0).unwrap();
        assert_eq!(
            groups(&c, linked.user_id).unwrap(),
            ["alpha", "mid", "zeta"]
        );
        // The provider no longer vouches: only what an admin assigned is left.
        revoke_identity(&c, linked.identity_id).unwrap();
        assert_eq!(groups(&c, linked.user_id).unwrap(), ["alpha", "mid"]);
        assert!(!still_authorized(&c, linked.user_id).unwrap());
    }

    fn db_with(users: &[(&str, Option<&str>, Option<i64>)]) -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        for (i, (name, email, last)) in users.iter().enumerate() {
            let ident = Identity {
                provider: ProviderKind::Jellyfin,
                provider_user_id: format!("p{i}"),
                username: name.to_string(),
                email: email.map(str::to_string),
                groups: vec![],
                token: String::new(),
                avatar: None,
                method: crate::providers::FirstFactor::Password,
            };
            let linked = record_sign_in(&c, &ident, None, 0).unwrap();
            c.execute(
                "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
                params![linked.user_id, last],
            )
            .unwrap();
        }
        c
    }

    fn names(p: &UserPage) -> Vec<String> {
        p.users.iter().map(|u| u.username.clone()).collect()
    }

    #[test]
    fn keyset_pages_walk_every_user_once_in_order() {
        let c = db_with(&[
            ("a", None, Some(10)),
            ("b", None, Some(30)),
            ("c", None, None),
            ("d", None, Some(30)),
            ("e", None, Some(20)),
            ("f", None, None),
        ]);
        let all = list(&c, "", 50, PageStart::First).unwrap();
        assert_eq!(names(&all), ["d", "b", "e", "a", "f", "c"]);
        assert_eq!((all.total, all.next), (6, None));
        let mut seen = Vec::new();
        let mut start = PageStart::First;
        loop {
            let p = list(&c, "", 2, start).unwrap();
            assert_eq!(p.total, 6);
            seen.extend(names(&p));
            match p.next {
                Some(n) => start = PageStart::After(Cursor::parse(&n.to_string()).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, names(&all), "no gaps, no repeats, no empty last page");
        let skipped = list(&c, "", 2, PageStart::Offset(4)).unwrap();
        assert_eq!(names(&skipped), ["f", "c"]);
    }

    #[test]
    fn search_matches_the_start_of_a_name_email_or_uuid_without_case() {
        let c = db_with(&[
            ("Alice", Some("wonder@example.com"), Some(1)),
            ("bob@home", None, Some(2)),
            ("bob_x", Some("ALI@example.com"), Some(3)),
            ("malice", None, Some(4)),
        ]);
        let found = |q: &str| {
            let mut n = names(&list(&c, q, 50, PageStart::First).unwrap());
            n.sort();
            n
        };
        assert_eq!(found("ali"), ["Alice", "bob_x"]);
        assert_eq!(found("WONDER@"), ["Alice"]);
        assert_eq!(found("bob@"), ["bob@home"], "`_` is not a wildcard");
        assert_eq!(found("%"), Vec::<String>::new());
        assert_eq!(list(&c, "ali", 50, PageStart::First).unwrap().total, 2);
        let uuid = list(&c, "malice", 1, PageStart::First).unwrap().users[0]
            .uuid
            .clone();
        assert_eq!(found(&uuid[..8].to_uppercase()), ["malice"]);
    }

    /// How SQLite will run `sql` (with `n` parameters bound to strings), one step a line.
    fn plan(c: &Connection, sql: &str, n: usize) -> String {
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let args: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
        let steps: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(args), |r| r.get(3))
            .unwrap()
            .map(|s| s.unwrap())
            .collect();
        steps.join("\n")
    }

    #[test]
    fn the_list_and_its_search_read_indexes_not_every_user() {
        let c = db_with(&[]);
        let page = plan(&c, &page_sql(false, true), 7);
        assert!(
            page.contains("SEARCH u USING COVERING INDEX users_recent"),
            "{page}"
        );
        assert!(!page.contains("TEMP B-TREE"), "{page}");
        let first = plan(&c, &page_sql(false, false), 7);
        assert!(
            first.contains("users_recent") && !first.contains("TEMP B-TREE"),
            "{first}"
        );
        for search in [
            plan(&c, &format!("SELECT count(*) FROM ({FOUND})"), 3),
            plan(&c, &page_sql(true, true), 7),
        ] {
            for index in ["users_username", "users_email", "sqlite_autoindex_users_1"] {
                assert!(search.contains(index), "{search}");
            }
            assert!(
                !search.contains("SCAN users") && !search.contains("SCAN u\n"),
                "{search}"
            );
        }
    }
}
