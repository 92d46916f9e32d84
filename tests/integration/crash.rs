//! Crash safety: the real `authportal` binary is killed with SIGKILL in the middle of a
//! write load (sign-ins, token grants, setting saves) again and again; afterwards the
//! database passes `PRAGMA integrity_check` and every write the server acknowledged
//! before a kill is there. Also: a damaged database is refused at start-up with a
//! message that says what to do.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, TempDir, fixture_key};
use crate::media::sign_in;

const KILLS: usize = 8;
/// Sign-in threads, and users (two per thread).
const USERS: usize = 6;

/// The portal as a child process on a data dir that outlives it.
struct Process {
    child: Child,
    base: String,
}

fn env_for(dir: &TempDir, jellyfin: &str, port: u16) -> Vec<(String, String)> {
    [
        ("AUTHPORTAL_DATA_DIR", dir.0.display().to_string()),
        ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("APP_BASE_URL", format!("http://127.0.0.1:{port}")),
        ("MEDIA_SERVER", "jellyfin".into()),
        ("JELLYFIN_SERVER_URL", jellyfin.into()),
        ("ADMIN_BOOTSTRAP_USERS", "root".into()),
        ("OIDC_SIGNING_KEY", fixture_key().into()),
        ("LOG_LEVEL", "error".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &TempDir, jellyfin: &str) -> Process {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_authportal"))
        .arg("serve")
        .env_clear()
        .envs(env_for(dir, jellyfin, port))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the authportal binary starts");
    let p = Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let probe = Client::new(&p.base);
    while Instant::now() < deadline {
        if probe
            .try_send("GET", "/readyz", &[], None)
            .is_ok_and(|r| r.status == 200)
        {
            return p;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the portal did not get ready");
}

/// Every write the portal acknowledged (a complete success response).
#[derive(Default)]
struct Acked {
    /// Session cookies of sign-ins.
    sessions: Vec<String>,
    /// (version, welcome text) of branding saves.
    saves: Vec<(i64, String)>,
    /// Access tokens from the token endpoint.
    tokens: Vec<String>,
}

fn signed_in(base: &str, user: &str) -> Client {
    let c = Client::new(base);
    let r = sign_in(&c, "jellyfin", user, "pw");
    assert_eq!(r.status, 303, "{}", r.body);
    c
}

fn put_json(c: &Client, path: &str, body: &Value) -> Result<crate::harness::Resp, String> {
    c.try_send(
        "PUT",
        path,
        &[("Content-Type", "application/json")],
        Some(body.to_string().into_bytes()),
    )
}

/// Runs the write load against `base` until the connection dies (the kill).
fn load(base: &str, client_id: &str, secret: &str, round: usize, acked: &Arc<Mutex<Acked>>) {
    let dead = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..3 {
        let (base, acked, dead) = (base.to_string(), Arc::clone(acked), Arc::clone(&dead));
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while !dead.load(Ordering::SeqCst) {
                let c = Client::new(&base);
                // Jellyfin keeps one token per user and device, so one user signing in
                // twice at once can lose the race: each thread has users of its own.
                let user = format!("u{}", t + 3 * (n % 2));
                n += 1;
                match c.try_send(
                    "POST",
                    "/auth/forward?provider=jellyfin",
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    Some(format!("username={user}&password=pw").into_bytes()),
                ) {
                    Ok(r) if r.status == 303 => {
                        let cookie = c.cookie("authportal_session").expect("a session cookie");
                        acked.lock().unwrap().sessions.push(cookie);
                    }
                    Ok(r) => panic!("sign-in answered {}: {}", r.status, r.body),
                    Err(_) => dead.store(true, Ordering::SeqCst),
                }
            }
        }));
    }
    {
        let (base, acked, dead) = (base.to_string(), Arc::clone(acked), Arc::clone(&dead));
        threads.push(std::thread::spawn(move || {
            let root = signed_in(&base, "root");
            let mut n = 0;
            while !dead.load(Ordering::SeqCst) {
                let Ok(current) = root.try_send("GET", "/api/admin/config/branding", &[], None)
                else {
                    break;
                };
                let version = current.json()["version"].as_i64().unwrap_or(0);
                let text = format!("round {round} save {n}");
                n += 1;
                let body = json!({ "version": version, "config": { "welcome_text": text } });
                match put_json(&root, "/api/admin/config/branding", &body) {
                    Ok(r) if r.status == 200 => {
                        let v = r.json()["version"].as_i64().unwrap();
                        acked.lock().unwrap().saves.push((v, text));
                    }
                    Ok(r) => panic!("a save answered {}: {}", r.status, r.body),
                    Err(_) => break,
                }
            }
            dead.store(true, Ordering::SeqCst);
        }));
    }
    for _ in 0..2 {
        let (base, acked, dead) = (base.to_string(), Arc::clone(acked), Arc::clone(&dead));
        let (id, secret) = (client_id.to_string(), secret.to_string());
        threads.push(std::thread::spawn(move || {
            let c = Client::new(&base);
            while !dead.load(Ordering::SeqCst) {
                let form =
                    format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
                match c.try_send(
                    "POST",
                    "/oidc/token",
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    Some(form.into_bytes()),
                ) {
                    Ok(r) if r.status == 200 => {
                        let token = r.json()["access_token"].as_str().unwrap().to_string();
                        acked.lock().unwrap().tokens.push(token);
                    }
                    Ok(r) => panic!("the token endpoint answered {}: {}", r.status, r.body),
                    Err(_) => dead.store(true, Ordering::SeqCst),
                }
            }
        }));
    }
    for t in threads {
        t.join().expect("a load thread failed");
    }
}

/// Creates the confidential client of the token load with the CLI (server stopped).
fn create_client(dir: &TempDir, jellyfin: &str) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_authportal"))
        .args([
            "oauth-client",
            "create",
            "--name",
            "load",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--grant-type",
            "client_credentials",
        ])
        .env_clear()
        .envs(env_for(dir, jellyfin, free_port()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["client_id"].as_str().unwrap().to_string(),
        v["client_secret"].as_str().unwrap().to_string(),
    )
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    stop_under_load("KILL", KILLS);
}

/// SIGTERM (systemd's stop) under load: the portal finishes what is in flight, exits 0,
/// and nothing it acknowledged is lost.
#[test]
fn sigterm_under_load_exits_cleanly_and_keeps_every_acknowledged_write() {
    stop_under_load("TERM", 3);
}

/// Stops the portal with `signal` in the middle of the write load `rounds` times, then
/// checks the database and every acknowledged write.
fn stop_under_load(signal: &'static str, rounds: usize) {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("root", "pw"));
    for i in 0..USERS {
        jf.add_user(FakeUser::new(&format!("u{i}"), "pw"));
    }
    let dir = TempDir::new();
    let jellyfin = jf.base_url();
    let (client_id, secret) = create_client(&dir, &jellyfin);

    // The load comes from one address: lift the limits (a setting, applied at once).
    let mut p = spawn(&dir, &jellyfin);
    let root = signed_in(&p.base, "root");
    let lots = json!({ "burst": 100000, "per_minute": 100000 });
    let r = put_json(
        &root,
        "/api/admin/config/security",
        &json!({ "version": 0, "config": { "rate_limits": {
            "signin": lots, "mfa": lots, "writes": lots, "token": lots } } }),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);

    let acked = Arc::new(Mutex::new(Acked::default()));
    for round in 0..rounds {
        let killer = {
            let pid = p.child.id();
            // Somewhere in the middle of the load; a different moment each round.
            let after = Duration::from_millis(250 + (round as u64 * 97) % 400);
            std::thread::spawn(move || {
                std::thread::sleep(after);
                // SIGKILL: no chance to finish anything. SIGTERM: a graceful stop.
                let status = Command::new("kill")
                    .args([format!("-{signal}"), pid.to_string()])
                    .status();
                assert!(status.unwrap().success());
            })
        };
        load(&p.base, &client_id, &secret, round, &acked);
        killer.join().unwrap();
        let status = exit_of(&mut p.child);
        if signal == "KILL" {
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(9),
                "killed, not stopped"
            );
        } else {
            assert_eq!(status.code(), Some(0), "a graceful stop exits 0: {status}");
        }
        p = spawn(&dir, &jellyfin);
    }

    // The file is whole...
    let db = rusqlite::Connection::open(dir.0.join("authportal.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    // ...and every acknowledged write is in it.
    let acked = acked.lock().unwrap();
    assert!(
        acked.sessions.len() > 20 && acked.saves.len() > 5 && acked.tokens.len() > 20,
        "the load wrote too little to prove anything: {} sessions, {} saves, {} tokens",
        acked.sessions.len(),
        acked.saves.len(),
        acked.tokens.len()
    );
    for cookie in &acked.sessions {
        let c = Client::new(&p.base);
        c.set_cookie("authportal_session", cookie);
        let who = c.get("/whoami").json();
        assert_eq!(
            who["authenticated"], true,
            "a session acknowledged before a kill is gone"
        );
    }
    for (version, text) in &acked.saves {
        let found: i64 = db
            .query_row(
                "SELECT count(*) FROM settings_history WHERE section = 'branding' AND version = ?1 \
                 AND json_extract(config_json, '$.welcome_text') = ?2",
                rusqlite::params![version, text],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1, "branding version {version} ({text}) is gone");
    }
    let c = Client::new(&p.base);
    for token in &acked.tokens {
        let form = format!("token={token}&client_id={client_id}&client_secret={secret}");
        let r = c.send(
            "POST",
            "/oidc/introspect",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(form.into_bytes()),
        );
        assert_eq!(
            r.json()["active"],
            true,
            "a token acknowledged before a kill is gone"
        );
    }
    println!(
        "{rounds} stops with SIG{signal}: {} sessions, {} setting saves, {} tokens acknowledged, all present; integrity ok",
        acked.sessions.len(),
        acked.saves.len(),
        acked.tokens.len()
    );
    let _ = p.child.kill();
    let _ = p.child.wait();
}

/// The process's exit status; a stop that takes over 30 s is a failure, not a hang.
fn exit_of(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the portal did not stop within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_damaged_database_is_refused_with_what_to_do() {
    let dir = TempDir::new();
    // A portal database, then garbage over its pages (the header stays readable).
    {
        let mut p = spawn(&dir, "http://127.0.0.1:9");
        p.child.kill().unwrap();
        p.child.wait().unwrap();
        // What the killed process left in the WAL goes into the file first.
        damage(&dir.0.join("authportal.db"));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_authportal"))
        .arg("serve")
        .env_clear()
        .envs(env_for(&dir, "http://127.0.0.1:9", free_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is damaged") && err.contains("authportal restore"),
        "{err}"
    );
    // Not a database at all.
    std::fs::write(dir.0.join("authportal.db"), vec![b'x'; 10_000]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_authportal"))
        .arg("serve")
        .env_clear()
        .envs(env_for(&dir, "http://127.0.0.1:9", free_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is damaged"), "{err}");
}

/// Moves what a killed process left in the WAL into the file, then overwrites every page
/// after the first with garbage (the header stays readable).
fn damage(path: &std::path::Path) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(db);
    let mut bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 8192);
    for b in &mut bytes[4096..] {
        *b = 0x5a;
    }
    std::fs::write(path, bytes).unwrap();
}

/// A start after a clean stop does not read the whole file (time linear in the data);
/// one after a kill does; `authportal check --db` reads it whenever asked.
#[test]
fn only_a_start_after_an_unclean_stop_or_check_db_reads_the_whole_file() {
    let dir = TempDir::new();
    let marker = dir.0.join("authportal.db.running");
    let mut p = spawn(&dir, "http://127.0.0.1:9");
    assert!(marker.exists(), "a running server leaves the marker");
    let status = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status();
    assert!(status.unwrap().success());
    assert!(exit_of(&mut p.child).success());
    assert!(!marker.exists(), "a clean stop removes the marker");

    let check_db = || {
        Command::new(env!("CARGO_BIN_EXE_authportal"))
            .args(["check", "--db"])
            .env_clear()
            .envs(env_for(&dir, "http://127.0.0.1:9", free_port()))
            .output()
            .unwrap()
    };
    let out = check_db();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));

    damage(&dir.0.join("authportal.db"));
    let out = check_db();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("is damaged") && said.contains("authportal restore"),
        "{said}"
    );
    // The same file after a kill (the marker left behind) is refused at start.
    std::fs::write(&marker, b"").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_authportal"))
        .arg("serve")
        .env_clear()
        .envs(env_for(&dir, "http://127.0.0.1:9", free_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is damaged"));
}
