//! Plex PIN sign-ins in progress, bound to the browser that started them.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

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
    pub pin_id: u64,
    pub rd: Option<String>,
    pub state: FlowState,
    pub expires_at: i64,
    pub next_poll_ms: i64,
    pub backoff_ms: i64,
}

pub fn create(
    conn: &Connection,
    digest: &[u8],
    pin_id: u64,
    rd: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO login_flows (id_digest, provider, pin_id, rd, state, created_at, expires_at, next_poll_ms, backoff_ms)
         VALUES (?1, 'plex', ?2, ?3, 'pending', ?4, ?5, 0, 1000)",
        params![digest, pin_id as i64, rd, now, expires_at],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, digest: &[u8], now: i64) -> Result<Option<Flow>> {
    Ok(conn
        .query_row(
            "SELECT pin_id, rd, state, expires_at, next_poll_ms, backoff_ms
             FROM login_flows WHERE id_digest = ?1 AND expires_at > ?2",
            params![digest, now],
            |r| {
                let state: String = r.get(2)?;
                Ok(Flow {
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
