//! OpenID Connect endpoints: discovery, JWKS, authorize (+ consent decision), token,
//! userinfo, revocation (RFC 7009), introspection (RFC 7662) and RP-initiated logout.
//!
//! Token-style endpoints answer with RFC 6749 5.2 error bodies and `Cache-Control:
//! no-store`; the authorization endpoint shows errors on a page until the client and
//! its redirect_uri are known good, then returns them to the client.

use rouille::Response;
use serde_json::{Value, json};

use crate::crypto::{b64url, ct_eq, sha256};
use crate::db::oauth::{self, Client, Kind};
use crate::error::{AppError, Result};
use crate::oidc::authorize::{self, AuthRequest, Invalid, redirect_with};
use crate::oidc::grants::{self, CodeGrant, Grant, digest_of};
use crate::oidc::{OAuthError, clients, parse_scopes};
use crate::views;
use crate::web::guards::{UserSession, current_session};
use crate::web::request::{Ctx, Form};
use crate::web::{cookies, page};

fn cors(r: Response) -> Response {
    r.with_unique_header("Access-Control-Allow-Origin", "*")
}

fn no_store(r: Response) -> Response {
    r.with_unique_header("Cache-Control", "no-store")
        .with_unique_header("Pragma", "no-cache")
}

/// OPTIONS on the endpoints browsers may call from other origins.
pub fn preflight() -> Response {
    cors(Response::empty_204())
        .with_unique_header("Access-Control-Allow-Methods", "GET, POST")
        .with_unique_header(
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type",
        )
        .with_unique_header("Access-Control-Max-Age", "600")
}

pub fn discovery_get(ctx: &Ctx) -> Result<Response> {
    let cfg = &ctx.app.config;
    let doc = json!({
        "issuer": cfg.issuer(),
        "authorization_endpoint": cfg.url_for("/oidc/authorize"),
        "token_endpoint": cfg.url_for("/oidc/token"),
        "userinfo_endpoint": cfg.url_for("/oidc/userinfo"),
        "jwks_uri": cfg.url_for("/oidc/jwks.json"),
        "revocation_endpoint": cfg.url_for("/oidc/revoke"),
        "introspection_endpoint": cfg.url_for("/oidc/introspect"),
        "end_session_endpoint": cfg.url_for("/oidc/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": crate::oidc::GRANT_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": crate::oidc::SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash", "sid",
                             "preferred_username", "name", "email", "email_verified", "groups"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    Ok(cors(Response::json(&doc).with_public_cache(300)))
}

pub fn jwks_get(ctx: &Ctx) -> Result<Response> {
    let jwks = ctx.app.keys.jwks(&ctx.app.db, &ctx.app.sealer, ctx.now())?;
    Ok(cors(Response::json(&jwks).with_public_cache(300)))
}

pub fn authorize_get(ctx: &Ctx) -> Result<Response> {
    authorize(ctx, ctx.query_pairs(), None)
}

/// POST /oidc/authorize/decision: the consent form, carrying the request in hidden fields.
pub fn decision_post(ctx: &Ctx) -> Result<Response> {
    let form = ctx.form()?;
    let decision = form.get("decision").map(str::to_string);
    let params: Vec<(String, String)> = form
        .0
        .into_iter()
        .filter(|(k, _)| k != "decision")
        .collect();
    match decision.as_deref() {
        Some("allow" | "deny") => authorize(ctx, params, decision.as_deref()),
        _ => Err(AppError::bad_request("decision must be allow or deny")),
    }
}

fn error_redirect(ctx: &Ctx, redirect_uri: &str, state: Option<&str>, e: &OAuthError) -> Response {
    let issuer = ctx.app.config.issuer();
    let mut params = vec![
        ("error", e.code),
        ("error_description", e.description.as_str()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer.as_str()));
    Response::redirect_303(redirect_with(redirect_uri, &params))
}

fn authorize(ctx: &Ctx, params: Vec<(String, String)>, decision: Option<&str>) -> Result<Response> {
    let parsed = authorize::parse(&*ctx.app.db.conn()?, &params)?;
    let req = match parsed {
        Ok(r) => r,
        Err(Invalid::Page(m)) => {
            return Ok(page(ctx, views::oidc::request_error(&m)).with_status_code(400));
        }
        Err(Invalid::Redirect {
            redirect_uri,
            state,
            error,
        }) => return Ok(error_redirect(ctx, &redirect_uri, state.as_deref(), &error)),
    };
    let refuse = |code: &'static str, desc: &str| {
        Ok(error_redirect(
            ctx,
            &req.redirect_uri,
            req.state.as_deref(),
            &OAuthError::new(code, desc),
        ))
    };
    let now = ctx.now();
    let session = current_session(ctx)?.filter(|s| fresh_enough(&req, s, now));
    let Some(session) = session else {
        if req.wants("none") {
            return refuse("login_required", "the user is not signed in");
        }
        // Through sign-in (and MFA), then back to this same request.
        let rd = format!("/oidc/authorize?{}", req.to_query(Some(now)));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("rd", &rd)
            .append_pair("prompt", "login")
            .finish();
        return Ok(Response::redirect_303(format!("/?{query}")));
    };
    if !session.authorized() {
        return refuse(
            "access_denied",
            "this account has no access to the media server",
        );
    }
    let conn = ctx.app.db.conn()?;
    let granted = oauth::consent(&conn, session.row.user_id, req.client.id)?;
    let consented = req.client.trusted
        || granted
            .as_ref()
            .is_some_and(|g| req.scopes.iter().all(|s| g.contains(s)));
    match decision {
        Some("deny") => return refuse("access_denied", "the user refused"),
        Some(_) => {
            let mut all = granted.unwrap_or_default();
            all.extend(
                req.scopes
                    .iter()
                    .filter(|s| !all.contains(s))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            oauth::save_consent(&conn, session.row.user_id, req.client.id, &all, now)?;
            crate::web::events::record(
                ctx,
                &conn,
                "consent.granted",
                Some(session.row.user_id),
                true,
                json!({ "client_id": req.client.client_id, "scopes": all }),
            )?;
        }
        None if !consented || req.wants("consent") => {
            if req.wants("none") {
                return refuse(
                    "consent_required",
                    "the user has not allowed this application yet",
                );
            }
            let params = req.to_params(None);
            return Ok(page(
                ctx,
                views::oidc::consent(&views::oidc::Consent {
                    client_name: &req.client.name,
                    username: &session.row.username,
                    scopes: &req.scopes,
                    params: &params,
                }),
            ));
        }
        None => {}
    }
    let code = grants::issue_code(
        &conn,
        &CodeGrant {
            client: &req.client,
            user_id: session.row.user_id,
            sid: &session.row.sid,
            redirect_uri: &req.redirect_uri,
            scopes: &req.scopes,
            nonce: req.nonce.as_deref(),
            code_challenge: req.code_challenge.as_deref(),
            auth_time: session.row.auth_time,
            amr: &session.row.amr,
        },
        now,
    )?;
    let issuer = ctx.app.config.issuer();
    let mut out = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        out.push(("state", s));
    }
    out.push(("iss", &issuer));
    Ok(Response::redirect_303(redirect_with(
        &req.redirect_uri,
        &out,
    )))
}

/// A session may answer this request unless the request wants a newer sign-in
/// (prompt=login, max_age, or the time the portal recorded when it asked for one).
fn fresh_enough(req: &AuthRequest, s: &UserSession, now: i64) -> bool {
    match req.auth_after {
        Some(t) => s.row.auth_time >= t,
        None => !req.wants("login") && req.max_age.is_none_or(|m| now - s.row.auth_time <= m),
    }
}

/// Why a token-style request failed: an OAuth error for the client, or our own fault.
enum Fail {
    OAuth(OAuthError),
    /// invalid_client after HTTP Basic: answer 401 with a Basic challenge.
    BasicClient(OAuthError),
    App(AppError),
}

impl From<AppError> for Fail {
    fn from(e: AppError) -> Self {
        Fail::App(e)
    }
}

fn oauth(code: &'static str, desc: &str) -> Fail {
    Fail::OAuth(OAuthError::new(code, desc))
}

fn fail_response(ctx: &Ctx, f: Fail) -> Response {
    let (e, basic) = match f {
        Fail::OAuth(e) => (e, false),
        Fail::BasicClient(e) => (e, true),
        Fail::App(AppError::PayloadTooLarge | AppError::BadRequest(_)) => (
            OAuthError::new("invalid_request", "the request body is not a valid form"),
            false,
        ),
        Fail::App(AppError::RateLimited { retry_after_secs }) => {
            return no_store(cors(
                Response::json(
                    &json!({"error": "slow_down", "error_description": "too many requests"}),
                )
                .with_status_code(429),
            ))
            .with_unique_header("Retry-After", retry_after_secs.to_string());
        }
        Fail::App(e) => {
            crate::log_error!("req={} {} failed: {e}", ctx.request_id, ctx.req.url());
            (
                OAuthError::new("server_error", "the request could not be completed"),
                false,
            )
        }
    };
    let mut r = Response::json(&json!({ "error": e.code, "error_description": e.description }))
        .with_status_code(e.status());
    if basic {
        r = r.with_unique_header(
            "WWW-Authenticate",
            r#"Basic realm="authportal", charset="UTF-8""#,
        );
    }
    no_store(cors(r))
}

fn token_limit(ctx: &Ctx) -> std::result::Result<(), Fail> {
    ctx.app
        .limits
        .token
        .check_ip(ctx.ip, ctx.app.clock.now_ms())
        .map_err(|retry_after_secs| Fail::App(AppError::RateLimited { retry_after_secs }))
}

/// The form of a token-style request: form-encoded, no parameter twice.
fn oauth_form(ctx: &Ctx) -> std::result::Result<Form, Fail> {
    let form = ctx.form()?;
    if let Some(name) = form.repeated() {
        return Err(oauth(
            "invalid_request",
            &format!("{name} must not be repeated"),
        ));
    }
    Ok(form)
}

/// Client authentication: client_secret_basic (RFC 6749 2.3.1: both parts form-urlencoded
/// inside Basic), client_secret_post, or none for public clients. Exactly one method.
fn authenticate_client(ctx: &Ctx, form: &Form) -> std::result::Result<Client, Fail> {
    let basic = match ctx.authorization("Basic") {
        Some(encoded) => {
            let raw = crate::crypto::b64_decode_any(encoded)
                .ok_or_else(|| oauth("invalid_request", "malformed Basic credentials"))?;
            let text = String::from_utf8(raw)
                .map_err(|_| oauth("invalid_request", "malformed Basic credentials"))?;
            let (id, secret) = text
                .split_once(':')
                .ok_or_else(|| oauth("invalid_request", "malformed Basic credentials"))?;
            let decode = |s: &str| -> String {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            Some((decode(id), decode(secret)))
        }
        None => None,
    };
    let (client_id, secret, via_basic) =
        match (&basic, form.get("client_id"), form.get("client_secret")) {
            (Some(_), _, Some(_)) => {
                return Err(oauth(
                    "invalid_request",
                    "use one client authentication method, not two",
                ));
            }
            (Some((id, _)), Some(form_id), None) if form_id != id => {
                return Err(oauth(
                    "invalid_request",
                    "client_id differs from the authenticated client",
                ));
            }
            (Some((id, s)), _, None) => (id.clone(), Some(s.clone()), true),
            (None, Some(id), s) => (id.to_string(), s.map(str::to_string), false),
            (None, None, _) => {
                return Err(oauth("invalid_client", "client authentication is required"));
            }
        };
    let bad = || {
        let e = OAuthError::new("invalid_client", "unknown client or wrong secret");
        if via_basic {
            Fail::BasicClient(e)
        } else {
            Fail::OAuth(e)
        }
    };
    let conn = ctx.app.db.conn()?;
    let client = oauth::client(&conn, &client_id)?.ok_or_else(bad)?;
    match (client.public, secret) {
        (true, None) => Ok(client),
        (true, Some(_)) => Err(bad()),
        (false, Some(s)) if clients::secret_matches(&client, &s) => Ok(client),
        (false, _) => Err(bad()),
    }
}

pub fn token_post(ctx: &Ctx) -> Response {
    match token(ctx) {
        Ok(body) => no_store(cors(Response::json(&body))),
        Err(f) => fail_response(ctx, f),
    }
}

fn token(ctx: &Ctx) -> std::result::Result<Value, Fail> {
    token_limit(ctx)?;
    let form = oauth_form(ctx)?;
    let client = authenticate_client(ctx, &form)?;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| oauth("invalid_request", "grant_type is missing"))?;
    if !crate::oidc::GRANT_TYPES.contains(&grant_type) {
        return Err(oauth(
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or client_credentials",
        ));
    }
    if !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(oauth(
            "unauthorized_client",
            "this client may not use that grant type",
        ));
    }
    let now = ctx.now();
    let result = ctx.app.db.with_tx(|tx| {
        let answer = match grant_type {
            "authorization_code" => code_grant(ctx, tx, &client, &form, now),
            "refresh_token" => refresh_grant(ctx, tx, &client, &form, now),
            _ => client_credentials_grant(ctx, tx, &client, &form, now),
        };
        if let Ok(issued) = &answer {
            token_event(ctx, tx, &client, grant_type, &issued.response)?;
        }
        Ok(answer)
    })?;
    // Errors inside the transaction still commit what they did (revocations). The ID
    // token is signed once the write lock is released.
    Ok(result?.sign(ctx.app, now)?)
}

/// Audits tokens handed out (never their values): whose, to which client, which scopes.
/// Refused requests are not events: the endpoint is open to any client and rate limited
/// generously, and a misbehaving one must not fill the log.
fn token_event(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    client: &Client,
    grant_type: &str,
    body: &Value,
) -> Result<()> {
    let user_id = body["access_token"]
        .as_str()
        .map(|t| oauth::token(tx, &digest_of(t)))
        .transpose()?
        .flatten()
        .and_then(|t| t.user_id);
    let kind = if grant_type == "refresh_token" {
        "token.refreshed"
    } else {
        "token.issued"
    };
    crate::web::events::record(
        ctx,
        tx,
        kind,
        user_id,
        true,
        json!({
            "client_id": client.client_id,
            "grant_type": grant_type,
            "scope": body["scope"],
            "refresh_token": body.get("refresh_token").is_some(),
        }),
    )
}

/// A result that commits: the outer error is a database fault, the inner one the answer.
type Answer = std::result::Result<grants::Issued, Fail>;

fn code_grant(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    client: &Client,
    form: &Form,
    now: i64,
) -> Answer {
    let code = form
        .get("code")
        .ok_or_else(|| oauth("invalid_request", "code is missing"))?;
    let digest = digest_of(code);
    let Some(grant) = oauth::code(tx, &digest)? else {
        return Err(oauth("invalid_grant", "unknown authorization code"));
    };
    if grant.client != client.id {
        return Err(oauth(
            "invalid_grant",
            "the code was issued to another client",
        ));
    }
    if !oauth::use_code(tx, &digest, now)? {
        // A second redemption: someone has a copy. Everything from this code ends.
        return Err(replayed(
            ctx,
            tx,
            client,
            &grant.family,
            "authorization code",
            now,
        )?);
    }
    if grant.expires_at <= now {
        return Err(oauth("invalid_grant", "the code expired"));
    }
    if form.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(oauth(
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&grant.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed
                || !ct_eq(
                    b64url(&sha256(verifier.as_bytes())).as_bytes(),
                    challenge.as_bytes(),
                )
            {
                return Err(oauth(
                    "invalid_grant",
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => return Err(oauth("invalid_grant", "code_verifier is missing")),
        (None, Some(_)) => {
            return Err(oauth(
                "invalid_grant",
                "code_verifier given but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    if !grants::still_authorized(tx, grant.user_id)? {
        return Err(oauth("invalid_grant", "the user no longer has access"));
    }
    Ok(grants::issue_tokens(
        ctx.app,
        tx,
        &Grant {
            client,
            user_id: Some(grant.user_id),
            family: &grant.family,
            sid: Some(&grant.sid),
            scopes: &grant.scopes,
            refresh_scopes: &grant.scopes,
            auth_time: Some(grant.auth_time),
            amr: &grant.amr,
            nonce: grant.nonce.as_deref(),
        },
        now,
    )?)
}

/// A code or refresh token presented twice: revokes every token of its grant.
fn replayed(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    client: &Client,
    family: &str,
    what: &str,
    now: i64,
) -> Result<Fail> {
    let n = oauth::revoke_family(tx, family, now)?;
    crate::log_warn!(
        "req={} {what} replayed by client {}; revoked {n} tokens of its grant",
        ctx.request_id,
        client.client_id
    );
    Ok(oauth(
        "invalid_grant",
        &format!("the {what} was already used; every token of its grant is revoked"),
    ))
}

fn refresh_grant(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    client: &Client,
    form: &Form,
    now: i64,
) -> Answer {
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| oauth("invalid_request", "refresh_token is missing"))?;
    let digest = digest_of(presented);
    let t = match oauth::token(tx, &digest)? {
        Some(t) if t.kind == Kind::Refresh && t.client == client.id => t,
        _ => return Err(oauth("invalid_grant", "unknown refresh token")),
    };
    if t.revoked_at.is_some() {
        return Err(oauth("invalid_grant", "the refresh token was revoked"));
    }
    if t.rotated_at.is_some() || !oauth::rotate_token(tx, &digest, now)? {
        // An old refresh token came back: it was copied. End the whole family.
        return Err(replayed(ctx, tx, client, &t.family, "refresh token", now)?);
    }
    if t.expires_at <= now {
        return Err(oauth("invalid_grant", "the refresh token expired"));
    }
    let user_id = t
        .user_id
        .ok_or_else(|| oauth("invalid_grant", "not a user's token"))?;
    if !grants::still_authorized(tx, user_id)? {
        oauth::revoke_family(tx, &t.family, now)?;
        return Err(oauth("invalid_grant", "the user no longer has access"));
    }
    let scopes = match form.get("scope") {
        None => t.scopes.clone(),
        Some(s) => {
            let asked = parse_scopes(s);
            if let Some(extra) = asked.iter().find(|x| !t.scopes.contains(x)) {
                return Err(oauth(
                    "invalid_scope",
                    &format!("scope {extra:?} was not granted"),
                ));
            }
            asked
        }
    };
    Ok(grants::issue_tokens(
        ctx.app,
        tx,
        &Grant {
            client,
            user_id: Some(user_id),
            family: &t.family,
            sid: t.sid.as_deref(),
            scopes: &scopes,
            refresh_scopes: &t.scopes,
            auth_time: t.auth_time,
            amr: &t.amr,
            nonce: None,
        },
        now,
    )?)
}

fn client_credentials_grant(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    client: &Client,
    form: &Form,
    now: i64,
) -> Answer {
    if client.public {
        return Err(oauth(
            "unauthorized_client",
            "public clients cannot use client_credentials",
        ));
    }
    let scopes = parse_scopes(form.get("scope").unwrap_or(""));
    if let Some(bad) = scopes
        .iter()
        .find(|s| !client.scopes.contains(s) || matches!(s.as_str(), "openid" | "offline_access"))
    {
        return Err(oauth(
            "invalid_scope",
            &format!("scope {bad:?} is not available to a machine client"),
        ));
    }
    let family = b64url(&crate::crypto::random_bytes::<16>());
    Ok(grants::issue_tokens(
        ctx.app,
        tx,
        &Grant {
            client,
            user_id: None,
            family: &family,
            sid: None,
            scopes: &scopes,
            refresh_scopes: &scopes,
            auth_time: None,
            amr: &[],
            nonce: None,
        },
        now,
    )?)
}

/// GET|POST /oidc/userinfo with a Bearer access token (RFC 6750).
pub fn userinfo(ctx: &Ctx) -> Response {
    let challenge = |status: u16, error: Option<(&str, &str)>| {
        let header = match error {
            Some((code, desc)) => {
                format!(r#"Bearer realm="authportal", error="{code}", error_description="{desc}""#)
            }
            None => r#"Bearer realm="authportal""#.to_string(),
        };
        let body = match error {
            Some((code, desc)) => json!({ "error": code, "error_description": desc }),
            None => {
                json!({ "error": "invalid_request", "error_description": "a Bearer access token is required" })
            }
        };
        no_store(cors(Response::json(&body).with_status_code(status)))
            .with_unique_header("WWW-Authenticate", header)
    };
    if token_limit(ctx).is_err() {
        return challenge(429, Some(("invalid_request", "too many requests")));
    }
    let from_header = ctx.authorization("Bearer").map(str::to_string);
    let from_form = if from_header.is_none() && ctx.req.method() == "POST" {
        ctx.form()
            .ok()
            .and_then(|f| f.get("access_token").map(str::to_string))
    } else {
        None
    };
    let Some(token) = from_header.or(from_form) else {
        return challenge(401, None);
    };
    let result = (|| -> Result<Option<Value>> {
        let conn = ctx.app.db.conn()?;
        let now = ctx.now();
        let t = match oauth::token(&conn, &digest_of(&token))? {
            Some(t) if t.kind == Kind::Access && t.revoked_at.is_none() && t.expires_at > now => t,
            _ => return Ok(None),
        };
        let Some(user_id) = t.user_id else {
            return Ok(None);
        };
        if !grants::still_authorized(&conn, user_id)? {
            return Ok(None);
        }
        if !t.scopes.iter().any(|s| s == "openid") {
            return Ok(Some(Value::Null));
        }
        Ok(Some(Value::Object(grants::user_claims(
            &conn, user_id, &t.scopes,
        )?)))
    })();
    match result {
        Ok(Some(Value::Null)) => challenge(
            403,
            Some((
                "insufficient_scope",
                "the token was not granted the openid scope",
            )),
        ),
        Ok(Some(claims)) => no_store(cors(Response::json(&claims))),
        Ok(None) => challenge(
            401,
            Some((
                "invalid_token",
                "the access token is invalid, expired or revoked",
            )),
        ),
        Err(e) => fail_response(ctx, Fail::App(e)),
    }
}

/// POST /oidc/revoke (RFC 7009): always 200 for a well-formed request, known token or not.
pub fn revoke_post(ctx: &Ctx) -> Response {
    let run = || -> std::result::Result<(), Fail> {
        token_limit(ctx)?;
        let form = oauth_form(ctx)?;
        let client = authenticate_client(ctx, &form)?;
        let token = form
            .get("token")
            .ok_or_else(|| oauth("invalid_request", "token is missing"))?;
        let now = ctx.now();
        ctx.app.db.with_tx(|tx| {
            if let Some(t) = oauth::token(tx, &digest_of(token))? {
                if t.client == client.id {
                    // A refresh token takes its whole grant with it (RFC 7009 2.1).
                    let n = if t.kind == Kind::Refresh {
                        oauth::revoke_family(tx, &t.family, now)?
                    } else {
                        oauth::revoke_token(tx, &digest_of(token), now)?
                    };
                    crate::web::events::record(
                        ctx,
                        tx,
                        "token.revoked",
                        t.user_id,
                        true,
                        json!({ "client_id": client.client_id, "kind": format!("{:?}", t.kind).to_lowercase(), "revoked": n }),
                    )?;
                }
            }
            Ok(())
        })?;
        Ok(())
    };
    match run() {
        Ok(()) => no_store(cors(Response::text(""))),
        Err(f) => fail_response(ctx, f),
    }
}

/// POST /oidc/introspect (RFC 7662), for confidential clients about their own tokens.
pub fn introspect_post(ctx: &Ctx) -> Response {
    let run = || -> std::result::Result<Value, Fail> {
        token_limit(ctx)?;
        let form = oauth_form(ctx)?;
        let client = authenticate_client(ctx, &form)?;
        if client.public {
            return Err(oauth(
                "invalid_client",
                "introspection needs a confidential client",
            ));
        }
        let token = form
            .get("token")
            .ok_or_else(|| oauth("invalid_request", "token is missing"))?;
        let conn = ctx.app.db.conn()?;
        let now = ctx.now();
        let inactive = json!({ "active": false });
        let Some(t) = oauth::token(&conn, &digest_of(token))? else {
            return Ok(inactive);
        };
        let live = t.client == client.id
            && t.revoked_at.is_none()
            && t.rotated_at.is_none()
            && t.expires_at > now;
        if !live {
            return Ok(inactive);
        }
        let mut out = json!({
            "active": true,
            "scope": t.scopes.join(" "),
            "client_id": client.client_id,
            "token_type": if t.kind == Kind::Refresh { "refresh_token" } else { "Bearer" },
            "exp": t.expires_at,
            "iat": t.created_at,
            "iss": ctx.app.config.issuer(),
            "aud": client.client_id,
        });
        match t.user_id {
            Some(user_id) => {
                if !grants::still_authorized(&conn, user_id)? {
                    return Ok(inactive);
                }
                let claims = grants::user_claims(&conn, user_id, &["profile".to_string()])?;
                out["sub"] = claims["sub"].clone();
                out["username"] = claims["preferred_username"].clone();
                if let Some(sid) = t.sid {
                    out["sid"] = json!(sid);
                }
            }
            None => out["sub"] = json!(client.client_id),
        }
        Ok(out)
    };
    match run() {
        Ok(v) => no_store(Response::json(&v)),
        Err(f) => fail_response(ctx, f),
    }
}

/// GET|POST /oidc/logout (OpenID Connect RP-Initiated Logout 1.0).
pub fn logout(ctx: &Ctx) -> Result<Response> {
    let params: Vec<(String, String)> = if ctx.req.method() == "POST" {
        ctx.form()?.0
    } else {
        ctx.query_pairs()
    };
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let page_error = |m: &str| Ok(page(ctx, views::oidc::request_error(m)).with_status_code(400));
    let now = ctx.now();
    let hint = match get("id_token_hint") {
        None => None,
        Some(t) => match verify_hint(ctx, t, now) {
            Some(claims) => Some(claims),
            None => {
                return page_error(
                    "The sign-out request carries an ID token this portal did not issue.",
                );
            }
        },
    };
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c["aud"].as_str())
        .map(str::to_string);
    let client_id = match (get("client_id"), hinted_client.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return page_error("client_id does not match the ID token.");
        }
        (Some(a), _) => Some(a.to_string()),
        (None, b) => b.map(str::to_string),
    };
    let client = match &client_id {
        Some(id) => match oauth::client(&*ctx.app.db.conn()?, id)? {
            Some(c) => Some(c),
            None => return page_error("This application is not registered with the portal."),
        },
        None => None,
    };
    let target = match (get("post_logout_redirect_uri"), &client) {
        (None, _) => None,
        (Some(uri), Some(c)) if c.post_logout_uris.iter().any(|u| u == uri) => {
            let mut p = vec![];
            if let Some(s) = get("state") {
                p.push(("state", s));
            }
            Some(redirect_with(uri, &p))
        }
        (Some(_), _) => {
            return page_error(
                "The application asked to return to an address it has not registered for sign-out.",
            );
        }
    };
    let session = current_session(ctx)?;
    // Sign out at once when nobody is signed in, or when the application proved which
    // user it means (a valid ID token for this very user); otherwise ask first.
    let proven = match (&session, &hint) {
        (None, _) => true,
        (Some(s), Some(h)) => h["sub"].as_str() == Some(s.row.uuid.as_str()),
        (Some(_), None) => false,
    };
    let confirmed = ctx.req.method() == "POST" && get("confirm") == Some("yes");
    if !proven && !confirmed {
        let keep: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "confirm")
            .cloned()
            .collect();
        return Ok(page(
            ctx,
            views::oidc::logout_confirm(&keep, client.as_ref().map(|c| c.name.as_str())),
        ));
    }
    if let Some(s) = &session {
        crate::web::portal::end_session(ctx, s)?;
    }
    let clear = cookies::clear(&ctx.app.config, cookies::SESSION);
    let response = match target {
        Some(t) => Response::redirect_303(t),
        None => page(ctx, views::oidc::logged_out()),
    };
    Ok(response.with_additional_header("Set-Cookie", clear))
}

/// The claims of an ID token this portal signed (expired is fine: it only names the user).
fn verify_hint(ctx: &Ctx, token: &str, now: i64) -> Option<Value> {
    ctx.app.keys.jwks(&ctx.app.db, &ctx.app.sealer, now).ok()?;
    let kid = crate::crypto::jwt::kid_of(token)?;
    let claims = ctx.app.keys.find(&kid)?.verify(token)?;
    (claims["iss"].as_str() == Some(ctx.app.config.issuer().as_str())).then_some(claims)
}
