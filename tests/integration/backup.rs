//! Backups: round trip, settings-only restore, damaged files and the wrong key, an
//! older schema, retention and the schedule, permissions and file names, backups while
//! others write, the command line with the server stopped, export/import-config.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use authportal::backup::{self, format, restore};
use serde_json::{Value, json};

use crate::harness::{Client, Portal, Resp, TempDir};
use crate::team::{Setup, send_json, setup};

fn dir(s: &Setup) -> PathBuf {
    s.portal.data_dir().join("backups")
}

fn create(c: &Client) -> String {
    let r = c.post_json("/api/admin/backups", &json!({}));
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["name"].as_str().unwrap().to_string()
}

fn restore_via_api(c: &Client, name: &str, scope: &str) -> Resp {
    c.post_json(
        &format!("/api/admin/backups/{name}/restore"),
        &json!({ "scope": scope }),
    )
}

fn upload(c: &Client, data: &[u8]) -> Resp {
    c.send(
        "PUT",
        "/api/admin/backups/upload",
        &[("Content-Type", "application/octet-stream")],
        Some(data.to_vec()),
    )
}

/// Saves a settings section on top of whatever version is current.
fn save_section(c: &Client, name: &str, config: Value) -> Resp {
    let current = c.get(&format!("/api/admin/config/{name}")).json();
    send_json(
        c,
        "PUT",
        &format!("/api/admin/config/{name}"),
        &json!({ "version": current["version"], "config": config }),
    )
}

/// Every row of every table (each table's rows sorted), except the audit log, the meta
/// rows that describe this box rather than the data, and what a full restore ends on
/// purpose: sign-ins (sessions, pending sign-ins, codes, trusted addresses) and the
/// tokens' revocation time.
fn dump(p: &Portal) -> BTreeMap<String, Vec<String>> {
    let db = p.db();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT IN ('events', 'event_strings')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = BTreeMap::new();
    for t in tables {
        if SIGN_INS.contains(&t.as_str()) {
            continue;
        }
        let mut stmt = db.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let revoked = stmt
            .column_index("revoked_at")
            .ok()
            .filter(|_| t == "oauth_tokens");
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let cells: Vec<String> = (0..n)
                    .filter(|i| Some(*i) != revoked)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect();
                Ok(cells.join(" | "))
            })
            .unwrap()
            .map(Result::unwrap)
            .filter(|row| {
                t != "meta"
                    || !(row.contains("signing_keys_version")
                        || row.contains("backup_schedule_state"))
            })
            .collect();
        rows.sort();
        out.insert(t, rows);
    }
    out
}

/// What a full restore never brings back (see backup/restore.rs).
const SIGN_INS: &[&str] = &[
    "sessions",
    "mfa_pending",
    "login_flows",
    "oauth_codes",
    "signin_ips",
    "device_codes",
    "app_passwords",
];

fn events_of(p: &Portal, kind: &str) -> i64 {
    p.db()
        .query_row("SELECT count(*) FROM events WHERE type = ?1", [kind], |r| {
            r.get(0)
        })
        .unwrap()
}

fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn kids(c: &Client) -> Vec<String> {
    let mut v: Vec<String> = c.get("/oidc/jwks.json").json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_restores_every_table() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let alice_uuid = s.uuid(&alice);
    let r = root.post_json(
        "/api/admin/oauth/clients",
        &json!({ "name": "Grafana", "redirect_uris": ["https://grafana.example/cb"] }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let grafana = r.json()["client_id"].as_str().unwrap().to_string();
    assert_eq!(
        save_section(&root, "mfa", json!({ "enforce_groups": ["family"] })).status,
        200
    );
    let alice_id: i64 = s
        .portal
        .db()
        .query_row("SELECT id FROM users WHERE uuid = ?1", [&alice_uuid], |r| {
            r.get(0)
        })
        .unwrap();
    s.portal
        .db()
        .execute_batch(&format!(
            "INSERT INTO mfa_totp (user_id, secret_sealed, created_at, verified_at) VALUES ({alice_id}, 'v1:sealed', 1, 1);
             INSERT INTO mfa_recovery_codes (user_id, code_digest, created_at) VALUES ({alice_id}, x'0102', 1);"
        ))
        .unwrap();
    let r = alice.post_json("/api/me/app-passwords", &json!({ "name": "Nextcloud" }));
    assert_eq!(r.status, 201, "{}", r.body);
    let app_password = r.json()["id"].clone();
    let keys_before = kids(&root);
    let before = dump(&s.portal);
    let name = create(&root);

    // Change everything: an app password revoked (it must not come back)...
    let r = alice.send(
        "DELETE",
        &format!("/api/me/app-passwords/{app_password}"),
        &[],
        None,
    );
    assert_eq!(r.status, 204, "{}", r.body);

    // ...a new user, a disabled one, settings, clients, MFA, keys.
    let _vera = s.user("vera", "viewer");
    assert_eq!(
        root.post_json(
            &format!("/api/admin/users/{alice_uuid}/disable"),
            &json!({})
        )
        .status,
        200
    );
    assert_eq!(
        save_section(&root, "security", json!({ "session_hours": 48 })).status,
        200
    );
    assert_eq!(
        root.send(
            "DELETE",
            &format!("/api/admin/oauth/clients/{grafana}"),
            &[],
            None
        )
        .status,
        204
    );
    assert_eq!(
        root.post_json(
            "/api/admin/oauth/clients",
            &json!({ "name": "Other", "redirect_uris": ["https://other.example/cb"] }),
        )
        .status,
        201
    );
    s.portal
        .db()
        .execute_batch("DELETE FROM mfa_totp; DELETE FROM mfa_recovery_codes;")
        .unwrap();
    let app = s.portal.app();
    authportal::oidc::keys::rotate(&app.db, &app.sealer, 2048, app.clock.now()).unwrap();
    assert_eq!(kids(&root).len(), keys_before.len() + 1);
    assert_ne!(dump(&s.portal), before);

    let r = restore_via_api(&root, &name, "all");
    assert_eq!(r.status, 200, "{}", r.body);
    let report = r.json();
    assert_eq!(report["scope"], "all");
    assert_eq!(
        report["signed_out"], true,
        "a full restore signs everyone out"
    );
    assert_eq!(s.portal.count("SELECT count(*) FROM sessions"), 0);
    assert_eq!(s.portal.count("SELECT count(*) FROM signin_ips"), 0);
    assert_eq!(
        s.portal.count("SELECT count(*) FROM app_passwords"),
        0,
        "an app password revoked since the backup does not come back (none does)"
    );
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM oauth_tokens WHERE revoked_at IS NULL"),
        0,
        "no token from before the restore works"
    );
    assert_eq!(root.get("/whoami").json()["authenticated"], false);
    let safety = report["safety_backup"].as_str().unwrap();
    assert!(safety.starts_with("safety-"), "{safety}");
    assert!(dir(&s).join(safety).exists());

    assert_eq!(dump(&s.portal), before, "every table as it was");
    let root = s.user("root", "toor");
    assert_eq!(
        s.portal.count(
            "SELECT count(*) FROM events WHERE user_id IS NOT NULL AND user_id NOT IN (SELECT id FROM users)"
        ),
        0,
        "vera's sign-in stays in the audit log without a link to a user that is gone"
    );
    assert!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'signin.success' AND user_id IS NULL")
            >= 1
    );
    let broken: Vec<String> = s
        .portal
        .db()
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(broken.is_empty(), "{broken:?}");
    assert_eq!(kids(&root), keys_before, "the key ring reloaded");
    assert_eq!(
        root.get("/api/admin/config/mfa").json()["config"]["enforce_groups"],
        json!(["family"])
    );
    assert_eq!(events_of(&s.portal, "admin.backup.create"), 1);
    assert_eq!(events_of(&s.portal, "admin.backup.restore"), 1);
    assert!(
        events_of(&s.portal, "admin.config.update") >= 2,
        "the audit log is not rolled back"
    );
    // The restored signing key still signs: discovery and JWKS answer, the portal works.
    assert_eq!(root.get("/api/admin/users").status, 200);
}

#[test]
fn settings_only_restore_leaves_users_alone() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    assert_eq!(
        save_section(&root, "security", json!({ "session_hours": 12 })).status,
        200
    );
    let name = create(&root);
    assert_eq!(
        save_section(&root, "security", json!({ "session_hours": 99 })).status,
        200
    );
    let _alice = s.user("alice", "wonderland");
    let users = s.portal.count("SELECT count(*) FROM users");
    let sessions = s.portal.count("SELECT count(*) FROM sessions");

    let r = restore_via_api(&root, &name, "settings");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        root.get("/api/admin/config/security").json()["config"]["session_hours"],
        12
    );
    assert_eq!(s.portal.count("SELECT count(*) FROM users"), users);
    assert_eq!(s.portal.count("SELECT count(*) FROM sessions"), sessions);

    let r = restore_via_api(&root, &name, "everything");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("scope"));
}

#[test]
fn webhook_rules_come_back_and_old_deliveries_are_never_resent() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let hook = |name: &str| {
        let r = root.post_json(
            "/api/admin/webhooks",
            &json!({ "name": name, "enabled": false, "events": ["signin.success"],
                     "method": "POST", "url": "http://127.0.0.1:9/hook" }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.json()["id"].as_i64().unwrap()
    };
    let kept = hook("kept");
    let name = create(&root);
    let added = hook("added after the backup");
    // A delivery of the rule the backup does not have, and one of the rule it has.
    let db = s.portal.db();
    for id in [kept, added] {
        db.execute(
            "INSERT INTO webhook_deliveries (webhook_id, test, state, next_at_ms, created_at, updated_at)
             VALUES (?1, 1, 'pending', 0, 0, 0)",
            [id],
        )
        .unwrap();
    }
    let r = restore_via_api(&root, &name, "settings");
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<String> = root.get("/api/admin/webhooks").json()["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["kept"], "the rules are part of the settings");
    assert_eq!(
        s.portal.count(&format!(
            "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = {added}"
        )),
        0,
        "deliveries of a rule that is gone are dropped"
    );
    assert_eq!(
        s.portal.count(&format!(
            "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = {kept}"
        )),
        1,
        "the kept rule's queue stays"
    );
}

#[test]
fn damaged_files_and_the_wrong_key_are_refused_and_change_nothing() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let name = create(&root);
    let good = std::fs::read(dir(&s).join(&name)).unwrap();
    // The readable header, then binary chunks.
    let header_end = good
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0;
    let text = String::from_utf8(good[..header_end].to_vec()).unwrap();
    let with_header = |h: String| [h.as_bytes(), &good[header_end..]].concat();
    let mut flipped = good.clone();
    let at = flipped.len() - 20;
    flipped[at] ^= 0x01;
    // Another backup of the same data: its sealed chunks under this file's header.
    let other = std::fs::read(dir(&s).join(create(&root))).unwrap();
    let other_body_at = other
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0;
    let spliced = [&good[..header_end], &other[other_body_at..]].concat();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("chunks of another backup", spliced, "changed or damaged"),
        (
            "tampered header",
            with_header(text.replace("\"created_by\":\"root\"", "\"created_by\":\"mallory\"")),
            "changed or damaged",
        ),
        ("tampered body", flipped, "changed or damaged"),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        (
            "cut before the end",
            good[..good.len() - 1].to_vec(),
            "truncated",
        ),
        (
            "unknown format",
            with_header(text.replace("\"format\":2", "\"format\":7")),
            "format version 7",
        ),
        (
            "not a backup",
            b"hello".to_vec(),
            "not an authportal backup",
        ),
    ];
    let _alice = s.user("alice", "wonderland");
    let before = dump(&s.portal);
    for (what, data, message) in &cases {
        let r = upload(&root, data);
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains(message), "{what}: {error}");
        // The same file already in the directory: restore refuses it too.
        let planted = "uploaded-20200101T000000Z-abcdefgh.apbak";
        std::fs::write(dir(&s).join(planted), data).unwrap();
        let r = restore_via_api(&root, planted, "all");
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains(message),
            "{what}"
        );
        std::fs::remove_file(dir(&s).join(planted)).unwrap();
    }
    assert_eq!(dump(&s.portal), before, "nothing changed");
    assert!(
        files(&dir(&s), "safety-").is_empty(),
        "no safety backup either"
    );
    assert_eq!(files(&dir(&s), "uploaded-").len(), 0);
    let r = upload(&root, &good);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.json()["name"].as_str().unwrap().starts_with("uploaded-"));

    // Another portal with another DATA_KEY cannot open it.
    let other = setup(&[("DATA_KEY", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")]);
    let other_root = other.user("root", "toor");
    let r = upload(&other_root, &good);
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("another DATA_KEY"),
        "{}",
        r.body
    );
}

/// A database at schema version 5 (the ladder's first five steps), with a user, the
/// live signing key and a settings section, sealed as a backup.
fn old_backup(p: &Portal, user_version: i64, with_key: bool) -> Vec<u8> {
    let tmp = TempDir::new();
    let path = tmp.0.join("old.db");
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(include_str!("../../src/db/migrations/1_initial.sql"))
        .unwrap();
    for (v, sql) in [
        (
            2,
            include_str!("../../src/db/migrations/2_mfa_settings_events.sql"),
        ),
        (3, include_str!("../../src/db/migrations/3_oidc.sql")),
        (4, include_str!("../../src/db/migrations/4_signin_ips.sql")),
        (
            5,
            include_str!("../../src/db/migrations/5_user_disable.sql"),
        ),
    ] {
        old.execute_batch(sql).unwrap();
        old.pragma_update(None, "user_version", v).unwrap();
    }
    let live = p.db();
    let (kid, pem, created): (String, String, i64) = live
        .query_row(
            "SELECT kid, pem_sealed, created_at FROM signing_keys WHERE retired_at IS NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    if with_key {
        old.execute(
            "INSERT INTO signing_keys (kid, pem_sealed, created_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![kid, pem, created],
        )
        .unwrap();
    }
    old.execute_batch(
        "INSERT INTO users (uuid, username, created_at) VALUES ('old-uuid', 'oldtimer', 1);
         INSERT INTO settings (section, version, config_json, updated_at) VALUES ('security', 3, '{\"session_hours\":5}', 1);",
    )
    .unwrap();
    old.pragma_update(None, "user_version", user_version)
        .unwrap();
    drop(old);
    let plaintext = std::fs::read(&path).unwrap();
    // Releases of that schema wrote format 1 (the whole body sealed as one base64 line).
    let header = format::Header {
        created_at: 1_700_000_000,
        created_at_utc: "2023-11-14T22:13:20Z".into(),
        created_by: "an older release".into(),
        kind: "manual".into(),
        portal_version: "0.0.9".into(),
        schema_version: user_version,
        tables: Default::default(),
        sections: vec!["security".into()],
        ..format::Header::default()
    };
    format::seal_v1(&p.app().sealer, header, &plaintext)
}

#[test]
fn an_older_schema_is_migrated_and_a_newer_one_refused() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let keys = kids(&root);

    let newer = old_backup(&s.portal, 999, true);
    let r = upload(&root, &newer);
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().contains("newer"),
        "{}",
        r.body
    );

    // A backup without a signing key would leave the portal unable to sign: refused.
    let r = upload(&root, &old_backup(&s.portal, 5, false));
    assert_eq!(r.status, 201, "{}", r.body);
    let keyless = r.json()["name"].as_str().unwrap().to_string();
    let r = restore_via_api(&root, &keyless, "all");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"].as_str().unwrap().contains("signing key"),
        "{}",
        r.body
    );
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM users WHERE username = 'root'"),
        1
    );

    let r = upload(&root, &old_backup(&s.portal, 5, true));
    assert_eq!(r.status, 201, "{}", r.body);
    let name = r.json()["name"].as_str().unwrap().to_string();
    let r = restore_via_api(&root, &name, "all");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["migrated_from"], 5);
    assert_eq!(r.json()["signed_out"], true, "root is not in that backup");
    assert_eq!(s.portal.count("SELECT count(*) FROM users"), 1);
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM users WHERE username = 'oldtimer'"),
        1
    );
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM settings WHERE section = 'security'"),
        1
    );
    let version: i64 = s
        .portal
        .db()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 6);
    // The restored portal runs: signed out, keys as in the backup.
    assert_eq!(root.get("/api/admin/backups").status, 401);
    assert_eq!(kids(&s.portal.client()), keys);
    // The restore is audited even though the admin is not in the restored data.
    assert_eq!(events_of(&s.portal, "admin.backup.restore"), 1);
}

#[test]
fn retention_and_the_schedule() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let r = save_section(
        &root,
        "backups",
        json!({ "schedule": "hourly", "minute": 61 }),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("backups.minute")
    );
    // Half an hour away from now, so the real clock does not reach it during the test.
    let minute = (chrono::Utc::now().timestamp() / 60 + 30) % 60;
    let r = save_section(
        &root,
        "backups",
        json!({ "schedule": "hourly", "minute": minute, "keep": 2 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let names: Vec<String> = (0..4).map(|_| create(&root)).collect();
    let kept = files(&dir(&s), "authportal-");
    assert_eq!(kept.len(), 2, "{kept:?}");
    let mut newest = names[2..].to_vec();
    newest.sort();
    assert_eq!(kept, newest, "the newest two stay");
    // A safety backup (from a restore) is not counted.
    assert_eq!(restore_via_api(&root, &names[3], "settings").status, 200);
    assert_eq!(files(&dir(&s), "safety-").len(), 1);
    create(&root);
    assert_eq!(files(&dir(&s), "authportal-").len(), 2);
    assert_eq!(files(&dir(&s), "safety-").len(), 1);

    let list = root.get("/api/admin/backups").json();
    let next = list["status"]["next_run"].as_i64().expect("a next run");
    let app = s.portal.app();
    assert!(next > app.clock.now() && next <= app.clock.now() + 3600);
    assert_eq!(
        authportal::backup::schedule::tick(app).unwrap(),
        None,
        "not due yet"
    );
    app.clock.advance(3601);
    let ran = authportal::backup::schedule::tick(app).unwrap();
    assert!(
        matches!(&ran, Some(Ok(n)) if n.starts_with("authportal-")) || ran.is_none(),
        "{ran:?}"
    );
    let status = root.get("/api/admin/backups").json()["status"].clone();
    assert!(status["last_success"].is_i64(), "{status}");
    assert!(status["next_run"].as_i64().unwrap() > app.clock.now());
    assert_eq!(events_of(&s.portal, "backup.success"), 1);
    assert_eq!(
        files(&dir(&s), "authportal-").len(),
        2,
        "retention after a scheduled run"
    );
}

#[test]
fn a_failed_scheduled_backup_is_reported_and_retried_with_back_off() {
    let blocker = TempDir::new();
    let file = blocker.0.join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let bad_dir = file.join("backups");
    let s = setup(&[("BACKUP_DIR", bad_dir.to_str().unwrap())]);
    let root = s.user("root", "toor");
    // Twelve hours away, so the real clock does not reach it during the test.
    let time = format!(
        "{:02}:00",
        (chrono::Utc::now().timestamp() / 3600 + 12) % 24
    );
    assert_eq!(
        save_section(
            &root,
            "backups",
            json!({ "schedule": "daily", "time": time })
        )
        .status,
        200
    );
    let app = s.portal.app();
    authportal::backup::schedule::current(app).unwrap();
    app.clock.advance(2 * 86400);
    // The backup thread may get there first (then this tick finds nothing due).
    let ran = authportal::backup::schedule::tick(app).unwrap();
    assert!(!matches!(ran, Some(Ok(_))), "{ran:?}");
    // Two days on, the first session has expired.
    let root = s.user("root", "toor");
    let list = root.get("/api/admin/backups").json();
    assert!(list["directory_error"].is_string(), "{list}");
    let status = list["status"].clone();
    assert_eq!(status["failures"], 1, "{list}");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("backup directory")
    );
    let last_run = status["last_run"].as_i64().unwrap();
    assert_eq!(status["next_run"].as_i64().unwrap(), last_run + 300);
    assert_eq!(events_of(&s.portal, "backup.failure"), 1);
    assert_eq!(authportal::backup::schedule::tick(app).unwrap(), None);
    app.clock.advance(301);
    let ran = authportal::backup::schedule::tick(app).unwrap();
    assert!(!matches!(ran, Some(Ok(_))), "{ran:?}");
    let status = root.get("/api/admin/backups").json()["status"].clone();
    assert_eq!(status["failures"], 2);
    let last_run = status["last_run"].as_i64().unwrap();
    assert_eq!(status["next_run"].as_i64().unwrap(), last_run + 600);
    assert_eq!(events_of(&s.portal, "backup.failure"), 2);
    // A manual backup fails with a 500 and a logged reason, never a half file.
    assert_eq!(root.post_json("/api/admin/backups", &json!({})).status, 500);
}

/// Each portal ticks its own schedule: a tick under way in one portal (its lock held)
/// does not hold up another portal's in the same process.
#[test]
fn each_portal_ticks_its_own_backup_schedule() {
    let a = Portal::start(&[]);
    let b = Portal::start(&[]);
    let a_ticking = a.app().backup_tick.lock().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let ran = std::thread::scope(|scope| {
        scope.spawn(|| tx.send(backup::schedule::tick(b.app()).unwrap()).unwrap());
        let ran = rx.recv_timeout(std::time::Duration::from_secs(10));
        // Were b's tick waiting for a's lock, it may go now, so the scope can end.
        drop(a_ticking);
        ran
    });
    assert_eq!(
        ran,
        Ok(None),
        "b's tick ran (nothing due) while a's lock was held"
    );
}

#[test]
fn permissions_names_and_downloads() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let vera = s.viewer(&root);
    // Leftovers of a crash: an old plaintext snapshot and a half-written file go at the
    // next backup; a fresh one (a backup in progress) stays.
    std::fs::create_dir_all(dir(&s)).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for leftover in [
        ".snapshot-0011223344556677.db",
        ".authportal-x.apbak.tmp",
        ".snapshot-fresh.db",
    ] {
        let f = std::fs::File::create(dir(&s).join(leftover)).unwrap();
        if !leftover.contains("fresh") {
            f.set_modified(old).unwrap();
        }
    }
    let name = create(&root);
    assert_eq!(files(&dir(&s), "."), [".snapshot-fresh.db"]);
    std::fs::remove_file(dir(&s).join(".snapshot-fresh.db")).unwrap();
    let anon = s.portal.client();
    assert_eq!(anon.get("/api/admin/backups").status, 401);
    assert_eq!(anon.post_json("/api/admin/backups", &json!({})).status, 401);
    assert_eq!(alice.get("/api/admin/backups").status, 403);
    assert_eq!(
        alice.post_json("/api/admin/backups", &json!({})).status,
        403
    );
    assert_eq!(vera.get("/api/admin/backups").status, 200, "a viewer reads");
    assert_eq!(vera.post_json("/api/admin/backups", &json!({})).status, 403);
    assert_eq!(restore_via_api(&vera, &name, "all").status, 403);
    assert_eq!(upload(&vera, b"x").status, 403);
    assert_eq!(
        vera.send("DELETE", &format!("/api/admin/backups/{name}"), &[], None)
            .status,
        403
    );
    assert_eq!(files(&dir(&s), "authportal-").len(), 1);

    assert_eq!(
        vera.get(&format!("/api/admin/backups/{name}")).status,
        403,
        "a viewer sees the list but cannot take a copy of the data"
    );
    let r = root.get(&format!("/api/admin/backups/{name}"));
    assert_eq!(r.status, 200);
    assert!(r.bytes.starts_with(b"authportal-backup\n"));
    assert_eq!(r.bytes, std::fs::read(dir(&s).join(&name)).unwrap());
    assert!(
        r.header("content-disposition")
            .unwrap()
            .contains("attachment")
    );
    assert!(r.header("cache-control").unwrap().contains("no-store"));
    let listed = vera.get("/api/admin/backups").json();
    assert_eq!(listed["backups"][0]["name"], name.as_str());

    for bad in [
        "authportal.db",
        "..",
        "%2e%2e",
        "..%2Fauthportal.db",
        "%2E%2E%2Fsecrets.json",
        "authportal-20200101T000000Z-abcdefgh.apbak",
        "authportal-20200101T000000Z-abcdefgh.apbak%00",
    ] {
        let path = format!("/api/admin/backups/{bad}");
        for r in [
            root.get(&path),
            root.send("DELETE", &path, &[], None),
            restore_via_api(&root, bad, "all"),
        ] {
            assert!(
                r.status == 400 || r.status == 404,
                "{bad}: {} {}",
                r.status,
                r.body
            );
            assert!(!r.body.contains("SQLite"), "{bad}");
            assert!(r.json()["error"].is_string(), "{bad}");
        }
    }
    assert_eq!(
        root.send("DELETE", &format!("/api/admin/backups/{name}"), &[], None)
            .status,
        204
    );
    assert_eq!(root.get(&format!("/api/admin/backups/{name}")).status, 404);
    assert_eq!(events_of(&s.portal, "admin.backup.delete"), 1);
}

#[test]
fn backups_taken_during_writes_are_consistent() {
    let s = setup(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let db_path = s.portal.data_dir().join("authportal.db");
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let stop = Arc::clone(&stop);
            let path = db_path.clone();
            std::thread::spawn(move || {
                let c = rusqlite::Connection::open(path).unwrap();
                c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    c.execute(
                        "INSERT INTO events (type, time, result, detail_json) VALUES ('test.write', ?1, 'success', ?2)",
                        rusqlite::params![n, json!({ "writer": w, "n": n }).to_string()],
                    )
                    .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let app = s.portal.app();
    let mut counts = Vec::new();
    for _ in 0..5 {
        let info = backup::create(app, "test", backup::Kind::Manual).unwrap();
        let file = backup::open_file(app, &info.name).unwrap().unwrap();
        let checked = restore::check(app, file).expect("opens and passes integrity_check");
        counts.push(checked.header.tables["events"]);
    }
    stop.store(true, Ordering::SeqCst);
    let written: i64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(written > 0);
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "each snapshot sees at least what the one before saw: {counts:?}"
    );
}

fn cli(p: &Portal, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_authportal"))
        .args(args)
        .envs(p.vars.iter())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn command_line_backup_and_restore_with_the_server_stopped() {
    let mut s = setup(&[]);
    let root = s.user("root", "toor");
    assert_eq!(
        save_section(&root, "security", json!({ "session_hours": 7 })).status,
        200
    );
    let _alice = s.user("alice", "wonderland");
    // Not under a running portal: its caches would go stale.
    let (_, _, early) = cli(&s.portal, &["backup", "create"]);
    assert!(early.is_empty(), "{early}");
    let newest = std::fs::read_dir(dir(&s))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (ok, _, err) = cli(&s.portal, &["restore", newest.to_str().unwrap()]);
    assert!(!ok && err.contains("is running"), "{err}");
    std::fs::remove_file(newest).unwrap();
    s.portal.server.take().unwrap().stop();
    let before = dump(&s.portal);

    let (ok, out, err) = cli(&s.portal, &["backup", "create"]);
    assert!(ok, "{err}");
    let path = PathBuf::from(out.trim());
    assert!(path.exists(), "{out}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(dir(&s)).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let (ok, out, _) = cli(&s.portal, &["backup", "list"]);
    assert!(
        ok && out.contains(path.file_name().unwrap().to_str().unwrap()),
        "{out}"
    );

    s.portal
        .db()
        .execute_batch(
            "DELETE FROM users WHERE username = 'alice';
             UPDATE settings SET config_json = '{\"session_hours\":1}', version = version + 1 WHERE section = 'security';",
        )
        .unwrap();
    let (ok, out, err) = cli(
        &s.portal,
        &["restore", path.to_str().unwrap(), "--settings-only"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("restored the settings"), "{out}");
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM users WHERE username = 'alice'"),
        0
    );
    let (ok, _, err) = cli(&s.portal, &["restore", path.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(dump(&s.portal), before);

    let truncated = path.with_extension("cut");
    let data = std::fs::read(&path).unwrap();
    std::fs::write(&truncated, &data[..data.len() - 100]).unwrap();
    let (ok, _, err) = cli(&s.portal, &["restore", truncated.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("changed or damaged") || err.contains("truncated"),
        "{err}"
    );
    assert_eq!(dump(&s.portal), before);

    // The portal starts on the restored data.
    let vars: Vec<(String, String)> = s
        .portal
        .vars
        .iter()
        .filter(|(k, _)| *k != "LISTEN_ADDR" && *k != "APP_BASE_URL")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let dir = std::mem::replace(&mut s.portal.dir, TempDir(PathBuf::new()));
    let again = Portal::start_in(dir, &vars, false);
    assert_eq!(again.client().get("/healthz").status, 200);
    assert_eq!(events_of(&again, "admin.backup.restore"), 2);
}

#[test]
fn export_and_import_config_without_secrets() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let providers = root.get("/api/admin/config/providers").json();
    let mut config = providers["config"].clone();
    config["jellyfin"]["api_key"] = json!("very-secret-api-key");
    let r = send_json(
        &root,
        "PUT",
        "/api/admin/config/providers",
        &json!({ "version": providers["version"], "config": config }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let sealed_before: String = s
        .portal
        .db()
        .query_row(
            "SELECT config_json FROM settings WHERE section = 'providers'",
            [],
            |r| r.get(0),
        )
        .unwrap();

    let (ok, out, err) = cli(&s.portal, &["export-config"]);
    assert!(ok, "{err}");
    assert!(
        !out.contains("very-secret-api-key") && !out.contains("sealed"),
        "{out}"
    );
    let mut doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["sections"]["providers"]["config"]["jellyfin"]["api_key"],
        json!({ "set": true })
    );
    assert!(doc["sections"]["backups"]["config"]["schedule"].is_string());

    // Secrets left out keep their values; every section becomes a new version.
    doc["sections"]["security"]["config"]["session_hours"] = json!(36);
    doc["sections"]["providers"]["config"]["jellyfin"]
        .as_object_mut()
        .unwrap()
        .remove("api_key");
    let file = s.portal.data_dir().join("config.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let versions = s.portal.count("SELECT count(*) FROM settings_history");
    let (ok, out, err) = cli(&s.portal, &["import-config", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("security: saved as version"), "{out}");
    let sections = doc["sections"].as_object().unwrap().len() as i64;
    assert_eq!(
        s.portal.count("SELECT count(*) FROM settings_history"),
        versions + sections
    );
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM settings_history WHERE reason = 'import-config'"),
        sections
    );
    let sealed_after: String = s
        .portal
        .db()
        .query_row(
            "SELECT config_json FROM settings WHERE section = 'providers'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let secret = |j: &str| serde_json::from_str::<Value>(j).unwrap()["jellyfin"]["api_key"].clone();
    assert_eq!(secret(&sealed_after), secret(&sealed_before));
    assert_eq!(
        root.get("/api/admin/config/security").json()["config"]["session_hours"],
        36
    );

    // A bad section: nothing at all is saved.
    doc["sections"]["security"]["config"]["session_hours"] = json!(0);
    std::fs::write(&file, doc.to_string()).unwrap();
    let now = s.portal.count("SELECT count(*) FROM settings_history");
    let (ok, _, err) = cli(&s.portal, &["import-config", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("security.session_hours"), "{err}");
    assert_eq!(s.portal.count("SELECT count(*) FROM settings_history"), now);
}

#[test]
fn browser_backs_up_restores_and_schedules_from_the_console() {
    let e2e = crate::browser::e2e_dir();
    let s = setup(&[]);
    let (ok, out, err) =
        crate::browser::run_node(&e2e, "backups.mjs", &[&s.portal.base, "root", "toor"]);
    assert!(
        ok,
        "the browser script backups.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");
    assert_eq!(files(&dir(&s), "authportal-").len(), 1);
    assert_eq!(files(&dir(&s), "safety-").len(), 1);
    assert_eq!(events_of(&s.portal, "admin.backup.create"), 1);
    assert_eq!(events_of(&s.portal, "admin.backup.restore"), 1);
    let saved: String = s
        .portal
        .db()
        .query_row(
            "SELECT config_json FROM settings WHERE section = 'backups'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let saved: Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["schedule"], "daily");
    assert_eq!(saved["time"], "04:30");
    assert_eq!(saved["keep"], 3);
}
