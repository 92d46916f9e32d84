//! The background `webhooks` thread: delivers the persistent queue (retries with
//! exponential back-off, optional HMAC-SHA256 signature, every attempt recorded).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use super::spec::{header_purpose, url_without_path};
use super::template::{Escape, Values, render, values_for};
use crate::app::App;
use crate::db::webhooks::{self as store, Webhook};
use crate::error::{AppError, Result};
use crate::event_type::EventType;

/// How often the queue is looked at; deliveries are due at once, so this is the delay
/// between an event and its first attempt.
const POLL_MS: u64 = 200;

pub fn spawn(app: Arc<App>, stop: Arc<AtomicBool>) -> std::result::Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name("webhooks".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match run_due(&app, &stop) {
                    Ok(0) => std::thread::sleep(Duration::from_millis(POLL_MS)),
                    Ok(_) => {}
                    Err(e) => {
                        crate::log_error!("webhooks: {e}");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the webhooks thread: {e}"))
}

/// Delivers what is due now; returns how many deliveries were worked on. An error on
/// one (a full disk, a busy database) is logged and the others still go; only when
/// none could be worked on is it an error, so the thread waits a little.
pub fn run_due(app: &App, stop: &AtomicBool) -> Result<usize> {
    let due = store::due(&*app.db.conn()?, app.clock.now_ms(), 20)?;
    let (mut worked, mut failed) = (0, 0);
    for d in due {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match attempt(app, &d) {
            Ok(true) => worked += 1,
            Ok(false) => {}
            Err(e) => {
                crate::log_error!("webhooks: delivery {}: {e}", d.id);
                failed += 1;
            }
        }
    }
    if worked == 0 && failed > 0 {
        return Err(AppError::internal(format!(
            "{failed} due deliveries could not be worked on"
        )));
    }
    Ok(worked)
}

/// The Content-Type of a body in `format` ("json" or "form").
pub(super) fn content_type(format: &str) -> &'static str {
    if format == "form" {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    }
}

/// The request one attempt sends.
struct Outgoing {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
}

fn build(app: &App, hook: &Webhook, d: &store::Due, values: &Values) -> Result<Outgoing> {
    let url = render(&hook.url, Escape::Url, values);
    let body = render(
        &hook.body_template,
        Escape::for_body(&hook.body_format),
        values,
    )
    .into_bytes();
    let mut headers: Vec<(String, String)> = Vec::new();
    if !body.is_empty() {
        headers.push((
            "Content-Type".into(),
            content_type(&hook.body_format).into(),
        ));
    }
    headers.push((
        "X-Authportal-Event".into(),
        values.get("event.type").to_string(),
    ));
    headers.push(("X-Authportal-Delivery".into(), d.id.to_string()));
    if let Some(sealed) = &hook.secret_sealed {
        let secret = app
            .sealer
            .open("webhook-secret", sealed)
            .map_err(|_| AppError::internal("webhook secret does not open under DATA_KEY"))?;
        let ts = app.clock.now().to_string();
        let signed = signing_input(&ts, &hook.method, &url, &body);
        let mac = crate::crypto::hmac_sha256(&secret, &[&signed]);
        headers.push((
            "X-Authportal-Signature".into(),
            format!("sha256={}", crate::crypto::hex(&mac)),
        ));
        headers.push(("X-Authportal-Timestamp".into(), ts));
    }
    for (name, sealed) in &hook.headers {
        let v = app
            .sealer
            .open(&header_purpose(name), sealed)
            .map_err(|_| AppError::internal("webhook header does not open under DATA_KEY"))?;
        headers.push((name.clone(), String::from_utf8_lossy(&v).into_owned()));
    }
    Ok(Outgoing {
        method: hook.method.clone(),
        url,
        headers,
        body,
        timeout: Duration::from_secs(hook.timeout_secs.clamp(1, 60) as u64),
    })
}

/// What the signature covers: `"{timestamp}.{METHOD} {url}\n{body}"`. The timestamp,
/// method and exact URL are in it so a captured request cannot be replayed later, with
/// another method or at another URL (a GET signs an empty body, so without the URL all
/// its signatures would be the same).
fn signing_input(ts: &str, method: &str, url: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{ts}.{method} {url}\n").into_bytes();
    out.extend_from_slice(body);
    out
}

/// How an attempt ended: a status, or why there was none.
type Outcome = std::result::Result<u16, Failure>;

struct Failure {
    /// Stored and shown to readers.
    error: String,
    /// Whether another attempt can help (a refused destination stays refused).
    retry: bool,
}

impl Failure {
    fn transient(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            retry: true,
        }
    }
}

/// Status code, or a transport error (no URL query, no header values in it). A
/// destination the outbound policy refuses is never connected to, so the answer is the
/// same whether a port there is open or closed.
fn send(app: &App, out: &Outgoing) -> Outcome {
    let agent = app.outbound.agent(
        ureq::Agent::config_builder()
            .timeout_global(Some(out.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!(
                "{}/{} webhook",
                crate::providers::PRODUCT,
                crate::providers::VERSION
            )),
    );
    let mut req = ureq::http::Request::builder()
        .method(out.method.as_str())
        .uri(out.url.as_str());
    for (k, v) in &out.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .body(out.body.clone())
        .map_err(|_| Failure::transient("the request could not be built"))?;
    // The error is stored and shown to readers: no path or query (they can be credentials).
    let redact = |e: ureq::Error| {
        if let Some(refused) = crate::outbound::refusal(&e) {
            return Failure {
                error: refused.to_string(),
                retry: false,
            };
        }
        let base = out.url.split('?').next().unwrap_or("");
        let msg: String = e
            .to_string()
            .replace(&out.url, &url_without_path(&out.url))
            .replace(base, &url_without_path(&out.url));
        Failure::transient(msg.chars().take(300).collect::<String>())
    };
    let mut res = agent.run(req).map_err(redact)?;
    let status = res.status().as_u16();
    // Read a little of the answer so the connection ends cleanly; it is not kept.
    let _ = res.body_mut().with_config().limit(64 * 1024).read_to_vec();
    Ok(status)
}

/// Whether an answer is worth another try: network errors (not a refused destination),
/// 5xx and 429.
fn retryable(outcome: &Outcome) -> bool {
    match outcome {
        Err(f) => f.retry,
        Ok(s) => *s == 429 || *s >= 500,
    }
}

/// The longest wait between two attempts: an hour.
const MAX_BACKOFF_SECS: i64 = 3600;

/// Seconds before attempt `n + 1` after `n` failed ones: 1, 2, 4... up to an hour.
pub fn backoff_secs(n: i64) -> i64 {
    (1i64 << (n - 1).clamp(0, 12)).min(MAX_BACKOFF_SECS)
}

/// One attempt at delivery `d`: claim it (its own transaction), send, then record the
/// outcome (another). Claiming first bounds the sends when recording fails: each try
/// counts and waits its back-off. False when there was nothing to do.
fn attempt(app: &App, d: &store::Due) -> Result<bool> {
    let Some(hook) = store::get(&*app.db.conn()?, d.webhook_id)? else {
        return Ok(false); // deleted meanwhile: its deliveries went with it
    };
    if d.attempts >= hook.max_attempts {
        // Every allowed attempt was claimed, and the last one's outcome never recorded.
        give_up(app, &hook, d)?;
        return Ok(true);
    }
    let n = d.attempts + 1;
    let now_ms = app.clock.now_ms();
    let next_at_ms = now_ms + backoff_secs(n) * 1000;
    if !app
        .db
        .with_tx(|tx| store::claim(tx, d.id, d.attempts, next_at_ms, now_ms / 1000))?
    {
        return Ok(false);
    }
    let values = values_for(&*app.db.conn()?, &hook, d.event_id, app.clock.now())?;
    let started = Instant::now();
    let outcome = if d.event_id.is_none() && !d.test {
        Err(Failure::transient(
            "the event was pruned before it could be delivered",
        ))
    } else {
        build(app, &hook, d, &values)
            .map_err(|e| {
                crate::log_error!("webhooks: {e}");
                Failure::transient("the webhook's sealed values could not be opened")
            })
            .and_then(|out| send(app, &out))
    };
    let duration_ms = started.elapsed().as_millis() as i64;
    record(app, &hook, d, n, &outcome, duration_ms)?;
    Ok(true)
}

const UNRECORDED: &str = "gave up: the outcome of the last attempt could not be recorded";

fn give_up(app: &App, hook: &Webhook, d: &store::Due) -> Result<()> {
    let now = app.clock.now();
    app.db.with_tx(|tx| {
        store::give_up(tx, d.id, UNRECORDED, now)?;
        outcome_event(tx, hook, d, d.attempts, None, Some(UNRECORDED), now)
    })?;
    crate::log_warn!(
        "webhooks: delivery {} of webhook {}: {UNRECORDED}",
        d.id,
        hook.id
    );
    Ok(())
}

/// The `webhook.delivery` event that ends a delivery, delivered (a 2xx) or not.
fn outcome_event(
    tx: &rusqlite::Connection,
    hook: &Webhook,
    d: &store::Due,
    attempts: i64,
    status: Option<u16>,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    crate::db::events::record(
        tx,
        &crate::db::events::Event {
            kind: EventType::WebhookDelivery,
            user_id: None,
            ip: None,
            result: if status.is_some_and(|s| (200..300).contains(&s)) {
                "success"
            } else {
                "failure"
            },
            detail: json!({
                "webhook": hook.id,
                "name": hook.name,
                "delivery": d.id,
                "event": d.event_id,
                "attempts": attempts,
                "response_code": status,
                "error": error,
            }),
        },
        now,
    )?;
    Ok(())
}

/// Records attempt `n`'s outcome: delivered, pending a retry after its back-off, or failed.
fn record(
    app: &App,
    hook: &Webhook,
    d: &store::Due,
    n: i64,
    outcome: &Outcome,
    duration_ms: i64,
) -> Result<()> {
    let ok = matches!(outcome, Ok(s) if (200..300).contains(s));
    let again =
        !ok && retryable(outcome) && n < hook.max_attempts && (d.event_id.is_some() || d.test);
    let state = if ok {
        "delivered"
    } else if again {
        "pending"
    } else {
        "failed"
    };
    let now_ms = app.clock.now_ms();
    let (status, error) = match outcome {
        Ok(s) => (Some(*s), None),
        Err(f) => (None, Some(f.error.as_str())),
    };
    app.db.with_tx(|tx| {
        store::record_attempt(
            tx,
            &store::Attempt {
                delivery_id: d.id,
                attempt: n,
                at: now_ms / 1000,
                status,
                error,
                duration_ms,
                state,
                next_at_ms: now_ms + backoff_secs(n) * 1000,
            },
        )?;
        if state != "pending" {
            outcome_event(tx, hook, d, n, status, error, now_ms / 1000)?;
        }
        Ok(())
    })?;
    if !ok {
        crate::log_warn!(
            "webhooks: delivery {} of webhook {} attempt {n}: {}{}",
            d.id,
            hook.id,
            status.map_or_else(
                || error.unwrap_or("").to_string(),
                |s| format!("status {s}")
            ),
            if again { " (will retry)" } else { "" }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_time_method_url_and_body() {
        assert_eq!(
            signing_input("1700000000", "GET", "https://x/h?ip=1.2.3.4", b""),
            b"1700000000.GET https://x/h?ip=1.2.3.4\n".to_vec()
        );
        assert_eq!(
            signing_input("1", "POST", "https://x/h", b"{}"),
            b"1.POST https://x/h\n{}".to_vec()
        );
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff_secs(1), 1);
        assert_eq!(backoff_secs(2), 2);
        assert_eq!(backoff_secs(3), 4);
        assert_eq!(backoff_secs(12), 2048);
        assert_eq!(backoff_secs(13), 3600);
        assert_eq!(backoff_secs(50), 3600);
    }
}
