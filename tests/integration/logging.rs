//! The real binary's log at its default level: one access line per request except
//! allowed forward-auth answers (debug: a proxy asks for every asset), no line lost
//! through the log writer thread by the time SIGTERM has stopped the process, and the
//! writer's drop counter in /metrics. Request ids are each portal's own.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal, Resp, TempDir, fixture_key};
use crate::media::sign_in;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn verify(c: &Client) -> Resp {
    c.send(
        "GET",
        "/auth/verify",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
            ("X-Forwarded-Uri", "/"),
            ("X-Forwarded-Method", "GET"),
        ],
        None,
    )
}

#[test]
fn the_binary_logs_every_line_by_sigterm_and_allowed_forward_auth_at_debug() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let dir = TempDir::new();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = dir.0.join("stderr.log");
    // LOG_LEVEL is left at its default (info).
    let mut child = Command::new(env!("CARGO_BIN_EXE_authportal"))
        .arg("serve")
        .env_clear()
        .env("AUTHPORTAL_DATA_DIR", dir.0.join("data"))
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("APP_BASE_URL", &base)
        .env("MEDIA_SERVER", "jellyfin")
        .env("JELLYFIN_SERVER_URL", jf.base_url())
        .env("OIDC_SIGNING_KEY", fixture_key())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("the authportal binary starts");
    let anonymous = Client::new(&base);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !anonymous
        .try_send("GET", "/healthz", &[], None)
        .is_ok_and(|r| r.status == 200)
    {
        assert!(Instant::now() < deadline, "the portal did not get ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let alice = Client::new(&base);
    assert_eq!(
        sign_in(&alice, "jellyfin", "alice", "wonderland").status,
        303
    );

    const N: usize = 300;
    for _ in 0..N {
        assert_eq!(verify(&alice).status, 200);
        assert_eq!(verify(&anonymous).status, 401);
        assert_eq!(anonymous.get("/healthz").status, 200);
    }
    let metrics = anonymous.get("/metrics").body;
    assert!(
        metrics.contains("\nauthportal_log_lines_dropped_total 0\n"),
        "{metrics}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success(), "SIGTERM exits 0");

    let log = std::fs::read_to_string(&log_path).unwrap();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    // Every healthz after the first ready probe, and the one before the loop.
    assert!(count(" INFO req=") > 2 * N, "{log}");
    assert!(count("GET /healthz 200") > N, "{log}");
    assert_eq!(count("GET /auth/verify 401"), N, "denials stay at info");
    assert_eq!(count("/auth/verify 200"), 0, "allowed answers log at debug");
    assert!(
        log.lines()
            .last()
            .is_some_and(|l| l.ends_with(" INFO stopped")),
        "the last line before exit is written: {log}"
    );
}

/// The request ids of log lines (`req=`) count each portal's requests: two portals in one
/// process do not share one sequence.
#[test]
fn each_portal_numbers_its_own_requests() {
    let a = Portal::start(&[]);
    let b = Portal::start(&[]);
    for _ in 0..3 {
        assert_eq!(a.client().get("/healthz").status, 200);
    }
    assert_eq!(b.app().next_request_id(), "1");
    assert_eq!(a.app().next_request_id(), "4");
}
