//! Whether a failed LDAP bind's time tells if the name exists: simple binds with a
//! wrong password to people who exist and to names no one has, interleaved in one run,
//! with the ratio of their mean times (about 1 when the failure paths cost the same; a
//! bind to an unknown name used to skip the lookups and be several times faster).
//!
//! usage: AUTHPORTAL_DATA_DIR=$(mktemp -d) cargo bench --bench ldap_bind -- 1000
//!   (adds that many people, each with a Jellyfin identity, then tries three wrong
//!   passwords on each, under the back-off's free failures, each from an address of its
//!   own so that no budget refuses; addresses are only values, nothing is sent.)

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use authportal::db::users;
use authportal::ldap::bind;
use authportal::ldap::directory::Layout;
use authportal::providers::{FirstFactor, Identity, ProviderKind};

fn die(msg: &str) -> ! {
    eprintln!("ldap_bind: {msg}");
    std::process::exit(1)
}

/// Wrong passwords tried on each name (fewer than the back-off lets pass free).
const ROUNDS: u32 = 3;

fn main() {
    // `cargo bench` runs every bench target with `--bench`: nothing to do unasked.
    let Some(people) = std::env::args().skip(1).find_map(|a| a.parse::<u32>().ok()) else {
        eprintln!("usage: ldap_bind PEOPLE (with AUTHPORTAL_DATA_DIR set)");
        return;
    };
    let cfg = authportal::Config::from_env().unwrap_or_else(|e| die(&e.to_string()));
    let app = authportal::App::open(cfg).unwrap_or_else(|e| die(&e));
    let layout = Layout::of(&app);
    add_people(&app, people);
    let mut known = Duration::ZERO;
    let mut unknown = Duration::ZERO;
    let mut ip = 0x0a00_0000u32;
    let mut timed = |dn: &str| {
        ip += 1;
        let from = IpAddr::V4(Ipv4Addr::from(ip));
        let t = Instant::now();
        let outcome = bind::simple(&app, &layout, from, dn, "not-the-password");
        let took = t.elapsed();
        if outcome != Err(bind::Refused::InvalidCredentials) {
            die(&format!("{dn}: {outcome:?}"));
        }
        took
    };
    for _ in 0..ROUNDS {
        for i in 0..people {
            known += timed(&layout.person_dn(&format!("member{i}")));
            unknown += timed(&layout.person_dn(&format!("nobody{i}")));
        }
    }
    let binds = f64::from(people * ROUNDS);
    let mean = |d: Duration| d.as_secs_f64() * 1e6 / binds;
    println!(
        "wrong password, {people} people x {ROUNDS}: known name {:.0} us, unknown name {:.0} us \
         a bind; unknown/known {:.2}",
        mean(known),
        mean(unknown),
        unknown.as_secs_f64() / known.as_secs_f64()
    );
}

fn add_people(app: &authportal::App, n: u32) {
    let now = app.clock.now();
    app.db
        .with_tx(|tx| {
            for i in 0..n {
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
                users::record_sign_in(tx, &ident, None, now)?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| die(&format!("adding people: {e}")));
}
