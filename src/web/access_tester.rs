//! POST /api/admin/access/test: the access-rule tester's HTTP side; the dry run itself
//! is access::tester.

use std::net::IpAddr;

use rouille::Response;
use serde_json::{Map, Value, json};

use crate::access::tester::{self, Probe};
use crate::error::{AppError, Result};
use crate::web::guards::Admin;
use crate::web::request::Ctx;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    #[serde(default)]
    user: Option<String>,
    url: String,
    #[serde(default)]
    method: Option<String>,
    ip: String,
}

const EXAMPLE: &str = r#"{"user": "alice", "url": "https://app.example.com/path", "method": "GET", "ip": "192.168.1.5"}"#;

pub fn test_post(ctx: &Ctx, _: Admin) -> Result<Response> {
    let body: TestRequest = ctx.json(EXAMPLE)?;
    let ip: IpAddr = body
        .ip
        .trim()
        .parse()
        .map_err(|_| AppError::bad_request(format!("ip {:?} is not an IP address", body.ip)))?;
    let probe = Probe {
        user: body
            .user
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty()),
        url: body.url.trim(),
        method: body.method.as_deref().unwrap_or("GET"),
        ip,
    };
    let verdict = tester::judge(ctx.app, &probe)?;
    let headers: Map<String, Value> = verdict
        .headers
        .into_iter()
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    Ok(Response::json(&json!({
        "decision": verdict.outcome.as_str(),
        "rule": verdict.rule,
        "headers": headers,
        "message": verdict.message,
    }))
    .with_no_cache())
}
