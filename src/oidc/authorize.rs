//! Authorization requests (OpenID Connect Core 3.1.2.1): parsed and checked the same way
//! for the GET or POST that starts them, the request kept server-side while the person
//! signs in (`oidc_pending`: only its id travels in `rd`), and the consent form that
//! finishes them; then answered: sign in first, switch accounts, turn away a non-member,
//! ask for consent, or return a code.
//!
//! Until client_id and redirect_uri are known good, errors are shown on a page; after
//! that they go back to the client's redirect_uri with `state` (RFC 6749 4.1.2.1).

use rusqlite::Connection;
use serde_json::json;

use super::grants::{self, CodeGrant};
use super::pending;
use super::{Caller, OAuthError, parse_scopes};
use crate::app::App;
use crate::db::oauth::{self, Client};
use crate::db::sessions::SessionRow;
use crate::error::Result;
use crate::event_type::EventType;

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
    /// An ID token the portal issued earlier, naming the user the client expects.
    pub id_token_hint: Option<String>,
    /// Portal-internal, never read from the request: a sign-in at or after this time is
    /// needed (the time the request was sent to sign in; it stands for prompt=login and
    /// max_age from then on).
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

/// A native app's loopback redirect (RFC 8252 7.3): registered as http://127.0.0.1/path
/// or http://[::1]/path, it may come back on any port (the app's listener gets one from
/// the system); everything else must be as registered. `localhost` is not a loopback
/// literal (RFC 8252 8.3), so it is matched exactly like any other host.
fn loopback_match(registered: &str, requested: &str) -> bool {
    let (Ok(reg), Ok(mut req)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
                Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
                _ => false,
            }
    };
    if !loopback(&reg) || !loopback(&req) || req.port().is_none() {
        return false;
    }
    // The port is the only difference allowed.
    req.set_port(reg.port()).is_ok() && req == reg && !requested.contains('#')
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
        Ok(Some(r))
            if client
                .redirect_uris
                .iter()
                .any(|u| u == r || loopback_match(u, r)) =>
        {
            r.to_string()
        }
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
    let fail = |error: OAuthError| {
        Ok(Err(Invalid::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
        }))
    };
    for name in KNOWN {
        if let Err(m) = single(params, name) {
            return fail(OAuthError::InvalidRequest(m.into()));
        }
    }
    let get = |name: &str| single(params, name).ok().flatten();
    if get("request").is_some() {
        return fail(OAuthError::RequestNotSupported(
            "request objects are not supported".into(),
        ));
    }
    if get("request_uri").is_some() {
        return fail(OAuthError::RequestUriNotSupported(
            "request_uri is not supported".into(),
        ));
    }
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return fail(OAuthError::UnsupportedResponseType(
                "only response_type=code is supported".into(),
            ));
        }
        None => {
            return fail(OAuthError::InvalidRequest(
                "response_type is missing".into(),
            ));
        }
    }
    if get("response_mode").is_some_and(|m| m != "query") {
        return fail(OAuthError::InvalidRequest(
            "only response_mode=query is supported".into(),
        ));
    }
    if !client.grant_types.iter().any(|g| g == "authorization_code") {
        return fail(OAuthError::UnauthorizedClient(
            "this client may not use the authorization code flow".into(),
        ));
    }
    // Scopes the portal does not know or this client may not have are ignored, not
    // refused (Core 3.1.2.1): the token response's `scope` says what was granted.
    let scopes: Vec<String> = parse_scopes(get("scope").unwrap_or(""))
        .into_iter()
        .filter(|s| client.scopes.contains(s))
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return fail(OAuthError::InvalidScope(
            "the openid scope is required".into(),
        ));
    }
    let code_challenge = get("code_challenge").map(str::to_string);
    match (code_challenge.as_deref(), get("code_challenge_method")) {
        (None, None) if client.pkce_required => {
            return fail(OAuthError::InvalidRequest(
                "PKCE (code_challenge with S256) is required for this client".into(),
            ));
        }
        (None, None) => {}
        (None, Some(_)) => {
            return fail(OAuthError::InvalidRequest(
                "code_challenge_method without code_challenge".into(),
            ));
        }
        (Some(_), Some("S256")) => {}
        (Some(_), Some("plain") | None) => {
            return fail(OAuthError::InvalidRequest(
                "code_challenge_method must be S256 (plain is not allowed)".into(),
            ));
        }
        (Some(_), Some(_)) => {
            return fail(OAuthError::InvalidRequest(
                "code_challenge_method must be S256".into(),
            ));
        }
    }
    if code_challenge
        .as_deref()
        .is_some_and(|c| !valid_challenge(c))
    {
        return fail(OAuthError::InvalidRequest(
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)".into(),
        ));
    }
    let prompt: Vec<String> = get("prompt").map(parse_scopes).unwrap_or_default();
    if prompt
        .iter()
        .any(|p| !matches!(p.as_str(), "none" | "login" | "consent" | "select_account"))
    {
        return fail(OAuthError::InvalidRequest(
            "prompt must be none, login, consent or select_account".into(),
        ));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return fail(OAuthError::InvalidRequest(
            "prompt=none cannot be combined with other values".into(),
        ));
    }
    let max_age = match get("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n),
        Some(_) => {
            return fail(OAuthError::InvalidRequest(
                "max_age must be a non-negative number of seconds".into(),
            ));
        }
    };
    Ok(Ok(AuthRequest {
        client,
        redirect_uri,
        scopes,
        state,
        nonce: get("nonce").map(str::to_string),
        code_challenge,
        prompt,
        max_age,
        id_token_hint: get("id_token_hint").map(str::to_string),
        auth_after: None,
    }))
}

impl AuthRequest {
    pub fn wants(&self, prompt: &str) -> bool {
        self.prompt.iter().any(|p| p == prompt)
    }

    /// A session may answer this request unless the request wants a newer sign-in
    /// (prompt=login, or max_age against the session's own auth time), or, back from
    /// the sign-in the portal asked for, the session's sign-in is older than that.
    pub fn fresh_enough(&self, s: &SessionRow, now: i64) -> bool {
        match self.auth_after {
            Some(t) => s.auth_time >= t,
            None => !self.wants("login") && self.max_age.is_none_or(|m| now - s.auth_time <= m),
        }
    }

    /// The request as parameters again (kept while the person signs in).
    pub fn to_params(&self) -> Vec<(String, String)> {
        self.params_with(&self.prompt, self.max_age)
    }

    /// The request as the consent form's hidden fields. Back from the fresh sign-in the
    /// request asked for, prompt=login and max_age are met: the form drops them so the
    /// decision does not ask for yet another sign-in.
    fn consent_params(&self) -> Vec<(String, String)> {
        if self.auth_after.is_none() {
            return self.to_params();
        }
        let prompt: Vec<String> = self
            .prompt
            .iter()
            .filter(|p| *p != "login")
            .cloned()
            .collect();
        self.params_with(&prompt, None)
    }

    fn params_with(&self, prompt: &[String], max_age: Option<i64>) -> Vec<(String, String)> {
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
        push("prompt", (!prompt.is_empty()).then(|| prompt.join(" ")));
        push("max_age", max_age.map(|m| m.to_string()));
        push("id_token_hint", self.id_token_hint.clone());
        p
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

/// The person's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// What the authorization endpoint answers.
#[derive(Debug)]
pub enum Answer {
    /// The client or its redirect_uri cannot be trusted: a message for the person.
    Refused(String),
    /// Back to the client's redirect_uri, with a code or an error.
    Redirect(String),
    /// Go on with the kept request as a GET in this browser (after another site's POST).
    Continue(String),
    /// Sign in (and MFA) first: the portal URL that comes back to this same request.
    SignIn(String),
    /// The application expects another account than the one signed in: offer to sign
    /// out and in again, the request (`pending`) kept meanwhile.
    SwitchAccount {
        client_name: String,
        username: String,
        pending: String,
    },
    /// The person is not in a group the client allows: say why, and offer the way back
    /// (`back`: the client's redirect_uri with access_denied).
    NotAllowed {
        client_name: String,
        groups: Vec<String>,
        back: String,
    },
    /// Ask the person whether this application may have these scopes.
    Consent {
        client_name: String,
        username: String,
        scopes: Vec<String>,
        /// The request as hidden fields, checked again when the form comes back.
        params: Vec<(String, String)>,
    },
}

/// An authorization request as it arrives.
pub struct Incoming<'a> {
    /// The request's parameters (query, form, the consent form's hidden fields, or the
    /// request kept while the person signed in).
    pub params: &'a [(String, String)],
    /// Set only when the request comes back from the sign-in the portal sent it to.
    pub auth_after: Option<i64>,
    /// This browser's pending-request id (its cookie): a request kept for sign-in is
    /// bound to it.
    pub browser: &'a [u8],
    /// The person's answer, when the consent form comes back.
    pub decision: Option<Decision>,
    /// A form POST from another site (the browser sent none of the portal's cookies).
    pub cross_site_post: bool,
}

/// Whether the user may use `client`: it names no groups, or the user is in one of them
/// (db::users::groups, the one rule for a user's groups).
pub(super) fn member_of_allowed_group(
    conn: &Connection,
    client: &Client,
    user_id: i64,
) -> Result<bool> {
    if client.allowed_groups.is_empty() {
        return Ok(true);
    }
    let groups = crate::db::users::groups(conn, user_id)?;
    Ok(groups.iter().any(|g| client.allowed_groups.contains(g)))
}

/// Answers an authorization request for the signed-in `session` (if any).
pub fn answer(
    app: &App,
    caller: &Caller,
    incoming: &Incoming,
    session: Option<&SessionRow>,
    now: i64,
) -> Result<Answer> {
    let issuer = app.config.issuer();
    let decision = incoming.decision;
    let req = match parse(&*app.db.conn()?, incoming.params)? {
        Ok(r) => AuthRequest {
            auth_after: incoming.auth_after,
            ..r
        },
        Err(Invalid::Page(m)) => return Ok(Answer::Refused(m)),
        Err(Invalid::Redirect {
            redirect_uri,
            state,
            error,
        }) => {
            return Ok(Answer::Redirect(error_redirect(
                &issuer,
                &redirect_uri,
                state.as_deref(),
                &error,
            )));
        }
    };
    let refuse = |e: OAuthError| {
        Answer::Redirect(error_redirect(
            &issuer,
            &req.redirect_uri,
            req.state.as_deref(),
            &e,
        ))
    };
    if incoming.cross_site_post {
        // A browser sends no SameSite=Lax cookie with another site's POST, so the
        // session is unknown here: keep the request and go on as a GET, which has them.
        let id = pending::keep(app, &req, incoming.browser, caller.ip, req.auth_after, now)?;
        return Ok(Answer::Continue(format!("/oidc/authorize?pending={id}")));
    }
    // A session short of the second factor its person now has is no sign-in for an
    // application: the sign-in it is sent to asks for the code.
    let session = match session {
        Some(s) if req.fresh_enough(s, now) => {
            let owes = crate::mfa::session_owes_second_factor(app, &*app.db.conn()?, s)?;
            (!owes).then_some(s)
        }
        _ => None,
    };
    let Some(session) = session else {
        if req.wants("none") {
            return Ok(refuse(OAuthError::LoginRequired(
                "the user is not signed in".into(),
            )));
        }
        let id = pending::keep(app, &req, incoming.browser, caller.ip, Some(now), now)?;
        return Ok(Answer::SignIn(pending::sign_in_url(&id)));
    };
    // The client expects another user than the one signed in (Core 3.1.2.1).
    if let Some(hint) = &req.id_token_hint {
        let Some(claims) = super::logout::verify_hint(app, hint, now) else {
            return Ok(refuse(OAuthError::InvalidRequest(
                "id_token_hint is not an ID token this portal issued".into(),
            )));
        };
        if claims["sub"].as_str() != Some(session.uuid.as_str()) {
            if req.wants("none") {
                return Ok(refuse(OAuthError::LoginRequired(
                    "another user is signed in than the id_token_hint names".into(),
                )));
            }
            return Ok(Answer::SwitchAccount {
                client_name: req.client.name.clone(),
                username: session.username.clone(),
                pending: pending::keep(app, &req, incoming.browser, caller.ip, Some(now), now)?,
            });
        }
    }
    if !session.authorized {
        return Ok(refuse(OAuthError::AccessDenied(
            "this account has no access to the media server".into(),
        )));
    }
    let conn = app.db.conn()?;
    if !member_of_allowed_group(&conn, &req.client, session.user_id)? {
        let back = refuse(OAuthError::AccessDenied(
            "this account is not in a group allowed to use this application".into(),
        ));
        return Ok(match back {
            Answer::Redirect(back) if !req.wants("none") => Answer::NotAllowed {
                client_name: req.client.name.clone(),
                groups: req.client.allowed_groups.clone(),
                back,
            },
            other => other,
        });
    }
    let granted = oauth::consent(&conn, session.user_id, req.client.id)?;
    let consented = req.client.trusted
        || granted
            .as_ref()
            .is_some_and(|g| req.scopes.iter().all(|s| g.contains(s)));
    match decision {
        Some(Decision::Deny) => {
            return Ok(refuse(OAuthError::AccessDenied("the user refused".into())));
        }
        Some(Decision::Allow) => {
            let mut all = granted.unwrap_or_default();
            for s in &req.scopes {
                if !all.contains(s) {
                    all.push(s.clone());
                }
            }
            // The consent and its audit event are one write.
            app.db.with_tx(|tx| {
                oauth::save_consent(tx, session.user_id, req.client.id, &all, now)?;
                caller.record(
                    tx,
                    EventType::ConsentGranted,
                    Some(session.user_id),
                    json!({ "client_id": req.client.client_id, "scopes": all }),
                    now,
                )
            })?;
        }
        None if !consented || req.wants("consent") => {
            if req.wants("none") {
                return Ok(refuse(OAuthError::ConsentRequired(
                    "the user has not allowed this application yet".into(),
                )));
            }
            return Ok(Answer::Consent {
                client_name: req.client.name.clone(),
                username: session.username.clone(),
                scopes: req.scopes.clone(),
                params: req.consent_params(),
            });
        }
        None => {}
    }
    let code = grants::issue_code(
        &conn,
        &CodeGrant {
            client: &req.client,
            user_id: session.user_id,
            sid: &session.sid,
            redirect_uri: &req.redirect_uri,
            scopes: &req.scopes,
            nonce: req.nonce.as_deref(),
            code_challenge: req.code_challenge.as_deref(),
            auth_time: session.auth_time,
            amr: &session.amr,
        },
        now,
    )?;
    let mut out = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        out.push(("state", s));
    }
    out.push(("iss", &issuer));
    Ok(Answer::Redirect(redirect_with(&req.redirect_uri, &out)))
}

/// The client's redirect_uri carrying an error (RFC 6749 4.1.2.1, RFC 9207 `iss`).
fn error_redirect(issuer: &str, redirect_uri: &str, state: Option<&str>, e: &OAuthError) -> String {
    let mut params = vec![("error", e.code()), ("error_description", e.description())];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    redirect_with(redirect_uri, &params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::clients::{self, ClientSpec};

    fn store() -> (Connection, Client) {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut conn).unwrap();
        let spec = ClientSpec {
            name: "Grafana".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..ClientSpec::default()
        };
        let (client, _) = clients::create(&conn, spec, 1).unwrap();
        (conn, client)
    }

    fn params(client: &Client, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p = vec![
            ("client_id".to_string(), client.client_id.clone()),
            (
                "redirect_uri".to_string(),
                "https://app.example/cb".to_string(),
            ),
            ("response_type".to_string(), "code".to_string()),
            ("scope".to_string(), "openid profile".to_string()),
        ];
        for (k, v) in extra {
            p.retain(|(n, _)| n != k);
            p.push((k.to_string(), v.to_string()));
        }
        p
    }

    #[test]
    fn untrusted_client_or_redirect_errors_stay_on_a_page() {
        let (conn, client) = store();
        for extra in [
            [("client_id", "ap-unknown")],
            [("redirect_uri", "https://evil.example/cb")],
            [("redirect_uri", "")],
        ] {
            let parsed = parse(&conn, &params(&client, &extra)).unwrap();
            assert!(matches!(parsed, Err(Invalid::Page(_))), "{extra:?}");
        }
    }

    #[test]
    fn other_errors_go_back_to_the_client_with_state() {
        let (conn, client) = store();
        for (extra, code) in [
            (
                vec![("response_type", "token")],
                "unsupported_response_type",
            ),
            (vec![("scope", "profile")], "invalid_scope"),
            (
                vec![("code_challenge", "x"), ("code_challenge_method", "plain")],
                "invalid_request",
            ),
            (vec![("prompt", "none login")], "invalid_request"),
            (vec![("request", "eyJ")], "request_not_supported"),
        ] {
            let mut extra = extra;
            extra.push(("state", "s1"));
            match parse(&conn, &params(&client, &extra)).unwrap() {
                Err(Invalid::Redirect { state, error, .. }) => {
                    assert_eq!(error.code(), code, "{extra:?}");
                    assert_eq!(state.as_deref(), Some("s1"));
                }
                other => panic!("{extra:?}: {other:?}"),
            }
        }
        let mut twice = params(&client, &[]);
        twice.push(("scope".into(), "openid".into()));
        assert!(matches!(
            parse(&conn, &twice).unwrap(),
            Err(Invalid::Redirect {
                error: OAuthError::InvalidRequest(_),
                ..
            })
        ));
    }

    #[test]
    fn a_session_is_fresh_enough_unless_a_newer_sign_in_is_asked_for() {
        let (conn, client) = store();
        let req = |extra: &[(&str, &str)]| parse(&conn, &params(&client, extra)).unwrap().unwrap();
        let session = SessionRow {
            user_id: 1,
            uuid: "u".into(),
            username: "alice".into(),
            email: None,
            provider: "plex".into(),
            groups: vec![],
            authorized: true,
            amr: vec![],
            sid: "sid".into(),
            assigned_groups: vec![],
            identity_id: 1,
            auth_time: 1000,
            mfa_at: None,
            expires_at: 9999,
        };
        assert!(req(&[]).fresh_enough(&session, 5000));
        assert!(!req(&[("prompt", "login")]).fresh_enough(&session, 5000));
        assert!(req(&[("max_age", "60")]).fresh_enough(&session, 1060));
        assert!(!req(&[("max_age", "60")]).fresh_enough(&session, 1061));
        // Back from the fresh sign-in the portal asked for: auth_after stands for
        // prompt=login. A client cannot send it.
        let back = |t| AuthRequest {
            auth_after: Some(t),
            ..req(&[("prompt", "login")])
        };
        assert!(back(1000).fresh_enough(&session, 5000));
        assert!(!back(1001).fresh_enough(&session, 5000));
        assert!(!req(&[("prompt", "login"), ("auth_after", "0")]).fresh_enough(&session, 5000));
        assert!(!req(&[("max_age", "60"), ("auth_after", "0")]).fresh_enough(&session, 1061));
    }
}
