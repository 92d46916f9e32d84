//! Room in a full store anyone may add to (sign-ins in progress, device codes,
//! authorization requests waiting for a sign-in): a newcomer does not lose to whoever
//! filled it.
//!
//! Each entry records the network it came from. When a store is full, room is made by
//! evicting the oldest entry of the network holding the most entries (within it, of the
//! address holding the most); the newcomer is refused only when it is itself that
//! biggest holder. So a person from a network holding few entries always gets in, and
//! someone filling the store with many addresses only pushes out their own entries
//! unless they spread over more networks than there are entries per network.
//!
//! Networks: an IPv4 address is one network (and one address). An IPv6 address counts
//! by its /48 (what a site or a cloud account is given: 65,536 /64s, one per VM) and,
//! within that, by its /64 (one subscriber or machine). The /48 alone would make a
//! neighbour in a shared /48 (a mobile carrier's or a host's pool) lose to an attacker
//! there; the /64 alone would let one /48 outweigh everyone. With both, a flood from
//! one /48 evicts its own entries, and inside that /48 its biggest /64 goes first.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::net::IpAddr;

use rusqlite::Connection;

use crate::db::holders::{self, Store};
use crate::error::Result;
use crate::metrics::Metrics;

/// Where an entry came from: its network, and its address within that network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Holder {
    pub network: String,
    pub address: String,
}

/// What one address holds of a full store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub holder: Holder,
    pub entries: i64,
    /// When its oldest entry was made (smaller is older).
    pub oldest: i64,
}

/// Where a request from `ip` counts: its network (IPv4 address or IPv6 /48) and its
/// address (IPv4 address or IPv6 /64, as ratelimit::address_key).
pub fn holder_of(ip: IpAddr) -> Holder {
    let address = crate::ratelimit::address_key(ip);
    let network = match crate::net::canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        IpAddr::V4(_) => address.clone(),
    };
    Holder { network, address }
}

/// The rule: who gives way in a full store that `shares` describe, for `newcomer`. The
/// network holding the most entries, and within it the address holding the most (ties:
/// anyone but the newcomer, then whoever has held an entry longest) loses its oldest
/// entry; None when that would be the newcomer itself, which is then refused.
pub fn gives_way<'a>(shares: &'a [Share], newcomer: &Holder) -> Option<&'a Holder> {
    let mut networks: HashMap<&str, (i64, i64)> = HashMap::new();
    for s in shares {
        let n = networks
            .entry(s.holder.network.as_str())
            .or_insert((0, i64::MAX));
        *n = (n.0 + s.entries, n.1.min(s.oldest));
    }
    let (network, _) = networks
        .into_iter()
        .max_by_key(|(name, (entries, oldest))| {
            (
                *entries,
                *name != newcomer.network,
                Reverse(*oldest),
                Reverse(*name),
            )
        })?;
    let victim = shares
        .iter()
        .filter(|s| s.holder.network == network)
        .max_by_key(|s| {
            let address = s.holder.address.as_str();
            (
                s.entries,
                address != newcomer.address,
                Reverse(s.oldest),
                Reverse(address),
            )
        })?;
    (victim.holder != *newcomer).then_some(&victim.holder)
}

/// Makes room in `store` for one more entry from `newcomer`, inside the caller's
/// transaction (which then inserts it). Entries that expire after `live_after` count
/// against `cap`. True when there is room (an entry may have been evicted for it);
/// false when the store is full and `newcomer` is its biggest holder.
pub fn make_room(
    conn: &Connection,
    metrics: &Metrics,
    store: Store,
    cap: i64,
    newcomer: &Holder,
    live_after: i64,
) -> Result<bool> {
    if holders::live(conn, store, live_after)? < cap {
        return Ok(true);
    }
    let shares = holders::shares(conn, store, live_after)?;
    let Some(victim) = gives_way(&shares, newcomer) else {
        return Ok(false);
    };
    let evicted = holders::evict_oldest(conn, store, victim, live_after)?;
    if evicted {
        metrics.evicted(store);
    }
    Ok(evicted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    fn store() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        c
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// One Plex flow from `from`, created at `at`.
    fn add(c: &Connection, n: i64, from: &Holder, at: i64) {
        c.execute(
            "INSERT INTO login_flows (id_digest, provider, pin_id, state, created_at, expires_at,
                                      next_poll_ms, backoff_ms, network, requester)
             VALUES (?1, 'plex', 1, 'pending', ?2, 600, 0, 0, ?3, ?4)",
            params![n.to_be_bytes(), at, from.network, from.address],
        )
        .unwrap();
    }

    fn held(c: &Connection, column: &str, value: &str) -> i64 {
        c.query_row(
            &format!("SELECT count(*) FROM login_flows WHERE {column} = ?1"),
            [value],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn networks_are_ipv4_addresses_and_ipv6_48s_with_64s_inside() {
        let h = holder_of(ip("2001:db8:7:42::1"));
        assert_eq!(h.network, "2001:db8:7::/48");
        assert_eq!(h.address, "2001:db8:7:42::/64");
        assert_eq!(holder_of(ip("2001:db8:7:43::9")).network, h.network);
        let v4 = holder_of(ip("::ffff:192.0.2.7"));
        assert_eq!(
            (v4.network.as_str(), v4.address.as_str()),
            ("192.0.2.7", "192.0.2.7")
        );
    }

    #[test]
    fn a_full_store_evicts_from_the_biggest_network_and_refuses_only_it() {
        let c = store();
        let m = Metrics::default();
        // An attacker fills the store (cap 20) from 18 /64s of one /48; a person holds two.
        for n in 0..18 {
            add(
                &c,
                n,
                &holder_of(ip(&format!("2001:db8:1:{n:x}::1"))),
                10 + n,
            );
        }
        let person = holder_of(ip("192.0.2.7"));
        add(&c, 100, &person, 0);
        add(&c, 101, &person, 1);
        let admit = |n: i64, from: &Holder| {
            let room = make_room(&c, &m, Store::SignInFlows, 20, from, 0).unwrap();
            if room {
                add(&c, n, from, 100 + n);
            }
            room
        };

        // Someone new gets in: the /48's oldest entry gives way, not the person's older ones.
        assert!(admit(300, &holder_of(ip("198.51.100.1"))));
        assert_eq!(held(&c, "network", "2001:db8:1::/48"), 17);
        assert_eq!(held(&c, "requester", "2001:db8:1:0::/64"), 0);
        assert_eq!(held(&c, "network", "192.0.2.7"), 2);
        // The person's third sign-in too; the attacker's newcomer from yet another /64 of
        // its /48 only pushes out its own.
        assert!(admit(301, &person));
        assert!(admit(302, &holder_of(ip("2001:db8:1:ffff::1"))));
        assert_eq!(held(&c, "network", "192.0.2.7"), 3);
        assert_eq!(held(&c, "network", "2001:db8:1::/48"), 16);

        // Inside the biggest /48, its biggest /64 is the one refused, and the one that
        // gives way to a neighbour's /64 holding less.
        let busy = holder_of(ip("2001:db8:1:11::1"));
        assert!(admit(303, &busy));
        assert_eq!(held(&c, "requester", &busy.address), 2);
        assert!(!admit(304, &busy), "the biggest holder is refused");
        let neighbour = holder_of(ip("2001:db8:1:abcd::1"));
        assert!(admit(305, &neighbour));
        assert_eq!(held(&c, "requester", &busy.address), 1);
        assert_eq!(held(&c, "requester", &neighbour.address), 1);
        assert_eq!(held(&c, "network", "192.0.2.7"), 3);
        assert!(
            m.render(&[], &[])
                .contains("authportal_store_evictions_total{store=\"signin_flows\"} 5")
        );
    }

    fn share(network: &str, address: &str, entries: i64, oldest: i64) -> Share {
        Share {
            holder: Holder {
                network: network.into(),
                address: address.into(),
            },
            entries,
            oldest,
        }
    }

    #[test]
    fn ties_go_against_anyone_but_the_newcomer_then_the_longest_holder() {
        let shares = [
            share("a", "a1", 2, 5),
            share("b", "b1", 1, 3),
            share("b", "b2", 1, 1),
        ];
        let a = &shares[0].holder;
        // Networks a and b hold 2 each: b has held longest, and b2 within it.
        let other = holder_of(ip("192.0.2.1"));
        assert_eq!(gives_way(&shares, &other), Some(&shares[2].holder));
        // a itself comes: the tie goes against b, not the newcomer.
        assert_eq!(gives_way(&shares, a), Some(&shares[2].holder));
        // b2 itself comes: the tie between networks goes against a; inside b alone, b1.
        let b2 = &shares[2].holder;
        assert_eq!(gives_way(&shares, b2), Some(a));
        assert_eq!(gives_way(&shares[1..], b2), Some(&shares[1].holder));
        assert_eq!(gives_way(&[share("a", "a1", 3, 0)], a), None);
        assert_eq!(gives_way(&[], a), None);
    }

    #[test]
    fn the_only_holder_of_a_full_store_is_refused() {
        let c = store();
        let m = Metrics::default();
        let attacker = holder_of(ip("203.0.113.9"));
        for n in 0..5 {
            add(&c, n, &attacker, n);
        }
        assert!(!make_room(&c, &m, Store::SignInFlows, 5, &attacker, 0).unwrap());
        assert_eq!(held(&c, "network", &attacker.network), 5, "nothing evicted");
        // Expired entries do not count.
        assert!(make_room(&c, &m, Store::SignInFlows, 5, &attacker, 600).unwrap());
    }
}
