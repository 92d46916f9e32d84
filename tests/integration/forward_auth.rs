//! Forward-auth (`/auth/verify`) over real HTTP: every branch of the protocol, the
//! access rules, header and credential injection, and both native-app paths.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal, Resp};
use crate::media::{jellyfin_portal, sign_in};

struct Setup {
    jf: FakeJellyfin,
    portal: Portal,
}

fn setup(extra: &[(&str, &str)]) -> Setup {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    jf.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("root", "toor")
    });
    let mut vars = vec![
        ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
        ("ADMIN_BOOTSTRAP_USERS", "root"),
        ("SESSION_COOKIE_DOMAIN", "example.com"),
        // login_cookie apps listen on loopback here.
        ("OUTBOUND_ALLOW", "127.0.0.1/32"),
    ];
    vars.extend_from_slice(extra);
    let portal = jellyfin_portal(&jf, &vars);
    Setup { jf, portal }
}

impl Setup {
    fn user(&self, name: &str, pw: &str) -> Client {
        let c = self.portal.client();
        c.use_fresh_ip();
        assert_eq!(sign_in(&c, "jellyfin", name, pw).status, 303);
        c
    }

    /// Saves the access rules through the admin API.
    fn rules(&self, config: Value) {
        let admin = self.user("root", "toor");
        let current = admin.get("/api/admin/config/access").json();
        let r = admin.send(
            "PUT",
            "/api/admin/config/access",
            &[("Content-Type", "application/json")],
            Some(
                json!({ "version": current["version"], "config": config, "reason": "test" })
                    .to_string()
                    .into_bytes(),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// The proxy's question, Traefik/Caddy style.
fn ask(c: &Client, method: &str, host: &str, uri: &str, accept: &str) -> Resp {
    c.send(
        "GET",
        "/auth/verify",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", host),
            ("X-Forwarded-Uri", uri),
            ("X-Forwarded-Method", method),
            ("Accept", accept),
        ],
        None,
    )
}

const HTML: &str = "text/html,application/xhtml+xml";

#[test]
fn malformed_targets_get_400_with_a_reason() {
    let s = setup(&[]);
    let c = s.portal.client();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("X-Forwarded-Host", "app.example.com")],
        vec![
            ("X-Forwarded-Proto", "ftp"),
            ("X-Forwarded-Host", "app.example.com"),
        ],
        vec![("X-Forwarded-Proto", "https")],
        vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.com@app.example.com"),
        ],
        vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
            ("X-Forwarded-Uri", "no-slash"),
        ],
        vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
            ("X-Forwarded-Method", "get; drop"),
        ],
        vec![("X-Original-URL", "not a url")],
        vec![("X-Original-URL", "javascript:alert(1)")],
        vec![("X-Original-URL", "https://user:pw@app.example.com/")],
    ];
    for headers in cases {
        let r = c.send("GET", "/auth/verify", &headers, None);
        assert_eq!(r.status, 400, "{headers:?}");
        assert!(
            r.body.contains("bad forward-auth request"),
            "{headers:?}: {}",
            r.body
        );
    }
}

#[test]
fn anonymous_requests_are_sent_to_sign_in_the_way_each_proxy_needs() {
    let s = setup(&[]);
    let c = s.portal.client();
    let r = ask(&c, "GET", "app.example.com", "/page?x=1", HTML);
    assert_eq!(r.status, 302);
    let loc = r.header("location").unwrap();
    assert_eq!(
        loc,
        format!(
            "{}/?rd=https%3A%2F%2Fapp.example.com%2Fpage%3Fx%3D1",
            s.portal.base
        )
    );
    assert_eq!(
        ask(&c, "POST", "app.example.com", "/form", HTML).status,
        303
    );
    // nginx auth_request: 401 with Location, for error_page 401 =302.
    let r = c.send(
        "GET",
        "/auth/verify",
        &[
            ("X-Original-URL", "https://app.example.com:8443/a"),
            ("Accept", HTML),
        ],
        None,
    );
    assert_eq!(r.status, 401);
    assert!(
        r.header("location")
            .unwrap()
            .ends_with("rd=https%3A%2F%2Fapp.example.com%3A8443%2Fa")
    );
    // Not a browser: plain 401.
    let r = ask(&c, "GET", "app.example.com", "/api", "application/json");
    assert_eq!(r.status, 401);
    assert!(r.header("location").is_none());
    let xhr = c.send(
        "GET",
        "/auth/verify",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
            ("Accept", HTML),
            ("X-Requested-With", "XMLHttpRequest"),
        ],
        None,
    );
    assert_eq!(xhr.status, 401);
    // Any method reaches /auth/verify, with no same-origin check.
    let post = c.send(
        "POST",
        "/auth/verify",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
            ("Accept", HTML),
        ],
        None,
    );
    assert_eq!(post.status, 302);
}

#[test]
fn signed_in_users_pass_with_identity_headers() {
    let s = setup(&[]);
    let c = s.user("alice", "wonderland");
    let r = ask(&c, "GET", "app.example.com", "/", HTML);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("remote-user"), Some("alice"));
    assert_eq!(r.header("remote-name"), Some("alice"));
    assert_eq!(r.header("remote-groups"), Some("jellyfin-user"));
    assert_eq!(
        r.header("remote-email"),
        Some(""),
        "Jellyfin vouches for no email: empty, never absent (Caddy 2.6)"
    );
    let r = c.send(
        "GET",
        "/auth/verify",
        &[
            ("X-Original-URL", "https://app.example.com/x"),
            ("X-Original-Method", "DELETE"),
        ],
        None,
    );
    assert_eq!(r.status, 200);
    // After sign-out the same cookie is anonymous.
    c.post_form("/logout", &[]);
    let old = s.portal.client();
    assert_eq!(ask(&old, "GET", "app.example.com", "/", "*/*").status, 401);
}

#[test]
fn rules_decide_first_match_wins_with_a_default() {
    let s = setup(&[]);
    s.rules(json!({
        "default_policy": "deny",
        "rules": [
            {"name": "health", "hosts": ["sonarr.example.com"], "paths": ["/ping"], "policy": "bypass"},
            {"name": "admins only", "hosts": ["sonarr.example.com"], "groups": ["jellyfin-admin"]},
            {"name": "closed", "hosts": ["old.example.com"], "policy": "deny"},
            {"name": "family", "hosts": ["*.family.example.com"], "users": ["alice"],
             "headers": {"X-WEBAUTH-USER": "{user}", "X-Groups": "{groups}", "X-Uid": "{uid}"}}
        ]
    }));
    let anon = s.portal.client();
    let alice = s.user("alice", "wonderland");
    let root = s.user("root", "toor");
    assert_eq!(
        ask(&anon, "GET", "sonarr.example.com", "/ping", "*/*").status,
        200,
        "bypass needs no sign-in"
    );
    assert_eq!(
        ask(&alice, "GET", "sonarr.example.com", "/", HTML).status,
        403,
        "not in the group"
    );
    let denied = ask(&alice, "GET", "sonarr.example.com", "/", HTML);
    assert!(denied.body.contains("not allowed here"));
    assert_eq!(
        ask(&root, "GET", "sonarr.example.com", "/", HTML).status,
        200
    );
    assert_eq!(ask(&root, "GET", "old.example.com", "/", HTML).status, 403);
    assert_eq!(
        ask(&root, "GET", "unlisted.example.com", "/", HTML).status,
        403,
        "default deny"
    );
    let r = ask(&alice, "GET", "photos.family.example.com", "/", HTML);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-webauth-user"), Some("alice"));
    assert_eq!(r.header("x-groups"), Some("jellyfin-user"));
    assert_eq!(r.header("x-uid").map(str::len), Some(36));
    assert_eq!(
        ask(&root, "GET", "photos.family.example.com", "/", HTML).status,
        403
    );
}

#[test]
fn networks_can_let_in_or_keep_out() {
    let s = setup(&[]);
    s.rules(json!({ "rules": [
        {"name": "lan", "hosts": ["tv.example.com"], "networks": ["192.168.1.0/24"], "network_mode": "bypass"},
        {"name": "lan only", "hosts": ["admin.example.com"], "networks": ["192.168.1.0/24"], "network_mode": "require"}
    ]}));
    let from = |ip: &str| {
        let c = s.portal.client();
        c.extra_headers
            .replace(vec![("X-Forwarded-For".into(), ip.into())]);
        c
    };
    assert_eq!(
        ask(&from("192.168.1.20"), "GET", "tv.example.com", "/", "*/*").status,
        200
    );
    assert_eq!(
        ask(&from("203.0.113.5"), "GET", "tv.example.com", "/", "*/*").status,
        401
    );
    let alice = s.user("alice", "wonderland");
    assert_eq!(
        ask(&alice, "GET", "admin.example.com", "/", HTML).status,
        403,
        "outside the required network"
    );
    alice
        .extra_headers
        .replace(vec![("X-Forwarded-For".into(), "192.168.1.9".into())]);
    assert_eq!(
        ask(&alice, "GET", "admin.example.com", "/", HTML).status,
        200
    );
}

#[test]
fn two_factor_rules_need_a_second_factor() {
    let s = setup(&[]);
    s.rules(json!({ "rules": [{"name": "vault", "hosts": ["vault.example.com"], "policy": "two_factor"}] }));
    let alice = s.user("alice", "wonderland");
    let r = ask(&alice, "GET", "vault.example.com", "/", HTML);
    assert_eq!(r.status, 403, "not enrolled: told to set it up");
    assert!(r.body.contains("two-factor"));
    // Enrolled, but this session has no second factor: a fresh sign-in is asked for.
    let start = alice.post_json("/mfa/enroll/start", &json!({})).json();
    let secret = crate::totp_ref::base32_decode(start["secret"].as_str().unwrap());
    let code = crate::totp_ref::code(&secret, s.portal.app().clock.now());
    assert_eq!(
        alice
            .post_json("/mfa/enroll/verify", &json!({ "code": code }))
            .status,
        200
    );
    let r = ask(&alice, "GET", "vault.example.com", "/", HTML);
    assert_eq!(r.status, 302);
    assert!(r.header("location").unwrap().ends_with("&prompt=login"));
    // Signed in with the code: through.
    s.portal.app().clock.advance(30);
    let (c, _) = (s.portal.client(), ());
    c.extra_headers
        .replace(vec![("X-Forwarded-For".into(), "10.6.0.1".into())]);
    assert_eq!(
        sign_in(&c, "jellyfin", "alice", "wonderland").header("location"),
        Some("/mfa/challenge")
    );
    let code = crate::totp_ref::code(&secret, s.portal.app().clock.now());
    assert_eq!(
        c.post_form("/mfa/challenge/verify", &[("code", &code)])
            .status,
        303
    );
    assert_eq!(ask(&c, "GET", "vault.example.com", "/", HTML).status, 200);
}

#[test]
fn the_users_media_token_is_injected_only_when_the_rule_says_so() {
    let s = setup(&[]);
    s.rules(json!({ "rules": [
        {"name": "jellyseerr", "hosts": ["requests.example.com"], "inject_media_token": true, "media_provider": "jellyfin"},
        {"name": "plain", "hosts": ["plain.example.com"]}
    ]}));
    let alice = s.user("alice", "wonderland");
    let token = s.jf.tokens_of("alice").pop().unwrap();
    let r = ask(&alice, "GET", "requests.example.com", "/", HTML);
    assert_eq!(r.header("x-emby-token"), Some(token.as_str()));
    assert!(
        ask(&alice, "GET", "plain.example.com", "/", HTML)
            .header("x-emby-token")
            .is_none()
    );
}

#[test]
fn admin_config_api_versions_validates_and_refuses_stale_writes() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let first = root.get("/api/admin/config/access").json();
    assert_eq!(first["version"], 0);
    assert_eq!(first["config"]["default_policy"], "signed_in");
    let put = |version: &Value, config: Value| {
        root.send(
            "PUT",
            "/api/admin/config/access",
            &[("Content-Type", "application/json")],
            Some(
                json!({ "version": version, "config": config })
                    .to_string()
                    .into_bytes(),
            ),
        )
    };
    let ok = put(
        &json!(0),
        json!({ "rules": [{"name": "a", "policy": "deny", "hosts": ["a.example.com"]}] }),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["version"], 1);
    assert_eq!(ok.json()["updated_by"], "root");
    let stale = put(&json!(0), json!({ "rules": [] }));
    assert_eq!(stale.status, 409);
    assert_eq!(stale.json()["current_version"], 1);
    let bad = put(&json!(1), json!({ "rules": [{"path_regex": "(("}] }));
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("path_regex"));
    assert_eq!(
        put(&json!(1), json!({ "rules": [{"policy": "maybe"}] })).status,
        400
    );
    assert_eq!(put(&json!(1), json!("nonsense")).status, 400);
    assert_eq!(root.get("/api/admin/config/nope").status, 404);
    let names: Vec<String> = root.get("/api/admin/config").json()["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["section"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "access",
            "backups",
            "branding",
            "events",
            "ldap",
            "mfa",
            "providers",
            "revalidation",
            "roles",
            "security"
        ]
    );
    // The rule in force is the saved one.
    assert_eq!(ask(&root, "GET", "a.example.com", "/", HTML).status, 403);
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM settings_history WHERE section = 'access'"),
        1
    );
    let alice = s.user("alice", "wonderland");
    assert_eq!(alice.get("/api/admin/config/access").status, 403);
    assert_eq!(
        s.portal.client().get("/api/admin/config/access").status,
        401
    );
}

/// A small app that signs users in with a form and answers with its own cookie (Tautulli):
/// a new cookie per sign-in, after `delay` (a real app takes a moment).
struct FakeApp {
    url: String,
    logins: Arc<Mutex<Vec<String>>>,
    _server: crate::fakes::http::FakeServer,
}

fn fake_app(fail: bool) -> FakeApp {
    slow_fake_app(fail, std::time::Duration::ZERO)
}

fn slow_fake_app(fail: bool, delay: std::time::Duration) -> FakeApp {
    let logins = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&logins);
    let server = crate::fakes::http::FakeServer::start(
        Box::new(move |req: &crate::fakes::Recorded| {
            std::thread::sleep(delay);
            let n = {
                let mut seen = seen.lock().unwrap();
                seen.push(req.body.clone());
                seen.len()
            };
            if fail {
                return rouille::Response::text("no").with_status_code(401);
            }
            let value = if n == 1 {
                "sekrit".to_string()
            } else {
                format!("sekrit{n}")
            };
            rouille::Response::json(&json!({"status": "success"})).with_additional_header(
                "Set-Cookie",
                format!("tautulli_token_abc={value}; Max-Age=600; Path=/; HttpOnly"),
            )
        }),
        |status| rouille::Response::text("fault").with_status_code(status),
        None,
    );
    FakeApp {
        url: format!("{}/auth/signin", server.base_url()),
        logins,
        _server: server,
    }
}

#[test]
fn login_cookie_rules_sign_the_user_in_once_and_inject_the_cookie() {
    let s = setup(&[]);
    let app = fake_app(false);
    let broken = fake_app(true);
    s.rules(json!({ "rules": [
        {"name": "tautulli", "hosts": ["tautulli.example.com"], "media_provider": "jellyfin",
         "login_cookie": {"url": app.url, "form": {"username": "{user}", "token": "{media_token}", "remember_me": "1"}}},
        {"name": "broken", "hosts": ["broken.example.com"],
         "login_cookie": {"url": broken.url, "form": {"username": "{user}"}}}
    ]}));
    let alice = s.user("alice", "wonderland");
    let token = s.jf.tokens_of("alice").pop().unwrap();
    for _ in 0..3 {
        let r = ask(&alice, "GET", "tautulli.example.com", "/home", HTML);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cookie"), Some("tautulli_token_abc=sekrit"));
    }
    let logins = app.logins.lock().unwrap().clone();
    assert_eq!(logins.len(), 1, "the cookie is cached per user");
    assert!(
        logins[0].contains("username=alice") && logins[0].contains(&format!("token={token}")),
        "{}",
        logins[0]
    );
    let r = ask(&alice, "GET", "broken.example.com", "/", HTML);
    assert_eq!(
        r.status, 200,
        "a failed app login does not block the request"
    );
    assert_eq!(
        r.header("cookie"),
        Some(""),
        "the portal's cookie stays home"
    );
    // The browser's own cookies go on to the app, the app's sign-in cookie replacing a
    // stale one of the same name; the portal's never do.
    alice.set_cookie("tautulli_token_abc", "stale");
    alice.set_cookie("theme", "dark");
    let r = ask(&alice, "GET", "tautulli.example.com", "/home", HTML);
    let cookie = r.header("cookie").unwrap();
    let mut pairs: Vec<&str> = cookie.split("; ").collect();
    pairs.sort_unstable();
    assert_eq!(
        pairs,
        ["tautulli_token_abc=sekrit", "theme=dark"],
        "{cookie}"
    );
    let r = ask(&alice, "GET", "broken.example.com", "/", HTML);
    let cookie = r.header("cookie").unwrap();
    let mut pairs: Vec<&str> = cookie.split("; ").collect();
    pairs.sort_unstable();
    assert_eq!(
        pairs,
        ["tautulli_token_abc=stale", "theme=dark"],
        "{cookie}"
    );
}

#[test]
fn native_apps_with_a_media_token_pass_as_its_owner() {
    let s = setup(&[]);
    s.rules(json!({ "rules": [{"name": "tv", "hosts": ["jellyfin.example.com"], "native_apps": {"media_token": true}}] }));
    let _alice = s.user("alice", "wonderland");
    let token = s.jf.tokens_of("alice").pop().unwrap();
    let tv = Client::new(&s.portal.base);
    let with = |headers: &[(&str, &str)], uri: &str| {
        let mut h = vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "jellyfin.example.com"),
            ("X-Forwarded-Uri", uri),
        ];
        h.extend_from_slice(headers);
        tv.send("GET", "/auth/verify", &h, None)
    };
    s.jf.clear_requests();
    let r = with(&[("X-Emby-Token", &token)], "/Items");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("remote-user"), Some("alice"));
    let auth = format!(
        "MediaBrowser Client=\"TV\", Device=\"tv\", DeviceId=\"1\", Version=\"1\", Token=\"{token}\""
    );
    assert_eq!(with(&[("Authorization", &auth)], "/Items").status, 200);
    assert_eq!(
        with(&[], &format!("/Videos/1/stream?api_key={token}")).status,
        200
    );
    assert_eq!(s.jf.count("/Users/Me"), 1, "validated once, then cached");
    assert_eq!(with(&[("X-Emby-Token", "made-up")], "/Items").status, 401);
    // The token is never stored in clear.
    let raw = std::fs::read(s.portal.data_dir().join("authportal.db-wal")).unwrap_or_default();
    assert!(
        raw.windows(token.len())
            .filter(|w| *w == token.as_bytes())
            .count()
            == 0
    );
    // A rule without the opt-in ignores tokens.
    s.rules(json!({ "rules": [{"name": "tv", "hosts": ["jellyfin.example.com"]}] }));
    assert_eq!(with(&[("X-Emby-Token", &token)], "/Items").status, 401);
}

#[test]
fn native_apps_from_a_recent_sign_in_address_pass_as_no_one_and_the_user_can_forget_it() {
    let s = setup(&[]);
    s.rules(json!({ "rules": [{"name": "tv", "hosts": ["plex.example.com"], "native_apps": {"trusted_ip_hours": 12}}] }));
    let alice = s.portal.client();
    alice
        .extra_headers
        .replace(vec![("X-Forwarded-For".into(), "203.0.113.9".into())]);
    assert_eq!(
        sign_in(&alice, "jellyfin", "alice", "wonderland").status,
        303
    );
    let tv = |ip: &str| {
        let c = Client::new(&s.portal.base);
        c.extra_headers
            .replace(vec![("X-Forwarded-For".into(), ip.into())]);
        ask(&c, "GET", "plex.example.com", "/library", "*/*")
    };
    let r = tv("203.0.113.9");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("remote-user"),
        Some(""),
        "an address is not a person: it passes as no one"
    );
    assert_eq!(tv("203.0.113.10").status, 401);
    let home = alice.get("/home");
    assert!(
        home.body.contains("203.0.113.9"),
        "the user sees the address"
    );
    assert_eq!(
        alice
            .post_form("/trusted-ips/forget", &[("ip", "203.0.113.9")])
            .status,
        303
    );
    assert_eq!(tv("203.0.113.9").status, 401, "forgotten");
    // Signing in again records it again; it lapses after the rule's hours.
    sign_in(&alice, "jellyfin", "alice", "wonderland");
    assert_eq!(tv("203.0.113.9").status, 200);
    s.portal.app().clock.advance(13 * 3600);
    assert_eq!(tv("203.0.113.9").status, 401);
}

/// Spellings of `/admin`: the first list must be judged as `/admin` itself, the second
/// refused with 400. Apps decode, merge and resolve before routing, so anything else
/// would walk around a rule.
const ADMIN_SPELLINGS: &[&str] = &[
    "/admin",
    "/admin/",
    "/%61dmin",
    "/%61%64%6D%69%6e",
    "/ad%6Din/",
    "//admin",
    "///admin/x",
    "/./admin",
    "/%2e/admin",
    "/x/../admin",
    "/x/%2e%2e/admin",
    "/x/.%2E/admin",
    "/x/..;/admin",
    "/admin;jsessionid=x",
    "/admin;jsessionid=x/y",
    "/admin/.",
    "/admin?x=/public",
    "/admin#/public",
];
const REFUSED_SPELLINGS: &[&str] = &[
    "/%2Fadmin",
    "/%2fadmin",
    "/x/..%2Fadmin",
    "/x%2F..%2Fadmin",
    "/%5Cadmin",
    "/x%5c..%5cadmin",
    "/\\admin",
    "/x\\..\\admin",
    "/admin%00",
    "/%00/admin",
    "/x/%c0%ae%c0%ae/admin",
    "/%c0%ae%c0%ae/admin",
    "/../admin",
    "/%2e%2e/admin",
    "/x/../../admin",
    "/x//../admin",
    "/adm%in",
    "/admin%2",
];

/// Asks about one request in the Traefik/Caddy form or the nginx form.
fn ask_as(c: &Client, nginx: bool, proto: &str, host: &str, uri: &str) -> Resp {
    let url = format!("{proto}://{host}{uri}");
    let headers: Vec<(&str, &str)> = if nginx {
        vec![("X-Original-URL", &url), ("Accept", "*/*")]
    } else {
        vec![
            ("X-Forwarded-Proto", proto),
            ("X-Forwarded-Host", host),
            ("X-Forwarded-Uri", uri),
            ("Accept", "*/*"),
        ]
    };
    c.send("GET", "/auth/verify", &headers, None)
}

/// The spellings of one host the proxy may send: case, trailing dot, default port.
fn host_spellings(host: &str) -> Vec<(&'static str, String)> {
    vec![
        ("https", host.to_string()),
        ("https", host.to_ascii_uppercase()),
        ("https", format!("{host}.")),
        ("https", format!("{host}:443")),
        (
            "http",
            format!("{}.:80", host.replace("example", "EXAMPLE")),
        ),
    ]
}

#[test]
fn no_spelling_of_a_path_or_host_walks_around_a_rule() {
    let s = setup(&[]);
    s.rules(json!({ "default_policy": "signed_in", "rules": [
        {"name": "deny", "hosts": ["deny.example.com"], "paths": ["/admin"], "policy": "deny"},
        {"name": "regex", "hosts": ["regex.example.com"], "path_regex": "^/admin(/|$)", "policy": "deny"},
        {"name": "mfa", "hosts": ["mfa.example.com"], "paths": ["/admin"], "policy": "two_factor"},
        {"name": "group", "hosts": ["group.example.com"], "paths": ["/admin"], "groups": ["jellyfin-admin"]},
        {"name": "bypass", "hosts": ["bypass.example.com"], "paths": ["/admin"], "policy": "bypass"}
    ]}));
    let alice = s.user("alice", "wonderland");
    let anon = s.portal.client();
    // (host, who asks, the answer /admin gets, the answer any other path gets)
    let policies = [
        ("deny.example.com", &alice, 403, 200),
        ("regex.example.com", &alice, 403, 200),
        ("mfa.example.com", &alice, 403, 200),
        ("group.example.com", &alice, 403, 200),
        ("bypass.example.com", &anon, 200, 401),
    ];
    let mut wrong = Vec::new();
    for (host, who, admin, elsewhere) in policies {
        for nginx in [false, true] {
            assert_eq!(ask_as(who, nginx, "https", host, "/else").status, elsewhere);
            for (proto, h) in host_spellings(host) {
                let spellings = ADMIN_SPELLINGS.iter().map(|p| (p, admin));
                for (uri, want) in spellings.chain(REFUSED_SPELLINGS.iter().map(|p| (p, 400))) {
                    let r = ask_as(who, nginx, proto, &h, uri);
                    if r.status != want {
                        wrong.push(format!(
                            "{} {proto}://{h}{uri}: {} (want {want})",
                            if nginx { "nginx" } else { "traefik" },
                            r.status
                        ));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} walk-arounds:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn no_spelling_escapes_a_bypass_prefix() {
    let s = setup(&[]);
    s.rules(json!({ "default_policy": "signed_in", "rules": [
        {"name": "public", "hosts": ["open.example.com"], "paths": ["/public/"], "policy": "bypass"}
    ]}));
    let anon = s.portal.client();
    let mut wrong = Vec::new();
    for nginx in [false, true] {
        for (uri, want) in [
            ("/public/x", 200),
            ("/public", 200),
            ("/public/?/../admin", 200),
            ("/admin?/public/", 401),
            ("/publicity", 401),
            ("/Public/x", 401),
            ("/public/../admin", 401),
            ("/public/%2e%2e/admin", 401),
            ("/public/..;/admin", 401),
            ("/public;/../admin", 401),
            ("/public/x/../../admin", 401),
            ("/public/%252e%252e/admin", 200),
            ("/public//../admin", 400),
            ("/public/..%2Fadmin", 400),
            ("/public%2F..%2Fadmin", 400),
            ("/public%5C..%5Cadmin", 400),
            ("/public\\..\\admin", 400),
            ("/public/%c0%ae%c0%ae/admin", 400),
            ("/public/%e0%80%ae%e0%80%ae/admin", 400),
            ("/public/../../admin", 400),
        ] {
            let r = ask_as(&anon, nginx, "https", "open.example.com", uri);
            if r.status != want {
                wrong.push(format!("nginx={nginx} {uri}: {} (want {want})", r.status));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn refusals_say_what_was_refused_and_userinfo_is_never_a_host() {
    let s = setup(&[]);
    let c = s.portal.client();
    let r = ask_as(&c, false, "https", "app.example.com", "/a%2Fb");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("encoded slash"), "{}", r.body);
    let r = ask_as(&c, true, "https", "app.example.com", "/../x");
    assert!(r.body.contains("climbs above /"), "{}", r.body);
    for nginx in [false, true] {
        for host in [
            "user@app.example.com",
            "app.example.com@evil.com",
            "app..example.com",
            "[::1",
        ] {
            let r = ask_as(&c, nginx, "https", host, "/");
            assert_eq!(r.status, 400, "{host}");
        }
    }
    // IPv6 hosts are hosts.
    assert_eq!(ask_as(&c, true, "https", "[::1]:8443", "/").status, 401);
    assert_eq!(ask_as(&c, false, "http", "[0:0::1]", "/").status, 401);
}

#[test]
fn a_rule_can_let_its_app_have_encoded_slashes() {
    let s = setup(&[]);
    s.rules(json!({ "rules": [
        {"name": "files admin", "hosts": ["files.example.com"], "paths": ["/admin"], "policy": "deny"},
        {"name": "files", "hosts": ["files.example.com"], "allow_encoded_slash": true}
    ]}));
    let alice = s.user("alice", "wonderland");
    for nginx in [false, true] {
        assert_eq!(
            ask_as(&alice, nginx, "https", "files.example.com", "/share/a%2Fb").status,
            200
        );
        assert_eq!(
            ask_as(&alice, nginx, "https", "files.example.com", "/admin%2Fx").status,
            403
        );
        assert_eq!(
            ask_as(&alice, nginx, "https", "files.example.com", "/a\\b").status,
            400
        );
        assert_eq!(
            ask_as(&alice, nginx, "https", "other.example.com", "/share/a%2Fb").status,
            400
        );
    }
}

#[test]
fn a_client_cannot_add_its_own_description_of_the_request() {
    let s = setup(&[]);
    s.rules(json!({ "rules": [
        {"name": "public", "hosts": ["app.example.com"], "paths": ["/public"], "policy": "bypass"},
        {"name": "closed", "hosts": ["app.example.com"], "paths": ["/admin"], "methods": ["DELETE"], "policy": "deny"}
    ]}));
    let alice = s.user("alice", "wonderland");
    let anon = s.portal.client();
    let traefik = |c: &Client, extra: &[(&str, &str)]| {
        let mut h = vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
            ("X-Forwarded-Uri", "/admin"),
            ("X-Forwarded-Method", "DELETE"),
        ];
        h.extend_from_slice(extra);
        c.send("GET", "/auth/verify", &h, None)
    };
    assert_eq!(traefik(&alice, &[]).status, 403);
    // Traefik and Caddy pass a client's X-Original-URL on; nginx passes X-Forwarded-*.
    for forged in [
        vec![("X-Original-URL", "https://app.example.com/public")],
        vec![("X-Original-URL", "https://other.example.com/admin")],
        vec![
            ("X-Original-URL", "https://app.example.com/admin"),
            ("X-Original-Method", "GET"),
        ],
        vec![("X-Forwarded-Uri", "/public")],
        vec![("X-Forwarded-Host", "app.example.com")],
    ] {
        let r = traefik(&anon, &forged);
        assert_eq!(r.status, 400, "{forged:?}: {}", r.body);
    }
    // nginx without X-Original-Method: a client's X-Forwarded-Method does not choose
    // the method (here, to reach a preflight bypass).
    s.rules(json!({ "rules": [
        {"name": "preflight", "hosts": ["app.example.com"], "methods": ["OPTIONS"], "policy": "bypass"}
    ]}));
    let r = anon.send(
        "GET",
        "/auth/verify",
        &[
            ("X-Original-URL", "https://app.example.com/admin"),
            ("X-Forwarded-Method", "OPTIONS"),
        ],
        None,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    s.rules(json!({ "rules": [
        {"name": "closed", "hosts": ["app.example.com"], "paths": ["/admin"], "methods": ["DELETE"], "policy": "deny"}
    ]}));
    let agreeing = traefik(
        &alice,
        &[
            ("X-Original-URL", "https://app.example.com//admin"),
            ("X-Original-Method", "DELETE"),
        ],
    );
    assert_eq!(agreeing.status, 403, "the same request, spelled twice");
}

#[test]
fn every_verify_answer_is_no_store() {
    let s = setup(&[]);
    s.rules(
        json!({ "rules": [{"name": "closed", "hosts": ["closed.example.com"], "policy": "deny"}] }),
    );
    let alice = s.user("alice", "wonderland");
    let anon = s.portal.client();
    let answers = [
        (ask(&alice, "GET", "app.example.com", "/", HTML), 200),
        (ask(&anon, "GET", "app.example.com", "/", HTML), 302),
        (ask(&anon, "GET", "app.example.com", "/", "*/*"), 401),
        (ask(&alice, "GET", "closed.example.com", "/", HTML), 403),
        (ask(&alice, "GET", "app.example.com", "/%2F", HTML), 400),
    ];
    for (r, status) in answers {
        assert_eq!(r.status, status);
        assert!(
            r.header("cache-control")
                .is_some_and(|v| v.contains("no-store")),
            "{status}: {:?}",
            r.header("cache-control")
        );
    }
}

/// A stored rule that no longer compiles (saved by an older, laxer version) must not
/// open what it kept closed: every app is closed until the owner fixes the rules.
#[test]
fn stored_rules_that_no_longer_compile_close_every_app() {
    let s = setup(&[]);
    let alice = s.user("alice", "wonderland");
    let app = &s.portal.server.as_ref().unwrap().app;
    let stale = json!({"default_policy": "signed_in", "rules": [
        {"hosts": ["app.example.com"], "paths": ["/admin;x"], "policy": "deny"}
    ]});
    app.db
        .with_tx(|tx| {
            let current = authportal::db::settings::get(tx, "access")?.map_or(0, |v| v.version);
            let change = authportal::db::settings::Change {
                section: "access",
                expected_version: current,
                config: &stale,
                by: None,
                reason: Some("written by an older version"),
            };
            authportal::db::settings::put(tx, &change, 0).map(|_| ())
        })
        .unwrap();
    app.settings_changed();
    for path in ["/admin", "/", "/anything"] {
        let r = ask(&alice, "GET", "app.example.com", path, HTML);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
    }
}

/// A client at `ip` asking about `uri` on `host` with extra headers (a TV app: no cookie).
fn native(s: &Setup, ip: &str, host: &str, uri: &str, headers: &[(&str, &str)]) -> Resp {
    let c = Client::new(&s.portal.base);
    c.extra_headers
        .replace(vec![("X-Forwarded-For".into(), ip.into())]);
    let mut h = vec![
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", host),
        ("X-Forwarded-Uri", uri),
    ];
    h.extend_from_slice(headers);
    c.send("GET", "/auth/verify", &h, None)
}

/// Issue #19 item 2: after the owner signs in at home, the house's TV apps must not
/// reach apps as the owner. The address lets a request in; it carries no identity.
#[test]
fn a_trusted_address_lets_in_but_carries_no_identity() {
    let s = setup(&[]);
    s.rules(json!({ "rules": [
        {"name": "tv", "hosts": ["tv.example.com"], "native_apps": {"trusted_ip_hours": 12},
         "headers": {"X-User": "{user}", "X-Groups": "{groups}"},
         "inject_media_token": true, "media_provider": "jellyfin"},
        {"name": "admin tv", "hosts": ["admin-tv.example.com"], "groups": ["jellyfin-admin"],
         "native_apps": {"trusted_ip_hours": 12}},
        {"name": "vault", "hosts": ["vault.example.com"], "policy": "two_factor",
         "native_apps": {"trusted_ip_hours": 12}}
    ]}));
    // The owner (an admin) signs in at home.
    let root = s.portal.client();
    root.extra_headers
        .replace(vec![("X-Forwarded-For".into(), "198.51.100.7".into())]);
    assert_eq!(sign_in(&root, "jellyfin", "root", "toor").status, 303);
    let r = native(&s, "198.51.100.7", "tv.example.com", "/", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    for h in [
        "remote-user",
        "remote-name",
        "remote-email",
        "remote-groups",
    ] {
        assert_eq!(r.header(h), Some(""), "{h} names no one");
    }
    assert!(r.header("x-user").is_none() && r.header("x-groups").is_none());
    assert!(r.header("x-emby-token").is_none(), "no one's media token");
    // The rule's groups decide whether an allowed person signed in there: root did.
    assert_eq!(
        native(&s, "198.51.100.7", "admin-tv.example.com", "/", &[]).status,
        200
    );
    // An address proves no second factor.
    assert_eq!(
        native(&s, "198.51.100.7", "vault.example.com", "/", &[]).status,
        401
    );
    // alice's address lets nothing in where only admins may go.
    let alice = s.portal.client();
    alice
        .extra_headers
        .replace(vec![("X-Forwarded-For".into(), "198.51.100.8".into())]);
    assert_eq!(
        sign_in(&alice, "jellyfin", "alice", "wonderland").status,
        303
    );
    assert_eq!(
        native(&s, "198.51.100.8", "admin-tv.example.com", "/", &[]).status,
        401
    );
    assert_eq!(
        native(&s, "198.51.100.8", "tv.example.com", "/", &[]).status,
        200
    );
}

/// Issue #19 item 3: a rule says whose media token it sends; a Jellyfin person's token
/// never reaches a Plex app (Tautulli would forward it to plex.tv).
#[test]
fn a_media_token_goes_only_to_the_provider_the_rule_names() {
    let s = setup(&[]);
    let tautulli = fake_app(false);
    let admin = s.user("root", "toor");
    let put = |config: Value| {
        let current = admin.get("/api/admin/config/access").json();
        admin.send(
            "PUT",
            "/api/admin/config/access",
            &[("Content-Type", "application/json")],
            Some(
                json!({ "version": current["version"], "config": config })
                    .to_string()
                    .into_bytes(),
            ),
        )
    };
    // New rules that send a token without saying whose are refused, with the fix.
    for rule in [
        json!({"name": "t", "login_cookie": {"url": tautulli.url, "form": {"token": "{media_token}"}}}),
        json!({"name": "t", "inject_media_token": true}),
    ] {
        let r = put(json!({ "rules": [rule] }));
        assert_eq!(r.status, 400, "{}", r.body);
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains("media_provider") && e.contains("plex"), "{e}");
    }
    let r = put(json!({ "rules": [
        {"name": "tautulli", "hosts": ["tautulli.example.com"], "media_provider": "plex",
         "login_cookie": {"url": tautulli.url, "form": {"username": "{user}", "token": "{media_token}"}}},
        {"name": "overseerr", "hosts": ["overseerr.example.com"], "media_provider": "plex",
         "inject_media_token": true},
        {"name": "plex only", "hosts": ["strict.example.com"], "media_provider": "plex",
         "inject_media_token": true, "media_token_required": true},
        {"name": "jellyseerr", "hosts": ["jellyseerr.example.com"], "media_provider": "jellyfin",
         "inject_media_token": true}
    ]}));
    assert_eq!(r.status, 200, "{}", r.body);
    let alice = s.user("alice", "wonderland");
    let token = s.jf.tokens_of("alice").pop().unwrap();
    let r = ask(&alice, "GET", "tautulli.example.com", "/", HTML);
    assert_eq!(r.status, 200, "the request goes on without a sign-in");
    assert_eq!(r.header("cookie"), Some(""));
    assert!(
        tautulli.logins.lock().unwrap().is_empty(),
        "no sign-in attempt with someone else's token"
    );
    let r = ask(&alice, "GET", "overseerr.example.com", "/", HTML);
    assert_eq!(r.status, 200);
    assert!(r.header("x-emby-token").is_none() && r.header("x-plex-token").is_none());
    let r = ask(&alice, "GET", "strict.example.com", "/", HTML);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Plex"), "{}", r.body);
    let r = ask(&alice, "GET", "jellyseerr.example.com", "/", HTML);
    assert_eq!(r.header("x-emby-token"), Some(token.as_str()));

    // A rule stored before it had to say whose takes the one configured provider.
    let stored = json!({ "rules": [
        {"name": "old", "hosts": ["old.example.com"], "inject_media_token": true}
    ]});
    s.portal
        .db()
        .execute(
            "UPDATE settings SET config_json = ?1 WHERE section = 'access'",
            [stored.to_string()],
        )
        .unwrap();
    s.portal.app().settings_changed();
    let r = ask(&alice, "GET", "old.example.com", "/", HTML);
    assert_eq!(r.header("x-emby-token"), Some(token.as_str()));
    // ...and may be saved again unchanged, beside a new rule.
    let r = put(json!({ "rules": [
        {"name": "old", "hosts": ["old.example.com"], "inject_media_token": true},
        {"name": "new", "hosts": ["new.example.com"]}
    ]}));
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Issue #19 item 4: a browser's first page and its assets arrive together; the portal
/// signs the person in to the app once and every request gets that one cookie.
#[test]
fn parallel_first_requests_sign_in_to_the_app_once() {
    let s = setup(&[]);
    let app = slow_fake_app(false, std::time::Duration::from_millis(500));
    let broken = slow_fake_app(true, std::time::Duration::from_millis(500));
    s.rules(json!({ "rules": [
        {"name": "tautulli", "hosts": ["tautulli.example.com"],
         "login_cookie": {"url": app.url, "form": {"username": "{user}"}}},
        {"name": "broken", "hosts": ["broken.example.com"],
         "login_cookie": {"url": broken.url, "form": {"username": "{user}"}}}
    ]}));
    let session = s
        .user("alice", "wonderland")
        .cookie("authportal_session")
        .unwrap();
    let base = &s.portal.base;
    let six_at_once = |host: &str| -> Vec<Option<String>> {
        std::thread::scope(|scope| {
            let asks: Vec<_> = (0..6)
                .map(|i| {
                    let session = &session;
                    scope.spawn(move || {
                        let browser = Client::new(base);
                        browser.set_cookie("authportal_session", session);
                        let uri = format!("/asset{i}.js");
                        let r = ask(&browser, "GET", host, &uri, HTML);
                        assert_eq!(r.status, 200);
                        r.header("cookie").map(str::to_string)
                    })
                })
                .collect();
            asks.into_iter().map(|a| a.join().unwrap()).collect()
        })
    };
    let cookies = six_at_once("tautulli.example.com");
    assert_eq!(app.logins.lock().unwrap().len(), 1, "one sign-in");
    assert!(
        cookies
            .iter()
            .all(|c| c.as_deref() == Some("tautulli_token_abc=sekrit")),
        "{cookies:?}"
    );
    // Those who waited for a sign-in that failed do not each try again.
    assert!(
        six_at_once("broken.example.com")
            .iter()
            .all(|c| c.as_deref() == Some(""))
    );
    assert_eq!(broken.logins.lock().unwrap().len(), 1);
}

/// Issue #19 item 6: older Jellyfin and Emby clients send X-Emby-Authorization.
#[test]
fn native_apps_may_send_the_legacy_authorization_header() {
    let s = setup(&[]);
    s.rules(json!({ "rules": [{"name": "tv", "hosts": ["jellyfin.example.com"], "native_apps": {"media_token": true}}] }));
    let _alice = s.user("alice", "wonderland");
    let token = s.jf.tokens_of("alice").pop().unwrap();
    for (name, value) in [
        (
            "X-Emby-Authorization",
            format!(
                r#"Emby UserId="x", Client="TV", Device="tv", DeviceId="1", Version="1", Token="{token}""#
            ),
        ),
        (
            "X-Emby-Authorization",
            format!(
                r#"MediaBrowser Client="TV", Device="tv", DeviceId="1", Version="1", token="{token}""#
            ),
        ),
        (
            "Authorization",
            format!(r#"emby Client="TV", Token="{token}""#),
        ),
    ] {
        let r = native(
            &s,
            "192.0.2.1",
            "jellyfin.example.com",
            "/Items",
            &[(name, &value)],
        );
        assert_eq!(r.status, 200, "{name}: {value}");
        assert_eq!(r.header("remote-user"), Some("alice"));
    }
}

/// Issue #19 item 6: Emby has no call that says whose a token is (no /Users/Me), so a
/// rule letting native apps in by their Emby token would refuse every one of them.
#[test]
fn native_app_tokens_are_refused_for_emby_with_a_reason() {
    let emby = FakeJellyfin::start(Mode::Emby);
    emby.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("root", "toor")
    });
    let url = emby.base_url();
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "emby"),
        ("EMBY_SERVER_URL", &url),
        ("ADMIN_BOOTSTRAP_USERS", "root"),
    ]);
    let root = portal.client();
    assert_eq!(sign_in(&root, "emby", "root", "toor").status, 303);
    let current = root.get("/api/admin/config/access").json();
    let r = root.send(
        "PUT",
        "/api/admin/config/access",
        &[("Content-Type", "application/json")],
        Some(
            json!({ "version": current["version"], "config": { "rules": [
                {"name": "tv", "native_apps": {"media_token": true}}
            ]}})
            .to_string()
            .into_bytes(),
        ),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let e = r.json()["error"].as_str().unwrap().to_string();
    assert!(e.contains("Emby") && e.contains("whose"), "{e}");
}

/// Issue #13 item 9: each unknown token is a request to the media server, so lookups
/// are limited per address and refused tokens are remembered briefly.
#[test]
fn unknown_media_tokens_are_rate_limited_per_address() {
    let s = setup(&[]);
    s.rules(json!({ "rules": [{"name": "tv", "hosts": ["jellyfin.example.com"], "native_apps": {"media_token": true}}] }));
    s.jf.clear_requests();
    let guess = |ip: &str, token: &str| {
        native(
            &s,
            ip,
            "jellyfin.example.com",
            "/Items",
            &[("X-Emby-Token", token)],
        )
    };
    let mut statuses = Vec::new();
    for i in 0..14 {
        statuses.push(guess("192.0.2.50", &format!("guess-{i}")).status);
    }
    assert_eq!(&statuses[..10], &[401; 10], "{statuses:?}");
    let r = guess("192.0.2.50", "guess-99");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        s.jf.count("/Users/Me"),
        10,
        "the server was asked 10 times, no more"
    );
    // A refused token is remembered: asking again costs the server nothing.
    assert_eq!(guess("192.0.2.50", "guess-0").status, 401);
    assert_eq!(s.jf.count("/Users/Me"), 10);
    // Other addresses are not held back.
    assert_eq!(guess("192.0.2.51", "guess-x").status, 401);
    assert_eq!(s.jf.count("/Users/Me"), 11);
}

/// Stored rules the code can no longer apply as written are pointed out on the console:
/// a token-sending rule without media_provider beside two media servers (it sends none),
/// and native-app tokens with Emby configured (Emby tokens cannot be checked).
#[test]
fn the_console_flags_stored_rules_that_send_no_token() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    let emby = FakeJellyfin::start(Mode::Emby);
    jf.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("root", "toor")
    });
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let (jf_url, emby_url) = (jf.base_url(), emby.base_url());
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "jellyfin,emby"),
        ("JELLYFIN_SERVER_URL", &jf_url),
        ("EMBY_SERVER_URL", &emby_url),
        ("ADMIN_BOOTSTRAP_USERS", "root"),
        ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
    ]);
    let root = portal.client();
    assert_eq!(sign_in(&root, "jellyfin", "root", "toor").status, 303);
    let stored = json!({ "rules": [
        {"name": "old", "hosts": ["old.example.com"], "inject_media_token": true},
        {"name": "tv", "hosts": ["tv.example.com"], "native_apps": {"media_token": true}}
    ]});
    portal
        .db()
        .execute(
            "INSERT INTO settings (section, version, config_json, updated_at) VALUES ('access', 1, ?1, 0)",
            [stored.to_string()],
        )
        .unwrap();
    portal.app().settings_changed();
    let page = root.get("/admin/settings/access");
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("rule 1 (old) sends a media token but does not say whose"),
        "{}",
        page.body
    );
    assert!(page.body.contains("rule 2 (tv): native_apps.media_token"));
    // Ambiguous: no token at all, never a guess.
    let alice = portal.client();
    assert_eq!(
        sign_in(&alice, "jellyfin", "alice", "wonderland").status,
        303
    );
    let r = ask(&alice, "GET", "old.example.com", "/", HTML);
    assert_eq!(r.status, 200);
    assert!(r.header("x-emby-token").is_none());
}

/// The access-rule tester's question.
fn access_test(c: &Client, body: Value) -> Resp {
    c.post_json("/api/admin/access/test", &body)
}

#[test]
fn the_access_rule_tester_judges_like_verify_and_changes_nothing() {
    let s = setup(&[]);
    let app = fake_app(false);
    s.rules(json!({ "default_policy": "signed_in", "rules": [
        {"name": "public", "hosts": ["app.example.com"], "paths": ["/public/"], "policy": "bypass"},
        {"name": "closed", "hosts": ["app.example.com"], "paths": ["/admin/"], "policy": "deny"},
        {"name": "vault", "hosts": ["vault.example.com"], "policy": "two_factor"},
        {"name": "tv", "hosts": ["jellyfin.example.com"], "native_apps": {"media_token": true}},
        {"name": "tautulli", "hosts": ["tautulli.example.com"],
         "headers": {"X-User": "{user}"},
         "login_cookie": {"url": app.url, "form": {"username": "{user}"}}}
    ]}));
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let events_before = s.portal.count("SELECT count(*) FROM events");

    let r = access_test(
        &root,
        json!({"user": "alice", "url": "https://tautulli.example.com/home", "method": "GET", "ip": "192.168.1.5"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["decision"], "allow", "{v}");
    assert_eq!(v["rule"], "tautulli");
    assert_eq!(v["headers"]["Remote-User"], "alice");
    assert_eq!(v["headers"]["X-User"], "alice");
    assert!(
        app.logins.lock().unwrap().is_empty(),
        "no sign-in to the app"
    );

    let v = access_test(
        &root,
        json!({"user": "alice", "url": "https://app.example.com/admin/x", "ip": "192.168.1.5"}),
    )
    .json();
    assert_eq!(
        (v["decision"].as_str(), v["rule"].as_str()),
        (Some("deny"), Some("closed")),
        "{v}"
    );
    // A walk-around spelling is judged as its canonical form.
    let r = access_test(
        &root,
        json!({"user": "alice", "url": "https://APP.example.com.:443/public/%2e%2E/%61dmin/x", "ip": "192.168.1.5"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(
        (v["decision"].as_str(), v["rule"].as_str()),
        (Some("deny"), Some("closed")),
        "{v}"
    );

    let v = access_test(
        &root,
        json!({"url": "https://app.example.com/home", "method": "GET", "ip": "192.168.1.5"}),
    )
    .json();
    assert_eq!(v["decision"], "sign_in", "{v}");
    assert_eq!(v["rule"], Value::Null, "the default policy decided");

    let v = access_test(
        &root,
        json!({"user": "alice", "url": "https://vault.example.com/", "ip": "192.168.1.5"}),
    )
    .json();
    assert_eq!(
        (v["decision"].as_str(), v["rule"].as_str()),
        (Some("two_factor"), Some("vault")),
        "{v}"
    );

    // A native app's token in the URL is not checked with the media server.
    let token = s.jf.tokens_of("alice").pop().unwrap();
    s.jf.clear_requests();
    let v = access_test(&root, json!({"url": format!("https://jellyfin.example.com/Items?api_key={token}"), "ip": "192.168.1.5"})).json();
    assert_eq!(
        (v["decision"].as_str(), v["rule"].as_str()),
        (Some("sign_in"), Some("tv")),
        "{v}"
    );
    assert!(s.jf.requests().is_empty(), "no media-server lookup");

    // Bad input: a clear 400.
    let r = access_test(
        &root,
        json!({"user": "nobody", "url": "https://app.example.com/", "ip": "192.168.1.5"}),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("nobody"), "{}", r.body);
    let r = access_test(
        &root,
        json!({"url": "https://app.example.com/x/..%2Fadmin", "ip": "192.168.1.5"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("canonical"), "{}", r.body);
    assert_eq!(
        access_test(
            &root,
            json!({"url": "ftp://app.example.com/", "ip": "192.168.1.5"})
        )
        .status,
        400
    );
    assert_eq!(
        access_test(
            &root,
            json!({"url": "https://app.example.com/", "ip": "nope"})
        )
        .status,
        400
    );

    assert_eq!(
        s.portal.count("SELECT count(*) FROM events"),
        events_before,
        "a dry run records nothing"
    );
    assert!(app.logins.lock().unwrap().is_empty());

    let body = json!({"url": "https://app.example.com/", "ip": "192.168.1.5"});
    assert_eq!(access_test(&alice, body.clone()).status, 403);
    assert_eq!(access_test(&s.portal.client(), body).status, 401);
}

/// Forward-auth answers a session's person from memory (access_cache), so each way a
/// session or its person changes must reach the very next request, with no wait: every
/// step below asks once to fill the cache, changes one thing, and asks again at once.
#[test]
fn a_remembered_session_sees_every_change_at_the_next_request() {
    let s = setup(&[]);
    s.rules(json!({
        "default_policy": "signed_in",
        "rules": [{"name": "family", "hosts": ["family.example.com"], "groups": ["family"]}]
    }));
    let admin = s.user("root", "toor");
    let groups = |c: &Client| {
        let r = ask(c, "GET", "app.example.com", "/", "*/*");
        (r.status == 200).then(|| r.header("remote-groups").unwrap_or("").to_string())
    };
    let family = |c: &Client| ask(c, "GET", "family.example.com", "/", "*/*").status;
    let alice = s.user("alice", "wonderland");
    let uuid = alice.get("/whoami").json()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let set_groups = |list: Value| {
        let path = format!("/api/admin/users/{uuid}/groups");
        let r = crate::team::put(&admin, &path, json!({ "groups": list }));
        assert_eq!(r.status, 200, "{}", r.body);
    };

    // Groups given and taken.
    assert_eq!(family(&alice), 403);
    set_groups(json!(["family"]));
    assert_eq!(family(&alice), 200, "a group given counts at once");
    assert_eq!(groups(&alice).as_deref(), Some("family,jellyfin-user"));
    set_groups(json!([]));
    assert_eq!(family(&alice), 403, "a group taken counts at once");

    // The person signs out: the old cookie, replayed, is nobody.
    let stolen = s.portal.client();
    let cookie = alice
        .cookie("authportal_session")
        .expect("a session cookie");
    stolen.set_cookie("authportal_session", &cookie);
    assert!(groups(&stolen).is_some());
    assert_eq!(alice.post_form("/logout", &[]).status, 303);
    assert_eq!(groups(&stolen), None, "signed out");

    // The person ends one of their sessions from another.
    let alice = s.user("alice", "wonderland");
    let phone = s.user("alice", "wonderland");
    assert!(groups(&phone).is_some());
    let sessions = alice.get("/api/me/sessions").json();
    let phone_id = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["current"] != true)
        .expect("the other session")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = alice.send("DELETE", &format!("/api/me/sessions/{phone_id}"), &[], None);
    assert!(r.status < 300, "{} {}", r.status, r.body);
    assert_eq!(groups(&phone), None, "ended from another session");

    // An admin ends one session, then all of them.
    let detail = admin.get(&format!("/api/admin/users/{uuid}")).json();
    let sid = detail["sessions"][0]["sid"].as_str().unwrap().to_string();
    assert!(groups(&alice).is_some());
    let r = admin.send("DELETE", &format!("/api/admin/sessions/{sid}"), &[], None);
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(groups(&alice), None, "ended by an admin");
    let alice = s.user("alice", "wonderland");
    assert!(groups(&alice).is_some());
    let r = admin.post_json(
        &format!("/api/admin/users/{uuid}/sessions/revoke"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(groups(&alice), None, "all ended by an admin");

    // The account is disabled.
    let alice = s.user("alice", "wonderland");
    assert!(groups(&alice).is_some());
    let r = admin.post_json(&format!("/api/admin/users/{uuid}/disable"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(groups(&alice), None, "disabled");
    let r = admin.post_json(&format!("/api/admin/users/{uuid}/enable"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);

    // The media server withdraws access (the revalidation pass).
    let alice = s.user("alice", "wonderland");
    assert!(groups(&alice).is_some());
    assert!(s.jf.set_user_disabled("alice", true));
    let pass = authportal::revalidate::run_once(s.portal.app()).unwrap();
    assert_eq!(pass.revoked, 1, "{pass:?}");
    assert_eq!(groups(&alice), None, "access withdrawn");
    assert!(s.jf.set_user_disabled("alice", false));

    // The session runs out (24 hours by default).
    let alice = s.user("alice", "wonderland");
    assert!(groups(&alice).is_some());
    s.portal.app().clock.advance(24 * 3600 + 1);
    assert_eq!(groups(&alice), None, "expired");
}
