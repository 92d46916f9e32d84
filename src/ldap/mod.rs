//! The read-only LDAP directory of the portal's people and groups, for applications that
//! speak nothing else: the listener (LDAP_LISTEN_ADDR), one thread per connection under
//! a per-address cap and a total one that a flood from many addresses cannot fill for
//! everyone (crate::fair_share picks who gives way). Protocol messages come from ldap3_proto; see conn.rs
//! (bytes and TLS, timed by socket.rs), ops.rs (operations), bind.rs, directory.rs and
//! filter.rs.

pub mod accounts;
pub mod bind;
mod conn;
pub mod directory;
pub mod dn;
pub mod filter;
mod ops;
pub mod settings;
mod socket;
pub mod tls;

pub use conn::Limits;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::App;
use crate::fair_share::{self, Holder, Share};

/// Connections open at once, in all. At the cap a connection waiting anonymously is
/// closed for a newcomer (Counts::make_room); with none, the newcomer is closed.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections open at once from one address (an app pools a few).
pub const MAX_PER_ADDRESS: usize = 16;
/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(250);

/// The directory's socket and TLS configuration, ready before any thread starts (so a
/// start that fails on them leaves nothing running).
pub struct Bound {
    pub addr: SocketAddr,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// Binds the directory's address when one is in force (LDAP_LISTEN_ADDR, else the
/// console's); the error names the setting at fault.
pub fn bind(app: &App) -> Result<Option<Bound>, String> {
    let in_force = settings::of(app).map_err(|e| format!("LDAP settings: {e:?}"))?;
    let Some(listen) = in_force.listen_addr else {
        return Ok(None);
    };
    let tls = match &app.config.ldap.tls {
        Some((cert, key)) => Some(tls::server_config(cert, key)?),
        None => None,
    };
    let listener = match crate::web::server::bind(listen) {
        Ok(l) => l,
        // The console's address (a port taken meanwhile) must not keep the portal itself
        // from starting: the owner fixes it in the console. The environment's is an
        // error of the configuration, like LISTEN_ADDR's.
        Err(e) if !app.config.env_set.contains("LDAP_LISTEN_ADDR") => {
            crate::log_error!(
                "ldap: cannot listen on {listen} (the console's ldap.listen_addr): {e}; the directory is off until it is fixed and the portal restarted"
            );
            return Ok(None);
        }
        Err(e) => return Err(format!("LDAP_LISTEN_ADDR: cannot listen on {listen}: {e}")),
    };
    let addr = listener
        .local_addr()
        .map_err(|e| format!("LDAP_LISTEN_ADDR: {e}"))?;
    // On Linux SO_RCVTIMEO bounds accept() too: the loop sees `stop` without a wake-up.
    socket2::SockRef::from(&listener)
        .set_read_timeout(Some(ACCEPT_POLL))
        .map_err(|e| format!("LDAP_LISTEN_ADDR: {e}"))?;
    if tls.is_none() && !listen.ip().is_loopback() {
        crate::log_warn!(
            "ldap: serving plain LDAP on {addr}: passwords cross the network unencrypted; set LDAP_TLS_CERT and LDAP_TLS_KEY unless this is a trusted LAN"
        );
    }
    Ok(Some(Bound {
        addr,
        listener,
        tls,
    }))
}

impl Bound {
    /// Serves the directory until `stop` is raised, on its accept thread (returned) and
    /// one thread per connection.
    pub fn serve(self, app: Arc<App>, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, String> {
        self.serve_with(app, stop, Limits::default())
    }

    /// [`Bound::serve`] with other time limits (tests: a slow client cut off sooner).
    pub fn serve_with(
        self,
        app: Arc<App>,
        stop: Arc<AtomicBool>,
        limits: Limits,
    ) -> Result<JoinHandle<()>, String> {
        let layout = directory::Layout::of(&app);
        crate::log_info!("ldap: directory {} on {}", layout.base, self.addr);
        let shared = Arc::new(conn::Shared {
            app,
            layout,
            tls: self.tls,
            stop,
            limits,
        });
        let listener = self.listener;
        std::thread::Builder::new()
            .name("ldap-accept".into())
            .spawn(move || accept_loop(&listener, &shared))
            .map_err(|e| format!("cannot start the LDAP listener: {e}"))
    }
}

/// Open connections per address, and in all, with what each is doing.
#[derive(Default)]
struct Counts {
    /// Keyed by fair_share::Holder's address (an IPv6 client counts by its /64).
    per_address: HashMap<String, usize>,
    total: usize,
    open: HashMap<u64, (Holder, Arc<Activity>)>,
    next_id: u64,
}

/// [`Activity::idle_since_ms`] while a message is being answered.
const BUSY: u64 = u64::MAX;

/// What one open connection is doing, as its thread tells the accept loop: enough to
/// pick one to close for a newcomer when the directory is full.
struct Activity {
    /// The socket, shut down to close the connection from outside its thread.
    stream: Option<TcpStream>,
    epoch: Instant,
    /// Since when (ms from `epoch`) it has had nothing to answer (a message dripping
    /// in counts as nothing); [`BUSY`] while answering one.
    idle_since_ms: AtomicU64,
    /// Bound as a service account or a person (anonymous else).
    bound: AtomicBool,
}

impl Activity {
    fn new(stream: Option<TcpStream>, epoch: Instant) -> Activity {
        let a = Activity {
            stream,
            epoch,
            idle_since_ms: AtomicU64::new(0),
            bound: AtomicBool::new(false),
        };
        a.idle(false);
        a
    }

    /// A message is being answered.
    fn busy(&self) {
        self.idle_since_ms.store(BUSY, Ordering::Relaxed);
    }

    /// Answered; waiting for the next message, bound as someone or not.
    fn idle(&self, bound: bool) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(BUSY - 1);
        self.idle_since_ms.store(ms, Ordering::Relaxed);
        self.bound.store(bound, Ordering::Relaxed);
    }

    /// Since when it has had nothing to answer, anonymous: the connections a newcomer
    /// may take the place of (an app's bound pool is never closed for a stranger, nor
    /// a connection in the middle of its answer).
    fn anonymous_idle_since(&self) -> Option<u64> {
        let since = self.idle_since_ms.load(Ordering::Relaxed);
        (since != BUSY && !self.bound.load(Ordering::Relaxed)).then_some(since)
    }
}

/// A connection's place in [`Counts`], given back when its thread ends.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    id: u64,
    activity: Arc<Activity>,
}

impl Counts {
    /// Gives back the place of connection `id` (if it still has one).
    fn release(&mut self, id: u64) -> Option<Arc<Activity>> {
        let (from, activity) = self.open.remove(&id)?;
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.per_address.get_mut(&from.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_address.remove(&from.address);
            }
        }
        Some(activity)
    }

    /// Closes a connection to make room for one from `from`: one waiting anonymously (an
    /// app's bound pool is never closed for a stranger, nor a connection in the middle of
    /// its answer), of the network holding the most such (crate::fair_share), the one
    /// that has waited longest; when that is the newcomer's own address, its own (it
    /// gains nothing by it). False when none may be closed. Cheap connections that say
    /// one thing and wait, from many addresses, must not keep out everyone else (an IPv6
    /// /48 has 65,536 /64s).
    fn make_room(&mut self, from: &Holder) -> bool {
        let waiting: Vec<(u64, u64, &Holder)> = self
            .open
            .iter()
            .filter_map(|(id, (h, a))| a.anonymous_idle_since().map(|since| (since, *id, h)))
            .collect();
        let mut shares: HashMap<&Holder, Share> = HashMap::new();
        for &(_, id, holder) in &waiting {
            let id = i64::try_from(id).unwrap_or(i64::MAX);
            let share = shares.entry(holder).or_insert_with(|| Share {
                holder: holder.clone(),
                entries: 0,
                oldest: id,
            });
            share.entries += 1;
            share.oldest = share.oldest.min(id);
        }
        let shares: Vec<Share> = shares.into_values().collect();
        let victim = fair_share::gives_way(&shares, from).unwrap_or(from);
        let longest = waiting
            .iter()
            .filter(|(_, _, h)| *h == victim)
            .map(|&(since, id, _)| (since, id))
            .min();
        let Some((_, id)) = longest else {
            return false;
        };
        if let Some(stream) = self.release(id).as_ref().and_then(|a| a.stream.as_ref()) {
            // Its thread's next read ends; its place is free already.
            let _ = stream.shutdown(Shutdown::Both);
        }
        true
    }
}

impl Slot {
    fn take(
        counts: &Arc<Mutex<Counts>>,
        limits: &Limits,
        ip: IpAddr,
        activity: Activity,
    ) -> Option<Slot> {
        let from = fair_share::holder_of(ip);
        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c.per_address.get(&from.address).copied().unwrap_or(0);
        if mine >= limits.per_address {
            return None;
        }
        if c.total >= limits.max_connections && !c.make_room(&from) {
            return None;
        }
        c.total += 1;
        c.per_address.insert(from.address.clone(), mine + 1);
        let id = c.next_id;
        c.next_id += 1;
        let activity = Arc::new(activity);
        c.open.insert(id, (from, Arc::clone(&activity)));
        Some(Slot {
            counts: Arc::clone(counts),
            id,
            activity,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.release(self.id);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<conn::Shared>) {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let epoch = Instant::now();
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut last_error_log: Option<Instant> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        threads.retain(|t| !t.is_finished());
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                    crate::log_error!("ldap: accept failed: {e}");
                    last_error_log = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        // Without a handle to close it by, a connection could not make room for others.
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        // Over a cap: closed at once (the client sees the connection end and retries).
        let activity = Activity::new(Some(handle), epoch);
        let Some(slot) = Slot::take(&counts, &shared.limits, peer.ip(), activity) else {
            continue;
        };
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("ldap-conn".into())
            .spawn(move || {
                conn::serve(&shared, stream, peer, &slot.activity);
                drop(slot);
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => crate::log_error!("ldap: cannot start a connection thread: {e}"),
        }
    }
    for t in threads {
        let _ = t.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(counts: &Arc<Mutex<Counts>>, limits: &Limits, ip: &str) -> Option<Slot> {
        let activity = Activity::new(None, Instant::now());
        Slot::take(counts, limits, ip.parse().unwrap(), activity)
    }

    /// One IPv6 client has a /64 of addresses: they share the per-address cap.
    #[test]
    fn the_per_address_cap_counts_an_ipv6_slash_64_as_one_address() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let limits = Limits::default();
        let held: Vec<Slot> = (1..=MAX_PER_ADDRESS)
            .map(|i| take(&counts, &limits, &format!("2001:db8::{i:x}")).unwrap())
            .collect();
        assert!(take(&counts, &limits, "2001:db8::ffff:1").is_none());
        assert!(take(&counts, &limits, "2001:db8:0:1::1").is_some());
        drop(held);
        let v4: Vec<Slot> = (0..MAX_PER_ADDRESS)
            .map(|_| take(&counts, &limits, "192.0.2.7").unwrap())
            .collect();
        assert!(take(&counts, &limits, "::ffff:192.0.2.7").is_none());
        assert!(take(&counts, &limits, "192.0.2.8").is_some());
        drop(v4);
    }

    /// When all are taken, a newcomer takes the place of the connection that has waited
    /// longest anonymously; bound and busy ones stay.
    #[test]
    fn a_full_directory_makes_room_by_closing_an_anonymous_idle_connection() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let limits = Limits {
            max_connections: 3,
            ..Limits::default()
        };
        let bound = take(&counts, &limits, "192.0.2.1").unwrap();
        bound.activity.idle(true);
        let busy = take(&counts, &limits, "192.0.2.2").unwrap();
        busy.activity.busy();
        let waiting = take(&counts, &limits, "192.0.2.3").unwrap();
        let newcomer = take(&counts, &limits, "192.0.2.4").expect("room made");
        newcomer.activity.busy();
        let open = |c: &Arc<Mutex<Counts>>| {
            let c = c.lock().unwrap();
            let mut ids: Vec<u64> = c.open.keys().copied().collect();
            ids.sort_unstable();
            (ids, c.total)
        };
        assert_eq!(open(&counts), (vec![bound.id, busy.id, newcomer.id], 3));
        assert!(
            take(&counts, &limits, "192.0.2.5").is_none(),
            "none to close"
        );
        drop(waiting);
        assert_eq!(open(&counts).1, 3, "a place given back once only");
    }

    /// All connections taken, waiting anonymously, from many /64s of one /48: a
    /// connection from elsewhere still gets in, and the /48's oldest is closed for it; a
    /// newcomer from the network holding the most is refused.
    #[test]
    fn a_flood_from_one_48_gives_way_to_a_connection_from_elsewhere() {
        use std::io::Read;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let pair = || {
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            (server, client)
        };
        let counts = Arc::new(Mutex::new(Counts::default()));
        let limits = Limits::default();
        let epoch = Instant::now();
        let at = |a: &str| a.parse::<IpAddr>().unwrap();
        let open = |ip: IpAddr, server: &TcpStream| {
            let activity = Activity::new(Some(server.try_clone().unwrap()), epoch);
            Slot::take(&counts, &limits, ip, activity)
        };
        let mut flood = Vec::new();
        for i in 0..MAX_CONNECTIONS {
            let (server, client) = pair();
            let slot = open(at(&format!("2001:db8:1:{i:x}::1")), &server);
            flood.push((slot.expect("room"), server, client));
        }
        let (server, _client) = pair();
        let same_48 = open(at("2001:db8:1:ffff::1"), &server);
        assert!(same_48.is_some(), "it closes its own /48's oldest");
        let person = open(at("192.0.2.7"), &server);
        assert!(person.is_some(), "another network gets in");
        assert_eq!(counts.lock().unwrap().open.len(), MAX_CONNECTIONS);
        // The two oldest of the flood were closed: their clients read the end.
        for (_, _, client) in &mut flood[..2] {
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            assert_eq!(client.read(&mut [0u8; 1]).unwrap(), 0);
        }
        flood[2].2.set_nonblocking(true).unwrap();
        assert!(flood[2].2.read(&mut [0u8; 1]).is_err(), "still open");
        drop(flood);

        // Full again, one IPv4 address holding the most: its newcomer takes the place of
        // its own longest-waiting connection, not a stranger's.
        let sole = Arc::new(Mutex::new(Counts::default()));
        let mut held = Vec::new();
        for i in 0..MAX_CONNECTIONS {
            let ip = if i < MAX_PER_ADDRESS - 1 {
                "192.0.2.9".to_string()
            } else {
                format!("198.18.{}.{}", i / 256, i % 256)
            };
            held.push(take(&sole, &limits, &ip).expect("room"));
        }
        let first = held[0].id;
        let again = take(&sole, &limits, "192.0.2.9").expect("its own place");
        let c = sole.lock().unwrap();
        assert_eq!(c.open.len(), MAX_CONNECTIONS);
        assert!(!c.open.contains_key(&first), "its oldest gave way");
        assert!(
            c.open.contains_key(&held[MAX_PER_ADDRESS].id),
            "strangers stay"
        );
        drop(c);
        drop(again);
    }
}
