//! The audit log: what a sign-in, a failure, a logout and a denial write, the events API
//! with its filters and keyset paging (no gaps, no repeats), the console page, sampling
//! of forward-auth denials, and the janitor's retention prune.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::media::sign_in;
use crate::team::{send_json, setup};

fn events(c: &crate::harness::Client, query: &str) -> Value {
    let r = c.get(&format!("/api/admin/events{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.body);
    r.json()
}

fn types(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn filters_and_keyset_paging() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let alice_uuid = s.uuid(&alice);
    let bad = s.portal.client();
    bad.use_fresh_ip();
    let bad_ip = bad.extra_headers.borrow()[0].1.clone();
    assert_eq!(sign_in(&bad, "jellyfin", "alice", "wrong").status, 401);
    s.user("vera", "viewer");
    assert_eq!(alice.post_form("/logout", &[]).status, 303);

    // Everything, one page, then the same walked two at a time.
    let all = events(&root, "?limit=200");
    assert!(all["next"].is_null());
    let ids: Vec<i64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let mut walked = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let page = events(&root, &query);
        walked.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next"].as_str() {
            Some(n) => query = format!("?limit=2&cursor={n}"),
            None => break,
        }
    }
    assert_eq!(walked, ids, "no gaps, no repeats");

    // Shapes: {id, type, time, user, ip, result, detail}.
    let first = &all["events"][0];
    for key in ["id", "type", "time", "user", "ip", "result", "detail"] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }
    assert!(chrono::DateTime::parse_from_rfc3339(first["time"].as_str().unwrap()).is_ok());

    let signins = events(&root, "?type=signin.");
    assert!(
        types(&signins).iter().all(|t| t.starts_with("signin.")),
        "{signins}"
    );
    assert_eq!(
        types(&signins)
            .iter()
            .filter(|t| *t == "signin.success")
            .count(),
        3
    );

    let failed = events(&root, "?type=signin.failure&user=alice");
    let f = &failed["events"].as_array().unwrap()[0];
    assert_eq!(failed["events"].as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(f["result"], "failure");
    assert_eq!(f["ip"], bad_ip.as_str());
    assert_eq!(f["user"]["uuid"], alice_uuid.as_str());
    assert_eq!(f["detail"]["provider"], "jellyfin");
    assert_eq!(f["detail"]["reason"], "invalid username or password");
    assert!(f["detail"]["user_agent"].is_string(), "{f}");
    assert!(!f.to_string().contains("wrong"), "no password in events");

    let hers = types(&events(&root, &format!("?user={alice_uuid}")));
    assert!(
        hers.contains(&"logout".to_string()) && hers.contains(&"signin.success".to_string()),
        "{hers:?}"
    );
    assert_eq!(
        types(&events(&root, &format!("?ip={bad_ip}"))),
        ["signin.failure"]
    );
    assert!(types(&events(&root, "?user=nobody")).is_empty());
    assert!(types(&events(&root, "?since=2999-01-01")).is_empty());
    assert!(types(&events(&root, "?until=2000-01-01")).is_empty());
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        types(&events(
            &root,
            &format!("?since={}&until={}", now - 600, now + 600)
        ))
        .len(),
        ids.len()
    );

    for (q, want) in [
        ("?since=yesterday", "since"),
        ("?ip=not-an-ip", "ip"),
        ("?limit=0", "limit"),
        ("?cursor=abc", "cursor"),
        // A misspelt type would show nothing and look like "no such events".
        ("?type=signin.sucess", "signin.success"),
        ("?type=nothing.", "known types"),
    ] {
        let r = root.get(&format!("/api/admin/events{q}"));
        assert_eq!(r.status, 400, "{q}");
        assert!(
            r.json()["error"].as_str().unwrap().contains(want),
            "{q}: {}",
            r.body
        );
    }

    // The console page: same filters, an "Older" link while more exist.
    let page = root.get("/admin/events?type=signin.&limit=1");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("signin.success") && page.body.contains("cursor="),
        "{}",
        page.body
    );
    assert!(page.body.contains("href=\"/admin/events\""), "nav entry");
    assert!(
        page.body.contains("<option value=\"forward_auth.denied\">"),
        "the type field offers every type"
    );
    assert_eq!(root.get("/admin/events?since=nonsense").status, 400);
}

/// The console page: filters in one row, a sign-in failure's details as labelled values
/// with the user agent in words and the stored JSON behind a "raw" toggle.
#[test]
fn the_events_page_shows_details_in_words() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let phone = s.portal.client();
    phone.use_fresh_ip();
    let firefox_android = "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0";
    phone
        .extra_headers
        .borrow_mut()
        .push(("User-Agent".into(), firefox_android.into()));
    assert_eq!(sign_in(&phone, "jellyfin", "alice", "wrong").status, 401);

    let page = root.get("/admin/events?type=signin.failure");
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("<form class=\"filters\""), "{body}");
    assert!(body.contains("Firefox on Android</span>"), "{body}");
    assert!(
        body.contains(&format!("title=\"{firefox_android}\"")),
        "the raw user agent is the title"
    );
    assert!(
        body.contains("<dt>Provider</dt><dd>jellyfin</dd>"),
        "{body}"
    );
    assert!(body.contains("<dt>Reason</dt>"), "{body}");
    assert!(
        body.contains("<details class=\"raw\"><summary>raw</summary><code>{&quot;"),
        "{body}"
    );
}

#[test]
fn forward_auth_denials_are_sampled() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let r = send_json(
        &root,
        "PUT",
        "/api/admin/config/access",
        &json!({ "version": 0, "config": { "rules": [{"name": "closed", "policy": "deny", "hosts": ["closed.example.com"]}] } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let c = s.portal.client();
    c.use_fresh_ip();
    for _ in 0..50 {
        let r = c.send(
            "GET",
            "/auth/verify",
            &[
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "closed.example.com"),
                ("X-Forwarded-Uri", "/"),
            ],
            None,
        );
        assert_eq!(r.status, 403);
    }
    let denied = events(&root, "?type=forward_auth.");
    assert_eq!(
        types(&denied),
        ["forward_auth.denied"],
        "one event for a flood: {denied}"
    );
    assert_eq!(denied["events"][0]["detail"]["host"], "closed.example.com");
}

#[test]
fn the_janitor_prunes_past_retention() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let r = send_json(
        &root,
        "PUT",
        "/api/admin/config/events",
        &json!({ "version": 0, "config": { "retention_days": 30 } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let bad = send_json(
        &root,
        "PUT",
        "/api/admin/config/events",
        &json!({ "version": 1, "config": { "retention_days": 0 } }),
    );
    assert_eq!(bad.status, 400);
    let now = chrono::Utc::now().timestamp();
    let db = s.portal.db();
    for (kind, age_days) in [("old.one", 31), ("old.two", 400), ("kept.one", 29)] {
        db.execute(
            "INSERT INTO events (type, time, result) VALUES (?1, ?2, 'success')",
            rusqlite::params![kind, now - age_days * 86_400],
        )
        .unwrap();
    }
    authportal::janitor::sweep(s.portal.app());
    let left: BTreeSet<String> = types(&events(&root, "?limit=200")).into_iter().collect();
    assert!(
        left.contains("kept.one") && left.contains("signin.success"),
        "{left:?}"
    );
    assert!(
        !left.contains("old.one") && !left.contains("old.two"),
        "{left:?}"
    );
}

#[test]
fn the_janitor_sweeps_a_large_backlog_of_expired_sessions_and_keeps_live_ones() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let now = chrono::Utc::now().timestamp();
    let mut db = s.portal.db();
    let tx = db.transaction().unwrap();
    for i in 0..(authportal::janitor::BATCH * 2 + 500) {
        tx.execute(
            "INSERT INTO sessions (id_digest, user_id, identity_id, amr_json, sid, auth_time, created_at, expires_at)
             SELECT ?1, user_id, identity_id, amr_json, ?2, auth_time, created_at, ?3 FROM sessions LIMIT 1",
            rusqlite::params![i.to_be_bytes().to_vec(), format!("old-{i}"), now - 60],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    authportal::janitor::sweep(s.portal.app());
    let left = s.portal.count(&format!(
        "SELECT count(*) FROM sessions WHERE expires_at <= {now}"
    ));
    assert_eq!(left, 0, "every expired session is gone");
    assert_eq!(root.get("/whoami").json()["authenticated"], true);
}
