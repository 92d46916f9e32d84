//! What one LDAP search costs as the community grows: the time and the peak memory of a
//! full-subtree search (every entry read and checked against the filter, one at a time,
//! as the server does) at each of several directory sizes in one run, with the ratios
//! between the sizes; against the reference of the same walk keeping every entry (what
//! the directory did before it streamed), and a search an index answers (`uid=`).
//!
//! usage: AUTHPORTAL_DATA_DIR=$(mktemp -d) cargo bench --bench ldap_directory -- 10000 100000
//!   (grows one directory to each size in turn: people each with a Jellyfin identity and
//!   its group, every tenth with an assigned group; time is the median of 3 searches;
//!   memory is the growth of the peak RSS during one search, each in a fresh process of
//!   this bench (in this one the heap is grown already by adding people). The streaming
//!   search's memory should stay flat as the directory grows; its time grows with it.)

use std::time::{Duration, Instant};

use authportal::db::users;
use authportal::ldap::directory::{Flow, Layout, Position, Search, View};
use authportal::ldap::dn::Dn;
use authportal::ldap::filter::{Prepared, Truth};
use authportal::providers::{FirstFactor, Identity, ProviderKind};
use ldap3_proto::proto::{LdapFilter, LdapSearchScope};

fn die(msg: &str) -> ! {
    eprintln!("ldap_directory: {msg}");
    std::process::exit(1)
}

/// One size's figures.
struct Figures {
    people: u64,
    entries: usize,
    time: Duration,
    memory_kb: u64,
    kept_memory_kb: u64,
    indexed: Duration,
}

/// The argument that makes this bench a child measuring one search's memory.
const CHILD: &str = "--memory-of";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(CHILD) {
        return memory_child(args.get(2).map(String::as_str) == Some("keep"));
    }
    // `cargo bench` runs every bench target with `--bench`: nothing to do unasked.
    let mut sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        eprintln!("usage: ldap_directory SIZE... (with AUTHPORTAL_DATA_DIR set)");
        return;
    }
    sizes.sort_unstable();
    let cfg = authportal::Config::from_env().unwrap_or_else(|e| die(&e.to_string()));
    let app = authportal::App::open(cfg).unwrap_or_else(|e| die(&e));
    let layout = Layout::of(&app);
    let mut added = 0;
    let mut all = Vec::new();
    for &n in &sizes {
        add_people(&app, added, n);
        added = n;
        let conn = app.db.conn().unwrap_or_else(|e| die(&format!("{e:?}")));
        let every = prepared(LdapFilter::Present("objectClass".into()));
        let (entries, _) = walk(&conn, &layout, &every, false);
        let time = median(|| {
            walk(&conn, &layout, &every, false);
        });
        let memory_kb = memory_in_child("stream");
        let kept_memory_kb = memory_in_child("keep");
        let one = prepared(LdapFilter::Equality(
            "uid".into(),
            format!("member{}", n / 2),
        ));
        let indexed = median(|| {
            assert_eq!(walk(&conn, &layout, &one, false).0, 1, "uid= finds one");
        });
        println!(
            "{n} people: a full-subtree search of {entries} entries {:.0} ms, peak memory +{} KB \
             (keeping every entry: +{:.1} MB); uid= by index {:.2} ms",
            ms(time),
            memory_kb,
            kept_memory_kb as f64 / 1024.0,
            ms(indexed),
        );
        all.push(Figures {
            people: n,
            entries,
            time,
            memory_kb,
            kept_memory_kb,
            indexed,
        });
    }
    if let (Some(small), Some(big)) = (all.first(), all.last()) {
        if big.people > small.people {
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
            println!(
                "{}x the people ({} -> {} entries): time {:.1}x, peak memory {:.2}x (+{} KB -> +{} KB), \
                 keeping every entry {:.1}x; uid= by index {:.1}x",
                big.people / small.people,
                small.entries,
                big.entries,
                ratio(big.time.as_secs_f64(), small.time.as_secs_f64()),
                ratio(big.memory_kb as f64, small.memory_kb.max(1) as f64),
                small.memory_kb,
                big.memory_kb,
                ratio(
                    big.kept_memory_kb as f64,
                    small.kept_memory_kb.max(1) as f64
                ),
                ratio(big.indexed.as_secs_f64(), small.indexed.as_secs_f64()),
            );
        }
    }
}

/// Adds people `from..to` (member{i}) in transactions of 2,000.
fn add_people(app: &authportal::App, from: u64, to: u64) {
    let now = app.clock.now();
    for first in (from..to).step_by(2_000) {
        app.db
            .with_tx(|tx| {
                for i in first..(first + 2_000).min(to) {
                    let ident = Identity {
                        provider: ProviderKind::Jellyfin,
                        provider_user_id: format!("{i:032x}"),
                        username: format!("member{i}"),
                        email: Some(format!("member{i}@example.com")),
                        groups: vec!["jellyfin-user".into()],
                        token: String::new(),
                        avatar: None,
                        method: FirstFactor::Password,
                    };
                    let linked = users::record_sign_in(tx, &ident, None, now)?;
                    if i % 10 == 0 {
                        users::add_group(tx, linked.user_id, &format!("team{}", i % 100), now)?;
                    }
                }
                Ok(())
            })
            .unwrap_or_else(|e| die(&format!("adding people: {e}")));
    }
}

fn prepared(f: LdapFilter) -> Prepared {
    Prepared::new(&f).unwrap_or_else(|| die("filter out of bounds"))
}

/// A subtree search from the base as a service account sees it: the matches counted,
/// and (`keep`) every entry kept, as the directory did before it streamed.
fn walk(
    conn: &rusqlite::Connection,
    layout: &Layout,
    test: &Prepared,
    keep: bool,
) -> (usize, Vec<authportal::ldap::directory::Entry>) {
    let base = Dn::parse(&layout.base).unwrap_or_else(|| die("base DN"));
    let search = Search::new(
        conn,
        layout,
        View::Everyone,
        &base,
        &LdapSearchScope::Subtree,
        test,
        false,
        None,
    )
    .unwrap_or_else(|e| die(&format!("{e:?}")));
    let mut matched = 0;
    let mut kept = Vec::new();
    search
        .walk(&Position::Start, &mut |_, e| {
            if test.eval(e) == Truth::True {
                matched += 1;
            }
            if keep {
                kept.push(e.clone());
            }
            Flow::Continue
        })
        .unwrap_or_else(|e| die(&format!("{e:?}")));
    (matched, kept)
}

/// The peak RSS growth (KB) of one full search in a fresh process.
fn memory_in_child(how: &str) -> u64 {
    let exe = std::env::current_exe().unwrap_or_else(|e| die(&e.to_string()));
    let out = std::process::Command::new(exe)
        .args([CHILD, how])
        .output()
        .unwrap_or_else(|e| die(&e.to_string()));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| die(&String::from_utf8_lossy(&out.stderr)))
}

/// In the child: opens the directory, reads one entry (the store and its schema are
/// loaded), then prints the growth of the peak RSS over one full search (`keep`: keeping
/// every entry).
fn memory_child(keep: bool) {
    let cfg = authportal::Config::from_env().unwrap_or_else(|e| die(&e.to_string()));
    let app = authportal::App::open(cfg).unwrap_or_else(|e| die(&e));
    let layout = Layout::of(&app);
    let conn = app.db.conn().unwrap_or_else(|e| die(&format!("{e:?}")));
    walk(
        &conn,
        &layout,
        &prepared(LdapFilter::Equality("uid".into(), "member1".into())),
        false,
    );
    let every = prepared(LdapFilter::Present("objectClass".into()));
    let before = reset_peak_kb();
    let (_, kept) = walk(&conn, &layout, &every, keep);
    println!("{}", peak_kb().saturating_sub(before));
    drop(kept);
}

/// Resets the peak RSS to the current RSS (Linux: clear_refs 5) and returns it, in KB.
fn reset_peak_kb() -> u64 {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_kb("VmRSS:")
}

fn peak_kb() -> u64 {
    status_kb("VmHWM:")
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut f: impl FnMut()) -> Duration {
    let mut runs: Vec<Duration> = (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    runs.sort();
    runs[1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
