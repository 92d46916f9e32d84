//! The rules every route follows: CSRF, rate limits, client IPs, malformed input,
//! sessions that die server-side, sealed tokens, safe redirects.

use serde_json::json;

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::Client;
use crate::media::{jellyfin_portal, sign_in};

fn setup() -> (FakeJellyfin, crate::harness::Portal) {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let portal = jellyfin_portal(&jf, &[]);
    (jf, portal)
}

#[test]
fn cross_origin_posts_are_refused_and_change_nothing() {
    let (jf, portal) = setup();
    let c = portal.client();
    *c.origin.borrow_mut() = Some("https://evil.example".into());
    let r = sign_in(&c, "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("cross-origin"));
    *c.origin.borrow_mut() = None;
    assert_eq!(
        sign_in(&c, "jellyfin", "alice", "wonderland").status,
        403,
        "no Origin and no Referer"
    );
    let r = c.send(
        "POST",
        "/auth/forward?provider=jellyfin",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Referer", "https://evil.example/x"),
        ],
        Some(b"username=alice&password=wonderland".to_vec()),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        jf.count("/Users/AuthenticateByName"),
        0,
        "refused before reaching the media server"
    );
    let r = c.send(
        "POST",
        "/auth/forward?provider=jellyfin",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Referer", &format!("{}/auth/forward", portal.base)),
        ],
        Some(b"username=alice&password=wonderland".to_vec()),
    );
    assert_eq!(
        r.status, 303,
        "a same-origin Referer is enough when Origin is absent"
    );

    // Signing out is a POST too: a cross-site form cannot end a session.
    *c.origin.borrow_mut() = Some("https://evil.example".into());
    assert_eq!(c.post_form("/logout", &[]).status, 403);
    assert_eq!(c.get("/whoami").json()["authenticated"], true);
}

#[test]
fn sign_in_attempts_are_rate_limited_per_client_ip() {
    let (jf, portal) = setup();
    let c = portal.client();
    for i in 0..5 {
        assert_eq!(
            sign_in(&c, "jellyfin", "alice", "bad").status,
            401,
            "attempt {i}"
        );
    }
    let r = sign_in(&c, "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 429);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        jf.count("/Users/AuthenticateByName"),
        5,
        "the sixth never reached Jellyfin"
    );
}

/// A refused sign-in says when to try again, in words, and keeps the username typed
/// (never the password).
#[test]
fn a_rate_limited_sign_in_says_when_and_keeps_the_username() {
    let (_jf, portal) = setup();
    let c = portal.client();
    for _ in 0..5 {
        sign_in(&c, "jellyfin", "alice", "bad");
    }
    let r = sign_in(&c, "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert!(
        r.body.contains("Too many attempts, try again in "),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"alice\""), "{}", r.body);
    assert!(!r.body.contains("wonderland"), "never the password");
}

/// Guesses spread over many addresses still hit the account's back-off: five wrong
/// passwords are free, then the account waits 1 s, 2 s, ... (any case of the name, any
/// address), with one `signin.locked` event; the right password afterwards resets it.
#[test]
fn password_guessing_backs_off_per_account_across_addresses() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let portal = jellyfin_portal(&jf, &[("TRUSTED_PROXY_CIDRS", "127.0.0.1/32")]);
    let from_anywhere = || {
        let c = portal.client();
        c.use_fresh_ip();
        c
    };
    for (i, name) in ["alice", "Alice", "ALICE", "alice", "aLiCe"]
        .iter()
        .enumerate()
    {
        let r = sign_in(&from_anywhere(), "jellyfin", name, "bad");
        assert_eq!(r.status, 401, "attempt {i}: {}", r.body);
    }
    let r = sign_in(&from_anywhere(), "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 429, "even the right password waits: {}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        r.body
            .contains("Too many failed sign-ins for this account; try again in 1 second"),
        "{}",
        r.body
    );
    assert_eq!(
        jf.count("/Users/AuthenticateByName"),
        5,
        "the wait asks nothing"
    );
    assert_eq!(
        sign_in(&from_anywhere(), "jellyfin", "bob", "bad").status,
        401,
        "other accounts are not held up"
    );

    portal.app().clock.advance(1);
    assert_eq!(
        sign_in(&from_anywhere(), "jellyfin", "alice", "bad").status,
        401
    );
    let r = sign_in(&from_anywhere(), "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 429, "the next wait is longer");
    assert_eq!(r.header("retry-after"), Some("2"));
    portal.app().clock.advance(2);
    assert_eq!(
        sign_in(&from_anywhere(), "jellyfin", "alice", "wonderland").status,
        303
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM events WHERE type = 'signin.locked'"),
        1,
        "one event when the back-off starts, not one per attempt"
    );
    // Success starts the account over with five free failures.
    for i in 0..5 {
        let r = sign_in(&from_anywhere(), "jellyfin", "alice", "bad");
        assert_eq!(r.status, 401, "after success, attempt {i}");
    }
}

#[test]
fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let trusting = jellyfin_portal(&jf, &[("TRUSTED_PROXY_CIDRS", "127.0.0.1/32")]);
    let c = trusting.client();
    for i in 0..5 {
        c.extra_headers
            .replace(vec![("X-Forwarded-For".into(), "203.0.113.7".into())]);
        assert_eq!(sign_in(&c, "jellyfin", "alice", "bad").status, 401, "{i}");
    }
    assert_eq!(sign_in(&c, "jellyfin", "alice", "bad").status, 429);
    c.extra_headers
        .replace(vec![("X-Forwarded-For".into(), "203.0.113.8".into())]);
    assert_eq!(
        sign_in(&c, "jellyfin", "carol", "bad").status,
        401,
        "another client behind the proxy has its own budget (on another account: \
         alice's own back-off started after five wrong passwords)"
    );

    let untrusting = jellyfin_portal(&jf, &[]);
    let c = untrusting.client();
    for i in 0..5 {
        c.extra_headers
            .replace(vec![("X-Forwarded-For".into(), format!("198.51.100.{i}"))]);
        assert_eq!(sign_in(&c, "jellyfin", "alice", "bad").status, 401);
    }
    assert_eq!(
        sign_in(&c, "jellyfin", "alice", "bad").status,
        429,
        "a spoofed header does not buy more attempts"
    );
}

/// method, path, headers, body
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a [u8]);

#[test]
fn malformed_input_gets_a_clear_4xx_never_a_5xx() {
    let (_jf, portal) = setup();
    let c = portal.client();
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/auth/start-web",
            vec![("Content-Type", "application/json")],
            b"{not json",
        ),
        (
            "POST",
            "/auth/start-web",
            vec![("Content-Type", "application/json")],
            b"{\"provider\":42}",
        ),
        (
            "POST",
            "/auth/start-web",
            vec![("Content-Type", "application/json")],
            b"{\"provider\":\"kodi\"}",
        ),
        (
            "POST",
            "/auth/start-web",
            vec![("Content-Type", "application/json")],
            b"[]",
        ),
        (
            "POST",
            "/auth/forward?provider=jellyfin",
            vec![("Content-Type", "application/json")],
            b"{}",
        ),
        (
            "POST",
            "/auth/forward?provider=jellyfin",
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            b"username=&password=",
        ),
        (
            "POST",
            "/auth/forward?provider=jellyfin",
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            b"%%%%=%zz&username=%ff%fe",
        ),
        (
            "POST",
            "/auth/forward",
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            b"username=a&password=b",
        ),
        (
            "POST",
            "/auth/forward?provider=%ff",
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            b"username=a&password=b",
        ),
        ("GET", "/auth/forward?provider=", vec![], b""),
        ("GET", "/nope/../../etc/passwd", vec![], b""),
        ("GET", "/static/../Cargo.toml", vec![], b""),
        ("DELETE", "/whoami", vec![], b""),
        ("PUT", "/logout", vec![], b""),
    ];
    for (method, path, headers, body) in cases {
        let r = c.send(method, path, &headers, Some(body.to_vec()));
        assert!(
            (400..500).contains(&r.status),
            "{method} {path} -> {} {}",
            r.status,
            r.body
        );
    }
    // JSON routes answer JSON errors.
    let r = c.send(
        "POST",
        "/auth/start-web",
        &[("Content-Type", "application/json")],
        Some(b"{".to_vec()),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("JSON"));
    // A body past the limit.
    let big = vec![b'a'; 200 * 1024];
    let r = c.send(
        "POST",
        "/auth/forward?provider=jellyfin",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(big),
    );
    assert_eq!(r.status, 413);
    assert_eq!(portal.count("SELECT count(*) FROM users"), 0);
}

#[test]
fn forged_and_garbage_cookies_are_just_anonymous() {
    let (_jf, portal) = setup();
    let c = portal.client();
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 303);
    let good = c.cookie("authportal_session").unwrap();
    let mut forged: Vec<char> = good.chars().collect();
    let i = forged.len() - 3;
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let as_flow = good.replacen("s.", "f.", 1);
    for value in [
        forged.as_str(),
        "",
        "garbage",
        "s.x.y",
        "s..",
        &"a".repeat(5000),
        "s.%C3%A9.x",
        as_flow.as_str(),
    ] {
        let other = Client::new(&portal.base);
        other.set_cookie("authportal_session", value);
        let r = other.get("/whoami");
        assert_eq!(r.status, 200, "{value:?}");
        assert_eq!(r.json()["authenticated"], false, "{value:?}");
        assert_eq!(other.get("/home").status, 303);
    }
}

#[test]
fn logout_kills_the_session_on_the_server() {
    let (_jf, portal) = setup();
    let c = portal.client();
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 303);
    let stolen = c.cookie("authportal_session").unwrap();
    let r = c.post_form("/logout", &[]);
    assert_eq!(r.status, 303);
    assert!(
        r.cookie_line("authportal_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 0);
    let replay = Client::new(&portal.base);
    replay.set_cookie("authportal_session", &stolen);
    assert_eq!(
        replay.get("/whoami").json()["authenticated"],
        false,
        "a copied cookie is dead too"
    );
}

#[test]
fn every_sign_in_gets_a_new_session_id_and_drops_the_old_one() {
    let (_jf, portal) = setup();
    let c = portal.client();
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 303);
    let first = c.cookie("authportal_session").unwrap();
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 303);
    let second = c.cookie("authportal_session").unwrap();
    assert_ne!(first, second);
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 1);
    let old = Client::new(&portal.base);
    old.set_cookie("authportal_session", &first);
    assert_eq!(old.get("/whoami").json()["authenticated"], false);
}

#[test]
fn sessions_expire_after_a_day() {
    let (_jf, portal) = setup();
    let c = portal.client();
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 303);
    assert!(c.get("/whoami").json()["expires"].is_string());
    portal.app().clock.advance(24 * 3600 + 1);
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
}

#[test]
fn provider_tokens_are_sealed_at_rest() {
    let (jf, portal) = setup();
    let c = portal.client();
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 303);
    let token = jf.tokens_of("alice").pop().unwrap();
    let (sealed, pid): (String, String) = portal
        .db()
        .query_row(
            "SELECT token_sealed, provider_user_id FROM identities",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(!sealed.contains(&token));
    let raw = std::fs::read(portal.data_dir().join("authportal.db")).unwrap();
    let wal = std::fs::read(portal.data_dir().join("authportal.db-wal")).unwrap_or_default();
    for bytes in [&raw, &wal] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "token in plain text on disk"
        );
    }
    let opened = portal
        .app()
        .sealer
        .open(&format!("provider-token:jellyfin:{pid}"), &sealed)
        .unwrap();
    assert_eq!(opened, token.as_bytes());
}

#[test]
fn admin_bootstrap_users_become_admins() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("Alice", "wonderland"));
    jf.add_user(FakeUser::new("mallory", "pw"));
    let portal = jellyfin_portal(
        &jf,
        &[("ADMIN_BOOTSTRAP_USERS", "alice, carol:carol@example.com")],
    );
    let c = portal.client();
    assert_eq!(sign_in(&c, "jellyfin", "Alice", "wonderland").status, 303);
    let who = c.get("/whoami").json();
    assert_eq!(who["admin"], true);
    assert!(who["groups"].as_array().unwrap().contains(&json!("admins")));
    let m = portal.client();
    assert_eq!(sign_in(&m, "jellyfin", "mallory", "pw").status, 303);
    assert_eq!(m.get("/whoami").json()["admin"], false);
}

#[test]
fn rd_is_honoured_only_when_safe() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let portal = jellyfin_portal(
        &jf,
        &[
            ("SESSION_COOKIE_DOMAIN", "example.com"),
            ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
        ],
    );
    let c = portal.client();
    let attempt = std::cell::Cell::new(0);
    let go = |rd: &str| {
        // Each attempt from its own address, so the sign-in rate limit stays out of the way.
        attempt.set(attempt.get() + 1);
        c.extra_headers.replace(vec![(
            "X-Forwarded-For".into(),
            format!("192.0.2.{}", attempt.get()),
        )]);
        c.post_form(
            "/auth/forward?provider=jellyfin",
            &[
                ("username", "alice"),
                ("password", "wonderland"),
                ("rd", rd),
            ],
        )
        .header("location")
        .map(str::to_string)
    };
    assert_eq!(go("/somewhere?x=1").as_deref(), Some("/somewhere?x=1"));
    assert_eq!(
        go("https://grafana.example.com/d/1").as_deref(),
        Some("https://grafana.example.com/d/1")
    );
    for bad in [
        "https://evil.com/",
        "//evil.com/",
        "https://user@grafana.example.com/",
        "javascript:alert(1)",
    ] {
        assert_eq!(go(bad).as_deref(), Some("/home"), "{bad}");
    }
    // The sign-in page carries a safe rd into the buttons, and drops a bad one.
    let anon = portal.client();
    assert!(anon.get("/?rd=%2Fapp").body.contains("data-rd=\"/app\""));
    assert!(
        anon.get("/?rd=https%3A%2F%2Fevil.com")
            .body
            .contains("data-rd=\"\"")
    );
    // Signed in, / goes straight to a safe rd.
    assert_eq!(c.get("/?rd=%2Fapp").header("location"), Some("/app"));
    assert_eq!(
        c.get("/?rd=https%3A%2F%2Fevil.com").header("location"),
        Some("/home")
    );
    let r = c.post_json(
        "/auth/start-web",
        &json!({"provider": "jellyfin", "rd": "/app"}),
    );
    assert!(
        r.json()["authUrl"]
            .as_str()
            .unwrap()
            .ends_with("/auth/forward?provider=jellyfin&rd=%2Fapp")
    );
}
