//! The console's media-servers page: adding and editing Jellyfin, Emby and Plex with the
//! setup wizard's own checks, saved as a versioned, audited "providers" edit.

use serde_json::json;

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal};
use crate::team::send_json;

/// A portal set up through the wizard with Emby (so nothing is fixed by the
/// environment), and its owner signed in as admin.
fn set_up_with_emby(extra: &[(&str, &str)]) -> (FakeJellyfin, Portal, Client) {
    let emby = FakeJellyfin::start(Mode::Emby);
    emby.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("owner", "pw")
    });
    let portal = Portal::start(extra);
    let code = authportal::web::setup::code(portal.app()).unwrap().unwrap();
    let c = portal.client();
    assert_eq!(c.post_form("/setup/unlock", &[("code", &code)]).status, 303);
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
    (emby, portal, c)
}

fn version(c: &Client) -> i64 {
    c.get("/api/admin/config/providers").json()["version"]
        .as_i64()
        .unwrap()
}

fn add(c: &Client, kind: &str, url: &str, version: i64) -> crate::harness::Resp {
    send_json(
        c,
        "POST",
        "/api/admin/media/servers",
        &json!({ "kind": kind, "url": url, "version": version }),
    )
}

#[test]
fn the_console_adds_jellyfin_with_the_wizards_checks() {
    let (emby, portal, owner) = set_up_with_emby(&[]);
    let page = owner.get("/admin/media");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<li data-kind=\"emby\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"media-jellyfin\""));
    assert!(
        owner.get("/admin").body.contains("href=\"/admin/media\""),
        "in the nav"
    );

    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let v = version(&owner);
    let r = add(&owner, "jellyfin", "http://127.0.0.1:9", v);
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(
        r.json()["error"],
        "No Jellyfin server answered at that address."
    );
    let r = add(&owner, "jellyfin", &emby.base_url(), v);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("The server at that address is Emby, not Jellyfin"),
        "{}",
        r.body
    );
    assert_eq!(add(&owner, "jellyfin", "not a url", v).status, 400);
    assert_eq!(add(&owner, "kodi", &jf.base_url(), v).status, 400);
    assert_eq!(
        add(&owner, "jellyfin", &jf.base_url(), v - 1).status,
        409,
        "stale"
    );
    assert_eq!(version(&owner), v, "nothing refused changed anything");

    let r = add(&owner, "jellyfin", &jf.base_url(), v);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(version(&owner), v + 1);
    let listed = owner.get("/admin/media").body;
    assert!(
        listed.contains("<li data-kind=\"jellyfin\"") && listed.contains(&jf.base_url()),
        "{listed}"
    );
    // Jellyfin people sign in now, Emby's owner still can.
    let alice = portal.client();
    alice.use_fresh_ip();
    assert!(alice.get("/").body.contains("data-provider=\"jellyfin\""));
    assert_eq!(
        crate::media::sign_in(&alice, "jellyfin", "alice", "wonderland").status,
        303
    );
    assert_eq!(owner.get("/whoami").json()["admin"], true);

    // Editing Emby: a new API key is sealed, the address re-checked, the rest kept.
    let r = send_json(
        &owner,
        "POST",
        "/api/admin/media/servers",
        &json!({ "kind": "emby", "url": emby.base_url(), "api_key": "emby-key-42", "version": v + 1 }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cfg = owner.get("/api/admin/config/providers").json();
    assert_eq!(cfg["config"]["media_servers"], json!(["emby", "jellyfin"]));
    assert_eq!(cfg["config"]["emby"]["api_key"], json!({ "set": true }));
    assert_eq!(cfg["config"]["jellyfin"]["url"], jf.base_url());
    assert_eq!(
        portal.count("SELECT count(*) FROM settings WHERE config_json LIKE '%emby-key-42%'"),
        0,
        "sealed"
    );
    assert_eq!(
        portal.count(
            "SELECT count(*) FROM events WHERE type = 'admin.config.update' \
             AND detail_json LIKE '%providers%'"
        ),
        2
    );
    // Stopping a server: never the one this admin signed in with, never the last one.
    let stop = |kind: &str, version: i64| {
        owner.send(
            "DELETE",
            &format!("/api/admin/media/servers/{kind}?version={version}"),
            &[],
            None,
        )
    };
    let r = stop("emby", v + 2);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("you signed in with Emby"), "{}", r.body);
    let r = stop("jellyfin", v + 2);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !owner
            .get("/admin/media")
            .body
            .contains("<li data-kind=\"jellyfin\"")
    );
    assert!(!alice.get("/").body.contains("data-provider=\"jellyfin\""));
    let r = stop("emby", v + 3);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("only media server"), "{}", r.body);
    let cfg = owner.get("/api/admin/config/providers").json();
    assert_eq!(cfg["config"]["media_servers"], json!(["emby"]));
    assert_eq!(
        cfg["config"]["jellyfin"]["url"],
        jf.base_url(),
        "kept for later"
    );
    // Not for the anonymous.
    let anon = portal.client();
    anon.use_fresh_ip();
    assert_eq!(add(&anon, "jellyfin", &jf.base_url(), v + 3).status, 401);
}

#[test]
fn the_console_adds_plex_by_signing_in_and_picking_an_owned_server() {
    use crate::fakes::plex::{FakePlex, PlexAccount, server_resource};
    let fake = FakePlex::start();
    let home = "0123456789abcdef0123456789abcdef01234567";
    let shared = "fedcba9876543210fedcba9876543210fedcba98";
    fake.add_account(
        PlexAccount::new(1, "plexowner", "tok-owner").with_resources(vec![
            server_resource(home, "Home Server", true),
            server_resource(shared, "A friend's server", false),
        ]),
    );
    let url = fake.base_url();
    let (_emby, portal, owner) =
        set_up_with_emby(&[("PLEX_API_BASE", &url), ("PLEX_APP_BASE", &url)]);
    let r = owner.post_json("/api/admin/media/plex/start", &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let auth_url = r.json()["authUrl"].as_str().unwrap().to_string();
    assert!(auth_url.contains("%2Fadmin%2Fmedia%2Fplex"), "{auth_url}");
    let code: String = url::form_urlencoded::parse(auth_url.split_once("#?").unwrap().1.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let v = version(&owner);
    let choose = |id: &str| {
        send_json(
            &owner,
            "POST",
            "/api/admin/media/plex",
            &json!({ "machine_id": id, "version": v }),
        )
    };
    // Not approved yet: nothing to choose from.
    assert!(owner.get("/admin/media/plex").body.contains("not approved"));
    assert_eq!(choose(home).status, 400);
    assert!(fake.claim_pin(&code, "tok-owner"));
    let page = owner.get("/admin/media/plex");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Home Server") && page.body.contains(home));
    assert!(!page.body.contains(shared), "only servers the account owns");
    assert_eq!(choose(shared).status, 400);
    let r = choose(home);
    assert_eq!(r.status, 200, "{}", r.body);
    let cfg = owner.get("/api/admin/config/providers").json();
    assert_eq!(cfg["config"]["media_servers"], json!(["emby", "plex"]));
    assert_eq!(cfg["config"]["plex"]["machine_id"], home);
    assert_eq!(cfg["config"]["plex"]["owner_token"], json!({ "set": true }));
    assert_eq!(
        portal.count("SELECT count(*) FROM settings WHERE config_json LIKE '%tok-owner%'"),
        0
    );
    let anon = portal.client();
    anon.use_fresh_ip();
    assert!(anon.get("/").body.contains("data-provider=\"plex\""));
    assert_eq!(choose(home).status, 400, "the sign-in is used once");
}

#[test]
fn what_the_environment_sets_is_refused_with_where_to_change_it() {
    let s = crate::team::setup(&[]);
    let root = s.user("root", "toor");
    let v = version(&root);
    let r = add(&root, "jellyfin", &s.jf.base_url(), v);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("JELLYFIN_SERVER_URL"), "{}", r.body);
    let emby = FakeJellyfin::start(Mode::Emby);
    let r = add(&root, "emby", &emby.base_url(), v);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("MEDIA_SERVER"), "{}", r.body);
    assert!(
        root.get("/admin/media")
            .body
            .contains("sets this server's address")
    );
}

/// An address with a username and password in it (or a query or fragment, which the
/// portal would append its API paths after) is refused before anything is asked, by the
/// page and by the settings API alike: the password would sit in the settings, their
/// history and the log line of an address that does not answer.
#[test]
fn media_server_addresses_with_credentials_are_refused_and_never_logged() {
    const PASSWORD: &str = "Pw4MediaSeKr1t";
    let (_emby, portal, owner) = set_up_with_emby(&[]);
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    let tap = authportal::log::tap();
    let v = version(&owner);
    let with_password =
        |base: &str| base.replacen("http://", &format!("http://admin:{PASSWORD}@"), 1);
    for url in [
        with_password(&jf.base_url()),
        // Nothing answers here: the refusal must come before the "no answer" log line.
        with_password("http://127.0.0.1:9"),
        format!(
            "http://admin@{}",
            jf.base_url().trim_start_matches("http://")
        ),
        format!("{}/?api_key=x", jf.base_url()),
        format!("{}/#x", jf.base_url()),
    ] {
        let r = add(&owner, "jellyfin", &url, v);
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(!error.contains(PASSWORD), "{error}");
        let mut config = owner.get("/api/admin/config/providers").json()["config"].clone();
        config["jellyfin"] = json!({ "url": url });
        let r = crate::team::put(
            &owner,
            "/api/admin/config/providers",
            json!({ "version": v, "config": config }),
        );
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        assert!(r.body.contains("providers.jellyfin.url"), "{}", r.body);
    }
    assert_eq!(version(&owner), v, "nothing was saved");
    assert_eq!(
        portal.count(&format!(
            "SELECT count(*) FROM settings WHERE config_json LIKE '%{PASSWORD}%'"
        )),
        0
    );
    authportal::log::flush();
    for line in tap.lines() {
        assert!(
            !line.contains(PASSWORD),
            "the log holds the password: {line}"
        );
    }
}
