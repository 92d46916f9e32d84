//! The overview's next steps: this install's addresses and forward-auth snippets, and a
//! warning, saying what to do, for each thing the portal can tell is off.

use serde_json::json;

use crate::fakes::Fault;
use crate::harness::Client;
use crate::team::{put, setup};

/// The warnings on the overview, by their ids.
fn warnings(admin: &Client) -> Vec<String> {
    let page = admin.get("/admin");
    assert_eq!(page.status, 200, "{}", page.body);
    let re = regex::Regex::new(r#"data-warning="([a-z-]+)""#).unwrap();
    re.captures_iter(&page.body)
        .map(|c| c[1].to_string())
        .collect()
}

#[test]
fn next_steps_show_this_installs_addresses_and_snippets() {
    let base = "https://auth.home.example.net";
    let s = setup(&[
        ("APP_BASE_URL", base),
        ("SESSION_COOKIE_DOMAIN", "home.example.net"),
        ("METRICS_TOKEN", "m-token"),
    ]);
    let root = s.portal.client();
    *root.origin.borrow_mut() = Some(base.into());
    root.use_fresh_ip();
    let r = crate::media::sign_in(&root, "jellyfin", "root", "toor");
    assert_eq!(r.status, 303, "{}", r.body);
    let page = root.get("/admin").body;
    let listen = &s.portal.vars["LISTEN_ADDR"];
    for expected in [
        "id=\"next-steps\"",
        "https://auth.home.example.net/<",
        "https://auth.home.example.net/.well-known/openid-configuration",
        "server_name auth.home.example.net;",
        "server_name app.home.example.net;",
        &format!("proxy_pass http://{listen}/auth/verify;"),
        &format!("forward_auth {listen} {{"),
        "app.home.example.net {",
        "rule: Host(`app.home.example.net`)",
        &format!("address: http://{listen}/auth/verify"),
        "data-copy=\"snippet-nginx\"",
        "data-copy=\"snippet-caddy\"",
        "data-copy=\"snippet-traefik\"",
        "data-copy=\"share-signin\"",
    ] {
        assert!(page.contains(expected), "{expected:?} missing from\n{page}");
    }
    // https, a cookie domain, a metrics token: only the backup schedule is missing.
    assert_eq!(warnings(&root), vec!["backups"]);
}

#[test]
fn each_warning_appears_when_its_cause_does_and_says_what_to_do() {
    let s = setup(&[("APP_BASE_URL", "http://192.168.1.5:8089")]);
    let root = s.portal.client();
    *root.origin.borrow_mut() = Some("http://192.168.1.5:8089".into());
    root.use_fresh_ip();
    assert_eq!(
        crate::media::sign_in(&root, "jellyfin", "root", "toor").status,
        303
    );
    assert_eq!(warnings(&root), vec!["https", "backups", "metrics"]);
    let page = root.get("/admin").body;
    assert!(
        page.contains("set APP_BASE_URL=https://192.168.1.5"),
        "{page}"
    );
    assert!(page.contains("Set METRICS_TOKEN"));
    assert!(page.contains("Turn on a schedule on the Backups page"));

    // A rule for a host the (host-only) cookie does not reach.
    let r = put(
        &root,
        "/api/admin/config/access",
        json!({ "version": 0, "config": { "default_policy": "signed_in", "rules": [
            { "name": "media", "hosts": ["media.example.org"], "policy": "signed_in" }
        ] } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = put(
        &root,
        "/api/admin/config/backups",
        json!({ "version": 0, "config": { "schedule": "daily", "time": "03:00", "keep": 7 } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(warnings(&root), vec!["https", "cookie-domain", "metrics"]);
    let page = root.get("/admin").body;
    assert!(
        page.contains("Access rules name media.example.org")
            && page.contains("Set SESSION_COOKIE_DOMAIN"),
        "{page}"
    );

    // Re-validation that cannot reach the media server.
    authportal::revalidate::run_once(s.portal.app()).unwrap();
    assert!(!warnings(&root).contains(&"revalidation".to_string()));
    s.jf.fail("/", Fault::Status(503));
    s.portal.app().clock.advance(3600);
    authportal::revalidate::run_once(s.portal.app()).unwrap();
    assert!(
        warnings(&root).contains(&"revalidation".to_string()),
        "{}",
        root.get("/admin").body
    );
    assert!(root.get("/admin").body.contains("run authportal check"));
}

#[test]
fn a_proxy_the_portal_does_not_trust_is_named() {
    let jf = crate::fakes::jellyfin::FakeJellyfin::start(crate::fakes::jellyfin::Mode::Jellyfin);
    jf.add_user(crate::fakes::jellyfin::FakeUser::new("root", "toor"));
    let portal = crate::media::jellyfin_portal(&jf, &[("ADMIN_BOOTSTRAP_USERS", "root")]);
    let root = portal.client();
    assert_eq!(
        crate::media::sign_in(&root, "jellyfin", "root", "toor").status,
        303
    );
    assert!(!warnings(&root).contains(&"proxy".to_string()), "no proxy");
    root.extra_headers
        .replace(vec![("X-Forwarded-For".into(), "203.0.113.7".into())]);
    assert!(warnings(&root).contains(&"proxy".to_string()));
    assert!(
        root.get("/admin")
            .body
            .contains("Set TRUSTED_PROXY_CIDRS=127.0.0.1")
    );
}
