//! The read-only LDAP directory of the portal's people and groups, for applications that
//! speak nothing else: the listener (LDAP_LISTEN_ADDR), one thread per connection under
//! a per-address cap and a total one that a flood from many addresses cannot fill for
//! everyone (the network holding the most connections gives way, crate::fair_share). Protocol messages come from ldap3_proto; see conn.rs
//! (bytes and TLS), ops.rs (operations), bind.rs, directory.rs and filter.rs.

pub mod accounts;
pub mod bind;
mod conn;
pub mod directory;
pub mod dn;
pub mod filter;
mod ops;
pub mod settings;
pub mod tls;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::App;
use crate::fair_share::{self, Holder, Share};

/// Connections open at once, in all.
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
        let layout = directory::Layout::of(&app);
        crate::log_info!("ldap: directory {} on {}", layout.base, self.addr);
        let shared = Arc::new(conn::Shared {
            app,
            layout,
            tls: self.tls,
            stop,
        });
        let listener = self.listener;
        std::thread::Builder::new()
            .name("ldap-accept".into())
            .spawn(move || accept_loop(&listener, &shared))
            .map_err(|e| format!("cannot start the LDAP listener: {e}"))
    }
}

/// The connections open now, each with where it came from (fair_share::holder_of: its
/// network, and its address, an IPv6 client counting by its /64) and a handle to close it.
#[derive(Default)]
struct Counts {
    open: HashMap<u64, Open>,
    next_id: u64,
}

struct Open {
    from: Holder,
    /// The connection's socket, to close it when it gives way (None: it could not be
    /// cloned, so it cannot be made to give way).
    stream: Option<TcpStream>,
}

impl Counts {
    /// When full, closes the oldest connection of the network holding the most (see
    /// crate::fair_share) for one from `from`; false when that network is its own.
    fn make_room(&mut self, from: &Holder) -> bool {
        if self.open.len() < MAX_CONNECTIONS {
            return true;
        }
        let mut shares: HashMap<&Holder, Share> = HashMap::new();
        for (id, o) in &self.open {
            let id = i64::try_from(*id).unwrap_or(i64::MAX);
            let share = shares.entry(&o.from).or_insert_with(|| Share {
                holder: o.from.clone(),
                entries: 0,
                oldest: id,
            });
            share.entries += 1;
            share.oldest = share.oldest.min(id);
        }
        let shares: Vec<Share> = shares.into_values().collect();
        let Some(victim) = fair_share::gives_way(&shares, from) else {
            return false;
        };
        let oldest = self
            .open
            .iter()
            .filter(|(_, o)| o.from == *victim)
            .map(|(id, _)| *id)
            .min();
        let Some(closed) = oldest.and_then(|id| self.open.remove(&id)) else {
            return false;
        };
        if let Some(stream) = closed.stream {
            // Its thread's next read ends; its slot is free already.
            let _ = stream.shutdown(Shutdown::Both);
        }
        true
    }
}

/// A connection's place in [`Counts`], given back when its thread ends.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    id: u64,
}

impl Slot {
    /// A place for `stream` from `ip`, unless its address holds [`MAX_PER_ADDRESS`]
    /// already, or all [`MAX_CONNECTIONS`] are taken and its network holds the most.
    fn take(counts: &Arc<Mutex<Counts>>, ip: IpAddr, stream: &TcpStream) -> Option<Slot> {
        let from = fair_share::holder_of(ip);
        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c
            .open
            .values()
            .filter(|o| o.from.address == from.address)
            .count();
        if mine >= MAX_PER_ADDRESS || !c.make_room(&from) {
            return None;
        }
        let id = c.next_id;
        c.next_id += 1;
        let stream = stream.try_clone().ok();
        c.open.insert(id, Open { from, stream });
        Some(Slot {
            counts: Arc::clone(counts),
            id,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.open.remove(&self.id);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<conn::Shared>) {
    let counts = Arc::new(Mutex::new(Counts::default()));
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
        // Over a cap: closed at once (the client sees the connection end and retries).
        let Some(slot) = Slot::take(&counts, peer.ip(), &stream) else {
            continue;
        };
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("ldap-conn".into())
            .spawn(move || {
                let _slot = slot;
                conn::serve(&shared, stream, peer);
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
    use std::io::Read;

    /// Connected loopback sockets: (the server's end, the client's end).
    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (server, client)
    }

    /// One IPv6 client has a /64 of addresses: they share the per-address cap.
    #[test]
    fn the_per_address_cap_counts_an_ipv6_slash_64_as_one_address() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (s, _c) = pair(&listener);
        let counts = Arc::new(Mutex::new(Counts::default()));
        let at = |a: &str| a.parse::<IpAddr>().unwrap();
        let held: Vec<Slot> = (1..=MAX_PER_ADDRESS)
            .map(|i| Slot::take(&counts, at(&format!("2001:db8::{i:x}")), &s).unwrap())
            .collect();
        assert!(Slot::take(&counts, at("2001:db8::ffff:1"), &s).is_none());
        assert!(Slot::take(&counts, at("2001:db8:0:1::1"), &s).is_some());
        drop(held);
        let v4: Vec<Slot> = (0..MAX_PER_ADDRESS)
            .map(|_| Slot::take(&counts, at("192.0.2.7"), &s).unwrap())
            .collect();
        assert!(Slot::take(&counts, at("::ffff:192.0.2.7"), &s).is_none());
        assert!(Slot::take(&counts, at("192.0.2.8"), &s).is_some());
        drop(v4);
    }

    /// All connections taken from many /64s of one /48: a connection from elsewhere
    /// still gets in, and the /48's oldest connection is closed for it; a newcomer from
    /// the network holding the most is refused.
    #[test]
    fn a_flood_from_one_48_gives_way_to_a_connection_from_elsewhere() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let counts = Arc::new(Mutex::new(Counts::default()));
        let at = |a: &str| a.parse::<IpAddr>().unwrap();
        let mut flood = Vec::new();
        for i in 0..MAX_CONNECTIONS {
            let (server, client) = pair(&listener);
            let slot = Slot::take(&counts, at(&format!("2001:db8:1:{i:x}::1")), &server);
            flood.push((slot.expect("room"), server, client));
        }
        let (server, _client) = pair(&listener);
        let same_48 = Slot::take(&counts, at("2001:db8:1:ffff::1"), &server);
        assert!(same_48.is_some(), "it evicts its own /48's oldest");
        let person = Slot::take(&counts, at("192.0.2.7"), &server);
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

        // Full again, one IPv4 address holding the most: its newcomer is refused.
        let sole = Arc::new(Mutex::new(Counts::default()));
        let mut held = Vec::new();
        for i in 0..MAX_CONNECTIONS {
            let ip = if i < MAX_PER_ADDRESS - 1 {
                at("192.0.2.9")
            } else {
                at(&format!("198.18.{}.{}", i / 256, i % 256))
            };
            held.push(Slot::take(&sole, ip, &server).expect("room"));
        }
        assert!(Slot::take(&sole, at("192.0.2.9"), &server).is_none());
        assert_eq!(sole.lock().unwrap().open.len(), MAX_CONNECTIONS);
    }
}
