//! Authorization requests (OpenID Connect Core 3.1.2.1): parsed and checked the same way
//! for the GET that starts them and the consent form that finishes them.
//!
//! Until client_id and redirect_uri are known good, errors are shown on a page; after
//! that they go back to the client's redirect_uri with `state` (RFC 6749 4.1.2.1).

use rusqlite::Connection;

use super::{OAuthError, parse_scopes};
use crate::db::oauth::{self, Client};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    /// Portal-internal: a sign-in at or after this time is needed (from prompt=login).
    pub auth_after: Option<i64>,
}

#[derive(Debug, Clone)]
pub enum Invalid {
    /// Shown to the person: the client or redirect_uri cannot be trusted.
    Page(String),
    /// Sent back to the client.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// The parameters this endpoint reads; each may appear at most once (RFC 6749 3.1).
const KNOWN: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "auth_after",
    "response_mode",
    "request",
    "request_uri",
    "login_hint",
    "ui_locales",
    "display",
    "claims",
    "id_token_hint",
    "acr_values",
];

fn single<'a>(
    params: &'a [(String, String)],
    name: &str,
) -> std::result::Result<Option<&'a str>, String> {
    let mut values = params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("{name} must not be repeated"));
    }
    Ok(first.filter(|v| !v.is_empty()))
}

/// PKCE code_challenge for S256: base64url of 32 bytes, 43 characters.
fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn parse(
    conn: &Connection,
    params: &[(String, String)],
) -> Result<std::result::Result<AuthRequest, Invalid>> {
    let page = |m: &str| Ok(Err(Invalid::Page(m.to_string())));
    let client_id = match single(params, "client_id") {
        Ok(Some(c)) => c,
        Ok(None) => return page("The application did not say who it is (client_id is missing)."),
        Err(m) => return page(&m),
    };
    let Some(client) = oauth::client(conn, client_id)? else {
        return page("This application is not registered with the portal (unknown client_id).");
    };
    let redirect_uri = match single(params, "redirect_uri") {
        Ok(Some(r)) if client.redirect_uris.iter().any(|u| u == r) => r.to_string(),
        Ok(Some(_)) => {
            return page(
                "The application asked to return to an address it has not registered (redirect_uri mismatch).",
            );
        }
        Ok(None) => {
            return page("The application did not say where to return (redirect_uri is missing).");
        }
        Err(m) => return page(&m),
    };
    // From here on, errors go back to the client.
    let state = params
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty());
    let fail = |code: &'static str, desc: &str| {
        Ok(Err(Invalid::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error: OAuthError::new(code, desc),
        }))
    };
    for name in KNOWN {
        if let Err(m) = single(params, name) {
            return fail("invalid_request", &m);
        }
    }
    let get = |name: &str| single(params, name).ok().flatten();
    if get("request").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    if get("request_uri").is_some() {
        return fail("request_uri_not_supported", "request_uri is not supported");
    }
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
        None => return fail("invalid_request", "response_type is missing"),
    }
    if get("response_mode").is_some_and(|m| m != "query") {
        return fail("invalid_request", "only response_mode=query is supported");
    }
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return fail(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        );
    }
    let scopes = parse_scopes(get("scope").unwrap_or(""));
    if !scopes.iter().any(|s| s == "openid") {
        return fail("invalid_scope", "the openid scope is required");
    }
    if let Some(bad) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return fail(
            "invalid_scope",
            &format!("scope {bad:?} is not allowed for this client"),
        );
    }
    let code_challenge = get("code_challenge").map(str::to_string);
    match (code_challenge.as_deref(), get("code_challenge_method")) {
        (None, None) if client.public => {
            return fail(
                "invalid_request",
                "PKCE (code_challenge with S256) is required for public clients",
            );
        }
        (None, None) => {}
        (None, Some(_)) => {
            return fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            );
        }
        (Some(_), Some("S256")) => {}
        (Some(_), Some("plain") | None) => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not allowed)",
            );
        }
        (Some(_), Some(_)) => return fail("invalid_request", "code_challenge_method must be S256"),
    }
    if code_challenge
        .as_deref()
        .is_some_and(|c| !valid_challenge(c))
    {
        return fail(
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        );
    }
    let prompt: Vec<String> = get("prompt").map(parse_scopes).unwrap_or_default();
    if prompt
        .iter()
        .any(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account"))
    {
        return fail(
            "invalid_request",
            "prompt must be none, login, consent or select_account",
        );
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return fail(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        );
    }
    let max_age = match get("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n),
        Some(_) => {
            return fail(
                "invalid_request",
                "max_age must be a non-negative number of seconds",
            );
        }
    };
    let auth_after = get("auth_after").and_then(|v| v.parse::<i64>().ok());
    Ok(Ok(AuthRequest {
        client,
        redirect_uri,
        scopes,
        state,
        nonce: get("nonce").map(str::to_string),
        code_challenge,
        prompt,
        max_age,
        auth_after,
    }))
}

impl AuthRequest {
    pub fn wants(&self, prompt: &str) -> bool {
        self.prompt.iter().any(|p| p == prompt)
    }

    /// The request as parameters again (hidden form fields, or the URL to come back to).
    /// `login_done_after` replaces prompt=login, so coming back after the fresh sign-in
    /// does not ask for yet another one.
    pub fn to_params(&self, login_done_after: Option<i64>) -> Vec<(String, String)> {
        let mut p = vec![
            ("response_type".to_string(), "code".to_string()),
            ("client_id".to_string(), self.client.client_id.clone()),
            ("redirect_uri".to_string(), self.redirect_uri.clone()),
            ("scope".to_string(), self.scopes.join(" ")),
        ];
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                p.push((k.to_string(), v));
            }
        };
        push("state", self.state.clone());
        push("nonce", self.nonce.clone());
        push("code_challenge", self.code_challenge.clone());
        push(
            "code_challenge_method",
            self.code_challenge.as_ref().map(|_| "S256".to_string()),
        );
        let prompt: Vec<&str> = self
            .prompt
            .iter()
            .map(String::as_str)
            .filter(|p| login_done_after.is_none() || *p != "login")
            .collect();
        push("prompt", (!prompt.is_empty()).then(|| prompt.join(" ")));
        push("max_age", self.max_age.map(|m| m.to_string()));
        push(
            "auth_after",
            login_done_after.or(self.auth_after).map(|t| t.to_string()),
        );
        p
    }

    pub fn to_query(&self, login_done_after: Option<i64>) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.to_params(login_done_after))
            .finish()
    }
}

/// The client's redirect_uri with these response parameters added to its query.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return redirect_uri.to_string(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}
