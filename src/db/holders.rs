//! Who holds the entries of a bounded store anyone may add to (sign-ins in progress,
//! device codes, authorization requests waiting for a sign-in): live entries counted by
//! network and by address within one, and the eviction of one address's oldest entry.
//! The rule that uses them is crate::fair_share.

use rusqlite::{Connection, params};

use crate::error::Result;
use crate::fair_share::{Holder, Share};

/// A bounded store: each table has `network`, `requester`, `created_at` and `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// Plex PINs and Quick Connect requests in progress (`login_flows`).
    SignInFlows,
    /// RFC 8628 device requests (`device_codes`).
    DeviceCodes,
    /// Authorization requests waiting for their sign-in (`oidc_pending`).
    PendingAuthorizations,
}

impl Store {
    pub const ALL: [Store; 3] = [
        Store::SignInFlows,
        Store::DeviceCodes,
        Store::PendingAuthorizations,
    ];

    /// Its name in /metrics.
    pub fn label(self) -> &'static str {
        match self {
            Store::SignInFlows => "signin_flows",
            Store::DeviceCodes => "device_codes",
            Store::PendingAuthorizations => "oidc_pending",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Store::SignInFlows => "login_flows",
            Store::DeviceCodes => "device_codes",
            Store::PendingAuthorizations => "oidc_pending",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Store::DeviceCodes => "device_digest",
            Store::SignInFlows | Store::PendingAuthorizations => "id_digest",
        }
    }
}

/// Entries of `store` that expire after `live_after`.
pub fn live(conn: &Connection, store: Store, live_after: i64) -> Result<i64> {
    let sql = format!(
        "SELECT count(*) FROM {} WHERE expires_at > ?1",
        store.table()
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([live_after], |r| r.get(0))?)
}

/// How many live entries each address holds, and when its oldest was made: one row per
/// address (so at most the store's cap), read only when the store is full.
pub fn shares(conn: &Connection, store: Store, live_after: i64) -> Result<Vec<Share>> {
    let sql = format!(
        "SELECT network, requester, count(*), min(created_at) FROM {}
         WHERE expires_at > ?1 GROUP BY network, requester",
        store.table()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([live_after], |r| {
        Ok(Share {
            holder: Holder {
                network: r.get(0)?,
                address: r.get(1)?,
            },
            entries: r.get(2)?,
            oldest: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes the oldest live entry `holder` made; false when it has none.
pub fn evict_oldest(
    conn: &Connection,
    store: Store,
    holder: &Holder,
    live_after: i64,
) -> Result<bool> {
    let (table, key) = (store.table(), store.key());
    let sql = format!(
        "DELETE FROM {table} WHERE {key} =
           (SELECT {key} FROM {table} WHERE network = ?1 AND requester = ?2 AND expires_at > ?3
            ORDER BY created_at, {key} LIMIT 1)"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .execute(params![holder.network, holder.address, live_after])?
        == 1)
}
