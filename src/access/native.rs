//! Native apps (TV and phone apps that cannot show the portal's sign-in): who a request
//! without a session is, from a media-server token it carries or from an address an
//! allowed person signed in from recently (a rule's `native_apps`).

use super::decide::{Facts, Subject};
use super::{Policy, Rule, Target};
use crate::app::App;
use crate::crypto::sha256;
use crate::db::users;
use crate::error::Result;
use crate::providers::ProviderKind;

/// How a request without a session may still come in.
pub enum Native {
    /// A media-server token the portal checked: its owner.
    Token(Subject),
    /// An address an allowed person signed in from recently. It passes as no one: an
    /// address is not a person (a household's TV is not its owner).
    Address,
    /// Too many unknown tokens from this address: wait this many seconds.
    Throttled(u64),
    Nobody,
}

/// A validated media-server token, or an address an allowed user signed in from
/// recently, when the matching rule opts in. A dry run checks no token.
pub fn subject(app: &App, facts: &Facts, rule: Option<&Rule>, policy: Policy) -> Result<Native> {
    let Some(rule) = rule else {
        return Ok(Native::Nobody);
    };
    let native = &rule.spec.native_apps;
    if native.media_token && facts.live {
        if let Some((kind, token)) = media_token(facts, facts.target) {
            match token_owner(app, facts, kind, &token)? {
                TokenLookup::Throttled(secs) => return Ok(Native::Throttled(secs)),
                TokenLookup::Owner(Some(user_id)) => {
                    if let Some(s) = Subject::of_user(app, user_id)? {
                        return Ok(Native::Token(s));
                    }
                }
                TokenLookup::Owner(None) => {}
            }
        }
    }
    // An address proves no second factor.
    if native.trusted_ip_hours > 0 && policy != Policy::TwoFactor {
        let now = app.clock.now();
        let since = now - i64::from(native.trusted_ip_hours) * 3600;
        let candidates = crate::db::signin_ips::users_signed_in_from(
            &*app.db.conn()?,
            &facts.ip.to_string(),
            since,
        )?;
        for user_id in candidates {
            if let Some(s) = Subject::of_user(app, user_id)? {
                if rule.admits(&s.username, &s.uuid, &s.groups) {
                    return Ok(Native::Address);
                }
            }
        }
    }
    Ok(Native::Nobody)
}

/// A media-server token the original request carries, and whose it would be. Plex
/// tokens come as X-Plex-Token; Jellyfin tokens in any form Jellyfin and Emby clients
/// send, legacy ones included. Emby tokens look the same, but Emby cannot say whose a
/// token is, so they are checked with Jellyfin or not at all.
fn media_token(facts: &Facts, target: &Target) -> Option<(ProviderKind, String)> {
    let h = |name: &str| {
        (facts.header)(name)
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
    let from_header = |name: &str| (facts.header)(name).and_then(media_browser_token);
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
fn token_owner(app: &App, facts: &Facts, kind: ProviderKind, token: &str) -> Result<TokenLookup> {
    let digest = sha256(format!("{}:{token}", kind.as_str()).as_bytes()).to_vec();
    let now_ms = app.clock.now_ms();
    if let Some(owner) = app.access_cache.token(&digest, now_ms) {
        return Ok(TokenLookup::Owner(owner));
    }
    let providers = app.providers();
    let checker = match kind {
        ProviderKind::Plex => providers.plex.is_some(),
        _ => providers.jellyfin.is_some(),
    };
    if !checker {
        return Ok(TokenLookup::Owner(None));
    }
    if let Err(wait_secs) = app.limits.media_token.check_ip(facts.ip, now_ms) {
        return Ok(TokenLookup::Throttled(wait_secs));
    }
    let account = match kind {
        ProviderKind::Plex => providers
            .plex
            .as_ref()
            .map(|p| p.account_of(&app.http, token)),
        _ => providers
            .jellyfin
            .as_ref()
            .map(|j| j.account_of(&app.http, token)),
    };
    let owner = match account {
        None => None,
        Some(Ok(account)) => {
            users::find_identity(&*app.db.conn()?, kind.as_str(), Some(&account), None)?
                .map(|(_, user_id)| user_id)
        }
        // Unreachable is not "refused": answer no now, but do not remember it.
        Some(Err(crate::providers::ProviderError::Unreachable(d))) => {
            crate::log_warn!("req={} media token check: {d}", facts.request_id);
            return Ok(TokenLookup::Owner(None));
        }
        Some(Err(_)) => None,
    };
    app.access_cache.remember_token(digest, owner, now_ms);
    Ok(TokenLookup::Owner(owner))
}

/// The user's own token (sealed at rest) from their `kind` identity: the one they signed
/// in with if it is of that kind, else the latest. None when they have no such identity.
pub fn token_of(app: &App, who: &Subject, kind: ProviderKind) -> Option<String> {
    let conn = app.db.conn().ok()?;
    let (account, sealed) =
        users::provider_token_sealed(&conn, who.user_id, kind.as_str(), who.identity_id).ok()??;
    let token = app
        .sealer
        .open(
            &format!("provider-token:{}:{account}", kind.as_str()),
            &sealed,
        )
        .ok()?;
    String::from_utf8(token).ok()
}
