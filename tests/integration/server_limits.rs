//! The connection layer's limits under the real portal: connections per client address
//! (trusted proxies excepted), and upload bodies read (and one of the two large-body
//! slots taken) only for a same-origin console session.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::harness::Portal;
use crate::team;

/// A connection to the portal from `from` (any 127.x.y.z is loopback on Linux).
fn connect_from(portal: &Portal, from: &str) -> TcpStream {
    let to: SocketAddr = portal.base.trim_start_matches("http://").parse().unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let c: TcpStream = socket.into();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// `count` connections from `from` that each sent half a request head.
fn half_heads(portal: &Portal, from: &str, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut c = connect_from(portal, from);
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: portal\r\nUser-Agent: sl")
                .unwrap();
            c
        })
        .collect()
}

/// The status of a whole GET /healthz on `c`, or None if the server just closed.
fn healthz(mut c: TcpStream) -> Option<u16> {
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: portal\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    answer.split(' ').nth(1)?.parse().ok()
}

/// One address holds at most 64 connections (half heads here, so none can make way);
/// other addresses are served meanwhile.
#[test]
fn one_address_holds_at_most_64_connections() {
    let portal = Portal::start(&[]);
    let _held = half_heads(&portal, "127.0.0.9", 64);
    std::thread::sleep(Duration::from_millis(300));
    let refused = healthz(connect_from(&portal, "127.0.0.9"));
    assert!(matches!(refused, None | Some(429)), "{refused:?}");
    assert_eq!(healthz(connect_from(&portal, "127.0.0.10")), Some(200));
}

/// Behind a trusted proxy every client shares its address: it is not capped.
#[test]
fn a_trusted_proxy_is_not_capped() {
    let portal = Portal::start(&[("TRUSTED_PROXY_CIDRS", "127.0.0.11")]);
    let _held = half_heads(&portal, "127.0.0.11", 70);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(healthz(connect_from(&portal, "127.0.0.11")), Some(200));
}

/// Starts a 60 MB backup upload by hand, sends a little of it, and returns the status
/// the server answers with before the rest is sent.
fn start_upload(base: &str, headers: &str) -> (u16, BufReader<TcpStream>) {
    let host = base.trim_start_matches("http://");
    let mut c = TcpStream::connect(host).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "PUT /api/admin/backups/upload HTTP/1.1\r\nHost: {host}\r\n{headers}\
         Content-Type: application/octet-stream\r\nContent-Length: 60000000\r\n\r\n"
    );
    c.write_all(head.as_bytes()).unwrap();
    let _ = c.write_all(&[0u8; 4096]);
    let mut r = BufReader::new(c);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {line:?}"));
    (status, r)
}

/// Two anonymous slow uploads used to take both large-body slots before anyone
/// checked who sent them, and every real upload got a 503 meanwhile.
#[test]
fn anonymous_uploads_take_no_slot() {
    let s = team::setup(&[]);
    let root = s.user("root", "toor");
    let base = s.portal.base.clone();
    let origin = format!("Origin: {base}\r\n");
    let started = Instant::now();
    let mut held = Vec::new();
    for ip in ["203.0.113.7", "203.0.113.8"] {
        let (status, r) = start_upload(&base, &format!("{origin}X-Forwarded-For: {ip}\r\n"));
        assert_eq!(status, 401, "anonymous from {ip}");
        held.push(r);
    }
    // A valid session from another site gets no slot either.
    let session = root.cookie("authportal_session").unwrap();
    let (status, _) = start_upload(
        &base,
        &format!("Origin: http://evil.example\r\nCookie: authportal_session={session}\r\n"),
    );
    assert_eq!(status, 403);
    // Refused at once, from the head: nobody waited for 60 MB that never came.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The slots are free: a real (large) upload is read and judged by the route (it
    // is no backup: 400), not turned away with a 503.
    let r = root.send(
        "PUT",
        "/api/admin/backups/upload",
        &[("Content-Type", "application/octet-stream")],
        Some(vec![b'x'; 200_000]),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    drop(held);
}
