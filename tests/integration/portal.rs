//! Start-up, the data directory, health checks, headers, and the signed-out pages.

use std::os::unix::fs::PermissionsExt;

use crate::harness::{Portal, TempDir};

#[test]
fn first_start_creates_database_and_secrets_and_restart_keeps_them() {
    let portal = Portal::start_in(TempDir::new(), &[], false);
    let dir = portal.data_dir().to_path_buf();
    for f in ["authportal.db", "secrets.json", "oidc-signing-key.pem"] {
        let meta = std::fs::metadata(dir.join(f)).unwrap_or_else(|_| panic!("{f} missing"));
        assert_eq!(
            meta.permissions().mode() & 0o077,
            0,
            "{f} must be private to its owner"
        );
    }
    let secrets = std::fs::read_to_string(dir.join("secrets.json")).unwrap();
    let key = std::fs::read_to_string(dir.join("oidc-signing-key.pem")).unwrap();
    let portal = portal.restart();
    assert_eq!(
        std::fs::read_to_string(dir.join("secrets.json")).unwrap(),
        secrets
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("oidc-signing-key.pem")).unwrap(),
        key
    );
    assert_eq!(portal.client().get("/readyz").status, 200);
}

#[test]
fn secrets_from_the_environment_are_not_also_generated() {
    let key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let portal = Portal::start_in(TempDir::new(), &[("DATA_KEY", key)], true);
    let path = portal.data_dir().join("secrets.json");
    let secrets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        secrets.get("data_key").is_none(),
        "DATA_KEY comes from the environment: no unused key beside it"
    );
    assert!(secrets["session_secret"].is_string() && secrets["install_id"].is_string());
    // Dropping DATA_KEY later does not silently start over with a new key: the data
    // sealed under the old one refuses it.
    let mut vars: Vec<(String, String)> = portal
        .vars
        .iter()
        .filter(|(k, _)| *k != "DATA_KEY" && *k != "LISTEN_ADDR" && *k != "APP_BASE_URL")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    vars.push(("LISTEN_ADDR".into(), "127.0.0.1:0".into()));
    let mut map: std::collections::BTreeMap<String, String> = vars.into_iter().collect();
    map.insert("APP_BASE_URL".into(), "http://127.0.0.1:1".into());
    let err = authportal::start(authportal::Config::from_vars(&map).unwrap())
        .err()
        .expect("refused");
    assert!(err.contains("DATA_KEY"), "{err}");
}

#[test]
fn health_endpoints_answer() {
    let portal = Portal::start(&[]);
    let c = portal.client();
    for path in ["/healthz", "/readyz", "/startupz"] {
        let r = c.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["status"], "ok");
    }
}

#[test]
fn a_fresh_portal_opens_the_setup_wizard_and_says_how_to_configure() {
    let portal = Portal::start(&[]);
    let r = portal.client().get("/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Welcome to AuthPortal") && r.body.contains("setup code"));
    assert!(!r.body.contains("data-provider="));
}

#[test]
fn every_response_carries_security_headers() {
    let portal = Portal::start(&[]);
    let c = portal.client();
    for path in ["/", "/whoami", "/nope", "/static/styles.css", "/healthz"] {
        let r = c.get(path);
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
        assert!(r.header("referrer-policy").is_some(), "{path}");
        let csp = r.header("content-security-policy").unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("http"),
            "{path}: {csp}"
        );
        assert!(
            r.header("strict-transport-security").is_none(),
            "no HSTS on plain http"
        );
    }
    let hsts = Portal::start(&[("FORCE_HSTS", "1")]);
    assert!(
        hsts.client()
            .get("/")
            .header("strict-transport-security")
            .is_some()
    );
}

#[test]
fn whoami_and_me_without_a_session() {
    let portal = Portal::start(&[]);
    let c = portal.client();
    let r = c.get("/whoami");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["authenticated"], false);
    let r = c.get("/me");
    assert_eq!(r.status, 401);
    assert!(r.json()["error"].is_string());
    assert_eq!(c.get("/home").status, 303);
}

#[test]
fn the_binary_refuses_a_bad_value_with_one_clear_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
        .env("MEDIA_SERVER", "plex,kodi")
        .env("AUTHPORTAL_DATA_DIR", &TempDir::new().0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("MEDIA_SERVER") && err.contains("kodi"),
        "{err}"
    );
}

#[test]
fn version_prints_a_semantic_version() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
        .arg("version")
        .output()
        .unwrap();
    // "authportal 0.1.0 (commit 1a2b3c4, built 2026-11-23)"
    let text = String::from_utf8_lossy(&out.stdout);
    let rest = text.trim().strip_prefix("authportal ").unwrap();
    let (v, build) = rest.split_once(' ').unwrap();
    assert_eq!(
        v.split('.').filter(|p| p.parse::<u32>().is_ok()).count(),
        3,
        "{text}"
    );
    assert!(
        build.starts_with("(commit ") && build.contains(", built "),
        "{text}"
    );
}

#[test]
fn login_page_lists_enabled_providers_and_loads_nothing_from_elsewhere() {
    let jf = crate::fakes::jellyfin::FakeJellyfin::start(crate::fakes::jellyfin::Mode::Jellyfin);
    let url = jf.base_url();
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "plex,jellyfin"),
        ("PLEX_SERVER_MACHINE_ID", "abc"),
        ("JELLYFIN_SERVER_URL", &url),
    ]);
    let c = portal.client();
    let page = c.get("/").body;
    assert!(page.contains("data-provider=\"plex\"") && page.contains("data-provider=\"jellyfin\""));
    assert!(!page.contains("data-provider=\"emby\""));
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("<script>"),
        "{page}"
    );
    for asset in [
        "/static/styles.css",
        "/static/login.js",
        "/static/icons/plex.svg",
        "/static/icons/jellyfin.svg",
        "/static/favicon.svg",
    ] {
        let r = c.get(asset);
        assert_eq!(r.status, 200, "{asset}");
        assert!(
            !r.body.contains("https://")
                || asset.ends_with(".svg") && r.body.contains("http://www.w3.org/2000/svg"),
            "{asset}"
        );
    }
}

#[test]
fn login_page_warns_when_opened_on_another_address() {
    let jf = crate::fakes::jellyfin::FakeJellyfin::start(crate::fakes::jellyfin::Mode::Jellyfin);
    let portal =
        crate::media::jellyfin_portal(&jf, &[("APP_BASE_URL", "https://auth.example.com")]);
    let r = portal.client().get("/");
    assert!(
        r.body
            .contains("This portal's address is https://auth.example.com"),
        "{}",
        r.body
    );
    let right = crate::media::jellyfin_portal(&jf, &[]);
    assert!(!right.client().get("/").body.contains("portal's address"));
}

#[test]
fn sessions_survive_a_restart() {
    let jf = crate::fakes::jellyfin::FakeJellyfin::start(crate::fakes::jellyfin::Mode::Jellyfin);
    jf.add_user(crate::fakes::jellyfin::FakeUser::new("alice", "wonderland"));
    let portal = crate::media::jellyfin_portal(&jf, &[]);
    let c = portal.client();
    assert_eq!(
        crate::media::sign_in(&c, "jellyfin", "alice", "wonderland").status,
        303
    );
    let cookie = c.cookie("authportal_session").unwrap();
    let portal = portal.restart();
    let c = portal.client();
    c.set_cookie("authportal_session", &cookie);
    assert_eq!(c.get("/whoami").json()["username"], "alice");
}

#[test]
fn check_reports_configuration_and_reachability() {
    let jf = crate::fakes::jellyfin::FakeJellyfin::start(crate::fakes::jellyfin::Mode::Jellyfin);
    let dir = TempDir::new();
    let run = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
            .arg("check")
            .env("MEDIA_SERVER", "jellyfin")
            .env("JELLYFIN_SERVER_URL", url)
            .env("AUTHPORTAL_DATA_DIR", &dir.0)
            .env(
                "SESSION_SECRET",
                "a-secret-that-must-never-be-printed-0123456789",
            )
            .output()
            .unwrap()
    };
    let out = run(&jf.base_url());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("jellyfin") && text.contains("ok: Jellyfin 12"),
        "{text}"
    );
    assert!(text.contains("DATA_KEY"), "{text}");
    assert!(
        !text.contains("a-secret-that-must-never-be-printed"),
        "{text}"
    );
    let out = run("http://127.0.0.1:9");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED"));
}

#[test]
fn sigterm_stops_the_binary_gracefully_with_exit_0() {
    let dir = TempDir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
        .env("AUTHPORTAL_DATA_DIR", &dir.0)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_LEVEL", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = crate::harness::Client::new(&format!("http://127.0.0.1:{port}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the binary did not start listening"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(client.get("/healthz").status, 200);
    let kill = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
