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
//! - When all `max_connections` (1024) are taken and another arrives, the slowest
//!   partial request (head or body, by bytes a second) is closed to make room; only
//!   when there is none do idle and busy keep-alive connections make way.
//! - Upload routes' bodies (up to 64 MiB) are read only once `upload_check` accepts the
//!   head (the web layer: a live console session and the portal's Origin), in one of
//!   `upload_slots` (2) slots, at most one per client address.
//!
//! benches/slowloris.sh measures a well-behaved client's latency while 1,100 slow
//! connections are held, against its latency without them.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rouille::{Request, Response};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::net::Cidr;

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
    /// the slowest partial request is closed to make room; with none to close, idle
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
    /// A client that stops reading its response is dropped after this.
    pub write_timeout: Duration,
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
            write_timeout: Duration::from_secs(30),
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
    /// Zero of the millisecond clocks in [`Tracker`].
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

/// The large-body slots (see [`Limits::upload_slots`]): the client address holding each.
struct UploadSlots {
    held: Mutex<Vec<IpAddr>>,
    max: usize,
}

impl UploadSlots {
    fn new(max: usize) -> UploadSlots {
        UploadSlots {
            held: Mutex::new(Vec::new()),
            max,
        }
    }

    /// A slot for `client`, unless all are taken or it holds one already.
    fn take(&self, client: IpAddr) -> Option<UploadSlot<'_>> {
        let mut held = lock(&self.held);
        if held.len() >= self.max || held.contains(&client) {
            return None;
        }
        held.push(client);
        Some(UploadSlot {
            slots: self,
            client,
        })
    }
}

/// One large body's place in memory, given back when its exchange ends.
struct UploadSlot<'a> {
    slots: &'a UploadSlots,
    client: IpAddr,
}

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        let mut held = lock(&self.slots.held);
        if let Some(i) = held.iter().position(|&a| a == self.client) {
            held.swap_remove(i);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A partial request's rate is measured over at least this long, so one just begun is
/// not taken for a fast one (nor divided by zero).
const RATE_WINDOW_MS: u64 = 100;

/// What a connection is doing ([`Tracker::phase`]).
const PHASE_IDLE: u8 = 0;
const PHASE_HEAD: u8 = 1;
const PHASE_BODY: u8 = 2;
const PHASE_BUSY: u8 = 3;

/// One open connection as the accept loop sees it: enough to count it per address and
/// to close it when it is the slowest partial request and room is needed.
struct Tracker {
    stream: TcpStream,
    /// The peer address it counts against (None: a trusted proxy, not capped).
    address: Option<IpAddr>,
    phase: AtomicU8,
    /// When the phase began, in ms since [`Shared::epoch`].
    since_ms: AtomicU64,
    /// Bytes of the head or body received in this phase.
    received: AtomicU64,
    evicted: AtomicBool,
}

impl Tracker {
    /// Closes the connection under its thread: the thread's blocked read returns at
    /// once, and it ends quietly (its slot is given back as it does).
    fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Bytes a second received of a head or body under way; None when there is none.
    fn partial_rate(&self, now_ms: u64) -> Option<u64> {
        let phase = self.phase.load(Ordering::Relaxed);
        if !matches!(phase, PHASE_HEAD | PHASE_BODY) || self.evicted.load(Ordering::Relaxed) {
            return None;
        }
        let age = now_ms.saturating_sub(self.since_ms.load(Ordering::Relaxed));
        Some(self.received.load(Ordering::Relaxed) * 1000 / age.max(RATE_WINDOW_MS))
    }
}

/// Every open connection, by id.
#[derive(Default)]
struct Registry {
    open: HashMap<u64, Arc<Tracker>>,
    per_address: HashMap<IpAddr, usize>,
    next_id: u64,
}

impl Registry {
    /// Closes the longest idle connection from `address` (idle for at least
    /// [`RATE_WINDOW_MS`]), so a client at its cap that opens a new connection gets it;
    /// false if there is none.
    fn evict_idle(&self, address: IpAddr, now_ms: u64) -> bool {
        let oldest = self
            .open
            .values()
            .filter(|t| {
                t.address == Some(address)
                    && t.phase.load(Ordering::Relaxed) == PHASE_IDLE
                    && !t.evicted.load(Ordering::Relaxed)
            })
            .map(|t| (t.since_ms.load(Ordering::Relaxed), t))
            .filter(|(since, _)| now_ms.saturating_sub(*since) >= RATE_WINDOW_MS)
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, t)) => {
                t.evict();
                true
            }
            None => false,
        }
    }

    /// Closes the slowest partial request, if there is one; false if there is not.
    fn evict_slowest(&self, now_ms: u64) -> bool {
        let slowest = self
            .open
            .values()
            .filter_map(|t| Some((t.partial_rate(now_ms)?, t)))
            .min_by_key(|(rate, _)| *rate);
        let Some((_, victim)) = slowest else {
            return false;
        };
        victim.evict();
        true
    }
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

/// Gives an accepted connection a slot. When its address has `per_address` open
/// already, one of them that sits idle is closed for it, or it is refused (429); at
/// `max_connections`, the slowest partial request is closed to make room, or, with
/// none, the crowd is told to make way. None when refused or stopping.
fn admit<F>(shared: &Arc<Shared<F>>, stream: TcpStream, peer: IpAddr) -> Option<Slot<F>> {
    let limits = &shared.limits;
    let peer = crate::net::canonical(peer);
    let trusted = limits.trusted_proxies.iter().any(|c| c.contains(peer));
    let address = (!trusted).then(|| client_key(peer));
    let mut registry = lock(&shared.connections);
    if let Some(a) = address
        && registry.per_address.get(&a).copied().unwrap_or(0) >= limits.per_address
        && !registry.evict_idle(a, shared.now_ms())
    {
        drop(registry);
        refuse(&stream, 429);
        return None;
    }
    let waiting_since = Instant::now();
    while registry.open.len() >= limits.max_connections {
        if shared.stopping() {
            return None;
        }
        if registry.evict_slowest(shared.now_ms()) {
            shared.crowded.store(false, Ordering::Relaxed);
        } else if waiting_since.elapsed() >= POLL {
            // Nothing slow to close (a connection just accepted may not have sent its
            // first bytes yet, hence the wait): everyone makes way.
            shared.crowded.store(true, Ordering::Relaxed);
        }
        registry = shared
            .freed
            .wait_timeout(registry, POLL)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    let id = registry.next_id;
    registry.next_id += 1;
    let tracker = Arc::new(Tracker {
        stream,
        address,
        phase: AtomicU8::new(PHASE_IDLE),
        since_ms: AtomicU64::new(shared.now_ms()),
        received: AtomicU64::new(0),
        evicted: AtomicBool::new(false),
    });
    registry.open.insert(id, Arc::clone(&tracker));
    if let Some(a) = address {
        *registry.per_address.entry(a).or_insert(0) += 1;
    }
    // Room to spare after this one: nobody is kept waiting. (At the cap the flag stays
    // up until an accept finds room or finds nobody, so a connection that answers while
    // a freed slot is being refilled still makes way.)
    if registry.open.len() < limits.max_connections {
        shared.crowded.store(false, Ordering::Relaxed);
    }
    Some(Slot {
        shared: Arc::clone(shared),
        tracker,
        id,
    })
}

/// What the per-address limits count: an IPv4 address, or an IPv6 /64 (one
/// subscriber's network: anyone with one can use 2^64 addresses).
fn client_key(ip: IpAddr) -> IpAddr {
    match crate::net::canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// Answers `status` to a connection that gets no thread, without waiting for it.
fn refuse(stream: &TcpStream, status: u16) {
    // Non-blocking: a client that does not read must not hold up the accept loop.
    let _ = stream.set_nonblocking(true);
    let mut w = stream;
    let _ = w.write_all(&error_response(status));
    let _ = stream.shutdown(Shutdown::Both);
}

/// A connection's claim on one of `max_connections` (and on its address's share);
/// given back on drop, even if the connection's thread panics.
struct Slot<F> {
    shared: Arc<Shared<F>>,
    tracker: Arc<Tracker>,
    id: u64,
}

impl<F> Drop for Slot<F> {
    fn drop(&mut self) {
        let mut registry = lock(&self.shared.connections);
        registry.open.remove(&self.id);
        if let Some(a) = self.tracker.address
            && let Some(n) = registry.per_address.get_mut(&a)
        {
            *n -= 1;
            if *n == 0 {
                registry.per_address.remove(&a);
            }
        }
        drop(registry);
        self.shared.freed.notify_one();
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
    /// An answer went out already (the body was not read): close.
    Answered,
}

/// What a read waits for, and until when.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// The next request: closes quietly at `until`, or at once when crowded.
    Idle { until: Instant },
    /// More of a head or body begun at `since`: answered `status` once it falls below
    /// the data rate or passes `cap` (see [`Limits::min_rate`]).
    Part {
        since: Instant,
        cap: Duration,
        status: u16,
    },
}

struct Conn<'a, F> {
    shared: &'a Shared<F>,
    tracker: &'a Tracker,
    peer: SocketAddr,
    /// Bytes read and not yet consumed (the start of the next, pipelined request).
    buf: Vec<u8>,
    /// Bytes received in the current phase (for the data rate).
    received: usize,
}

fn serve_connection<F>(shared: &Shared<F>, tracker: &Tracker, peer: SocketAddr)
where
    F: Fn(&Request) -> Response,
{
    let stream = &tracker.stream;
    let setup = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(POLL)))
        .and_then(|()| stream.set_write_timeout(Some(shared.limits.write_timeout)));
    if setup.is_err() {
        return;
    }
    let mut conn = Conn {
        shared,
        tracker,
        peer,
        buf: Vec::with_capacity(4096),
        received: 0,
    };
    loop {
        match conn.exchange() {
            Ok(true) => {}
            Ok(false) | Err(Fail::Quiet) => break,
            Err(Fail::Answer(status)) => {
                let _ = conn.stream().write_all(&error_response(status));
                linger_close(conn.stream());
                return;
            }
            Err(Fail::Answered) => {
                linger_close(conn.stream());
                return;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

impl<F> Conn<'_, F>
where
    F: Fn(&Request) -> Response,
{
    fn stream(&self) -> &TcpStream {
        &self.tracker.stream
    }

    /// Tells the accept loop what this connection does now, from `received` bytes on.
    fn enter(&mut self, phase: u8, received: usize) {
        self.received = received;
        let t = self.tracker;
        t.received.store(received as u64, Ordering::Relaxed);
        t.since_ms.store(self.shared.now_ms(), Ordering::Relaxed);
        t.phase.store(phase, Ordering::Relaxed);
    }

    /// One request and its response; Ok(true) to keep the connection for another.
    fn exchange(&mut self) -> Result<bool, Fail> {
        let Some(head) = self.read_head()? else {
            return Ok(false);
        };
        let limits = &self.shared.limits;
        let limit = limits.body_limit(&head.target);
        let meta = analyse(&head, limit).map_err(Fail::Answer)?;
        let upload = limit > BODY_LIMIT && meta.framing != Framing::None;
        if upload {
            self.check_upload(&head, &meta)?;
        }
        let large = upload
            && match meta.framing {
                Framing::None => false,
                Framing::Length(n) => n > BODY_LIMIT,
                Framing::Chunked => true,
            };
        let slot = match large {
            true => {
                let forwarded = header(&head, "X-Forwarded-For");
                let client =
                    crate::net::client_ip(self.peer.ip(), forwarded, &limits.trusted_proxies);
                let slot = self.shared.uploads.take(client_key(client));
                Some(slot.ok_or(Fail::Answer(503))?)
            }
            false => None,
        };
        if meta.expect_continue && meta.framing != Framing::None && self.buf.is_empty() {
            self.stream()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|_| Fail::Quiet)?;
        }
        let body = self.read_body(meta.framing, limit)?;
        self.enter(PHASE_BUSY, 0);
        let request =
            Request::fake_http_from(self.peer, head.method, head.target, head.headers, body);
        let response = {
            let _pass = self.shared.gate.enter();
            // Handlers never panic on input, but a bug must cost one request, not the connection.
            catch_unwind(AssertUnwindSafe(|| (self.shared.handler)(&request))).unwrap_or_else(
                |_| {
                    crate::log_error!(
                        "handler panicked on {} {}",
                        request.method(),
                        crate::log::clean(&request.url())
                    );
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
        // The large body is done with: its slot is free before the client hears back.
        drop(request);
        drop(slot);
        self.write_response(response, head_only, keep_alive, meta.http10)?;
        Ok(keep_alive)
    }

    /// Asks [`Limits::upload_check`] whether this upload's body may be read at all; a
    /// refusal is answered at once, the body unread.
    fn check_upload(&mut self, head: &Head, meta: &Meta) -> Result<(), Fail> {
        let Some(check) = &self.shared.limits.upload_check else {
            return Ok(());
        };
        let probe = Request::fake_http_from(
            self.peer,
            head.method.clone(),
            head.target.clone(),
            head.headers.clone(),
            Vec::new(),
        );
        let verdict = {
            // It reads the database: it counts as handler work.
            let _pass = self.shared.gate.enter();
            catch_unwind(AssertUnwindSafe(|| (check.0)(&probe)))
        };
        match verdict {
            Ok(Ok(())) => Ok(()),
            Ok(Err(response)) => {
                let head_only = head.method == "HEAD";
                self.write_response(response, head_only, false, meta.http10)?;
                Err(Fail::Answered)
            }
            Err(_) => {
                crate::log_error!("the upload check panicked on {}", head.method);
                Err(Fail::Answer(500))
            }
        }
    }

    /// Reads more input. Ok(false) at end of stream (or when closed to make room).
    fn fill(&mut self, wait: Wait) -> Result<bool, Fail> {
        let len = self.buf.len();
        self.buf.resize(len + 8192, 0);
        let mut stream = &self.tracker.stream;
        loop {
            let read = stream.read(&mut self.buf[len..]);
            match read {
                Ok(n) => {
                    self.buf.truncate(len + n);
                    self.received += n;
                    let total = self.received as u64;
                    self.tracker.received.store(total, Ordering::Relaxed);
                    // A client sending a byte now and then never lets a read time out:
                    // a partial request's deadline is checked here too.
                    if let Wait::Part { .. } = wait {
                        self.check_deadline(wait)?;
                    }
                    return Ok(n > 0);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if let Err(fail) = self.check_deadline(wait) {
                        self.buf.truncate(len);
                        return Err(fail);
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

    /// Whether the connection may keep waiting: not when stopping, past its deadline,
    /// or idle while others wait for a slot.
    fn check_deadline(&self, wait: Wait) -> Result<(), Fail> {
        if self.shared.stopping() {
            return Err(Fail::Quiet);
        }
        let now = Instant::now();
        match wait {
            Wait::Idle { until } => {
                if now >= until || self.shared.crowded.load(Ordering::Relaxed) {
                    return Err(Fail::Quiet);
                }
            }
            Wait::Part { since, cap, status } => {
                let limits = &self.shared.limits;
                if now >= limits.part_deadline(since, self.received, cap) {
                    return Err(Fail::Answer(status));
                }
            }
        }
        Ok(())
    }

    /// The next request's head, None when the client closed (or idled out) between requests.
    fn read_head(&mut self) -> Result<Option<Head>, Fail> {
        let limits = &self.shared.limits;
        let idle = Wait::Idle {
            until: Instant::now() + limits.idle_timeout,
        };
        self.enter(PHASE_IDLE, 0);
        let mut part: Option<Wait> = None;
        let mut scanned = 0;
        loop {
            // Empty lines (CRLF) before a request line are ignored (RFC 9112, 2.2).
            let blank = self.buf.chunks(2).take_while(|&l| l == b"\r\n").count() * 2;
            if blank > 0 {
                self.buf.drain(..blank);
                scanned = 0;
            }
            if !self.buf.is_empty() {
                if part.is_none() {
                    self.enter(PHASE_HEAD, self.buf.len());
                    part = Some(Wait::Part {
                        since: Instant::now(),
                        cap: limits.head_timeout,
                        status: 408,
                    });
                }
                if let Some(end) = head_end(&self.buf, scanned) {
                    if end > HEAD_LIMIT {
                        return Err(Fail::Answer(431));
                    }
                    let head = parse_head(&self.buf[..end]).map_err(Fail::Answer)?;
                    self.buf.drain(..end);
                    return Ok(Some(head));
                }
                // All of it is head so far. A bare LF is refused as soon as it shows,
                // not when the head ends (it may never).
                if bare_lf_from(&self.buf, scanned) {
                    return Err(Fail::Answer(400));
                }
                if self.buf.len() > HEAD_LIMIT {
                    return Err(Fail::Answer(431));
                }
                scanned = self.buf.len().saturating_sub(2);
            }
            match (self.fill(part.unwrap_or(idle)), part) {
                (Ok(true), _) => {}
                (Ok(false), None) => return Ok(None),
                (Ok(false), Some(_)) => return Err(Fail::Quiet),
                (Err(fail), _) => return Err(fail),
            }
        }
    }

    fn read_body(&mut self, framing: Framing, limit: usize) -> Result<Vec<u8>, Fail> {
        if framing == Framing::None {
            return Ok(Vec::new());
        }
        self.enter(PHASE_BODY, self.buf.len());
        let wait = Wait::Part {
            since: Instant::now(),
            cap: self.shared.limits.body_timeout,
            status: 408,
        };
        match framing {
            Framing::None => Ok(Vec::new()),
            Framing::Length(n) => {
                while self.buf.len() < n {
                    if !self.fill(wait)? {
                        return Err(Fail::Quiet);
                    }
                }
                let rest = self.buf.split_off(n);
                Ok(std::mem::replace(&mut self.buf, rest))
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                loop {
                    match decoder.step(&self.buf, limit) {
                        Chunked::Done(used) => {
                            self.buf.drain(..used);
                            return Ok(decoder.body);
                        }
                        Chunked::Invalid(status) => return Err(Fail::Answer(status)),
                        Chunked::Partial => {
                            if !self.fill(wait)? {
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
        let mut stream = self.stream();
        match size {
            // Known size and nothing to send, or too big for one buffer: head first.
            Some(n) if !send_body || n > SINGLE_WRITE_MAX => {
                if body_allowed {
                    out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                stream.write_all(&out).map_err(|_| Fail::Quiet)?;
                if send_body {
                    let copied = io::copy(&mut reader.take(n as u64), &mut stream)
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
                stream.write_all(&out).map_err(|_| Fail::Quiet)?;
            }
        }
        Ok(())
    }
}

/// After an error answer: stop sending, then drain what the client is still sending for
/// a moment, so closing with unread data does not reset the connection before the
/// client has read the answer.
fn linger_close(mut stream: &TcpStream) {
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

/// Index just past the blank line ending a head, searching for its first LF from
/// `from`. Bare LFs end it too, so such a head is refused (400) at once.
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

/// Whether `bytes` holds an LF not preceded by CR. httparse takes a bare LF as a line
/// end; a proxy that does not would read different lines from the same bytes.
fn has_bare_lf(bytes: &[u8]) -> bool {
    bare_lf_from(bytes, 0)
}

/// [`has_bare_lf`] looking only at LFs from index `from` on.
fn bare_lf_from(bytes: &[u8], from: usize) -> bool {
    (from..bytes.len()).any(|i| bytes[i] == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// httparse with every leniency off. Its defaults are strict for requests already; they
/// are spelled out so a version that changes a default cannot loosen this silently.
fn request_parser() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config
        .allow_multiple_spaces_in_request_line_delimiters(false)
        .ignore_invalid_headers_in_requests(false)
        .allow_space_before_first_header_name(false)
        .allow_spaces_after_header_name_in_responses(false)
        .allow_obsolete_multiline_headers_in_responses(false);
    config
}

/// 505 for a well-formed version other than 1.0 and 1.1 (httparse calls any other
/// version malformed, which would be a 400).
fn unsupported_version(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let version = line.rsplit(|&b| b == b' ').next()?;
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit()
                && minor.is_ascii_digit()
                && !(*major == b'1' && matches!(minor, b'0' | b'1')) =>
        {
            Some(505)
        }
        _ => None,
    }
}

/// Parses a complete head (request line and header fields, ending with the blank line)
/// with httparse. Bare LF line ends, obs-fold continuation lines, whitespace before a
/// colon and control characters are all refused (400).
fn parse_head(bytes: &[u8]) -> Result<Head, u16> {
    if has_bare_lf(bytes) {
        return Err(400);
    }
    if let Some(status) = unsupported_version(bytes) {
        return Err(status);
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    match request_parser().parse_request(&mut parsed, bytes) {
        Ok(httparse::Status::Complete(n)) if n == bytes.len() => {}
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        _ => return Err(400),
    }
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(400);
    };
    // httparse lets bytes above 0x7f through in the target; a target is ASCII, and has
    // no fragment.
    if target.is_empty()
        || !target
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b'#')
    {
        return Err(400);
    }
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(trim_whitespace(h.value)).into_owned(),
            )
        })
        .collect();
    let target = if target.starts_with('/') || (target == "*" && method == "OPTIONS") {
        target.to_string()
    } else {
        // absolute-form (RFC 9112, 3.2.2): keep the path and query. Its host must be the
        // Host header's: a proxy may route by one while the handler reads the other.
        let rest = target
            .strip_prefix("http://")
            .or_else(|| target.strip_prefix("https://"))
            .ok_or(400u16)?;
        let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let host = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("Host"));
        if authority.is_empty() || host.is_some_and(|(_, h)| !h.eq_ignore_ascii_case(authority)) {
            return Err(400);
        }
        match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        }
    };
    Ok(Head {
        method: method.to_string(),
        target,
        http10: version == 0,
        headers,
    })
}

/// The first value of the header `name` (any case).
fn header<'a>(head: &'a Head, name: &str) -> Option<&'a str> {
    head.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether a comma-separated header value lists `token` (any case).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// What the headers say about the body and the connection. Every framing a proxy in
/// front could read differently is refused: both framings, a repeated or listed
/// Content-Length, an empty Transfer-Encoding element, any coding but `chunked` alone.
fn analyse(head: &Head, body_limit: usize) -> Result<Meta, u16> {
    let mut hosts = 0;
    let mut length: Option<usize> = None;
    let mut transfer_encodings: Vec<&str> = Vec::new();
    let (mut close, mut keep_alive_token, mut expect_continue) = (false, false, false);
    for (name, value) in &head.headers {
        let name = name.as_str();
        if name.eq_ignore_ascii_case("Host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("Content-Length") {
            let v = value.as_str();
            if length.is_some()
                || v.is_empty()
                || v.len() > 19
                || !v.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(400);
            }
            let n: u64 = v.parse().map_err(|_| 400u16)?;
            length = Some(usize::try_from(n).unwrap_or(usize::MAX));
        } else if name.eq_ignore_ascii_case("Transfer-Encoding") {
            transfer_encodings.extend(value.split(',').map(str::trim));
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
        if length.is_some() || head.http10 || transfer_encodings.contains(&"") {
            return Err(400);
        }
        match transfer_encodings.as_slice() {
            [te] if te.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => return Err(501),
        }
    } else {
        match length {
            Some(n) if n > body_limit => return Err(413),
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
/// Chunk extensions and trailer fields are checked and dropped.
#[derive(Debug, Default)]
struct ChunkedDecoder {
    body: Vec<u8>,
    /// Start of the element (size line, chunk, trailer section) being decoded.
    pos: usize,
    /// Where to resume looking for the end of the current line or section.
    scanned: usize,
    /// Set once the last chunk is read: where the trailer section starts.
    trailers_at: Option<usize>,
}

/// Longest chunk-size line (with extensions) accepted.
const CHUNK_LINE_LIMIT: usize = 1024;

impl ChunkedDecoder {
    fn step(&mut self, buf: &[u8], limit: usize) -> Chunked {
        loop {
            if let Some(t) = self.trailers_at {
                return self.trailers(buf, t);
            }
            let from = self.scanned.max(self.pos);
            let Some(nl) = buf[from..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| from + i)
            else {
                self.scanned = buf.len();
                return if buf.len() - self.pos > CHUNK_LINE_LIMIT {
                    Chunked::Invalid(400)
                } else {
                    Chunked::Partial
                };
            };
            let line = &buf[self.pos..=nl];
            if line.len() > CHUNK_LINE_LIMIT {
                return Chunked::Invalid(400);
            }
            let Some(size) = chunk_size(line) else {
                return Chunked::Invalid(400);
            };
            if size == 0 {
                self.pos = nl + 1;
                self.scanned = self.pos;
                self.trailers_at = Some(self.pos);
                continue;
            }
            let room = (limit - self.body.len()) as u64;
            if size > room {
                return Chunked::Invalid(413);
            }
            // Fits in usize: it is at most `limit`.
            let size = size as usize;
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

    /// The trailer section from `start` (field lines, then an empty line), parsed with
    /// httparse and dropped.
    fn trailers(&mut self, buf: &[u8], start: usize) -> Chunked {
        let section = &buf[start..];
        if section.starts_with(b"\r\n") {
            return Chunked::Done(start + 2);
        }
        let from = self.scanned.saturating_sub(start + 3);
        let end = section[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| from + i + 4);
        let Some(end) = end else {
            self.scanned = buf.len();
            return if bare_lf_from(section, from) {
                Chunked::Invalid(400)
            } else if section.len() > HEAD_LIMIT {
                Chunked::Invalid(431)
            } else {
                Chunked::Partial
            };
        };
        if end > HEAD_LIMIT {
            return Chunked::Invalid(431);
        }
        let fields = &section[..end];
        if has_bare_lf(fields) {
            return Chunked::Invalid(400);
        }
        let mut parsed = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::parse_headers(fields, &mut parsed) {
            Ok(httparse::Status::Complete((n, _))) if n == end => Chunked::Done(start + end),
            Err(httparse::Error::TooManyHeaders) => Chunked::Invalid(431),
            _ => Chunked::Invalid(400),
        }
    }
}

/// The size a chunk-size line (with its CRLF) announces, None if it is not exactly
/// `1*HEXDIG [BWS ";" ext] CRLF`. httparse reads the number (and refuses more than 16
/// digits); the checks before it refuse what it lets pass: an empty size (taken as 0),
/// whitespace before or after the size without an extension, and any control
/// character (bare CR or LF, NUL) in an extension.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let content = line.strip_suffix(b"\r\n")?;
    let digits = content
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(content.len());
    if digits == 0
        || content
            .iter()
            .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return None;
    }
    let rest = &content[digits..];
    if !rest.is_empty() && !trim_whitespace(rest).starts_with(b";") {
        return None;
    }
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((n, size))) if n == line.len() => Some(size),
        _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, u16> {
        let bytes = text.as_bytes();
        let end = head_end(bytes, 0).expect("a complete head");
        parse_head(&bytes[..end])
    }

    fn meta(text: &str) -> Result<Meta, u16> {
        analyse(&head(text)?, BODY_LIMIT)
    }

    #[test]
    fn parses_a_request_head() {
        let h = head(
            "GET /whoami?x=1 HTTP/1.1\r\nHost: a.example\r\nCookie:  a=b \r\nX-Empty:\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/whoami?x=1");
        assert!(!h.http10);
        assert_eq!(
            h.headers,
            vec![
                ("Host".to_string(), "a.example".to_string()),
                ("Cookie".to_string(), "a=b".to_string()),
                ("X-Empty".to_string(), String::new()),
            ]
        );
        let h = head("POST / HTTP/1.0\r\nHost: a\r\n\r\n").unwrap();
        assert!(h.http10);
        assert_eq!(h.headers.len(), 1);
    }

    #[test]
    fn absolute_form_targets_keep_path_and_query() {
        assert_eq!(
            head("GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n")
                .unwrap()
                .target,
            "/x?y"
        );
        assert_eq!(
            head("GET https://a.example HTTP/1.1\r\nHost: A.example\r\n\r\n")
                .unwrap()
                .target,
            "/"
        );
        assert_eq!(
            head("GET http://a.example:8089?q HTTP/1.1\r\nHost: a.example:8089\r\n\r\n")
                .unwrap()
                .target,
            "/?q"
        );
        assert_eq!(
            head("GET http://a.example/x HTTP/1.0\r\n\r\n")
                .unwrap()
                .target,
            "/x"
        );
        // A host in the target unlike the Host header: which one routes? Refused.
        assert_eq!(
            head("GET http://evil.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n"),
            Err(400)
        );
        assert_eq!(head("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), Err(400));
        assert_eq!(head("GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n"), Err(400));
        assert_eq!(
            head("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap()
                .target,
            "*"
        );
        assert_eq!(head("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), Err(400));
        assert_eq!(head("GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n"), Err(400));
    }

    #[test]
    fn refuses_malformed_heads() {
        for bad in [
            "GET /\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1 \r\n\r\n",
            "GET / http/1.1\r\n\r\n",
            "GET / HTTP/1\r\n\r\n",
            "GET / HTTP/1.10\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "GET /a\x01b HTTP/1.1\r\n\r\n",
            "GET /\x7f HTTP/1.1\r\n\r\n",
            "GET /caf\u{e9} HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\r\r\n\r\n",
            // Bare LF line ends, anywhere.
            "GET / HTTP/1.1\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n\n",
            "GET / HTTP/1.0\n\n",
            "GET / HTTP/1.1\r\nX: a\nb\r\n\r\n",
            "GET / HTTP/1.1\r\nHost:\ta\r\n\tfolded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
            "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHo\x00st: a\r\n\r\n",
            "GET / HTTP/1.1\r\nX: \x1b[0m\r\n\r\n",
            "GET / HTTP/1.1\rHost: a\r\n\r\n",
        ] {
            assert_eq!(head(bad), Err(400), "{bad:?}");
        }
        assert_eq!(head("GET / HTTP/2.0\r\n\r\n"), Err(505));
        assert_eq!(head("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Err(505));
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X: y\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(head(&many), Err(431));
        // Bytes above 0x7f in a value (obs-text) are passed on, not a reason to fail.
        let h = parse_head(b"GET / HTTP/1.1\r\nX: a\xffb\r\n\r\n").unwrap();
        assert_eq!(h.headers[0].1, "a\u{fffd}b");
    }

    #[test]
    fn finds_the_end_of_a_head_incrementally() {
        let text = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
        assert_eq!(head_end(text, 0), Some(text.len() - 4));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nX", 0), Some(16));
        // Resuming two bytes back still sees a terminator split across reads.
        for cut in 1..text.len() - 4 {
            assert_eq!(head_end(&text[..cut], 0), None, "cut at {cut}");
            assert_eq!(head_end(text, cut.saturating_sub(2)), Some(text.len() - 4));
        }
    }

    #[test]
    fn framing_and_connection() {
        let m = meta("GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(
            (m.framing, m.keep_alive, m.expect_continue),
            (Framing::None, true, false)
        );
        let m = meta("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!(m.framing, Framing::Length(5));
        let m = meta("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").unwrap();
        assert_eq!(m.framing, Framing::Chunked);
        let m = meta("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, Close\r\n\r\n").unwrap();
        assert!(!m.keep_alive);
        assert!(!meta("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        let m = meta("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(m.keep_alive && m.http10);
        let m =
            meta("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
        assert!(m.unwrap().expect_continue);
        let limit = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {BODY_LIMIT}\r\n\r\n");
        assert_eq!(meta(&limit).unwrap().framing, Framing::Length(BODY_LIMIT));
    }

    #[test]
    fn refuses_ambiguous_or_unsupported_framing() {
        let cases = [
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
                400,
            ),
            // Even repeated with the same value: one Content-Length, one number.
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
                400,
            ),
            // An empty or comma-only Transfer-Encoding is not "no Transfer-Encoding".
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
                501,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
                501,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65538\r\n\r\n",
                413,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999\r\n\r\n",
                413,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                501,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                501,
            ),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n",
                417,
            ),
        ];
        for (text, status) in cases {
            assert_eq!(meta(text), Err(status), "{text:?}");
        }
    }

    #[test]
    fn per_address_limits_count_ipv6_by_network() {
        let key = |s: &str| client_key(s.parse().unwrap()).to_string();
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_eq!(key("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2:ffff::9"), key("2001:db8:1:2::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    }

    fn decode_all(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize), u16> {
        let mut d = ChunkedDecoder::default();
        match d.step(input, limit) {
            Chunked::Done(used) => Ok((d.body, used)),
            Chunked::Partial => Err(0),
            Chunked::Invalid(s) => Err(s),
        }
    }

    #[test]
    fn decodes_chunked_bodies() {
        let input =
            b"5;ext=1\r\nhello\r\n7 ; e=\"q\"\r\n, world\r\n0\r\nTrailer: x\r\n\r\nGET /next";
        let (body, used) = decode_all(input, BODY_LIMIT).unwrap();
        assert_eq!(body, b"hello, world");
        assert_eq!(&input[used..], b"GET /next");
        assert_eq!(
            decode_all(b"0\r\n\r\n", BODY_LIMIT).unwrap(),
            (Vec::new(), 5)
        );
        assert_eq!(
            decode_all(b"A\r\n0123456789\r\n0000\r\n\r\n", BODY_LIMIT)
                .unwrap()
                .0,
            b"0123456789"
        );
        // Fed one byte at a time, the resumable decoder gets the same result.
        let mut d = ChunkedDecoder::default();
        let mut done = None;
        for n in 1..=input.len() {
            match d.step(&input[..n], BODY_LIMIT) {
                Chunked::Partial => {}
                Chunked::Done(used) => {
                    done = Some(used);
                    break;
                }
                Chunked::Invalid(s) => panic!("invalid {s} at {n}"),
            }
        }
        assert_eq!(done, Some(input.len() - 9));
        assert_eq!(d.body, b"hello, world");
    }

    #[test]
    fn refuses_bad_chunked_bodies() {
        assert_eq!(decode_all(b"5\r\nhelloXX0\r\n\r\n", BODY_LIMIT), Err(400));
        assert_eq!(decode_all(b"g\r\n", BODY_LIMIT), Err(400));
        assert_eq!(decode_all(b"\r\n", BODY_LIMIT), Err(400));
        assert_eq!(decode_all(b"-1\r\n", BODY_LIMIT), Err(400));
        assert_eq!(decode_all(b"123456789\r\n", BODY_LIMIT), Err(413));
        assert_eq!(decode_all(b"ffffffff\r\n", BODY_LIMIT), Err(413));
        assert_eq!(decode_all(b"ffffffffffffffff\r\n", BODY_LIMIT), Err(413));
        // What httparse alone would let through: each a way to read the body differently.
        for bad in [
            &b"1ffffffffffffffff\r\n"[..], // overflows 64 bits
            b"0000000000000000005\r\n",    // more than 16 digits
            b"5\nhello\r\n0\r\n\r\n",      // bare LF after the size
            b" 5\r\nhello\r\n0\r\n\r\n",   // leading space
            b"5 \r\nhello\r\n0\r\n\r\n",   // trailing space without an extension
            b"\t5\r\nhello\r\n0\r\n\r\n",
            b"5;a\rb\r\nhello\r\n0\r\n\r\n", // bare CR in an extension
            b"5;a\nb\r\nhello\r\n0\r\n\r\n", // bare LF in an extension
            b"5;a\x00\r\nhello\r\n0\r\n\r\n", // NUL in an extension
            b" \r\n\r\n",                    // no digits (httparse: size 0)
            b"\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n", // chunk data not ended by CRLF
            b"0\r\nX: a\x00\r\n\r\n", // NUL in a trailer
            b"0\r\nno colon\r\n\r\n", // colon-less trailer line
            b"0\r\nX: a\n\r\n",       // bare LF in trailers
            b"0\r\nX: a\r\n\n",
            b"0\r\n\n",
            b"0\r\nX : a\r\n\r\n",
            b"0\r\nX: a\r\n folded\r\n\r\n",
        ] {
            assert_eq!(
                decode_all(bad, BODY_LIMIT),
                Err(400),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(decode_all(b"6\r\nhello!\r\n5\r\n", 10), Err(413));
        let long_ext = format!("5;{}", "x".repeat(2000));
        assert_eq!(decode_all(long_ext.as_bytes(), BODY_LIMIT), Err(400));
        let long_trailer = format!("0\r\nX: {}", "x".repeat(HEAD_LIMIT + 1));
        assert_eq!(decode_all(long_trailer.as_bytes(), BODY_LIMIT), Err(431));
        assert_eq!(decode_all(b"5\r\nhel", BODY_LIMIT), Err(0));
    }

    #[test]
    fn response_heads_are_clean() {
        let mut out = Vec::new();
        let headers = vec![
            ("Content-Type".into(), "text/plain".into()),
            ("Content-Length".into(), "999".into()),
            ("Connection".into(), "upgrade".into()),
            ("X-Split".into(), "a\r\nSet-Cookie: evil=1".into()),
            ("Bad Name".into(), "x".into()),
        ];
        write_head(&mut out, 200, &headers, true, false);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: "),
            "{text}"
        );
        assert!(!text.contains("999") && !text.contains("evil") && !text.contains("Bad Name"));
        assert!(!text.contains("Connection"));
        let mut out = Vec::new();
        write_head(&mut out, 200, &[], true, true);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("Connection: keep-alive\r\n")
        );
        let err = String::from_utf8(error_response(431)).unwrap();
        assert!(err.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(
            err.contains("Connection: close\r\n")
                && err.ends_with("\r\n\r\nrequest header fields too large\n")
        );
    }

    /// Hostile input through every parser: nothing may panic.
    #[test]
    fn random_input_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"GET POST/ HTTP/1.01\r\n:;,0123456789abcdefxXHost Content-Length Transfer-Encoding chunked\x00\x7f\xff\t ";
        for _ in 0..20_000 {
            let len = (next() % 200) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let from = (next() % (len as u64 + 1)) as usize;
            if let Some(end) = head_end(&input, from)
                && let Ok(h) = parse_head(&input[..end])
            {
                let _ = analyse(&h, BODY_LIMIT);
            }
            let _ = ChunkedDecoder::default().step(&input, 100);
        }
    }

    // ---- over real sockets ----

    use std::io::BufRead;

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
        let head = |len: usize| {
            format!("PUT /up/file HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n")
        };
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
}
