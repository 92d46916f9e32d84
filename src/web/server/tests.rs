//! The server over real sockets: keep-alive, pipelining, framing, uploads, slow and
//! greedy clients, stopping.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;

use super::*;

struct TestServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn test_limits() -> Limits {
    Limits {
        idle_timeout: Duration::from_millis(600),
        head_timeout: Duration::from_millis(400),
        body_timeout: Duration::from_millis(400),
        ..Limits::default()
    }
}

/// Answers `METHOD URL body-length [X-Test header]`; `/panic` panics, `/sleep` sleeps.
fn start(limits: Limits) -> TestServer {
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let handler = Arc::new(|req: &Request| {
        let mut body = Vec::new();
        if let Some(mut data) = req.data() {
            data.read_to_end(&mut body).unwrap();
        }
        match req.url().as_str() {
            "/panic" => panic!("test handler panic"),
            "/sleep" => std::thread::sleep(Duration::from_millis(100)),
            "/big" => {
                return Response::from_data("application/octet-stream", vec![b'x'; 3 << 20]);
            }
            "/half" => {
                return Response::from_data("application/octet-stream", vec![b'h'; 512 << 10]);
            }
            _ => {}
        }
        let x = req.header("X-Test").unwrap_or("-");
        Response::text(format!(
            "{} {} {} {x}",
            req.method(),
            req.raw_url(),
            body.len()
        ))
    });
    let thread = serve(listener, limits, Arc::clone(&stop), handler).unwrap();
    TestServer {
        addr,
        stop,
        thread: Some(thread),
    }
}

fn connect(s: &TestServer) -> TcpStream {
    let c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// Reads one response: status, headers (lower-cased names), body.
fn read_response(r: &mut impl BufRead) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .unwrap_or_else(|| panic!("status line {line:?}"))
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(": ").unwrap();
        headers.push((k.to_ascii_lowercase(), v.to_string()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    (status, headers, body)
}

fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether the server closed its side (EOF, or reset after an error answer).
fn closed(r: &mut impl Read) -> bool {
    let mut b = [0u8; 1];
    !matches!(r.read(&mut b), Ok(n) if n > 0)
}

fn exchange(s: &TestServer, request: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut c = connect(s);
    c.write_all(request).unwrap();
    read_response(&mut io::BufReader::new(c))
}

#[test]
fn keep_alive_and_pipelining_answer_in_order() {
    let s = start(test_limits());
    let c = connect(&s);
    let mut r = io::BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    w.write_all(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let (status, headers, body) = read_response(&mut r);
    assert_eq!((status, body.as_slice()), (200, b"GET /one 0 -".as_slice()));
    assert!(get(&headers, "date").is_some() && get(&headers, "connection").is_none());
    // Three requests in one write, the middle one with a body.
    w.write_all(
        b"GET /two HTTP/1.1\r\nHost: a\r\n\r\nPOST /three HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
          GET /four HTTP/1.1\r\nHost: a\r\nX-Test: yes\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_response(&mut r).2, b"GET /two 0 -");
    assert_eq!(read_response(&mut r).2, b"POST /three 3 -");
    let (_, headers, body) = read_response(&mut r);
    assert_eq!(body, b"GET /four 0 yes");
    assert_eq!(get(&headers, "connection"), Some("close"));
    assert!(closed(&mut r));
}

#[test]
fn http10_head_and_expect() {
    let s = start(test_limits());
    let mut c = connect(&s);
    c.write_all(b"GET /old HTTP/1.0\r\n\r\n").unwrap();
    let mut r = io::BufReader::new(c);
    let (status, headers, body) = read_response(&mut r);
    assert_eq!((status, body.as_slice()), (200, b"GET /old 0 -".as_slice()));
    assert_eq!(get(&headers, "connection"), Some("close"));
    assert!(closed(&mut r));

    let c = connect(&s);
    let mut r = io::BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    w.write_all(b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD /h HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let (_, headers, _) = read_response(&mut r);
    assert_eq!(get(&headers, "connection"), Some("keep-alive"));
    // HEAD: the length of what GET would send, and no body (the next read is a new response).
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"));
    let mut rest = String::new();
    while !rest.ends_with("\r\n\r\n") {
        r.read_line(&mut rest).unwrap();
    }
    assert!(
        rest.to_ascii_lowercase().contains("content-length: 11\r\n"),
        "{rest}"
    );
    w.write_all(b"GET /after HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r).2, b"GET /after 0 -");

    let c = connect(&s);
    let mut r = io::BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    w.write_all(
        b"POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    r.read_line(&mut line).unwrap();
    w.write_all(b"body").unwrap();
    assert_eq!(read_response(&mut r).2, b"POST /e 4 -");
}

#[test]
fn chunked_request_bodies() {
    let s = start(test_limits());
    let (status, _, body) = exchange(
        &s,
        b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
    );
    assert_eq!((status, body.as_slice()), (200, b"POST /c 5 -".as_slice()));
    // Bare LFs in a body are data, even in the same packet as the head.
    let (status, _, body) = exchange(
        &s,
        b"PUT /b HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n\x89PNG\r\n\x1a\n",
    );
    assert_eq!((status, body.as_slice()), (200, b"PUT /b 8 -".as_slice()));
    let (status, _, _) = exchange(
        &s,
        b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\n\n\r\n0\r\n\r\n",
    );
    assert_eq!(status, 200);
    let mut c = connect(&s);
    c.write_all(b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 40_000, "y".repeat(40_000));
    c.write_all(chunk.as_bytes()).unwrap();
    // Over the limit: refused without waiting for the rest.
    c.write_all(chunk.as_bytes()).unwrap();
    let mut r = io::BufReader::new(c);
    assert_eq!(read_response(&mut r).0, 413);
    assert!(closed(&mut r));
}

#[test]
fn upload_routes_take_larger_bodies() {
    let s = start(Limits {
        uploads: &["/up/"],
        ..test_limits()
    });
    let big = vec![b'u'; 1 << 20];
    for (path, expected) in [("/up/file", 200), ("/up", 413), ("/other", 413)] {
        let mut c = connect(&s);
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            big.len()
        );
        c.write_all(head.as_bytes()).unwrap();
        let _ = c.write_all(&big);
        let (status, _, body) = read_response(&mut io::BufReader::new(c));
        assert_eq!(status, expected, "{path}");
        if status == 200 {
            assert_eq!(body, format!("PUT {path} {} -", big.len()).into_bytes());
        }
    }
}

#[test]
fn large_uploads_wait_for_a_slot() {
    let s = start(Limits {
        uploads: &["/up/"],
        upload_slots: 1,
        ..test_limits()
    });
    let big = 1 << 20;
    let head =
        |len: usize| format!("PUT /up/file HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n");
    // The first large upload holds the only slot while its body trickles in (its
    // 100 Continue says the slot is taken)...
    let mut first = connect(&s);
    first
        .write_all(
            head(big)
                .replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut interim = [0u8; 25];
    first.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    first.write_all(&vec![b'u'; 1000]).unwrap();
    // ...so a second one is turned away at once, unread; a small body still passes.
    let mut second = connect(&s);
    second.write_all(head(big).as_bytes()).unwrap();
    assert_eq!(read_response(&mut io::BufReader::new(second)).0, 503);
    let (status, _, _) = exchange(
        &s,
        head(10)
            .replace("\r\n\r\n", "\r\n\r\n0123456789")
            .as_bytes(),
    );
    assert_eq!(status, 200);
    first.write_all(&vec![b'u'; big - 1000]).unwrap();
    assert_eq!(read_response(&mut io::BufReader::new(first)).0, 200);
    // Given back: the next large upload gets through.
    let mut third = connect(&s);
    third.write_all(head(big).as_bytes()).unwrap();
    third.write_all(&vec![b'u'; big]).unwrap();
    assert_eq!(read_response(&mut io::BufReader::new(third)).0, 200);
}

#[test]
fn hostile_requests_get_an_answer_and_a_close() {
    let s = start(test_limits());
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "a".repeat(HEAD_LIMIT)
    );
    let endless = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}",
        "a".repeat(HEAD_LIMIT * 2)
    );
    let cases: [(&[u8], u16); 6] = [
        (huge.as_bytes(), 431),
        (endless.as_bytes(), 431),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: nope\r\n\r\n",
            400,
        ),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
        ),
        (b"GET / HTTP/3.0\r\n\r\n", 505),
    ];
    for (request, expected) in cases {
        let mut c = connect(&s);
        c.write_all(request).unwrap();
        let mut r = io::BufReader::new(c);
        let (status, headers, _) = read_response(&mut r);
        assert_eq!(
            status,
            expected,
            "{:?}",
            String::from_utf8_lossy(&request[..40.min(request.len())])
        );
        assert_eq!(get(&headers, "connection"), Some("close"));
        assert!(closed(&mut r));
    }
    // A body over the limit is refused from its Content-Length, unread; the client
    // still gets the answer although it keeps sending.
    let mut c = connect(&s);
    c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n")
        .unwrap();
    let _ = c.write_all(&vec![b'z'; 200_000]);
    assert_eq!(read_response(&mut io::BufReader::new(c)).0, 413);
}

/// Requests a proxy in front may frame differently from us (request smuggling):
/// each is refused with a 400 (501 for an unknown coding) and the connection closed,
/// so whatever follows is never read as a request.
#[test]
fn smuggling_ambiguities_get_400_and_a_close() {
    let s = start(test_limits());
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let cases: &[(&str, u16)] = &[
        // bare LF line ends in the head
        ("POST / HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello", 400),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\n\r\nhello",
            400,
        ),
        ("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        // a target naming another host than Host
        ("GET http://admin.example/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        // obs-fold, whitespace before the colon, control characters
        (
            "POST / HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\x00\r\n\r\nhello",
            400,
        ),
        // both framings, duplicated or listed lengths
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 50\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
            400,
        ),
        // a Transfer-Encoding that is there but empty must not fall back to Content-Length
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\nhello",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, \r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
            501,
        ),
        // chunk-size lines
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x\ry\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n",
            400,
        ),
        // trailers
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\x00b\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nno colon\r\n\r\n",
            400,
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\n",
            400,
        ),
    ];
    for &(request, expected) in cases {
        let mut c = connect(&s);
        c.write_all(request.as_bytes()).unwrap();
        let _ = c.write_all(smuggled.as_bytes());
        let mut r = io::BufReader::new(c);
        let (status, headers, _) = read_response(&mut r);
        assert_eq!(status, expected, "{request:?}");
        assert_eq!(get(&headers, "connection"), Some("close"), "{request:?}");
        assert!(closed(&mut r), "{request:?}");
    }
}

#[test]
fn slow_clients_time_out() {
    let s = start(test_limits());
    // Slowloris: a head that never ends, sent a byte at a time.
    let mut c = connect(&s);
    let started = Instant::now();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(100));
        if c.write_all(b"X").is_err() {
            break;
        }
    }
    let mut r = io::BufReader::new(c);
    assert_eq!(read_response(&mut r).0, 408);
    assert!(started.elapsed() < Duration::from_millis(1500));
    // A body that never comes.
    let mut c = connect(&s);
    c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    assert_eq!(read_response(&mut io::BufReader::new(c)).0, 408);
    // An idle connection is closed without a word.
    let mut c = connect(&s);
    let started = Instant::now();
    assert!(closed(&mut c));
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_millis(500) && idle < Duration::from_secs(2),
        "{idle:?}"
    );
}

#[test]
fn large_responses_and_panics() {
    let s = start(test_limits());
    let c = connect(&s);
    let mut r = io::BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    w.write_all(b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\nGET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r).0, 500);
    let (status, _, body) = read_response(&mut r);
    assert_eq!((status, body.len()), (200, 3 << 20));
    w.write_all(b"GET /still HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r).2, b"GET /still 0 -");
}

/// The reason for this module: many keep-alive connections opened at once are all
/// served (tiny_http queued most of them behind a few threads until others closed).
#[test]
fn every_connection_of_a_burst_is_answered() {
    let s = start(test_limits());
    let mut conns: Vec<TcpStream> = (0..64).map(|_| connect(&s)).collect();
    for round in 0..3 {
        let started = Instant::now();
        for c in &mut conns {
            c.write_all(b"GET /sleep HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap();
        }
        for c in &mut conns {
            let mut r = io::BufReader::new(&mut *c);
            assert_eq!(read_response(&mut r).0, 200);
        }
        // 64 handlers sleeping 100 ms, 16 at a time: 4 rounds of 100 ms, not 5 s timeouts.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "round {round}: {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn at_the_connection_cap_everyone_gets_a_turn() {
    let s = start(Limits {
        max_connections: 2,
        ..test_limits()
    });
    let mut conns: Vec<TcpStream> = (0..5).map(|_| connect(&s)).collect();
    let started = Instant::now();
    for (i, c) in conns.iter_mut().enumerate() {
        // Connections closed to make room are answered on a new one.
        let request = format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n");
        c.write_all(request.as_bytes()).unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let (status, headers, body) = read_response(&mut io::BufReader::new(&mut *c));
        assert_eq!((status, body), (200, format!("GET /{i} 0 -").into_bytes()));
        // The first two are asked to close when the accept loop already waits with
        // others queued; on a loaded machine they may be answered before that.
        if i < 2 {
            let close = get(&headers, "connection");
            assert!(close.is_none() || close == Some("close"), "connection {i}");
        }
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A client socket bound to `from` (any 127.x.y.z is loopback on Linux), so one test
/// can be several client addresses.
fn connect_from(s: &TestServer, from: &str) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&s.addr.into()).unwrap();
    let c: TcpStream = socket.into();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// Half a head: a request that never finishes.
const HALF_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: slo";

/// Slow-loris at the connection cap: half heads fill every slot and more wait, yet
/// a well-behaved client is answered at once, because the slowest partial requests
/// are closed to make room (before, it waited for their head timeout).
#[test]
fn slow_partial_requests_make_way_when_full() {
    let s = start(Limits {
        max_connections: 8,
        per_address: 1000,
        head_timeout: Duration::from_secs(30),
        min_rate: 0,
        ..test_limits()
    });
    let slow: Vec<TcpStream> = (0..30)
        .map(|_| {
            let mut c = connect(&s);
            c.write_all(HALF_HEAD).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for round in 0..3 {
        let started = Instant::now();
        let mut c = connect(&s);
        c.write_all(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let (status, _, body) = read_response(&mut io::BufReader::new(c));
        assert_eq!((status, body.as_slice()), (200, b"GET /ok 0 -".as_slice()));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "round {round}: {:?}",
            started.elapsed()
        );
    }
    // The ones closed were slow ones: each gets an end of stream, no answer.
    let ended = |mut c: &TcpStream| {
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut b = [0u8; 1];
        match c.read(&mut b) {
            Ok(n) => n == 0,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        }
    };
    let closed_slow = slow.iter().filter(|c| ended(c)).count();
    assert!(closed_slow >= 3, "{closed_slow}");
}

/// A keep-alive client keeps its connection while slow requests are closed around
/// it (the crowd is told to make way only when there is nothing slow to close).
#[test]
fn keep_alive_survives_a_slow_crowd() {
    let s = start(Limits {
        max_connections: 8,
        per_address: 1000,
        head_timeout: Duration::from_secs(30),
        min_rate: 0,
        ..test_limits()
    });
    let c = connect(&s);
    let mut r = io::BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    let _slow: Vec<TcpStream> = (0..30)
        .map(|_| {
            let mut c = connect(&s);
            c.write_all(HALF_HEAD).unwrap();
            c
        })
        .collect();
    for i in 0..20 {
        let started = Instant::now();
        w.write_all(b"GET /ka HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let (status, headers, _) = read_response(&mut r);
        assert_eq!(status, 200);
        assert_eq!(get(&headers, "connection"), None, "request {i}");
        assert!(started.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn connections_per_address_are_capped() {
    let s = start(Limits {
        per_address: 3,
        head_timeout: Duration::from_secs(30),
        min_rate: 0,
        ..test_limits()
    });
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut c = connect_from(&s, "127.0.0.1");
            c.write_all(HALF_HEAD).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // A fourth from the same address is turned away...
    let mut fourth = connect_from(&s, "127.0.0.1");
    let _ = fourth.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut r = io::BufReader::new(fourth);
    let mut line = String::new();
    let refused = match r.read_line(&mut line) {
        Ok(0) | Err(_) => true,
        Ok(_) => line.starts_with("HTTP/1.1 429 "),
    };
    assert!(refused, "{line:?}");
    // ...another address is not,
    let mut other = connect_from(&s, "127.0.0.2");
    other
        .write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut io::BufReader::new(other)).0, 200);
    // and once one of the three closes, the address may connect again.
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(200));
    let mut again = connect_from(&s, "127.0.0.1");
    again
        .write_all(b"GET /y HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut io::BufReader::new(again)).0, 200);
    // At the cap, an idle connection of the same address makes way for a new one (a
    // client's keep-alive pool, a household behind one address); partials do not.
    std::thread::sleep(Duration::from_millis(200));
    let mut idle = connect_from(&s, "127.0.0.1");
    std::thread::sleep(Duration::from_millis(300));
    let mut newer = connect_from(&s, "127.0.0.1");
    newer
        .write_all(b"GET /z HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut io::BufReader::new(newer)).0, 200);
    assert!(closed(&mut idle));
}

/// All clients of a trusted proxy share its address: it is not capped.
#[test]
fn trusted_proxies_are_not_capped() {
    let s = start(Limits {
        per_address: 2,
        trusted_proxies: vec![Cidr::parse("127.0.0.0/8").unwrap()],
        ..test_limits()
    });
    let mut conns: Vec<TcpStream> = (0..6).map(|_| connect(&s)).collect();
    for c in &mut conns {
        c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    }
    for c in &mut conns {
        assert_eq!(read_response(&mut io::BufReader::new(&mut *c)).0, 200);
    }
}

/// Heads and bodies trickled below the data rate are answered 408 long before
/// their timeouts; a client above it is served.
#[test]
fn requests_below_the_data_rate_are_dropped() {
    let s = start(Limits {
        head_timeout: Duration::from_secs(20),
        body_timeout: Duration::from_secs(20),
        min_rate: 100,
        rate_grace: Duration::from_millis(300),
        ..test_limits()
    });
    let trickle = |c: &mut TcpStream, byte: &[u8]| {
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(50));
            if c.write_all(byte).is_err() {
                break;
            }
        }
    };
    // A head, a byte every 50 ms (20 B/s).
    let started = Instant::now();
    let mut c = connect(&s);
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX: ").unwrap();
    trickle(&mut c, b"x");
    assert_eq!(read_response(&mut io::BufReader::new(c)).0, 408);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // A body, the same way.
    let started = Instant::now();
    let mut c = connect(&s);
    c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    trickle(&mut c, b"y");
    assert_eq!(read_response(&mut io::BufReader::new(c)).0, 408);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // 1000 bytes over 500 ms (2 kB/s) pass.
    let mut c = connect(&s);
    c.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(50));
        c.write_all(&[b'z'; 100]).unwrap();
    }
    assert_eq!(
        read_response(&mut io::BufReader::new(c)).2,
        b"POST / 1000 -"
    );
}

/// One large-body slot per client address: a second upload from the same address
/// is turned away while another address still gets the free slot.
#[test]
fn one_upload_slot_per_address() {
    let s = start(Limits {
        uploads: &["/up/"],
        upload_slots: 2,
        ..test_limits()
    });
    let head = "PUT /up/file HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n";
    let mut first = connect_from(&s, "127.0.0.1");
    first.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    first.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    let mut second = connect_from(&s, "127.0.0.1");
    second.write_all(head.as_bytes()).unwrap();
    assert_eq!(read_response(&mut io::BufReader::new(second)).0, 503);
    let mut third = connect_from(&s, "127.0.0.3");
    third.write_all(head.as_bytes()).unwrap();
    third.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// The upload check runs on the head: a refused sender is answered at once, its
/// body unread, and takes no slot; an accepted one is served as before.
#[test]
fn upload_check_runs_before_a_slot_is_taken() {
    let check = UploadCheck(Arc::new(|req: &Request| match req.header("Cookie") {
        Some("ok") => Ok(()),
        _ => Err(Response::text("sign in first").with_status_code(401)),
    }));
    let s = start(Limits {
        uploads: &["/up/"],
        upload_slots: 1,
        upload_check: Some(check),
        ..test_limits()
    });
    let big = 1_000_000;
    let head = |cookie: &str| {
        format!(
            "PUT /up/file HTTP/1.1\r\nHost: a\r\nCookie: {cookie}\r\nContent-Length: {big}\r\n\r\n"
        )
    };
    // Anonymous (and slow: the body never comes): 401 at once, then closed.
    let mut anonymous = Vec::new();
    for from in ["127.0.0.4", "127.0.0.5"] {
        let mut c = connect_from(&s, from);
        c.write_all(head("no").as_bytes()).unwrap();
        c.write_all(b"some of the body").unwrap();
        let mut r = io::BufReader::new(c);
        let (status, _, body) = read_response(&mut r);
        assert_eq!(
            (status, body.as_slice()),
            (401, b"sign in first".as_slice())
        );
        anonymous.push(r);
    }
    // The only slot is still free for a real upload.
    let mut c = connect_from(&s, "127.0.0.6");
    c.write_all(head("ok").as_bytes()).unwrap();
    c.write_all(&vec![b'u'; big]).unwrap();
    let (status, _, body) = read_response(&mut io::BufReader::new(c));
    assert_eq!(
        (status, body),
        (200, format!("PUT /up/file {big} -").into_bytes())
    );
    for mut r in anonymous {
        assert!(closed(&mut r));
    }
    // Small bodies to other routes are not asked about.
    let (status, _, _) = exchange(
        &s,
        b"POST /other HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(status, 200);
}

#[test]
fn stops_promptly_with_idle_connections_open() {
    let mut s = start(Limits {
        idle_timeout: Duration::from_secs(60),
        ..Limits::default()
    });
    let mut c = connect(&s);
    c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut r = io::BufReader::new(c.try_clone().unwrap());
    assert_eq!(read_response(&mut r).0, 200);
    let started = Instant::now();
    s.stop.store(true, Ordering::SeqCst);
    s.thread.take().unwrap().join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(closed(&mut r));
}

/// A client whose receive buffer is small, so the server's writes wait for it to read
/// (the kernel would otherwise take megabytes on loopback).
fn connect_narrow(s: &TestServer) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&s.addr.into()).unwrap();
    let c: TcpStream = socket.into();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// Pipelined requests for large answers (more than the kernel's buffers hold), read
/// 1 KiB every 50 ms: the connection is closed once its writes have waited
/// `write_grace` beyond what the bytes earn at the least rate (before, a 30 s write
/// timeout restarted on every write, forever). Its thread ends within the bound; the
/// client may still read what the kernel holds, but never the rest.
#[test]
fn a_client_that_reads_a_trickle_is_closed() {
    let s = start(Limits {
        min_write_rate: 64 * 1024,
        write_grace: Duration::from_millis(500),
        ..test_limits()
    });
    // (request, times pipelined, answer body size)
    let cases: [(&[u8], usize, usize); 2] = [
        // Streamed from its source (over SINGLE_WRITE_MAX), and in one buffer.
        (b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n", 8, 3 << 20),
        (b"GET /half HTTP/1.1\r\nHost: a\r\n\r\n", 40, 512 << 10),
    ];
    for (request, times, size) in cases {
        let reader_closes = || slow_closes()[1].1;
        let before = reader_closes();
        let started = Instant::now();
        let mut c = connect_narrow(&s);
        c.write_all(&request.repeat(times)).unwrap();
        let mut buf = [0u8; 1024];
        let mut read = 0;
        // 20 KiB/s, under the floor of 64.
        while reader_closes() == before && started.elapsed() < Duration::from_secs(8) {
            read += c.read(&mut buf).unwrap_or(0);
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "closed after {:?}, {read} bytes",
            started.elapsed()
        );
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        let asked = times * size;
        assert!(
            read + rest.len() < asked,
            "{} of {asked}",
            read + rest.len()
        );
    }
}

/// A slow but honest link (well above the floor) gets every byte of a large answer.
#[test]
fn an_honest_slow_reader_gets_the_whole_answer() {
    let s = start(Limits {
        min_write_rate: 64 * 1024,
        write_grace: Duration::from_millis(300),
        ..test_limits()
    });
    let mut c = connect_narrow(&s);
    c.write_all(&b"GET /half HTTP/1.1\r\nHost: a\r\n\r\n".repeat(2))
        .unwrap();
    // 16 KiB every 50 ms: ~300 KiB/s, with its pauses.
    let mut r = io::BufReader::with_capacity(16 * 1024, c);
    for _ in 0..2 {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line:?}");
        let mut len = 0;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length: ") {
                len = v.trim().parse().unwrap();
            }
        }
        assert_eq!(len, 512 << 10);
        let mut left = len;
        while left > 0 {
            let mut chunk = vec![0u8; left.min(16 * 1024)];
            r.read_exact(&mut chunk).unwrap();
            assert!(chunk.iter().all(|&b| b == b'h'));
            left -= chunk.len();
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// At the connection cap, a connection stuck writing to a client that does not read
/// is closed for a newcomer, as a slow partial request is (before, the newcomer
/// waited for the stuck answer's write timeout).
#[test]
fn a_stuck_writer_makes_way_when_full() {
    let s = start(Limits {
        max_connections: 4,
        per_address: 1000,
        min_write_rate: 1024 * 1024,
        write_grace: Duration::from_secs(30),
        ..test_limits()
    });
    let before = slow_closes();
    let stuck: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut c = connect_narrow(&s);
            c.write_all(&b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n".repeat(4))
                .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let mut c = connect(&s);
    c.write_all(b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let (status, _, body) = read_response(&mut io::BufReader::new(c));
    assert_eq!((status, body.as_slice()), (200, b"GET /ok 0 -".as_slice()));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(slow_closes()[2].1 > before[2].1, "{:?}", slow_closes());
    drop(stuck);
}

/// Stopping does not wait on a client that has stopped reading its answer (before, a
/// 30 s write timeout).
#[test]
fn stops_promptly_with_a_stuck_writer() {
    let mut s = start(test_limits());
    let mut c = connect_narrow(&s);
    c.write_all(&b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n".repeat(8))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    s.stop.store(true, Ordering::SeqCst);
    s.thread.take().unwrap().join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
