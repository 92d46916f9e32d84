//! `/auth/verify`: the reverse proxy asks, for every request to an app, whether it may
//! pass and as whom (Traefik forwardAuth, Caddy forward_auth, nginx auth_request).
//!
//! 200 + identity headers: pass. Not signed in: a browser is sent to the portal (302/303,
//! or 401 with Location for nginx, whose error_page turns it into the redirect); other
//! clients get 401. Signed in but not allowed: 403. This is the hot path: a valid
//! session costs one indexed read; rules are compiled once and cached.

use rouille::Response;

use crate::access::{AccessRules, LoginCookie, NetworkMode, Policy, Rule, Target, render};
use crate::crypto::sha256;
use crate::db::users;
use crate::error::Result;
use crate::event_type::EventType;
use crate::providers::ProviderKind;
use crate::web::guards::current_session;
use crate::web::request::Ctx;

/// The person a request is made for.
struct Subject {
    user_id: i64,
    identity_id: Option<i64>,
    uuid: String,
    username: String,
    email: Option<String>,
    groups: Vec<String>,
    two_factor: bool,
}

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
    let rule = rules.find(&target);
    let policy = rule.map_or(rules.default_policy, |r| r.spec.policy);
    if let Some(r) = rule.filter(|r| r.has_networks()) {
        let inside = r.in_networks(ctx.ip);
        match r.spec.network_mode {
            NetworkMode::Bypass if inside => return Ok(pass(ctx, rule, None)),
            NetworkMode::Require if !inside => {
                return Ok(forbidden(ctx, "your network is not allowed here"));
            }
            _ => {}
        }
    }
    match policy {
        Policy::Bypass => {
            let who = session_subject(ctx)?;
            return Ok(pass(ctx, rule, who.as_ref()));
        }
        Policy::Deny => return Ok(forbidden(ctx, "this address is closed")),
        Policy::SignedIn | Policy::TwoFactor => {}
    }
    let who = match session_subject(ctx)? {
        Some(s) => Some(s),
        None => match native_subject(ctx, rule, &target, policy)? {
            Native::Token(s) => Some(s),
            Native::Address => return Ok(pass(ctx, rule, None)),
            Native::Throttled(secs) => return Ok(throttled(secs)),
            Native::Nobody => None,
        },
    };
    let Some(who) = who else {
        return Ok(sign_in_first(ctx, &target, nginx, false));
    };
    if let Some(r) = rule {
        if !r.admits(&who.username, &who.uuid, &who.groups) {
            return Ok(forbidden(
                ctx,
                "your account is not allowed here; ask the server's owner",
            ));
        }
    }
    if policy == Policy::TwoFactor && !who.two_factor {
        let enrolled = crate::db::mfa::is_enrolled(&*ctx.app.db.conn()?, who.user_id)?;
        if !enrolled || who.identity_id.is_none() {
            return Ok(forbidden(
                ctx,
                "this app needs two-factor sign-in: set it up on the portal's home page first",
            ));
        }
        // Enrolled but this session predates it: a fresh sign-in asks for the code.
        return Ok(sign_in_first(ctx, &target, nginx, true));
    }
    Ok(pass(ctx, rule, Some(&who)))
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
    if !method.bytes().all(|b| b.is_ascii_uppercase()) || method.is_empty() || method.len() > 16 {
        return Err(format!("method {method:?} is not valid"));
    }
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

/// An absolute http(s) URL cut into scheme, authority and path-and-query (at least "/").
fn split_url(url: &str) -> std::result::Result<(&'static str, &str, String), String> {
    let invalid = || format!("the original URL {url:?} is not an http(s) URL");
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => "http",
        "https" => "https",
        _ => return Err(invalid()),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, uri) = rest.split_at(end);
    let uri = if uri.starts_with('/') {
        uri.to_string()
    } else {
        format!("/{uri}")
    };
    Ok((scheme, authority, uri))
}

fn session_subject(ctx: &Ctx) -> Result<Option<Subject>> {
    Ok(current_session(ctx)?
        .filter(|s| s.authorized())
        .map(|s| Subject {
            user_id: s.row.user_id,
            identity_id: Some(s.row.identity_id),
            two_factor: s.row.amr.iter().any(|a| a == "otp"),
            uuid: s.row.uuid,
            username: s.row.username,
            email: s.row.email,
            groups: s.groups,
        }))
}

/// How a request without a session may still come in (the rule's `native_apps`).
enum Native {
    /// A media-server token the portal checked: its owner.
    Token(Subject),
    /// An address an allowed person signed in from recently. It passes as no one: an
    /// address is not a person (a household's TV is not its owner).
    Address,
    /// Too many unknown tokens from this address: wait this many seconds.
    Throttled(u64),
    Nobody,
}

/// Native apps: a validated media-server token, or an address an allowed user signed
/// in from recently, when the matching rule opts in.
fn native_subject(
    ctx: &Ctx,
    rule: Option<&Rule>,
    target: &Target,
    policy: Policy,
) -> Result<Native> {
    let Some(rule) = rule else {
        return Ok(Native::Nobody);
    };
    let native = &rule.spec.native_apps;
    if native.media_token {
        if let Some((kind, token)) = media_token(ctx, target) {
            match token_owner(ctx, kind, &token)? {
                TokenLookup::Throttled(secs) => return Ok(Native::Throttled(secs)),
                TokenLookup::Owner(Some(user_id)) => {
                    if let Some(s) = subject_of(ctx, user_id, None)? {
                        return Ok(Native::Token(s));
                    }
                }
                TokenLookup::Owner(None) => {}
            }
        }
    }
    // An address proves no second factor.
    if native.trusted_ip_hours > 0 && policy != Policy::TwoFactor {
        let since = ctx.now() - i64::from(native.trusted_ip_hours) * 3600;
        let candidates =
            users::users_signed_in_from(&*ctx.app.db.conn()?, &ctx.ip.to_string(), since)?;
        for user_id in candidates {
            if let Some(s) = subject_of(ctx, user_id, None)? {
                if rule.admits(&s.username, &s.uuid, &s.groups) {
                    return Ok(Native::Address);
                }
            }
        }
    }
    Ok(Native::Nobody)
}

/// A still-authorized user by id, with their groups.
fn subject_of(ctx: &Ctx, user_id: i64, identity_id: Option<i64>) -> Result<Option<Subject>> {
    let conn = ctx.app.db.conn()?;
    if !users::still_authorized(&conn, user_id)? {
        return Ok(None);
    }
    let Some((uuid, username, email)) = users::profile(&conn, user_id)? else {
        return Ok(None);
    };
    Ok(Some(Subject {
        user_id,
        identity_id,
        uuid,
        username,
        email,
        groups: users::groups(&conn, user_id)?,
        two_factor: false,
    }))
}

/// A media-server token the original request carries, and whose it would be. Plex
/// tokens come as X-Plex-Token; Jellyfin tokens in any form Jellyfin and Emby clients
/// send, legacy ones included. Emby tokens look the same, but Emby cannot say whose a
/// token is, so they are checked with Jellyfin or not at all.
fn media_token(ctx: &Ctx, target: &Target) -> Option<(ProviderKind, String)> {
    let h = |name: &str| {
        ctx.req
            .header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let query: Vec<(String, String)> = target
        .uri
        .split_once('?')
        .map(|(_, q)| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    if let Some(t) = h("X-Plex-Token").or_else(|| q("X-Plex-Token")) {
        return Some((ProviderKind::Plex, t));
    }
    let from_header = |name: &str| ctx.req.header(name).and_then(media_browser_token);
    from_header("Authorization")
        .or_else(|| from_header("X-Emby-Authorization"))
        .or_else(|| h("X-Emby-Token"))
        .or_else(|| h("X-MediaBrowser-Token"))
        .or_else(|| q("api_key"))
        .or_else(|| q("ApiKey"))
        .filter(|t| !t.is_empty())
        .map(|t| (ProviderKind::Jellyfin, t))
}

/// The `Token` field of `MediaBrowser k="v", ...` or `Emby k="v", ...` (either scheme,
/// any case, as Jellyfin and Emby parse it).
fn media_browser_token(value: &str) -> Option<String> {
    let (scheme, fields) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("MediaBrowser") && !scheme.eq_ignore_ascii_case("Emby") {
        return None;
    }
    fields.split(',').find_map(|f| {
        let (k, v) = f.trim().split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.trim().eq_ignore_ascii_case("Token") && !v.is_empty()).then(|| v.to_string())
    })
}

/// What the media server said about a token, or that this address must wait.
enum TokenLookup {
    Owner(Option<i64>),
    Throttled(u64),
}

/// Whose token this is, asking the media server once per few minutes per token. Only
/// lookups that reach the media server count against the address's rate: each made-up
/// token would otherwise be a request to the owner's server (or plex.tv).
fn token_owner(ctx: &Ctx, kind: ProviderKind, token: &str) -> Result<TokenLookup> {
    let digest = sha256(format!("{}:{token}", kind.as_str()).as_bytes()).to_vec();
    let now_ms = ctx.app.clock.now_ms();
    if let Some(owner) = ctx.app.access_cache.token(&digest, now_ms) {
        return Ok(TokenLookup::Owner(owner));
    }
    let providers = ctx.app.providers();
    let checker = match kind {
        ProviderKind::Plex => providers.plex.is_some(),
        _ => providers.jellyfin.is_some(),
    };
    if !checker {
        return Ok(TokenLookup::Owner(None));
    }
    if let Err(wait_secs) = ctx.app.limits.media_token.check_ip(ctx.ip, now_ms) {
        return Ok(TokenLookup::Throttled(wait_secs));
    }
    let account = match kind {
        ProviderKind::Plex => providers
            .plex
            .as_ref()
            .map(|p| p.account_of(&ctx.app.http, token)),
        _ => providers
            .jellyfin
            .as_ref()
            .map(|j| j.account_of(&ctx.app.http, token)),
    };
    let owner = match account {
        None => None,
        Some(Ok(account)) => {
            users::find_identity(&*ctx.app.db.conn()?, kind.as_str(), Some(&account), None)?
                .map(|(_, user_id)| user_id)
        }
        // Unreachable is not "refused": answer no now, but do not remember it.
        Some(Err(crate::providers::ProviderError::Unreachable(d))) => {
            crate::log_warn!("req={} media token check: {d}", ctx.request_id);
            return Ok(TokenLookup::Owner(None));
        }
        Some(Err(_)) => None,
    };
    ctx.app.access_cache.remember_token(digest, owner, now_ms);
    Ok(TokenLookup::Owner(owner))
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

/// 200 with the identity headers and whatever the rule injects.
fn pass(ctx: &Ctx, rule: Option<&Rule>, who: Option<&Subject>) -> Response {
    let mut r = Response::text("ok\n").with_status_code(200);
    // All four always, empty when unknown: Caddy before 2.10 (Debian's 2.6) sends the app
    // the literal "{http.reverse_proxy.header.Remote-User}" for a header this answer lacks.
    let Some(who) = who else {
        return r
            .with_unique_header("Remote-User", "")
            .with_unique_header("Remote-Name", "")
            .with_unique_header("Remote-Email", "")
            .with_unique_header("Remote-Groups", "")
            .with_unique_header("Cookie", cookie_for_app(ctx, None));
    };
    let groups = who.groups.join(",");
    let email = who.email.clone().unwrap_or_default();
    r = r
        .with_unique_header("Remote-User", who.username.clone())
        .with_unique_header("Remote-Name", who.username.clone())
        .with_unique_header("Remote-Groups", groups.clone())
        .with_unique_header("Remote-Email", email.clone());
    let Some(rule) = rule else {
        return r.with_unique_header("Cookie", cookie_for_app(ctx, None));
    };
    let values = [
        ("user", who.username.as_str()),
        ("name", who.username.as_str()),
        ("email", email.as_str()),
        ("groups", groups.as_str()),
        ("uid", who.uuid.as_str()),
    ];
    for (name, template) in &rule.spec.headers {
        r = r.with_unique_header(name.clone(), render(template, &values));
    }
    let media = if rule.spec.sends_media_token() {
        let kind = rule.spec.media_provider(&ctx.app.providers().enabled);
        let token = kind.and_then(|k| media_token_of(ctx, who, k).map(|t| (k, t)));
        match kind {
            Some(kind) if token.is_none() && rule.spec.media_token_required => {
                let label = kind.label();
                return forbidden(
                    ctx,
                    &format!(
                        "this app needs your {label} account: sign in to the portal with {label} first"
                    ),
                );
            }
            _ if token.is_none() => crate::log_debug!(
                "req={} rule {:?}: no media token to send for {}",
                ctx.request_id,
                rule.spec.name,
                who.username
            ),
            _ => {}
        }
        token
    } else {
        None
    };
    if rule.spec.inject_media_token {
        if let Some((kind, token)) = &media {
            let header = if *kind == ProviderKind::Plex {
                "X-Plex-Token"
            } else {
                "X-Emby-Token"
            };
            r = r.with_unique_header(header, token.clone());
        }
    }
    let media_token = media.as_ref().map(|(_, t)| t.as_str());
    let login = login_cookie(ctx, rule, who, &values, media_token);
    r.with_unique_header("Cookie", cookie_for_app(ctx, login.as_deref()))
}

/// The Cookie header for the app: the browser's own cookies without the portal's (an
/// app has no business with a portal session), and a login_cookie sign-in's cookies in
/// place of any the browser holds under the same names. Always answered, even empty:
/// proxies that copy it replace the request's Cookie with it (Caddy drops the request's
/// when the answer has none).
fn cookie_for_app(ctx: &Ctx, login: Option<&str>) -> String {
    let pairs = |line: &str| -> Vec<String> {
        line.split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    };
    let name = |pair: &str| pair.split('=').next().unwrap_or("").trim().to_string();
    let login = login.map(pairs).unwrap_or_default();
    let replaced: Vec<String> = login.iter().map(|p| name(p)).collect();
    let browser = ctx
        .req
        .headers()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Cookie"))
        .flat_map(|(_, v)| pairs(v))
        .filter(|p| {
            let n = name(p);
            !crate::web::cookies::Cookie::is_portal(&n) && !replaced.contains(&n)
        });
    browser.chain(login).collect::<Vec<_>>().join("; ")
}

/// The user's own token (sealed at rest) from their `kind` identity: the one they signed
/// in with if it is of that kind, else the latest. None when they have no such identity.
fn media_token_of(ctx: &Ctx, who: &Subject, kind: ProviderKind) -> Option<String> {
    let conn = ctx.app.db.conn().ok()?;
    let (account, sealed) =
        users::provider_token_sealed(&conn, who.user_id, kind.as_str(), who.identity_id).ok()??;
    let token = ctx
        .app
        .sealer
        .open(
            &format!("provider-token:{}:{account}", kind.as_str()),
            &sealed,
        )
        .ok()?;
    String::from_utf8(token).ok()
}

/// A cookie the app gave when the portal signed the user in to it (cached per user;
/// parallel first requests share one sign-in). A form that needs the person's media
/// token is never sent without one.
fn login_cookie(
    ctx: &Ctx,
    rule: &Rule,
    who: &Subject,
    values: &[(&str, &str)],
    media_token: Option<&str>,
) -> Option<String> {
    let lc = rule.spec.login_cookie.as_ref()?;
    if lc.sends_media_token() && media_token.is_none() {
        return None;
    }
    let key = format!("{}|{}", rule.spec.name, lc.url);
    let now_ms = || ctx.app.clock.now_ms();
    ctx.app
        .access_cache
        .cookie_or_sign_in(&key, who.user_id, now_ms, || {
            let mut all: Vec<(&str, &str)> = values.to_vec();
            all.push(("media_token", media_token.unwrap_or("")));
            sign_in_to_app(ctx, rule, lc, &all)
        })
}

/// Posts the rule's form to the app; the cookies it sets and until when (ms) to use them.
fn sign_in_to_app(
    ctx: &Ctx,
    rule: &Rule,
    lc: &LoginCookie,
    values: &[(&str, &str)],
) -> Option<(String, i64)> {
    let form: Vec<(String, String)> = lc
        .form
        .iter()
        .map(|(k, v)| (k.clone(), render(v, values)))
        .collect();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let response = ctx
        .app
        .http
        .post(&lc.url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .send(body);
    let response = match response {
        Ok(r) if r.status().as_u16() < 400 => r,
        Ok(r) => {
            crate::log_warn!(
                "req={} login_cookie for rule {:?}: the app answered {}",
                ctx.request_id,
                rule.spec.name,
                r.status()
            );
            return None;
        }
        Err(e) => {
            crate::log_warn!(
                "req={} login_cookie for rule {:?}: {e}",
                ctx.request_id,
                rule.spec.name
            );
            return None;
        }
    };
    let mut pairs = Vec::new();
    let mut max_age = lc.ttl_secs as i64;
    for v in response.headers().get_all("set-cookie") {
        let Ok(line) = v.to_str() else { continue };
        let mut parts = line.split(';');
        if let Some(pair) = parts.next().map(str::trim).filter(|p| p.contains('=')) {
            pairs.push(pair.to_string());
        }
        for attr in parts {
            if let Some(age) = attr
                .trim()
                .strip_prefix("Max-Age=")
                .and_then(|a| a.parse::<i64>().ok())
            {
                max_age = max_age.min(age.max(0));
            }
        }
    }
    if pairs.is_empty() {
        crate::log_warn!(
            "req={} login_cookie for rule {:?}: the app set no cookie",
            ctx.request_id,
            rule.spec.name
        );
        return None;
    }
    Some((pairs.join("; "), ctx.app.clock.now_ms() + max_age * 1000))
}
