//! The OpenID Connect provider driven by a relying-party library the project did not
//! write: tests/e2e/oidc.mjs uses openid-client (OpenID-certified, by panva) for
//! discovery, the code flow with PKCE, ID token validation against the JWKS, userinfo,
//! refresh rotation, introspection, revocation and logout, with the person's part (the
//! Jellyfin popup and the consent page) in headless Chromium. Started here like
//! browser.rs, with a fake Jellyfin and a client registered through the library.
//! A second, independent RP: tests/rp/authlib_rp.py uses Python Authlib (from PyPI, in
//! target/authlib-venv, made by .ci/run) with two clients registered through the CLI,
//! one on client_secret_basic and one on client_secret_post.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use authportal::oidc::clients::{self, ClientSpec};

use crate::browser::{e2e_dir, run_node, run_with_timeout};
use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};

/// A loopback port nobody listens on now, for the script's own callback server.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn oidc_client_library_drives_the_full_flow() {
    let e2e = e2e_dir();
    assert!(
        e2e.join("node_modules/openid-client/package.json").exists(),
        "tests/e2e/node_modules/openid-client is missing: run `npm ci --prefix tests/e2e`"
    );
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let portal = crate::media::jellyfin_portal(&jf, &[]);

    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let post_logout = format!("http://127.0.0.1:{port}/logged-out");
    let spec = ClientSpec {
        name: "Test RP".into(),
        redirect_uris: vec![redirect.clone()],
        post_logout_redirect_uris: vec![post_logout.clone()],
        public: false,
        trusted: false,
        scopes: None,
        grant_types: None,
        ..Default::default()
    };
    let app = portal.app();
    let (client, secret) = app
        .db
        .with_tx(|tx| clients::create(tx, spec, app.clock.now()))
        .unwrap();
    let secret = secret.expect("a confidential client has a secret");

    let (ok, out, err) = run_node(
        &e2e,
        "oidc.mjs",
        &[
            &portal.base,
            &client.client_id,
            &secret,
            &redirect,
            "alice",
            "wonderland",
            &post_logout,
        ],
    );
    assert!(
        ok,
        "tests/e2e/oidc.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    // Shown with --nocapture: each check the script passed and the library's requests.
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");

    // What the run left behind. Three grants (code -> token family): the first code's
    // access and refresh token plus the rotation's pair, ended by the reuse; the second
    // code's pair, ended by revocation; the third code's pair (whose ID token the script
    // broke on purpose): its access token ended by the logout. prompt=none after logout issued nothing.
    let count = |sql: &str| portal.count(sql);
    assert_eq!(count("SELECT count(*) FROM oauth_codes"), 3, "three codes");
    assert_eq!(
        count("SELECT count(*) FROM oauth_codes WHERE used_at IS NULL"),
        0,
        "every code was redeemed"
    );
    assert_eq!(
        count("SELECT count(*) FROM oauth_tokens"),
        8,
        "4 access + 4 refresh tokens"
    );
    assert_eq!(
        count("SELECT count(DISTINCT family) FROM oauth_tokens"),
        3,
        "three grants"
    );
    assert_eq!(
        count("SELECT count(*) FROM oauth_tokens WHERE kind = 'refresh'"),
        4
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM oauth_tokens WHERE kind = 'refresh' AND rotated_at IS NOT NULL"
        ),
        1,
        "exactly one refresh token was rotated"
    );
    // The logout ends the session's tokens but not the third grant's offline_access
    // refresh token: that one ends on revocation, withdrawn consent or lost access.
    assert_eq!(
        count("SELECT count(*) FROM oauth_tokens WHERE revoked_at IS NULL"),
        1,
        "every token ended (reuse, revocation, logout) but one offline refresh token"
    );
    assert_eq!(
        count("SELECT count(*) FROM oauth_tokens WHERE revoked_at IS NULL AND kind = 'refresh'"),
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM oauth_consents"),
        1,
        "one consent, remembered for the second authorization"
    );
    assert_eq!(
        count("SELECT count(*) FROM sessions"),
        0,
        "the RP-initiated logout ended the portal session"
    );
    assert_eq!(jf.count("/Users/AuthenticateByName"), 1, "one sign-in");
}

/// The Python of the virtualenv .ci/run makes with tests/rp/requirements.txt; the test
/// fails (not skips) without it, or CI would pass without ever running Authlib.
fn authlib_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/authlib-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing, so the Authlib test cannot run: run `bash .ci/run` (it makes it), or by \
         hand: `python3 -m venv target/authlib-venv && target/authlib-venv/bin/pip install -r \
         tests/rp/requirements.txt`",
        python.display()
    );
    python
}

/// `authportal oauth-client create` against the running portal's data dir; returns the
/// client as the script wants it (client_id, client_secret, redirect URIs).
fn create_client_with_cli(
    portal: &crate::harness::Portal,
    name: &str,
    method: &str,
    rp: &str,
) -> serde_json::Value {
    let redirect = format!("{rp}/{method}/callback");
    let post_logout = format!("{rp}/{method}/logged-out");
    let out = Command::new(env!("CARGO_BIN_EXE_authportal"))
        .args(["oauth-client", "create", "--name", name])
        .args([
            "--redirect-uri",
            &redirect,
            "--post-logout-uri",
            &post_logout,
        ])
        .args(["--auth-method", method])
        .envs(
            portal
                .vars
                .iter()
                .filter(|(k, _)| k.as_str() != "LISTEN_ADDR"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "oauth-client create failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        created["token_endpoint_auth_methods"],
        serde_json::json!([method])
    );
    serde_json::json!({
        "client_id": created["client_id"],
        "client_secret": created["client_secret"],
        "redirect_uri": redirect,
        "post_logout_redirect_uri": post_logout,
    })
}

#[test]
fn authlib_drives_the_full_flow_with_basic_and_post_clients() {
    let python = authlib_python();
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let portal = crate::media::jellyfin_portal(&jf, &[]);
    // The application's address: the script stops at redirects there, as a browser
    // whose address bar the application reads; nothing needs to listen.
    let rp = format!("http://127.0.0.1:{}", free_port());
    let clients = serde_json::json!({
        "basic": create_client_with_cli(&portal, "Authlib basic", "client_secret_basic", &rp),
        "post": create_client_with_cli(&portal, "Authlib post", "client_secret_post", &rp),
    });

    let mut cmd = Command::new(python);
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rp/authlib_rp.py"))
        .args([&portal.base, "alice", "wonderland", &clients.to_string()]);
    let (ok, out, err) = run_with_timeout(cmd, "the Authlib script", Duration::from_secs(60));
    assert!(
        ok,
        "tests/rp/authlib_rp.py failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    // Shown with --nocapture: each check the script passed and Authlib's requests.
    println!("{out}");
    assert!(
        out.lines().last().is_some_and(|l| l.starts_with("PASS")),
        "{out}"
    );

    // What the run left behind. Three codes: A's first (its pair, the rotation's pair,
    // all ended when the old refresh token came back), B's (revoked), A's second after
    // signing in again (its access token ended by the logout by POST; its offline_access
    // refresh token lives on: it ends on revocation, withdrawn consent or lost access).
    let count = |sql: &str| portal.count(sql);
    assert_eq!(count("SELECT count(*) FROM oauth_codes"), 3, "three codes");
    assert_eq!(
        count("SELECT count(*) FROM oauth_codes WHERE used_at IS NULL"),
        0,
        "every code was redeemed"
    );
    assert_eq!(
        count("SELECT count(*) FROM oauth_tokens"),
        8,
        "4 access + 4 refresh tokens"
    );
    assert_eq!(
        count("SELECT count(DISTINCT family) FROM oauth_tokens"),
        3,
        "three grants"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM oauth_tokens WHERE kind = 'refresh' AND rotated_at IS NOT NULL"
        ),
        1,
        "exactly one refresh token was rotated"
    );
    assert_eq!(
        count("SELECT count(*) FROM oauth_tokens WHERE revoked_at IS NULL"),
        1,
        "every token ended but A's second offline refresh token"
    );
    assert_eq!(
        count("SELECT count(*) FROM oauth_consents"),
        2,
        "one consent per client"
    );
    assert_eq!(
        count("SELECT count(*) FROM sessions"),
        0,
        "both logouts ended their session"
    );
    assert_eq!(jf.count("/Users/AuthenticateByName"), 2, "two sign-ins");
}
