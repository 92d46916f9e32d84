//! Data and measurements for `benches/scale.sh` (issue #20): a community of many users
//! made through the library's own functions (never hand-written SQL), and the parts of
//! a pass of re-validation that grow with it.
//!
//! `scale populate USERS EVENTS`  opens the data dir the environment names and adds
//!     USERS users (each with a Jellyfin identity, a sealed token and a live session;
//!     the first is an admin) and EVENTS audit events, then prints `admin_cookie=...`,
//!     `user_cookie=...` and `filter_user=NAME` for the script.
//! `scale select`                 times re-validation's selection of accounts to ask.
//! `scale revalidate-rate PORT SECS`  serves a stand-in Jellyfin on PORT (the environment's
//!     JELLYFIN_SERVER_URL must name it; it answers every account check with 500, and
//!     every sign-in is within the grace period, so nothing is revoked), starts a pass
//!     and prints the requests a second it sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authportal::crypto::tokens::{digest, new_id};
use authportal::db::{events, sessions, users};
use authportal::providers::{Identity, ProviderKind};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("populate") => populate(&args[1..]),
        Some("select") => select(),
        Some("revalidate-rate") => revalidate_rate(&args[1..]),
        // `cargo bench` runs every bench target with `--bench`: nothing to do unasked.
        _ => eprintln!(
            "usage: scale populate USERS EVENTS | scale select | scale revalidate-rate PORT SECS\n\
             (normally driven by benches/scale.sh)"
        ),
    }
}

fn die(msg: &str) -> ! {
    eprintln!("scale: {msg}");
    std::process::exit(1)
}

fn open() -> authportal::App {
    let cfg = authportal::Config::from_env().unwrap_or_else(|e| die(&e.to_string()));
    authportal::log::set_level(cfg.log_level);
    authportal::App::open(cfg).unwrap_or_else(|e| die(&e))
}

fn number(args: &[String], i: usize, what: &str) -> u64 {
    args.get(i)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or_else(|| die(&format!("{what}: a number")))
}

/// Rows written per transaction.
const BATCH: u64 = 2_000;

fn populate(args: &[String]) {
    let (n_users, n_events) = (number(args, 0, "USERS"), number(args, 1, "EVENTS"));
    let app = open();
    let now = app.clock.now();
    let mut cookies = Vec::new();
    let mut user_ids = Vec::new();
    let started = Instant::now();
    for first in (0..n_users).step_by(BATCH as usize) {
        app.db
            .with_tx(|tx| {
                for i in first..(first + BATCH).min(n_users) {
                    let ident = Identity {
                        provider: ProviderKind::Jellyfin,
                        provider_user_id: format!("{i:032x}"),
                        username: format!("member{i}"),
                        email: Some(format!("member{i}@example.com")),
                        groups: vec!["jellyfin-user".into()],
                        token: String::new(),
                        avatar: None,
                        method: authportal::providers::FirstFactor::Password,
                    };
                    let purpose = format!("provider-token:jellyfin:{}", ident.provider_user_id);
                    let sealed = app.sealer.seal(&purpose, format!("token{i}").as_bytes());
                    // Sign-ins spread over the last 20 hours (so the list has an order,
                    // and re-validation's default grace of 24 h keeps everyone when the
                    // stand-in Jellyfin answers 500: the measurement changes nothing).
                    let at = now - (i as i64 * 7919) % (20 * 3600);
                    let linked = users::record_sign_in(tx, &ident, Some(&sealed), at)?;
                    if i == 0 {
                        users::add_group(tx, linked.user_id, "admins", now)?;
                    }
                    let id = new_id();
                    sessions::create(
                        tx,
                        &sessions::NewSession {
                            digest: &digest(&id),
                            user_id: linked.user_id,
                            identity_id: linked.identity_id,
                            amr: &["pwd"],
                            auth_time: now,
                            mfa_at: None,
                            expires_at: now + 30 * 86_400,
                            ip: "10.0.0.1",
                            user_agent: Some("scale bench"),
                        },
                        now,
                    )?;
                    if i < 2 {
                        cookies.push(
                            authportal::web::cookies::Cookie::Session.sign(&app.cookies, &id),
                        );
                    }
                    user_ids.push(linked.user_id);
                }
                Ok(())
            })
            .unwrap_or_else(|e| die(&format!("adding users: {e}")));
    }
    eprintln!(
        "  {n_users} users with sessions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    use authportal::event_type::EventType;
    let kinds = [
        EventType::SigninSuccess,
        EventType::ForwardAuthDenied,
        EventType::TokenIssued,
        EventType::SigninFailure,
    ];
    for first in (0..n_events).step_by(BATCH as usize) {
        app.db
            .with_tx(|tx| {
                for i in first..(first + BATCH).min(n_events) {
                    let user = user_ids[(i as usize * 31) % user_ids.len()];
                    let ip = format!("10.{}.{}.{}", i % 7, (i / 7) % 250, i % 200);
                    let e = events::Event {
                        kind: kinds[i as usize % kinds.len()],
                        user_id: Some(user),
                        ip: Some(&ip),
                        result: if i % 4 == 3 { "failure" } else { "success" },
                        detail: serde_json::json!({
                            "provider": "jellyfin",
                            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0",
                        }),
                    };
                    // A million events over the last 30 days, oldest first.
                    let at = now - 30 * 86_400 + (i as i64 * 30 * 86_400) / n_events as i64;
                    events::record(tx, &e, at)?;
                }
                Ok(())
            })
            .unwrap_or_else(|e| die(&format!("adding events: {e}")));
    }
    eprintln!(
        "  {n_events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("admin_cookie=authportal_session={}", cookies[0]);
    println!(
        "user_cookie=authportal_session={}",
        cookies.get(1).unwrap_or(&cookies[0])
    );
    println!("filter_user=member{}", n_users / 2);
}

fn select() {
    let app = open();
    let conn = app.db.conn().unwrap_or_else(|e| die(&e.to_string()));
    let now = app.clock.now();
    let started = Instant::now();
    let found =
        authportal::db::revalidation::in_use(&conn, now).unwrap_or_else(|e| die(&e.to_string()));
    println!(
        "select_ms={:.1} accounts={}",
        started.elapsed().as_secs_f64() * 1000.0,
        found.len()
    );
}

fn revalidate_rate(args: &[String]) {
    let port = number(args, 0, "PORT");
    let secs = number(args, 1, "SECS");
    let checks = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&checks);
    let server = rouille::Server::new(format!("127.0.0.1:{port}"), move |req| {
        match req.url().as_str() {
            "/System/Info/Public" => rouille::Response::json(&serde_json::json!({
                "Id": "0123456789abcdef0123456789abcdef", "ServerName": "stand-in",
                "Version": "10.10.7", "ProductName": "Jellyfin Server",
                "StartupWizardCompleted": true })),
            "/Users/Me" => {
                counted.fetch_add(1, Ordering::Relaxed);
                rouille::Response::text("Error processing request.").with_status_code(500)
            }
            _ => rouille::Response::empty_404(),
        }
    })
    .unwrap_or_else(|e| die(&format!("stand-in Jellyfin: {e}")));
    std::thread::spawn(move || server.run());
    let app = open();
    std::thread::spawn(move || {
        let _ = authportal::revalidate::run_once(&app);
    });
    // From the first request on: the selection before it is measured by `select`.
    let first = Instant::now() + Duration::from_secs(120);
    while checks.load(Ordering::Relaxed) == 0 && Instant::now() < first {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let at_start = checks.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(secs));
    let sent = checks.load(Ordering::Relaxed) - at_start;
    println!(
        "requests_per_second={:.1}",
        sent as f64 / started.elapsed().as_secs_f64()
    );
    // The pass goes on for its interval; the measurement is done.
    std::process::exit(0);
}
