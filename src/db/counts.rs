//! Counts the metrics endpoint and the console overview read: live sessions, users,
//! OAuth clients and webhook deliveries by state.

use rusqlite::Connection;

use crate::error::Result;

/// Sessions that have not expired at `now`.
pub fn live_sessions(conn: &Connection, now: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM sessions WHERE expires_at > ?1",
        [now],
        |r| r.get(0),
    )?)
}

pub fn users(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?)
}

pub fn oauth_clients(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM oauth_clients", [], |r| r.get(0))?)
}

/// (state, count) of webhook deliveries for each state, every state listed even at 0.
pub fn deliveries_by_state(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.state, (SELECT count(*) FROM webhook_deliveries d WHERE d.state = s.state)
           FROM (SELECT 'pending' AS state UNION ALL SELECT 'delivered' UNION ALL SELECT 'failed') s",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
