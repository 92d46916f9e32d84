//! The HTTP/1.1 server: a TCP_NODELAY listener, one thread per connection (up to a
//! cap) that parses requests, runs the rouille handler and writes each response with
//! one write.
//!
//! Why not tiny_http (rouille's engine), which this used to run on: its accept thread
//! hands every connection to an internal pool as ONE task that lasts as long as the
//! connection is kept alive, and the pool only starts a thread when its count of idle
//! threads is 0. That count drops only once a woken thread runs, so when many
//! connections arrive together (a proxy opening its pool, wrk, a burst of browsers) most
//! of them are queued behind a handful of threads and get nothing at all until some
//! other connection closes. Measured on this 2-core box with 64 keep-alive connections:
//! about half of them unanswered for a whole 10 s run, invisible to wrk. No setting of
//! tiny_http changes that, and every request also crossed two threads (connection ->
//! queue -> worker) before being answered. See benches/http_load.sh.
//!
//! Why not `rouille::Server`: it runs on tiny_http too, and binds its own socket so it
//! cannot set TCP_NODELAY (needed so a response is not held back ~40 ms by Nagle and the
//! client's delayed ACK when it spans two segments).
//!
//! What is served: HTTP/1.0 and 1.1, keep-alive (closed after an idle timeout, and at
//! once when new connections are waiting for a free slot), pipelining (answers in
//! order), `Content-Length` and chunked request bodies up to [`BODY_LIMIT`] (413 beyond,
//! without reading the rest), `Expect: 100-continue`, HEAD. Anything malformed is
//! answered 400 (or 408/413/431/501/505) and the connection closed; nothing a client
//! sends can panic this code.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rouille::{Request, Response};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// Request line plus headers, in bytes.
pub const HEAD_LIMIT: usize = 16 * 1024;
/// Header fields in one request.
pub const MAX_HEADERS: usize = 100;
/// Request bodies are accepted up to this much; routes refuse more than 64 KiB
/// themselves, with their own message, so one byte more is enough to tell.
pub const BODY_LIMIT: usize = 64 * 1024 + 1;
/// How often a thread blocked on a socket looks at the stop flag and its deadlines.
const POLL: Duration = Duration::from_millis(200);
/// Response bodies up to this size go out in the same write as the head.
const SINGLE_WRITE_MAX: usize = 1 << 20;

/// How much the server takes on. `Default` is what the portal runs with, except
/// `max_handlers`, which `start` sets from HTTP_WORKERS.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once, one thread each. Further connections wait in the
    /// listen backlog; while any wait, idle keep-alive connections are closed and busy
    /// ones close after their current response, so every client gets its turn.
    pub max_connections: usize,
    /// Requests inside the handler at once (HTTP_WORKERS). Bounds the CPU and database
    /// work in flight however many connections are open.
    pub max_handlers: usize,
    /// How long a kept-alive connection may sit without a request (also before the first).
    pub idle_timeout: Duration,
    /// From the first byte of a request to the end of its headers (slow-header clients).
    pub head_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_timeout: Duration,
    /// A client that stops reading its response is dropped after this.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            max_handlers: 16,
            // Longer than proxies keep idle upstream connections (nginx 60 s, Traefik and
            // Caddy 90 s): a proxy should close first, not race our close with a request.
            idle_timeout: Duration::from_secs(120),
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Binds `addr` with TCP_NODELAY (accepted sockets get it too) and a deep backlog.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Serves `listener` with `handler` until `stop` is raised, on a thread that accepts
/// connections and one thread per connection. The returned thread ends once every
/// connection has: requests already in the handler are answered (graceful stop), idle
/// connections and unfinished requests are closed within [`POLL`].
pub fn serve<F>(
    listener: TcpListener,
    limits: Limits,
    stop: Arc<AtomicBool>,
    handler: Arc<F>,
) -> io::Result<JoinHandle<()>>
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    // On Linux SO_RCVTIMEO bounds accept() too, so the accept loop sees `stop` without
    // a wake-up connection or a non-blocking spin.
    SockRef::from(&listener).set_read_timeout(Some(POLL))?;
    let shared = Arc::new(Shared {
        gate: Gate::new(limits.max_handlers),
        limits,
        stop,
        handler,
        crowded: AtomicBool::new(false),
        connections: Mutex::new(0),
        freed: Condvar::new(),
    });
    std::thread::Builder::new()
        .name("http-accept".into())
        .spawn(move || accept_loop(&listener, &shared))
}

struct Shared<F> {
    limits: Limits,
    stop: Arc<AtomicBool>,
    handler: Arc<F>,
    gate: Gate,
    /// Raised while the accept loop waits for a free connection slot.
    crowded: AtomicBool,
    connections: Mutex<usize>,
    freed: Condvar,
}

impl<F> Shared<F> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop<F>(listener: &TcpListener, shared: &Arc<Shared<F>>)
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut last_error_log: Option<Instant> = None;
    'accept: while !shared.stopping() {
        {
            let mut n = lock(&shared.connections);
            while *n >= shared.limits.max_connections {
                shared.crowded.store(true, Ordering::Relaxed);
                n = shared
                    .freed
                    .wait_timeout(n, POLL)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                if shared.stopping() {
                    break 'accept;
                }
            }
            shared.crowded.store(false, Ordering::Relaxed);
        }
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Out of file descriptors or memory: log now and then, back off briefly.
                if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    crate::log_error!("http: accept failed: {e}");
                    last_error_log = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        *lock(&shared.connections) += 1;
        let slot = Slot(Arc::clone(shared));
        let spawned = std::thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                let slot = slot;
                serve_connection(&slot.0, stream, peer);
            });
        match spawned {
            Ok(t) => {
                threads.retain(|t| !t.is_finished());
                threads.push(t);
            }
            // The closure (stream and slot) was dropped: the client sees a close.
            Err(e) => crate::log_error!("http: cannot start a connection thread: {e}"),
        }
    }
    for t in threads {
        let _ = t.join();
    }
}

/// A connection's claim on one of `max_connections`; given back on drop, even if the
/// connection's thread panics.
struct Slot<F>(Arc<Shared<F>>);

impl<F> Drop for Slot<F> {
    fn drop(&mut self) {
        *lock(&self.0.connections) -= 1;
        self.0.freed.notify_one();
    }
}

/// Counting semaphore in front of the handler.
struct Gate {
    busy: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

impl Gate {
    fn new(max: usize) -> Gate {
        Gate {
            busy: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
        }
    }

    fn enter(&self) -> GatePass<'_> {
        let mut busy = lock(&self.busy);
        while *busy >= self.max {
            busy = self.freed.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        *busy += 1;
        GatePass(self)
    }
}

struct GatePass<'a>(&'a Gate);

impl Drop for GatePass<'_> {
    fn drop(&mut self) {
        *lock(&self.0.busy) -= 1;
        self.0.freed.notify_one();
    }
}

// ---------------------------------------------------------------------------------
// One connection

/// Why a connection ends early.
#[derive(Debug, PartialEq, Eq)]
enum Fail {
    /// Close without a word: the client left, went idle, or we are stopping.
    Quiet,
    /// Answer with this status, then close.
    Answer(u16),
}

struct Conn<'a, F> {
    shared: &'a Shared<F>,
    stream: TcpStream,
    peer: SocketAddr,
    /// Bytes read and not yet consumed (the start of the next, pipelined request).
    buf: Vec<u8>,
}

fn serve_connection<F>(shared: &Shared<F>, stream: TcpStream, peer: SocketAddr)
where
    F: Fn(&Request) -> Response,
{
    let setup = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(POLL)))
        .and_then(|()| stream.set_write_timeout(Some(shared.limits.write_timeout)));
    if setup.is_err() {
        return;
    }
    let mut conn = Conn {
        shared,
        stream,
        peer,
        buf: Vec::with_capacity(4096),
    };
    loop {
        match conn.exchange() {
            Ok(true) => {}
            Ok(false) | Err(Fail::Quiet) => break,
            Err(Fail::Answer(status)) => {
                let _ = conn.stream.write_all(&error_response(status));
                linger_close(&mut conn.stream);
                return;
            }
        }
    }
    let _ = conn.stream.shutdown(Shutdown::Both);
}

impl<F> Conn<'_, F>
where
    F: Fn(&Request) -> Response,
{
    /// One request and its response; Ok(true) to keep the connection for another.
    fn exchange(&mut self) -> Result<bool, Fail> {
        let Some(head) = self.read_head()? else {
            return Ok(false);
        };
        let meta = analyse(&head).map_err(Fail::Answer)?;
        if meta.expect_continue && meta.framing != Framing::None && self.buf.is_empty() {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|_| Fail::Quiet)?;
        }
        let body = self.read_body(meta.framing)?;
        let request =
            Request::fake_http_from(self.peer, head.method, head.target, head.headers, body);
        let response = {
            let _pass = self.shared.gate.enter();
            // Handlers never panic on input, but a bug must cost one request, not the connection.
            catch_unwind(AssertUnwindSafe(|| (self.shared.handler)(&request))).unwrap_or_else(
                |_| {
                    crate::log_error!("handler panicked on {} {}", request.method(), request.url());
                    Response::text("internal error").with_status_code(500)
                },
            )
        };
        let handler_close = response
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("Connection") && has_token(v, "close"));
        let keep_alive = meta.keep_alive
            && !handler_close
            && !self.shared.stopping()
            && !self.shared.crowded.load(Ordering::Relaxed);
        let head_only = request.method() == "HEAD";
        self.write_response(response, head_only, keep_alive, meta.http10)?;
        Ok(keep_alive)
    }

    /// Reads more input. Ok(false) at end of stream. `idle`: nothing of a request has
    /// arrived yet, so a timeout, a stop or a crowd closes quietly; otherwise a timeout
    /// is `on_timeout`.
    fn fill(&mut self, deadline: Instant, idle: bool, on_timeout: u16) -> Result<bool, Fail> {
        let len = self.buf.len();
        self.buf.resize(len + 8192, 0);
        loop {
            match self.stream.read(&mut self.buf[len..]) {
                Ok(n) => {
                    self.buf.truncate(len + n);
                    return Ok(n > 0);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    let crowded = idle && self.shared.crowded.load(Ordering::Relaxed);
                    if self.shared.stopping() || crowded {
                        self.buf.truncate(len);
                        return Err(Fail::Quiet);
                    }
                    if Instant::now() >= deadline {
                        self.buf.truncate(len);
                        return Err(if idle {
                            Fail::Quiet
                        } else {
                            Fail::Answer(on_timeout)
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.buf.truncate(len);
                    return Err(Fail::Quiet);
                }
            }
        }
    }

    /// The next request's head, None when the client closed (or idled out) between requests.
    fn read_head(&mut self) -> Result<Option<Head>, Fail> {
        let limits = &self.shared.limits;
        let idle_since = Instant::now();
        let mut head_since: Option<Instant> = None;
        let mut scanned = 0;
        loop {
            // Empty lines before a request line are ignored (RFC 9112, 2.2).
            let blank = self
                .buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blank > 0 {
                self.buf.drain(..blank);
                scanned = 0;
            }
            if !self.buf.is_empty() {
                head_since.get_or_insert_with(Instant::now);
                if let Some(end) = head_end(&self.buf, scanned) {
                    if end > HEAD_LIMIT {
                        return Err(Fail::Answer(431));
                    }
                    let head = parse_head(&self.buf[..end]).map_err(Fail::Answer)?;
                    self.buf.drain(..end);
                    return Ok(Some(head));
                }
                if self.buf.len() > HEAD_LIMIT {
                    return Err(Fail::Answer(431));
                }
                scanned = self.buf.len().saturating_sub(2);
            }
            let (deadline, idle) = match head_since {
                Some(t) => (t + limits.head_timeout, false),
                None => (idle_since + limits.idle_timeout, true),
            };
            if !self.fill(deadline, idle, 408)? {
                return if idle { Ok(None) } else { Err(Fail::Quiet) };
            }
        }
    }

    fn read_body(&mut self, framing: Framing) -> Result<Vec<u8>, Fail> {
        let deadline = Instant::now() + self.shared.limits.body_timeout;
        match framing {
            Framing::None => Ok(Vec::new()),
            Framing::Length(n) => {
                while self.buf.len() < n {
                    if !self.fill(deadline, false, 408)? {
                        return Err(Fail::Quiet);
                    }
                }
                let rest = self.buf.split_off(n);
                Ok(std::mem::replace(&mut self.buf, rest))
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                loop {
                    match decoder.step(&self.buf, BODY_LIMIT) {
                        Chunked::Done(used) => {
                            self.buf.drain(..used);
                            return Ok(decoder.body);
                        }
                        Chunked::Invalid(status) => return Err(Fail::Answer(status)),
                        Chunked::Partial => {
                            if !self.fill(deadline, false, 408)? {
                                return Err(Fail::Quiet);
                            }
                        }
                    }
                }
            }
        }
    }

    fn write_response(
        &mut self,
        response: Response,
        head_only: bool,
        keep_alive: bool,
        http10: bool,
    ) -> Result<(), Fail> {
        let status = response.status_code;
        let body_allowed = !(100..200).contains(&status) && status != 204 && status != 304;
        let send_body = body_allowed && !head_only;
        let (mut reader, size) = response.data.into_reader_and_size();
        let mut out = Vec::with_capacity(512 + size.unwrap_or(0).min(SINGLE_WRITE_MAX));
        write_head(&mut out, status, &response.headers, keep_alive, http10);
        match size {
            // Known size and nothing to send, or too big for one buffer: head first.
            Some(n) if !send_body || n > SINGLE_WRITE_MAX => {
                if body_allowed {
                    out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                self.stream.write_all(&out).map_err(|_| Fail::Quiet)?;
                if send_body {
                    let copied = io::copy(&mut reader.take(n as u64), &mut self.stream)
                        .map_err(|_| Fail::Quiet)?;
                    if copied != n as u64 {
                        // Fewer bytes than announced: the connection is out of step.
                        return Err(Fail::Quiet);
                    }
                }
            }
            _ => {
                let mut body = Vec::with_capacity(size.unwrap_or(0));
                if reader.read_to_end(&mut body).is_err() {
                    crate::log_error!("http: cannot read a response body");
                    return Err(Fail::Answer(500));
                }
                if body_allowed {
                    out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                if send_body {
                    out.extend_from_slice(&body);
                }
                // Head and body in one write: one segment for small answers.
                self.stream.write_all(&out).map_err(|_| Fail::Quiet)?;
            }
        }
        Ok(())
    }
}

/// After an error answer: stop sending, then drain what the client is still sending for
/// a moment, so closing with unread data does not reset the connection before the
/// client has read the answer.
fn linger_close(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    while Instant::now() < until && drained < 256 * 1024 {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
}

// ---------------------------------------------------------------------------------
// Parsing (pure functions, tested below)

#[derive(Debug, PartialEq, Eq)]
struct Head {
    method: String,
    target: String,
    http10: bool,
    headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(usize),
    Chunked,
}

#[derive(Debug, PartialEq, Eq)]
struct Meta {
    framing: Framing,
    keep_alive: bool,
    expect_continue: bool,
    http10: bool,
}

/// Index just past the blank line ending a head (CRLF CRLF, or bare LFs), searching
/// for its first LF from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from.min(buf.len());
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let lf = i + p;
        let rest = &buf[lf + 1..];
        if rest.starts_with(b"\n") {
            return Some(lf + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(lf + 3);
        }
        i = lf + 1;
    }
    None
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a complete head (request line and header fields, ending with the blank line).
fn parse_head(bytes: &[u8]) -> Result<Head, u16> {
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().ok_or(400u16)?;
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(400);
    }
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            if *major == b'1' {
                false
            } else {
                return Err(505);
            }
        }
        _ => return Err(400),
    };
    if target.is_empty() || !target.iter().all(|&b| (0x21..0x7f).contains(&b)) {
        return Err(400);
    }
    // Only ASCII from here on, so the conversions cannot fail.
    let method = String::from_utf8_lossy(method).into_owned();
    let target = String::from_utf8_lossy(target);
    let target = if target.starts_with('/') || (target == "*" && method == "OPTIONS") {
        target.into_owned()
    } else {
        // absolute-form (RFC 9112, 3.2.2): keep the path and query.
        let rest = target
            .strip_prefix("http://")
            .or_else(|| target.strip_prefix("https://"))
            .ok_or(400u16)?;
        match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => rest[i..].to_string(),
            Some(i) => format!("/{}", &rest[i..]),
            None => "/".to_string(),
        }
    };
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        // Folded lines (obs-fold) and whitespace before the colon are refused (RFC 9112, 5).
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(400);
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(400u16)?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(400);
        }
        let value = trim_whitespace(value);
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(400);
        }
        if headers.len() == MAX_HEADERS {
            return Err(431);
        }
        headers.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    Ok(Head {
        method,
        target,
        http10,
        headers,
    })
}

/// Whether a comma-separated header value lists `token` (any case).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// What the headers say about the body and the connection.
fn analyse(head: &Head) -> Result<Meta, u16> {
    let mut hosts = 0;
    let mut length: Option<usize> = None;
    let mut too_long = false;
    let mut transfer_encodings: Vec<&str> = Vec::new();
    let (mut close, mut keep_alive_token, mut expect_continue) = (false, false, false);
    for (name, value) in &head.headers {
        let name = name.as_str();
        if name.eq_ignore_ascii_case("Host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("Content-Length") {
            // Repeated (or listed) values must all agree (RFC 9110, 8.6).
            for v in value.split(',') {
                let v = v.trim();
                if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(400);
                }
                let n: u64 = v.parse().map_err(|_| 400u16)?;
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if length.is_some_and(|l| l != n) {
                    return Err(400);
                }
                length = Some(n);
                too_long |= n > BODY_LIMIT;
            }
        } else if name.eq_ignore_ascii_case("Transfer-Encoding") {
            transfer_encodings.extend(value.split(',').map(str::trim).filter(|t| !t.is_empty()));
        } else if name.eq_ignore_ascii_case("Connection") {
            close |= has_token(value, "close");
            keep_alive_token |= has_token(value, "keep-alive");
        } else if name.eq_ignore_ascii_case("Expect") {
            if value.eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            } else {
                return Err(417);
            }
        }
    }
    if hosts > 1 || (hosts == 0 && !head.http10) {
        return Err(400);
    }
    let framing = if !transfer_encodings.is_empty() {
        // Both framings at once is how requests are smuggled past proxies: refuse.
        if length.is_some() || head.http10 {
            return Err(400);
        }
        match transfer_encodings.as_slice() {
            [te] if te.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => return Err(501),
        }
    } else {
        match length {
            _ if too_long => return Err(413),
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };
    Ok(Meta {
        framing,
        keep_alive: !close && (!head.http10 || keep_alive_token),
        expect_continue: expect_continue && !head.http10,
        http10: head.http10,
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Chunked {
    /// The body is complete; it took this many bytes of the input (trailers included).
    Done(usize),
    /// More input needed.
    Partial,
    Invalid(u16),
}

/// Decodes a chunked body (RFC 9112, 7.1) from the start of a buffer that grows between
/// calls. It resumes where it stopped, so a client dribbling bytes costs linear work.
/// Chunk extensions and trailer fields are read and dropped.
#[derive(Debug, Default)]
struct ChunkedDecoder {
    body: Vec<u8>,
    /// Start of the element (size line, chunk, trailer line) being decoded.
    pos: usize,
    /// Where to resume looking for the end of the current line.
    scanned: usize,
    /// Set once the last chunk is read: where the trailer section starts.
    trailers_at: Option<usize>,
}

/// Longest chunk-size line (with extensions) accepted.
const CHUNK_LINE_LIMIT: usize = 1024;

impl ChunkedDecoder {
    fn step(&mut self, buf: &[u8], limit: usize) -> Chunked {
        loop {
            let from = self.scanned.max(self.pos);
            let Some(nl) = buf[from..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| from + i)
            else {
                self.scanned = buf.len();
                let line_limit = match self.trailers_at {
                    None => CHUNK_LINE_LIMIT,
                    Some(t) => HEAD_LIMIT - (self.pos - t),
                };
                return if buf.len() - self.pos > line_limit {
                    Chunked::Invalid(if self.trailers_at.is_some() { 431 } else { 400 })
                } else {
                    Chunked::Partial
                };
            };
            let line = &buf[self.pos..nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(t) = self.trailers_at {
                if nl + 1 - t > HEAD_LIMIT {
                    return Chunked::Invalid(431);
                }
                self.pos = nl + 1;
                if line.is_empty() {
                    return Chunked::Done(self.pos);
                }
                continue;
            }
            if line.len() > CHUNK_LINE_LIMIT {
                return Chunked::Invalid(400);
            }
            let digits = line
                .iter()
                .position(|&b| b == b';')
                .map_or(line, |i| &line[..i]);
            let digits = trim_whitespace(digits);
            if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_hexdigit) {
                return Chunked::Invalid(400);
            }
            let size = digits.iter().fold(0usize, |n, &d| {
                n * 16 + (d as char).to_digit(16).unwrap_or(0) as usize
            });
            if size == 0 {
                self.pos = nl + 1;
                self.trailers_at = Some(self.pos);
                continue;
            }
            if size > limit - self.body.len() {
                return Chunked::Invalid(413);
            }
            let data = nl + 1;
            if buf.len() < data + size + 2 {
                // Resume at this size line once the whole chunk is in.
                self.scanned = self.pos;
                return Chunked::Partial;
            }
            if &buf[data + size..data + size + 2] != b"\r\n" {
                return Chunked::Invalid(400);
            }
            self.body.extend_from_slice(&buf[data..data + size]);
            self.pos = data + size + 2;
        }
    }
}

/// Strips spaces and tabs (HTTP's optional whitespace) at both ends.
fn trim_whitespace(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

// ---------------------------------------------------------------------------------
// Responses

/// Headers the server sets itself; a handler's values for them are ignored (as rouille
/// documents for `Response::headers`).
const OWN_HEADERS: [&str; 9] = [
    "Accept-Ranges",
    "Connection",
    "Content-Length",
    "Content-Range",
    "Date",
    "Keep-Alive",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
];

/// Status line and headers, without Content-Length and the final blank line.
fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(
        std::borrow::Cow<'static, str>,
        std::borrow::Cow<'static, str>,
    )],
    keep_alive: bool,
    http10: bool,
) {
    let status = if (100..1000).contains(&status) {
        status
    } else {
        500
    };
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    for (k, v) in headers {
        let valid_name = !k.is_empty() && k.bytes().all(is_tchar);
        // No CR/LF from a handler can split the response.
        let valid_value = v.bytes().all(|b| (b >= 0x20 && b != 0x7f) || b == b'\t');
        if !valid_name || !valid_value || OWN_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)) {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Date: ");
    http_date(out);
    out.extend_from_slice(b"\r\n");
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
}

/// The whole answer for a request refused by this layer; the connection closes after it.
fn error_response(status: u16) -> Vec<u8> {
    let body = format!("{}\n", reason(status).to_ascii_lowercase());
    let mut out = Vec::with_capacity(256);
    write_head(
        &mut out,
        status,
        &[
            ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            ("X-Content-Type-Options".into(), "nosniff".into()),
        ],
        false,
        false,
    );
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    out
}

/// `Date` in IMF-fixdate, formatted at most once a second per thread.
fn http_date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != now.timestamp() {
            *c = (
                now.timestamp(),
                now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            );
        }
        out.extend_from_slice(c.1.as_bytes());
    });
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
