//! Webhook rules, their persistent delivery queue and the log of every attempt.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::event_type::EventType;

/// A rule as stored: header values and the secret are sealed (never shown back).
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub events: Vec<String>,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub method: String,
    pub url: String,
    /// Header name -> sealed value.
    pub headers: BTreeMap<String, String>,
    pub body_format: String,
    pub body_template: String,
    pub timeout_secs: i64,
    pub max_attempts: i64,
    pub secret_sealed: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, name, enabled, events_json, users_json, groups_json, method, url, headers_json,
    body_format, body_template, timeout_secs, max_attempts, secret_sealed, created_at, updated_at";

fn from_row(r: &rusqlite::Row) -> rusqlite::Result<Webhook> {
    let list = |i: usize| -> rusqlite::Result<Vec<String>> {
        let s: String = r.get(i)?;
        Ok(serde_json::from_str(&s).unwrap_or_default())
    };
    let headers: String = r.get(8)?;
    Ok(Webhook {
        id: r.get(0)?,
        name: r.get(1)?,
        enabled: r.get(2)?,
        events: list(3)?,
        users: list(4)?,
        groups: list(5)?,
        method: r.get(6)?,
        url: r.get(7)?,
        headers: serde_json::from_str(&headers).unwrap_or_default(),
        body_format: r.get(9)?,
        body_template: r.get(10)?,
        timeout_secs: r.get(11)?,
        max_attempts: r.get(12)?,
        secret_sealed: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

pub fn list(conn: &Connection) -> Result<Vec<Webhook>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM webhooks ORDER BY id"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Webhook>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

/// Inserts (id 0) or updates the rule; returns its id.
pub fn save(conn: &Connection, w: &Webhook) -> Result<i64> {
    let values = params![
        w.name,
        w.enabled,
        json(&w.events),
        json(&w.users),
        json(&w.groups),
        w.method,
        w.url,
        json(&w.headers),
        w.body_format,
        w.body_template,
        w.timeout_secs,
        w.max_attempts,
        w.secret_sealed,
        w.created_at,
        w.updated_at,
        w.id,
    ];
    if w.id == 0 {
        conn.execute(
            "INSERT INTO webhooks (name, enabled, events_json, users_json, groups_json, method, url,
                 headers_json, body_format, body_template, timeout_secs, max_attempts, secret_sealed,
                 created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            &values[..15],
        )?;
        Ok(conn.last_insert_rowid())
    } else {
        conn.execute(
            "UPDATE webhooks SET name = ?1, enabled = ?2, events_json = ?3, users_json = ?4,
                 groups_json = ?5, method = ?6, url = ?7, headers_json = ?8, body_format = ?9,
                 body_template = ?10, timeout_secs = ?11, max_attempts = ?12, secret_sealed = ?13,
                 created_at = ?14, updated_at = ?15
             WHERE id = ?16",
            values,
        )?;
        Ok(w.id)
    }
}

pub fn delete(conn: &Connection, id: i64) -> Result<bool> {
    Ok(conn.execute("DELETE FROM webhooks WHERE id = ?1", [id])? > 0)
}

/// Whether a rule's event list names this type: exactly, "*", or a prefix ending in "*"
/// (see `event_type::pattern_wants`).
pub fn wants(patterns: &[String], kind: &str) -> bool {
    patterns
        .iter()
        .any(|p| crate::event_type::pattern_wants(p, kind))
}

/// Queues a delivery of event `event_id` for every enabled rule that wants it. Runs in
/// the event's own transaction: the event and its deliveries commit together.
pub fn enqueue_for_event(
    conn: &Connection,
    event_id: i64,
    kind: EventType,
    user_id: Option<i64>,
    now: i64,
) -> Result<()> {
    if !kind.delivered() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT id, events_json, users_json, groups_json FROM webhooks WHERE enabled = 1",
    )?;
    let rules: Vec<(i64, String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, events, users, groups) in rules {
        let parse = |s: &str| serde_json::from_str::<Vec<String>>(s).unwrap_or_default();
        if !wants(&parse(&events), kind.as_str()) {
            continue;
        }
        if !user_matches(conn, user_id, &parse(&users), &parse(&groups))? {
            continue;
        }
        insert_delivery(conn, id, Some(event_id), false, now)?;
    }
    Ok(())
}

/// The optional user and group filters of a rule (no filter: everyone, even no user).
fn user_matches(
    conn: &Connection,
    user_id: Option<i64>,
    users: &[String],
    groups: &[String],
) -> Result<bool> {
    if users.is_empty() && groups.is_empty() {
        return Ok(true);
    }
    let Some(user_id) = user_id else {
        return Ok(false);
    };
    if !users.is_empty() {
        let (uuid, username): (String, String) = conn.query_row(
            "SELECT uuid, username FROM users WHERE id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if !users
            .iter()
            .any(|u| *u == uuid || u.eq_ignore_ascii_case(&username))
        {
            return Ok(false);
        }
    }
    if !groups.is_empty() {
        let theirs = crate::db::users::groups(conn, user_id)?;
        if !groups.iter().any(|g| theirs.contains(g)) {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn insert_delivery(
    conn: &Connection,
    webhook_id: i64,
    event_id: Option<i64>,
    test: bool,
    now: i64,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, test, state, attempts, next_at_ms, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5, ?5)",
    )?
    .execute(params![webhook_id, event_id, test, now * 1000, now])?;
    Ok(conn.last_insert_rowid())
}

/// A queued delivery that is due.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: Option<i64>,
    pub test: bool,
    pub attempts: i64,
}

pub fn due(conn: &Connection, now_ms: i64, limit: i64) -> Result<Vec<Due>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, webhook_id, event_id, test, attempts FROM webhook_deliveries
         WHERE state = 'pending' AND next_at_ms <= ?1 ORDER BY next_at_ms, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now_ms, limit], |r| {
        Ok(Due {
            id: r.get(0)?,
            webhook_id: r.get(1)?,
            event_id: r.get(2)?,
            test: r.get(3)?,
            attempts: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Counts attempt `attempts + 1` and sets when the next may start, before the request is
/// sent: if its outcome then cannot be recorded, the delivery still waits its back-off and
/// the attempt still counts toward max_attempts. False when someone else got there first.
pub fn claim(conn: &Connection, id: i64, attempts: i64, next_at_ms: i64, now: i64) -> Result<bool> {
    let n = conn.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, next_at_ms = ?3, updated_at = ?4
         WHERE id = ?1 AND state = 'pending' AND attempts = ?2",
        params![id, attempts, next_at_ms, now],
    )?;
    Ok(n == 1)
}

/// Ends a delivery that used up its attempts without a recorded outcome for the last.
pub fn give_up(conn: &Connection, id: i64, error: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE webhook_deliveries SET state = 'failed', last_error = ?2, updated_at = ?3
         WHERE id = ?1 AND state = 'pending'",
        params![id, error, now],
    )?;
    Ok(())
}

/// One attempt's outcome.
pub struct Attempt<'a> {
    pub delivery_id: i64,
    pub attempt: i64,
    pub at: i64,
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
    /// "pending" (retry at next_at_ms), "delivered" or "failed".
    pub state: &'a str,
    pub next_at_ms: i64,
}

pub fn record_attempt(conn: &Connection, a: &Attempt) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO webhook_attempts (delivery_id, attempt, at, status, error, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![a.delivery_id, a.attempt, a.at, a.status, a.error, a.duration_ms],
    )?;
    conn.execute(
        "UPDATE webhook_deliveries SET attempts = ?2, state = ?3, next_at_ms = ?4, last_status = ?5,
             last_error = ?6, updated_at = ?7 WHERE id = ?1",
        params![
            a.delivery_id,
            a.attempt,
            a.state,
            a.next_at_ms,
            a.status,
            a.error,
            a.at
        ],
    )?;
    Ok(())
}

/// A delivery as the API lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryInfo {
    pub id: i64,
    pub event_id: Option<i64>,
    pub event_type: Option<String>,
    pub test: bool,
    pub state: String,
    pub attempts: i64,
    pub response_code: Option<u16>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub next_attempt_at_ms: Option<i64>,
    pub attempt_log: Vec<AttemptInfo>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AttemptInfo {
    pub attempt: i64,
    pub at: i64,
    pub response_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// The most recent deliveries of a rule, newest first, with every attempt.
pub fn deliveries(conn: &Connection, webhook_id: i64, limit: i64) -> Result<Vec<DeliveryInfo>> {
    let mut stmt = conn.prepare(
        "SELECT d.id, d.event_id, e.type, d.test, d.state, d.attempts, d.last_status, d.last_error,
                d.created_at, d.updated_at, d.next_at_ms
         FROM webhook_deliveries d LEFT JOIN events e ON e.id = d.event_id
         WHERE d.webhook_id = ?1 ORDER BY d.id DESC LIMIT ?2",
    )?;
    let mut list: Vec<DeliveryInfo> = stmt
        .query_map(params![webhook_id, limit], |r| {
            let state: String = r.get(4)?;
            let next: i64 = r.get(10)?;
            Ok(DeliveryInfo {
                id: r.get(0)?,
                event_id: r.get(1)?,
                event_type: r.get(2)?,
                test: r.get(3)?,
                next_attempt_at_ms: (state == "pending").then_some(next),
                state,
                attempts: r.get(5)?,
                response_code: r.get(6)?,
                error: r.get(7)?,
                created_at: r.get(8)?,
                updated_at: r.get(9)?,
                attempt_log: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut attempts = conn.prepare_cached(
        "SELECT attempt, at, status, error, duration_ms FROM webhook_attempts WHERE delivery_id = ?1 ORDER BY attempt",
    )?;
    for d in &mut list {
        d.attempt_log = attempts
            .query_map([d.id], |r| {
                Ok(AttemptInfo {
                    attempt: r.get(0)?,
                    at: r.get(1)?,
                    response_code: r.get(2)?,
                    error: r.get(3)?,
                    duration_ms: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::wants;

    #[test]
    fn event_patterns_match_exactly_or_by_prefix() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wants(&p(&["signin.success"]), "signin.success"));
        assert!(!wants(&p(&["signin.success"]), "signin.failure"));
        assert!(wants(&p(&["signin.*"]), "signin.failure"));
        assert!(wants(&p(&["*"]), "mfa.verify"));
        assert!(!wants(&p(&[]), "mfa.verify"));
    }

    #[test]
    fn the_first_factor_step_needs_its_exact_name() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let step = crate::event_type::EventType::SigninFirstFactor.as_str();
        assert!(!wants(&p(&["signin.*"]), step));
        assert!(!wants(&p(&["*"]), step));
        assert!(!wants(&p(&["signin.first*"]), step));
        assert!(wants(&p(&["signin.success", step]), step));
        assert!(wants(&p(&["signin.*"]), "signin.locked"));
        assert!(wants(&p(&["mfa.*"]), "mfa.locked"));
    }
}
