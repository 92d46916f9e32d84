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
fn login_page_without_providers_explains_how_to_configure() {
    let portal = Portal::start(&[]);
    let r = portal.client().get("/");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("No media server is configured yet"));
    assert!(r.body.contains("MEDIA_SERVER="));
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
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.trim().strip_prefix("authportal ").unwrap();
    assert_eq!(
        v.split('.').filter(|p| p.parse::<u32>().is_ok()).count(),
        3,
        "{text}"
    );
}
