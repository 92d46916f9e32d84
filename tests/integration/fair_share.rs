//! Floods for the tests of what a full store does (src/fair_share.rs): rows written
//! straight into a store anyone may fill (sign-ins in progress, device codes,
//! authorization requests waiting for sign-in), as many addresses would have made them.
//! The tests themselves are with their stores: plex.rs, quick_connect.rs, device.rs,
//! oidc.rs.

use crate::harness::Portal;

/// The /48 of [`Flood::One48`].
pub(crate) const FLOOD_48: &str = "2001:db8:1::/48";

/// Where a flood's rows come from.
#[derive(Clone, Copy)]
pub(crate) enum Flood<'a> {
    /// Each row from its own /64 of [`FLOOD_48`] (a cloud account's VMs).
    One48,
    /// Each row from its own IPv4 address in 198.18.0.0/15.
    ManyV4,
    /// Every row from this IPv4 address.
    From(&'a str),
}

impl Flood<'_> {
    /// SQL for the `network` and `requester` of row `i`, as fair_share::holder_of makes them.
    fn columns(self) -> (String, String) {
        match self {
            Flood::One48 => (
                format!("'{FLOOD_48}'"),
                "printf('2001:db8:1:%x::/64', i)".into(),
            ),
            Flood::ManyV4 => {
                let ip = "printf('198.18.%d.%d', i / 256, i % 256)";
                (ip.into(), ip.into())
            }
            Flood::From(ip) => (format!("'{ip}'"), format!("'{ip}'")),
        }
    }
}

/// Writes `n` rows with `insert` (an `INSERT ... SELECT` over `k(i)`, 1..=n, where
/// `{network}` and `{requester}` stand for the flood's columns); created a second ago,
/// expiring in ten minutes.
fn fill(portal: &Portal, n: i64, flood: Flood, insert: &str) {
    let (network, requester) = flood.columns();
    let insert = insert
        .replace("{network}", &network)
        .replace("{requester}", &requester);
    let now = portal.app().clock.now();
    portal
        .db()
        .execute(
            &format!(
                "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1) {insert}"
            ),
            rusqlite::params![n, now - 1, now + 600],
        )
        .unwrap();
}

/// `n` Plex sign-ins in progress (other browsers').
pub(crate) fn fill_flows(portal: &Portal, n: i64, flood: Flood) {
    fill(
        portal,
        n,
        flood,
        "INSERT INTO login_flows (id_digest, provider, pin_id, rd, state, created_at, expires_at,
                                  next_poll_ms, backoff_ms, network, requester)
         SELECT randomblob(32), 'plex', i, NULL, 'pending', ?2, ?3, 0, 1000, {network}, {requester} FROM k",
    );
}

/// `n` device requests of the client whose `client_id` is `client`, waiting at /device.
pub(crate) fn fill_device_codes(portal: &Portal, n: i64, client: &str, flood: Flood) {
    let row: i64 = portal
        .db()
        .query_row(
            "SELECT id FROM oauth_clients WHERE client_id = ?1",
            [client],
            |r| r.get(0),
        )
        .unwrap();
    fill(
        portal,
        n,
        flood,
        &format!(
            "INSERT INTO device_codes (device_digest, user_digest, client_id, requester, network,
                                       scopes_json, status, interval_secs, created_at, expires_at)
             SELECT randomblob(32), randomblob(32), {row}, {{requester}}, {{network}}, '[\"openid\"]',
                    'pending', 5, ?2, ?3 FROM k"
        ),
    );
}

/// `n` authorization requests waiting for their sign-in (other browsers').
pub(crate) fn fill_pending(portal: &Portal, n: i64, flood: Flood) {
    fill(
        portal,
        n,
        flood,
        "INSERT INTO oidc_pending (id_digest, browser_digest, params_json, auth_after, created_at,
                                   expires_at, network, requester)
         SELECT randomblob(32), randomblob(32), '[]', NULL, ?2, ?3, {network}, {requester} FROM k",
    );
}

/// Rows of `table` from `network`.
pub(crate) fn held_by(portal: &Portal, table: &str, network: &str) -> i64 {
    portal
        .db()
        .query_row(
            &format!("SELECT count(*) FROM {table} WHERE network = ?1"),
            [network],
            |r| r.get(0),
        )
        .unwrap()
}

/// What /metrics says `store` evicted.
pub(crate) fn evictions(portal: &Portal, store: &str) -> i64 {
    let text = portal.client().get("/metrics").body;
    let prefix = format!("authportal_store_evictions_total{{store=\"{store}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
        .parse()
        .unwrap()
}
