//! The forward-auth decision: given an app's rules and the facts of one request (who,
//! from where, to what), allow it (with the identity headers), ask for a sign-in, or
//! refuse it. /auth/verify and the admin's access-rule tester both call `decide`.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use super::{AccessRules, NetworkMode, Policy, Rule, Target, login_cookie, native, render};
use crate::app::App;
use crate::db::{sessions, users};
use crate::error::Result;
use crate::providers::ProviderKind;

/// The person a request is made for.
#[derive(Clone)]
pub struct Subject {
    pub user_id: i64,
    /// The identity the session signed in with (None: not from a session).
    pub identity_id: Option<i64>,
    pub uuid: String,
    pub username: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    /// The session passed a second factor.
    pub two_factor: bool,
}

impl Subject {
    /// The person of the live session with this cookie digest (None: no such live
    /// session, or its account has no access). Forward-auth asks for every request to
    /// every app, so the answer is kept in access_cache until the store changes.
    pub fn of_session(app: &App, digest: &[u8], now: i64) -> Result<Option<Arc<Subject>>> {
        // Taken before the read: a commit racing with it leaves the entry stale.
        let commits = app.db.commits();
        if let Some(known) = app.access_cache.session(digest, commits, now) {
            return Ok(known);
        }
        let Some(row) = sessions::load(&*app.db.conn()?, digest, now)? else {
            return Ok(None);
        };
        let expires_at = row.expires_at;
        let subject = row.authorized.then(|| {
            Arc::new(Subject {
                user_id: row.user_id,
                identity_id: Some(row.identity_id),
                two_factor: crate::providers::Amr::Otp.is_in(&row.amr),
                uuid: row.uuid,
                username: row.username,
                email: row.email,
                groups: row.groups,
            })
        });
        app.access_cache
            .remember_session(digest, subject.clone(), expires_at, commits);
        Ok(subject)
    }

    /// A still-authorized user by id, with their groups; None when access has ended.
    pub fn of_user(app: &App, user_id: i64) -> Result<Option<Subject>> {
        let conn = app.db.conn()?;
        if !users::still_authorized(&conn, user_id)? {
            return Ok(None);
        }
        let Some((uuid, username, email)) = users::profile(&conn, user_id)? else {
            return Ok(None);
        };
        Ok(Some(Subject {
            user_id,
            identity_id: None,
            uuid,
            username,
            email,
            groups: users::groups(&conn, user_id)?,
            two_factor: false,
        }))
    }
}

/// Everything about one request that the decision reads.
pub struct Facts<'a> {
    pub target: &'a Target,
    pub ip: IpAddr,
    /// The signed-in session's person, looked up only when a rule needs to know (a
    /// bypass by network or a closed address costs no session read).
    pub session: &'a dyn Fn() -> Result<Option<Arc<Subject>>>,
    /// A header of the original request by name (its first value): native apps send
    /// their media-server token in one. Read only when a rule takes such tokens.
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
    /// For log lines.
    pub request_id: &'a str,
    /// Live (/auth/verify) or a dry run (the tester): a dry run asks no media server,
    /// spends no rate limit and signs in to no app.
    pub live: bool,
}

/// Header name and value pairs, in the shape an HTTP response keeps them.
pub type Headers = Vec<(Cow<'static, str>, Cow<'static, str>)>;

/// What to answer.
pub enum Decision {
    /// Pass, with these headers for the app and the cookies of a login_cookie sign-in.
    Allow {
        headers: Headers,
        login_cookie: Option<String>,
    },
    /// Sign in first; `fresh`: signed in, but this app needs a second factor the
    /// session did not pass.
    SignIn { fresh: bool },
    /// Refused; `two_factor`: because the app needs a second factor not set up yet.
    Forbidden {
        message: Cow<'static, str>,
        two_factor: bool,
    },
    /// Too many unknown media tokens from this address: wait this many seconds.
    Throttled { secs: u64 },
}

fn forbidden(message: impl Into<Cow<'static, str>>) -> Decision {
    Decision::Forbidden {
        message: message.into(),
        two_factor: false,
    }
}

/// The decision for one request under `rules`.
pub fn decide(app: &App, rules: &AccessRules, facts: &Facts) -> Result<Decision> {
    let rule = rules.find(facts.target);
    let policy = rule.map_or(rules.default_policy, |r| r.spec.policy);
    if let Some(r) = rule.filter(|r| r.has_networks()) {
        let inside = r.in_networks(facts.ip);
        match r.spec.network_mode {
            NetworkMode::Bypass if inside => return allow(app, facts, rule, None),
            NetworkMode::Require if !inside => {
                return Ok(forbidden("your network is not allowed here"));
            }
            _ => {}
        }
    }
    match policy {
        Policy::Bypass => {
            let who = (facts.session)()?;
            return allow(app, facts, rule, who.as_deref());
        }
        Policy::Deny => return Ok(forbidden("this address is closed")),
        Policy::SignedIn | Policy::TwoFactor => {}
    }
    let who = match (facts.session)()? {
        Some(s) => Some(s),
        None => match native::subject(app, facts, rule, policy)? {
            native::Native::Token(s) => Some(Arc::new(s)),
            native::Native::Address => return allow(app, facts, rule, None),
            native::Native::Throttled(secs) => return Ok(Decision::Throttled { secs }),
            native::Native::Nobody => None,
        },
    };
    let Some(who) = who else {
        return Ok(Decision::SignIn { fresh: false });
    };
    if let Some(r) = rule {
        if !r.admits(&who.username, &who.uuid, &who.groups) {
            return Ok(forbidden(
                "your account is not allowed here; ask the server's owner",
            ));
        }
    }
    if policy == Policy::TwoFactor && !who.two_factor {
        let enrolled = crate::db::mfa::is_enrolled(&*app.db.conn()?, who.user_id)?;
        // A person without a session (the tester's) who is enrolled would be asked for
        // the code at sign-in.
        if !enrolled || (facts.live && who.identity_id.is_none()) {
            return Ok(Decision::Forbidden {
                message:
                    "this app needs two-factor sign-in: set it up on the portal's home page first"
                        .into(),
                two_factor: true,
            });
        }
        // Enrolled but this session predates it: a fresh sign-in asks for the code.
        return Ok(Decision::SignIn { fresh: true });
    }
    allow(app, facts, rule, Some(&who))
}

/// Pass, with the identity headers and whatever the rule injects.
fn allow(app: &App, facts: &Facts, rule: Option<&Rule>, who: Option<&Subject>) -> Result<Decision> {
    // All four always, empty when unknown: Caddy before 2.10 (Debian's 2.6) sends the app
    // the literal "{http.reverse_proxy.header.Remote-User}" for a header this answer lacks.
    let Some(who) = who else {
        let headers = [
            "Remote-User",
            "Remote-Name",
            "Remote-Email",
            "Remote-Groups",
        ]
        .map(|h| (Cow::Borrowed(h), Cow::Borrowed("")))
        .into();
        return Ok(Decision::Allow {
            headers,
            login_cookie: None,
        });
    };
    let groups = who.groups.join(",");
    let email = who.email.clone().unwrap_or_default();
    // Room for the rule's headers and the Content-Type and Cookie the answer adds.
    let mut headers: Headers = Vec::with_capacity(8 + rule.map_or(0, |r| r.spec.headers.len()));
    headers.extend([
        ("Remote-User".into(), who.username.clone().into()),
        ("Remote-Name".into(), who.username.clone().into()),
        ("Remote-Groups".into(), groups.clone().into()),
        ("Remote-Email".into(), email.clone().into()),
    ]);
    let Some(rule) = rule else {
        return Ok(Decision::Allow {
            headers,
            login_cookie: None,
        });
    };
    let values = [
        ("user", who.username.as_str()),
        ("name", who.username.as_str()),
        ("email", email.as_str()),
        ("groups", groups.as_str()),
        ("uid", who.uuid.as_str()),
    ];
    for (name, template) in &rule.spec.headers {
        set(
            &mut headers,
            Cow::Owned(name.clone()),
            render(template, &values).into(),
        );
    }
    let media = if rule.spec.sends_media_token() {
        let kind = rule.spec.media_provider(&app.providers().enabled);
        let token = kind.and_then(|k| native::token_of(app, who, k).map(|t| (k, t)));
        match kind {
            Some(kind) if token.is_none() && rule.spec.media_token_required => {
                let label = kind.label();
                return Ok(forbidden(format!(
                    "this app needs your {label} account: sign in to the portal with {label} first"
                )));
            }
            _ if token.is_none() => crate::log_debug!(
                "req={} rule {:?}: no media token to send for {}",
                facts.request_id,
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
            // A dry run shows that the token would be sent, never the token.
            let value = if facts.live {
                Cow::Owned(token.clone())
            } else {
                Cow::Borrowed("(the user's token)")
            };
            set(&mut headers, Cow::Borrowed(header), value);
        }
    }
    let login_cookie = if facts.live {
        let media_token = media.as_ref().map(|(_, t)| t.as_str());
        login_cookie::cookie(app, facts.request_id, rule, who, &values, media_token)
    } else {
        None
    };
    Ok(Decision::Allow {
        headers,
        login_cookie,
    })
}

/// Sets a header, replacing one of the same name (any case), as a response's unique
/// header would.
fn set(headers: &mut Headers, name: Cow<'static, str>, value: Cow<'static, str>) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
    headers.push((name, value));
}

/// An absolute http(s) URL cut into scheme, authority and path-and-query (at least "/").
pub fn split_url(url: &str) -> std::result::Result<(&'static str, &str, String), String> {
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

/// A request method as the rules see it: uppercase letters, at most 16.
pub fn check_method(method: &str) -> std::result::Result<(), String> {
    if !method.bytes().all(|b| b.is_ascii_uppercase()) || method.is_empty() || method.len() > 16 {
        return Err(format!("method {method:?} is not valid"));
    }
    Ok(())
}
