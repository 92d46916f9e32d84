//! What one LDAP search costs as the community grows: the time to read the directory
//! (people, groups and memberships) against the reference of scanning the people alone,
//! and the memberships read in one grouped pass against a query per person, measured in
//! the same run on the same database.
//!
//! usage: AUTHPORTAL_DATA_DIR=$(mktemp -d) cargo bench --bench ldap_directory -- USERS
//!   (adds USERS people, each with a Jellyfin identity and its groups, every tenth with
//!   an assigned group, then prints the median of 5 reads of each and the ratios; the
//!   directory's ratio to the people scan should stay flat as USERS grows), and the
//!   peak memory of 8 searches at once, free and taking turns as the server has them;
//!   and the cost of a filter as large as a message, against a short one)

use std::time::{Duration, Instant};

use authportal::db::{ldap, users};
use authportal::ldap::directory::{self, Layout};
use authportal::ldap::filter;
use authportal::providers::{FirstFactor, Identity, ProviderKind};

fn die(msg: &str) -> ! {
    eprintln!("ldap_directory: {msg}");
    std::process::exit(1)
}

fn main() {
    // `cargo bench` runs every bench target with `--bench`: nothing to do unasked.
    let Some(n) = std::env::args().nth(1).and_then(|a| a.parse::<u64>().ok()) else {
        eprintln!("usage: ldap_directory USERS (with AUTHPORTAL_DATA_DIR set)");
        return;
    };
    let cfg = authportal::Config::from_env().unwrap_or_else(|e| die(&e.to_string()));
    let app = authportal::App::open(cfg).unwrap_or_else(|e| die(&e));
    let now = app.clock.now();
    for first in (0..n).step_by(2_000) {
        app.db
            .with_tx(|tx| {
                for i in first..(first + 2_000).min(n) {
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
            .unwrap_or_else(|e| die(&format!("adding users: {e}")));
    }
    let layout = Layout::of(&app);
    let conn = app.db.conn().unwrap_or_else(|e| die(&format!("{e:?}")));
    let people = median(|| {
        ldap::people(&conn).unwrap_or_else(|e| die(&format!("{e:?}")));
    });
    let tree = median(|| {
        directory::entries(&conn, &layout).unwrap_or_else(|e| die(&format!("{e:?}")));
    });
    let grouped = median(|| {
        users::groups_of_everyone(&conn).unwrap_or_else(|e| die(&format!("{e:?}")));
    });
    // The reference the directory used to pay: a query per person for their groups.
    let ids: Vec<i64> = ldap::people(&conn)
        .unwrap_or_else(|e| die(&format!("{e:?}")))
        .iter()
        .map(|p| p.user_id)
        .collect();
    let per_person = median(|| {
        for id in &ids {
            users::groups(&conn, *id).unwrap_or_else(|e| die(&format!("{e:?}")));
        }
    });
    println!(
        "{n} people: whole directory {:.1} ms ({:.1}x the people scan of {:.1} ms); \
         memberships in one grouped read {:.1} ms vs a query per person {:.1} ms ({:.1}x faster)",
        ms(tree),
        tree.as_secs_f64() / people.as_secs_f64(),
        ms(people),
        ms(grouped),
        ms(per_person),
        per_person.as_secs_f64() / grouped.as_secs_f64()
    );
    // A filter of one 60,000-character substring (a message's worth), evaluated on every
    // entry: lowercased once per search (filter::Prepared), against lowercasing it per
    // entry as the first version did, and against a filter of a few characters.
    let entries = directory::entries(&conn, &layout).unwrap_or_else(|e| die(&format!("{e:?}")));
    let substring = |initial: String| {
        ldap3_proto::proto::LdapFilter::Substring(
            "cn".into(),
            ldap3_proto::proto::LdapSubstringFilter {
                initial: Some(initial),
                any: vec![],
                final_: None,
            },
        )
    };
    let (small, huge) = (substring("MEMBER1".into()), substring("A".repeat(60_000)));
    let once = |f: &ldap3_proto::proto::LdapFilter| {
        median(|| {
            let p = filter::Prepared::new(f).unwrap_or_else(|| die("out of bounds"));
            entries
                .iter()
                .filter(|e| p.eval(e) == filter::Truth::True)
                .count();
        })
    };
    let (small_t, huge_t) = (once(&small), once(&huge));
    let per_entry = median(|| {
        entries
            .iter()
            .filter(|e| {
                let p = filter::Prepared::new(&huge).unwrap_or_else(|| die("out of bounds"));
                p.eval(e) == filter::Truth::True
            })
            .count();
    });
    println!(
        "a 60,000-character substring on {} entries: {:.1} ms lowercased once ({:.1}x a short one at {:.1} ms), {:.1} ms lowercased per entry ({:.0}x)",
        entries.len(),
        ms(huge_t),
        huge_t.as_secs_f64() / small_t.as_secs_f64(),
        ms(small_t),
        ms(per_entry),
        per_entry.as_secs_f64() / huge_t.as_secs_f64()
    );
    drop(entries);

    // Memory: 8 searches at once, each reading the tree, free and then taking turns
    // (directory::ReadSlot, as the server does); the growth of the peak RSS of each.
    let burst = |turns: bool| {
        let before = reset_peak_kb();
        std::thread::scope(|sc| {
            for _ in 0..8 {
                sc.spawn(|| {
                    let _slot = turns.then(directory::ReadSlot::take);
                    let conn = app.db.conn().unwrap_or_else(|e| die(&format!("{e:?}")));
                    directory::entries(&conn, &layout).unwrap_or_else(|e| die(&format!("{e:?}")));
                });
            }
        });
        peak_kb().saturating_sub(before) as f64 / 1024.0
    };
    let free = burst(false);
    let taking_turns = burst(true);
    println!(
        "8 searches at once: peak memory +{free:.0} MB free, +{taking_turns:.0} MB taking turns ({} at a time)",
        directory::MAX_READERS
    );
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
    let mut runs: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    runs.sort();
    runs[2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
