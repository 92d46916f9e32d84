//! The first-run setup wizard against the fake Jellyfin and Emby servers.

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal};

fn fresh() -> (FakeJellyfin, Portal) {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("owner", "pw")
    });
    jf.add_user(FakeUser::new("guest", "pw"));
    (jf, Portal::start(&[("TRUSTED_PROXY_CIDRS", "127.0.0.1")]))
}

fn unlock(portal: &Portal) -> Client {
    let code = authportal::web::setup::code(portal.app())
        .unwrap()
        .expect("setup is open");
    let c = portal.client();
    let r = c.post_form(
        "/setup/unlock",
        &[("code", &code.to_lowercase().replace('-', ""))],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(c.cookie("authportal_setup").is_some());
    c
}

#[test]
fn the_wizard_is_locked_by_the_setup_code() {
    let (_jf, portal) = fresh();
    let c = portal.client();
    let page = c.get("/");
    assert!(page.body.contains("enter the setup code"), "{}", page.body);
    let r = c.post_form("/setup/unlock", &[("code", "WRONG-CODE1")]);
    assert_eq!(r.status, 401);
    assert!(c.cookie("authportal_setup").is_none());
    let r = c.post_form(
        "/setup/server",
        &[
            ("kind", "jellyfin"),
            ("url", "http://127.0.0.1:9"),
            ("username", "x"),
            ("password", "y"),
        ],
    );
    assert_eq!(r.status, 403, "not without the code");
    // The CLI prints the same code the server logs.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
        .arg("setup-code")
        .envs(portal.vars.iter())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        Some(printed),
        authportal::web::setup::code(portal.app()).unwrap()
    );
    // Guessing is rate limited.
    for _ in 0..6 {
        c.post_form("/setup/unlock", &[("code", "NOPE")]);
    }
    assert_eq!(
        c.post_form("/setup/unlock", &[("code", "NOPE")]).status,
        429
    );
}

#[test]
fn jellyfin_owner_connects_the_server_and_becomes_the_first_admin() {
    let (jf, portal) = fresh();
    let c = unlock(&portal);
    assert!(c.get("/").body.contains("Connect your media server"));
    let url = jf.base_url();
    let post = |u: &str, user: &str| {
        c.post_form(
            "/setup/server",
            &[
                ("kind", "jellyfin"),
                ("url", u),
                ("username", user),
                ("password", "pw"),
            ],
        )
    };
    let r = post("http://127.0.0.1:9", "owner");
    assert_eq!(r.status, 502);
    assert!(r.body.contains("No Jellyfin server answered"));
    let r = post("not a url", "owner");
    assert_eq!(r.status, 400);
    let r = post(&url, "guest");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("administrator"));
    let r = post(&url, "owner");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/admin"));
    let who = c.get("/whoami").json();
    assert_eq!(who["username"], "owner");
    assert_eq!(who["admin"], true);
    // Where the wizard ends: the overview, with the next steps for this install.
    let overview = c.get("/admin").body;
    assert!(
        overview.contains("id=\"next-steps\"") && overview.contains("data-copy=\"snippet-nginx\""),
        "{overview}"
    );
    // Gone for good: the sign-in page, the code is no more, the wizard routes are closed.
    assert!(
        authportal::web::setup::code(portal.app())
            .unwrap()
            .is_none()
    );
    let anon = portal.client();
    anon.extra_headers
        .replace(vec![("X-Forwarded-For".into(), "192.0.2.50".into())]);
    assert!(anon.get("/").body.contains("data-provider=\"jellyfin\""));
    assert_eq!(c.post_form("/setup/unlock", &[("code", "X")]).status, 404);
    assert_eq!(post(&url, "owner").status, 404);
    // Others sign in through the stored server, no restart needed.
    assert_eq!(
        crate::media::sign_in(&anon, "jellyfin", "guest", "pw").status,
        303
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM events WHERE type = 'setup.done'"),
        1
    );
    // And after a restart it is still configured.
    let portal = portal.restart();
    assert!(
        portal
            .client()
            .get("/")
            .body
            .contains("data-provider=\"jellyfin\"")
    );
}

#[test]
fn emby_works_too_and_configured_portals_have_no_wizard() {
    let emby = FakeJellyfin::start(Mode::Emby);
    emby.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("owner", "pw")
    });
    let portal = Portal::start(&[]);
    let c = unlock(&portal);
    let r = c.post_form(
        "/setup/server",
        &[
            ("kind", "emby"),
            ("url", &emby.base_url()),
            ("username", "owner"),
            ("password", "pw"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(c.get("/whoami").json()["provider"], "emby");

    let jf = FakeJellyfin::start(Mode::Jellyfin);
    let configured = crate::media::jellyfin_portal(&jf, &[]);
    assert!(
        authportal::web::setup::code(configured.app())
            .unwrap()
            .is_none()
    );
    assert_eq!(
        configured
            .client()
            .post_form("/setup/unlock", &[("code", "X")])
            .status,
        404
    );
}

#[test]
fn plex_owner_signs_in_with_plex_and_picks_their_server() {
    use crate::fakes::plex::{FakePlex, PlexAccount, server_resource};
    let fake = FakePlex::start();
    let home = "0123456789abcdef0123456789abcdef01234567";
    let shared = "fedcba9876543210fedcba9876543210fedcba98";
    fake.add_account(
        PlexAccount::new(1, "owner", "tok-owner").with_resources(vec![
            server_resource(home, "Home Server", true),
            server_resource(shared, "A friend's server", false),
        ]),
    );
    fake.add_account(
        PlexAccount::new(2, "friend", "tok-friend").with_resources(vec![server_resource(
            home,
            "Home Server",
            false,
        )]),
    );
    let url = fake.base_url();
    let portal = Portal::start(&[("PLEX_API_BASE", &url), ("PLEX_APP_BASE", &url)]);
    let c = unlock(&portal);
    let r = c.post_form("/setup/plex/start", &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    let auth_url = r.header("location").unwrap().to_string();
    assert!(
        auth_url.contains("forwardUrl=") && auth_url.contains("%2Fsetup%2Fplex%2Freturn"),
        "{auth_url}"
    );
    let code: String = url::form_urlencoded::parse(auth_url.split_once("#?").unwrap().1.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    // Not approved yet.
    assert_eq!(c.get("/setup/plex/return").status, 400);
    let c = unlock(&portal);
    let r = c.post_form("/setup/plex/start", &[]);
    let auth_url = r.header("location").unwrap().to_string();
    let code2: String =
        url::form_urlencoded::parse(auth_url.split_once("#?").unwrap().1.as_bytes())
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
    assert_ne!(code, code2);
    assert!(fake.claim_pin(&code2, "tok-owner"));
    let page = c.get("/setup/plex/return");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Home Server") && page.body.contains(home));
    assert!(!page.body.contains(shared), "only servers the account owns");
    assert_eq!(
        c.post_form("/setup/plex/choose", &[("machine_id", shared)])
            .status,
        400
    );
    let r = c.post_form("/setup/plex/choose", &[("machine_id", home)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/admin"));
    let who = c.get("/whoami").json();
    assert_eq!(who["admin"], true);
    // Sorted (db::users::groups): provider and assigned groups in one order.
    assert_eq!(who["groups"], serde_json::json!(["admins", "plex-owner"]));
    let stored: String = portal
        .db()
        .query_row(
            "SELECT config_json FROM settings WHERE section = 'providers'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        stored.contains(home) && !stored.contains("tok-owner"),
        "machine id stored, owner token sealed"
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM meta WHERE key LIKE 'setup_%' AND key != 'setup_done'"),
        0
    );
    // A friend of that server now signs in through the normal Plex flow.
    let friend = portal.client();
    friend
        .extra_headers
        .replace(vec![("X-Forwarded-For".into(), "192.0.2.60".into())]);
    let r = friend.post_json("/auth/start-web", &serde_json::json!({"provider": "plex"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let fcode: String = url::form_urlencoded::parse(
        r.json()["authUrl"]
            .as_str()
            .unwrap()
            .split_once("#?")
            .unwrap()
            .1
            .as_bytes(),
    )
    .find(|(k, _)| k == "code")
    .unwrap()
    .1
    .into_owned();
    fake.claim_pin(&fcode, "tok-friend");
    friend.get("/auth/forward?provider=plex");
    assert_eq!(
        friend.get("/whoami").json()["groups"],
        serde_json::json!(["plex-friend"])
    );
}

/// The wizard spends its own budget, not sign-in's: an owner whose address used up the
/// sign-in limit still sets up, a refused step says when to try again and keeps the URL
/// and username typed (never the password), and code guesses stay limited on their own.
#[test]
fn the_wizard_has_its_own_rate_budget_and_keeps_what_was_typed() {
    let (jf, portal) = fresh();
    let app = portal.app();
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    while app.limits.signin.check_ip(ip, app.clock.now_ms()).is_ok() {}
    let c = unlock(&portal);
    let post = |url: &str, user: &str, pw: &str| {
        c.post_form(
            "/setup/server",
            &[
                ("kind", "jellyfin"),
                ("url", url),
                ("username", user),
                ("password", pw),
            ],
        )
    };
    // Two wrong addresses and two wrong passwords: each says what was wrong, none is a 429.
    assert_eq!(post("http://127.0.0.1:9", "owner", "x").status, 502);
    assert_eq!(post("not a url", "owner", "x").status, 400);
    let r = post(&jf.base_url(), "owner", "wrong-pw-1");
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.body.contains(&format!("value=\"{}\"", jf.base_url())),
        "URL kept"
    );
    assert!(r.body.contains("value=\"owner\""), "username kept");
    assert_eq!(post(&jf.base_url(), "owner", "wrong-pw-2").status, 401);
    // The wizard's own budget still runs out, and the refusal keeps the form.
    let refused = (0..40)
        .map(|_| post("http://typed.example:8096", "the-owner", "secret-pw-9"))
        .find(|r| r.status == 429)
        .expect("the wizard is rate limited too");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
    assert!(
        refused.body.contains("Too many attempts, try again in "),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"http://typed.example:8096\""));
    assert!(refused.body.contains("value=\"the-owner\""));
    assert!(!refused.body.contains("secret-pw-9"), "never the password");
    // Code guesses are limited on their own budget, and the refusal echoes no code.
    let guesser = portal.client();
    guesser.use_fresh_ip();
    let refused = (0..10)
        .map(|_| guesser.post_form("/setup/unlock", &[("code", "GUESS-12345")]))
        .find(|r| r.status == 429)
        .expect("code guesses are limited");
    assert!(refused.body.contains("try again in "), "{}", refused.body);
    assert!(!refused.body.contains("GUESS"));
    assert!(refused.header("retry-after").is_some());
}
