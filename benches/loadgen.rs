//! Load generator and bench servers for `benches/http_load.sh`.
//!
//! `loadgen serve` starts, in this process, the portal (release build, temp data dir,
//! one signed-in user whose session cookie it prints), a bare rouille hello-world
//! (`rouille::Server`, pool of 16: tiny_http's own connection handling) and the same
//! hello-world behind the portal's server setup (`web::server`), prints their
//! addresses and waits until stdin closes.
//!
//! `loadgen run URL` holds N keep-alive connections, each sending one request at a time
//! for D seconds, and reports the total rate and latency percentiles AND what wrk does
//! not show: how many connections got no response at all, and the worst
//! per-connection maximum latency (a request still unanswered when the run ends counts
//! with the time it has waited so far). The client side is plain std, one thread per
//! connection.
//!
//! `loadgen slowloris URL` holds N slow connections for `benches/slowloris.sh`: each
//! sends half a request head (or, with `--body`, a full head and then its body) and
//! then one byte a second (or, with `--read`, pipelines 100 whole requests for URL and
//! then reads 64 bytes of the answers a second, through a 4 KiB receive buffer), and
//! opens a new connection 100 ms after the server closes one.
//! They come from `--addrs` source addresses 127.0.0.2 and up, so a per-address cap
//! alone cannot stop them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(),
        Some("run") => run(&args[1..]),
        Some("probe") => probe(&args[1..]),
        Some("mint") => mint(&args[1..]),
        Some("start-time") => start_time(&args[1..]),
        Some("slowloris") => slowloris(&args[1..]),
        Some("free-port") => println!("{}", free_port()),
        // `cargo bench` runs every bench target with `--bench`: nothing to do unasked.
        _ => eprintln!(
            "usage: loadgen serve\n       loadgen probe URL [-H 'Name: value']...\n       loadgen run URL [-c CONNS] [-d SECS] [-H 'Name: value']... [--label NAME]\n\
             \x20      loadgen mint          (a session cookie for the portal configured by the environment)\n\
             \x20      loadgen start-time BIN  (ms from spawning `BIN serve` to /readyz answering 200)\n\
             \x20      loadgen slowloris URL [-n CONNS] [--addrs N] [--body|--read] [-d SECS]\n\
             \x20      loadgen free-port     (a free port on loopback)\n\
             (normally driven by benches/http_load.sh and benches/ship.sh)"
        ),
    }
}

// ---------------------------------------------------------------------------------
// Servers

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on loopback")
        .port()
}

/// A signed-in user made through the library (no backdoor in the server): the session
/// cookie value.
fn mint_session(app: &authportal::App) -> String {
    use authportal::crypto::tokens::{digest, new_id};
    use authportal::db::{sessions, users};
    use authportal::providers::{Identity, ProviderKind};

    let now = app.clock.now();
    let id = new_id();
    app.db
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
            sessions::create(
                tx,
                &sessions::NewSession {
                    digest: &digest(&id),
                    user_id: linked.user_id,
                    identity_id: linked.identity_id,
                    amr: &["pwd"],
                    auth_time: now,
                    mfa_at: None,
                    expires_at: now + 86_400,
                    ip: "127.0.0.1",
                    user_agent: Some("loadgen"),
                },
                now,
            )
        })
        .expect("bench session");
    authportal::web::cookies::Cookie::Session.sign(&app.cookies, &id)
}

/// `loadgen mint`: opens the data dir the environment names (the portal may be running)
/// and prints `authportal_session=...`.
fn mint(_args: &[String]) {
    let cfg = authportal::Config::from_env().unwrap_or_else(|e| die(&e.to_string()));
    let app = authportal::App::open(cfg).unwrap_or_else(|e| die(&e));
    println!("authportal_session={}", mint_session(&app));
}

/// `loadgen start-time BIN`: spawns `BIN serve` (with this environment), asks /readyz at
/// LISTEN_ADDR every millisecond, prints the milliseconds until it answered 200, and
/// stops it with SIGTERM.
fn start_time(args: &[String]) {
    let bin = args
        .first()
        .unwrap_or_else(|| die("start-time needs the binary"));
    let listen = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| die("LISTEN_ADDR must be set"));
    let addr: SocketAddr = listen
        .parse()
        .unwrap_or_else(|_| die("LISTEN_ADDR: ip:port"));
    let started = Instant::now();
    let mut child = std::process::Command::new(bin)
        .arg("serve")
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| die(&format!("cannot start {bin}: {e}")));
    let request = format!("GET /readyz HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\n\r\n");
    let ready = loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let mut buf = Vec::new();
            if s.write_all(request.as_bytes()).is_ok()
                && s.read_to_end(&mut buf).is_ok()
                && buf.starts_with(b"HTTP/1.1 200")
            {
                break started.elapsed();
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            die("the portal did not get ready in 30 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    println!("{:.1}", ready.as_secs_f64() * 1000.0);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn serve() {
    let dir = std::env::temp_dir().join(format!("authportal-http-load-{}", std::process::id()));
    let port = free_port();
    let vars: BTreeMap<String, String> = [
        ("AUTHPORTAL_DATA_DIR", dir.display().to_string()),
        ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("APP_BASE_URL", format!("http://127.0.0.1:{port}")),
        (
            "LOG_LEVEL",
            std::env::var("BENCH_LOG").unwrap_or("error".into()),
        ),
    ]
    .into_iter()
    .chain(
        std::env::var("HTTP_WORKERS")
            .ok()
            .map(|w| ("HTTP_WORKERS", w)),
    )
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let portal = authportal::start(authportal::Config::from_vars(&vars).expect("bench config"))
        .expect("portal starts");
    let cookie = mint_session(&portal.app);

    // Bare rouille: its own tiny_http accept loop and a pool of 16 request threads.
    let bare = rouille::Server::new("127.0.0.1:0", |_req: &rouille::Request| {
        rouille::Response::text("ok")
    })
    .expect("rouille binds")
    .pool_size(16);
    let bare_addr = bare.server_addr();
    std::thread::spawn(move || bare.run());

    // The same handler behind the portal's own server setup.
    let ours = authportal::web::server::bind("127.0.0.1:0".parse().unwrap()).expect("binds");
    let ours_addr = ours.local_addr().expect("bound address");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ours_thread = authportal::web::server::serve(
        ours,
        authportal::web::server::Limits::default(),
        Arc::clone(&stop),
        Arc::new(|_req: &rouille::Request| rouille::Response::text("ok")),
    )
    .expect("serves");

    println!("PORTAL http://{}", portal.addr);
    println!("COOKIE authportal_session={cookie}");
    println!("ROUILLE http://{bare_addr}");
    println!("OURS http://{ours_addr}");
    println!("FREEPORT {}", free_port());
    println!("READY");
    let _ = std::io::stdout().flush();
    // Until the script closes our stdin (or kills us).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = ours_thread.join();
    portal.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------
// Slow clients

/// `loadgen slowloris URL`: see the module comment. Prints every second how many
/// connections are held and how many the server has closed so far.
fn slowloris(args: &[String]) {
    let (mut conns, mut addrs, mut secs) = (1100usize, 50u8, 20.0f64);
    let (mut body, mut reader) = (false, false);
    let mut url = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| die(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "-n" => conns = value().parse().unwrap_or_else(|_| die("-n: a number")),
            "--addrs" => addrs = value().parse().unwrap_or_else(|_| die("--addrs: 1..250")),
            "-d" => secs = value().parse().unwrap_or_else(|_| die("-d: seconds")),
            "--body" => body = true,
            "--read" => reader = true,
            _ if url.is_none() => url = Some(a.clone()),
            _ => die(&format!("unexpected argument {a}")),
        }
    }
    let o = parse_opts(&[url.unwrap_or_else(|| die("a URL is required"))]);
    let addrs = addrs.clamp(1, 250);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let held = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let closed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..conns)
        .map(|i| {
            let from = std::net::Ipv4Addr::new(127, 0, 0, 2 + (i % usize::from(addrs)) as u8);
            let head = if reader {
                format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", o.path, o.host).repeat(100)
            } else if body {
                format!(
                    "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: 60000\r\n\r\nx",
                    o.host
                )
            } else {
                format!("GET / HTTP/1.1\r\nHost: {}\r\nX-Slow: x", o.host)
            };
            let (held, closed, addr) = (Arc::clone(&held), Arc::clone(&closed), o.addr);
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let client = SlowClient { addr, from, reader };
                    client.run(head.as_bytes(), deadline, &held, &closed);
                })
                .expect("thread")
        })
        .collect();
    // What is held now, every second, for the script to show.
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        println!(
            "HELD {} closed_by_server={}",
            held.load(std::sync::atomic::Ordering::Relaxed),
            closed.load(std::sync::atomic::Ordering::Relaxed)
        );
        let _ = std::io::stdout().flush();
    }
    for t in threads {
        let _ = t.join();
    }
}

/// One slow client: to `addr` from `from`; a slow reader with `reader`, else a slow sender.
struct SlowClient {
    addr: SocketAddr,
    from: std::net::Ipv4Addr,
    reader: bool,
}

impl SlowClient {
    /// Until `deadline`: connects, sends `head`, then a byte a second (or reads 64 bytes
    /// a second); starts over when the server closes.
    fn run(
        &self,
        head: &[u8],
        deadline: Instant,
        held: &std::sync::atomic::AtomicUsize,
        closed: &std::sync::atomic::AtomicUsize,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        while Instant::now() < deadline {
            let Some(mut s) = connect_from(self.addr, self.from, self.reader) else {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            };
            if s.write_all(head).is_err() {
                continue;
            }
            held.fetch_add(1, Relaxed);
            if self.reader {
                read_slowly(&mut s, deadline);
            } else {
                send_slowly(&mut s, deadline);
            }
            held.fetch_sub(1, Relaxed);
            if Instant::now() < deadline {
                closed.fetch_add(1, Relaxed);
                // Back soon, as a slowloris tool is, but not in a hot loop.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Takes 64 bytes of the answers a second until the server closes or `deadline`.
fn read_slowly(s: &mut TcpStream, deadline: Instant) {
    let mut sink = [0u8; 64];
    while Instant::now() < deadline {
        match s.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => std::thread::sleep(Duration::from_secs(1)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}

/// Sends a byte a second until the server answers, closes, or `deadline`.
fn send_slowly(s: &mut TcpStream, deadline: Instant) {
    let mut sink = [0u8; 512];
    loop {
        // Reading for a second is the pause between bytes, and sees a close.
        match s.read(&mut sink) {
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        if Instant::now() >= deadline || s.write_all(b"x").is_err() {
            break;
        }
    }
}

/// A connection from `from`; with `narrow`, a 4 KiB receive buffer, so the server's
/// writes wait on this client's reads (the kernel would otherwise take megabytes).
fn connect_from(addr: SocketAddr, from: std::net::Ipv4Addr, narrow: bool) -> Option<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).ok()?;
    if narrow {
        socket.set_recv_buffer_size(4096).ok()?;
    }
    socket.bind(&SocketAddr::from((from, 0)).into()).ok()?;
    socket.connect(&addr.into()).ok()?;
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    Some(s)
}

// ---------------------------------------------------------------------------------
// Load generator

struct Opts {
    addr: SocketAddr,
    host: String,
    path: String,
    headers: Vec<String>,
    conns: usize,
    secs: f64,
    label: String,
}

fn parse_opts(args: &[String]) -> Opts {
    let mut url = None;
    let mut headers = Vec::new();
    let (mut conns, mut secs, mut label) = (64, 10.0, String::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| die(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "-c" => conns = value().parse().unwrap_or_else(|_| die("-c: a number")),
            "-d" => secs = value().parse().unwrap_or_else(|_| die("-d: seconds")),
            "-H" => headers.push(value()),
            "--label" => label = value(),
            _ if url.is_none() => url = Some(a.clone()),
            _ => die(&format!("unexpected argument {a}")),
        }
    }
    let url = url.unwrap_or_else(|| die("a URL (http://host:port/path) is required"));
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| die("only http:// URLs"));
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| die(&format!("cannot resolve {host}")));
    Opts {
        addr,
        host: host.to_string(),
        path: path.to_string(),
        headers,
        conns,
        secs,
        label: if label.is_empty() { url.clone() } else { label },
    }
}

fn die(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(2)
}

#[derive(Default)]
struct ConnStats {
    /// Latency of every answered request, in microseconds.
    latencies_us: Vec<u32>,
    /// Longest wait on this connection, including a request left unanswered at the end.
    max_wait: Duration,
    non_2xx: u64,
    io_errors: u64,
    reconnects: u64,
}

fn request_bytes(o: &Opts) -> Vec<u8> {
    let mut request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n", o.path, o.host);
    for h in &o.headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// One request: prints the status and the start of the body; exit status 1 unless 2xx.
fn probe(args: &[String]) {
    let o = parse_opts(args);
    let mut s = connect(o.addr).unwrap_or_else(|| die(&format!("cannot connect to {}", o.addr)));
    s.write_all(&request_bytes(&o))
        .unwrap_or_else(|e| die(&e.to_string()));
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let Ok((status, _, head_end)) = read_response(&mut s, &mut buf, deadline) else {
        die("no response")
    };
    let body = String::from_utf8_lossy(&buf[head_end..]);
    println!("{status} {}", body.chars().take(300).collect::<String>());
    if !(200..300).contains(&status) {
        std::process::exit(1);
    }
}

fn run(args: &[String]) {
    let o = Arc::new(parse_opts(args));
    let request: Arc<[u8]> = request_bytes(&o).into();
    let barrier = Arc::new(Barrier::new(o.conns + 1));
    let threads: Vec<_> = (0..o.conns)
        .map(|_| {
            let (o, request, barrier) =
                (Arc::clone(&o), Arc::clone(&request), Arc::clone(&barrier));
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || connection(&o, &request, &barrier))
                .expect("thread")
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let stats: Vec<ConnStats> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let elapsed = started.elapsed().as_secs_f64().min(o.secs.max(0.001));
    report(&o, &stats, elapsed);
}

/// One keep-alive connection: connect, then one request at a time until the deadline.
fn connection(o: &Opts, request: &[u8], barrier: &Barrier) -> ConnStats {
    let mut st = ConnStats::default();
    let mut stream = connect(o.addr);
    barrier.wait();
    let deadline = Instant::now() + Duration::from_secs_f64(o.secs);
    let mut buf = Vec::with_capacity(16 * 1024);
    while Instant::now() < deadline {
        let Some(s) = stream.as_mut() else {
            st.io_errors += 1;
            std::thread::sleep(Duration::from_millis(10));
            stream = connect(o.addr);
            st.reconnects += 1;
            continue;
        };
        let sent = Instant::now();
        if s.write_all(request).is_err() {
            stream = None;
            continue;
        }
        buf.clear();
        match read_response(s, &mut buf, deadline) {
            Ok((status, close, _)) => {
                let took = sent.elapsed();
                st.latencies_us
                    .push(took.as_micros().min(u32::MAX as u128) as u32);
                st.max_wait = st.max_wait.max(took);
                if !(200..300).contains(&status) {
                    st.non_2xx += 1;
                }
                if close {
                    stream = connect(o.addr);
                    st.reconnects += 1;
                }
            }
            Err(Unanswered::Deadline) => {
                // Still waiting when the run ended: that wait counts.
                st.max_wait = st.max_wait.max(sent.elapsed());
                break;
            }
            Err(Unanswered::Io) => {
                st.max_wait = st.max_wait.max(sent.elapsed());
                st.io_errors += 1;
                stream = connect(o.addr);
                st.reconnects += 1;
            }
        }
    }
    st
}

fn connect(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect(addr).ok()?;
    s.set_nodelay(true).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(50))).ok()?;
    Some(s)
}

enum Unanswered {
    Deadline,
    Io,
}

/// Reads one response (Content-Length or chunked body); returns its status and whether
/// the server will close the connection.
fn read_response(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(u16, bool, usize), Unanswered> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        fill(s, buf, deadline)?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| Unanswered::Io)?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(Unanswered::Io)?;
    let mut length = 0usize;
    let mut chunked = false;
    let mut close = status_line.starts_with("HTTP/1.0");
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse().map_err(|_| Unanswered::Io)?;
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.eq_ignore_ascii_case("chunked");
        } else if k.eq_ignore_ascii_case("connection") {
            close = v.eq_ignore_ascii_case("close");
        }
    }
    if chunked {
        let mut pos = head_end;
        loop {
            let line_end = loop {
                if let Some(i) = find(&buf[pos..], b"\r\n") {
                    break pos + i;
                }
                fill(s, buf, deadline)?;
            };
            let size_text = std::str::from_utf8(&buf[pos..line_end]).map_err(|_| Unanswered::Io)?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| Unanswered::Io)?;
            // size bytes + CRLF (the last chunk is followed by an empty trailer line).
            let need = line_end + 2 + size + 2;
            while buf.len() < need {
                fill(s, buf, deadline)?;
            }
            pos = need;
            if size == 0 {
                break;
            }
        }
    } else {
        while buf.len() < head_end + length {
            fill(s, buf, deadline)?;
        }
    }
    Ok((status, close, head_end))
}

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> Result<(), Unanswered> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return Err(Unanswered::Io),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(());
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if Instant::now() >= deadline {
                    return Err(Unanswered::Deadline);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Unanswered::Io),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn report(o: &Opts, stats: &[ConnStats], secs: f64) {
    let mut all: Vec<u32> = stats
        .iter()
        .flat_map(|s| s.latencies_us.iter().copied())
        .collect();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return f64::NAN;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i] as f64 / 1000.0
    };
    let total = all.len();
    let rps = total as f64 / secs;
    let zero = stats.iter().filter(|s| s.latencies_us.is_empty()).count();
    let fewest = stats
        .iter()
        .map(|s| s.latencies_us.len())
        .min()
        .unwrap_or(0);
    let most = stats
        .iter()
        .map(|s| s.latencies_us.len())
        .max()
        .unwrap_or(0);
    let worst = stats
        .iter()
        .map(|s| s.max_wait)
        .max()
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0;
    let non_2xx: u64 = stats.iter().map(|s| s.non_2xx).sum();
    let io: u64 = stats.iter().map(|s| s.io_errors).sum();
    let reconnects: u64 = stats.iter().map(|s| s.reconnects).sum();
    println!(
        "  loadgen {}: {} keep-alive connections, {:.1} s",
        o.label, o.conns, secs
    );
    println!(
        "    {total} responses, {rps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        pct(0.50),
        pct(0.99)
    );
    println!(
        "    per connection: {zero} of {} got no response; responses per connection {fewest}..{most}; worst max latency {worst:.1} ms",
        o.conns
    );
    if non_2xx + io + reconnects > 0 {
        println!("    non-2xx {non_2xx}, I/O errors {io}, reconnects {reconnects}");
    }
    println!(
        "RESULT label={} rps={rps:.0} p50_ms={:.3} p99_ms={:.3} zero={zero} worst_ms={worst:.1} fewest={fewest} non2xx={non_2xx} ioerr={io}",
        o.label,
        pct(0.50),
        pct(0.99)
    );
}
