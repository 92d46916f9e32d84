//! The read-only LDAP directory of the portal's people and groups, for applications that
//! speak nothing else: the listener (LDAP_LISTEN_ADDR), one thread per connection under
//! a total and a per-address cap. Protocol messages come from ldap3_proto; see conn.rs
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
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::App;

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

/// Open connections per address, and in all.
#[derive(Default)]
struct Counts {
    per_address: HashMap<IpAddr, usize>,
    total: usize,
}

/// A connection's place in [`Counts`], given back when its thread ends.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

/// The address a connection counts against: an IPv6 client holds a whole /64 (one
/// home or host gets 2^64 addresses), so its addresses count as one; an IPv4 address
/// written as IPv6 counts as the IPv4 one.
fn counted_as(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

impl Slot {
    fn take(counts: &Arc<Mutex<Counts>>, ip: IpAddr) -> Option<Slot> {
        let ip = counted_as(ip);
        let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c.per_address.get(&ip).copied().unwrap_or(0);
        if c.total >= MAX_CONNECTIONS || mine >= MAX_PER_ADDRESS {
            return None;
        }
        c.total += 1;
        c.per_address.insert(ip, mine + 1);
        Some(Slot {
            counts: Arc::clone(counts),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_address.remove(&self.ip);
            }
        }
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
        let Some(slot) = Slot::take(&counts, peer.ip()) else {
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

    /// One IPv6 client has a /64 of addresses: they share the per-address cap.
    #[test]
    fn the_per_address_cap_counts_an_ipv6_slash_64_as_one_address() {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let at = |s: &str| s.parse::<IpAddr>().unwrap();
        let held: Vec<Slot> = (1..=MAX_PER_ADDRESS)
            .map(|i| Slot::take(&counts, at(&format!("2001:db8::{i:x}"))).unwrap())
            .collect();
        assert!(Slot::take(&counts, at("2001:db8::ffff:1")).is_none());
        assert!(Slot::take(&counts, at("2001:db8:0:1::1")).is_some());
        drop(held);
        let v4: Vec<Slot> = (0..MAX_PER_ADDRESS)
            .map(|_| Slot::take(&counts, at("192.0.2.7")).unwrap())
            .collect();
        assert!(Slot::take(&counts, at("::ffff:192.0.2.7")).is_none());
        assert!(Slot::take(&counts, at("192.0.2.8")).is_some());
        drop(v4);
    }
}
