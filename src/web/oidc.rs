//! OpenID Connect endpoints over HTTP: discovery, JWKS, authorize (+ consent decision),
//! token, the device authorization endpoint (RFC 8628; its /device pages are
//! web/device.rs), userinfo, revocation (RFC 7009), introspection (RFC 7662) and
//! RP-initiated logout. Each decodes the request, calls one function of crate::oidc, and
//! encodes the answer; the rules live there.
//!
//! Token-style endpoints answer with RFC 6749 5.2 error bodies and `Cache-Control:
//! no-store`; the authorization endpoint shows errors on a page until the client and
//! its redirect_uri are known good, then returns them to the client.

use rouille::Response;
use serde_json::json;

use crate::error::{AppError, Result};
use crate::oidc::authorize::{self, Decision};
use crate::oidc::clients::{self, Credentials};
use crate::oidc::token::{self, TokenRequest};
use crate::oidc::{
    Caller, Failure, OAuthError, Outcome, discovery, introspect, logout, revoke, userinfo,
};
use crate::views;
use crate::web::guards::current_session;
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

pub(super) fn caller<'a>(ctx: &'a Ctx) -> Caller<'a> {
    Caller {
        ip: ctx.ip,
        user_agent: ctx.user_agent(),
        request_id: &ctx.request_id,
    }
}

pub fn discovery_get(ctx: &Ctx) -> Result<Response> {
    let doc = discovery::document(&ctx.app.config);
    Ok(cors(Response::json(&doc).with_public_cache(300)))
}

/// GET /oidc/picture/{key}: a user's avatar for the `picture` claim (oidc/picture.rs).
/// Each request may fetch from the media server, so it shares the token endpoint's limit.
pub fn picture_get(ctx: &Ctx, key: &str) -> Result<Response> {
    ctx.app
        .limits
        .token
        .check_ip(ctx.ip, ctx.app.clock.now_ms())
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })?;
    let picture = crate::oidc::picture::fetch(ctx.app, key)?;
    Ok(cors(
        Response::from_data(picture.content_type, picture.bytes).with_public_cache(3600),
    ))
}

pub fn jwks_get(ctx: &Ctx) -> Result<Response> {
    let jwks = ctx.app.keys.jwks(&ctx.app.db, &ctx.app.sealer, ctx.now())?;
    Ok(cors(Response::json(&jwks).with_public_cache(300)))
}

/// GET /oidc/authorize: a request from an application, or (`pending`) one coming back
/// from the sign-in it waited for.
pub fn authorize_get(ctx: &Ctx) -> Result<Response> {
    let params = ctx.query_pairs();
    // Like every parameter here (RFC 6749 3.1): sent twice it is refused, sent without a
    // value it was not sent.
    let mut pending = params.iter().filter(|(k, _)| k == "pending");
    let id = pending.next().map(|(_, v)| v.as_str());
    if pending.next().is_some() {
        return Ok(page(
            ctx,
            views::oidc::request_error("pending must not be repeated."),
        )
        .with_status_code(400));
    }
    let Some(id) = id.filter(|id| !id.is_empty()) else {
        return authorize(ctx, incoming(&params, None, None));
    };
    let pending = match cookies::Cookie::OidcPending.read(ctx) {
        Some(browser) => crate::oidc::pending::resume(ctx.app, id, &browser, ctx.now())?,
        None => None,
    };
    match pending {
        Some(p) => authorize(ctx, incoming(&p.params, p.auth_after, None)),
        None => Ok(page(
            ctx,
            views::oidc::request_error(
                "This sign-in request has expired or was already used. Go back to the application and sign in again.",
            ),
        )
        .with_status_code(400)),
    }
}

/// POST /oidc/authorize: the same request, form-encoded (Core 3.1.2.1).
pub fn authorize_post(ctx: &Ctx) -> Result<Response> {
    let form = ctx.form()?;
    let incoming = authorize::Incoming {
        params: &form.0,
        auth_after: None,
        browser: &[],
        decision: None,
        cross_site_post: ctx.require_same_origin().is_err(),
    };
    authorize(ctx, incoming)
}

/// POST /oidc/authorize/decision: the consent form, carrying the request in hidden fields.
pub fn decision_post(ctx: &Ctx) -> Result<Response> {
    let form = ctx.form()?;
    let decision = match form.get("decision") {
        Some("allow") => Decision::Allow,
        Some("deny") => Decision::Deny,
        _ => return Err(AppError::bad_request("decision must be allow or deny")),
    };
    let params: Vec<(String, String)> = form
        .0
        .into_iter()
        .filter(|(k, _)| k != "decision")
        .collect();
    authorize(ctx, incoming(&params, None, Some(decision)))
}

fn incoming(
    params: &[(String, String)],
    auth_after: Option<i64>,
    decision: Option<Decision>,
) -> authorize::Incoming<'_> {
    authorize::Incoming {
        params,
        auth_after,
        browser: &[],
        decision,
        cross_site_post: false,
    }
}

/// Answers an authorization request; `incoming.browser` is filled in here, from this
/// browser's pending-request cookie (or a new id).
fn authorize(ctx: &Ctx, incoming: authorize::Incoming) -> Result<Response> {
    let session = current_session(ctx)?;
    let row = session.as_ref().map(|s| &s.row);
    let browser = cookies::Cookie::OidcPending
        .read(ctx)
        .unwrap_or_else(|| crate::crypto::tokens::new_id().to_vec());
    let incoming = authorize::Incoming {
        browser: &browser,
        ..incoming
    };
    let answer = authorize::answer(ctx.app, &caller(ctx), &incoming, row, ctx.now())?;
    Ok(match answer {
        authorize::Answer::Refused(m) => {
            page(ctx, views::oidc::request_error(&m)).with_status_code(400)
        }
        authorize::Answer::Redirect(url) => Response::redirect_303(url),
        authorize::Answer::NotAllowed {
            client_name,
            groups,
            back,
        } => {
            page(ctx, views::oidc::not_allowed(&client_name, &groups, &back)).with_status_code(403)
        }
        authorize::Answer::SwitchAccount {
            client_name,
            username,
            pending,
        } => with_browser(
            ctx,
            &browser,
            page(
                ctx,
                views::oidc::switch_account(&client_name, &username, &pending),
            ),
        ),
        authorize::Answer::SignIn(url) | authorize::Answer::Continue(url) => {
            with_browser(ctx, &browser, Response::redirect_303(url))
        }
        authorize::Answer::Consent {
            client_name,
            username,
            scopes,
            params,
        } => page(
            ctx,
            views::oidc::consent(&views::oidc::Consent {
                client_name: &client_name,
                username: &username,
                scopes: &scopes,
                params: &params,
            }),
        ),
    })
}

/// Gives the browser its pending-request id (kept while it has requests waiting, so
/// another tab's request stays its own too).
fn with_browser(ctx: &Ctx, browser: &[u8], r: Response) -> Response {
    let cookie =
        cookies::Cookie::OidcPending.issue(ctx, browser, crate::oidc::pending::PENDING_TTL_SECS);
    r.with_additional_header("Set-Cookie", cookie)
}

/// POST /oidc/authorize/switch: signs out, then in again, back to the kept request.
pub fn switch_post(ctx: &Ctx) -> Result<Response> {
    let form = ctx.form()?;
    let pending = form
        .get("pending")
        .filter(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| AppError::bad_request("pending must be a sign-in request's id"))?;
    if let Some(s) = current_session(ctx)? {
        crate::web::portal::end_session(ctx, &s)?;
    }
    let clear = cookies::Cookie::Session.clear(&ctx.app.config);
    Ok(
        Response::redirect_303(crate::oidc::pending::sign_in_url(pending))
            .with_additional_header("Set-Cookie", clear),
    )
}

/// The RFC 6749 5.2 answer of a token-style endpoint that failed. An invalid_client after
/// HTTP Basic gets 401 with a Basic challenge; our own faults are logged, not shown.
fn fail_response(ctx: &Ctx, f: Failure) -> Response {
    let e = match f {
        Failure::OAuth(e) => e,
        Failure::App(AppError::PayloadTooLarge | AppError::BadRequest(_)) => {
            OAuthError::InvalidRequest("the request body is not a valid form".into())
        }
        Failure::App(AppError::RateLimited { retry_after_secs }) => {
            return oauth_response(&OAuthError::SlowDown("too many requests".into()))
                .with_status_code(429)
                .with_unique_header("Retry-After", retry_after_secs.to_string());
        }
        Failure::App(e) => {
            crate::log_error!("req={} {} failed: {e}", ctx.request_id, ctx.req.url());
            OAuthError::ServerError("the request could not be completed".into())
        }
    };
    let r = oauth_response(&e);
    if matches!(e, OAuthError::InvalidClient(_)) && ctx.authorization("Basic").is_some() {
        r.with_unique_header(
            "WWW-Authenticate",
            r#"Basic realm="authportal", charset="UTF-8""#,
        )
    } else {
        r
    }
}

fn oauth_response(e: &OAuthError) -> Response {
    let body = json!({ "error": e.code(), "error_description": e.description() });
    no_store(cors(Response::json(&body).with_status_code(e.status())))
}

fn token_limit(ctx: &Ctx) -> Outcome<()> {
    ctx.app
        .limits
        .token
        .check_ip(ctx.ip, ctx.app.clock.now_ms())
        .map_err(|retry_after_secs| Failure::App(AppError::RateLimited { retry_after_secs }))
}

/// The form of a token-style request, within the rate limit: form-encoded, no parameter
/// twice, and one sent without a value is as if it were not sent (RFC 6749 3.2): public
/// clients' libraries often send `client_secret=`.
fn oauth_form(ctx: &Ctx) -> Outcome<Form> {
    token_limit(ctx)?;
    let mut form = ctx.form()?;
    if let Some(name) = form.repeated() {
        return Err(
            OAuthError::InvalidRequest(format!("{name} must not be repeated").into()).into(),
        );
    }
    form.0.retain(|(_, value)| !value.is_empty());
    Ok(form)
}

/// The client's credentials: in the form, or in `Authorization: Basic`.
fn credentials<'f>(ctx: &Ctx, form: &'f Form) -> Outcome<Credentials<'f>> {
    Ok(Credentials {
        basic: ctx
            .authorization("Basic")
            .map(clients::parse_basic)
            .transpose()?,
        client_id: form.get("client_id"),
        client_secret: form.get("client_secret"),
    })
}

pub fn token_post(ctx: &Ctx) -> Response {
    let run = || -> Outcome<serde_json::Value> {
        let form = oauth_form(ctx)?;
        let req = TokenRequest {
            grant_type: form.get("grant_type"),
            code: form.get("code"),
            redirect_uri: form.get("redirect_uri"),
            code_verifier: form.get("code_verifier"),
            refresh_token: form.get("refresh_token"),
            scope: form.get("scope"),
            device_code: form.get("device_code"),
        };
        let creds = credentials(ctx, &form)?;
        token::exchange(ctx.app, &caller(ctx), &creds, &req, ctx.now())
    };
    match run() {
        Ok(body) => no_store(cors(Response::json(&body))),
        Err(f) => fail_response(ctx, f),
    }
}

/// POST /oidc/device_authorization (RFC 8628 3.1): a device's request for a code.
pub fn device_authorization_post(ctx: &Ctx) -> Response {
    let run = || -> Outcome<serde_json::Value> {
        let form = oauth_form(ctx)?;
        let creds = credentials(ctx, &form)?;
        crate::oidc::device::start(ctx.app, &caller(ctx), &creds, form.get("scope"), ctx.now())
    };
    match run() {
        Ok(body) => no_store(cors(Response::json(&body))),
        Err(f) => fail_response(ctx, f),
    }
}

/// GET|POST /oidc/userinfo with a Bearer access token (RFC 6750).
pub fn userinfo(ctx: &Ctx) -> Response {
    let challenge = |e: Option<&OAuthError>, status: u16| {
        let header = match e {
            Some(e) => format!(
                r#"Bearer realm="authportal", error="{}", error_description="{}""#,
                e.code(),
                e.description()
            ),
            None => r#"Bearer realm="authportal""#.to_string(),
        };
        let body = match e {
            Some(e) => json!({ "error": e.code(), "error_description": e.description() }),
            None => {
                json!({ "error": "invalid_request", "error_description": "a Bearer access token is required" })
            }
        };
        no_store(cors(Response::json(&body).with_status_code(status)))
            .with_unique_header("WWW-Authenticate", header)
    };
    if token_limit(ctx).is_err() {
        let e = OAuthError::InvalidRequest("too many requests".into());
        return challenge(Some(&e), 429);
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
        return challenge(None, 401);
    };
    let result = ctx
        .app
        .db
        .conn()
        .map_err(Failure::App)
        .and_then(|conn| userinfo::claims(ctx.app, &conn, &token, ctx.now()));
    match result {
        Ok(claims) => no_store(cors(Response::json(&claims))),
        Err(Failure::OAuth(e)) => challenge(Some(&e), e.status()),
        Err(f) => fail_response(ctx, f),
    }
}

/// POST /oidc/revoke (RFC 7009): always 200 for a well-formed request, known token or not.
pub fn revoke_post(ctx: &Ctx) -> Response {
    let run = || -> Outcome<()> {
        let form = oauth_form(ctx)?;
        let creds = credentials(ctx, &form)?;
        revoke::revoke(ctx.app, &caller(ctx), &creds, form.get("token"), ctx.now())
    };
    match run() {
        Ok(()) => no_store(cors(Response::text(""))),
        Err(f) => fail_response(ctx, f),
    }
}

/// POST /oidc/introspect (RFC 7662), for confidential clients about their own tokens.
pub fn introspect_post(ctx: &Ctx) -> Response {
    let run = || -> Outcome<serde_json::Value> {
        let form = oauth_form(ctx)?;
        let creds = credentials(ctx, &form)?;
        introspect::introspect(ctx.app, &creds, form.get("token"), ctx.now())
    };
    match run() {
        Ok(v) => no_store(Response::json(&v)),
        Err(f) => fail_response(ctx, f),
    }
}

/// GET|POST /oidc/logout (OpenID Connect RP-Initiated Logout 1.0).
pub fn logout(ctx: &Ctx) -> Result<Response> {
    let posted = ctx.req.method() == "POST";
    let params = if posted {
        ctx.form()?.0
    } else {
        ctx.query_pairs()
    };
    if posted && ctx.require_same_origin().is_err() {
        // Another site's form POST (the spec allows it) carries none of the portal's
        // SameSite=Lax cookies, so who is signed in is unknown: go on as the GET, which
        // has them (and cannot count as the person's confirmation).
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish();
        return Ok(Response::redirect_303(format!("/oidc/logout?{query}")));
    }
    let confirmed = posted;
    let session = current_session(ctx)?;
    let row = session.as_ref().map(|s| &s.row);
    let redirect = match logout::answer(ctx.app, &params, row, confirmed, ctx.now())? {
        logout::Answer::Refused(m) => {
            return Ok(page(ctx, views::oidc::request_error(m)).with_status_code(400));
        }
        logout::Answer::Confirm {
            params,
            client_name,
        } => {
            let page_ = views::oidc::logout_confirm(&params, client_name.as_deref());
            return Ok(page(ctx, page_));
        }
        logout::Answer::SignOut { redirect } => redirect,
    };
    if let Some(s) = &session {
        crate::web::portal::end_session(ctx, s)?;
    }
    let clear = cookies::Cookie::Session.clear(&ctx.app.config);
    let response = match redirect {
        Some(t) => Response::redirect_303(t),
        None => page(ctx, views::oidc::logged_out()),
    };
    Ok(response.with_additional_header("Set-Cookie", clear))
}
