//! Sign-ins in progress, bound to the browser that started them: a Plex PIN, or a
//! Jellyfin Quick Connect request (whose sealed secret is kept until redeemed once).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::fair_share::Holder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    Pending,
    Done,
    Denied,
}

impl FlowState {
    fn as_str(self) -> &'static str {
        match self {
            FlowState::Pending => "pending",
            FlowState::Done => "done",
            FlowState::Denied => "denied",
        }
    }

    fn parse(s: &str) -> FlowState {
        match s {
            "done" => FlowState::Done,
            "denied" => FlowState::Denied,
            _ => FlowState::Pending,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Flow {
    /// "plex" or "jellyfin" (Quick Connect).
    pub provider: String,
    /// The Plex PIN id (0 for Quick Connect).
    pub pin_id: u64,
    pub rd: Option<String>,
    pub state: FlowState,
    pub expires_at: i64,
    pub next_poll_ms: i64,
    pub backoff_ms: i64,
}

/// Sign-ins in progress, at most. Anyone may start one, so the table is bounded; when it
/// is full, crate::fair_share makes room from the network holding the most (or refuses
/// that network's newcomer): a flood must not cancel or block the sign-ins of people
/// elsewhere. Expired flows do not count (the janitor sweeps them).
pub const MAX_LIVE: i64 = 10_000;

/// Stores a Plex PIN flow started from `from` (after fair_share::make_room).
pub fn create(
    conn: &Connection,
    digest: &[u8],
    pin_id: u64,
    rd: Option<&str>,
    from: &Holder,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO login_flows (id_digest, provider, pin_id, rd, state, created_at, expires_at, next_poll_ms,
                                  backoff_ms, network, requester)
         VALUES (?1, 'plex', ?2, ?3, 'pending', ?4, ?5, 0, 1000, ?6, ?7)",
        params![digest, pin_id as i64, rd, now, expires_at, from.network, from.address],
    )?;
    Ok(())
}

/// A Jellyfin Quick Connect request started from `from` (after fair_share::make_room):
/// `secret_sealed` is its secret, sealed.
pub fn create_quick_connect(
    conn: &Connection,
    digest: &[u8],
    secret_sealed: &str,
    rd: Option<&str>,
    from: &Holder,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO login_flows (id_digest, provider, pin_id, rd, state, created_at, expires_at, next_poll_ms,
                                  backoff_ms, secret_sealed, network, requester)
         VALUES (?1, 'jellyfin', 0, ?2, 'pending', ?3, ?4, 0, 1000, ?5, ?6, ?7)",
        params![digest, rd, now, expires_at, secret_sealed, from.network, from.address],
    )?;
    Ok(())
}

/// Takes the sealed Quick Connect secret out of a pending flow, so it is redeemed once:
/// None when another request took it first (or the flow is not pending).
pub fn take_secret(conn: &Connection, digest: &[u8]) -> Result<Option<String>> {
    let sealed: Option<String> = conn
        .query_row(
            "SELECT secret_sealed FROM login_flows WHERE id_digest = ?1 AND state = 'pending'",
            [digest],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    // Only the request whose update cleared it holds it (one row changed).
    let taken = conn.execute(
        "UPDATE login_flows SET secret_sealed = NULL WHERE id_digest = ?1 AND secret_sealed = ?2",
        params![digest, sealed],
    )?;
    Ok((taken == 1).then_some(sealed))
}

/// Puts a taken secret back (redeeming it failed for a reason worth trying again).
pub fn return_secret(conn: &Connection, digest: &[u8], secret_sealed: &str) -> Result<()> {
    conn.execute(
        "UPDATE login_flows SET secret_sealed = ?2 WHERE id_digest = ?1 AND state = 'pending'",
        params![digest, secret_sealed],
    )?;
    Ok(())
}

/// The sealed secret of a pending Quick Connect flow (to ask whether it was approved).
pub fn secret(conn: &Connection, digest: &[u8]) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT secret_sealed FROM login_flows WHERE id_digest = ?1",
            [digest],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

pub fn get(conn: &Connection, digest: &[u8], now: i64) -> Result<Option<Flow>> {
    Ok(conn
        .query_row(
            "SELECT pin_id, rd, state, expires_at, next_poll_ms, backoff_ms, provider
             FROM login_flows WHERE id_digest = ?1 AND expires_at > ?2",
            params![digest, now],
            |r| {
                let state: String = r.get(2)?;
                Ok(Flow {
                    provider: r.get(6)?,
                    pin_id: r.get::<_, i64>(0)? as u64,
                    rd: r.get(1)?,
                    state: FlowState::parse(&state),
                    expires_at: r.get(3)?,
                    next_poll_ms: r.get(4)?,
                    backoff_ms: r.get(5)?,
                })
            },
        )
        .optional()?)
}

pub fn schedule_poll(
    conn: &Connection,
    digest: &[u8],
    next_poll_ms: i64,
    backoff_ms: i64,
) -> Result<()> {
    conn.execute(
        "UPDATE login_flows SET next_poll_ms = ?2, backoff_ms = ?3 WHERE id_digest = ?1",
        params![digest, next_poll_ms, backoff_ms],
    )?;
    Ok(())
}

pub fn set_state(conn: &Connection, digest: &[u8], state: FlowState) -> Result<()> {
    conn.execute(
        "UPDATE login_flows SET state = ?2 WHERE id_digest = ?1",
        params![digest, state.as_str()],
    )?;
    Ok(())
}

/// Marks a pending flow done and remembers where it led (`rd`); false if it was not
/// pending any more (another request finished it first).
pub fn claim_done(conn: &Connection, digest: &[u8], rd: &str) -> Result<bool> {
    let claimed = conn.execute(
        "UPDATE login_flows SET state = 'done', rd = ?2 WHERE id_digest = ?1 AND state = 'pending'",
        params![digest, rd],
    )?;
    Ok(claimed > 0)
}

pub fn delete(conn: &Connection, digest: &[u8]) -> Result<()> {
    conn.execute("DELETE FROM login_flows WHERE id_digest = ?1", [digest])?;
    Ok(())
}

/// Deletes up to `limit` expired flows.
pub fn sweep(conn: &Connection, now: i64, limit: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM login_flows WHERE id_digest IN
             (SELECT id_digest FROM login_flows WHERE expires_at <= ?1 LIMIT ?2)",
        [now, limit],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        c
    }

    #[test]
    fn flows_are_found_until_they_expire_and_then_swept() {
        let c = store();
        let from = Holder {
            network: "192.0.2.7".into(),
            address: "192.0.2.7".into(),
        };
        create(&c, b"plex", 1, None, &from, 0, 600).unwrap();
        create_quick_connect(&c, b"qc", "sealed", None, &from, 0, 700).unwrap();
        assert_eq!(get(&c, b"plex", 599).unwrap().unwrap().provider, "plex");
        assert!(get(&c, b"plex", 600).unwrap().is_none());
        assert_eq!(sweep(&c, 600, 100).unwrap(), 1);
        assert_eq!(secret(&c, b"qc").unwrap().as_deref(), Some("sealed"));
    }
}
