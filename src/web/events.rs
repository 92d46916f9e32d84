//! The audit log over HTTP: `GET /api/admin/events` (filters and keyset paging), the
//! console page `/admin/events`, and `record`, which request handlers use to write an
//! event carrying the request's address and user agent.

use rouille::Response;
use serde_json::{Value, json};

use crate::db::events::{self, EventRow, Filter};
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::web::request::Ctx;

/// Events per page unless `limit` asks for fewer (or more, up to MAX_LIMIT).
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// Writes an event for this request: the client address, and the user agent in `detail`.
pub fn record(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    kind: EventType,
    user_id: Option<i64>,
    ok: bool,
    detail: Value,
) -> Result<()> {
    ctx.origin().record(tx, kind, user_id, ok, detail)
}

/// A time from a query: unix seconds, RFC 3339, or a date (UTC; `end_of_day` for "until").
pub fn parse_time(raw: &str, end_of_day: bool) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(n) = raw.parse::<i64>() {
        return Some(n);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(t.timestamp());
    }
    let day = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let t = if end_of_day {
        day.and_hms_opt(23, 59, 59)?
    } else {
        day.and_hms_opt(0, 0, 0)?
    };
    Some(t.and_utc().timestamp())
}

/// The filters of a request (`type`, `user`, `since`, `until`, `ip`, `cursor`, `limit`).
/// Bad values are refused with a message rather than ignored: a silently dropped filter
/// would show events the person did not ask for.
pub struct Query {
    pub filter: Filter,
    pub limit: i64,
    /// The raw values, for the console form and its paging links.
    pub raw: Vec<(&'static str, String)>,
}

pub fn parse_query(ctx: &Ctx) -> Result<Query> {
    let get = |name: &str| {
        ctx.query(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut raw = Vec::new();
    let mut filter = Filter::default();
    for name in ["type", "user", "since", "until", "ip"] {
        if let Some(v) = get(name) {
            if v.len() > 200 {
                return Err(AppError::bad_request(format!(
                    "{name}: at most 200 characters"
                )));
            }
            raw.push((name, v));
        }
    }
    let value = |name: &str| raw.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    filter.type_prefix = value("type");
    if let Some(t) = &filter.type_prefix {
        crate::event_type::check_filter(t).map_err(AppError::bad_request)?;
    }
    if let Some(who) = value("user") {
        filter.user_ids = Some(events::users_named(&*ctx.app.db.conn()?, &who)?);
    }
    for (name, end) in [("since", false), ("until", true)] {
        if let Some(v) = value(name) {
            let t = parse_time(&v, end).ok_or_else(|| {
                AppError::bad_request(format!(
                    "{name}: {v:?} is not a time (unix seconds, RFC 3339 or YYYY-MM-DD)"
                ))
            })?;
            if name == "since" {
                filter.since = Some(t);
            } else {
                filter.until = Some(t);
            }
        }
    }
    if let Some(ip) = value("ip") {
        ip.parse::<std::net::IpAddr>()
            .map_err(|_| AppError::bad_request(format!("ip: {ip:?} is not an IP address")))?;
        filter.ip = Some(ip);
    }
    if let Some(c) = get("cursor") {
        let id = c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            AppError::bad_request("cursor: use the `next` value of the previous page")
        })?;
        filter.before = Some(id);
    }
    let limit = match get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                AppError::bad_request(format!("limit: a number from 1 to {MAX_LIMIT}"))
            })?,
    };
    Ok(Query { filter, limit, raw })
}

/// One page of events and the cursor of the next (None on the last page).
pub fn page_of(ctx: &Ctx, q: &Query) -> Result<(Vec<EventRow>, Option<String>)> {
    // One more than asked says whether another page exists without a count query.
    let mut rows = events::query(&*ctx.app.db.conn()?, &q.filter, q.limit + 1)?;
    let more = rows.len() as i64 > q.limit;
    rows.truncate(q.limit as usize);
    let next = more
        .then(|| rows.last().map(|e| e.id.to_string()))
        .flatten();
    Ok((rows, next))
}

/// GET /api/admin/events -> {events: [{id, type, time, user, ip, result, detail}], next}
pub fn list_get(ctx: &Ctx, _: crate::web::guards::Admin) -> Result<Response> {
    let q = parse_query(ctx)?;
    let (rows, next) = page_of(ctx, &q)?;
    let events: Vec<Value> = rows
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "type": e.kind,
                "time": crate::clock::rfc3339(e.time),
                "user": e.user,
                "ip": e.ip,
                "result": e.result,
                "detail": e.detail,
            })
        })
        .collect();
    Ok(Response::json(&json!({ "events": events, "next": next })).with_no_cache())
}

/// GET /admin/events: the same filters and paging as the API, as a page.
pub fn page_get(ctx: &Ctx, c: crate::web::admin_pages::Console) -> Result<Response> {
    use crate::views::admin::Area;
    use crate::web::admin_pages::page;
    let (rows, next, raw, error) = match parse_query(ctx) {
        Ok(q) => {
            let (rows, next) = page_of(ctx, &q)?;
            (rows, next, q.raw, None)
        }
        Err(AppError::BadRequest(m)) => (Vec::new(), None, Vec::new(), Some(m)),
        Err(e) => return Err(e),
    };
    let markup = crate::views::admin::events(
        &c.frame(Area::Events),
        &crate::views::admin::EventsPage {
            events: &rows,
            filters: &raw,
            next: next.as_deref(),
            error: error.as_deref(),
        },
    );
    Ok(page(markup).with_status_code(if error.is_some() { 400 } else { 200 }))
}
