//! Token endpoint vs a bare RS256 signature, measured in the same run.
//!
//! `cargo bench --bench token_endpoint` starts the real server on loopback with a temp
//! data dir, issues authorization codes through the library, then measures code
//! exchanges over HTTP (each signs one ID token) against signing the same claims
//! directly: first one at a time (latency), then as throughput (one signing thread per
//! CPU; two HTTP clients per CPU, in this same process). The throughput ratio says what share of the signing rate the
//! endpoint keeps after its HTTP, database and token work (target >= 0.8).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use authportal::db::users;
use authportal::oidc::clients::{self, ClientSpec};
use authportal::oidc::grants::{self, CodeGrant};
use authportal::providers::{Identity, ProviderKind};
use serde_json::json;

/// Exchanges (and signatures) per measurement.
const N: usize = 400;

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
                avatar: None,
                method: authportal::providers::FirstFactor::Password,
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
    // One client address makes all the calls: lift the token endpoint's limit.
    app.db
        .with_tx(|tx| {
            let lots = json!({ "burst": 100000, "per_minute": 100000 });
            let config = json!({ "rate_limits": { "token": lots } });
            let change = authportal::db::settings::Change {
                section: "security",
                expected_version: 0,
                config: &config,
                by: None,
                reason: Some("bench"),
            };
            authportal::db::settings::put(tx, &change, now)?.expect("first version");
            Ok(())
        })
        .unwrap();
    app.settings_changed();
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
                .collect::<authportal::error::Result<Vec<String>>>()
        })
        .unwrap();
    let (serial_codes, parallel_codes) = codes.split_at(N / 2);

    // Bare RS256 over claims of the same size as an ID token.
    let key = app.keys.active(&app.db, &app.sealer, now).unwrap();
    let claims = json!({"iss": base, "sub": "7d0f6a3e-4c1b-4f8e-9a2d-3b5c6d7e8f90", "aud": client.client_id, "exp": now + 3600,
        "iat": now, "auth_time": now, "nonce": "n", "amr": ["pwd"], "sid": "bench-session", "at_hash": "x".repeat(22),
        "preferred_username": "bench", "name": "bench", "groups": ["jellyfin-user"]});
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let half = N / 2;
    let sign_one = || {
        std::hint::black_box(key.sign(&claims));
    };
    let sign_serial = time(half, sign_one);
    let sign_parallel = parallel(workers, |_| {
        for _ in 0..half / workers {
            sign_one();
        }
    });

    let basic = authportal::crypto::b64(format!("{}:{secret}", client.client_id).as_bytes());
    let exchange = |agent: &ureq::Agent, code: &str| {
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
        let text = r.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(r.status(), 200, "{text}");
    };
    let agent = new_agent();
    let mut serial = serial_codes.iter();
    let token_serial = time(half, || exchange(&agent, serial.next().unwrap()));
    // Each client has its own keep-alive connection and its share of the codes; two per
    // CPU, so a CPU has work while the other request of its pair is on the wire.
    let clients = 2 * workers;
    let shares: Vec<&[String]> = parallel_codes.chunks(half / clients).collect();
    let token_parallel = parallel(clients, |w| {
        let agent = new_agent();
        for code in shares.get(w).copied().unwrap_or_default() {
            exchange(&agent, code);
        }
    });

    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / half as f64;
    let signed = (half / workers * workers) as f64;
    let exchanged = (half / clients * clients) as f64;
    println!(
        "bare RS256 sign ({} bits): {:.2} ms each; {:.0}/s with {workers} threads",
        key.bits(),
        ms(sign_serial),
        signed / sign_parallel.as_secs_f64()
    );
    println!(
        "token endpoint, code exchange over HTTP: {:.2} ms each; {:.0}/s with {clients} clients",
        ms(token_serial),
        exchanged / token_parallel.as_secs_f64()
    );
    println!(
        "latency ratio token endpoint / bare sign: {:.2} (lower is better)",
        token_serial.as_secs_f64() / sign_serial.as_secs_f64()
    );
    println!(
        "throughput ratio token endpoint / bare sign: {:.2} (target >= 0.8)",
        (exchanged / token_parallel.as_secs_f64()) / (signed / sign_parallel.as_secs_f64())
    );
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

fn new_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// How long `n` calls of `f` take, one after another.
fn time(n: usize, mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    started.elapsed()
}

/// How long `workers` threads take when each runs `f(worker)` (its share of the work).
fn parallel(workers: usize, f: impl Fn(usize) + Sync) -> Duration {
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..workers {
            let f = &f;
            s.spawn(move || f(w));
        }
    });
    started.elapsed()
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
