//! `/auth/verify`: the reverse proxy asks, for every request to an app, whether it may
//! pass and as whom (Traefik forwardAuth, Caddy forward_auth, nginx auth_request).
//!
//! 200 + identity headers: pass. Not signed in: a browser is sent to the portal (302/303,
//! or 401 with Location for nginx, whose error_page turns it into the redirect); other
//! clients get 401. Signed in but not allowed: 403. This is the hot path: a valid
//! session costs one indexed read; rules are compiled once and cached.

use std::sync::Arc;

use rouille::Response;

use crate::access::decide::{Decision, Facts, Subject, check_method, split_url};
use crate::access::{self, AccessRules, Target};
use crate::crypto::tokens::digest;
use crate::error::Result;
use crate::event_type::EventType;
use crate::web::cookies::Cookie;
use crate::web::request::Ctx;

pub fn verify(ctx: &Ctx) -> Result<Response> {
    // Every answer is about one user's one request: no cache may keep or share it.
    let response = decide(ctx)?.with_unique_header("Cache-Control", "no-store");
    if response.status_code == 403 {
        note_denial(ctx);
    }
    Ok(response)
}

/// Writes a forward-auth denial to the audit log: the first per (address, host) and
/// minute, with whoever is signed in, and how many went unwritten before (sampling::Sampler).
fn note_denial(ctx: &Ctx) {
    let Ok(rules) = ctx.app.access_rules() else {
        return;
    };
    let Ok((target, _)) = target(ctx, &rules) else {
        return;
    };
    let now = ctx.now();
    let Some(unwritten_before) = ctx
        .app
        .denials
        .admit(&format!("{}|{}", ctx.ip, target.host), now)
    else {
        return;
    };
    let user_id = session_subject(ctx).ok().flatten().map(|s| s.user_id);
    let written = ctx.app.db.with_tx(|tx| {
        crate::web::events::record(
            ctx,
            tx,
            EventType::ForwardAuthDenied,
            user_id,
            false,
            serde_json::json!({
                "host": target.host,
                "path": target.path(),
                "sampled": "first denial of this address and host this minute",
                "unwritten_last_minute": unwritten_before,
            }),
        )
    });
    if let Err(e) = written {
        crate::log_error!("req={} could not record a denial: {e}", ctx.request_id);
    }
}

fn decide(ctx: &Ctx) -> Result<Response> {
    let rules = ctx.app.access_rules()?;
    let (target, nginx) = match target(ctx, &rules) {
        Ok(t) => t,
        Err(reason) => {
            return Ok(
                Response::text(format!("bad forward-auth request: {reason}\n"))
                    .with_status_code(400),
            );
        }
    };
    let facts = Facts {
        target: &target,
        ip: ctx.ip,
        session: &|| session_subject(ctx),
        header: &|name| ctx.req.header(name),
        request_id: &ctx.request_id,
        live: true,
    };
    Ok(match access::decide::decide(ctx.app, &rules, &facts)? {
        Decision::Allow {
            headers,
            login_cookie,
        } => {
            let mut r = Response::text("ok\n");
            let own = std::mem::replace(&mut r.headers, headers);
            r.headers.extend(own);
            r.with_unique_header("Cookie", cookie_for_app(ctx, login_cookie.as_deref()))
        }
        Decision::SignIn { fresh } => sign_in_first(ctx, &target, nginx, fresh),
        Decision::Forbidden { message, .. } => forbidden(ctx, &message),
        Decision::Throttled { secs } => throttled(secs),
    })
}

/// The original request: X-Forwarded-Proto/Host/Uri/Method (Traefik, Caddy) or
/// X-Original-URL/X-Original-Method (nginx), in canonical form (access::canonical).
/// Returns it and whether it came from nginx.
fn target(ctx: &Ctx, rules: &AccessRules) -> std::result::Result<(Target, bool), String> {
    let h = |name: &str| one_header(ctx, name);
    let original = h("X-Original-URL")?;
    let forwarded_method = h("X-Forwarded-Method")?;
    // nginx names the method in X-Original-Method; an X-Forwarded-Method next to it may
    // be the client's own (nginx passes client headers on), so it may only agree.
    let method = match original {
        Some(_) => {
            let method = h("X-Original-Method")?.unwrap_or("GET");
            if forwarded_method.is_some_and(|m| m != method) {
                return Err("X-Original-Method and X-Forwarded-Method disagree".into());
            }
            method
        }
        None => forwarded_method.unwrap_or("GET"),
    };
    check_method(method)?;
    let canonical = |scheme: &str, authority: &str, uri: &str| {
        rules
            .target(scheme, authority, uri, method)
            .map_err(|e| e.to_string())
    };
    let proto = h("X-Forwarded-Proto")?;
    if let Some(proto) = proto.filter(|p| !matches!(*p, "http" | "https")) {
        return Err(format!(
            "X-Forwarded-Proto must be http or https, not {proto:?}"
        ));
    }
    let host = h("X-Forwarded-Host")?;
    let uri = h("X-Forwarded-Uri")?;
    if uri.is_some_and(|u| !u.starts_with('/')) {
        return Err("X-Forwarded-Uri must start with /".into());
    }
    let Some(original) = original else {
        let proto = proto.ok_or("X-Forwarded-Proto is missing")?;
        let host = host.ok_or("X-Forwarded-Host is missing")?;
        return Ok((canonical(proto, host, uri.unwrap_or("/"))?, false));
    };
    let (scheme, authority, original_uri) = split_url(original)?;
    let target = canonical(scheme, authority, &original_uri)?;
    // Traefik and Caddy pass the client's own headers on to the portal, nginx too: a
    // client could add an X-Original-URL (or X-Forwarded-Host/Uri) of its choosing next
    // to the ones its proxy set. Those present must name the same host and path. (The
    // scheme decides no rule, and a CDN in front of nginx may well differ on it.)
    let agrees = host
        .is_none_or(|h| canonical(scheme, h, "/").is_ok_and(|t| t.host == target.host))
        && uri.is_none_or(|u| {
            canonical(scheme, authority, u).is_ok_and(|t| t.path() == target.path())
        });
    if !agrees {
        return Err("X-Original-URL and X-Forwarded-Host/Uri name different requests".into());
    }
    Ok((target, true))
}

/// A header's value, trimmed, if present and not empty; sent twice it is refused, since
/// the proxy and the app might each read a different one.
fn one_header<'a>(ctx: &'a Ctx, name: &str) -> std::result::Result<Option<&'a str>, String> {
    let mut values = ctx
        .req
        .headers()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim());
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("{name} is sent more than once"));
    }
    Ok(first.filter(|v| !v.is_empty()))
}

fn session_subject(ctx: &Ctx) -> Result<Option<Arc<Subject>>> {
    match Cookie::Session.read(ctx) {
        Some(id) => Subject::of_session(ctx.app, &digest(&id), ctx.now()),
        None => Ok(None),
    }
}

/// 429 for an address that sent too many unknown media tokens.
fn throttled(retry_after_secs: u64) -> Response {
    Response::text("too many unknown media tokens from this address; try again later\n")
        .with_status_code(429)
        .with_unique_header("Retry-After", retry_after_secs.to_string())
}

fn forbidden(ctx: &Ctx, message: &str) -> Response {
    let host = ctx
        .app
        .access_rules()
        .ok()
        .and_then(|rules| target(ctx, &rules).ok())
        .map(|(t, _)| t.host);
    crate::web::portal::app_forbidden(ctx, host.as_deref(), message)
}

/// Not signed in (or needing a fresh sign-in): browsers go to the portal, others get 401.
fn sign_in_first(ctx: &Ctx, target: &Target, nginx: bool, fresh: bool) -> Response {
    let accept = ctx.req.header("Accept").unwrap_or("");
    let xhr = ctx
        .req
        .header("X-Requested-With")
        .is_some_and(|x| x.eq_ignore_ascii_case("XMLHttpRequest"));
    let browser = accept.contains("text/html") && !xhr;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("rd", &target.url());
    if fresh {
        query.append_pair("prompt", "login");
    }
    let login = format!(
        "{}/?{}",
        ctx.app.config.base_url.as_str().trim_end_matches('/'),
        query.finish()
    );
    if !browser {
        return Response::text("sign-in required\n").with_status_code(401);
    }
    if nginx {
        return Response::text("sign-in required\n")
            .with_status_code(401)
            .with_unique_header("Location", login);
    }
    let status = if matches!(target.method.as_str(), "GET" | "HEAD") {
        302
    } else {
        303
    };
    Response::text("sign-in required\n")
        .with_status_code(status)
        .with_unique_header("Location", login)
}

/// The Cookie header for the app: the browser's own cookies without the portal's (an
/// app has no business with a portal session), and a login_cookie sign-in's cookies in
/// place of any the browser holds under the same names. Always answered, even empty:
/// proxies that copy it replace the request's Cookie with it (Caddy drops the request's
/// when the answer has none).
fn cookie_for_app(ctx: &Ctx, login: Option<&str>) -> String {
    // Slices of the request's and the login's lines: one String, the answer, is built.
    fn pairs(line: &str) -> impl Iterator<Item = &str> {
        line.split(';').map(str::trim).filter(|p| !p.is_empty())
    }
    fn name(pair: &str) -> &str {
        pair.split('=').next().unwrap_or("").trim()
    }
    let login = login.unwrap_or("");
    let browser = ctx
        .req
        .headers()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Cookie"))
        .flat_map(|(_, v)| pairs(v))
        .filter(|p| {
            let n = name(p);
            !crate::web::cookies::Cookie::is_portal(n) && !pairs(login).any(|l| name(l) == n)
        });
    let mut out = String::new();
    for pair in browser.chain(pairs(login)) {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(pair);
    }
    out
}
