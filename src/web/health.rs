//! Liveness and readiness for systemd, Docker-style health checks and load balancers,
//! and `/metrics` for Prometheus.

use rouille::Response;

use crate::db::counts;
use crate::error::{AppError, Result};
use crate::metrics::Gauge;
use crate::web::request::Ctx;

pub fn healthz_get() -> Response {
    Response::json(&serde_json::json!({ "status": "ok" })).with_no_cache()
}

/// Ready (and started) once the database answers.
pub fn readyz_get(ctx: &Ctx) -> Result<Response> {
    ctx.app
        .db
        .ping()
        .map_err(|e| AppError::NotReady(format!("database: {e}")))?;
    Ok(Response::json(&serde_json::json!({ "status": "ok", "database": "ok" })).with_no_cache())
}

/// GET /metrics: Prometheus text format. Open unless METRICS_TOKEN is set; it tells
/// counts, never who.
pub fn metrics_get(ctx: &Ctx) -> Result<Response> {
    if let Some(token) = &ctx.app.config.metrics_token {
        let given = ctx.authorization("Bearer").unwrap_or("");
        if !crate::crypto::ct_eq(given.as_bytes(), token.as_bytes()) {
            return Ok(
                Response::text("metrics need the bearer token METRICS_TOKEN\n")
                    .with_status_code(401)
                    .with_unique_header("WWW-Authenticate", r#"Bearer realm="metrics""#)
                    .with_no_cache(),
            );
        }
    }
    let gauges = gauges(ctx)?;
    Ok(Response::from_data(
        "text/plain; version=0.0.4; charset=utf-8",
        ctx.app
            .metrics
            .render(super::routes::metric_labels(), &gauges),
    )
    .with_no_cache())
}

/// Values read from the database and the process at scrape time.
fn gauges(ctx: &Ctx) -> Result<Vec<Gauge>> {
    let now = ctx.now();
    let (sessions, users, clients) = {
        let conn = ctx.app.db.conn()?;
        (
            counts::live_sessions(&conn, now)?,
            counts::users(&conn)?,
            counts::oauth_clients(&conn)?,
        )
    };
    let gauge = |name, help, value: f64| Gauge {
        name,
        kind: "gauge",
        help,
        labels: String::new(),
        value,
    };
    let mut out = vec![
        Gauge {
            name: "authportal_build_info",
            kind: "gauge",
            help: "The running version (always 1).",
            labels: format!(
                "{{version=\"{}\",commit=\"{}\"}}",
                env!("CARGO_PKG_VERSION"),
                crate::version::COMMIT
            ),
            value: 1.0,
        },
        gauge(
            "authportal_active_sessions",
            "Sign-ins that have not expired or been ended.",
            sessions as f64,
        ),
        gauge("authportal_users", "Portal accounts.", users as f64),
        gauge(
            "authportal_oauth_clients",
            "Registered OpenID Connect clients.",
            clients as f64,
        ),
    ];
    out.extend(delivery_gauges(ctx)?);
    if let Some(newest) = crate::backup::newest_taken(ctx.app) {
        out.push(gauge(
            "authportal_backup_last_timestamp_seconds",
            "When the newest backup this portal took was written (Unix time); alert on time() minus this.",
            newest as f64,
        ));
        out.push(gauge(
            "authportal_backup_age_seconds",
            "Seconds since the newest backup this portal took.",
            (now - newest).max(0) as f64,
        ));
    }
    if let Some(rss) = crate::metrics::resident_bytes() {
        out.push(gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            rss as f64,
        ));
    }
    if let Some(fds) = crate::metrics::open_fds() {
        out.push(gauge(
            "process_open_fds",
            "Number of open file descriptors.",
            fds as f64,
        ));
    }
    Ok(out)
}

/// Webhook deliveries on record, by state (pending ones are the queue).
fn delivery_gauges(ctx: &Ctx) -> Result<Vec<Gauge>> {
    let conn = ctx.app.db.conn()?;
    let mut out = Vec::new();
    for (state, n) in counts::deliveries_by_state(&conn)? {
        out.push(Gauge {
            name: "authportal_webhook_deliveries",
            kind: "gauge",
            help: "Webhook deliveries on record by state (pending = queued or being retried).",
            labels: format!("{{state=\"{state}\"}}"),
            value: n as f64,
        });
    }
    Ok(out)
}
