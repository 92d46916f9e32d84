//! Webhooks through the real portal: rules over the API, deliveries to a local receiver
//! on sign-in (method, rendered body, signature), retries, the persistent queue across a
//! restart, secrets never shown back, validation and permissions.

use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::fakes::Fault;
use crate::fakes::receiver::Receiver;
use crate::harness::Client;
use crate::team::{Setup, send_json, setup};

fn create(c: &Client, spec: Value) -> i64 {
    let r = c.post_json("/api/admin/webhooks", &spec);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

/// Waits until the rule's newest delivery is no longer pending; returns the list.
fn settled(c: &Client, id: i64, want: usize) -> Vec<Value> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let list = c
            .get(&format!("/api/admin/webhooks/{id}/deliveries"))
            .json()["deliveries"]
            .as_array()
            .unwrap()
            .clone();
        let done = list.len() >= want && list.iter().all(|d| d["state"] != "pending");
        if done || Instant::now() > until {
            return list;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the delivery queue once, now by the App clock: how many deliveries it worked on.
/// The portal's own thread runs it too; a delivery is claimed by one of them only.
fn run_queue(s: &Setup) -> usize {
    let no_stop = std::sync::atomic::AtomicBool::new(false);
    authportal::webhooks::run_due(s.portal.app(), &no_stop)
        .unwrap_or_else(|e| panic!("the queue had due deliveries that failed: {e}"))
}

/// Waits until no delivery is pending (each outcome recorded).
fn queue_settled(s: &Setup) {
    let until = Instant::now() + Duration::from_secs(20);
    while s
        .portal
        .count("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")
        > 0
    {
        assert!(Instant::now() < until, "deliveries still pending");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn client_ip(c: &Client) -> String {
    c.extra_headers.borrow()[0].1.clone()
}

#[test]
fn a_sign_in_fires_put_form_and_signed_post_json() {
    let s = setup(&[]);
    let rx = Receiver::start();
    let root = s.user("root", "toor");
    let form_id = create(
        &root,
        json!({
            "name": "firewall",
            "events": ["signin.success"],
            "method": "PUT",
            "url": rx.url("/allow/{user.username}"),
            "headers": { "Authorization": "Bearer very-secret-token" },
            "body_format": "form",
            "body_template": "ip={client_ip}&user={user.username}&groups={user.groups}&type={event.type}",
        }),
    );
    let json_id = create(
        &root,
        json!({
            "name": "chat",
            "events": ["signin.*"],
            "method": "POST",
            "url": rx.url("/json"),
            "body_format": "json",
            "body_template": "{\"text\": \"{user.username} signed in from {client_ip} at {time}\", \"ua\": \"{user_agent}\", \"uuid\": \"{user.uuid}\"}",
            "secret": "hmac-key-1",
        }),
    );
    let alice = s.user("alice", "wonderland");
    let ip = client_ip(&alice);
    let got = rx.wait_for(2, 10);
    assert_eq!(got.len(), 2, "{got:?}");

    let put = got.iter().find(|r| r.method == "PUT").expect("the PUT");
    assert_eq!(put.path, "/allow/alice");
    assert_eq!(
        put.body,
        format!("ip={ip}&user=alice&groups=jellyfin-user&type=signin.success")
    );
    assert_eq!(
        put.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        put.header("authorization"),
        Some("Bearer very-secret-token")
    );
    assert!(put.header("x-authportal-signature").is_none());

    let post = got.iter().find(|r| r.method == "POST").expect("the POST");
    let body: Value = serde_json::from_str(&post.body).expect("valid JSON");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("alice signed in from {ip} at 20")),
        "{text}"
    );
    assert_eq!(body["uuid"], alice.get("/whoami").json()["uuid"]);
    assert_eq!(post.header("content-type"), Some("application/json"));
    // The signature covers "{timestamp}.{METHOD} {url}\n{body}", computed here independently.
    let ts = post.header("x-authportal-timestamp").unwrap();
    assert!((ts.parse::<i64>().unwrap() - chrono::Utc::now().timestamp()).abs() < 60);
    let want = signature(
        b"hmac-key-1",
        &format!("{ts}.POST {}\n{}", rx.url("/json"), post.body),
    );
    assert_eq!(post.header("x-authportal-signature"), Some(want.as_str()));

    for id in [form_id, json_id] {
        let list = settled(&root, id, 1);
        assert_eq!(list[0]["state"], "delivered", "{list:?}");
        assert_eq!(list[0]["response_code"], 200);
        assert_eq!(list[0]["event_type"], "signin.success");
    }
    // The outcome is an event too.
    let events = root.get("/api/admin/events?type=webhook.").json();
    assert!(events["events"].as_array().unwrap().len() >= 2, "{events}");
}

/// `sha256=<hex>` of HMAC-SHA256 over `signed`, with the `hmac` crate (not the portal's code).
fn signature(key: &[u8], signed: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(signed.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[test]
fn a_get_hook_signs_its_url() {
    let s = setup(&[]);
    let rx = Receiver::start();
    let root = s.user("root", "toor");
    create(
        &root,
        json!({
            "name": "allow ip", "events": ["signin.success"], "method": "GET",
            "url": rx.url("/allow?ip={client_ip}"), "secret": "get-key",
        }),
    );
    let ips = [
        client_ip(&s.user("alice", "wonderland")),
        client_ip(&s.user("vera", "viewer")),
    ];
    let got = rx.wait_for(2, 10);
    assert_eq!(got.len(), 2, "{got:?}");
    let mut signatures = Vec::new();
    for req in &got {
        let ip = req.query_param("ip").unwrap();
        assert!(ips.contains(&ip), "{ip} not in {ips:?}");
        let ts = req.header("x-authportal-timestamp").unwrap();
        let url = format!("{}?{}", rx.url(&req.path), req.query);
        let want = signature(b"get-key", &format!("{ts}.GET {url}\n"));
        let sig = req.header("x-authportal-signature").unwrap();
        assert_eq!(sig, want, "{url}");
        signatures.push(sig.to_string());
    }
    // An empty body signed alone would give both the same signature: replayable at any URL.
    assert_ne!(signatures[0], signatures[1]);
}

#[test]
fn a_500_is_retried_until_it_succeeds() {
    let s = setup(&[]);
    let rx = Receiver::start();
    rx.fail("/hook", Fault::Once(Box::new(Fault::Status(500))));
    let root = s.user("root", "toor");
    let id = create(
        &root,
        json!({
            "name": "retry", "events": ["signin.success"], "method": "POST",
            "url": rx.url("/hook"), "body_template": "{\"u\": \"{user.username}\"}",
        }),
    );
    s.user("alice", "wonderland");
    let list = settled(&root, id, 1);
    assert_eq!(list[0]["state"], "delivered", "{list:?}");
    assert_eq!(list[0]["attempts"], 2);
    let log = list[0]["attempt_log"].as_array().unwrap();
    assert_eq!(log[0]["response_code"], 500);
    assert_eq!(log[1]["response_code"], 200);
    assert_eq!(rx.requests().len(), 2);
}

#[test]
fn a_4xx_is_not_retried() {
    let s = setup(&[]);
    let rx = Receiver::start();
    rx.fail("/hook", Fault::Status(404));
    let root = s.user("root", "toor");
    let id = create(
        &root,
        json!({ "name": "gone", "events": ["signin.success"], "method": "DELETE", "url": rx.url("/hook?ip={client_ip}") }),
    );
    let alice = s.user("alice", "wonderland");
    let list = settled(&root, id, 1);
    assert_eq!(list[0]["state"], "failed", "{list:?}");
    assert_eq!(list[0]["attempts"], 1);
    assert_eq!(list[0]["response_code"], 404);
    let req = &rx.requests()[0];
    assert_eq!(req.method, "DELETE");
    assert_eq!(
        req.query_param("ip").as_deref(),
        Some(client_ip(&alice).as_str())
    );
}

#[test]
fn an_outcome_that_cannot_be_recorded_still_backs_off_and_gives_up() {
    let s = setup(&[]);
    let rx = Receiver::start();
    let root = s.user("root", "toor");
    let ids = ["/a", "/b"].map(|path| {
        create(
            &root,
            json!({ "name": path, "events": ["signin.success"], "method": "POST",
                    "url": rx.url(path), "max_attempts": 3 }),
        )
    });
    // Every attempt's outcome fails to be written, as on a full disk; claiming still works.
    s.portal
        .db()
        .execute_batch(
            "CREATE TRIGGER full_disk BEFORE INSERT ON webhook_attempts
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
    // The back-off reads the App clock: stopped, nothing falls due while the test looks,
    // however slow the machine, until it moves the clock.
    let clock = &s.portal.app().clock;
    clock.freeze();
    s.user("alice", "wonderland");
    let count = |path: &str| rx.requests().iter().filter(|r| r.path == path).count();
    let sent = || (count("/a"), count("/b"));
    // Each rule's sends reach `n` (/a's trouble does not hold /b up), and no more go now.
    let sent_and_no_more = |n: usize| {
        let until = Instant::now() + Duration::from_secs(20);
        while sent() != (n, n) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(sent(), (n, n));
        assert_eq!(run_queue(&s), 0, "nothing is due yet");
        assert_eq!(sent(), (n, n));
    };
    // Not one send a second forever: the waits double (1 s, then 2 s).
    sent_and_no_more(1);
    clock.advance(1);
    sent_and_no_more(2);
    clock.advance(1);
    sent_and_no_more(2);
    clock.advance(1);
    sent_and_no_more(3);
    // After the third, it gives up: the deliveries end, nothing more is sent.
    clock.advance(3600);
    let ended = |id: i64| {
        root.get(&format!("/api/admin/webhooks/{id}/deliveries"))
            .json()["deliveries"][0]["state"]
            == "failed"
    };
    let until = Instant::now() + Duration::from_secs(20);
    while !(ended(ids[0]) && ended(ids[1])) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    sent_and_no_more(3);
    for id in ids {
        let d = &root
            .get(&format!("/api/admin/webhooks/{id}/deliveries"))
            .json()["deliveries"][0];
        assert_eq!(d["state"], "failed", "{d}");
        assert_eq!(d["attempts"], 3, "{d}");
        assert!(
            d["error"]
                .as_str()
                .unwrap()
                .contains("could not be recorded"),
            "{d}"
        );
    }
}

#[test]
fn a_queued_delivery_survives_a_restart() {
    let s = setup(&[]);
    let addr = Receiver::free_addr();
    let root = s.user("root", "toor");
    let id = create(
        &root,
        json!({
            "name": "later", "events": ["signin.success"], "method": "POST",
            "url": format!("http://{addr}/hook"), "max_attempts": 10,
            "body_template": "{\"u\": \"{user.username}\"}",
        }),
    );
    s.user("alice", "wonderland");
    // The receiver is down: the first attempt fails and the delivery waits for a retry.
    let until = Instant::now() + Duration::from_secs(10);
    while s.portal.count("SELECT count(*) FROM webhook_attempts") == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'"),
        1
    );
    let Setup { jf, portal } = s;
    let portal = portal.restart();
    let rx = Receiver::start_at(&addr);
    let got = rx.wait_for(1, 20);
    assert_eq!(got.len(), 1, "delivered after the restart");
    assert_eq!(got[0].body, "{\"u\": \"alice\"}");
    let s = Setup { jf, portal };
    let root = s.user("root", "toor");
    let list = settled(&root, id, 1);
    let alice_delivery = list
        .iter()
        .find(|d| d["attempts"].as_i64() > Some(1))
        .unwrap();
    assert_eq!(alice_delivery["state"], "delivered", "{list:?}");
}

#[test]
fn a_disabled_rule_does_not_fire_and_filters_narrow() {
    let s = setup(&[]);
    let rx = Receiver::start();
    let root = s.user("root", "toor");
    create(
        &root,
        json!({ "name": "off", "enabled": false, "events": ["*"], "method": "POST", "url": rx.url("/off") }),
    );
    create(
        &root,
        json!({ "name": "vera only", "events": ["signin.success"], "users": ["vera"], "method": "POST", "url": rx.url("/vera") }),
    );
    create(
        &root,
        json!({ "name": "admins only", "events": ["signin.success"], "groups": ["admins"], "method": "POST", "url": rx.url("/admins") }),
    );
    s.user("alice", "wonderland");
    s.user("vera", "viewer");
    s.user("root", "toor");
    let got = rx.wait_for(2, 10);
    // Deliveries are queued with their event: only the two rules that match queued one.
    assert_eq!(s.portal.count("SELECT count(*) FROM webhook_deliveries"), 2);
    // And nothing more is sent, even once any retry would be due (an hour on the clock).
    queue_settled(&s);
    s.portal.app().clock.advance(3600);
    assert_eq!(run_queue(&s), 0);
    let paths: Vec<String> = rx.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths.contains(&"/vera".to_string()) && paths.contains(&"/admins".to_string()),
        "{paths:?}"
    );
    assert!(got.iter().all(|r| r.path != "/off"));
}

/// A rule's group filter and `{user.groups}` count the groups of identities that still
/// have access (db::users::groups): once the provider withdrew alice's account, her
/// provider group no longer selects her.
#[test]
fn a_withdrawn_identitys_groups_no_longer_match_a_group_filter() {
    let s = setup(&[]);
    let rx = Receiver::start();
    let root = s.user("root", "toor");
    let by_group = create(
        &root,
        json!({ "name": "jellyfin users", "events": ["access.withdrawn"], "groups": ["jellyfin-user"], "method": "POST", "url": rx.url("/group") }),
    );
    let everyone = create(
        &root,
        json!({ "name": "everyone", "events": ["access.withdrawn"], "method": "POST", "url": rx.url("/all"),
                "body_format": "form", "body_template": "user={user.username}&groups={user.groups}" }),
    );
    s.user("alice", "wonderland");
    assert!(s.jf.set_user_disabled("alice", true));
    let c = s.portal.client();
    c.use_fresh_ip();
    let r = crate::media::sign_in(&c, "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 403, "{}", r.body);
    // Deliveries are queued in the event's own transaction: both lists are final now.
    let queued = |id: i64| {
        root.get(&format!("/api/admin/webhooks/{id}/deliveries"))
            .json()["deliveries"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(queued(everyone), 1);
    assert_eq!(queued(by_group), 0);
    let got = rx.wait_for(1, 10);
    assert_eq!(got[0].path, "/all");
    assert_eq!(got[0].body, "user=alice&groups=");
}

#[test]
fn header_values_and_secrets_are_sealed_and_never_shown() {
    let s = setup(&[]);
    let rx = Receiver::start();
    let root = s.user("root", "toor");
    let id = create(
        &root,
        json!({
            "name": "sealed", "events": ["signin.success"], "method": "POST", "url": rx.url("/s"),
            "headers": { "Authorization": "Bearer clear-text-bearer", "X-Other": "other-clear-value" },
            "secret": "clear-text-secret",
        }),
    );
    for r in [
        root.get(&format!("/api/admin/webhooks/{id}")),
        root.get("/api/admin/webhooks"),
        root.get("/admin/webhooks"),
    ] {
        assert_eq!(r.status, 200);
        for secret in [
            "clear-text-bearer",
            "other-clear-value",
            "clear-text-secret",
        ] {
            assert!(!r.body.contains(secret), "{secret} shown: {}", r.body);
        }
    }
    let one = root.get(&format!("/api/admin/webhooks/{id}")).json();
    assert_eq!(
        one["headers"],
        json!({ "Authorization": null, "X-Other": null })
    );
    assert_eq!(one["secret_set"], true);
    let (headers, secret): (String, String) = s
        .portal
        .db()
        .query_row(
            "SELECT headers_json, secret_sealed FROM webhooks WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(!headers.contains("clear-text-bearer") && !headers.contains("other-clear-value"));
    assert!(!secret.contains("clear-text-secret"));

    // An edit that leaves values out keeps them; a header left out of the map goes.
    // A null names the stored header whatever its case.
    let mut edit = one.clone();
    edit["headers"] = json!({ "authorization": null });
    edit["name"] = json!("renamed");
    let r = send_json(&root, "PUT", &format!("/api/admin/webhooks/{id}"), &edit);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["headers"], json!({ "authorization": null }));
    assert_eq!(r.json()["secret_set"], true);
    // Without `headers` at all, every stored header stays.
    let mut edit2 = edit.clone();
    edit2.as_object_mut().unwrap().remove("headers");
    let r = send_json(&root, "PUT", &format!("/api/admin/webhooks/{id}"), &edit2);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["headers"], json!({ "authorization": null }));
    let t = root.post_json(&format!("/api/admin/webhooks/{id}/test"), &json!({}));
    assert_eq!(t.status, 202, "{}", t.body);
    let got = rx.wait_for(1, 10);
    assert_eq!(
        got[0].header("authorization"),
        Some("Bearer clear-text-bearer")
    );
    assert!(got[0].header("x-other").is_none());
    assert!(got[0].header("x-authportal-signature").is_some());
    let list = settled(&root, id, 1);
    assert_eq!(list[0]["test"], true);
    assert_eq!(list[0]["state"], "delivered");
}

#[test]
fn readers_see_no_url_path_and_writers_do() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let vera = s.viewer(&root);
    let secret_url = "https://hooks.example.com:8443/services/T0/B0/secret-path?token=q-secret";
    let id = create(
        &root,
        json!({ "name": "chat", "events": ["signin.success"], "method": "POST", "url": secret_url,
                "body_template": "{\"key\": \"tpl-secret\", \"who\": \"{user.username}\"}" }),
    );
    for r in [
        vera.get(&format!("/api/admin/webhooks/{id}")),
        vera.get("/api/admin/webhooks"),
        vera.get("/admin/webhooks"),
    ] {
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            !r.body.contains("secret-path")
                && !r.body.contains("q-secret")
                && !r.body.contains("tpl-secret"),
            "a reader sees the path: {}",
            r.body
        );
        assert!(
            r.body.contains("https://hooks.example.com:8443/…"),
            "{}",
            r.body
        );
    }
    assert!(vera.get("/admin/webhooks").body.contains("path hidden"));
    let one = vera.get(&format!("/api/admin/webhooks/{id}")).json();
    assert_eq!(one["url_path_hidden"], true);
    let full = root.get(&format!("/api/admin/webhooks/{id}")).json();
    assert_eq!(full["url"], secret_url);
    assert_eq!(full["url_path_hidden"], false);
    assert!(
        full["body_template"]
            .as_str()
            .unwrap()
            .contains("tpl-secret")
    );
    assert!(root.get("/admin/webhooks").body.contains("secret-path"));
}

#[test]
fn a_url_to_another_host_does_not_take_stored_values_along() {
    let s = setup(&[]);
    let (home, other) = (Receiver::start(), Receiver::start());
    let root = s.user("root", "toor");
    let id = create(
        &root,
        json!({
            "name": "moving", "events": ["signin.success"], "method": "POST", "url": home.url("/h"),
            "headers": { "Authorization": "Bearer stored-token" }, "secret": "stored-secret",
        }),
    );
    let path = format!("/api/admin/webhooks/{id}");
    let mut edit = root.get(&path).json();
    // Another path on the same host keeps both.
    edit["url"] = json!(home.url("/h2"));
    let r = send_json(&root, "PUT", &path, &edit);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["secret_set"], true);
    // Another host (here another port): a header left null, or all left out, is refused.
    edit["url"] = json!(other.url("/h"));
    let r = send_json(&root, "PUT", &path, &edit);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("another host"), "{}", r.body);
    let mut no_headers = edit.clone();
    no_headers.as_object_mut().unwrap().remove("headers");
    let r = send_json(&root, "PUT", &path, &no_headers);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("give every header's value again"),
        "{}",
        r.body
    );
    let stored = root.get(&path).json();
    assert_eq!(stored["url"], home.url("/h2"), "nothing changed");
    // Given again, the header goes along; the secret, not given, is dropped.
    edit["headers"] = json!({ "Authorization": "Bearer new-token" });
    let r = send_json(&root, "PUT", &path, &edit);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["secret_set"], false);
    let t = root.post_json(&format!("{path}/test"), &json!({}));
    assert_eq!(t.status, 202, "{}", t.body);
    let got = other.wait_for(1, 10);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("authorization"), Some("Bearer new-token"));
    assert!(got[0].header("x-authportal-signature").is_none());
    assert!(home.requests().is_empty());
}

#[test]
fn bad_rules_are_refused_with_a_message() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let base = json!({ "name": "x", "events": ["signin.success"], "method": "POST", "url": "https://example.com/h" });
    let cases = [
        (json!({ "method": "FETCH" }), "method"),
        (json!({ "url": "ftp://example.com/x" }), "http"),
        (json!({ "url": "/relative" }), "absolute"),
        (
            json!({ "body_template": "{\"p\": \"{user.password}\"}" }),
            "unknown placeholder",
        ),
        (
            json!({ "url": "https://example.com/{nope}" }),
            "unknown placeholder",
        ),
        (json!({ "body_template": "{not json" }), "JSON"),
        (json!({ "body_format": "xml" }), "body_format"),
        (json!({ "events": [] }), "events"),
        (json!({ "timeout_secs": 0 }), "timeout_secs"),
        (json!({ "headers": { "Bad Name": "v" } }), "header"),
        (json!({ "headers": { "X-A": "a\r\nb" } }), "line breaks"),
        (
            json!({ "headers": { "x-authportal-event": "v" } }),
            "set by the portal",
        ),
        (
            json!({ "headers": { "X-Authportal-Delivery": "v" } }),
            "set by the portal",
        ),
        (
            json!({ "headers": { "Content-Type": "text/plain" } }),
            "set by the portal",
        ),
        (
            json!({ "headers": { "user-agent": "v" } }),
            "set by the portal",
        ),
        (
            json!({ "headers": { "X-Token": "a", "x-token": "b" } }),
            "same header",
        ),
        (json!({ "surprise": 1 }), "unknown field"),
    ];
    for (patch, want) in cases {
        let mut spec = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let r = root.post_json("/api/admin/webhooks", &spec);
        assert_eq!(r.status, 400, "{spec}: {}", r.body);
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(want), "{spec}: {msg}");
    }
    let r = root.send(
        "POST",
        "/api/admin/webhooks",
        &[("Content-Type", "application/json")],
        Some(b"not json".to_vec()),
    );
    assert_eq!(r.status, 400);
    assert_eq!(root.get("/api/admin/webhooks/999").status, 404);
    assert_eq!(root.get("/api/admin/webhooks/abc").status, 404);
    assert_eq!(s.portal.count("SELECT count(*) FROM webhooks"), 0);
}

#[test]
fn webhooks_and_events_follow_roles() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let vera = s.viewer(&root);
    let alice = s.user("alice", "wonderland");
    let spec = json!({ "name": "x", "events": ["signin.success"], "method": "POST", "url": "https://example.com/h" });
    let id = create(&root, spec.clone());
    let anon = s.portal.client();
    for path in [
        "/api/admin/events",
        "/api/admin/webhooks",
        &format!("/api/admin/webhooks/{id}/deliveries"),
    ] {
        assert_eq!(anon.get(path).status, 401, "{path}");
        assert_eq!(alice.get(path).status, 403, "{path}");
        assert_eq!(vera.get(path).status, 200, "{path}: a viewer reads");
    }
    assert_eq!(vera.get("/admin/events").status, 200);
    assert_eq!(alice.get("/admin/events").status, 403);
    assert_eq!(vera.post_json("/api/admin/webhooks", &spec).status, 403);
    assert_eq!(
        send_json(&vera, "PUT", &format!("/api/admin/webhooks/{id}"), &spec).status,
        403
    );
    assert_eq!(
        vera.send("DELETE", &format!("/api/admin/webhooks/{id}"), &[], None)
            .status,
        403
    );
    assert_eq!(
        vera.post_json(&format!("/api/admin/webhooks/{id}/test"), &json!({}))
            .status,
        403
    );
    assert_eq!(anon.post_json("/api/admin/webhooks", &spec).status, 401);
    assert_eq!(
        root.send("DELETE", &format!("/api/admin/webhooks/{id}"), &[], None)
            .status,
        204
    );
    assert_eq!(root.get(&format!("/api/admin/webhooks/{id}")).status, 404);
}

/// With MFA on, a sign-in is complete only after the second factor: `signin.success`
/// (and `signin.*`) must not fire on the password alone, or a leaked media-server
/// password would open the person's address in a firewall hook.
#[test]
fn sign_in_hooks_wait_for_the_second_factor() {
    let s = setup(&[]);
    let rx = Receiver::start();
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let secret = s.portal.enrol_totp(&alice);
    for (name, events) in [
        ("exact", json!(["signin.success"])),
        ("family", json!(["signin.*"])),
        ("all", json!(["*"])),
        ("step", json!(["signin.first_factor"])),
    ] {
        create(
            &root,
            json!({ "name": name, "events": events, "users": ["alice"], "method": "POST",
                    "url": rx.url(&format!("/{name}")),
                    "body_format": "json",
                    "body_template": "{\"type\": \"{event.type}\", \"ip\": \"{client_ip}\", \"net\": \"{client_cidr}\"}" }),
        );
    }

    let c = s.portal.client();
    c.use_fresh_ip();
    let ip = client_ip(&c);
    let r = crate::media::sign_in(&c, "jellyfin", "alice", "wonderland");
    assert_eq!(r.header("location"), Some("/mfa/challenge"), "{}", r.body);
    // Only the rule that names the first step exactly hears of it.
    let got = rx.wait_for(1, 10);
    // Deliveries are queued with their event: no other rule queued one, so none will send.
    assert_eq!(s.portal.count("SELECT count(*) FROM webhook_deliveries"), 1);
    let got_now = rx.requests();
    assert_eq!(got_now.len(), 1, "after the password: {got_now:?}");
    assert_eq!(got[0].path, "/step");
    assert!(
        got[0].body.contains("signin.first_factor"),
        "{}",
        got[0].body
    );
    let trusted = format!("SELECT count(*) FROM signin_ips WHERE ip = '{ip}'");
    assert_eq!(
        s.portal.count(&trusted),
        0,
        "no trusted address for native apps before the second factor"
    );

    s.portal.app().clock.advance(30);
    let code = crate::totp_ref::code(&secret, s.portal.app().clock.now());
    let r = c.post_form("/mfa/challenge/verify", &[("code", code.as_str())]);
    assert_eq!(r.status, 303, "{}", r.body);
    // "*" also hears mfa.verify: five deliveries in all.
    let got = rx.wait_for(5, 10);
    let mut success: Vec<&str> = got
        .iter()
        .filter(|r| r.header("x-authportal-event") == Some("signin.success"))
        .map(|r| r.path.as_str())
        .collect();
    success.sort();
    assert_eq!(success, ["/all", "/exact", "/family"], "{got:?}");
    for r in got.iter().filter(|r| r.path != "/step") {
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["ip"], ip.as_str());
        assert_eq!(body["net"], format!("{ip}/32"));
    }
    assert_eq!(s.portal.count(&trusted), 1);
    let done = root
        .get("/api/admin/events?type=signin.success&user=alice")
        .json();
    let last = &done["events"][0];
    assert_eq!(last["detail"]["provider"], "jellyfin", "{done}");
    assert_eq!(last["detail"]["mfa"], "totp", "{done}");
}

#[test]
fn a_misspelt_event_type_is_refused_naming_the_known_ones() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let base = json!({ "name": "x", "method": "POST", "url": "https://example.com/h" });
    for events in [
        json!(["signin.sucess"]),
        json!(["sigin.*"]),
        json!(["signin.success", "webhook.delivery"]),
        // The only type under this prefix is exact-only: the rule could never fire.
        json!(["signin.first*"]),
    ] {
        let mut spec = base.clone();
        spec["events"] = events.clone();
        let r = root.post_json("/api/admin/webhooks", &spec);
        assert_eq!(r.status, 400, "{events}: {}", r.body);
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            msg.contains("signin.success") && msg.contains("access.withdrawn"),
            "{events}: {msg}"
        );
    }
    assert_eq!(s.portal.count("SELECT count(*) FROM webhooks"), 0);
    for events in [
        json!(["*"]),
        json!(["signin.*", "admin.*"]),
        json!(["signin.first_factor"]),
    ] {
        let mut spec = base.clone();
        spec["events"] = events;
        create(&root, spec);
    }
}

#[test]
fn a_stored_rule_naming_an_unknown_type_still_loads_and_is_flagged() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let id = create(
        &root,
        json!({ "name": "old", "events": ["signin.success"], "method": "POST", "url": "https://example.com/h" }),
    );
    // As a rule saved before types were checked would be.
    s.portal
        .db()
        .execute(
            "UPDATE webhooks SET events_json = '[\"signin.sucess\",\"signin.success\"]' WHERE id = ?1",
            [id],
        )
        .unwrap();
    let s2 = Setup {
        portal: s.portal.restart(),
        ..s
    };
    let root = s2.user("root", "toor");
    let r = root.get(&format!("/api/admin/webhooks/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["unknown_events"], json!(["signin.sucess"]));
    let page = root.get("/admin/webhooks");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Never fires"), "{}", page.body);
}

/// The console form's preview: a made-up event filled into the rule being written,
/// escaped as a delivery would; what saving would refuse is a 400 saying so; nothing is
/// stored; a reader may not use it.
#[test]
fn the_preview_renders_a_made_up_event_and_saves_nothing() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let r = root.post_json(
        "/api/admin/webhooks/preview",
        &json!({
            "name": "Pangolin: alice",
            "enabled": false,
            "events": ["signin.success"],
            "method": "POST",
            "url": "https://pangolin.example.com/v1/resource/12/rule/{user.username}",
            "headers": { "Authorization": null },
            "body_format": "json",
            "body_template": "{\"value\": \"{client_ip}\", \"priority\": 101, \"enabled\": true}",
        }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let p = r.json();
    assert_eq!(p["event"], "signin.success");
    assert_eq!(p["method"], "POST");
    assert_eq!(
        p["url"],
        "https://pangolin.example.com/v1/resource/12/rule/alice"
    );
    assert_eq!(p["content_type"], "application/json");
    let body: Value = serde_json::from_str(p["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"value": "203.0.113.9", "priority": 101, "enabled": true})
    );

    // A form body is percent-encoded; an empty URL is no error while typing.
    let r = root.post_json(
        "/api/admin/webhooks/preview",
        &json!({ "body_format": "form", "body_template": "ua={user_agent}" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["url"].is_null());
    assert!(
        r.json()["body"]
            .as_str()
            .unwrap()
            .starts_with("ua=Mozilla%2F5.0"),
        "{}",
        r.body
    );

    for (draft, want) in [
        (
            json!({ "body_template": "{\"ip\": {client_ip}}" }),
            "not valid JSON",
        ),
        (
            json!({ "body_template": "{user.password}" }),
            "unknown placeholder {user.password}",
        ),
        (
            json!({ "url": "ftp://example.com/x" }),
            "http:// or https://",
        ),
        (json!({ "method": "TRACE" }), "method"),
        (json!({ "body_format": "xml" }), "body_format"),
        (
            json!({ "method": "GET", "body_template": "{}" }),
            "has no body",
        ),
        (
            json!({ "events": "signin.success" }),
            "expected a JSON body like",
        ),
    ] {
        let r = root.post_json("/api/admin/webhooks/preview", &draft);
        assert_eq!(r.status, 400, "{draft}: {}", r.body);
        let msg = r.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(want), "{draft}: {msg}");
    }
    assert_eq!(s.portal.count("SELECT count(*) FROM webhooks"), 0);
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type LIKE 'admin.webhook.%'"),
        0
    );
    let vera = s.viewer(&root);
    let r = vera.post_json("/api/admin/webhooks/preview", &json!({}));
    assert_eq!(r.status, 403, "{}", r.body);
}

/// The console form starts empty and disabled (never a live example rule), offers the
/// presets, an event checkbox per type webhooks receive and every placeholder.
#[test]
fn the_webhook_form_starts_empty_and_disabled() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let page = root.get("/admin/webhooks");
    assert_eq!(page.status, 200);
    let body = &page.body;
    assert!(
        body.contains("<input id=\"wh-enabled\" type=\"checkbox\" name=\"enabled\">"),
        "the enabled box is there and not checked: {body}"
    );
    assert!(!body.contains(" checked>"), "nothing is pre-checked");
    assert!(
        !body.contains("example.com/hook") && !body.contains("\"enabled\": true"),
        "no live-looking example rule"
    );
    for preset in ["pangolin", "ntfy", "gotify", "discord", "json"] {
        assert!(
            body.contains(&format!("data-preset=\"{preset}\"")),
            "{preset}"
        );
    }
    for p in authportal::webhooks::PLACEHOLDERS {
        assert!(
            body.contains(&format!("data-placeholder=\"{}\"", p.name)),
            "{}",
            p.name
        );
    }
    for t in authportal::event_type::EventType::ALL {
        let boxed = body.contains(&format!("name=\"events\" value=\"{}\"", t.as_str()));
        assert_eq!(boxed, t.delivered(), "{t}");
    }
    // A reader sees the rules but no form.
    let vera = s.viewer(&root);
    let page = vera.get("/admin/webhooks");
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("webhook-fields"));
}

/// The README's list of placeholders names every one the templates know (the console
/// lists them from the same table, src/webhooks/template.rs).
#[test]
fn the_readme_names_every_placeholder() {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("**Webhooks.**")
        .nth(1)
        .and_then(|s| s.split("*Signature.*").next())
        .expect("README.md has the Webhooks paragraph");
    for p in authportal::webhooks::PLACEHOLDERS {
        assert!(
            section.contains(&format!("`{{{}}}`", p.name)),
            "README's webhook placeholders lack {{{}}}",
            p.name
        );
    }
}
