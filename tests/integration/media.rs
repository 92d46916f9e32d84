//! Jellyfin and Emby sign-in through the real portal against the fake servers.

use std::time::Duration;

use crate::fakes::Fault;
use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal};

pub fn jellyfin_portal(fake: &FakeJellyfin, extra: &[(&str, &str)]) -> Portal {
    let url = fake.base_url();
    let mut vars = vec![
        ("MEDIA_SERVER", "jellyfin"),
        ("JELLYFIN_SERVER_URL", url.as_str()),
    ];
    vars.extend_from_slice(extra);
    Portal::start(&vars)
}

pub fn sign_in(c: &Client, provider: &str, user: &str, password: &str) -> crate::harness::Resp {
    c.post_form(
        &format!("/auth/forward?provider={provider}"),
        &[("username", user), ("password", password)],
    )
}

fn alice() -> FakeUser {
    FakeUser::new("alice", "wonderland")
}

#[test]
fn jellyfin_user_signs_in_and_gets_a_server_side_session() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(alice());
    let portal = jellyfin_portal(&jf, &[]);
    let c = portal.client();
    let r = sign_in(&c, "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/home"));
    let cookie = r.cookie_line("authportal_session").expect("session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain-http installs must work: {cookie}"
    );

    let who = c.get("/whoami").json();
    assert_eq!(who["authenticated"], true);
    assert_eq!(who["authorized"], true);
    assert_eq!(who["username"], "alice");
    assert_eq!(who["provider"], "jellyfin");
    assert_eq!(who["groups"], serde_json::json!(["jellyfin-user"]));
    assert_eq!(who["admin"], false);
    assert_eq!(who["amr"], serde_json::json!(["pwd"]));
    let me = c.get("/me").json();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["uuid"], who["uuid"]);
    let home = c.get("/home");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Welcome, alice"));
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 1);

    // The server saw the Jellyfin 12 header and nothing legacy.
    let auth = jf
        .requests()
        .into_iter()
        .find(|r| r.path == "/Users/AuthenticateByName")
        .unwrap();
    let header = auth.header("authorization").expect("Authorization header");
    assert!(
        header.starts_with("MediaBrowser ")
            && header.contains("DeviceId=\"")
            && header.contains("Client=\""),
        "{header}"
    );
    assert!(
        auth.headers
            .iter()
            .all(|(k, _)| !k.starts_with("x-emby") && !k.starts_with("x-mediabrowser"))
    );
    assert!(
        jf.count("/Users/Me") >= 1,
        "the policy is read with the new token"
    );
}

#[test]
fn device_id_is_stable_across_sign_ins_and_restarts() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(alice());
    let portal = jellyfin_portal(&jf, &[]);
    assert_eq!(
        sign_in(&portal.client(), "jellyfin", "alice", "wonderland").status,
        303
    );
    let portal = portal.restart();
    assert_eq!(
        sign_in(&portal.client(), "jellyfin", "alice", "wonderland").status,
        303
    );
    let ids = jf.device_ids();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1]);
    assert_eq!(
        jf.tokens_of("alice").len(),
        1,
        "the new login replaced the old token"
    );
}

#[test]
fn administrators_get_the_admin_group() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("root", "pw")
    });
    let portal = jellyfin_portal(&jf, &[]);
    let c = portal.client();
    assert_eq!(sign_in(&c, "jellyfin", "root", "pw").status, 303);
    assert_eq!(
        c.get("/whoami").json()["groups"],
        serde_json::json!(["jellyfin-admin"])
    );
}

#[test]
fn wrong_password_is_a_generic_error_and_no_session() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(alice());
    let portal = jellyfin_portal(&jf, &[]);
    let c = portal.client();
    for (user, pw) in [("alice", "nope"), ("nobody", "wonderland")] {
        let r = sign_in(&c, "jellyfin", user, pw);
        assert_eq!(r.status, 401);
        assert!(
            r.body.contains("Invalid username or password"),
            "{}",
            r.body
        );
        assert!(r.cookie_line("authportal_session").is_none());
    }
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 0);
    assert_eq!(portal.count("SELECT count(*) FROM users"), 0);
}

#[test]
fn disabled_user_gets_the_restricted_page_with_request_access_and_no_session() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser {
        is_disabled: true,
        ..alice()
    });
    let portal = jellyfin_portal(
        &jf,
        &[
            ("UNAUTH_REQUEST_EMAIL", "owner@example.com"),
            ("UNAUTH_REQUEST_SUBJECT", "Let me in"),
        ],
    );
    let c = portal.client();
    let r = sign_in(&c, "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("does not have access"), "{}", r.body);
    assert!(
        r.body
            .contains("mailto:owner@example.com?subject=Let%20me%20in"),
        "{}",
        r.body
    );
    assert!(r.cookie_line("authportal_session").is_none());
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 0);
}

#[test]
fn a_disabled_policy_refuses_even_when_the_login_call_succeeds() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(alice());
    jf.set_policy_disabled_but_login_ok("alice");
    let portal = jellyfin_portal(&jf, &[]);
    let r = sign_in(&portal.client(), "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 403);
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 0);
}

#[test]
fn server_down_says_unreachable_and_does_not_count_as_an_attempt() {
    // A port nobody listens on: connection refused.
    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "jellyfin"),
        ("JELLYFIN_SERVER_URL", &closed),
    ]);
    let c = portal.client();
    for _ in 0..8 {
        let r = sign_in(&c, "jellyfin", "alice", "wonderland");
        assert_eq!(
            r.status, 503,
            "unreachable is never 'rate limited' or 'wrong password'"
        );
        assert!(
            r.body.contains("Media server unreachable, try again"),
            "{}",
            r.body
        );
    }
}

#[test]
fn server_errors_and_garbage_fail_closed() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(alice());
    let portal = jellyfin_portal(&jf, &[]);
    let c = portal.client();
    jf.fail("/Users/AuthenticateByName", Fault::Status(500));
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 503);
    jf.clear_faults();
    jf.fail("/Users/AuthenticateByName", Fault::Garbage);
    let r = sign_in(&c, "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 502, "{}", r.body);
    jf.clear_faults();
    jf.fail("/Users/Me", Fault::Garbage);
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 502);
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 0);
    jf.clear_faults();
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 303);
}

#[test]
fn a_slow_server_times_out_as_unreachable() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(alice());
    jf.fail(
        "/Users/AuthenticateByName",
        Fault::Slow(Duration::from_secs(12)),
    );
    let portal = jellyfin_portal(&jf, &[]);
    let started = std::time::Instant::now();
    let r = sign_in(&portal.client(), "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "the 10 s budget bounds the wait"
    );
}

#[test]
fn emby_uses_its_prefix_header_and_user_lookup() {
    let emby = FakeJellyfin::start(Mode::Emby);
    emby.add_user(FakeUser {
        is_admin: true,
        ..alice()
    });
    let url = emby.base_url();
    let portal = Portal::start(&[("MEDIA_SERVER", "emby"), ("EMBY_SERVER_URL", &url)]);
    let c = portal.client();
    let r = sign_in(&c, "emby", "alice", "wonderland");
    assert_eq!(r.status, 303, "{}", r.body);
    let who = c.get("/whoami").json();
    assert_eq!(who["provider"], "emby");
    assert_eq!(who["groups"], serde_json::json!(["emby-admin"]));
    let reqs = emby.requests();
    let auth = reqs
        .iter()
        .find(|r| r.path == "/emby/Users/AuthenticateByName")
        .expect("login under /emby");
    assert!(
        auth.header("x-emby-authorization")
            .is_some_and(|h| h.starts_with("Emby "))
    );
    assert!(
        reqs.iter().all(|r| !r.path.ends_with("/Users/Me")),
        "Emby has no /Users/Me"
    );
    assert!(
        reqs.iter()
            .any(|r| r.path.starts_with("/emby/Users/") && r.method == "GET")
    );
}

#[test]
fn same_username_on_two_providers_makes_two_users_with_distinct_names() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    let emby = FakeJellyfin::start(Mode::Emby);
    jf.add_user(FakeUser {
        id: "11111111111111111111111111111111".into(),
        ..FakeUser::new("bob", "one")
    });
    emby.add_user(FakeUser {
        id: "22222222222222222222222222222222".into(),
        ..FakeUser::new("Bob", "two")
    });
    let (jf_url, emby_url) = (jf.base_url(), emby.base_url());
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "jellyfin,emby"),
        ("JELLYFIN_SERVER_URL", &jf_url),
        ("EMBY_SERVER_URL", &emby_url),
    ]);
    // Both race for the name (one differs only in case, which apps ignore).
    let (a, b) = std::thread::scope(|s| {
        let (a, b) = (portal.client(), portal.client());
        let one = s.spawn(move || (sign_in(&a, "jellyfin", "bob", "one").status, a));
        let two = s.spawn(move || (sign_in(&b, "emby", "Bob", "two").status, b));
        let ((s1, a), (s2, b)) = (one.join().unwrap(), two.join().unwrap());
        assert_eq!((s1, s2), (303, 303));
        (a, b)
    });
    let (wa, wb) = (a.get("/whoami").json(), b.get("/whoami").json());
    assert_ne!(wa["uuid"], wb["uuid"], "never merged by username");
    let mut names = [
        wa["username"].as_str().unwrap().to_string(),
        wb["username"].as_str().unwrap().to_string(),
    ];
    names.sort();
    assert!(
        names == ["Bob", "bob-jellyfin"] || names == ["Bob-emby", "bob"],
        "one keeps the name, the other gets a marked one: {names:?}"
    );
    assert_eq!(portal.count("SELECT count(*) FROM users"), 2);
    // Signing in again lands on the same user, under the same name.
    assert_eq!(sign_in(&a, "jellyfin", "bob", "one").status, 303);
    assert_eq!(a.get("/whoami").json()["uuid"], wa["uuid"]);
    assert_eq!(a.get("/whoami").json()["username"], wa["username"]);
    assert_eq!(sign_in(&b, "emby", "Bob", "two").status, 303);
    assert_eq!(b.get("/whoami").json()["username"], wb["username"]);
    assert_eq!(portal.count("SELECT count(*) FROM users"), 2);
}

#[test]
fn username_email_bootstrap_entries_match_jellyfin_and_emby_by_name() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    for name in ["alice", "root", "carol"] {
        jf.add_user(FakeUser::new(name, "pw"));
    }
    let portal = jellyfin_portal(
        &jf,
        &[
            ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
            // Jellyfin reports no email: the name on the owner's server decides.
            (
                "ADMIN_BOOTSTRAP_USERS",
                "ALICE:alice@example.com, jellyfin:root, emby:carol",
            ),
        ],
    );
    let admin = |name: &str| {
        let c = portal.client();
        c.use_fresh_ip();
        assert_eq!(sign_in(&c, "jellyfin", name, "pw").status, 303);
        c.get("/whoami").json()["admin"].clone()
    };
    assert_eq!(admin("alice"), true);
    assert_eq!(admin("root"), true);
    assert_eq!(
        admin("carol"),
        false,
        "an emby: entry is not a Jellyfin user"
    );
}

#[test]
fn a_disabled_provider_is_refused() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(alice());
    let portal = jellyfin_portal(&jf, &[]);
    let c = portal.client();
    let r = sign_in(&c, "emby", "alice", "wonderland");
    assert_eq!(r.status, 400);
    let r = c.get("/auth/forward?provider=emby");
    assert_eq!(r.status, 400);
    let r = c.get("/auth/forward?provider=jellyfin&popup=1");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("name=\"password\"") && r.body.contains("value=\"1\""));
}

/// Jellyfin keeps one token per user and device, and the portal is one device: a second
/// sign-in of the same account replaces the first one's token. Sign-ins of one account
/// at the same moment must all succeed, and the token kept must be the live one.
#[test]
fn simultaneous_sign_ins_of_one_account_all_succeed() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(alice());
    let portal = jellyfin_portal(&jf, &[("TRUSTED_PROXY_CIDRS", "127.0.0.1")]);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..6)
                        .map(|_| {
                            let c = portal.client();
                            c.use_fresh_ip();
                            sign_in(&c, "jellyfin", "alice", "wonderland").status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(statuses.iter().all(|s| *s == 303), "{statuses:?}");
    // The token the portal keeps for alice still works at the server.
    let app = portal.app();
    let sealed: String = portal
        .db()
        .query_row(
            "SELECT token_sealed FROM identities WHERE username = 'alice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let id: String = portal
        .db()
        .query_row(
            "SELECT provider_user_id FROM identities WHERE username = 'alice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let token = app
        .sealer
        .open(&format!("provider-token:jellyfin:{id}"), &sealed)
        .unwrap();
    let server = app.providers();
    let server = server
        .media_server(authportal::providers::ProviderKind::Jellyfin)
        .unwrap();
    assert_eq!(
        server
            .account_of(&app.http, std::str::from_utf8(&token).unwrap())
            .unwrap(),
        id
    );
}
