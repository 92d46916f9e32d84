//! Plex sign-in through the real portal against the fake plex.tv / app.plex.tv.

use serde_json::json;

use crate::fair_share::{FLOOD_48, Flood, evictions, fill_flows, held_by};
use crate::fakes::Fault;
use crate::fakes::plex::{
    FakePlex, PlexAccount, client_resource, home_server_resource, server_resource,
};
use crate::harness::{Client, Portal, Resp};

const MACHINE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
const SERVER: &str = "Media Hall";

fn plex_portal(fake: &FakePlex, extra: &[(&str, &str)]) -> Portal {
    let url = fake.base_url();
    let mut vars = vec![
        ("MEDIA_SERVER", "plex"),
        ("PLEX_API_BASE", url.as_str()),
        ("PLEX_APP_BASE", url.as_str()),
        ("PLEX_SERVER_MACHINE_ID", MACHINE),
    ];
    vars.extend_from_slice(extra);
    Portal::start(&vars)
}

fn owner() -> PlexAccount {
    PlexAccount::new(1, "owner", "tok-owner")
        .with_resources(vec![server_resource(MACHINE, SERVER, true)])
}

fn friend() -> PlexAccount {
    PlexAccount::new(2, "friend", "tok-friend")
        .with_resources(vec![server_resource(MACHINE, SERVER, false)])
}

/// The fields of the app.plex.tv fragment (`#?clientID=..&code=..&forwardUrl=..`).
fn fragment(auth_url: &str) -> std::collections::HashMap<String, String> {
    let (_, frag) = auth_url.split_once("#?").expect("fragment");
    url::form_urlencoded::parse(frag.as_bytes())
        .into_owned()
        .collect()
}

/// Starts a Plex sign-in and returns the PIN code the auth app would show.
fn start(c: &Client) -> String {
    let r = c.post_json("/auth/start-web", &json!({"provider": "plex"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(c.cookie("authportal_flow").is_some());
    fragment(r.json()["authUrl"].as_str().unwrap())["code"].clone()
}

/// The popup returning from app.plex.tv to forwardUrl.
fn forward(c: &Client) -> Resp {
    c.get("/auth/forward?provider=plex")
}

#[test]
fn owner_signs_in_through_the_popup_return() {
    let fake = FakePlex::start();
    fake.add_account(owner());
    let portal = plex_portal(&fake, &[]);
    let c = portal.client();
    let r = c.post_json("/auth/start-web", &json!({"provider": "plex"}));
    let auth_url = r.json()["authUrl"].as_str().unwrap().to_string();
    assert!(
        auth_url.starts_with(&format!("{}/auth#?", fake.base_url())),
        "{auth_url}"
    );
    let f = fragment(&auth_url);
    assert_eq!(
        f["forwardUrl"],
        format!("{}/auth/forward?provider=plex", portal.base)
    );
    assert_eq!(f["context[device][product]"], "AuthPortal");
    let flow_cookie = r.cookie_line("authportal_flow").unwrap();
    assert!(flow_cookie.contains("HttpOnly"), "{flow_cookie}");

    let pin = fake.last_pin().unwrap();
    assert!(pin.strong, "PIN created with strong=true");
    assert_eq!(pin.client_identifier, f["clientID"]);
    assert!(fake.claim_pin(&f["code"], "tok-owner"));

    let r = forward(&c);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("data-redirect=\"/home\""));
    assert!(r.cookie_line("authportal_session").is_some());
    let who = c.get("/whoami").json();
    assert_eq!(who["authorized"], true);
    assert_eq!(who["provider"], "plex");
    assert_eq!(who["username"], "owner");
    assert_eq!(who["email"], "owner@example.test");
    assert_eq!(who["groups"], json!(["plex-owner"]));

    // Every plex.tv call carried JSON Accept and the install's client id.
    for req in fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/"))
    {
        assert_eq!(
            req.header("accept"),
            Some("application/json"),
            "{}",
            req.path
        );
        assert_eq!(
            req.header("x-plex-client-identifier"),
            Some(f["clientID"].as_str()),
            "{}",
            req.path
        );
    }
    // A second sign-in uses the same client id (stable per install).
    let c2 = portal.client();
    start(&c2);
    assert_eq!(fake.last_pin().unwrap().client_identifier, f["clientID"]);
}

#[test]
fn polling_completes_the_sign_in_and_is_throttled_upstream() {
    let fake = FakePlex::start();
    fake.add_account(friend());
    let portal = plex_portal(&fake, &[]);
    // The throttle reads the App clock: stopped, these polls fall in one second however
    // slow the machine, and the next second comes when the test moves it.
    portal.app().clock.freeze();
    let c = portal.client();
    let code = start(&c);
    fake.clear_requests();
    assert_eq!(c.get("/auth/poll").json()["status"], "pending");
    for _ in 0..5 {
        assert_eq!(c.get("/auth/poll").json()["status"], "pending");
    }
    assert_eq!(
        fake.count("/api/v2/pins/"),
        1,
        "plex.tv is asked at most once a second"
    );
    assert!(fake.claim_pin(&code, "tok-friend"));
    assert_eq!(c.get("/auth/poll").json()["status"], "pending");
    assert_eq!(
        fake.count("/api/v2/pins/"),
        1,
        "not asked again within the second"
    );
    portal.app().clock.advance(1);
    let r = c.get("/auth/poll");
    assert_eq!(r.json()["status"], "done");
    assert_eq!(r.json()["redirect"], "/home");
    assert!(r.cookie_line("authportal_session").is_some());
    let who = c.get("/whoami").json();
    assert_eq!(who["groups"], json!(["plex-friend"]));
    // The popup arriving afterwards finds the flow done and makes no second session.
    let r = forward(&c);
    assert!(r.body.contains("data-redirect=\"/home\""));
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 1);
}

#[test]
fn the_flow_is_bound_to_the_browser_that_started_it() {
    let fake = FakePlex::start();
    fake.add_account(owner());
    let portal = plex_portal(&fake, &[]);
    let victim = portal.client();
    let code = start(&victim);
    fake.claim_pin(&code, "tok-owner");
    // Another browser, with no flow cookie or a forged one, gets nothing.
    let attacker = portal.client();
    assert_eq!(attacker.get("/auth/poll").json()["status"], "expired");
    attacker.set_cookie(
        "authportal_flow",
        "f.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    assert_eq!(attacker.get("/auth/poll").json()["status"], "expired");
    assert_eq!(forward(&attacker).status, 400);
    // A session cookie is not a flow cookie.
    assert_eq!(attacker.get("/whoami").json()["authenticated"], false);
    assert_eq!(forward(&victim).status, 200);
    assert_eq!(victim.get("/whoami").json()["authenticated"], true);
}

#[test]
fn a_same_named_server_never_grants_access() {
    let fake = FakePlex::start();
    let impostor = "ffffffffffffffffffffffffffffffffffffffff";
    fake.add_account(
        PlexAccount::new(7, "mallory", "tok-m")
            .with_resources(vec![server_resource(impostor, SERVER, true)]),
    );
    let portal = plex_portal(&fake, &[("UNAUTH_REQUEST_EMAIL", "owner@example.com")]);
    let c = portal.client();
    let code = start(&c);
    fake.claim_pin(&code, "tok-m");
    let r = forward(&c);
    assert!(
        r.body
            .contains("data-redirect=\"/restricted?provider=plex\""),
        "{}",
        r.body
    );
    assert!(r.cookie_line("authportal_session").is_none());
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
    assert_eq!(c.get("/auth/poll").json()["status"], "denied");
    let page = c.get("/restricted?provider=plex");
    assert!(
        page.body.contains("Plex account does not have access")
            && page.body.contains("mailto:owner@example.com")
    );
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 0);
}

#[test]
fn only_a_server_resource_with_the_machine_id_counts() {
    let fake = FakePlex::start();
    // An owned client device that happens to carry the id, and a stranger with another server.
    fake.add_account(
        PlexAccount::new(8, "player", "tok-p")
            .with_resources(vec![client_resource(MACHINE, SERVER)]),
    );
    fake.add_account(
        PlexAccount::new(9, "stranger", "tok-s").with_resources(vec![server_resource(
            "0000000000000000000000000000000000000000",
            "Other",
            true,
        )]),
    );
    let portal = plex_portal(&fake, &[]);
    for token in ["tok-p", "tok-s"] {
        let c = portal.client();
        let code = start(&c);
        fake.claim_pin(&code, token);
        assert!(forward(&c).body.contains("/restricted"), "{token}");
        assert_eq!(c.get("/whoami").json()["authenticated"], false, "{token}");
    }
}

#[test]
fn home_and_managed_users_get_their_groups_and_managed_can_be_refused() {
    let fake = FakePlex::start();
    // A member of the owner's Home: the owner's server comes to them through the Home.
    let mut home = PlexAccount::new(3, "housemate", "tok-h")
        .with_resources(vec![home_server_resource(MACHINE, SERVER)]);
    home.home = true;
    let mut kid = PlexAccount::new(4, "", "tok-k")
        .with_resources(vec![home_server_resource(MACHINE, SERVER)]);
    kid.title = "Kid".into();
    kid.email = String::new();
    kid.home = true;
    kid.restricted = true;
    // A friend who runs a Plex Home of their own: their account says `home`, but the
    // owner's server is shared with them as a friend.
    let mut own_home = PlexAccount::new(5, "neighbour", "tok-n")
        .with_resources(vec![server_resource(MACHINE, SERVER, false)]);
    own_home.home = true;
    fake.add_account(home);
    fake.add_account(kid);
    fake.add_account(own_home);
    let portal = plex_portal(&fake, &[]);
    let sign = |token: &str| {
        let c = portal.client();
        let code = start(&c);
        fake.claim_pin(&code, token);
        forward(&c);
        c.get("/whoami").json()
    };
    assert_eq!(sign("tok-h")["groups"], json!(["plex-home"]));
    assert_eq!(
        sign("tok-n")["groups"],
        json!(["plex-friend"]),
        "a Home of their own is not the owner's Home"
    );
    let kid = sign("tok-k");
    assert_eq!(kid["username"], "Kid");
    assert_eq!(kid["groups"], json!(["plex-home", "plex-managed"]));

    let strict = plex_portal(&fake, &[("PLEX_ALLOW_MANAGED_USERS", "false")]);
    let c = strict.client();
    let code = start(&c);
    fake.claim_pin(&code, "tok-k");
    assert!(forward(&c).body.contains("/restricted"));
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
}

/// Signs in with the Plex account owning `token` and returns /whoami.
fn sign_in_as(fake: &FakePlex, portal: &Portal, token: &str) -> serde_json::Value {
    let c = portal.client();
    let code = start(&c);
    assert!(fake.claim_pin(&code, token));
    assert_eq!(forward(&c).status, 200);
    c.get("/whoami").json()
}

#[test]
fn a_bare_bootstrap_name_never_makes_a_plex_account_admin() {
    let fake = FakePlex::start();
    // A friend renamed their plex.tv account to the owner's name.
    let mut impostor = friend();
    impostor.username = "Alice".into();
    impostor.email = "mallory@example.test".into();
    fake.add_account(impostor);
    let portal = plex_portal(&fake, &[("ADMIN_BOOTSTRAP_USERS", "alice")]);
    let who = sign_in_as(&fake, &portal, "tok-friend");
    assert_eq!(who["username"], "Alice");
    assert_eq!(who["admin"], false);
}

#[test]
fn a_plex_bootstrap_entry_needs_the_plex_verified_email() {
    let fake = FakePlex::start();
    fake.add_account(owner());
    let mut impostor = friend();
    impostor.username = "OWNER".into();
    fake.add_account(impostor);
    let mut unconfirmed = PlexAccount::new(6, "ghost", "tok-ghost")
        .with_resources(vec![server_resource(MACHINE, SERVER, false)]);
    unconfirmed.email = "owner@example.test".into();
    unconfirmed.email_unconfirmed = true;
    fake.add_account(unconfirmed);
    let portal = plex_portal(
        &fake,
        &[(
            "ADMIN_BOOTSTRAP_USERS",
            "owner:Owner@Example.TEST, plex:ghost:owner@example.test",
        )],
    );
    // Same name in another case, but not the owner's email: not an admin.
    let who = sign_in_as(&fake, &portal, "tok-friend");
    assert_eq!(who["admin"], false, "{who}");
    // The owner's email (any case) on the named account: admin.
    let who = sign_in_as(&fake, &portal, "tok-owner");
    assert_eq!(who["admin"], true, "{who}");
    // An email plex.tv has not confirmed binds nothing (and is not handed out).
    let who = sign_in_as(&fake, &portal, "tok-ghost");
    assert_eq!(who["admin"], false, "{who}");
    assert!(who["email"].is_null(), "{who}");
}

#[test]
fn the_owner_token_marks_the_owner_and_resolves_a_server_name_once() {
    let fake = FakePlex::start();
    fake.add_account(owner());
    // The owner also appears as a plain share on their own server in this account's view.
    fake.add_account(
        PlexAccount::new(1, "owner", "tok-owner-2")
            .with_resources(vec![server_resource(MACHINE, SERVER, false)]),
    );
    fake.add_account(friend());
    let url = fake.base_url();
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "plex"),
        ("PLEX_API_BASE", &url),
        ("PLEX_APP_BASE", &url),
        ("PLEX_SERVER_NAME", SERVER),
        ("PLEX_OWNER_TOKEN", "tok-owner"),
    ]);
    let sign = |token: &str| {
        let c = portal.client();
        let code = start(&c);
        fake.claim_pin(&code, token);
        forward(&c);
        c.get("/whoami").json()
    };
    assert_eq!(
        sign("tok-owner-2")["groups"],
        json!(["plex-owner"]),
        "same account id as the owner token"
    );
    assert_eq!(sign("tok-friend")["groups"], json!(["plex-friend"]));
    let lookups = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/resources" && r.header("x-plex-token") == Some("tok-owner"))
        .count();
    assert_eq!(lookups, 1, "the server name is resolved once and kept");
}

#[test]
fn expired_pins_and_plex_rate_limits_are_handled() {
    let fake = FakePlex::start();
    fake.add_account(owner());
    let portal = plex_portal(&fake, &[]);
    // Stopped, the App clock moves only as the test says (the back-off reads it).
    portal.app().clock.freeze();
    let c = portal.client();
    let code = start(&c);
    fake.expire_pin(&code);
    assert_eq!(c.get("/auth/poll").json()["status"], "expired");
    assert_eq!(
        c.get("/auth/poll").json()["status"],
        "expired",
        "the flow is gone"
    );

    let c = portal.client();
    let code = start(&c);
    fake.fail("/api/v2/pins/", Fault::Status(429));
    assert_eq!(c.get("/auth/poll").json()["status"], "pending");
    let asked = fake.count("/api/v2/pins/");
    portal.app().clock.advance(1);
    assert_eq!(c.get("/auth/poll").json()["status"], "pending");
    assert_eq!(
        fake.count("/api/v2/pins/"),
        asked,
        "after a 429 the portal backs off beyond 1 s"
    );
    fake.clear_faults();
    fake.claim_pin(&code, "tok-owner");
    portal.app().clock.advance(5);
    assert_eq!(c.get("/auth/poll").json()["status"], "done");
}

#[test]
fn plex_tv_down_or_garbage_fails_closed() {
    let fake = FakePlex::start();
    fake.add_account(owner());
    let portal = plex_portal(&fake, &[]);
    let c = portal.client();
    fake.fail("/api/v2/pins", Fault::Status(503));
    let r = c.post_json("/auth/start-web", &json!({"provider": "plex"}));
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "media server unreachable, try again");
    fake.clear_faults();
    let code = start(&c);
    fake.claim_pin(&code, "tok-owner");
    fake.fail("/api/v2/resources", Fault::Garbage);
    let r = forward(&c);
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
    fake.clear_faults();
    fake.fail("/api/v2/user", Fault::Status(401));
    assert_eq!(forward(&c).status, 403, "a dead token is refused");
    fake.clear_faults();
    assert_eq!(forward(&c).status, 200);
    assert_eq!(c.get("/whoami").json()["authenticated"], true);
}

#[test]
fn the_plex_token_is_sealed() {
    let fake = FakePlex::start();
    fake.add_account(owner());
    let portal = plex_portal(&fake, &[]);
    let c = portal.client();
    let code = start(&c);
    fake.claim_pin(&code, "tok-owner");
    forward(&c);
    let sealed: String = portal
        .db()
        .query_row("SELECT token_sealed FROM identities", [], |r| r.get(0))
        .unwrap();
    assert!(!sealed.contains("tok-owner"));
    assert_eq!(
        portal
            .app()
            .sealer
            .open("provider-token:plex:1", &sealed)
            .unwrap(),
        b"tok-owner"
    );
}

#[test]
fn a_plex_user_who_must_enrol_is_sent_there_by_poll_and_popup() {
    let fake = FakePlex::start();
    fake.add_account(owner());
    let portal = plex_portal(&fake, &[("MFA_ENFORCE", "true")]);
    let c = portal.client();
    let code = start(&c);
    fake.claim_pin(&code, "tok-owner");
    let r = c.get("/auth/poll");
    assert_eq!(r.json()["status"], "done");
    assert_eq!(
        r.json()["redirect"],
        "/mfa/enroll",
        "enforced and not enrolled: enrol first"
    );
    assert!(r.cookie_line("authportal_mfa").is_some());
    assert!(r.cookie_line("authportal_session").is_none());
    // The popup arriving afterwards is sent to the same place.
    assert!(forward(&c).body.contains("data-redirect=\"/mfa/enroll\""));
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
}

#[test]
fn a_taken_name_gets_a_distinct_stable_one_and_a_rename_never_takes_one() {
    let jf = crate::fakes::jellyfin::FakeJellyfin::start(crate::fakes::jellyfin::Mode::Jellyfin);
    for name in ["plexfriend", "carol"] {
        jf.add_user(crate::fakes::jellyfin::FakeUser::new(name, "pw"));
    }
    let fake = FakePlex::start();
    let account = |name: &str| {
        PlexAccount::new(7, name, "tok-pf")
            .with_resources(vec![server_resource(MACHINE, SERVER, false)])
    };
    fake.add_account(account("PlexFriend"));
    let jf_url = jf.base_url();
    let portal = plex_portal(
        &fake,
        &[
            ("MEDIA_SERVER", "jellyfin,plex"),
            ("JELLYFIN_SERVER_URL", &jf_url),
            ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
        ],
    );
    let jellyfin = |name: &str| {
        let c = portal.client();
        c.use_fresh_ip();
        assert_eq!(
            crate::media::sign_in(&c, "jellyfin", name, "pw").status,
            303
        );
        c.get("/whoami").json()
    };
    let first = jellyfin("plexfriend");
    jellyfin("carol");
    assert_eq!(first["username"], "plexfriend");
    // The later person with the same name (in another case) gets a marked one, kept.
    let later = sign_in_as(&fake, &portal, "tok-pf");
    assert_eq!(later["username"], "PlexFriend-plex");
    assert_ne!(later["uuid"], first["uuid"]);
    assert_eq!(
        sign_in_as(&fake, &portal, "tok-pf")["username"],
        "PlexFriend-plex"
    );
    // Renamed at plex.tv to a name someone else holds: the portal name stays.
    fake.add_account(account("Carol"));
    assert_eq!(
        sign_in_as(&fake, &portal, "tok-pf")["username"],
        "PlexFriend-plex"
    );
    // Renamed to a free name: the portal name follows.
    fake.add_account(account("pf"));
    let renamed = sign_in_as(&fake, &portal, "tok-pf");
    assert_eq!(renamed["username"], "pf");
    assert_eq!(renamed["uuid"], later["uuid"]);
    assert_eq!(jellyfin("plexfriend")["username"], "plexfriend");
    assert_eq!(jellyfin("carol")["username"], "carol");
    assert_eq!(
        portal.count("SELECT count(DISTINCT lower(username)) FROM users"),
        3
    );
}

/// login_flows full from many /64s of one /48: a Plex sign-in from another network still
/// starts and finishes, and the flood's /48 gives up one of its own flows for it.
#[test]
fn a_plex_sign_in_gets_in_while_another_network_fills_the_flow_table() {
    let fake = FakePlex::start();
    fake.add_account(owner());
    let portal = plex_portal(&fake, &[]);
    let max = authportal::db::flows::MAX_LIVE;
    fill_flows(&portal, max, Flood::One48);
    let who = sign_in_as(&fake, &portal, "tok-owner");
    assert_eq!(who["authenticated"], true, "{who}");
    assert_eq!(who["authorized"], true, "{who}");
    assert_eq!(held_by(&portal, "login_flows", FLOOD_48), max - 1);
    assert_eq!(held_by(&portal, "login_flows", "127.0.0.1"), 1);
    assert_eq!(evictions(&portal, "signin_flows"), 1);
}

/// login_flows full, all from this browser's own address: its new Plex sign-in is
/// refused (429) and nothing is evicted.
#[test]
fn a_plex_sign_in_is_refused_when_its_own_address_fills_the_flow_table() {
    let fake = FakePlex::start();
    fake.add_account(owner());
    let portal = plex_portal(&fake, &[]);
    let max = authportal::db::flows::MAX_LIVE;
    fill_flows(&portal, max, Flood::From("127.0.0.1"));
    let c = portal.client();
    let r = c.post_json("/auth/start-web", &json!({"provider": "plex"}));
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(
        r.body.contains("too many sign-ins are in progress"),
        "{}",
        r.body
    );
    assert_eq!(portal.count("SELECT count(*) FROM login_flows"), max);
    assert_eq!(evictions(&portal, "signin_flows"), 0);
}
