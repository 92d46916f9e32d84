//! The admin API: permissions by role, users, groups, sessions and grants, disabling,
//! and the audit trail.

use serde_json::{Value, json};

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal};
use crate::media::sign_in;
use crate::team::{put, setup};

#[test]
fn roles_decide_what_the_console_allows() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let vera = s.viewer(&root);

    let anon = s.portal.client();
    for path in [
        "/api/admin/users",
        "/api/admin/config",
        "/api/admin/oauth/clients",
    ] {
        assert_eq!(anon.get(path).status, 401, "{path}");
        assert_eq!(alice.get(path).status, 403, "{path}");
        let r = vera.get(path);
        assert_eq!(r.status, 200, "{path}: a viewer reads");
        assert_eq!(
            r.header("cache-control").map(|c| c.contains("no-store")),
            Some(true),
            "{path}"
        );
        assert_eq!(root.get(path).status, 200, "{path}");
    }
    let alice_id = s.uuid(&alice);
    let writes = [
        (
            "PUT",
            format!("/api/admin/users/{alice_id}/groups"),
            json!({ "groups": ["family"] }),
        ),
        (
            "POST",
            format!("/api/admin/users/{alice_id}/disable"),
            json!({}),
        ),
        (
            "PUT",
            "/api/admin/config/mfa".to_string(),
            json!({ "version": 0, "config": { "enforce_groups": [] } }),
        ),
        (
            "POST",
            "/api/admin/oauth/clients".to_string(),
            json!({ "name": "x", "redirect_uris": ["https://x.example/cb"] }),
        ),
    ];
    for (method, path, body) in &writes {
        let r = vera.send(
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(body.to_string().into_bytes()),
        );
        assert_eq!(r.status, 403, "{method} {path}: a viewer cannot write");
        assert!(r.json()["error"].as_str().unwrap().contains("role"));
    }
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM user_groups WHERE name = 'family'"),
        0
    );

    // A custom role: helpdesk may manage users but not read the settings.
    let roles = root.get("/api/admin/config/roles").json();
    let mut config = roles["config"].clone();
    config["roles"]["helpdesk"] = json!(["admin.access", "users.read", "users.write"]);
    assert_eq!(
        put(
            &root,
            "/api/admin/config/roles",
            json!({ "version": roles["version"], "config": config })
        )
        .status,
        200
    );
    assert_eq!(
        put(
            &root,
            &format!("/api/admin/users/{alice_id}/groups"),
            json!({ "groups": ["helpdesk"] })
        )
        .status,
        200
    );
    assert_eq!(
        alice.get("/api/admin/users").status,
        200,
        "a privilege change applies at the next request"
    );
    assert_eq!(alice.get("/api/admin/config").status, 403);
    // The owners cannot be locked out, and unknown permissions are refused.
    let current = root.get("/api/admin/config/roles").json();
    let mut locked = current["config"].clone();
    locked["roles"]["admins"] = json!(["users.read"]);
    assert_eq!(
        put(
            &root,
            "/api/admin/config/roles",
            json!({ "version": current["version"], "config": locked })
        )
        .status,
        400
    );
    let mut typo = current["config"].clone();
    typo["roles"]["helpdesk"] = json!(["users.wirte"]);
    let r = put(
        &root,
        "/api/admin/config/roles",
        json!({ "version": current["version"], "config": typo }),
    );
    assert!(r.json()["error"].as_str().unwrap().contains("users.wirte"));
    // And taking the role away applies at once too.
    assert_eq!(
        put(
            &root,
            &format!("/api/admin/users/{alice_id}/groups"),
            json!({ "groups": [] })
        )
        .status,
        200
    );
    assert_eq!(alice.get("/api/admin/users").status, 403);
}

#[test]
fn mfa_enforced_for_admins_guards_the_console() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let alice_id = s.uuid(&alice);
    assert_eq!(
        put(
            &root,
            &format!("/api/admin/users/{alice_id}/groups"),
            json!({ "groups": ["admins"] })
        )
        .status,
        200
    );
    // root is not in "family": enforcing it for alice's new group "family" ...
    assert_eq!(
        put(
            &root,
            &format!("/api/admin/users/{alice_id}/groups"),
            json!({ "groups": ["admins", "family"] })
        )
        .status,
        200
    );
    let r = put(
        &root,
        "/api/admin/config/mfa",
        json!({ "version": 0, "config": { "enforce_groups": ["family"] } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = alice.get("/api/admin/users");
    assert_eq!(r.status, 403, "this session has no second factor");
    assert!(r.json()["error"].as_str().unwrap().contains("two-factor"));
}

/// Enforcing MFA on a group the saving admin is in, from a session without a second
/// factor, is refused with what to do first. Enrolling does not make this session
/// two-factor (it proved only the password plus a device it registered itself: see
/// forward_auth::two_factor_rules_need_a_second_factor); a sign-in with the code does.
#[test]
fn enforcing_mfa_on_your_own_group_does_not_lock_you_out() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let save = |c: &Client, version: i64| {
        put(
            c,
            "/api/admin/config/mfa",
            json!({ "version": version, "config": { "enforce_groups": ["admins"] } }),
        )
    };
    let r = save(&root, 0);
    assert_eq!(r.status, 400, "{}", r.body);
    let e = r.json()["error"].as_str().unwrap().to_string();
    assert!(e.contains("/mfa/enroll") && e.contains("admins"), "{e}");
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM settings WHERE section = 'mfa'"),
        0,
        "nothing saved"
    );
    assert_eq!(root.get("/api/admin/users").status, 200);

    let start = root.post_json("/mfa/enroll/start", &json!({}));
    assert_eq!(start.status, 200, "{}", start.body);
    let secret = crate::totp_ref::base32_decode(start.json()["secret"].as_str().unwrap());
    let code = crate::totp_ref::code(&secret, s.portal.app().clock.now());
    let r = root.post_json("/mfa/enroll/verify", &json!({ "code": code }));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(save(&root, 0).status, 400, "still no second factor here");

    s.portal.app().clock.advance(30);
    let fresh = s.portal.client();
    fresh.use_fresh_ip();
    assert_eq!(
        sign_in(&fresh, "jellyfin", "root", "toor").header("location"),
        Some("/mfa/challenge")
    );
    let code = crate::totp_ref::code(&secret, s.portal.app().clock.now());
    assert_eq!(
        fresh
            .post_form("/mfa/challenge/verify", &[("code", &code)])
            .status,
        303
    );
    let r = save(&fresh, 0);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        fresh.get("/api/admin/users").status,
        200,
        "still in the console"
    );
}

#[test]
fn a_role_change_or_group_change_cannot_take_your_own_console_away() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let alice_id = s.uuid(&alice);
    let roles = root.get("/api/admin/config/roles").json();
    let mut config = roles["config"].clone();
    config["roles"]["ops"] = json!(["*"]);
    let r = put(
        &root,
        "/api/admin/config/roles",
        json!({ "version": roles["version"], "config": config }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let version = r.json()["version"].clone();
    assert_eq!(
        put(
            &root,
            &format!("/api/admin/users/{alice_id}/groups"),
            json!({ "groups": ["ops"] })
        )
        .status,
        200
    );
    // alice (ops) takes admin.access away from ops: refused, she would be out.
    let mut without = config.clone();
    without["roles"]["ops"] = json!(["users.read", "config.write"]);
    let r = put(
        &alice,
        "/api/admin/config/roles",
        json!({ "version": version, "config": without }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("admin.access"));
    // root (admins) may: it does not touch root's own access.
    assert_eq!(
        put(
            &root,
            "/api/admin/config/roles",
            json!({ "version": version, "config": config })
        )
        .status,
        200,
    );
    // Removing your own admins group while another admin exists is refused too.
    assert_eq!(
        put(
            &root,
            &format!("/api/admin/users/{alice_id}/groups"),
            json!({ "groups": ["admins"] })
        )
        .status,
        200
    );
    let root_id = s.uuid(&root);
    let r = put(
        &root,
        &format!("/api/admin/users/{root_id}/groups"),
        json!({ "groups": ["family"] }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("admin.access"));
    // ... but another admin may do it.
    assert_eq!(
        put(
            &alice,
            &format!("/api/admin/users/{root_id}/groups"),
            json!({ "groups": ["family"] })
        )
        .status,
        200
    );
}

#[test]
fn users_list_detail_and_search() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let _alice = s.user("alice", "wonderland");
    let all = root.get("/api/admin/users").json();
    assert_eq!(all["total"], 2);
    let found = root.get("/api/admin/users?q=ALI").json();
    assert_eq!(found["total"], 1);
    let alice = &found["users"][0];
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["identities"][0]["provider"], "jellyfin");
    assert_eq!(alice["identities"][0]["groups"], json!(["jellyfin-user"]));
    assert_eq!(alice["mfa"], false);
    assert_eq!(alice["sessions"], 1);
    assert_eq!(
        root.get("/api/admin/users?q=%25").json()["total"],
        0,
        "LIKE wildcards are literal"
    );
    assert_eq!(root.get("/api/admin/users?limit=-1").status, 400);
    assert_eq!(root.get("/api/admin/users?limit=abc").status, 400);
    let detail = root
        .get(&format!(
            "/api/admin/users/{}",
            alice["uuid"].as_str().unwrap()
        ))
        .json();
    assert_eq!(detail["sessions"].as_array().unwrap().len(), 1);
    assert!(detail["sessions"][0]["sid"].is_string());
    assert_eq!(root.get("/api/admin/users/not-a-user").status, 404);
    assert!(
        !root.get("/api/admin/users").body.contains("token"),
        "no provider tokens in the console"
    );
}

#[test]
fn disabling_a_user_ends_everything_and_blocks_sign_in() {
    let s = setup(&[("UNAUTH_REQUEST_EMAIL", "owner@example.com")]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let id = s.uuid(&alice);
    let root_id = s.uuid(&root);
    assert_eq!(
        root.post_json(&format!("/api/admin/users/{root_id}/disable"), &json!({}))
            .status,
        400,
        "not yourself"
    );
    assert_eq!(
        root.post_json(&format!("/api/admin/users/{id}/disable"), &json!({}))
            .status,
        200
    );
    assert_eq!(
        alice.get("/whoami").json()["authenticated"],
        false,
        "the live session ended"
    );
    let again = s.portal.client();
    let r = sign_in(&again, "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/restricted?provider=jellyfin"));
    assert!(r.cookie_line("authportal_session").is_none());
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'signin.failure'"),
        1
    );
    assert_eq!(
        root.post_json(&format!("/api/admin/users/{id}/enable"), &json!({}))
            .status,
        200
    );
    assert_eq!(
        sign_in(&again, "jellyfin", "alice", "wonderland").header("location"),
        Some("/home")
    );
    assert_eq!(
        s.portal.count(
            "SELECT count(*) FROM events WHERE type IN ('admin.user.disable', 'admin.user.enable')"
        ),
        2
    );
}

#[test]
fn the_last_admin_cannot_be_removed() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let root_id = s.uuid(&root);
    let r = put(
        &root,
        &format!("/api/admin/users/{root_id}/groups"),
        json!({ "groups": [] }),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("no admin"));
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM user_groups WHERE name = 'admins'"),
        1,
        "nothing half-applied"
    );
    assert_eq!(
        put(
            &root,
            &format!("/api/admin/users/{root_id}/groups"),
            json!({ "groups": ["bad group!"] })
        )
        .status,
        400
    );
}

#[test]
fn sessions_and_grants_can_be_revoked() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let alice2 = s.user("alice", "wonderland");
    let id = s.uuid(&alice);
    let detail = root.get(&format!("/api/admin/users/{id}")).json();
    let sessions = detail["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    // End one: exactly that browser is signed out.
    let first_sid = sessions[1]["sid"].as_str().unwrap();
    assert_eq!(
        root.send(
            "DELETE",
            &format!("/api/admin/sessions/{first_sid}"),
            &[],
            None
        )
        .status,
        204
    );
    let still: Vec<bool> = [&alice, &alice2]
        .iter()
        .map(|c| c.get("/whoami").json()["authenticated"] == true)
        .collect();
    assert_eq!(still.iter().filter(|b| **b).count(), 1);
    assert_eq!(
        root.send("DELETE", "/api/admin/sessions/nope", &[], None)
            .status,
        404
    );
    let r = root.post_json(
        &format!("/api/admin/users/{id}/sessions/revoke"),
        &json!({}),
    );
    assert_eq!(r.json()["ended"], 1);
    assert!(
        ![&alice, &alice2]
            .iter()
            .any(|c| c.get("/whoami").json()["authenticated"] == true)
    );
    // Grants: withdrawing an application's consent.
    let app = s.portal.app();
    let spec = authportal::oidc::clients::ClientSpec {
        name: "Wiki".into(),
        redirect_uris: vec!["https://wiki.example.com/cb".into()],
        ..Default::default()
    };
    let (client, _) = app
        .db
        .with_tx(|tx| authportal::oidc::clients::create(tx, spec, app.clock.now()))
        .unwrap();
    let alice = s.user("alice", "wonderland");
    let authz = format!(
        "/oidc/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fwiki.example.com%2Fcb&scope=openid",
        client.client_id
    );
    let consent = alice.get(&authz);
    assert_eq!(consent.status, 200);
    let mut form: Vec<(String, String)> =
        url::form_urlencoded::parse(authz.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    form.push(("decision".into(), "allow".into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        alice.post_form("/oidc/authorize/decision", &form).status,
        303
    );
    assert_eq!(
        root.get(&format!("/api/admin/users/{id}")).json()["grants"][0]["client_id"],
        client.client_id.as_str()
    );
    assert_eq!(
        root.send(
            "DELETE",
            &format!("/api/admin/users/{id}/grants/{}", client.client_id),
            &[],
            None
        )
        .status,
        204
    );
    assert_eq!(alice.get(&authz).status, 200, "consent is asked again");
    for kind in [
        "admin.session.revoke",
        "admin.session.revoke_all",
        "admin.grant.revoke",
    ] {
        assert_eq!(
            s.portal.count(&format!(
                "SELECT count(*) FROM events WHERE type = '{kind}'"
            )),
            1,
            "{kind} audited"
        );
    }
}

#[test]
fn settings_history_and_revert() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let save = |version: i64, groups: Value, reason: &str| {
        put(
            &root,
            "/api/admin/config/mfa",
            json!({ "version": version, "config": { "enforce_groups": groups }, "reason": reason }),
        )
    };
    assert_eq!(save(0, json!(["family"]), "first").status, 200);
    assert_eq!(save(1, json!(["family", "friends"]), "second").status, 200);
    let h = root.get("/api/admin/config/mfa/history").json();
    let versions = h["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[0]["reason"], "second");
    assert_eq!(versions[1]["config"]["enforce_groups"], json!(["family"]));
    assert_eq!(versions[1]["updated_by"], "root");
    assert_eq!(
        versions[0]["changes"],
        json!([r#"enforce_groups: ["family"] -> ["family","friends"]"#])
    );
    assert_eq!(
        versions[1]["changes"],
        json!([r#"enforce_groups: [] -> ["family"]"#])
    );
    // Revert to 1: a new version 3 with version 1's value.
    let r = root.post_json(
        "/api/admin/config/mfa/revert",
        &json!({ "version": 2, "to": 1 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["version"], 3);
    assert_eq!(r.json()["config"]["enforce_groups"], json!(["family"]));
    assert_eq!(
        root.get("/api/admin/config/mfa/history").json()["versions"][0]["reason"],
        "revert to version 1"
    );
    assert_eq!(
        root.post_json(
            "/api/admin/config/mfa/revert",
            &json!({ "version": 2, "to": 1 })
        )
        .status,
        409,
        "stale"
    );
    assert_eq!(
        root.post_json(
            "/api/admin/config/mfa/revert",
            &json!({ "version": 3, "to": 9 })
        )
        .status,
        400
    );
    assert_eq!(root.get("/api/admin/config/nope/history").status, 404);
    let alice = s.user("alice", "wonderland");
    assert_eq!(alice.get("/api/admin/config/mfa/history").status, 403);
}

#[test]
fn media_servers_configured_at_runtime_apply_at_once_with_sealed_secrets() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("owner", "pw")
    });
    let portal = Portal::start(&[("ADMIN_BOOTSTRAP_USERS", "owner")]);
    let c = portal.client();
    assert!(
        c.get("/").body.contains("setup code"),
        "a fresh portal opens the wizard"
    );
    // What the setup wizard stores.
    let app = portal.app();
    let incoming = json!({ "media_servers": ["jellyfin"], "jellyfin": { "url": jf.base_url(), "api_key": "super-secret-key" } });
    app.db
        .with_tx(|tx| {
            let stored =
                authportal::settings::prepare("providers", &incoming, &Value::Null, &app.sealer)
                    .map_err(authportal::error::AppError::BadRequest)?;
            let change = authportal::db::settings::Change {
                section: "providers",
                expected_version: 0,
                config: &stored,
                by: Some("test"),
                reason: None,
            };
            authportal::db::settings::put(tx, &change, 0).map(|r| r.unwrap())
        })
        .unwrap();
    app.settings_changed();
    assert!(
        c.get("/").body.contains("data-provider=\"jellyfin\""),
        "applied without a restart"
    );
    assert_eq!(sign_in(&c, "jellyfin", "owner", "pw").status, 303);
    let section = c.get("/api/admin/config/providers");
    assert_eq!(section.status, 200);
    assert_eq!(
        section.json()["config"]["jellyfin"]["api_key"],
        json!({ "set": true })
    );
    assert_eq!(section.json()["locked"], json!([]));
    assert!(!section.body.contains("super-secret-key"));
    assert!(
        !c.get("/api/admin/config/providers/history")
            .body
            .contains("super-secret-key")
    );
    let stored: String = portal
        .db()
        .query_row(
            "SELECT config_json FROM settings WHERE section = 'providers'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!stored.contains("super-secret-key"), "sealed at rest");
    // Saving the section back as shown keeps the secret.
    let config = section.json()["config"].clone();
    let r = put(
        &c,
        "/api/admin/config/providers",
        json!({ "version": 1, "config": config }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let stored_after: String = portal
        .db()
        .query_row(
            "SELECT config_json FROM settings WHERE section = 'providers'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let sealed = |s: &str| {
        serde_json::from_str::<Value>(s).unwrap()["jellyfin"]["api_key"]["sealed"].clone()
    };
    assert_eq!(sealed(&stored_after), sealed(&stored));
    // A bad value is refused with the field named, and changes nothing.
    let bad = put(
        &c,
        "/api/admin/config/providers",
        json!({ "version": 2, "config": { "media_servers": ["kodi"] } }),
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .contains("media_servers")
    );
    assert_eq!(c.get("/api/admin/config/providers").json()["version"], 2);
}

/// Stores the providers section as the setup wizard or the console does.
fn store_providers(portal: &Portal, incoming: &Value) {
    store_section(portal, "providers", incoming);
}

/// Stores a section's first version directly (no console guard in the way).
pub(crate) fn store_section(portal: &Portal, section: &str, incoming: &Value) {
    let app = portal.app();
    app.db
        .with_tx(|tx| {
            let stored =
                authportal::settings::prepare(section, incoming, &Value::Null, &app.sealer)
                    .map_err(authportal::error::AppError::BadRequest)?;
            let change = authportal::db::settings::Change {
                section,
                expected_version: 0,
                config: &stored,
                by: Some("test"),
                reason: None,
            };
            authportal::db::settings::put(tx, &change, 0).map(|r| r.unwrap())
        })
        .unwrap();
    app.settings_changed();
}

#[test]
fn check_tests_the_media_servers_the_portal_runs_with() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    let portal = Portal::start(&[("ADMIN_BOOTSTRAP_USERS", "root")]);
    store_providers(
        &portal,
        &json!({ "media_servers": ["jellyfin"], "jellyfin": { "url": jf.base_url(), "api_key": "stored-api-key" } }),
    );
    let check = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
            .arg("check")
            .envs(portal.vars.iter())
            .env_remove("MEDIA_SERVER")
            .env_remove("JELLYFIN_SERVER_URL")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, text) = check();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&jf.base_url()), "{text}");
    assert!(text.contains("jellyfin  ok: Jellyfin"), "{text}");
    assert!(!text.contains("stored-api-key"), "{text}");
    assert!(
        text.contains("\"root\" matches the Jellyfin/Emby user root"),
        "how each bootstrap entry matches: {text}"
    );
    // The stored server goes down: check says so and exits non-zero.
    drop(jf);
    let (code, text) = check();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("jellyfin  FAILED"), "{text}");
}

#[test]
fn the_environment_wins_and_locks_its_fields() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let section = root.get("/api/admin/config/providers").json();
    assert_eq!(section["locked"], json!(["media_servers", "jellyfin.url"]));
    let r = put(
        &root,
        "/api/admin/config/providers",
        json!({ "version": 0, "config": { "media_servers": ["emby"], "jellyfin": { "url": "http://127.0.0.1:9" } } }),
    );
    assert_eq!(r.status, 200);
    // Still the environment's Jellyfin.
    let again = s.portal.client();
    assert!(again.get("/").body.contains("data-provider=\"jellyfin\""));
    assert_eq!(
        sign_in(&again, "jellyfin", "alice", "wonderland").status,
        303
    );
}

#[test]
fn branding_puts_the_owners_services_and_words_on_the_pages() {
    let s = setup(&[("UNAUTH_REQUEST_EMAIL", "owner@example.com")]);
    let root = s.user("root", "toor");
    let branding = json!({
        "welcome_text": "Welcome to the Smith family server",
        "restricted_text": "Text Dad to be let in.",
        "links": [
            { "name": "Jellyfin", "url": "https://jellyfin.example.com", "description": "Films and shows" },
            { "name": "Grafana", "url": "https://grafana.example.com", "group": "admins" }
        ]
    });
    assert_eq!(
        put(
            &root,
            "/api/admin/config/branding",
            json!({ "version": 0, "config": branding })
        )
        .status,
        200
    );
    let home = root.get("/home").body;
    assert!(home.contains("Welcome to the Smith family server"));
    assert!(
        home.contains("https://jellyfin.example.com")
            && home.contains("https://grafana.example.com")
    );
    let alice = s.user("alice", "wonderland");
    let home = alice.get("/home").body;
    assert!(home.contains("https://jellyfin.example.com"));
    assert!(
        !home.contains("grafana"),
        "links for a group only show to its members"
    );
    let restricted = s.portal.client().get("/restricted?provider=jellyfin").body;
    assert!(restricted.contains("Text Dad to be let in."));
    let bad = put(
        &root,
        "/api/admin/config/branding",
        json!({ "version": 1, "config": { "links": [{ "name": "x", "url": "javascript:alert(1)" }] } }),
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .contains("links[0].url")
    );
    let xss = put(
        &root,
        "/api/admin/config/branding",
        json!({ "version": 1, "config": { "welcome_text": "<script>alert(1)</script>" } }),
    );
    assert_eq!(xss.status, 200);
    assert!(
        root.get("/home").body.contains("&lt;script&gt;"),
        "owner text is escaped"
    );
}

#[test]
fn an_uploaded_logo_and_accent_colour_are_served_to_every_page() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let anon = s.portal.client();
    // Before: the built-in shield and no theme.
    assert_eq!(
        anon.get("/branding/logo").header("content-type"),
        Some("image/svg+xml")
    );
    assert_eq!(anon.get("/branding/theme.css").body, "");
    assert!(anon.get("/").body.contains("/branding/theme.css"));
    let png: Vec<u8> = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0u8; 64]].concat();
    let up = |body: Vec<u8>, c: &Client| {
        c.send(
            "PUT",
            "/api/admin/branding/logo",
            &[("Content-Type", "application/octet-stream")],
            Some(body),
        )
    };
    assert_eq!(up(png.clone(), &s.user("alice", "wonderland")).status, 403);
    let r = up(png.clone(), &root);
    assert_eq!(r.status, 200, "{}", r.body);
    let logo = anon.get("/branding/logo");
    assert_eq!(logo.header("content-type"), Some("image/png"));
    assert_eq!(
        logo.header("content-length"),
        Some(png.len().to_string().as_str())
    );
    for bad in [
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec(),
        b"GIF89a".to_vec(),
        vec![b'x'; 70 * 1024],
    ] {
        let r = up(bad, &root);
        assert!(r.status == 400 || r.status == 413, "{}", r.status);
    }
    assert_eq!(
        anon.get("/branding/logo").header("content-type"),
        Some("image/png"),
        "a refused upload changes nothing"
    );
    assert_eq!(
        root.send("DELETE", "/api/admin/branding/logo", &[], None)
            .status,
        204
    );
    assert_eq!(
        anon.get("/branding/logo").header("content-type"),
        Some("image/svg+xml")
    );
    // The accent colour, validated.
    assert_eq!(
        put(
            &root,
            "/api/admin/config/branding",
            json!({ "version": 0, "config": { "accent_color": "red;}body{x" } })
        )
        .status,
        400
    );
    assert_eq!(
        put(
            &root,
            "/api/admin/config/branding",
            json!({ "version": 0, "config": { "accent_color": "#e5a00d" } })
        )
        .status,
        200
    );
    assert_eq!(
        anon.get("/branding/theme.css").body,
        ":root { --accent: #e5a00d; --accent-2: #e5a00d; }\n"
    );
}

#[test]
fn the_security_section_sets_how_long_a_sign_in_lasts() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    assert_eq!(
        put(
            &root,
            "/api/admin/config/security",
            json!({ "version": 0, "config": { "session_hours": 0 } })
        )
        .status,
        400
    );
    assert_eq!(
        put(
            &root,
            "/api/admin/config/security",
            json!({ "version": 0, "config": { "session_hours": 2 } })
        )
        .status,
        200
    );
    let c = s.portal.client();
    c.use_fresh_ip();
    let r = sign_in(&c, "jellyfin", "alice", "wonderland");
    assert!(
        r.cookie_line("authportal_session")
            .unwrap()
            .contains("Max-Age=7200")
    );
    s.portal.app().clock.advance(7201);
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
}

#[test]
fn times_show_in_app_timezone() {
    let s = setup(&[("APP_TIMEZONE", "Europe/Berlin")]);
    let root = s.user("root", "toor");
    let page = root.get("/admin/users").body;
    assert!(page.contains("data-tz=\"Europe/Berlin\""));
    assert!(page.contains(" CET") || page.contains(" CEST"), "{page}");
    assert!(!page.contains(" UTC<"), "not in UTC");
    let home = root.get("/home").body;
    assert!(home.contains(" CET") || home.contains(" CEST"));
}

#[test]
fn the_users_list_pages() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    s.user("alice", "wonderland");
    s.user("vera", "viewer");
    let page = |q: &str| root.get(&format!("/api/admin/users?{q}")).json();
    let all = page("limit=50");
    assert_eq!(all["total"], 3);
    let names: Vec<String> = all["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    let mut seen = Vec::new();
    for offset in 0..3 {
        let p = page(&format!("limit=1&offset={offset}"));
        assert_eq!(p["total"], 3);
        assert_eq!(p["users"].as_array().unwrap().len(), 1);
        seen.push(p["users"][0]["username"].as_str().unwrap().to_string());
    }
    assert_eq!(
        seen, names,
        "pages walk the same order without gaps or repeats"
    );
    assert_eq!(
        page("limit=1&offset=3")["users"].as_array().unwrap().len(),
        0
    );
    // The same walk by key: each page says where the next starts; the last says null.
    let mut by_key = Vec::new();
    let mut query = "limit=1".to_string();
    loop {
        let p = page(&query);
        assert_eq!(p["total"], 3);
        by_key.push(p["users"][0]["username"].as_str().unwrap().to_string());
        match p["next"].as_str() {
            Some(next) => query = format!("limit=1&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(by_key, names, "cursor pages walk the same order");
    for bad in ["cursor=abc", "cursor=1.-2", "cursor=1.2&offset=0"] {
        let r = root.get(&format!("/api/admin/users?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains("cursor"),
            "{bad}"
        );
    }
    // The console pages by key too, numbering what it shows.
    let first = root.get("/admin/users");
    assert_eq!(first.status, 200);
    assert!(first.body.contains("Showing 1–3 of 3"), "{}", first.body);
    assert_eq!(root.get("/admin/users?offset=1").status, 200);
    assert_eq!(root.get("/admin/users?cursor=nonsense").status, 200);
}

/// `GET | jq | PUT`: the document GET answers is accepted whole; its read-only fields are
/// ignored, but a `section` naming another section is refused.
#[test]
fn a_section_document_sent_back_whole_is_accepted() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let mut doc = root.get("/api/admin/config/mfa").json();
    assert!(doc.get("updated_at").is_some() && doc.get("locked").is_some());
    doc["config"]["enforce_groups"] = json!(["family"]);
    let r = put(&root, "/api/admin/config/mfa", doc.clone());
    assert_eq!(r.status, 200, "{}", r.body);
    let mut saved = r.json();
    assert_eq!(saved["config"]["enforce_groups"], json!(["family"]));
    assert_eq!(saved["updated_by"], "root");

    // Sent again, with its (now filled-in) read-only fields: still fine.
    saved["config"]["enforce_groups"] = json!(["friends"]);
    assert_eq!(
        put(&root, "/api/admin/config/mfa", saved.clone()).status,
        200
    );

    saved["version"] = json!(2);
    saved["section"] = json!("roles");
    let r = put(&root, "/api/admin/config/mfa", saved);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("roles"));
    assert_eq!(
        root.get("/api/admin/config/mfa").json()["config"]["enforce_groups"],
        json!(["friends"]),
        "nothing changed"
    );
    let mut typo = root.get("/api/admin/config/mfa").json();
    typo["confg"] = json!({});
    assert_eq!(
        put(&root, "/api/admin/config/mfa", typo).status,
        400,
        "unknown fields still refused"
    );
}

/// The real binary against the running portal's data directory.
pub(crate) fn cli(p: &Portal, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
        .args(args)
        .envs(p.vars.iter())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Locked out of the console (MFA enforced, no second factor): the command line gets the
/// owner back in while the portal runs, and each change is an audit event.
#[test]
fn the_command_line_recovers_a_locked_out_console() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    store_section(&s.portal, "mfa", &json!({ "enforce_groups": ["admins"] }));
    assert_eq!(root.get("/api/admin/users").status, 403, "locked out");

    let (code, out, err) = cli(&s.portal, &["admin", "list"]);
    assert_eq!(code, Some(0), "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["admins"][0]["username"], "root");
    assert_eq!(list["admins"].as_array().unwrap().len(), 1);

    let (code, out, err) = cli(&s.portal, &["admin", "grant", "Alice"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("now an admin"), "{out}");
    let (code, out, _) = cli(&s.portal, &["admin", "grant", "alice"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("already"), "{out}");
    let (code, _, err) = cli(&s.portal, &["admin", "grant", "nobody"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no user \"nobody\""), "{err}");

    // alice is an admin at her next request; MFA is enforced for admins, so she is asked
    // for a second factor too. The owner lifts that for root with `mfa reset` ...
    let (code, _, err) = cli(&s.portal, &["mfa", "reset", "root"]);
    assert_eq!(code, Some(0), "{err}");
    // ... and takes alice out again; the last admin cannot be revoked.
    assert!(forward_auth_groups(&alice).contains("admins"));
    let (code, _, err) = cli(&s.portal, &["admin", "revoke", "alice"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(alice.get("/whoami").json()["admin"], false);
    // Forward-auth answers from memory; a change made by another process reaches it
    // within access_cache::SESSION_TTL (1 s; the bound here is loose on purpose).
    let waited = std::time::Instant::now();
    while forward_auth_groups(&alice).contains("admins") {
        assert!(
            waited.elapsed().as_secs() < 3,
            "forward-auth still says admin"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, _, err) = cli(&s.portal, &["admin", "revoke", "root"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no admin"), "{err}");
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM user_groups WHERE name = 'admins'"),
        1
    );
    assert_eq!(
        s.portal.count(
            "SELECT count(*) FROM events WHERE type = 'admin.user.groups' AND detail_json LIKE '%\"via\":\"cli\"%'"
        ),
        2
    );
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'admin.mfa.reset'"),
        1
    );
    // Called wrongly: the usage, exit 2, nothing done.
    for args in [
        &["admin", "grant"][..],
        &["admin", "grant", "alice", "--force"],
        &["admin", "frobnicate"],
        &["mfa", "reset"],
    ] {
        let (code, _, err) = cli(&s.portal, args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("usage: authportal"), "{args:?}: {err}");
    }
}

/// The groups forward-auth hands an app for this client.
fn forward_auth_groups(c: &Client) -> String {
    let r = c.send(
        "GET",
        "/auth/verify",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
            ("X-Forwarded-Uri", "/"),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.header("remote-groups").unwrap_or("").to_string()
}

/// An unknown flag, an unknown preset or a flag without its value is a usage error
/// (exit 2) that makes nothing: an unknown flag used to be ignored, with exit 0.
#[test]
fn commands_refuse_unknown_flags_and_flags_without_values() {
    let portal = Portal::start(&[]);
    for args in [
        &[
            "oauth-client",
            "create",
            "--name",
            "Grafana",
            "--redirect-uri",
            "https://g.example.com/cb",
            "--presett",
            "grafana",
        ][..],
        &[
            "oauth-client",
            "create",
            "--name",
            "Grafana",
            "--preset",
            "grafanna",
            "--app-url",
            "https://g.example.com",
        ],
        &[
            "oauth-client",
            "create",
            "--name",
            "Grafana",
            "--redirect-uri",
        ],
        &[
            "oauth-client",
            "create",
            "--name",
            "--public",
            "--redirect-uri",
            "https://g.example.com/cb",
        ],
        &["keys", "rotate", "--bitz", "4096"],
        &["restore", "x.bak", "--all"],
    ] {
        let (code, out, err) = cli(&portal, args);
        assert_eq!(code, Some(2), "{args:?}: {out} {err}");
        assert!(err.contains("usage: authportal"), "{args:?}: {err}");
    }
    assert_eq!(portal.count("SELECT count(*) FROM oauth_clients"), 0);
    let (code, out, err) = cli(
        &portal,
        &[
            "oauth-client",
            "create",
            "--name",
            "Grafana",
            "--redirect-uri",
            "https://g.example.com/cb",
        ],
    );
    assert_eq!(code, Some(0), "{out} {err}");
}

/// People see their own sessions and end any of them; someone else's id is a 404, and
/// ending the current one clears the cookie. The id is the public one, not the cookie.
#[test]
fn people_see_and_end_their_own_sessions() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let alice2 = s.user("alice", "wonderland");
    assert_eq!(s.portal.client().get("/api/me/sessions").status, 401);

    let r = alice.get("/api/me/sessions");
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    let current: Vec<&Value> = list.iter().filter(|x| x["current"] == true).collect();
    assert_eq!(current.len(), 1);
    for x in &list {
        for field in [
            "id",
            "current",
            "created_at",
            "last_seen",
            "ip",
            "user_agent",
            "amr",
        ] {
            assert!(x.get(field).is_some(), "{field} in {x}");
        }
        let id = x["id"].as_str().unwrap();
        for c in [&alice, &alice2] {
            let cookie = c.cookie("authportal_session").unwrap();
            assert!(!cookie.contains(id), "the id is not the cookie's secret");
        }
    }
    assert_eq!(current[0]["amr"], json!(["pwd"]));
    let mine = current[0]["id"].as_str().unwrap().to_string();
    let other = list.iter().find(|x| x["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Someone else's session: 404, exactly like one that does not exist.
    let root_sid = root.get("/api/me/sessions").json()["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in [root_sid.as_str(), "nope"] {
        let r = alice.send("DELETE", &format!("/api/me/sessions/{id}"), &[], None);
        assert_eq!(r.status, 404, "{id}: {}", r.body);
    }
    assert_eq!(root.get("/whoami").json()["authenticated"], true);

    // The other browser: ended, this one stays.
    let r = alice.send("DELETE", &format!("/api/me/sessions/{other}"), &[], None);
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.cookie_line("authportal_session").is_none());
    assert_eq!(alice2.get("/whoami").json()["authenticated"], false);
    assert_eq!(alice.get("/whoami").json()["authenticated"], true);

    // This browser: ended and its cookie cleared.
    let r = alice.send("DELETE", &format!("/api/me/sessions/{mine}"), &[], None);
    assert_eq!(r.status, 204);
    assert!(
        r.cookie_line("authportal_session")
            .is_some_and(|l| l.contains("Max-Age=0")),
        "{:?}",
        r.set_cookies()
    );
    assert_eq!(alice.get("/whoami").json()["authenticated"], false);
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'session.end'"),
        2
    );

    // /home lists them and its form ends one.
    let a = s.user("alice", "wonderland");
    let b = s.user("alice", "wonderland");
    let home = a.get("/home");
    assert!(home.body.contains("Your sessions"), "{}", home.body);
    assert!(home.body.contains("this browser"));
    let b_sid = b.get("/api/me/sessions").json()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a.post_form("/sessions/end", &[("id", &b_sid)]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/home"));
    assert_eq!(b.get("/whoami").json()["authenticated"], false);
    assert_eq!(a.get("/whoami").json()["authenticated"], true);
}

/// /admin/sessions: every live session with its browser in words; users.read sees it,
/// only users.write gets the revoke buttons; the overview links to it.
#[test]
fn the_console_lists_every_live_session() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let vera = s.viewer(&root);
    s.portal
        .db()
        .execute(
            "UPDATE sessions SET user_agent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'
             WHERE user_id = (SELECT id FROM users WHERE username = 'alice')",
            [],
        )
        .unwrap();
    let page = root.get("/admin/sessions");
    assert_eq!(page.status, 200, "{}", page.body);
    for text in [
        "alice",
        "root",
        "vera",
        "Firefox on Windows",
        "data-revoke-session",
        "data-revoke-user",
    ] {
        assert!(page.body.contains(text), "{text}");
    }
    let viewer = vera.get("/admin/sessions");
    assert_eq!(viewer.status, 200);
    assert!(viewer.body.contains("Firefox on Windows"));
    assert!(
        !viewer.body.contains("data-revoke-session"),
        "no write controls"
    );
    assert_eq!(alice.get("/admin/sessions").status, 403);
    let alice_id = s.uuid(&alice);
    let user_page = root.get(&format!("/admin/users/{alice_id}"));
    assert!(
        user_page.body.contains("Firefox on Windows"),
        "a person's page too"
    );
    assert!(root.get("/admin").body.contains("href=\"/admin/sessions\""));
}

/// A 404 for someone signed in leads home, not to sign-in.
#[test]
fn a_not_found_page_leads_the_signed_in_home() {
    let s = setup(&[]);
    let alice = s.user("alice", "wonderland");
    let r = alice.get("/no-such-page");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("href=\"/home\""), "{}", r.body);
    assert!(!r.body.contains("Back to sign-in"), "{}", r.body);
    let r = s.portal.client().get("/no-such-page");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Back to sign-in"), "{}", r.body);
}

/// The last admin cannot disable themselves (nor can any admin: another must do it).
#[test]
fn an_admin_cannot_disable_themselves() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let root_id = s.uuid(&root);
    let r = root.post_json(&format!("/api/admin/users/{root_id}/disable"), &json!({}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("yourself"));
    assert_eq!(root.get("/api/admin/users").status, 200);
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM users WHERE disabled_at IS NOT NULL"),
        0
    );
}

/// Reverting to a version that would shut out the admin reverting is refused the same way.
#[test]
fn a_revert_cannot_take_your_own_console_away() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let alice_id = s.uuid(&alice);
    let roles = |ops: Value| json!({ "roles": { "admins": ["*"], "ops": ops } });
    let r = put(
        &root,
        "/api/admin/config/roles",
        json!({ "version": 0, "config": roles(json!(["users.read"])) }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = put(
        &root,
        "/api/admin/config/roles",
        json!({ "version": 1, "config": roles(json!(["*"])) }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        put(
            &root,
            &format!("/api/admin/users/{alice_id}/groups"),
            json!({ "groups": ["ops"] })
        )
        .status,
        200
    );
    let r = alice.post_json(
        "/api/admin/config/roles/revert",
        &json!({ "version": 2, "to": 1 }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("admin.access"));
    assert_eq!(alice.get("/api/admin/users").status, 200);
    // root is in admins: the same revert does not touch root's access.
    let r = root.post_json(
        "/api/admin/config/roles/revert",
        &json!({ "version": 2, "to": 1 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Forward-auth's 403 names the app and who is signed in, shows the owner's words and
/// offers to switch account, not "Back to sign-in".
#[test]
fn a_forward_auth_refusal_names_the_app_and_the_person() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let access = root.get("/api/admin/config/access").json();
    let r = put(
        &root,
        "/api/admin/config/access",
        json!({ "version": access["version"], "config": {
            "default_policy": "signed_in",
            "rules": [{ "name": "admins", "hosts": ["sonarr.example.com"], "groups": ["admins"] }]
        } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut branding = root.get("/api/admin/config/branding").json();
    branding["config"]["restricted_text"] = json!("Ask Sam on the family chat.");
    let r = put(&root, "/api/admin/config/branding", branding);
    assert_eq!(r.status, 200, "{}", r.body);

    let r = alice.send(
        "GET",
        "/auth/verify",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "sonarr.example.com"),
            ("X-Forwarded-Uri", "/"),
            ("X-Forwarded-Method", "GET"),
            ("Accept", "text/html"),
        ],
        None,
    );
    assert_eq!(r.status, 403);
    for text in [
        "sonarr.example.com",
        "alice",
        "Ask Sam on the family chat.",
        "Switch account",
        "not allowed here",
    ] {
        assert!(r.body.contains(text), "{text}: {}", r.body);
    }
    assert!(!r.body.contains("Back to sign-in"), "{}", r.body);
}

/// Nobody hands out more of the console than they hold: users.write alone cannot make
/// anyone (its holder included) an admin or put them in a group with other permissions,
/// and config.write alone cannot give a role a permission its editor lacks ("*" least
/// of all), by the form's API or by reverting to an old version.
#[test]
fn console_roles_cannot_be_climbed() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let alice_id = s.uuid(&alice);
    let groups = format!("/api/admin/users/{alice_id}/groups");
    let save_roles = |who: &Client, edit: &dyn Fn(&mut Value)| {
        let current = who.get("/api/admin/config/roles").json();
        let mut config = current["config"].clone();
        edit(&mut config);
        put(
            who,
            "/api/admin/config/roles",
            json!({ "version": current["version"], "config": config }),
        )
    };
    let r = save_roles(&root, &|c| {
        c["roles"]["helpdesk"] = json!(["admin.access", "users.read", "users.write"]);
        c["roles"]["settings"] = json!(["admin.access", "config.read", "config.write"]);
    });
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        put(&root, &groups, json!({ "groups": ["helpdesk"] })).status,
        200
    );

    for climb in [
        json!(["helpdesk", "admins"]),
        json!(["helpdesk", "settings"]),
    ] {
        let r = put(&alice, &groups, json!({ "groups": climb }));
        assert_eq!(r.status, 400, "{climb}: {}", r.body);
        assert!(r.body.contains("do not hold"), "{}", r.body);
    }
    assert_eq!(alice.get("/whoami").json()["admin"], false);
    assert_eq!(alice.get("/api/admin/config").status, 403);
    // What she holds she may give.
    assert_eq!(
        put(&alice, &groups, json!({ "groups": ["helpdesk"] })).status,
        200
    );
    // Nor may she demote, disable or reset the second factor of someone above her.
    let root_id = s.uuid(&root);
    for (method, path, body) in [
        (
            "PUT",
            format!("/api/admin/users/{root_id}/groups"),
            json!({ "groups": [] }),
        ),
        (
            "POST",
            format!("/api/admin/users/{root_id}/disable"),
            json!({}),
        ),
        (
            "POST",
            format!("/api/admin/users/{root_id}/mfa/reset"),
            json!({}),
        ),
    ] {
        let r = crate::team::send_json(&alice, method, &path, &body);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains("which you do not"), "{}", r.body);
    }
    assert_eq!(root.get("/whoami").json()["admin"], true);

    assert_eq!(
        put(&root, &groups, json!({ "groups": ["settings"] })).status,
        200
    );
    for grant in [
        json!(["*"]),
        json!(["admin.access", "config.write", "users.write"]),
    ] {
        let r = save_roles(&alice, &|c| c["roles"]["settings"] = grant.clone());
        assert_eq!(r.status, 400, "{grant}: {}", r.body);
        assert!(r.body.contains("do not hold"), "{}", r.body);
    }
    let r = save_roles(&alice, &|c| {
        c["roles"]["ops"] = json!(["admin.access", "config.read"])
    });
    assert_eq!(r.status, 200, "{}", r.body);
    // Reverting to a version that granted more is the same change.
    let r = save_roles(&root, &|c| {
        c["roles"]["ops"] = json!(["admin.access", "backups.write"])
    });
    assert_eq!(r.status, 200, "{}", r.body);
    let granted = root.get("/api/admin/config/roles").json()["version"].clone();
    let r = save_roles(&root, &|c| c["roles"]["ops"] = json!(["admin.access"]));
    assert_eq!(r.status, 200, "{}", r.body);
    let now = root.get("/api/admin/config/roles").json()["version"].clone();
    let r = alice.post_json(
        "/api/admin/config/roles/revert",
        &json!({ "version": now, "to": granted }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("backups.write"), "{}", r.body);
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM user_groups WHERE name = 'admins'"),
        1,
        "root only"
    );
}
