//! The sign-in popup, the two-factor pages, the admin console, the media-servers page
//! and the first-run setup wizard in a real browser: the scripts in tests/e2e
//! (signin.mjs, quickconnect.mjs, mfa.mjs, admin.mjs, media.mjs, setup.mjs, settings.mjs) drive headless Chromium (Debian's /usr/bin/chromium through
//! playwright-core) against a portal started here with a fake Jellyfin, because only a
//! browser runs login.js and admin.js, the popup, postMessage, the clipboard and the QR
//! image, and only a browser shows whether the pages look right. phone.mjs opens every
//! page of the route table on a 390 px phone screen.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::Portal;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Each script has its own 90 s watchdog; this is the backstop if node itself hangs.
const NODE_TIMEOUT: Duration = Duration::from_secs(150);

/// Panics with how to install what the browser test needs: it must fail, not skip,
/// when they are missing, or CI would pass without ever running it.
fn require_browser_tools(e2e: &Path) {
    const HOW: &str = "run `bash .ci/run` (it installs them), or by hand: \
                       `apt-get install -y --no-install-recommends chromium` and \
                       `npm ci --prefix tests/e2e`";
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing, so the browser test cannot run: {HOW}"
    );
    assert!(
        e2e.join("node_modules/playwright-core/package.json")
            .exists(),
        "tests/e2e/node_modules/playwright-core is missing, so the browser test cannot run: {HOW}"
    );
    let node = Command::new("node")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("`node` cannot be run ({e}): install Node.js 20 or newer"));
    assert!(node.status.success(), "`node --version` failed");
}

/// Runs node on `script` in tests/e2e, killing it past NODE_TIMEOUT; returns
/// (exit ok, stdout, stderr). Also used by oidc_rp.rs.
pub(crate) fn run_node(e2e: &Path, script: &str, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("node");
    cmd.arg(e2e.join(script)).args(args).current_dir(e2e);
    run_with_timeout(cmd, "node", NODE_TIMEOUT)
}

/// Runs `cmd` (named `what` in messages), killing it past `timeout`; returns (exit ok,
/// stdout, stderr). Also used by oidc_rp.rs for the Authlib script.
pub(crate) fn run_with_timeout(
    mut cmd: Command,
    what: &str,
    timeout: Duration,
) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    // Read both pipes on their own threads so a chatty browser cannot fill one and stall.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, mut err) = (out.join().unwrap(), err.join().unwrap());
    if status.is_none() {
        err.push_str(&format!("\nkilled after {timeout:?}"));
    }
    (status.is_some_and(|s| s.success()), out, err)
}

/// The tests/e2e dir, after checking that chromium, playwright-core and node are there.
pub(crate) fn e2e_dir() -> PathBuf {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    require_browser_tools(&e2e);
    e2e
}

/// A fake Jellyfin with alice/wonderland and a portal signing in against it.
fn jellyfin_with_alice() -> (FakeJellyfin, Portal) {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let portal = crate::media::jellyfin_portal(&jf, &[]);
    (jf, portal)
}

/// Runs `script` as alice against the portal and asserts it passed; returns its stdout.
fn run_script(e2e: &Path, script: &str, portal: &Portal) -> String {
    let (ok, out, err) = run_node(e2e, script, &[&portal.base, "alice", "wonderland"]);
    assert!(
        ok,
        "the browser script {script} failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    // Shown with --nocapture: what was checked and where the screenshots are.
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");
    out
}

#[test]
fn browser_signs_in_through_the_jellyfin_popup() {
    let e2e = e2e_dir();
    let (jf, portal) = jellyfin_with_alice();

    run_script(&e2e, "signin.mjs", &portal);

    assert_eq!(
        portal.count("SELECT count(*) FROM sessions"),
        1,
        "the browser sign-in made exactly one server-side session"
    );
    assert_eq!(jf.count("/Users/AuthenticateByName"), 1);
}

#[test]
fn browser_signs_in_with_jellyfin_quick_connect() {
    let e2e = e2e_dir();
    let (jf, portal) = jellyfin_with_alice();
    let base = portal.base.clone();
    let node = std::thread::spawn(move || {
        run_node(&e2e, "quickconnect.mjs", &[&base, "alice", "wonderland"])
    });

    // Play alice's Jellyfin app: approve the code once the page asked for one.
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some((code, _)) = jf.quick_connect_codes().into_iter().next() {
            break code;
        }
        assert!(
            Instant::now() < deadline && !node.is_finished(),
            "the page never started Quick Connect"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(jf.approve_quick_connect("alice", &code), 200);

    let (ok, out, err) = node.join().unwrap();
    assert!(
        ok,
        "the browser script quickconnect.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    assert!(
        out.contains(&format!("code {code}")),
        "the page showed the code the server made: {out}"
    );
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 1);
    assert_eq!(jf.count("/Users/AuthenticateWithQuickConnect"), 1);
    assert_eq!(jf.count("/Users/AuthenticateByName"), 0, "no password");
}

#[test]
fn browser_enrols_mfa_and_signs_in_with_a_code() {
    let e2e = e2e_dir();
    let (jf, portal) = jellyfin_with_alice();

    run_script(&e2e, "mfa.mjs", &portal);

    assert_eq!(
        portal.count("SELECT count(*) FROM mfa_totp"),
        1,
        "the browser set up exactly one authenticator"
    );
    assert_eq!(
        portal
            .count("SELECT count(*) FROM events WHERE type = 'mfa.enroll' AND result = 'success'"),
        1,
        "the set-up was confirmed once"
    );
    assert_eq!(
        portal
            .count("SELECT count(*) FROM events WHERE type = 'mfa.verify' AND result = 'success'"),
        1,
        "the challenge took the code once"
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM events WHERE result = 'failure'"),
        0,
        "no code was refused"
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM sessions"),
        1,
        "signing out deleted the first session; the second factor made the only one"
    );
    assert_eq!(jf.count("/Users/AuthenticateByName"), 2);
}

#[test]
fn browser_admin_console() {
    let e2e = e2e_dir();
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("root", "toor"));
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let portal = crate::media::jellyfin_portal(&jf, &[("ADMIN_BOOTSTRAP_USERS", "root")]);

    let (ok, out, err) = run_node(
        &e2e,
        "admin.mjs",
        &[&portal.base, "root", "toor", "alice", "wonderland"],
    );
    assert!(
        ok,
        "the browser script admin.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");

    // What the clicks did, seen from the database.
    assert_eq!(
        portal.count("SELECT version FROM settings WHERE section = 'mfa'"),
        2,
        "saved as version 1 in the editor, then version 2 by the concurrent save; the stale and the invalid saves changed nothing"
    );
    assert_eq!(
        portal.count(
            "SELECT count(*) FROM settings_history WHERE section = 'mfa' AND version = 1 \
             AND config_json = '{\"enforce_groups\":[\"family\"]}'"
        ),
        1
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM oauth_clients WHERE name = 'Grafana' AND trusted = 1"),
        1,
        "created, then made trusted on its page"
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM oauth_clients WHERE name = 'Throwaway'"),
        0,
        "deleted from its page"
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM events WHERE type = 'admin.oauth_client.rotate_secret'"),
        1
    );
    assert_eq!(
        portal.count(
            "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username = 'alice'"
        ),
        0,
        "alice's session was revoked"
    );
    assert_eq!(
        portal.count(
            "SELECT count(*) FROM user_groups g JOIN users u ON u.id = g.user_id \
             WHERE u.username = 'alice' AND g.name IN ('family', 'kids')"
        ),
        2,
        "groups assigned on her page"
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM events WHERE type = 'admin.session.revoke'"),
        1
    );
}

#[test]
fn browser_setup_wizard() {
    let e2e = e2e_dir();
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("owner", "pw")
    });
    // No media server configured: `/` is the setup wizard.
    let portal = Portal::start(&[]);
    let code = authportal::web::setup::code(portal.app())
        .unwrap()
        .expect("a fresh portal is open for setup");

    let (ok, out, err) = run_node(
        &e2e,
        "setup.mjs",
        &[&portal.base, &code, &jf.base_url(), "owner", "pw"],
    );
    assert!(
        ok,
        "the browser script setup.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");

    assert_eq!(
        portal.count(
            "SELECT count(*) FROM user_groups g JOIN users u ON u.id = g.user_id \
             WHERE g.name = 'admins'"
        ),
        1,
        "the owner became the one admin"
    );
    assert_eq!(
        portal.count(
            "SELECT count(*) FROM user_groups g JOIN users u ON u.id = g.user_id \
             WHERE g.name = 'admins' AND u.username = 'owner'"
        ),
        1
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM events WHERE type = 'setup.done'"),
        1
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM sessions"),
        0,
        "signing out ended the one session the wizard made"
    );
    assert!(
        authportal::web::setup::code(portal.app())
            .unwrap()
            .is_none(),
        "setup is closed for good"
    );
}

#[test]
fn browser_branding_page() {
    let e2e = e2e_dir();
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("root", "toor"));
    let portal = crate::media::jellyfin_portal(&jf, &[("ADMIN_BOOTSTRAP_USERS", "root")]);
    let (ok, out, err) = run_node(&e2e, "branding.mjs", &[&portal.base, "root", "toor"]);
    assert!(
        ok,
        "the browser script branding.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");
    assert_eq!(
        portal.count("SELECT version FROM settings WHERE section = 'branding'"),
        1,
        "the refused save changed nothing; the good one made version 1"
    );
    let saved: String = portal
        .db()
        .query_row(
            "SELECT config_json FROM settings WHERE section = 'branding'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(saved["app_name"], "Smith Media");
    assert_eq!(saved["accent_color"], "#e5a00d");
    assert_eq!(saved["links"][0]["url"], "https://requests.example.com");
    assert_eq!(
        portal.count(
            "SELECT count(*) FROM branding_files WHERE name IN ('logo', 'background') AND content_type = 'image/png'"
        ),
        2
    );
}

#[test]
fn browser_webhooks_console() {
    let e2e = e2e_dir();
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("root", "toor"));
    let portal = crate::media::jellyfin_portal(&jf, &[("ADMIN_BOOTSTRAP_USERS", "root")]);
    let rx = crate::fakes::receiver::Receiver::start();
    let (ok, out, err) = run_node(
        &e2e,
        "webhooks.mjs",
        &[&portal.base, "root", "toor", &rx.url("/hook")],
    );
    assert!(
        ok,
        "the browser script webhooks.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    assert!(out.contains("PASS"), "{out}");
    let got = rx.requests();
    assert_eq!(got.len(), 1, "one test delivery: {got:?}");
    assert_eq!(
        got[0].header("authorization"),
        Some("Bearer browser-secret")
    );
    assert!(
        got[0].body.contains("\"priority\": 101"),
        "the Pangolin preset's body: {}",
        got[0].body
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM events WHERE type = 'admin.webhook.create'"),
        1
    );
}

#[test]
fn browser_access_rules_form() {
    let e2e = e2e_dir();
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("root", "toor"));
    let portal = crate::media::jellyfin_portal(
        &jf,
        &[
            ("ADMIN_BOOTSTRAP_USERS", "root"),
            ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
            ("MFA_ENABLE", "1"),
        ],
    );
    let (ok, out, err) = run_node(&e2e, "access.mjs", &[&portal.base, "root", "toor"]);
    assert!(
        ok,
        "the browser script access.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");
    assert_eq!(
        portal.count("SELECT version FROM settings WHERE section = 'access'"),
        1,
        "the refused save changed nothing; the good one made version 1"
    );
    assert_eq!(
        portal.count("SELECT count(*) FROM settings WHERE section = 'mfa'"),
        0,
        "the refused MFA change saved nothing"
    );
}

#[test]
fn browser_settings_section_forms() {
    let e2e = e2e_dir();
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("root", "toor"));
    let portal = crate::media::jellyfin_portal(&jf, &[("ADMIN_BOOTSTRAP_USERS", "root")]);
    let (ok, out, err) = run_node(&e2e, "settings.mjs", &[&portal.base, "root", "toor"]);
    assert!(
        ok,
        "the browser script settings.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");
    assert_eq!(
        portal.count(
            "SELECT count(*) FROM settings WHERE section = 'events' AND version = 1 \
             AND json_extract(config_json, '$.retention_days') = 30"
        ),
        1
    );
    assert_eq!(
        portal.count(
            "SELECT count(*) FROM settings_history WHERE section = 'events' AND reason = 'a month is enough'"
        ),
        1,
        "the form's reason is kept in the history"
    );
    assert_eq!(
        portal.count(
            "SELECT count(*) FROM settings WHERE section = 'security' AND version = 1 \
             AND json_extract(config_json, '$.rate_limits.signin.burst') = 8 \
             AND json_extract(config_json, '$.rate_limits.signin.per_minute') = 12"
        ),
        1,
        "the refused save changed nothing; the fixed one made version 1"
    );
}

#[test]
fn browser_media_servers_page() {
    let e2e = e2e_dir();
    let emby = FakeJellyfin::start(Mode::Emby);
    emby.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("owner", "pw")
    });
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    // Set up through the wizard (nothing fixed by the environment); the browser gets
    // the owner's session.
    let portal = Portal::start(&[]);
    let code = authportal::web::setup::code(portal.app()).unwrap().unwrap();
    let owner = portal.client();
    assert_eq!(
        owner.post_form("/setup/unlock", &[("code", &code)]).status,
        303
    );
    let r = owner.post_form(
        "/setup/server",
        &[
            ("kind", "emby"),
            ("url", &emby.base_url()),
            ("username", "owner"),
            ("password", "pw"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let session = owner.cookie("authportal_session").unwrap();

    let (ok, out, err) = run_node(&e2e, "media.mjs", &[&portal.base, &session, &jf.base_url()]);
    assert!(
        ok,
        "the browser script media.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");
    // What the form did: Jellyfin is in use, and its people sign in.
    let alice = portal.client();
    alice.use_fresh_ip();
    assert_eq!(
        crate::media::sign_in(&alice, "jellyfin", "alice", "wonderland").status,
        303
    );
    assert_eq!(
        portal.count("SELECT version FROM settings WHERE section = 'providers'"),
        2,
        "the wizard's version, then the console's; the refused address changed nothing"
    );
}

/// Every GET route that answers with a page, and how the phone test opens it: `{name}`
/// segments are filled in by [`phone_url`]; each is opened as [`Who`] says.
const PHONE_PAGES: &[(&str, Who)] = &[
    ("/", Who::Anon),
    ("/auth/forward", Who::Anon),
    ("/home", Who::Admin),
    ("/restricted", Who::Admin),
    ("/mfa/enroll", Who::Admin),
    ("/mfa/challenge", Who::Pending),
    ("/device", Who::Admin),
    ("/oidc/authorize", Who::Admin),
    ("/oidc/logout", Who::Admin),
    ("/admin", Who::Admin),
    ("/admin/users", Who::Admin),
    ("/admin/sessions", Who::Admin),
    ("/admin/users/{uuid}", Who::Admin),
    ("/admin/settings", Who::Admin),
    ("/admin/settings/{section}", Who::Admin),
    ("/admin/access", Who::Admin),
    ("/admin/roles", Who::Admin),
    ("/admin/branding", Who::Admin),
    ("/admin/clients", Who::Admin),
    ("/admin/clients/{id}", Who::Admin),
    ("/admin/backups", Who::Admin),
    ("/admin/events", Who::Admin),
    ("/admin/webhooks", Who::Admin),
    ("/admin/media", Who::Admin),
    ("/admin/ldap", Who::Admin),
];

/// GET routes the phone test does not open, each with the reason.
#[rustfmt::skip] // one route a line: reads as a table
const PHONE_EXCLUDED: &[(&str, &str)] = &[
    ("/setup/plex/return", "the first-run wizard's return from plex.tv: needs a Plex PIN in flight (the wizard's own steps are opened at `/` of a portal not set up)"),
    ("/admin/media/plex", "the return from a Plex PIN sign-in: redirects unless a PIN is in flight"),
    ("/static/{*}", "assets, not a page"),
    ("/branding/theme.css", "a stylesheet, not a page"),
    ("/branding/{kind}/{*}", "an image, not a page"),
    ("/.well-known/openid-configuration", "JSON for applications"),
    ("/.well-known/oauth-authorization-server", "JSON for applications"),
    ("/oidc/jwks.json", "JSON for applications"),
    ("/oidc/userinfo", "JSON for applications"),
    ("/oidc/picture/{key}", "an image, not a page"),
    ("/device/qr", "an SVG image, not a page"),
    ("/healthz", "a probe, plain text"),
    ("/readyz", "a probe, plain text"),
    ("/startupz", "a probe, plain text"),
    ("/metrics", "Prometheus text"),
];

/// Who opens a page in the phone test.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    /// Signed out.
    Anon,
    /// The admin's session.
    Admin,
    /// Half-way through a sign-in: the password was right, the second factor is due.
    Pending,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Anon => "anon",
            Who::Admin => "admin",
            Who::Pending => "pending",
        }
    }
}

/// The URL the phone test opens for a page route.
fn phone_url(path: &str, alice: &str, client_id: &str) -> String {
    match path {
        "/auth/forward" => "/auth/forward?provider=jellyfin".into(),
        "/admin/users/{uuid}" => format!("/admin/users/{alice}"),
        // The section with the largest form (nested rate-limit groups).
        "/admin/settings/{section}" => "/admin/settings/security".into(),
        "/admin/clients/{id}" => format!("/admin/clients/{client_id}"),
        "/oidc/authorize" => format!(
            "/oidc/authorize?response_type=code&client_id={client_id}\
             &redirect_uri=https%3A%2F%2Fwiki.example.com%2Foauth2%2Fcallback%2Fa-rather-long-path-to-wrap&scope=openid%20profile%20email%20groups&state=st4te"
        ),
        "/oidc/logout" => "/oidc/logout".into(),
        p => p.to_string(),
    }
}

#[test]
fn browser_every_page_fits_a_phone() {
    use authportal::web::routes::{Method, ROUTES};
    // Every GET route that is not JSON is listed or excluded with a reason, so a new
    // page cannot be forgotten; and every listed one is in the table.
    let gets: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.method == Method::Get && !r.json)
        .map(|r| r.path)
        .collect();
    for path in &gets {
        assert!(
            PHONE_PAGES.iter().any(|(p, _)| p == path)
                || PHONE_EXCLUDED.iter().any(|(p, _)| p == path),
            "GET {path} is a new page: add it to PHONE_PAGES (tests/integration/browser.rs) \
             or to PHONE_EXCLUDED with the reason"
        );
    }
    let named = PHONE_PAGES.iter().map(|(p, _)| p);
    for path in named.chain(PHONE_EXCLUDED.iter().map(|(p, _)| p)) {
        assert!(
            gets.contains(path),
            "{path} is not a GET route of the table"
        );
    }

    let e2e = e2e_dir();
    let s = crate::team::setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let alice_id = s.uuid(&alice);
    // Things the pages list, with long values that must wrap or scroll in their box.
    let created = root.post_json(
        "/api/admin/oauth/clients",
        &serde_json::json!({ "name": "Wiki with a long name for a small screen",
            "redirect_uris": ["https://wiki.example.com/oauth2/callback/a-rather-long-path-to-wrap"] }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let client_id = created.json()["client_id"].as_str().unwrap().to_string();
    let r = root.post_json(
        "/api/admin/webhooks",
        &serde_json::json!({ "name": "ntfy", "enabled": false, "events": ["signin.success"],
            "method": "POST", "url": "https://ntfy.example.com/a-long-topic-name-for-sign-ins-on-the-portal" }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        root.post_json("/api/admin/backups", &serde_json::json!({}))
            .status,
        201
    );

    let pages: Vec<serde_json::Value> = PHONE_PAGES
        .iter()
        .map(|(path, who)| {
            serde_json::json!({ "route": path, "url": phone_url(path, &alice_id, &client_id),
                "as": who.name() })
        })
        .collect();
    let session = root.cookie("authportal_session").unwrap();
    // vera has a second factor: signing in again leaves her at the challenge.
    let vera = s.user("vera", "viewer");
    let r = vera.post_json("/mfa/enroll/start", &serde_json::json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = crate::totp_ref::base32_decode(r.json()["secret"].as_str().unwrap());
    let code = crate::totp_ref::code(&secret, s.portal.app().clock.now());
    let r = vera.post_json("/mfa/enroll/verify", &serde_json::json!({ "code": code }));
    assert_eq!(r.status, 200, "{}", r.body);
    let pending = s.user("vera", "viewer").cookie("authportal_mfa").unwrap();
    // Before setup `/` is the first-run wizard: its code form, then (unlocked) its
    // server form.
    let fresh = Portal::start(&[]);
    let code = authportal::web::setup::code(fresh.app()).unwrap().unwrap();
    let owner = fresh.client();
    assert_eq!(
        owner.post_form("/setup/unlock", &[("code", &code)]).status,
        303
    );
    let unlocked = owner.cookie("authportal_setup").unwrap();
    let (ok, out, err) = run_node(
        &e2e,
        "phone.mjs",
        &[
            &s.portal.base,
            &session,
            &serde_json::Value::from(pages).to_string(),
            &pending,
            &fresh.base,
            &unlocked,
        ],
    );
    assert!(
        ok,
        "the browser script phone.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");
    assert_eq!(
        s.portal.count("SELECT count(*) FROM mfa_totp"),
        1,
        "vera's; starting the set-up on a phone enrolled nothing"
    );
    assert_eq!(s.portal.count("SELECT count(*) FROM mfa_enrollments"), 1);
}
