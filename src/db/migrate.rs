//! The user_version ladder: a fresh database gets schema.sql; older ones climb one
//! step at a time; a database newer than this code is refused.

use rusqlite::Connection;

const SCHEMA: &str = include_str!("../../schema.sql");

/// Steps from version N-1 to N, in order. schema.sql is always the result of all of them.
const STEPS: &[(i64, &str)] = &[
    (2, include_str!("migrations/2_mfa_settings_events.sql")),
    (3, include_str!("migrations/3_oidc.sql")),
    (4, include_str!("migrations/4_signin_ips.sql")),
    (5, include_str!("migrations/5_user_disable.sql")),
    (6, include_str!("migrations/6_branding_files.sql")),
    (7, include_str!("migrations/7_events_webhooks.sql")),
    (8, include_str!("migrations/8_unique_usernames.sql")),
    (9, include_str!("migrations/9_scale.sql")),
    (10, include_str!("migrations/10_oidc_pending.sql")),
    (11, include_str!("migrations/11_quick_connect.sql")),
    (12, include_str!("migrations/12_oidc_client_options.sql")),
    (13, include_str!("migrations/13_device_codes.sql")),
    (14, include_str!("migrations/14_ldap.sql")),
    (
        15,
        include_str!("migrations/15_mfa_pending_first_factor.sql"),
    ),
    (16, include_str!("migrations/16_user_groups_name.sql")),
    (17, include_str!("migrations/17_store_holders.sql")),
];

pub const CURRENT: i64 = 17;

/// Work a step's SQL cannot do alone, run just before it.
fn before_step(to: i64, tx: &rusqlite::Transaction) -> Result<(), String> {
    if to == 8 {
        let renamed = super::users::rename_duplicates(tx).map_err(|e| e.to_string())?;
        if renamed > 0 {
            crate::log_warn!(
                "{renamed} account(s) shared a username with an older account and got a distinct one (the console lists them)"
            );
        }
    }
    Ok(())
}

pub fn run(conn: &mut Connection) -> Result<(), String> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| format!("cannot read schema version: {e}"))?;
    if version > CURRENT {
        return Err(format!(
            "the database has schema version {version}, newer than this authportal understands ({CURRENT}); run a newer release or restore a backup"
        ));
    }
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    if version == 0 {
        tx.execute_batch(SCHEMA)
            .map_err(|e| format!("creating schema: {e}"))?;
    } else {
        for (to, sql) in STEPS.iter().filter(|(to, _)| *to > version) {
            before_step(*to, &tx).map_err(|e| format!("migrating to version {to}: {e}"))?;
            tx.execute_batch(sql)
                .map_err(|e| format!("migrating to version {to}: {e}"))?;
            tx.pragma_update(None, "user_version", to)
                .map_err(|e| e.to_string())?;
        }
    }
    tx.commit().map_err(|e| format!("committing schema: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_reaches_current_version_and_refuses_newer() {
        let mut c = Connection::open_in_memory().unwrap();
        run(&mut c).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, CURRENT);
        run(&mut c).unwrap();
        c.pragma_update(None, "user_version", CURRENT + 1).unwrap();
        assert!(run(&mut c).unwrap_err().contains("newer"));
    }

    /// Every table's columns and every index, order aside.
    fn shape(c: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        let mut names = c
            .prepare(
                "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap();
        let objects: Vec<(String, String)> = names
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (kind, name) in objects {
            out.push(format!("{kind} {name}"));
            if kind == "table" {
                let mut cols = c.prepare(&format!("PRAGMA table_info({name})")).unwrap();
                let mut described: Vec<String> = cols
                    .query_map([], |r| {
                        Ok(format!(
                            "  {} {} notnull={} default={:?} pk={}",
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, i64>(5)?
                        ))
                    })
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                described.sort();
                out.extend(described);
            }
        }
        out
    }

    #[test]
    fn every_older_version_climbs_to_the_fresh_schema() {
        let mut fresh = Connection::open_in_memory().unwrap();
        run(&mut fresh).unwrap();
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(include_str!("migrations/1_initial.sql"))
            .unwrap();
        old.execute(
            "INSERT INTO users (uuid, username, created_at) VALUES ('u', 'kept', 1)",
            [],
        )
        .unwrap();
        run(&mut old).unwrap();
        assert_eq!(shape(&old), shape(&fresh));
        let kept: String = old
            .query_row("SELECT username FROM users", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, "kept");
    }

    #[test]
    fn shared_usernames_become_distinct_and_the_oldest_keeps_its_name() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(include_str!("migrations/1_initial.sql"))
            .unwrap();
        for step in STEPS.iter().filter(|(to, _)| *to < 8) {
            c.execute_batch(step.1).unwrap();
        }
        c.pragma_update(None, "user_version", 7).unwrap();
        // (id, name, created_at, provider): two share "bob" with "Bob", and a real
        // "bob-plex" exists, so the later Plex bob cannot simply take that.
        for (id, name, at, provider) in [
            (1, "Bob", 20, "plex"),
            (2, "bob", 10, "jellyfin"),
            (3, "bob-plex", 30, "plex"),
            (4, "bob", 40, "plex"),
            (5, "carol", 50, "emby"),
        ] {
            c.execute(
                "INSERT INTO users (id, uuid, username, created_at) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![id, format!("uuid-{id}"), name, at],
            )
            .unwrap();
            c.execute(
                "INSERT INTO identities (user_id, provider, provider_user_id, username, authorized, created_at, last_login_at)
                 VALUES (?1, ?2, ?3, ?4, 1, 0, 0)",
                rusqlite::params![id, provider, format!("p{id}"), name],
            )
            .unwrap();
        }
        run(&mut c).unwrap();
        let names: Vec<String> = c
            .prepare("SELECT username FROM users ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            names,
            ["Bob-plex-2", "bob", "bob-plex", "bob-plex-3", "carol"]
        );
        let dup = c.execute(
            "INSERT INTO users (uuid, username, created_at) VALUES ('x', 'CAROL', 1)",
            [],
        );
        assert!(
            dup.is_err(),
            "the index refuses a name held in another case"
        );
    }

    #[test]
    fn clients_from_before_12_keep_authenticating_as_they_did() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(include_str!("migrations/1_initial.sql"))
            .unwrap();
        for step in STEPS.iter().filter(|(to, _)| *to < 12) {
            c.execute_batch(step.1).unwrap();
        }
        c.pragma_update(None, "user_version", 11).unwrap();
        for (id, public) in [("conf", 0), ("pub", 1)] {
            c.execute(
                "INSERT INTO oauth_clients (client_id, name, redirect_uris_json, public, scopes_json,
                                            grant_types_json, created_at, updated_at)
                 VALUES (?1, 'App', '[]', ?2, '[]', '[]', 0, 0)",
                rusqlite::params![id, public],
            )
            .unwrap();
        }
        run(&mut c).unwrap();
        let client = |id: &str| super::super::oauth::client(&c, id).unwrap().unwrap();
        let conf = client("conf");
        assert_eq!(
            conf.auth_methods,
            ["client_secret_basic", "client_secret_post"]
        );
        assert!(!conf.pkce_required);
        let public = client("pub");
        assert_eq!(public.auth_methods, ["none"]);
        assert!(public.pkce_required);
    }
}
