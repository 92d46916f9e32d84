//! Reading a request: query and form fields, bounded bodies, cookies, the client IP and
//! the same-origin check. Malformed input becomes a 4xx here, never a panic.

use std::io::Read;
use std::net::IpAddr;

use rouille::Request;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::error::{AppError, Result};

/// Largest body any route accepts.
const MAX_BODY: usize = 64 * 1024;

pub struct Ctx<'a> {
    pub app: &'a App,
    pub req: &'a Request,
    pub ip: IpAddr,
    pub request_id: String,
}

impl<'a> Ctx<'a> {
    pub fn new(app: &'a App, req: &'a Request, request_id: String) -> Ctx<'a> {
        let ip = crate::net::client_ip(
            req.remote_addr().ip(),
            req.header("X-Forwarded-For"),
            &app.config.trusted_proxies,
        );
        Ctx {
            app,
            req,
            ip,
            request_id,
        }
    }

    pub fn now(&self) -> i64 {
        self.app.clock.now()
    }

    /// Who asked and from where, for the domain modules and the audit log.
    pub fn origin(&self) -> crate::signin::Origin<'_> {
        crate::signin::Origin {
            app: self.app,
            now: self.now(),
            ip: self.ip,
            user_agent: self.user_agent(),
            request_id: &self.request_id,
        }
    }

    pub fn query(&self, name: &str) -> Option<String> {
        first_field(self.req.raw_query_string().as_bytes(), name)
    }

    /// Every query parameter, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.req.raw_query_string().as_bytes())
            .into_owned()
            .collect()
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.req.header("Cookie")?;
        header.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
        })
    }

    /// The credentials of the Authorization header when it uses `scheme` (`Basic`,
    /// `Bearer`): see `credentials`.
    pub fn authorization(&self, scheme: &str) -> Option<&str> {
        credentials(self.req.header("Authorization")?, scheme)
    }

    pub fn user_agent(&self) -> Option<&str> {
        self.req
            .header("User-Agent")
            .map(|ua| ua.char_indices().nth(256).map_or(ua, |(i, _)| &ua[..i]))
    }

    /// The request body, refused past MAX_BODY.
    pub fn body(&self) -> Result<Vec<u8>> {
        self.body_up_to(MAX_BODY)
    }

    /// The body of an upload route (Body::Upload in web::routes, which lets the
    /// server read that much), refused past `max` bytes.
    pub fn upload(&self, max: usize) -> Result<Vec<u8>> {
        debug_assert!(
            super::routes::upload_prefixes()
                .iter()
                .any(|p| self.req.url().starts_with(p))
        );
        self.body_up_to(max)
    }

    fn body_up_to(&self, max: usize) -> Result<Vec<u8>> {
        let Some(data) = self.req.data() else {
            return Err(AppError::bad_request("request body already read"));
        };
        let mut buf = Vec::new();
        data.take(max as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|_| AppError::bad_request("could not read the request body"))?;
        if buf.len() > max {
            return Err(AppError::PayloadTooLarge);
        }
        Ok(buf)
    }

    /// An application/x-www-form-urlencoded body; the first value of each field wins.
    pub fn form(&self) -> Result<Form> {
        let ct = self.req.header("Content-Type").unwrap_or("");
        if !ct
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(AppError::bad_request(
                "expected a form (application/x-www-form-urlencoded)",
            ));
        }
        let body = self.body()?;
        Ok(Form(
            url::form_urlencoded::parse(&body).into_owned().collect(),
        ))
    }

    /// A JSON body of the given shape.
    pub fn json<T: DeserializeOwned>(&self, example: &str) -> Result<T> {
        let body = self.body()?;
        serde_json::from_slice(&body)
            .map_err(|_| AppError::bad_request(format!("expected a JSON body like {example}")))
    }

    pub fn is_json_body(&self) -> bool {
        self.req
            .header("Content-Type")
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"))
    }

    /// CSRF defence for state-changing requests: Origin (or, without it, Referer) must
    /// be the portal's own public origin. Requests carrying neither are refused too.
    pub fn require_same_origin(&self) -> Result<()> {
        let expected = self.app.config.origin();
        if let Some(origin) = self.req.header("Origin") {
            return if origin == expected {
                Ok(())
            } else {
                Err(AppError::CrossOrigin)
            };
        }
        match self
            .req
            .header("Referer")
            .and_then(|r| url::Url::parse(r).ok())
        {
            Some(r) if r.origin().ascii_serialization() == expected => Ok(()),
            _ => Err(AppError::CrossOrigin),
        }
    }

    /// JSON errors for API routes and clients that ask for JSON; HTML pages otherwise.
    pub fn wants_json(&self) -> bool {
        let path = self.req.url();
        if super::routes::json_answer(&path) || self.is_json_body() {
            return true;
        }
        let accept = self.req.header("Accept").unwrap_or("");
        accept.contains("application/json") && !accept.contains("text/html")
    }
}

/// Form fields in the order sent.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A field sent more than once (OAuth forbids that: RFC 6749 3.1, 3.2).
    pub fn repeated(&self) -> Option<&str> {
        self.0
            .iter()
            .enumerate()
            .find(|(i, (k, _))| self.0[..*i].iter().any(|(k2, _)| k2 == k))
            .map(|(_, (k, _))| k.as_str())
    }
}

fn first_field(raw: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(raw)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// What follows `scheme` in an Authorization header value (`Basic abc`, `bearer abc`), or
/// None for another scheme or no credentials. The scheme compares case-insensitively (RFC
/// 7235 2.1), and the value is split at a space, never at a byte index: hostile bytes
/// (a non-UTF-8 header arrives with U+FFFD in it) cannot make it panic.
pub fn credentials<'h>(header: &'h str, scheme: &str) -> Option<&'h str> {
    let (name, rest) = header.split_once(' ')?;
    let rest = rest.trim_matches(' ');
    (name.eq_ignore_ascii_case(scheme) && !rest.is_empty()).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::credentials;

    #[test]
    fn credentials_follow_a_case_insensitive_scheme() {
        assert_eq!(credentials("Basic YTpi", "Basic"), Some("YTpi"));
        assert_eq!(credentials("bEaReR  tok ", "Bearer"), Some("tok"));
        assert_eq!(credentials("Bearer", "Bearer"), None);
        assert_eq!(credentials("Bearer ", "Bearer"), None);
        assert_eq!(credentials("Basic YTpi", "Bearer"), None);
        assert_eq!(credentials("BasicYTpi", "Basic"), None);
    }

    #[test]
    fn credentials_never_cut_a_character() {
        for h in [
            "Basic\u{fffd}\u{fffd}x",
            "Beare\u{fffd}xx",
            "\u{fffd}",
            "Basi\u{e9} x",
            "é é",
        ] {
            assert_eq!(credentials(h, "Basic"), None);
            assert_eq!(credentials(h, "Bearer"), None);
        }
    }
}
