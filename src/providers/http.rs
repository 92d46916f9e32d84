//! Outbound HTTP for providers: bounded timeouts, bounded bodies, destinations checked
//! by the outbound policy, and every transport failure mapped to `Unreachable`.

use std::time::Duration;

use ureq::Agent;

use super::ProviderError;
use crate::outbound::Outbound;

const MAX_BODY: u64 = 1 << 20;

/// The agent for media servers, plex.tv and login-cookie apps.
pub fn agent(outbound: &Outbound) -> Agent {
    outbound.agent(config())
}

/// The same, also trusting `url`: a media server the owner is naming in the setup wizard.
pub fn agent_naming(outbound: &Outbound, url: &url::Url) -> Agent {
    outbound.agent_naming(config(), url)
}

fn config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("{}/{}", super::PRODUCT, super::VERSION))
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// Parses the body as JSON; anything else is an answer we cannot trust.
    pub fn json(&self, what: &str) -> Result<serde_json::Value, ProviderError> {
        serde_json::from_str(&self.body).map_err(|_| {
            ProviderError::Malformed(format!(
                "{what}: status {} with a body that is not JSON",
                self.status
            ))
        })
    }
}

pub enum Body<'a> {
    Empty,
    Json(&'a serde_json::Value),
}

/// Sends one request. Transport errors (refused, DNS, timeouts) become `Unreachable`.
pub fn send(
    agent: &Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Result<Reply, ProviderError> {
    let unreachable = |e: ureq::Error| {
        ProviderError::Unreachable(format!(
            "{method} {}: {}",
            redact_query(url),
            crate::outbound::describe(&e)
        ))
    };
    let mut response = match method {
        "GET" => {
            let mut req = agent.get(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.call().map_err(unreachable)?
        }
        _ => {
            let mut req = agent.post(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            match body {
                Body::Empty => req.send_empty(),
                Body::Json(v) => req.send_json(v),
            }
            .map_err(unreachable)?
        }
    };
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .lossy_utf8(true)
        .read_to_string()
        .map_err(unreachable)?;
    Ok(Reply { status, body })
}

/// GETs a JSON document parsed straight from the connection into `T` (which keeps only
/// the fields it names), so a large answer (every user of a big server) is never held
/// whole; at most `limit` bytes are read. Returns the status, and `T` when it is 200.
pub fn get_parsed<T: serde::de::DeserializeOwned>(
    agent: &Agent,
    url: &str,
    headers: &[(&str, &str)],
    limit: u64,
) -> Result<(u16, Option<T>), ProviderError> {
    get_read(agent, url, headers, limit, |reader| {
        serde_json::from_reader(reader).map_err(|e| {
            if e.is_io() {
                ProviderError::Unreachable(format!("GET {}: {e}", redact_query(url)))
            } else {
                ProviderError::Malformed(format!("GET {}: {e}", redact_query(url)))
            }
        })
    })
}

/// GETs a document and hands a 200's body to `read` as a stream (at most `limit`
/// bytes). Returns the status, and what `read` made of the body when it is 200.
pub fn get_read<T>(
    agent: &Agent,
    url: &str,
    headers: &[(&str, &str)],
    limit: u64,
    read: impl FnOnce(&mut dyn std::io::BufRead) -> Result<T, ProviderError>,
) -> Result<(u16, Option<T>), ProviderError> {
    let unreachable = |e: ureq::Error| {
        ProviderError::Unreachable(format!(
            "GET {}: {}",
            redact_query(url),
            crate::outbound::describe(&e)
        ))
    };
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut response = req.call().map_err(unreachable)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Ok((status, None));
    }
    let reader = response.body_mut().with_config().limit(limit).reader();
    let parsed = read(&mut std::io::BufReader::new(reader))?;
    Ok((status, Some(parsed)))
}

/// GETs an image of at most `limit` bytes (a larger one is an error, not a cut one);
/// Ok(None) when the server answers anything but 200.
pub fn get_bytes(agent: &Agent, url: &str, limit: u64) -> Result<Option<Vec<u8>>, ProviderError> {
    let (_, bytes) = get_read(agent, url, &[], limit + 1, |reader| {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(reader, &mut buf)
            .map_err(|e| ProviderError::Unreachable(format!("GET {}: {e}", redact_query(url))))?;
        Ok(buf)
    })?;
    match bytes {
        Some(b) if b.len() as u64 > limit => Err(ProviderError::Malformed(format!(
            "GET {}: more than {limit} bytes",
            redact_query(url)
        ))),
        b => Ok(b),
    }
}

/// URLs are logged without their query (it may carry a token).
fn redact_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
