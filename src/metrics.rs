//! Counters and histograms behind `/metrics` (Prometheus text format 0.0.4). The hot
//! path only adds to fixed arrays of atomics: a route and a status are looked up in
//! short tables, so the label sets stay bounded whatever paths clients send.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::db::holders::Store;
use crate::providers::{Outcome, ProviderError, ProviderKind};

/// Room for route labels: the labels themselves come from the route table
/// (web::routes::metric_labels, the last one "other"), so the counters are sized for
/// at most this many.
pub const MAX_ROUTE_LABELS: usize = 40;

/// Status codes counted on their own; any other is counted as "other".
const STATUSES: &[u16] = &[
    200, 201, 204, 301, 302, 303, 304, 400, 401, 403, 404, 405, 409, 413, 429, 500, 502, 503,
];

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

const PROVIDERS: &[ProviderKind] = &[
    ProviderKind::Plex,
    ProviderKind::Jellyfin,
    ProviderKind::Emby,
];
/// How a media server answered a sign-in.
const SIGNIN_RESULTS: &[&str] = &[
    "success",
    "denied",
    "invalid_credentials",
    "unreachable",
    "error",
];
/// How an LDAP bind with a DN ended ([`LdapBind`]'s order).
const LDAP_BIND_RESULTS: &[&str] = &["success", "failure", "limited"];

/// How an LDAP bind with a DN ended: `Limited` was refused unchecked, its address or DN
/// over the LDAP bind limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapBind {
    Success = 0,
    Failure = 1,
    Limited = 2,
}

/// What forward-auth told the proxy.
const DECISIONS: &[&str] = &["allow", "sign_in", "deny", "invalid"];

fn counters(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

pub struct Metrics {
    /// MAX_ROUTE_LABELS x (STATUSES + other)
    requests: Box<[AtomicU64]>,
    /// MAX_ROUTE_LABELS x (BUCKETS + Inf), cumulative at render time only.
    latency: Box<[AtomicU64]>,
    latency_sum_us: Box<[AtomicU64]>,
    /// PROVIDERS x SIGNIN_RESULTS
    signins: Box<[AtomicU64]>,
    decisions: Box<[AtomicU64]>,
    /// LDAP binds, by LDAP_BIND_RESULTS.
    ldap_binds: [AtomicU64; 3],
    ldap_searches: AtomicU64,
    /// Entries a full store evicted to make room (crate::fair_share), by Store::ALL.
    evictions: [AtomicU64; Store::ALL.len()],
    started: i64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: counters(MAX_ROUTE_LABELS * (STATUSES.len() + 1)),
            latency: counters(MAX_ROUTE_LABELS * (BUCKETS.len() + 1)),
            latency_sum_us: counters(MAX_ROUTE_LABELS),
            signins: counters(PROVIDERS.len() * SIGNIN_RESULTS.len()),
            decisions: counters(DECISIONS.len()),
            ldap_binds: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            ldap_searches: AtomicU64::new(0),
            evictions: Default::default(),
            started: chrono::Utc::now().timestamp(),
        }
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Metrics {
    /// One answered request, counted under the route label with this index (see
    /// [`MAX_ROUTE_LABELS`]; a larger index counts under the last row).
    pub fn request(&self, route: usize, status: u16, took: Duration) {
        let route = route.min(MAX_ROUTE_LABELS - 1);
        let code = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len());
        add(&self.requests[route * (STATUSES.len() + 1) + code], 1);
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        add(&self.latency[route * (BUCKETS.len() + 1) + bucket], 1);
        add(
            &self.latency_sum_us[route],
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        );
    }

    /// What forward-auth told the proxy, by the status of its answer.
    pub fn forward_auth(&self, status: u16) {
        let decision = match status {
            200 => 0,
            401 | 302 | 303 => 1,
            403 => 2,
            _ => 3,
        };
        add(&self.decisions[decision], 1);
    }

    /// One LDAP bind with a DN (anonymous binds are not counted).
    pub fn ldap_bind(&self, result: LdapBind) {
        add(&self.ldap_binds[result as usize], 1);
    }

    /// One LDAP search.
    pub fn ldap_search(&self) {
        add(&self.ldap_searches, 1);
    }

    /// A full store evicted an entry to make room for another network's.
    pub fn evicted(&self, store: Store) {
        let i = Store::ALL.iter().position(|s| *s == store).unwrap_or(0);
        add(&self.evictions[i], 1);
    }

    /// What a media server said to a sign-in.
    pub fn signin(&self, provider: ProviderKind, outcome: &Result<Outcome, ProviderError>) {
        let result = match outcome {
            Ok(Outcome::Authorized(_)) => "success",
            Ok(Outcome::Denied { .. }) => "denied",
            Err(ProviderError::InvalidCredentials) => "invalid_credentials",
            Err(ProviderError::Unreachable(_)) => "unreachable",
            Err(_) => "error",
        };
        let p = PROVIDERS.iter().position(|k| *k == provider).unwrap_or(0);
        let r = SIGNIN_RESULTS
            .iter()
            .position(|x| *x == result)
            .unwrap_or(0);
        add(&self.signins[p * SIGNIN_RESULTS.len() + r], 1);
    }

    /// The counters and histograms, plus the gauges read at scrape time.
    /// `routes` names the route labels by index (web::routes::metric_labels).
    pub fn render(&self, routes: &[&str], gauges: &[Gauge]) -> String {
        let routes = &routes[..routes.len().min(MAX_ROUTE_LABELS)];
        let mut out = String::with_capacity(8 * 1024);
        self.render_requests(routes, &mut out);
        self.render_latency(routes, &mut out);
        header(
            &mut out,
            "authportal_signins_total",
            "counter",
            "Sign-ins by media server and what it answered.",
        );
        for (p, provider) in PROVIDERS.iter().enumerate() {
            for (r, result) in SIGNIN_RESULTS.iter().enumerate() {
                let n = get(&self.signins[p * SIGNIN_RESULTS.len() + r]);
                let _ = writeln!(
                    out,
                    "authportal_signins_total{{provider=\"{}\",result=\"{result}\"}} {n}",
                    provider.as_str()
                );
            }
        }
        header(
            &mut out,
            "authportal_forward_auth_decisions_total",
            "counter",
            "Forward-auth answers: allow (200), sign_in (401/302/303), deny (403), invalid (other).",
        );
        for (i, d) in DECISIONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "authportal_forward_auth_decisions_total{{decision=\"{d}\"}} {}",
                get(&self.decisions[i])
            );
        }
        header(
            &mut out,
            "authportal_ldap_binds_total",
            "counter",
            "LDAP binds with a DN, by result.",
        );
        for (i, result) in LDAP_BIND_RESULTS.iter().enumerate() {
            let _ = writeln!(
                out,
                "authportal_ldap_binds_total{{result=\"{result}\"}} {}",
                get(&self.ldap_binds[i])
            );
        }
        header(
            &mut out,
            "authportal_ldap_searches_total",
            "counter",
            "LDAP searches.",
        );
        let _ = writeln!(
            out,
            "authportal_ldap_searches_total {}",
            get(&self.ldap_searches)
        );
        header(
            &mut out,
            "authportal_store_evictions_total",
            "counter",
            "Entries a full store (sign-ins in progress, device codes, authorization requests waiting for sign-in) evicted to make room, from the network holding the most.",
        );
        for (i, store) in Store::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "authportal_store_evictions_total{{store=\"{}\"}} {}",
                store.label(),
                get(&self.evictions[i])
            );
        }
        header(
            &mut out,
            "authportal_http_slow_clients_closed_total",
            "counter",
            "HTTP connections closed for slowness: slow_request (a head or body below the data rate, 408), slow_reader (answers taken below the least write rate), evicted (the slowest closed to make room when full).",
        );
        for (reason, n) in crate::web::server::slow_closes() {
            let _ = writeln!(
                out,
                "authportal_http_slow_clients_closed_total{{reason=\"{reason}\"}} {n}"
            );
        }
        header(
            &mut out,
            "authportal_log_lines_dropped_total",
            "counter",
            "Log lines dropped because the log writer's queue was full (stderr too slow).",
        );
        let _ = writeln!(
            out,
            "authportal_log_lines_dropped_total {}",
            crate::log::dropped()
        );
        // Gauges of one family (several label sets) come one after another: one header.
        let mut family = "";
        for g in gauges {
            if g.name != family {
                header(&mut out, g.name, g.kind, g.help);
                family = g.name;
            }
            let _ = writeln!(out, "{}{} {}", g.name, g.labels, number(g.value));
        }
        header(
            &mut out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
        );
        let _ = writeln!(out, "process_start_time_seconds {}", self.started);
        out
    }

    fn render_requests(&self, routes: &[&str], out: &mut String) {
        header(
            out,
            "authportal_http_requests_total",
            "counter",
            "HTTP requests answered, by route and status code.",
        );
        for (r, route) in routes.iter().enumerate() {
            for code in 0..=STATUSES.len() {
                let n = get(&self.requests[r * (STATUSES.len() + 1) + code]);
                if n == 0 {
                    continue;
                }
                let status = STATUSES
                    .get(code)
                    .map_or("other".to_string(), u16::to_string);
                let _ = writeln!(
                    out,
                    "authportal_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
    }

    fn render_latency(&self, routes: &[&str], out: &mut String) {
        header(
            out,
            "authportal_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival in the handler to its response, by route.",
        );
        for (r, route) in routes.iter().enumerate() {
            let row = &self.latency[r * (BUCKETS.len() + 1)..(r + 1) * (BUCKETS.len() + 1)];
            let count: u64 = row.iter().map(get).sum();
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (i, c) in row.iter().enumerate() {
                cumulative += get(c);
                let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "authportal_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = get(&self.latency_sum_us[r]) as f64 / 1e6;
            let _ = writeln!(
                out,
                "authportal_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "authportal_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
    }
}

/// A value read when /metrics is scraped (sessions, memory...).
pub struct Gauge {
    pub name: &'static str,
    pub kind: &'static str,
    pub help: &'static str,
    /// `{name="value"}` or empty.
    pub labels: String,
    pub value: f64,
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Whole numbers without a fraction, like Prometheus' own clients print them.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// The resident set size of this process, from /proc (Linux), in bytes.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Open file descriptors of this process (Linux).
pub fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// The start-up warning for a `/metrics` anyone on the network can read: no METRICS_TOKEN
/// and a listen address other than loopback. Metrics tell no names, but they do tell
/// traffic, sign-in failures and versions to whoever asks.
pub fn open_warning(listen: std::net::SocketAddr, token: Option<&str>) -> Option<String> {
    (token.is_none() && !listen.ip().is_loopback()).then(|| {
        format!(
            "/metrics is open to anyone who can reach {listen}: set METRICS_TOKEN, or block \
             /metrics at the reverse proxy"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_metrics_warn_only_off_loopback_without_a_token() {
        let at = |a: &str| a.parse().unwrap();
        assert!(open_warning(at("0.0.0.0:8089"), None).is_some());
        assert!(open_warning(at("192.168.1.5:8089"), None).is_some());
        assert!(open_warning(at("[::]:8089"), None).is_some());
        assert!(open_warning(at("127.0.0.1:8089"), None).is_none());
        assert!(open_warning(at("[::1]:8089"), None).is_none());
        assert!(open_warning(at("0.0.0.0:8089"), Some("t")).is_none());
    }

    #[test]
    fn slow_client_closes_are_rendered_by_reason() {
        let text = Metrics::default().render(&["other"], &[]);
        for reason in ["slow_request", "slow_reader", "evicted"] {
            let line = format!("authportal_http_slow_clients_closed_total{{reason=\"{reason}\"}} ");
            assert!(text.contains(&line), "{reason}");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.request(0, 200, Duration::from_micros(300));
        m.request(0, 200, Duration::from_millis(30));
        m.request(0, 799, Duration::from_secs(9));
        let text = m.render(&["/healthz", "other"], &[]);
        assert!(text.contains(
            "authportal_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "authportal_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.05\"} 2"
        ));
        assert!(text.contains(
            "authportal_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 3"
        ));
        assert!(
            text.contains("authportal_http_requests_total{route=\"/healthz\",status=\"other\"} 1")
        );
    }
}
