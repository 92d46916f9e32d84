//! The audit log: writing events (and queueing the webhooks that want them, in the same
//! transaction), reading them with filters and keyset paging, and pruning old ones.
//! Long strings that events repeat (user agents) are stored once, in `event_strings`,
//! and the detail refers to them (`"#user_agent": id`); reading puts them back.

use rusqlite::{Connection, OptionalExtension, params_from_iter, types::Value as Sql};
use serde_json::Value;

use crate::error::Result;
use crate::event_type::EventType;

pub struct Event<'a> {
    pub kind: EventType,
    pub user_id: Option<i64>,
    pub ip: Option<&'a str>,
    /// "success" or "failure".
    pub result: &'a str,
    pub detail: Value,
}

/// Detail keys whose string values are stored once in event_strings (a user agent is
/// ~100 bytes, two thirds of an event, and a community has few distinct ones).
const SHARED: &[&str] = &["user_agent"];
/// Shorter values stay inline (a reference costs ~10 bytes).
const SHARED_MIN_LEN: usize = 24;

/// The stored key of a shared value's reference ("#user_agent").
fn ref_key(key: &str) -> String {
    format!("#{key}")
}

/// The detail as stored: shared strings replaced by references.
fn compact(conn: &Connection, mut detail: Value, now: i64) -> Result<Value> {
    if let Value::Object(map) = &mut detail {
        for key in SHARED {
            let Some(Value::String(text)) = map.get(*key) else {
                continue;
            };
            if text.len() < SHARED_MIN_LEN {
                continue;
            }
            // last_at: pruned with the events (none older than it can refer to it).
            let id: i64 = conn
                .prepare_cached(
                    "INSERT INTO event_strings (text, last_at) VALUES (?1, ?2)
                     ON CONFLICT (text) DO UPDATE SET last_at = max(last_at, excluded.last_at)
                     RETURNING id",
                )?
                .query_row(rusqlite::params![text, now], |r| r.get(0))?;
            map.remove(*key);
            map.insert(ref_key(key), Value::from(id));
        }
    }
    Ok(detail)
}

/// The detail as written: references replaced by their strings (one left out if its
/// string is gone).
fn expand(conn: &Connection, mut detail: Value) -> Result<Value> {
    if let Value::Object(map) = &mut detail {
        for key in SHARED {
            let Some(id) = map.remove(&ref_key(key)).and_then(|v| v.as_i64()) else {
                continue;
            };
            let text: Option<String> = conn
                .prepare_cached("SELECT text FROM event_strings WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            if let Some(text) = text {
                map.insert(key.to_string(), Value::String(text));
            }
        }
    }
    Ok(detail)
}

/// Writes the event and queues a delivery for every enabled webhook that wants it, so a
/// delivery exists exactly when the event does (both commit or neither).
pub fn record(conn: &Connection, e: &Event, now: i64) -> Result<()> {
    let detail = compact(conn, e.detail.clone(), now)?;
    conn.prepare_cached(
        "INSERT INTO events (type, time, user_id, ip, result, detail_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(rusqlite::params![e.kind.as_str(), now, e.user_id, e.ip, e.result, detail.to_string()])?;
    let id = conn.last_insert_rowid();
    crate::db::webhooks::enqueue_for_event(conn, id, e.kind, e.user_id, now)
}

/// An event as the API and the console show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventRow {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub time: i64,
    pub user: Option<EventUser>,
    pub ip: Option<String>,
    pub result: String,
    pub detail: Value,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EventUser {
    pub uuid: String,
    pub username: String,
}

/// What to look for. Every field narrows the result; `before` is the keyset cursor
/// (events with a smaller id, newest first).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A type prefix: "signin." matches signin.success and signin.failure.
    pub type_prefix: Option<String>,
    /// Users whose events to show (a username may name several accounts).
    pub user_ids: Option<Vec<i64>>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub ip: Option<String>,
    pub before: Option<i64>,
}

/// The smallest string greater than every string starting with `prefix`, for an
/// index-friendly range instead of LIKE (None: no upper bound).
pub(super) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Up to `limit` events matching `f`, newest first.
pub fn query(conn: &Connection, f: &Filter, limit: i64) -> Result<Vec<EventRow>> {
    let Some((sql, args)) = query_sql(f, limit) else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare(&sql)?;
    let mut rows: Vec<EventRow> = stmt
        .query_map(params_from_iter(args), |r| {
            let uuid: Option<String> = r.get(3)?;
            let username: Option<String> = r.get(4)?;
            let detail: String = r.get(7)?;
            Ok(EventRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                time: r.get(2)?,
                user: uuid
                    .zip(username)
                    .map(|(uuid, username)| EventUser { uuid, username }),
                ip: r.get(5)?,
                result: r.get(6)?,
                detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    for row in &mut rows {
        row.detail = expand(conn, std::mem::take(&mut row.detail))?;
    }
    Ok(rows)
}

/// The statement and its arguments for `query` (None: nothing can match).
fn query_sql(f: &Filter, limit: i64) -> Option<(String, Vec<Sql>)> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Sql> = Vec::new();
    let mut arg = |clauses: &mut Vec<String>, sql: &str, v: Sql| {
        args.push(v);
        clauses.push(sql.replace('?', &format!("?{}", args.len())));
    };
    if let Some(p) = f.type_prefix.as_deref().filter(|p| !p.is_empty()) {
        arg(&mut clauses, "e.type >= ?", Sql::Text(p.to_string()));
        if let Some(end) = prefix_end(p) {
            arg(&mut clauses, "e.type < ?", Sql::Text(end));
        }
    }
    if let Some(ids) = &f.user_ids {
        if ids.is_empty() {
            return None;
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        clauses.push(format!("e.user_id IN ({})", list.join(",")));
    }
    if let Some(t) = f.since {
        arg(&mut clauses, "e.time >= ?", Sql::Integer(t));
    }
    if let Some(t) = f.until {
        arg(&mut clauses, "e.time <= ?", Sql::Integer(t));
    }
    if let Some(ip) = &f.ip {
        arg(&mut clauses, "e.ip = ?", Sql::Text(ip.clone()));
    }
    if let Some(b) = f.before {
        arg(&mut clauses, "e.id < ?", Sql::Integer(b));
    }
    args.push(Sql::Integer(limit));
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!(
        "SELECT e.id, e.type, e.time, u.uuid, u.username, e.ip, e.result, e.detail_json
         FROM events e LEFT JOIN users u ON u.id = e.user_id
         {filter} ORDER BY e.id DESC LIMIT ?{}",
        args.len()
    );
    Some((sql, args))
}

/// One event with the user id behind it (webhook rendering).
pub fn get(conn: &Connection, id: i64) -> Result<Option<(EventRow, Option<i64>)>> {
    let f = Filter {
        before: Some(id + 1),
        ..Filter::default()
    };
    let row = query(conn, &f, 1)?.into_iter().find(|e| e.id == id);
    let Some(row) = row else { return Ok(None) };
    let user_id: Option<i64> =
        conn.query_row("SELECT user_id FROM events WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
    Ok(Some((row, user_id)))
}

/// Two index lookups (uuid, users_username), never a scan of every user: a UNION, as
/// SQLite plans the OR of the two as a scan.
const USERS_NAMED: &str = "SELECT id FROM users WHERE uuid = ?1
    UNION SELECT id FROM users WHERE username = ?1 COLLATE NOCASE ORDER BY id";

/// Ids of the users whose uuid or username is `who` (usernames are not unique).
pub fn users_named(conn: &Connection, who: &str) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(USERS_NAMED)?;
    let rows = stmt.query_map([who], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes those of the `limit` oldest events (by id) older than `before`, and up to
/// `limit` finished deliveries of that age (one short write; the janitor repeats it).
/// Events are written in time order, so the oldest are the first ids: each batch reads
/// `limit` rows, never the whole log looking for old ones.
pub fn prune(conn: &Connection, before: i64, limit: i64) -> Result<usize> {
    let events = conn.execute(
        "DELETE FROM events WHERE id IN
             (SELECT id FROM (SELECT id, time FROM events ORDER BY id LIMIT ?2) WHERE time < ?1)",
        [before, limit],
    )?;
    let deliveries = conn.execute(
        "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries
             WHERE state != 'pending' AND created_at < ?1 ORDER BY id LIMIT ?2)",
        [before, limit],
    )?;
    let strings = conn.execute(
        "DELETE FROM event_strings WHERE id IN
             (SELECT id FROM event_strings WHERE last_at < ?1 LIMIT ?2)",
        [before, limit],
    )?;
    Ok(events + deliveries + strings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of `query` for this filter, one step a line.
    fn plan_of(c: &Connection, f: &Filter) -> String {
        let (sql, args) = query_sql(f, 50).unwrap();
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let steps: Vec<String> = stmt
            .query_map(params_from_iter(args), |r| r.get(3))
            .unwrap()
            .map(|s| s.unwrap())
            .collect();
        steps.join("\n")
    }

    #[test]
    fn every_events_index_serves_a_filter() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        let mut indexes: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|n| n.unwrap())
            .collect();
        indexes.sort();
        assert_eq!(indexes, ["events_ip", "events_type", "events_user"]);
        let by = |f: Filter| plan_of(&c, &f);
        assert!(
            by(Filter {
                type_prefix: Some("signin.".into()),
                ..Filter::default()
            })
            .contains("events_type")
        );
        assert!(
            by(Filter {
                user_ids: Some(vec![7]),
                ..Filter::default()
            })
            .contains("events_user")
        );
        assert!(
            by(Filter {
                ip: Some("10.0.0.1".into()),
                ..Filter::default()
            })
            .contains("events_ip")
        );
    }

    #[test]
    fn user_agents_are_stored_once_and_read_back_in_place() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        let ua = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0";
        for (time, agent) in [(10, ua), (20, ua), (30, "curl/8.5"), (40, ua)] {
            let e = Event {
                kind: crate::event_type::EventType::SigninSuccess,
                user_id: None,
                ip: None,
                result: "success",
                detail: serde_json::json!({ "provider": "plex", "user_agent": agent }),
            };
            record(&c, &e, time).unwrap();
        }
        let stored: Vec<String> = c
            .prepare("SELECT detail_json FROM events ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|d| d.unwrap())
            .collect();
        assert!(stored.iter().all(|d| !d.contains("Firefox")), "{stored:?}");
        assert!(stored[2].contains("curl/8.5"), "short ones stay inline");
        let (strings, last): (i64, i64) = c
            .query_row(
                "SELECT count(*), max(last_at) FROM event_strings",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((strings, last), (1, 40));
        let rows = query(&c, &Filter::default(), 10).unwrap();
        let agents: Vec<&str> = rows
            .iter()
            .map(|r| r.detail["user_agent"].as_str().unwrap())
            .collect();
        assert_eq!(agents, [ua, "curl/8.5", ua, ua]);
        assert!(rows.iter().all(|r| r.detail["provider"] == "plex"));
        assert!(rows[0].detail.get("#user_agent").is_none());
        // Pruned with the last event that used it.
        prune(&c, 35, 10).unwrap();
        assert_eq!(
            prune(&c, 41, 10).unwrap(),
            2,
            "the last event and its string"
        );
        let left: i64 = c
            .query_row("SELECT count(*) FROM event_strings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn pruning_removes_only_what_is_past_retention() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        for time in [10, 20, 30, 40, 50] {
            let e = Event {
                kind: crate::event_type::EventType::SigninSuccess,
                user_id: None,
                ip: None,
                result: "success",
                detail: Value::Null,
            };
            record(&c, &e, time).unwrap();
        }
        assert_eq!(prune(&c, 35, 2).unwrap(), 2);
        assert_eq!(prune(&c, 35, 2).unwrap(), 1);
        assert_eq!(prune(&c, 35, 2).unwrap(), 0);
        let left: Vec<i64> = c
            .prepare("SELECT time FROM events ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|t| t.unwrap())
            .collect();
        assert_eq!(left, [40, 50]);
    }

    #[test]
    fn the_user_filter_looks_names_up_by_index() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        let mut stmt = c
            .prepare(&format!("EXPLAIN QUERY PLAN {USERS_NAMED}"))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(["alice"], |r| r.get(3))
            .unwrap()
            .map(|s| s.unwrap())
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("users_username"), "{plan}");
        assert!(!plan.contains("SCAN users"), "{plan}");
    }

    #[test]
    fn prefix_ranges_cover_exactly_the_prefix() {
        assert_eq!(prefix_end("signin.").as_deref(), Some("signin/"));
        assert_eq!(prefix_end("a").as_deref(), Some("b"));
        assert_eq!(prefix_end(""), None);
    }
}
