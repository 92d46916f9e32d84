//! Where the portal's outbound requests may go: loopback, link-local and metadata
//! addresses refused unless OUTBOUND_ALLOW (or the console's security.outbound_allow)
//! lists them, judged on the resolved address; the configured media servers always allowed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fakes::http::{FakeServer, text_response};
use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::fakes::receiver::Receiver;
use crate::harness::{Client, Portal};
use crate::team::{put, setup};

const REFUSED_LOOPBACK: &str =
    "destination not allowed (loopback address); add it to OUTBOUND_ALLOW";

fn hook(url: &str) -> Value {
    json!({ "name": "hook", "events": ["signin.success"], "method": "POST", "url": url,
            "body_template": "{\"u\": \"{user.username}\"}" })
}

/// Creates a rule and sends it a test event; returns the settled delivery.
fn deliver(c: &Client, url: &str) -> Value {
    let r = c.post_json("/api/admin/webhooks", &hook(url));
    assert_eq!(r.status, 201, "{url}: {}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(
        c.post_json(&format!("/api/admin/webhooks/{id}/test"), &json!({}))
            .status,
        202
    );
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let list = c
            .get(&format!("/api/admin/webhooks/{id}/deliveries"))
            .json()["deliveries"]
            .clone();
        if list[0]["state"] != "pending" || Instant::now() > until {
            return list[0].clone();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn webhooks_to_special_address_literals_are_refused_when_saved() {
    let s = setup(&[("OUTBOUND_ALLOW", "")]);
    let root = s.user("root", "toor");
    for (url, kind) in [
        ("http://127.0.0.1:8080/x", "loopback address"),
        ("http://127.1.2.3/x", "loopback address"),
        ("http://[::1]:22/", "loopback address"),
        ("http://[::ffff:127.0.0.1]:22/", "loopback address"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "cloud metadata address",
        ),
        ("http://[fd00:ec2::254]/", "cloud metadata address"),
        ("http://169.254.10.1/", "link-local address"),
        ("http://[fe80::1]/", "link-local address"),
        ("http://0.0.0.0:8089/", "unspecified address"),
        ("http://2130706433/", "loopback address"), // 127.0.0.1 as one decimal number
    ] {
        let r = root.post_json("/api/admin/webhooks", &hook(url));
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        assert!(r.body.contains(kind), "{url}: {}", r.body);
        assert!(r.body.contains("OUTBOUND_ALLOW"), "{}", r.body);
    }
    assert_eq!(
        root.get("/api/admin/webhooks").json()["webhooks"],
        json!([])
    );
    // LAN and public addresses are fine.
    for url in [
        "http://192.168.1.20:8123/api/webhook/x",
        "https://203.0.113.7/",
    ] {
        let r = root.post_json("/api/admin/webhooks", &hook(url));
        assert_eq!(r.status, 201, "{url}: {}", r.body);
    }
}

#[test]
fn the_allow_list_opens_loopback_but_metadata_only_by_its_exact_address() {
    let s = setup(&[("OUTBOUND_ALLOW", "127.0.0.0/8, ::1, 169.254.0.0/16")]);
    let root = s.user("root", "toor");
    for url in [
        "http://127.0.0.1:8080/x",
        "http://[::1]:22/",
        "http://169.254.10.1/",
    ] {
        let r = root.post_json("/api/admin/webhooks", &hook(url));
        assert_eq!(r.status, 201, "{url}: {}", r.body);
    }
    let r = root.post_json(
        "/api/admin/webhooks",
        &hook("http://169.254.169.254/latest/meta-data/"),
    );
    assert_eq!(r.status, 400, "a range does not open the metadata address");
    drop(s);
    let s = setup(&[("OUTBOUND_ALLOW", "169.254.169.254")]);
    let root = s.user("root", "toor");
    let r = root.post_json(
        "/api/admin/webhooks",
        &hook("http://169.254.169.254/latest/meta-data/"),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn a_host_name_resolving_to_loopback_is_refused_at_delivery_without_connecting() {
    let s = setup(&[("OUTBOUND_ALLOW", "")]);
    let rx = Receiver::start();
    let port = rx.url("").rsplit(':').next().unwrap().to_string();
    let root = s.user("root", "toor");
    let open = deliver(&root, &format!("http://localhost:{port}/hook"));
    assert_eq!(open["state"], "failed", "{open}");
    assert_eq!(open["attempts"], 1, "a refusal is not retried: {open}");
    assert_eq!(open["error"], REFUSED_LOOPBACK, "{open}");
    assert!(open["response_code"].is_null());
    assert!(rx.requests().is_empty(), "nothing was sent");
    // A closed port reads the same: the outcome maps no internal ports.
    let closed_port = Receiver::free_addr()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let closed = deliver(&root, &format!("http://localhost:{closed_port}/hook"));
    assert_eq!(closed["error"], open["error"], "{closed}");
    // Owners read why in the audit log too.
    let events = root.get("/api/admin/events?type=webhook.").json();
    assert!(events.to_string().contains("OUTBOUND_ALLOW"), "{events}");
}

#[test]
fn receivers_on_loopback_work_once_allowed_by_env_or_console() {
    let rx = Receiver::start();
    let port = rx.url("").rsplit(':').next().unwrap().to_string();
    let url = format!("http://localhost:{port}/hook");
    {
        let s = setup(&[("OUTBOUND_ALLOW", "localhost")]);
        let root = s.user("root", "toor");
        assert_eq!(deliver(&root, &url)["state"], "delivered");
        // The environment wins: the console shows the field locked.
        let sec = root.get("/api/admin/config/security").json();
        assert_eq!(sec["locked"], json!(["outbound_allow"]), "{sec}");
    }
    assert_eq!(rx.requests().len(), 1);

    let s = setup(&[("OUTBOUND_ALLOW", "")]);
    let root = s.user("root", "toor");
    assert_eq!(deliver(&root, &url)["error"], REFUSED_LOOPBACK);
    let bad = put(
        &root,
        "/api/admin/config/security",
        json!({ "version": 0, "config": { "outbound_allow": ["http://localhost:8080"] } }),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("security.outbound_allow"), "{}", bad.body);
    let r = put(
        &root,
        "/api/admin/config/security",
        json!({ "version": 0, "config": { "outbound_allow": ["127.0.0.1/32", "::1"] } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Applies at once, no restart.
    assert_eq!(deliver(&root, &url)["state"], "delivered");
    assert_eq!(rx.requests().len(), 2);
}

#[test]
fn a_redirect_from_an_allowed_receiver_does_not_reach_a_refused_address() {
    // 127.0.0.2 is allowed and answers with a redirect to 127.0.0.1, which is not.
    let inner = Receiver::start();
    let target = inner.url("/internal");
    let outer = FakeServer::start_at(
        "127.0.0.2:0",
        Box::new(move |_| rouille::Response::redirect_307(target.clone())),
        |code| text_response(code, "fault"),
        None,
    );
    let s = setup(&[("OUTBOUND_ALLOW", "127.0.0.2")]);
    let root = s.user("root", "toor");
    let d = deliver(&root, &format!("{}/hook", outer.base_url()));
    assert_eq!(d["response_code"], 307, "{d}");
    assert_eq!(d["state"], "failed", "{d}");
    assert_eq!(outer.requests().len(), 1);
    assert!(inner.requests().is_empty(), "the redirect was not followed");
    // And the redirect's target, named directly, is refused.
    let r = root.post_json("/api/admin/webhooks", &hook(&inner.url("/internal")));
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn media_servers_on_loopback_are_allowed_but_not_the_rest_of_their_host() {
    // The fake Jellyfin (and the wizard's) listen on 127.0.0.1 with no allow-list at all.
    let s = setup(&[("OUTBOUND_ALLOW", "")]);
    let root = s.user("root", "toor");
    assert_eq!(root.get("/whoami").json()["admin"], true);
    // Trusted by host and port (a Jellyfin webhook plugin may listen there), but other
    // ports of that host are not opened by it.
    let jf = s.jf.base_url();
    let r = root.post_json("/api/admin/webhooks", &hook(&format!("{jf}/webhook")));
    assert_eq!(r.status, 201, "{}", r.body);
    let other = Receiver::start();
    assert_eq!(
        root.post_json("/api/admin/webhooks", &hook(&other.url("/x")))
            .status,
        400
    );

    // The setup wizard asks the server the owner types before it is saved.
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("owner", "pw")
    });
    let portal = Portal::start(&[("OUTBOUND_ALLOW", "")]);
    let code = authportal::web::setup::code(portal.app())
        .unwrap()
        .expect("setup is open");
    let c = portal.client();
    assert_eq!(c.post_form("/setup/unlock", &[("code", &code)]).status, 303);
    let r = c.post_form(
        "/setup/server",
        &[
            ("kind", "jellyfin"),
            ("url", &jf.base_url()),
            ("username", "owner"),
            ("password", "pw"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    // A metadata address is never a media server.
    let version = c.get("/api/admin/config/providers").json()["version"].clone();
    let r = put(
        &c,
        "/api/admin/config/providers",
        json!({ "version": version, "config": { "media_servers": ["jellyfin"], "jellyfin": { "url": "http://169.254.169.254/" } } }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("metadata"), "{}", r.body);
}

/// Signs alice in to a login-cookie rule whose app listens on loopback; returns how
/// many times the app was asked to sign someone in.
fn login_cookie_logins(outbound_allow: &str) -> usize {
    let logins = Arc::new(Mutex::new(0));
    let seen = logins.clone();
    let app = FakeServer::start(
        Box::new(move |_| {
            *seen.lock().unwrap() += 1;
            rouille::Response::text("ok")
                .with_additional_header("Set-Cookie", "app_token=sekrit; Path=/")
        }),
        |code| text_response(code, "fault"),
        None,
    );
    let s = setup(&[
        ("OUTBOUND_ALLOW", outbound_allow),
        ("SESSION_COOKIE_DOMAIN", "example.com"),
    ]);
    let root = s.user("root", "toor");
    let rules = json!({ "rules": [{"name": "app", "hosts": ["app.example.com"],
        "login_cookie": {"url": format!("{}/login", app.base_url()), "form": {"username": "{user}"}}}] });
    let r = put(
        &root,
        "/api/admin/config/access",
        json!({ "version": 0, "config": rules }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let alice = s.user("alice", "wonderland");
    let r = alice.send(
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
    let n = *logins.lock().unwrap();
    let app_cookie = r
        .header("cookie")
        .is_some_and(|c| c.contains("app_token=sekrit"));
    assert_eq!(app_cookie, n == 1, "{:?}", r.headers);
    n
}

#[test]
fn a_login_cookie_app_on_loopback_is_not_asked_unless_allowed() {
    assert_eq!(login_cookie_logins(""), 0, "refused: not asked");
    assert_eq!(login_cookie_logins("127.0.0.1/32"), 1, "allowed: asked");
}
