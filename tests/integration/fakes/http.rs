//! Shared plumbing for the fakes: server thread, request log, fault injection, small utilities.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rouille::Response;

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Percent-decoded path, without the query string.
    pub path: String,
    /// Raw query string, without the `?`.
    pub query: String,
    /// Header names are lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// First query parameter with exactly this name, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// Like `query_param`, but the name is matched case-insensitively (ASP.NET binds that way).
    pub fn query_param_ci(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.into_owned())
    }
}

/// A failure to inject on requests whose path starts with a given prefix.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and the fake's usual error body for it).
    Status(u16),
    /// Sleep, then answer normally.
    Slow(Duration),
    /// 200 with body `<html>not json`.
    Garbage,
    /// Applies the inner fault to the next matching request only.
    Once(Box<Fault>),
}

/// Builds the body for an injected `Fault::Status`, in the style of the faked API.
pub type FaultBody = fn(u16) -> Response;

type Handler = dyn Fn(&Recorded) -> Response + Send + Sync + 'static;

struct Shared {
    log: Mutex<Vec<Recorded>>,
    // Newest last; the newest matching entry wins so a `Once` can override a standing fault.
    faults: Mutex<Vec<(String, Fault)>>,
    // Emby serves everything under `/emby`; prefixes also match with it stripped.
    alias_prefix: Option<&'static str>,
}

impl Shared {
    fn matches(&self, path: &str, prefix: &str) -> bool {
        if path.starts_with(prefix) {
            return true;
        }
        match self.alias_prefix {
            Some(alias) => {
                strip_prefix_ci(path, alias).is_some_and(|rest| rest.starts_with(prefix))
            }
            None => false,
        }
    }

    /// Removes a `Once` when it fires; returns the fault to apply now.
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let idx = faults.iter().rposition(|(p, _)| self.matches(path, p))?;
        match &faults[idx].1 {
            Fault::Once(inner) => {
                let inner = (**inner).clone();
                faults.remove(idx);
                Some(inner)
            }
            other => Some(other.clone()),
        }
    }
}

/// A running HTTP server; stops (and frees its port) on drop.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(
        handler: Box<Handler>,
        fault_body: FaultBody,
        alias_prefix: Option<&'static str>,
    ) -> FakeServer {
        Self::start_at("127.0.0.1:0", handler, fault_body, alias_prefix)
    }

    /// Like `start`, on a given address (a server that comes back on the same port).
    pub fn start_at(
        addr: &str,
        handler: Box<Handler>,
        fault_body: FaultBody,
        alias_prefix: Option<&'static str>,
    ) -> FakeServer {
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            alias_prefix,
        });
        let sh = shared.clone();
        let server = rouille::Server::new(addr, move |req: &rouille::Request| {
            let rec = record(req);
            lock(&sh.log).push(rec.clone());
            match sh.take_fault(&rec.path) {
                None => handler(&rec),
                Some(fault) => apply_fault(fault, fault_body, || handler(&rec)),
            }
        })
        .expect("bind fake server");
        let addr = server.server_addr();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        // Own poll loop instead of `stoppable()`: that one only notices the stop signal after a
        // full second idle, which would make every fake's Drop cost up to 1 s.
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Acquire) {
                server.poll_timeout(Duration::from_millis(20));
            }
        });
        FakeServer {
            addr,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.log).clone()
    }

    pub fn count(&self, path_prefix: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| self.shared.matches(&r.path, path_prefix))
            .count()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    pub fn fail(&self, route: &str, fault: Fault) {
        lock(&self.shared.faults).push((route.to_string(), fault));
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn apply_fault(fault: Fault, fault_body: FaultBody, normal: impl FnOnce() -> Response) -> Response {
    match fault {
        Fault::Status(code) => fault_body(code),
        Fault::Slow(d) => {
            std::thread::sleep(d);
            normal()
        }
        Fault::Garbage => Response::from_data("text/html; charset=utf-8", "<html>not json"),
        // A nested Once is already being consumed: just apply what it wraps.
        Fault::Once(inner) => apply_fault(*inner, fault_body, normal),
    }
}

fn record(req: &rouille::Request) -> Recorded {
    let mut body = Vec::new();
    if let Some(mut data) = req.data() {
        let _ = data.read_to_end(&mut body);
    }
    Recorded {
        method: req.method().to_string(),
        path: req.url(),
        query: req.raw_query_string().to_string(),
        headers: req
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Locks, ignoring poisoning: a panicking handler must not wedge the remaining tests.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Case-insensitive `strip_prefix` that only strips at a segment boundary.
pub fn strip_prefix_ci<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let head = path.get(..prefix.len())?;
    let rest = &path[prefix.len()..];
    (head.eq_ignore_ascii_case(prefix) && (rest.is_empty() || rest.starts_with('/')))
        .then_some(rest)
}

/// Unpredictable enough for fake tokens; std only (RandomState is randomly keyed per process).
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

pub fn random_from(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[(random_u64() % alphabet.len() as u64) as usize] as char)
        .collect()
}

pub fn random_hex(len: usize) -> String {
    random_from(b"0123456789abcdef", len)
}

/// "2026-11-23T14:00:00Z" (UTC, whole seconds).
pub fn iso8601(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

pub fn json_response(status: u16, v: &serde_json::Value) -> Response {
    Response::from_data("application/json; charset=utf-8", v.to_string()).with_status_code(status)
}

pub fn text_response(status: u16, body: &str) -> Response {
    Response::from_data("text/plain; charset=utf-8", body.to_string()).with_status_code(status)
}

/// Minimal escaping for text placed in HTML attributes or bodies.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
