//! The console's forms for access rules (/admin/access), roles (/admin/roles) and MFA
//! enforcement groups (/admin/settings/mfa): what the pages offer, and that the one
//! settings API they save through keeps what was written, refuses bad input naming the
//! rule and field, and changes nothing when it refuses.

use serde_json::{Value, json};

use crate::harness::{Client, Resp};
use crate::team::{Setup, put, setup};

fn verify(c: &Client, host: &str, uri: &str) -> Resp {
    c.send(
        "GET",
        "/auth/verify",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", host),
            ("X-Forwarded-Uri", uri),
            ("X-Forwarded-Method", "GET"),
        ],
        None,
    )
}

fn version(c: &Client, section: &str) -> i64 {
    c.get(&format!("/api/admin/config/{section}")).json()["version"]
        .as_i64()
        .unwrap()
}

fn save(c: &Client, section: &str, config: Value) -> Resp {
    let v = version(c, section);
    put(
        c,
        &format!("/api/admin/config/{section}"),
        json!({ "version": v, "config": config }),
    )
}

fn team() -> (Setup, Client) {
    let s = setup(&[
        ("SESSION_COOKIE_DOMAIN", "example.com"),
        ("MFA_ENABLE", "1"),
    ]);
    let root = s.user("root", "toor");
    (s, root)
}

#[test]
fn the_access_page_shows_each_rule_as_a_form_with_the_tester() {
    let (s, root) = team();
    let r = save(
        &root,
        "access",
        json!({"default_policy": "deny", "rules": [
            {"name": "sonarr admins", "hosts": ["sonarr.example.com"], "groups": ["admins"],
             "headers": {"Remote-User": "{user}"}, "policy": "two_factor"}
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let page = root.get("/admin/access");
    assert_eq!(page.status, 200);
    for want in [
        "value=\"sonarr admins\"",
        "sonarr.example.com</textarea>",
        "Remote-User: {user}</textarea>",
        "data-f=\"path_regex\"",
        "data-f=\"network_mode\"",
        "data-f=\"login_cookie.url\"",
        "data-f=\"native_apps.trusted_ip_hours\"",
        "value=\"jellyfin-user\"",
        "id=\"access-rule-template\"",
        "id=\"access-test-form\"",
        "href=\"/admin/settings/access\"",
    ] {
        assert!(page.body.contains(want), "{want} missing");
    }
    // The empty rule "Add rule" clones starts disabled.
    let template = &page.body[page.body.find("access-rule-template").unwrap()..];
    let enabled = &template[template.find("data-f=\"enabled\"").unwrap() - 40..][..80];
    assert!(!enabled.contains("checked"), "{enabled}");
    // A reader without config.write sees the rules but no way to save.
    let vera = s.viewer(&root);
    let page = vera.get("/admin/access");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("value=\"sonarr admins\""));
    assert!(!page.body.contains("access-save"));
}

#[test]
fn saved_rules_keep_their_keys_in_the_order_written() {
    let (s, root) = team();
    // Sent as text: the order is what the owner typed, not what a map would sort to.
    let body = r#"{"version": 0, "config": {"default_policy": "signed_in", "rules": [
        {"name": "z first", "policy": "deny", "hosts": ["a.example.com"], "paths": ["/admin/"]}]}}"#;
    let r = root.send(
        "PUT",
        "/api/admin/config/access",
        &[("Content-Type", "application/json")],
        Some(body.as_bytes().to_vec()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let text = root.get("/api/admin/config/access").body;
    let at = |k: &str| text.find(k).unwrap_or_else(|| panic!("{k} in {text}"));
    assert!(
        at("\"name\"") < at("\"policy\"") && at("\"policy\"") < at("\"hosts\""),
        "{text}"
    );
    let stored: String = s
        .portal
        .db()
        .query_row(
            "SELECT config_json FROM settings WHERE section = 'access'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        stored.find("\"name\"") < stored.find("\"hosts\""),
        "{stored}"
    );
    // The history shows the added rule on lines of its own, not one line of JSON.
    let page = root.get("/admin/settings/access");
    assert!(
        page.body
            .contains("rules[0]: added {\n  &quot;name&quot;: &quot;z first&quot;,\n"),
        "{}",
        page.body
    );
}

#[test]
fn a_bad_rule_is_refused_naming_rule_and_field_and_nothing_changes() {
    let (_s, root) = team();
    let good = json!({"default_policy": "signed_in", "rules": [{"name": "ok", "hosts": ["app.example.com"]}]});
    assert_eq!(save(&root, "access", good.clone()).status, 200);
    for (bad, want) in [
        (
            json!({"name": "web", "hosts": ["https://app.example.com/"]}),
            "rule 2 (web): hosts: ",
        ),
        (
            json!({"name": "p", "paths": ["admin"]}),
            "rule 2 (p): paths: ",
        ),
        (
            json!({"name": "r", "path_regex": "(unclosed"}),
            "rule 2 (r): path_regex: ",
        ),
        (
            json!({"name": "n", "networks": ["10.0.0.0/99"]}),
            "rule 2 (n): networks: ",
        ),
        (
            json!({"name": "h", "headers": {"Set-Cookie": "x"}}),
            "rule 2 (h): headers: ",
        ),
        (
            json!({"name": "c", "login_cookie": {"url": "javascript:alert(1)", "form": {}}}),
            "rule 2 (c): login_cookie.url: ",
        ),
        (
            json!({"name": "t", "inject_media_token": true}),
            "rule 2 (t): media_provider: ",
        ),
        (
            json!({"name": "typo", "polcy": "deny"}),
            "unknown field `polcy`",
        ),
        (json!({"name": "e", "enabled": "yes"}), "invalid type"),
    ] {
        let mut doc = good.clone();
        doc["rules"].as_array_mut().unwrap().push(bad.clone());
        let r = save(&root, "access", doc);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.contains(want), "{bad}: {error}");
    }
    let now = root.get("/api/admin/config/access").json();
    assert_eq!(now["version"], 1, "nothing was saved");
    assert_eq!(now["config"], good);
}

#[test]
fn a_disabled_rule_matches_nothing_until_enabled() {
    let (_s, root) = team();
    let rules = |enabled: bool| {
        json!({"default_policy": "signed_in", "rules": [
            {"name": "closed", "enabled": enabled, "hosts": ["app.example.com"], "policy": "deny"}
        ]})
    };
    assert_eq!(save(&root, "access", rules(false)).status, 200);
    assert_eq!(verify(&root, "app.example.com", "/").status, 200);
    let probe = json!({"user": "root", "url": "https://app.example.com/", "method": "GET", "ip": "192.168.1.5"});
    let t = root.post_json("/api/admin/access/test", &probe).json();
    assert_eq!(
        (t["decision"].as_str(), t["rule"].as_str()),
        (Some("allow"), None)
    );
    assert_eq!(save(&root, "access", rules(true)).status, 200);
    assert_eq!(verify(&root, "app.example.com", "/").status, 403);
    let t = root.post_json("/api/admin/access/test", &probe).json();
    assert_eq!(
        (t["decision"].as_str(), t["rule"].as_str()),
        (Some("deny"), Some("closed"))
    );
}

#[test]
fn the_roles_page_is_groups_by_permissions_and_admins_keep_everything() {
    let (s, root) = team();
    let vera = s.viewer(&root);
    drop(vera);
    let page = root.get("/admin/roles");
    assert_eq!(page.status, 200);
    for want in [
        "data-role=\"admins\"",
        "data-role=\"viewers\"",
        "data-role=\"jellyfin-user\"",
        "data-perm=\"webhooks.write\"",
        "href=\"/admin/settings/roles\"",
    ] {
        assert!(page.body.contains(want), "{want} missing");
    }
    let admins = &page.body[page.body.find("data-role=\"admins\"").unwrap()..];
    let admins = &admins[..admins.find("</tr>").unwrap()];
    assert_eq!(
        admins.matches("checked disabled").count(),
        1 + authportal::roles::Permission::ALL.len(),
        "every box of admins is ticked and locked: {admins}"
    );
    // What the form sends: admins may not lose anything, and nothing changes.
    let r = save(
        &root,
        "roles",
        json!({"roles": {"admins": ["admin.access"], "viewers": ["admin.access"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("roles.admins"));
    assert_eq!(version(&root, "roles"), 0);
    let r = save(
        &root,
        "roles",
        json!({"roles": {"admins": ["*"], "jellyfin-user": ["admin.access", "events.read"]}}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let alice = s.user("alice", "wonderland");
    assert_eq!(alice.get("/admin/events").status, 200);
    assert_eq!(alice.get("/admin/users").status, 403);
}

#[test]
fn mfa_enforcement_is_picked_from_the_known_groups_without_locking_out() {
    let (_s, root) = team();
    let page = root.get("/admin/settings/mfa");
    assert_eq!(page.status, 200);
    for group in ["admins", "viewers", "jellyfin-admin", "jellyfin-user"] {
        assert!(
            page.body
                .contains(&format!("name=\"enforce\" value=\"{group}\"")),
            "{group} missing"
        );
    }
    assert!(
        !page.body.contains("plex-friend"),
        "only the servers in use"
    );
    let r = save(&root, "mfa", json!({"enforce_groups": ["admins"]}));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("/mfa/enroll"));
    assert_eq!(version(&root, "mfa"), 0, "refused: nothing saved");
    assert_eq!(root.get("/admin").status, 200, "still in the console");
    let r = save(&root, "mfa", json!({"enforce_groups": ["viewers"]}));
    assert_eq!(r.status, 200, "{}", r.body);
    let page = root.get("/admin/settings/mfa");
    assert!(page.body.contains("value=\"viewers\" checked"));
}
