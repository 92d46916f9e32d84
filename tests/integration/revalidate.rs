//! Server access that stays true: one re-validation pass (`authportal::revalidate::
//! run_once`) against the fake plex.tv and Jellyfin ends the sessions, tokens and trusted
//! addresses of accounts that lost access, and keeps access through a grace period while
//! the server cannot be reached.

use serde_json::json;

use crate::fakes::Fault;
use crate::fakes::plex::{FakePlex, PlexAccount, server_resource};
use crate::harness::{Client, Portal};
use crate::team::{send_json, setup};

const MACHINE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

fn plex_sign_in(fake: &FakePlex, portal: &Portal, token: &str) -> Client {
    let c = portal.client();
    c.use_fresh_ip();
    let r = c.post_json("/auth/start-web", &json!({"provider": "plex"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.json()["authUrl"].as_str().unwrap().to_string();
    let (_, frag) = url.split_once("#?").unwrap();
    let code = url::form_urlencoded::parse(frag.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert!(fake.claim_pin(&code, token));
    let r = c.get("/auth/forward?provider=plex");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(c.get("/whoami").json()["authorized"], true);
    c
}

/// A refresh token for the user, as an application would hold after a code exchange.
fn give_refresh_token(portal: &Portal, user_uuid: &str) {
    let db = portal.db();
    let now = chrono::Utc::now().timestamp();
    db.execute(
        "INSERT INTO oauth_clients (client_id, name, redirect_uris_json, public, scopes_json, grant_types_json, created_at, updated_at)
         VALUES ('app', 'App', '[\"https://app.example/cb\"]', 1, '[\"openid\"]', '[\"refresh_token\"]', ?1, ?1)",
        [now],
    )
    .unwrap();
    db.execute(
        "INSERT INTO oauth_tokens (token_digest, kind, client_id, user_id, family, scopes_json, created_at, expires_at)
         SELECT randomblob(32), 'refresh', c.id, u.id, 'fam', '[\"openid\"]', ?1, ?1 + 86400
         FROM oauth_clients c, users u WHERE c.client_id = 'app' AND u.uuid = ?2",
        rusqlite::params![now, user_uuid],
    )
    .unwrap();
}

fn live_tokens(portal: &Portal) -> i64 {
    portal.count("SELECT count(*) FROM oauth_tokens WHERE revoked_at IS NULL")
}

#[test]
fn a_removed_plex_friend_loses_sessions_and_tokens_in_one_pass() {
    let fake = FakePlex::start();
    fake.add_account(
        PlexAccount::new(1, "owner", "tok-owner")
            .with_resources(vec![server_resource(MACHINE, "Hall", true)]),
    );
    fake.add_account(
        PlexAccount::new(2, "friend", "tok-friend")
            .with_resources(vec![server_resource(MACHINE, "Hall", false)]),
    );
    let url = fake.base_url();
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "plex"),
        ("PLEX_API_BASE", url.as_str()),
        ("PLEX_APP_BASE", url.as_str()),
        ("PLEX_SERVER_MACHINE_ID", MACHINE),
        ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
    ]);
    let owner = plex_sign_in(&fake, &portal, "tok-owner");
    let friend = plex_sign_in(&fake, &portal, "tok-friend");
    let friend_uuid = friend.get("/whoami").json()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    give_refresh_token(&portal, &friend_uuid);

    // Still shared: a pass confirms both and changes nothing.
    let pass = authportal::revalidate::run_once(portal.app()).unwrap();
    assert_eq!(
        (pass.checked, pass.confirmed, pass.revoked),
        (2, 2, 0),
        "{pass:?}"
    );
    assert_eq!(live_tokens(&portal), 1);

    // The owner removes the share on plex.tv.
    assert!(fake.set_resources("tok-friend", vec![]));
    let pass = authportal::revalidate::run_once(portal.app()).unwrap();
    assert_eq!(pass.revoked, 1, "{pass:?}");
    assert_eq!(friend.get("/whoami").json()["authenticated"], false);
    assert_eq!(owner.get("/whoami").json()["authorized"], true);
    assert_eq!(live_tokens(&portal), 0, "refresh tokens revoked");
    assert_eq!(
        portal.count(&format!(
            "SELECT count(*) FROM signin_ips s JOIN users u ON u.id = s.user_id WHERE u.uuid = '{friend_uuid}'"
        )),
        0,
        "trusted addresses forgotten"
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM events WHERE type = 'access.revoked'"),
        1
    );
    // Nothing left to check for the friend: the next pass asks plex.tv about the owner only.
    let pass = authportal::revalidate::run_once(portal.app()).unwrap();
    assert_eq!((pass.checked, pass.revoked), (1, 0), "{pass:?}");
}

/// With the owner's token, one request to plex.tv confirms every friend the server is
/// still shared with; only the others (the owner, who is never listed, and a friend the
/// share was taken from) are asked one by one, and the friend loses access.
#[test]
fn the_owners_token_confirms_plex_friends_in_one_request() {
    let fake = FakePlex::start();
    fake.add_account(
        PlexAccount::new(1, "owner", "tok-owner")
            .with_resources(vec![server_resource(MACHINE, "Hall", true)]),
    );
    for id in 2..=4 {
        fake.add_account(
            PlexAccount::new(id, &format!("friend{id}"), &format!("tok-{id}"))
                .with_resources(vec![server_resource(MACHINE, "Hall", false)]),
        );
    }
    let url = fake.base_url();
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "plex"),
        ("PLEX_API_BASE", url.as_str()),
        ("PLEX_APP_BASE", url.as_str()),
        ("PLEX_SERVER_MACHINE_ID", MACHINE),
        ("PLEX_OWNER_TOKEN", "tok-owner"),
        ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
    ]);
    let owner = plex_sign_in(&fake, &portal, "tok-owner");
    let friends: Vec<Client> = (2..=4)
        .map(|id| plex_sign_in(&fake, &portal, &format!("tok-{id}")))
        .collect();
    fake.clear_requests();
    let pass = authportal::revalidate::run_once(portal.app()).unwrap();
    assert_eq!((pass.confirmed, pass.revoked), (4, 0), "{pass:?}");
    assert_eq!(fake.count("/api/users"), 1);
    assert_eq!(
        fake.count("/api/v2/resources"),
        1,
        "only the owner, who is not in the list, is asked on their own"
    );

    assert!(fake.set_resources("tok-3", vec![]));
    fake.clear_requests();
    let pass = authportal::revalidate::run_once(portal.app()).unwrap();
    assert_eq!((pass.confirmed, pass.revoked), (3, 1), "{pass:?}");
    assert_eq!(fake.count("/api/users"), 1);
    assert_eq!(fake.count("/api/v2/resources"), 2, "the owner and friend3");
    assert_eq!(friends[1].get("/whoami").json()["authenticated"], false);
    assert_eq!(friends[0].get("/whoami").json()["authorized"], true);
    assert_eq!(owner.get("/whoami").json()["authorized"], true);
}

#[test]
fn a_disabled_jellyfin_user_loses_access_in_one_pass() {
    let s = setup(&[]);
    let alice = s.user("alice", "wonderland");
    let root = s.user("root", "toor");
    let pass = authportal::revalidate::run_once(s.portal.app()).unwrap();
    assert_eq!((pass.confirmed, pass.revoked), (2, 0), "{pass:?}");
    assert!(s.jf.set_user_disabled("alice", true));
    let pass = authportal::revalidate::run_once(s.portal.app()).unwrap();
    assert_eq!(pass.revoked, 1, "{pass:?}");
    assert_eq!(alice.get("/whoami").json()["authenticated"], false);
    assert_eq!(root.get("/whoami").json()["authorized"], true);
    let ev = root.get("/api/admin/events?type=access.revoked").json();
    let e = &ev["events"][0];
    assert_eq!(e["user"]["username"], "alice", "{ev}");
    assert_eq!(e["detail"]["by"], "revalidation");
    // Signing in again is refused by the server itself.
    let again = s.portal.client();
    again.use_fresh_ip();
    assert_eq!(
        crate::media::sign_in(&again, "jellyfin", "alice", "wonderland").status,
        403
    );
}

#[test]
fn an_unreachable_server_keeps_access_for_the_grace_period_only() {
    let s = setup(&[]);
    let alice = s.user("alice", "wonderland");
    let root = s.user("root", "toor");
    let r = send_json(
        &root,
        "PUT",
        "/api/admin/config/revalidation",
        &json!({ "version": 0, "config": { "interval_minutes": 15, "grace_hours": 2, "plex_requests_per_minute": 60 } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    authportal::revalidate::run_once(s.portal.app()).unwrap();

    s.jf.fail("/", Fault::Status(503));
    s.portal.app().clock.advance(3600);
    s.jf.clear_requests();
    let pass = authportal::revalidate::run_once(s.portal.app()).unwrap();
    assert_eq!((pass.kept_in_grace, pass.revoked), (2, 0), "{pass:?}");
    // The first failure marks the server down: the second user is not asked (timeouts).
    assert_eq!(s.jf.count("/Users"), 1);
    assert_eq!(
        alice.get("/whoami").json()["authorized"],
        true,
        "kept within grace"
    );
    let overview = root.get("/admin");
    assert_eq!(overview.status, 200);
    assert!(
        overview.body.contains("Re-validation is failing"),
        "{}",
        overview.body
    );
    assert!(overview.body.contains("Last success"), "{}", overview.body);

    // Past the grace period after the last confirmation: access ends.
    s.portal.app().clock.advance(2 * 3600);
    let pass = authportal::revalidate::run_once(s.portal.app()).unwrap();
    assert_eq!(pass.revoked, 2, "{pass:?}");
    assert_eq!(alice.get("/whoami").json()["authenticated"], false);
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'access.revoked'"),
        2
    );
}

#[test]
fn an_api_key_asks_jellyfin_once_per_pass_for_everyone() {
    use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    let names = ["alice", "bob", "carol", "dave"];
    for name in names {
        jf.add_user(FakeUser::new(name, "pw"));
    }
    let portal = crate::media::jellyfin_portal(&jf, &[("JELLYFIN_API_KEY", jf.api_key())]);
    let clients: Vec<_> = names
        .iter()
        .map(|name| {
            let c = portal.client();
            c.use_fresh_ip();
            assert_eq!(
                crate::media::sign_in(&c, "jellyfin", name, "pw").status,
                303
            );
            c
        })
        .collect();
    jf.clear_requests();
    let pass = authportal::revalidate::run_once(portal.app()).unwrap();
    assert_eq!(pass.confirmed, 4, "{pass:?}");
    let paths: Vec<String> = jf.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths.iter().filter(|p| *p == "/Users").count(),
        1,
        "one list for everyone: {paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.starts_with("/Users/")),
        "no request per account: {paths:?}"
    );
    assert!(jf.set_user_disabled("alice", true));
    assert_eq!(
        authportal::revalidate::run_once(portal.app())
            .unwrap()
            .revoked,
        1
    );
    assert_eq!(clients[0].get("/whoami").json()["authenticated"], false);
    assert_eq!(clients[1].get("/whoami").json()["authorized"], true);
}

/// Without an API key each account is asked with its own token, never faster than
/// `media_requests_per_second`.
#[test]
fn accounts_asked_one_by_one_are_paced() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    s.user("alice", "wonderland");
    s.user("vera", "viewer");
    let r = send_json(
        &root,
        "PUT",
        "/api/admin/config/revalidation",
        &json!({ "version": 0, "config": { "media_requests_per_second": 4 } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    s.jf.clear_requests();
    let started = std::time::Instant::now();
    let pass = authportal::revalidate::run_once(s.portal.app()).unwrap();
    let took = started.elapsed();
    assert_eq!(
        (pass.confirmed, pass.behind.as_deref()),
        (3, None),
        "{pass:?}"
    );
    assert_eq!(s.jf.count("/Users/Me"), 3);
    // Three requests at 4 a second: at least two gaps of 250 ms between them.
    assert!(took >= std::time::Duration::from_millis(500), "{took:?}");
    let r = send_json(
        &root,
        "PUT",
        "/api/admin/config/revalidation",
        &json!({ "version": 1, "config": { "media_requests_per_second": 0 } }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn plex_checks_are_bounded_per_minute_and_back_off_on_429() {
    let fake = FakePlex::start();
    fake.add_account(
        PlexAccount::new(1, "owner", "tok-owner")
            .with_resources(vec![server_resource(MACHINE, "Hall", true)]),
    );
    for (id, name) in [(2, "f1"), (3, "f2"), (4, "f3")] {
        fake.add_account(
            PlexAccount::new(id, name, &format!("tok-{name}"))
                .with_resources(vec![server_resource(MACHINE, "Hall", false)]),
        );
    }
    let url = fake.base_url();
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "plex"),
        ("PLEX_API_BASE", url.as_str()),
        ("PLEX_APP_BASE", url.as_str()),
        ("PLEX_SERVER_MACHINE_ID", MACHINE),
        ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
        // A Plex account is bound by its plex.tv email (PlexAccount::new's).
        ("ADMIN_BOOTSTRAP_USERS", "owner:owner@example.test"),
    ]);
    let owner = plex_sign_in(&fake, &portal, "tok-owner");
    for name in ["f1", "f2", "f3"] {
        plex_sign_in(&fake, &portal, &format!("tok-{name}"));
    }
    // Four requests a minute: two checks (a user and their resources each).
    let r = send_json(
        &owner,
        "PUT",
        "/api/admin/config/revalidation",
        &json!({ "version": 0, "config": { "interval_minutes": 15, "grace_hours": 24, "plex_requests_per_minute": 4 } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    fake.clear_requests();
    let pass = authportal::revalidate::run_once(portal.app()).unwrap();
    assert_eq!((pass.confirmed, pass.deferred), (2, 2), "{pass:?}");
    assert_eq!(fake.count("/api/v2/"), 4, "the bound held");
    // A minute later the other two get their turn (least recently checked first).
    portal.app().clock.advance(60);
    let pass = authportal::revalidate::run_once(portal.app()).unwrap();
    assert_eq!((pass.confirmed, pass.deferred), (2, 2), "{pass:?}");
    assert_eq!(
        portal.count("SELECT count(*) FROM identities WHERE checked_at IS NOT NULL"),
        4
    );

    // plex.tv says 429: nothing more is asked until the back-off has passed.
    portal.app().clock.advance(60);
    fake.fail("/api/v2/user", Fault::Status(429));
    fake.clear_requests();
    let pass = authportal::revalidate::run_once(portal.app()).unwrap();
    assert_eq!(
        (pass.confirmed, pass.revoked, pass.deferred),
        (0, 0, 4),
        "{pass:?}"
    );
    assert_eq!(
        fake.count("/api/v2/user"),
        1,
        "one 429, then no more requests"
    );
    fake.clear_faults();
    portal.app().clock.advance(30);
    assert_eq!(
        authportal::revalidate::run_once(portal.app())
            .unwrap()
            .deferred,
        4
    );
    portal.app().clock.advance(60);
    assert_eq!(
        authportal::revalidate::run_once(portal.app())
            .unwrap()
            .confirmed,
        2
    );
    let status = owner.get("/api/admin/revalidation").json();
    assert_eq!(
        status["settings"]["plex_requests_per_minute"], 4,
        "{status}"
    );
    assert_eq!(status["status"]["failing"], false, "{status}");
}

#[test]
fn a_disabled_emby_user_loses_access_too() {
    use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
    let emby = FakeJellyfin::start(Mode::Emby);
    emby.add_user(FakeUser::new("bob", "builder"));
    let url = emby.base_url();
    let portal = Portal::start(&[("MEDIA_SERVER", "emby"), ("EMBY_SERVER_URL", url.as_str())]);
    let bob = portal.client();
    assert_eq!(
        crate::media::sign_in(&bob, "emby", "bob", "builder").status,
        303
    );
    assert_eq!(
        authportal::revalidate::run_once(portal.app())
            .unwrap()
            .confirmed,
        1
    );
    assert!(emby.set_user_disabled("bob", true));
    assert_eq!(
        authportal::revalidate::run_once(portal.app())
            .unwrap()
            .revoked,
        1
    );
    assert_eq!(bob.get("/whoami").json()["authenticated"], false);
}

/// An Emby server asked with the API key (Emby has no list of users, so each user's
/// check is its own path, `/Users/{id}`, where a fault can hit one user), with root
/// (admin), alice and bob signed in in that order and a grace period of 2 h.
fn api_key_setup() -> (crate::fakes::jellyfin::FakeJellyfin, Portal, [Client; 3]) {
    use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
    let jf = FakeJellyfin::start(Mode::Emby);
    for (name, pw) in [
        ("root", "toor"),
        ("alice", "wonderland"),
        ("bob", "builder"),
    ] {
        jf.add_user(FakeUser::new(name, pw));
    }
    let url = jf.base_url();
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "emby"),
        ("EMBY_SERVER_URL", url.as_str()),
        ("EMBY_API_KEY", jf.api_key()),
        ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
        ("ADMIN_BOOTSTRAP_USERS", "root"),
    ]);
    let sign_in = |name: &str, pw: &str| {
        let c = portal.client();
        c.use_fresh_ip();
        assert_eq!(crate::media::sign_in(&c, "emby", name, pw).status, 303);
        c
    };
    let clients = [
        sign_in("root", "toor"),
        sign_in("alice", "wonderland"),
        sign_in("bob", "builder"),
    ];
    let r = send_json(
        &clients[0],
        "PUT",
        "/api/admin/config/revalidation",
        &json!({ "version": 0, "config": { "interval_minutes": 15, "grace_hours": 2, "plex_requests_per_minute": 60 } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    (jf, portal, clients)
}

fn user_path(name: &str) -> String {
    format!(
        "/emby/Users/{}",
        crate::fakes::jellyfin::FakeUser::new(name, "").id
    )
}

fn checked_at(portal: &Portal, name: &str) -> i64 {
    portal.count(&format!(
        "SELECT coalesce(i.checked_at, -1) FROM identities i JOIN users u ON u.id = i.user_id
         WHERE u.username = '{name}'"
    ))
}

/// One account whose lookup always fails (`fault`) while the server is fine: the others
/// are asked and confirmed in every pass; that account keeps access until its own grace
/// period runs out, then only it is revoked.
fn one_failing_account_concerns_that_account_only(fault: Fault) {
    let (jf, portal, [root, alice, bob]) = api_key_setup();
    jf.fail(&user_path("alice"), fault);
    let app = portal.app();
    for hour in 0..2 {
        jf.clear_requests();
        let before = app.clock.now();
        let pass = authportal::revalidate::run_once(app).unwrap();
        assert_eq!(
            (pass.confirmed, pass.kept_in_grace, pass.revoked),
            (2, 1, 0),
            "hour {hour}: {pass:?}"
        );
        let during = before..=app.clock.now();
        assert!(during.contains(&checked_at(&portal, "root")));
        assert!(during.contains(&checked_at(&portal, "bob")));
        assert_eq!(checked_at(&portal, "alice"), -1, "never confirmed");
        assert_eq!(alice.get("/whoami").json()["authorized"], true, "in grace");
        if hour > 0 {
            // Alice failed last pass: the others are asked before her.
            let paths: Vec<String> = jf.requests().into_iter().map(|r| r.path).collect();
            let at = |p: String| paths.iter().position(|x| *x == p).unwrap();
            assert!(at(user_path("bob")) < at(user_path("alice")), "{paths:?}");
        }
        app.clock.advance(3600);
    }
    // A minute past two hours after alice signed in, her own grace is over: only she goes.
    app.clock.advance(60);
    let before = app.clock.now();
    let pass = authportal::revalidate::run_once(app).unwrap();
    assert_eq!((pass.confirmed, pass.revoked), (2, 1), "{pass:?}");
    assert_eq!(alice.get("/whoami").json()["authenticated"], false);
    assert_eq!(bob.get("/whoami").json()["authorized"], true);
    assert_eq!(root.get("/whoami").json()["authorized"], true);
    assert!((before..=app.clock.now()).contains(&checked_at(&portal, "bob")));
}

#[test]
fn one_account_answered_with_500_does_not_sign_out_the_others() {
    one_failing_account_concerns_that_account_only(Fault::Status(500));
}

#[test]
fn one_account_answered_with_garbage_does_not_sign_out_the_others() {
    one_failing_account_concerns_that_account_only(Fault::Garbage);
}

#[test]
fn a_sign_in_during_a_pass_is_not_ended_by_it() {
    let (jf, portal, [_root, _alice, _bob]) = api_key_setup();
    // Bob's checks fail and he is past his grace: the pass's snapshot says "revoke".
    jf.fail(&user_path("bob"), Fault::Status(500));
    // Alice's check (before bob's: lower id) is slow, which leaves time to sign bob in.
    jf.fail(
        &user_path("alice"),
        Fault::Slow(std::time::Duration::from_secs(4)),
    );
    let app = portal.app();
    app.clock.advance(3 * 3600);
    let (pass, again) = std::thread::scope(|scope| {
        let pass = scope.spawn(|| authportal::revalidate::run_once(app).unwrap());
        let started = std::time::Instant::now();
        while jf.count(&user_path("alice")) == 0 {
            assert!(
                started.elapsed().as_secs() < 20,
                "the pass never asked about alice"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Emby's sign-in reads the same path as bob's check: lift his fault for it, and
        // put it back before the pass (still waiting on alice) gets to him.
        jf.clear_faults();
        let again = portal.client();
        again.use_fresh_ip();
        assert_eq!(
            crate::media::sign_in(&again, "emby", "bob", "builder").status,
            303
        );
        jf.fail(&user_path("bob"), Fault::Status(500));
        (pass.join().unwrap(), again)
    });
    assert_eq!((pass.revoked, pass.confirmed_meanwhile), (0, 1), "{pass:?}");
    assert_eq!(again.get("/whoami").json()["authorized"], true);
    assert_eq!(
        portal.count("SELECT count(*) FROM events WHERE type = 'access.revoked'"),
        0
    );
}
