//! Simple binds: who a DN and password prove to be. Service accounts and app passwords
//! are random secrets compared as SHA-256 digests in constant time; Jellyfin/Emby people
//! may (when the owner allows it) use their media-server password, checked live and never
//! stored. Failures are rate limited per address and per DN like sign-ins, and are events.

use std::net::IpAddr;

use serde_json::json;

use super::directory::{Layout, PEOPLE, SERVICES};
use super::dn::Dn;
use crate::App;
use crate::crypto::{ct_eq, sha256};
use crate::db;
use crate::event_type::EventType;
use crate::metrics::LdapBind;
use crate::providers::{Outcome, ProviderError, ProviderKind};
use crate::ratelimit::{Backoff, RateLimiter};
use crate::signin;

/// Who a connection is bound as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    Anonymous,
    /// A service account: may search the whole tree. Its row and the digest of the
    /// password it bound with, so that deleting it ends its open connections' reads.
    Service {
        dn: String,
        id: i64,
        digest: [u8; 32],
    },
    /// A person: sees their own entry and their groups. With the app password they
    /// bound with (None for a media-server password), so that revoking it ends its
    /// open connections' reads.
    Person {
        dn: String,
        user_id: i64,
        app_password: Option<i64>,
    },
}

impl Bound {
    /// The authorization id of "Who am I?" (RFC 4532): `dn:<DN>`, empty when anonymous.
    pub fn authz_id(&self) -> String {
        match self {
            Bound::Anonymous => String::new(),
            Bound::Service { dn, .. } | Bound::Person { dn, .. } => format!("dn:{dn}"),
        }
    }
}

/// Why a bind failed, as the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Wrong DN or password (never which of the two).
    InvalidCredentials,
    /// A DN with an empty password (an "unauthenticated bind", RFC 4513 section 5.1.2).
    Unauthenticated,
    /// Too many failures: from this address, or for this DN.
    TooMany { retry_after_secs: u64 },
    /// The media server (or the database) could not be asked.
    Unavailable,
}

/// The user id of no one (ids start at 1): what an unknown name is looked up as.
const NOBODY: i64 = 0;
/// What a password is compared with when the DN names no one.
const DECOY_DIGEST: [u8; 32] = [0x5a; 32];

/// Longest password looked at; longer ones are wrong without hashing them.
const MAX_PASSWORD: usize = 1024;

/// A new random secret (service account or app password) and the digest to store.
pub fn new_secret() -> (String, [u8; 32]) {
    let secret = crate::crypto::b64url(&crate::crypto::random_bytes::<24>());
    let digest = sha256(secret.as_bytes());
    (secret, digest)
}

/// The per-DN back-off key (normalized, so case and spacing cannot dodge it).
fn dn_key(dn: &Dn) -> String {
    let parts: Vec<String> =
        dn.0.iter()
            .map(|r| format!("{}={}", r.attr, r.value.to_lowercase()))
            .collect();
    format!("ldap:{}", parts.join(","))
}

fn backoff(app: &App) -> &Backoff {
    &app.limits.ldap_dn
}

/// The per-address budget of guessable binds (its own, not the sign-in page's).
fn budget(app: &App) -> &RateLimiter {
    &app.limits.ldap_bind
}

/// Checks a simple bind from `ip`.
pub fn simple(
    app: &App,
    layout: &Layout,
    ip: IpAddr,
    dn: &str,
    password: &str,
) -> Result<Bound, Refused> {
    if dn.trim().is_empty() {
        // RFC 4513: an empty name with an empty password is an anonymous bind.
        return if password.is_empty() {
            Ok(Bound::Anonymous)
        } else {
            Err(Refused::InvalidCredentials)
        };
    }
    if password.is_empty() {
        return Err(Refused::Unauthenticated);
    }
    let parsed = Dn::parse(dn);
    let key = parsed
        .as_ref()
        .map(dn_key)
        .unwrap_or_else(|| "ldap:?".into());
    let outcome = match &parsed {
        Some(d) if password.len() <= MAX_PASSWORD => check(app, layout, d),
        _ => Ok(None),
    }
    .and_then(|found| verify(app, ip, &key, found, password));
    record(app, ip, dn, &outcome);
    outcome
}

/// Random secrets (service accounts, app passwords: 192 bits) cannot be guessed, so a
/// right one is never refused: no one can lock an app out by failing binds with its DN
/// or from its address. Everything else is a guess and is limited like a sign-in: per
/// address (charged per attempt, refunded on success) and per DN (back-off).
fn verify(
    app: &App,
    ip: IpAddr,
    key: &str,
    found: Option<Candidate>,
    password: &str,
) -> Result<Bound, Refused> {
    let media = match found {
        Some(c) => match c.verify_random(app, password) {
            Ok(bound) => {
                backoff(app).succeed(key);
                return Ok(bound);
            }
            Err(media) => media,
        },
        None => {
            // The digest and comparison a known DN's password costs.
            let digest = sha256(password.as_bytes());
            std::hint::black_box(ct_eq(&DECOY_DIGEST, &digest));
            None
        }
    };
    // A media password is the one the sign-in page takes: one back-off per account for both.
    let accounts = media
        .as_ref()
        .map(MediaCheck::signin_accounts)
        .unwrap_or_default();
    let now_ms = app.clock.now_ms();
    budget(app)
        .check_ip(ip, now_ms)
        .and_then(|()| backoff(app).check(key, now_ms))
        .and_then(|()| {
            accounts
                .iter()
                .try_for_each(|a| signin::backoff::check(app, a))
        })
        .map_err(|retry_after_secs| Refused::TooMany { retry_after_secs })?;
    let checked = match media {
        Some(m) => m.verify(app, password),
        None => Ok(None),
    };
    match checked {
        Ok(Some(bound)) => {
            budget(app).refund_ip(ip);
            backoff(app).succeed(key);
            for a in &accounts {
                signin::backoff::password_accepted(app, a);
            }
            Ok(bound)
        }
        Ok(None) => {
            backoff(app).fail(key, app.clock.now_ms());
            for a in &accounts {
                signin::backoff::refused_elsewhere(app, a);
            }
            Err(Refused::InvalidCredentials)
        }
        Err(e) => {
            // The media server did not answer: not the client's failure.
            budget(app).refund_ip(ip);
            Err(e)
        }
    }
}

/// The connection's identity as it stands now: a service account deleted (or made
/// anew under its name), an app password revoked or a person's access withdrawn since
/// the bind leaves the connection anonymous. Asked before each operation, as apps keep
/// connections open for hours.
pub fn recheck(app: &App, bound: Bound) -> Bound {
    if bound == Bound::Anonymous {
        return bound;
    }
    let still = |c: &rusqlite::Connection| -> crate::error::Result<bool> {
        Ok(match &bound {
            Bound::Anonymous => true,
            Bound::Service { id, digest, .. } => {
                db::ldap::service_digest(c, *id)?.is_some_and(|d| ct_eq(&d, digest))
            }
            Bound::Person {
                user_id,
                app_password,
                ..
            } => {
                db::users::still_authorized(c, *user_id)?
                    && match app_password {
                        Some(id) => db::ldap::app_password_exists(c, *user_id, *id)?,
                        None => true,
                    }
            }
        })
    };
    match app.db.conn().and_then(|c| still(&c)) {
        Ok(true) => bound,
        Ok(false) => Bound::Anonymous,
        Err(e) => {
            // Fail closed: the next operation asks again.
            crate::log_error!("ldap: cannot check a bound identity: {e:?}");
            Bound::Anonymous
        }
    }
}

/// Whom a DN names, before the password is checked.
enum Candidate {
    Service {
        id: i64,
        dn: String,
        digest: Vec<u8>,
    },
    Person {
        user_id: i64,
        dn: String,
        app_passwords: Vec<(i64, Vec<u8>)>,
        /// Jellyfin/Emby accounts whose password may be used (empty when not allowed).
        media: Vec<db::ldap::MediaAccount>,
    },
}

/// Looks up the account a DN names (services or people with server access).
fn check(app: &App, layout: &Layout, dn: &Dn) -> Result<Option<Candidate>, Refused> {
    let internal = |e: crate::error::AppError| {
        crate::log_error!("ldap: bind lookup failed: {e:?}");
        Refused::Unavailable
    };
    let base = layout.base_dn();
    let conn = app.db.conn().map_err(internal)?;
    if let Some(("cn", name)) = dn.leaf_below(&base.child("ou", SERVICES)) {
        let found = db::ldap::service_secret(&conn, name).map_err(internal)?;
        return Ok(found.map(|(id, digest)| Candidate::Service {
            id,
            dn: layout.service_dn(name),
            digest,
        }));
    }
    // Any other DN is read as a person's that does not exist, at the same cost.
    let name = match dn.leaf_below(&base.child("ou", PEOPLE)) {
        Some(("uid", name)) => name,
        _ => "",
    };
    let found = db::users::id_by_username(&conn, name).map_err(internal)?;
    // Someone unknown costs the lookups someone known does (as NOBODY, who has no rows):
    // how long a bind takes must not tell which names exist.
    let user_id = found.unwrap_or(NOBODY);
    let authorized = db::users::still_authorized(&conn, user_id).map_err(internal)?;
    let profile = db::users::profile(&conn, user_id).map_err(internal)?;
    let allowed = super::settings::in_force(&app.config, &conn)
        .map_err(internal)?
        .media_password_bind;
    // People with a second factor bind only with app passwords.
    let enrolled = db::mfa::is_enrolled(&conn, user_id).map_err(internal)?;
    let media = if allowed && !enrolled {
        db::ldap::media_accounts(&conn, user_id).map_err(internal)?
    } else {
        Vec::new()
    };
    let app_passwords = db::ldap::app_password_digests(&conn, user_id).map_err(internal)?;
    let (Some(user_id), true, Some((_, username, _))) = (found, authorized, profile) else {
        return Ok(None);
    };
    Ok(Some(Candidate::Person {
        user_id,
        dn: layout.person_dn(&username),
        app_passwords,
        media,
    }))
}

/// A person's media-server accounts, to try a password against when no app password
/// matched.
struct MediaCheck {
    user_id: i64,
    dn: String,
    accounts: Vec<db::ldap::MediaAccount>,
}

impl Candidate {
    /// The bound identity when the password is the service's or one of the person's app
    /// passwords (noting when it was used); else what may still be tried.
    fn verify_random(self, app: &App, password: &str) -> Result<Bound, Option<MediaCheck>> {
        let digest = sha256(password.as_bytes());
        let now = app.clock.now();
        match self {
            Candidate::Service { id, dn, digest: d } => {
                if !ct_eq(&d, &digest) {
                    return Err(None);
                }
                touch(app, |c| db::ldap::touch_service(c, id, now));
                Ok(Bound::Service { dn, id, digest })
            }
            Candidate::Person {
                user_id,
                dn,
                app_passwords,
                media,
            } => {
                // Compare with every one, so timing does not say which (or how many).
                let matched = app_passwords.iter().fold(None, |found, (id, d)| {
                    if ct_eq(d, &digest) { Some(*id) } else { found }
                });
                if let Some(id) = matched {
                    touch(app, |c| db::ldap::touch_app_password(c, id, now));
                    return Ok(Bound::Person {
                        dn,
                        user_id,
                        app_password: Some(id),
                    });
                }
                Err((!media.is_empty()).then_some(MediaCheck {
                    user_id,
                    dn,
                    accounts: media,
                }))
            }
        }
    }
}

impl MediaCheck {
    /// The sign-in page's back-off keys of the accounts whose password is tried.
    fn signin_accounts(&self) -> Vec<signin::backoff::Account> {
        self.accounts
            .iter()
            .filter_map(|a| {
                ProviderKind::parse(&a.provider)
                    .map(|kind| signin::backoff::Account::new(kind, &a.username))
            })
            .collect()
    }

    /// Some(person) when a media server takes the password; Err when none that was
    /// asked could answer.
    fn verify(self, app: &App, password: &str) -> Result<Option<Bound>, Refused> {
        let mut unanswered = false;
        for account in &self.accounts {
            match media_password_ok(app, account, password) {
                Ok(true) => {
                    return Ok(Some(Bound::Person {
                        dn: self.dn,
                        user_id: self.user_id,
                        app_password: None,
                    }));
                }
                Ok(false) => {}
                Err(_) => unanswered = true,
            }
        }
        if unanswered {
            Err(Refused::Unavailable)
        } else {
            Ok(None)
        }
    }
}

/// Records a last use; a failure to write it does not fail the bind.
fn touch(app: &App, f: impl FnOnce(&rusqlite::Connection) -> crate::error::Result<()>) {
    if let Err(e) = app.db.conn().and_then(|c| f(&c)) {
        crate::log_warn!("ldap: cannot note a credential's last use: {e:?}");
    }
}

/// Asks the media server whether this is the account's password (the provider's own
/// sign-in call, so its rules on disabled users apply), and that it is the same account.
fn media_password_ok(
    app: &App,
    account: &db::ldap::MediaAccount,
    password: &str,
) -> Result<bool, ProviderError> {
    let Some(kind) = ProviderKind::parse(&account.provider) else {
        return Ok(false);
    };
    let providers = app.providers();
    let Some(server) = providers.media_server(kind) else {
        return Ok(false);
    };
    let _one = server.one_at_a_time(&account.username);
    let outcome = server.authenticate(&app.http, &account.username, password);
    app.metrics.signin(kind, &outcome);
    match outcome {
        Ok(Outcome::Authorized(ident)) if ident.provider_user_id == account.provider_user_id => {
            keep_token(app, &ident);
            Ok(true)
        }
        Ok(Outcome::Authorized(_)) => Ok(false),
        Ok(Outcome::Denied { log, .. }) => {
            crate::log_info!("ldap: media password bind denied: {log}");
            Ok(false)
        }
        Err(ProviderError::InvalidCredentials) => Ok(false),
        // Not an answer about the password: the bind is "unavailable", not wrong.
        Err(e @ (ProviderError::Unreachable(_) | ProviderError::RateLimited)) => {
            crate::log_warn!("ldap: media password bind: {e}");
            Err(e)
        }
        Err(e) => {
            crate::log_warn!("ldap: media password bind: {e}");
            Ok(false)
        }
    }
}

/// Keeps the token the password check was answered with, as a sign-in does: a media
/// server may end the portal's earlier token for the same device when it issues a new
/// one, and re-validation asks with the stored token.
fn keep_token(app: &App, ident: &crate::providers::Identity) {
    let purpose = format!(
        "provider-token:{}:{}",
        ident.provider.as_str(),
        ident.provider_user_id
    );
    let sealed = app.sealer.seal(&purpose, ident.token.as_bytes());
    let stored = app.db.with_tx(|tx| {
        db::ldap::store_media_token(
            tx,
            ident.provider.as_str(),
            &ident.provider_user_id,
            &sealed,
        )
    });
    if let Err(e) = stored {
        crate::log_warn!("ldap: cannot keep the media server's new token: {e:?}");
    }
}

/// The `ldap.bind.success|failure` event and the bind counter. Binds refused for being
/// over the limit are counted but not events: a flood must not fill the audit log.
fn record(app: &App, ip: IpAddr, dn: &str, outcome: &Result<Bound, Refused>) {
    let ok = outcome.is_ok();
    app.metrics.ldap_bind(match outcome {
        Ok(_) => LdapBind::Success,
        Err(Refused::TooMany { .. }) => LdapBind::Limited,
        Err(_) => LdapBind::Failure,
    });
    if let Err(Refused::TooMany { .. }) = outcome {
        crate::log_warn!("ldap: bind rate limit for {ip}");
        return;
    }
    let (kind, user_id, detail) = match outcome {
        Ok(Bound::Person { user_id, .. }) => (
            EventType::LdapBindSuccess,
            Some(*user_id),
            json!({ "dn": dn, "as": "person" }),
        ),
        Ok(_) => (
            EventType::LdapBindSuccess,
            None,
            json!({ "dn": dn, "as": "service" }),
        ),
        Err(why) => (
            EventType::LdapBindFailure,
            None,
            json!({ "dn": truncate(dn), "reason": reason(why) }),
        ),
    };
    let origin = crate::signin::Origin {
        app,
        now: app.clock.now(),
        ip,
        user_agent: None,
        request_id: "ldap",
    };
    if let Err(e) = app
        .db
        .with_tx(|tx| origin.record(tx, kind, user_id, ok, detail))
    {
        crate::log_error!("ldap: cannot record a bind event: {e:?}");
    }
    if !ok {
        crate::log_info!("ldap: bind refused from {ip}");
    }
}

fn reason(r: &Refused) -> &'static str {
    match r {
        Refused::InvalidCredentials => "invalid credentials",
        Refused::Unauthenticated => "empty password",
        Refused::TooMany { .. } => "too many failed binds",
        Refused::Unavailable => "media server or database unavailable",
    }
}

/// A DN a client sent, cut to a length an event may hold.
fn truncate(dn: &str) -> String {
    dn.chars().take(256).collect()
}
