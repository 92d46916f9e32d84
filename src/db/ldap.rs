//! The LDAP directory's rows: service accounts and app passwords (digests only), and the
//! people the directory lists (accounts with server access that are not disabled).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{AppError, Result};

/// A service account as `ldap-bind list` and the console show it (never its secret).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Service {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Creates a service account; a name already taken (without case) is a 400.
pub fn create_service(conn: &Connection, name: &str, digest: &[u8], now: i64) -> Result<i64> {
    let inserted = conn.execute(
        "INSERT INTO ldap_services (name, secret_digest, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        params![name, digest, now],
    )?;
    if inserted == 0 {
        return Err(AppError::bad_request(format!(
            "a service account named {name:?} exists already"
        )));
    }
    Ok(conn.last_insert_rowid())
}

pub fn services(conn: &Connection) -> Result<Vec<Service>> {
    let mut stmt = conn.prepare(
        "SELECT id, name, created_at, last_used_at FROM ldap_services ORDER BY name COLLATE NOCASE",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Service {
            id: r.get(0)?,
            name: r.get(1)?,
            created_at: r.get(2)?,
            last_used_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes the service account of that name (without case); false when there is none.
pub fn delete_service(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM ldap_services WHERE name = ?1 COLLATE NOCASE",
        [name],
    )? > 0)
}

/// (id, secret digest) of the service account of that name (without case).
pub fn service_secret(conn: &Connection, name: &str) -> Result<Option<(i64, Vec<u8>)>> {
    Ok(conn
        .query_row(
            "SELECT id, secret_digest FROM ldap_services WHERE name = ?1 COLLATE NOCASE",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// The secret digest of the service account with this id, if it still exists.
pub fn service_digest(conn: &Connection, id: i64) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT secret_digest FROM ldap_services WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

pub fn touch_service(conn: &Connection, id: i64, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE ldap_services SET last_used_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// An app password as its owner sees it (never the password).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AppPassword {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// How many app passwords one person may hold: plenty for every app they use, and a
/// bound on the digests a bind compares.
pub const MAX_APP_PASSWORDS: i64 = 50;

pub fn create_app_password(
    conn: &Connection,
    user_id: i64,
    name: &str,
    digest: &[u8],
    now: i64,
) -> Result<i64> {
    let held: i64 = conn.query_row(
        "SELECT count(*) FROM app_passwords WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?;
    if held >= MAX_APP_PASSWORDS {
        return Err(AppError::bad_request(format!(
            "you have {held} app passwords, the most one person may hold; delete one you no longer use"
        )));
    }
    conn.execute(
        "INSERT INTO app_passwords (user_id, name, secret_digest, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![user_id, name, digest, now],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn app_passwords(conn: &Connection, user_id: i64) -> Result<Vec<AppPassword>> {
    let mut stmt = conn.prepare(
        "SELECT id, name, created_at, last_used_at FROM app_passwords WHERE user_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(AppPassword {
            id: r.get(0)?,
            name: r.get(1)?,
            created_at: r.get(2)?,
            last_used_at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes one of the person's own app passwords; false for an id that is not theirs.
pub fn delete_app_password(conn: &Connection, user_id: i64, id: i64) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM app_passwords WHERE id = ?1 AND user_id = ?2",
        params![id, user_id],
    )? > 0)
}

/// (id, digest) of every app password of the user, for a bind to compare.
pub fn app_password_digests(conn: &Connection, user_id: i64) -> Result<Vec<(i64, Vec<u8>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, secret_digest FROM app_passwords WHERE user_id = ?1")?;
    let rows = stmt.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether the user still holds the app password with this id.
pub fn app_password_exists(conn: &Connection, user_id: i64, id: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM app_passwords WHERE id = ?1 AND user_id = ?2")?
        .query_row(params![id, user_id], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn touch_app_password(conn: &Connection, id: i64, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE app_passwords SET last_used_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// A person the directory lists.
#[derive(Debug, Clone)]
pub struct Person {
    pub user_id: i64,
    pub uuid: String,
    pub username: String,
    pub email: Option<String>,
}

/// Which people a read of the directory asks for. The narrow ones are answered by an
/// index (or, for a group, by a cheaper superset the caller checks again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Everyone,
    /// The account with this id (a person reading the directory as themselves).
    UserId(i64),
    /// By username, without (ASCII) case.
    Username(String),
    /// By email address, without (ASCII) case.
    Mail(String),
    /// By entryUUID (the OIDC `sub`), lowercase as the portal makes them.
    Uuid(String),
    /// Everyone who may hold this group: assigned it, or an authorized identity whose
    /// provider groups mention it. A superset: the caller applies the groups rule.
    MayHoldGroup(String),
}

/// `memberOf=` (?3: the group, ?4: its pattern in provider groups); the assigned
/// group is found by the user_groups_name index, whatever its case.
const MAY_HOLD_GROUP: &str = "AND (EXISTS (SELECT 1 FROM user_groups g WHERE g.user_id = u.id AND g.name = ?3 COLLATE NOCASE)
      OR EXISTS (SELECT 1 FROM identities j WHERE j.user_id = u.id AND j.authorized = 1
                 AND j.groups_json LIKE ?4))";

/// The query of [`people_page`], narrowed by `narrowed` (?1: after, ?2: limit).
fn people_sql(after: bool, narrowed: &str) -> String {
    // `>=` from the start: every username is above or equal to the empty string.
    let from = if after { ">" } else { ">=" };
    format!(
        "SELECT u.id, u.uuid, u.username, u.email FROM users u
         WHERE u.disabled_at IS NULL
           AND EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id AND i.authorized = 1)
           AND u.username {from} ?1 COLLATE NOCASE {narrowed}
         ORDER BY u.username COLLATE NOCASE LIMIT ?2"
    )
}

/// Up to `limit` people the directory lists (not disabled, with an identity with server
/// access: the rule of users::still_authorized) whom `who` names, by username without
/// case, after `after` (a username; None: from the start). A search reads the directory
/// a batch at a time with this, so that what it holds does not grow with the directory.
pub fn people_page(
    conn: &Connection,
    who: &Who,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Person>> {
    use rusqlite::types::Value;
    let mut args: Vec<Value> = vec![
        Value::Text(after.unwrap_or_default().to_string()),
        Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)),
    ];
    let narrowed = match who {
        Who::Everyone => "",
        Who::UserId(id) => {
            args.push(Value::Integer(*id));
            "AND u.id = ?3"
        }
        Who::Username(name) => {
            args.push(Value::Text(name.clone()));
            "AND u.username = ?3 COLLATE NOCASE"
        }
        Who::Mail(mail) => {
            args.push(Value::Text(mail.clone()));
            "AND u.email = ?3 COLLATE NOCASE"
        }
        Who::Uuid(uuid) => {
            args.push(Value::Text(uuid.clone()));
            "AND u.uuid = ?3"
        }
        Who::MayHoldGroup(group) => {
            args.push(Value::Text(group.clone()));
            args.push(Value::Text(super::users::groups_json_pattern(group)));
            MAY_HOLD_GROUP
        }
    };
    let sql = people_sql(after.is_some(), narrowed);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok(Person {
            user_id: r.get(0)?,
            uuid: r.get(1)?,
            username: r.get(2)?,
            email: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every group name an admin assigned to anyone (groups exist even while empty).
pub fn assigned_group_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT name FROM user_groups ORDER BY name")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Keeps the token a media server just gave an account (sealed by the caller).
pub fn store_media_token(
    conn: &Connection,
    provider: &str,
    provider_user_id: &str,
    sealed: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE identities SET token_sealed = ?3 WHERE provider = ?1 AND provider_user_id = ?2",
        params![provider, provider_user_id, sealed],
    )?;
    Ok(())
}

/// A Jellyfin or Emby account linked to a user.
pub struct MediaAccount {
    pub provider: String,
    pub provider_user_id: String,
    pub username: String,
}

/// The user's authorized Jellyfin or Emby accounts, latest signed in first.
pub fn media_accounts(conn: &Connection, user_id: i64) -> Result<Vec<MediaAccount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT provider, provider_user_id, username FROM identities
         WHERE user_id = ?1 AND authorized = 1 AND provider IN ('jellyfin', 'emby')
         ORDER BY last_login_at DESC",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(MediaAccount {
            provider: r.get(0)?,
            provider_user_id: r.get(1)?,
            username: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `memberOf=` finds a person's assigned group by the index on the name (without
    /// case), not by reading their groups one by one.
    #[test]
    fn member_of_reads_the_group_name_index() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        let sql = people_sql(true, MAY_HOLD_GROUP);
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps: Vec<String> = stmt
            .query_map(params!["a", 10, "team", "%team%"], |r| r.get(3))
            .unwrap()
            .map(|s| s.unwrap())
            .collect();
        let plan = steps.join("\n");
        assert!(
            plan.contains("SEARCH g USING COVERING INDEX user_groups_name (name=? AND user_id=?)"),
            "{plan}"
        );
    }
}
