//! Token endpoint vs a bare RS256 signature, measured in the same run.
//!
//! `cargo bench --bench token_endpoint` starts the real server on loopback with a temp
//! data dir, issues authorization codes through the library, then times code exchanges
//! over HTTP (each signs one ID token) against signing the same claims directly. The
//! ratio says how much the endpoint adds on top of the signature it cannot avoid.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use authportal::db::users;
use authportal::oidc::clients::{self, ClientSpec};
use authportal::oidc::grants::{self, CodeGrant};
use authportal::providers::{Identity, ProviderKind};
use serde_json::json;

/// Within the token endpoint's per-IP burst (120), so the rate limit stays out of the way.
const N: usize = 100;

fn main() {
    let dir = std::env::temp_dir().join(format!("authportal-bench-{}", std::process::id()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let vars: BTreeMap<String, String> = [
        ("AUTHPORTAL_DATA_DIR", dir.display().to_string()),
        ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("APP_BASE_URL", base.clone()),
        (
            "LOG_LEVEL",
            std::env::var("BENCH_LOG").unwrap_or("error".into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let server = authportal::start(authportal::Config::from_vars(&vars).unwrap()).unwrap();
    let app = &server.app;
    let now = app.clock.now();

    let redirect = "https://app.example.com/cb";
    let (client, secret, user_id) = app
        .db
        .with_tx(|tx| {
            let ident = Identity {
                provider: ProviderKind::Jellyfin,
                provider_user_id: "bench".into(),
                username: "bench".into(),
                email: None,
                groups: vec!["jellyfin-user".into()],
                token: "x".into(),
            };
            let linked = users::record_sign_in(tx, &ident, None, now)?;
            let spec = ClientSpec {
                name: "bench".into(),
                redirect_uris: vec![redirect.into()],
                ..ClientSpec::default()
            };
            let (client, secret) = clients::create(tx, spec, now)?;
            Ok((client, secret.unwrap(), linked.user_id))
        })
        .unwrap();
    let scopes: Vec<String> = ["openid", "profile", "groups"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let amr = vec!["pwd".to_string()];
    let codes: Vec<String> = app
        .db
        .with_tx(|tx| {
            (0..N)
                .map(|_| {
                    let g = CodeGrant {
                        client: &client,
                        user_id,
                        sid: "bench-session",
                        redirect_uri: redirect,
                        scopes: &scopes,
                        nonce: Some("n"),
                        code_challenge: None,
                        auth_time: now,
                        amr: &amr,
                    };
                    grants::issue_code(tx, &g, now)
                })
                .collect()
        })
        .unwrap();

    // Bare RS256 over claims of the same size as an ID token.
    let key = app.keys.active(&app.db, &app.sealer, now).unwrap();
    let claims = json!({"iss": base, "sub": "7d0f6a3e-4c1b-4f8e-9a2d-3b5c6d7e8f90", "aud": client.client_id, "exp": now + 3600,
        "iat": now, "auth_time": now, "nonce": "n", "amr": ["pwd"], "sid": "bench-session", "at_hash": "x".repeat(22),
        "preferred_username": "bench", "name": "bench", "groups": ["jellyfin-user"]});
    let started = Instant::now();
    for _ in 0..N {
        std::hint::black_box(key.sign(&claims));
    }
    let sign = started.elapsed();

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let basic = authportal::crypto::b64(format!("{}:{secret}", client.client_id).as_bytes());
    let mut worst = Duration::ZERO;
    let started = Instant::now();
    for code in &codes {
        let t = Instant::now();
        let body = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}",
            url_encode(redirect)
        );
        let mut r = agent
            .post(format!("{base}/oidc/token"))
            .header("Authorization", format!("Basic {basic}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(body)
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "{}",
            r.body_mut().read_to_string().unwrap_or_default()
        );
        let _ = r.body_mut().read_to_string();
        worst = worst.max(t.elapsed());
    }
    let token = started.elapsed();

    let per = |d: Duration| d.as_secs_f64() * 1000.0 / N as f64;
    println!(
        "bare RS256 sign ({} bits): {:.2} ms each, {:.0}/s",
        key.bits(),
        per(sign),
        N as f64 / sign.as_secs_f64()
    );
    println!(
        "token endpoint, code exchange over HTTP: {:.2} ms each, {:.0}/s, worst {:.2} ms",
        per(token),
        N as f64 / token.as_secs_f64(),
        worst.as_secs_f64() * 1000.0
    );
    println!(
        "ratio token endpoint / bare sign: {:.2}",
        token.as_secs_f64() / sign.as_secs_f64()
    );
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
