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
//! once when new connections wait for a free slot and no slow request can be closed
//! instead), pipelining (answers in order), `Content-Length` and chunked request bodies
//! up to [`BODY_LIMIT`] (413 beyond, without reading the rest), `Expect: 100-continue`,
//! HEAD. Anything malformed is answered 400 (or 408/413/431/501/505) and the connection
//! closed; nothing a client sends can panic this code.
//!
//! Parsing: heads, chunk-size lines and trailers are parsed by `httparse` (hyper's
//! parser) with its lenient options off, and what it still lets pass is refused before
//! or after it: bare LF line ends, an empty chunk size, whitespace around a size without
//! an extension, control characters in an extension. A proxy in front that frames a
//! request differently is how requests are smuggled, so every ambiguity is a 400 and a
//! close: Content-Length with Transfer-Encoding, Content-Length repeated (even with the
//! same value) or listed, an empty Transfer-Encoding element; any coding but `chunked`
//! alone is a 501.
//!
//! Slow and greedy clients (the numbers are [`Limits`]'s defaults):
//! - A client address (IPv6: its /64) holds at most `per_address` connections (64);
//!   then its idle ones make way for new ones, and with none idle new ones get a 429.
//!   Trusted proxies are not capped: their clients share the proxy's address and are
//!   told apart by X-Forwarded-For only once a head is in.
//! - Heads and bodies keep a data rate: they may take `rate_grace` (5 s) plus a second
//!   per `min_rate` bytes (1 KiB) received, within `head_timeout` / `body_timeout`,
//!   checked after every read too (a byte now and then keeps nothing alive), else 408.
//! - Answers are written at `min_write_rate` (16 KiB/s) or better: the time writes
//!   wait for the client beyond what their bytes earn at that rate adds up, is paid off
//!   by the time between writes (so a keep-alive connection's stalls now and then never
//!   add up), and past `write_grace` (30 s) the connection closes; each write may block
//!   only for what is left. Before, a write timeout restarted on every write, so a
//!   client reading a window every 29 s held its thread for as long as it liked.
//! - When all `max_connections` (1024) are taken and another arrives, the slowest
//!   partial request (head or body, by bytes a second) or answer stuck behind the least
//!   write rate is closed to make room; only when there is none do idle and busy
//!   keep-alive connections make way.
//! - Such closes are counted ([`slow_closes`], in /metrics) and logged at most once a
//!   minute.
//! - Upload routes' bodies (up to 64 MiB) are read only once `upload_check` accepts the
//!   head (the web layer: a live console session and the portal's Origin), in one of
//!   `upload_slots` (2) slots, at most one per client address.
//!
//! benches/slowloris.sh measures a well-behaved client's latency while 1,100 slow
//! connections (senders or readers) are held, against its latency without them.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rouille::{Request, Response};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::net::Cidr;

mod conn;
mod limits;
mod parse;
mod response;

use conn::serve_connection;
use limits::{Gate, Registry, UploadSlots, admit};

/// Request line plus headers, in bytes.
pub const HEAD_LIMIT: usize = 16 * 1024;
/// Header fields in one request.
pub const MAX_HEADERS: usize = 100;
/// Request bodies are accepted up to this much; routes refuse more than 64 KiB
/// themselves, with their own message, so one byte more is enough to tell.
pub const BODY_LIMIT: usize = 64 * 1024 + 1;
/// The body limit of upload routes (see [`Limits::uploads`]); the route refuses more
/// than 64 MiB itself.
pub const UPLOAD_LIMIT: usize = 64 * 1024 * 1024 + 1;
/// How often a thread blocked on a socket looks at the stop flag and its deadlines.
const POLL: Duration = Duration::from_millis(200);
/// Response bodies up to this size go out in the same write as the head.
const SINGLE_WRITE_MAX: usize = 1 << 20;

/// Why the server closed a slow client ([`slow_closes`]' order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowClose {
    /// A head or body below the data rate (answered 408).
    Request = 0,
    /// Answers taken below the least write rate, past the write grace.
    Reader = 1,
    /// A slow partial request or a writer behind the rate, closed to make room.
    Evicted = 2,
}

/// The labels of [`SlowClose`] in /metrics, in its order.
const SLOW_CLOSE_LABELS: [&str; 3] = ["slow_request", "slow_reader", "evicted"];

/// Slow clients closed since start, by [`SlowClose`]: process-wide, as the server is one.
static SLOW_CLOSES: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// When the last line about slow clients was logged, in seconds since the Unix epoch.
static SLOW_LOGGED: AtomicU64 = AtomicU64::new(0);

/// Counts a slow client's close, and logs at most one line a minute about them, so a
/// flood of slow clients cannot flood the log.
fn count_slow_close(why: SlowClose) {
    SLOW_CLOSES[why as usize].fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = SLOW_LOGGED.load(Ordering::Relaxed);
    if now >= last + 60
        && SLOW_LOGGED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let counts = slow_closes().map(|(label, n)| format!("{label}={n}"));
        crate::log_info!(
            "http: closed a slow client ({}); since start: {} (logged at most once a minute)",
            SLOW_CLOSE_LABELS[why as usize],
            counts.join(" ")
        );
    }
}

/// Slow clients closed since start, by label (see [`SlowClose`]).
pub fn slow_closes() -> [(&'static str, u64); 3] {
    std::array::from_fn(|i| (SLOW_CLOSE_LABELS[i], SLOW_CLOSES[i].load(Ordering::Relaxed)))
}

/// Whether an upload's body may be read: `Err` is the answer to send instead.
pub type UploadVerdict = Result<(), Response>;

/// Asked before an upload route's body is read (see [`Limits::upload_check`]). It gets
/// the request with its head and an empty body.
#[derive(Clone)]
pub struct UploadCheck(pub Arc<dyn Fn(&Request) -> UploadVerdict + Send + Sync>);

impl std::fmt::Debug for UploadCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UploadCheck")
    }
}

/// How much the server takes on. `Default` is what the portal runs with, except
/// `max_handlers` (HTTP_WORKERS), `trusted_proxies`, `uploads` and `upload_check`,
/// which `crate::start` sets.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once, one thread each. When one more arrives at the cap,
    /// the slowest partial request (or answer stuck behind `min_write_rate`) is closed
    /// to make room; with none to close, idle
    /// keep-alive connections are closed and busy ones close after their current
    /// response, so every client gets its turn.
    pub max_connections: usize,
    /// Connections at once from one client address (IPv6: one /64). At the cap, the
    /// address's longest-idle connection is closed for a new one; with none idle, the
    /// new one is answered 429 and closed. Peers in `trusted_proxies` are not capped:
    /// all their clients share the proxy's address, and X-Forwarded-For is only known
    /// once a head is in.
    pub per_address: usize,
    /// Proxies whose X-Forwarded-For names the client (TRUSTED_PROXY_CIDRS).
    pub trusted_proxies: Vec<Cidr>,
    /// Requests inside the handler at once (HTTP_WORKERS). Bounds the CPU and database
    /// work in flight however many connections are open.
    pub max_handlers: usize,
    /// How long a kept-alive connection may sit without a request (also before the first).
    pub idle_timeout: Duration,
    /// From the first byte of a request to the end of its headers (slow-header clients).
    pub head_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_timeout: Duration,
    /// The least data rate of a head or body, in bytes a second: a part of a request may
    /// take `rate_grace` plus one second per `min_rate` bytes received so far (as
    /// Apache's mod_reqtimeout), never more than `head_timeout` / `body_timeout`. 0: no
    /// floor.
    pub min_rate: u64,
    /// See `min_rate`: the time a head or body gets before the floor applies.
    pub rate_grace: Duration,
    /// The least rate, in bytes a second, at which a client must take its answers: the
    /// time writes wait for it beyond what their bytes earn at this rate adds up (paid
    /// off by the time between writes), and past `write_grace` in all the connection is
    /// closed. While it is behind, it is also a candidate to close when full. 0: no floor.
    pub min_write_rate: u64,
    /// See `min_write_rate`: how long writes may wait for a client in all beyond that.
    pub write_grace: Duration,
    /// Request targets (path prefixes) whose bodies may be up to [`UPLOAD_LIMIT`]
    /// instead of [`BODY_LIMIT`]: image and backup uploads.
    pub uploads: &'static [&'static str],
    /// Bodies over [`BODY_LIMIT`] held in memory at once, at most one per client
    /// address. The body is read before the handler runs, so without this bound anyone
    /// could fill memory with 64 MiB uploads; further ones are answered 503 at once.
    pub upload_slots: usize,
    /// Asked, before a body to an `uploads` route is read or a slot reserved, whether
    /// the sender may upload at all (the web layer checks the session and Origin), so
    /// anonymous clients cannot take the slots. Its answer is sent unread and closed.
    pub upload_check: Option<UploadCheck>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            per_address: 64,
            trusted_proxies: Vec::new(),
            max_handlers: 16,
            // Longer than proxies keep idle upstream connections (nginx 60 s, Traefik and
            // Caddy 90 s): a proxy should close first, not race our close with a request.
            idle_timeout: Duration::from_secs(120),
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            // A 1 KiB head within 6 s; a 64 KiB body within 30 s only above ~2 KiB/s.
            min_rate: 1024,
            rate_grace: Duration::from_secs(5),
            // Far below any real link, far above a trickle that holds a thread for hours.
            min_write_rate: 16 * 1024,
            write_grace: Duration::from_secs(30),
            uploads: &[],
            upload_slots: 2,
            upload_check: None,
        }
    }
}

impl Limits {
    /// The most body a request for `target` may carry.
    fn body_limit(&self, target: &str) -> usize {
        let path = target.split('?').next().unwrap_or(target);
        if self.uploads.iter().any(|p| path.starts_with(p)) {
            UPLOAD_LIMIT
        } else {
            BODY_LIMIT
        }
    }

    /// When a part of a request that began at `since` and has brought `received` bytes
    /// so far is too slow (see `min_rate`).
    fn part_deadline(&self, since: Instant, received: usize, cap: Duration) -> Instant {
        let allowed = match self.min_rate {
            0 => cap,
            rate => {
                cap.min(self.rate_grace + Duration::from_secs_f64(received as f64 / rate as f64))
            }
        };
        since + allowed
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
        uploads: UploadSlots::new(limits.upload_slots),
        limits,
        stop,
        handler,
        crowded: AtomicBool::new(false),
        connections: Mutex::new(Registry::default()),
        freed: Condvar::new(),
        epoch: Instant::now(),
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
    /// Raised while the accept loop waits for a free connection slot with no slow
    /// request to close: idle connections then close, busy ones after their response.
    crowded: AtomicBool,
    connections: Mutex<Registry>,
    freed: Condvar,
    uploads: UploadSlots,
    /// Zero of the millisecond clocks in [`Tracker`](limits::Tracker).
    epoch: Instant,
}

impl<F> Shared<F> {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
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
    while !shared.stopping() {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // Nobody has been waiting for a while.
                shared.crowded.store(false, Ordering::Relaxed);
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
        let Some(slot) = admit(shared, stream, peer.ip()) else {
            continue;
        };
        let spawned = std::thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                let slot = slot;
                serve_connection(&slot.shared, &slot.tracker, peer);
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

#[cfg(test)]
mod tests;
