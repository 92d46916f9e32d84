//! Who gets a connection and a handler: per-address caps, closing the slowest client
//! (a partial request, or an answer the client takes below the least write rate) when
//! full, the large-body upload slots and the gate in front of the handler.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::response::error_response;
use super::{POLL, Shared, SlowClose, count_slow_close, lock};

/// The large-body slots (see [`Limits::upload_slots`](super::Limits::upload_slots)): the client address holding each.
pub(super) struct UploadSlots {
    held: Mutex<Vec<IpAddr>>,
    max: usize,
}

impl UploadSlots {
    pub(super) fn new(max: usize) -> UploadSlots {
        UploadSlots {
            held: Mutex::new(Vec::new()),
            max,
        }
    }

    /// A slot for `client`, unless all are taken or it holds one already.
    pub(super) fn take(&self, client: IpAddr) -> Option<UploadSlot<'_>> {
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
pub(super) struct UploadSlot<'a> {
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

/// A partial request's rate is measured over at least this long, so one just begun is
/// not taken for a fast one (nor divided by zero).
const RATE_WINDOW_MS: u64 = 100;

/// What a connection is doing ([`Tracker::phase`]).
pub(super) const PHASE_IDLE: u8 = 0;
pub(super) const PHASE_HEAD: u8 = 1;
pub(super) const PHASE_BODY: u8 = 2;
pub(super) const PHASE_BUSY: u8 = 3;
/// Writing an answer (see [`Tracker::behind_at_ms`]).
pub(super) const PHASE_WRITE: u8 = 4;

/// One open connection as the accept loop sees it: enough to count it per address and
/// to close it when it is the slowest client and room is needed.
pub(super) struct Tracker {
    pub(super) stream: TcpStream,
    /// The peer address it counts against (None: a trusted proxy, not capped).
    pub(super) address: Option<IpAddr>,
    pub(super) phase: AtomicU8,
    /// When the phase began, in ms since [`Shared::epoch`].
    pub(super) since_ms: AtomicU64,
    /// Bytes of the head or body received, or of the answer sent, in this phase.
    pub(super) received: AtomicU64,
    /// While writing: from when (ms since [`Shared::epoch`]) the write under way leaves
    /// the connection behind the least write rate, if the client has not taken it by
    /// then; u64::MAX between writes. Only a writer behind the rate may be closed for room.
    pub(super) behind_at_ms: AtomicU64,
    pub(super) evicted: AtomicBool,
}

impl Tracker {
    /// Closes the connection under its thread: the thread's blocked read returns at
    /// once, and it ends quietly (its slot is given back as it does).
    fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Bytes a second received of a head or body under way, or sent of an answer that
    /// is stuck behind the least write rate; None when neither (not a candidate to close).
    fn slow_rate(&self, now_ms: u64) -> Option<u64> {
        let slow = match self.phase.load(Ordering::Relaxed) {
            PHASE_HEAD | PHASE_BODY => true,
            PHASE_WRITE => now_ms >= self.behind_at_ms.load(Ordering::Relaxed),
            _ => false,
        };
        if !slow || self.evicted.load(Ordering::Relaxed) {
            return None;
        }
        let age = now_ms.saturating_sub(self.since_ms.load(Ordering::Relaxed));
        Some(self.received.load(Ordering::Relaxed) * 1000 / age.max(RATE_WINDOW_MS))
    }
}

/// Every open connection, by id.
#[derive(Default)]
pub(super) struct Registry {
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

    /// Closes the slowest partial request or stuck writer, if there is one; false if
    /// there is not.
    fn evict_slowest(&self, now_ms: u64) -> bool {
        let slowest = self
            .open
            .values()
            .filter_map(|t| Some((t.slow_rate(now_ms)?, t)))
            .min_by_key(|(rate, _)| *rate);
        let Some((_, victim)) = slowest else {
            return false;
        };
        victim.evict();
        count_slow_close(SlowClose::Evicted);
        true
    }
}

/// Gives an accepted connection a slot. When its address has `per_address` open
/// already, one of them that sits idle is closed for it, or it is refused (429); at
/// `max_connections`, the slowest partial request or stuck writer is closed to make room, or, with
/// none, the crowd is told to make way. None when refused or stopping.
pub(super) fn admit<F>(
    shared: &Arc<Shared<F>>,
    stream: TcpStream,
    peer: IpAddr,
) -> Option<Slot<F>> {
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
        behind_at_ms: AtomicU64::new(u64::MAX),
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
pub(super) fn client_key(ip: IpAddr) -> IpAddr {
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
pub(super) struct Slot<F> {
    pub(super) shared: Arc<Shared<F>>,
    pub(super) tracker: Arc<Tracker>,
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
pub(super) struct Gate {
    state: Mutex<GateState>,
    freed: Condvar,
    max: usize,
}

#[derive(Default)]
struct GateState {
    busy: usize,
    /// Requests waiting for a pass: leaving wakes one only when there is one, since a
    /// condvar's notify is a system call even with nobody to wake (one per request).
    waiting: usize,
}

impl Gate {
    pub(super) fn new(max: usize) -> Gate {
        Gate {
            state: Mutex::new(GateState::default()),
            freed: Condvar::new(),
            max: max.max(1),
        }
    }

    pub(super) fn enter(&self) -> GatePass<'_> {
        let mut state = lock(&self.state);
        while state.busy >= self.max {
            state.waiting += 1;
            state = self.freed.wait(state).unwrap_or_else(|p| p.into_inner());
            state.waiting -= 1;
        }
        state.busy += 1;
        GatePass(self)
    }
}

pub(super) struct GatePass<'a>(&'a Gate);

impl Drop for GatePass<'_> {
    fn drop(&mut self) {
        let waiting = {
            let mut state = lock(&self.0.state);
            state.busy -= 1;
            state.waiting
        };
        if waiting > 0 {
            self.0.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_lets_a_waiting_request_in_when_a_pass_is_given_back() {
        let gate = std::sync::Arc::new(Gate::new(1));
        let first = gate.enter();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let gate = std::sync::Arc::clone(&gate);
            std::thread::spawn(move || {
                let _pass = gate.enter();
                tx.send(()).unwrap();
            })
        };
        // Until the waiter is counted it has not begun to wait.
        while lock(&gate.state).waiting == 0 {
            std::thread::yield_now();
        }
        assert!(rx.try_recv().is_err(), "only one pass at a time");
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the waiter got in");
        waiter.join().unwrap();
        let state = lock(&gate.state);
        assert_eq!((state.busy, state.waiting), (0, 0));
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
}
