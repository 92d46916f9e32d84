//! Signing in with a Jellyfin or Emby password typed into the portal's form: the
//! address's budget, one attempt at a time per account, the account's back-off, the
//! server's word, and what a refusal withdraws and records.

use crate::app::App;
use crate::error::{AppError, Result};
use crate::providers::{Outcome, ProviderError, ProviderKind};

use super::{Landing, Origin, attempt, backoff};

/// Longest name and password tried (bytes); longer ones are no one's.
const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 1024;

/// The end of a password sign-in that did not fail inside the portal.
pub enum Signed {
    /// No name, or a name or password too long to be one: nothing was tried.
    Incomplete,
    /// The server vouched: where to go, and what the browser carries.
    In(Landing),
    /// The account is real but may not use the server (`username` as the server knows it).
    Denied { username: Option<String> },
    /// The server refused the name and password.
    WrongPassword,
    /// Not tried, or not answered: the address's budget is spent, the account is backing
    /// off, or the server could not answer. The form says why (and when to try again).
    Refused(AppError),
}

/// Ok when `provider` signs in with a password typed into the portal (a Jellyfin or
/// Emby server is set up); Plex signs in on plex.tv's own page.
pub fn offered(app: &App, provider: ProviderKind) -> Result<()> {
    match app.providers().media_server(provider) {
        Some(_) => Ok(()),
        None => Err(not_offered()),
    }
}

fn not_offered() -> AppError {
    AppError::bad_request("this provider signs in through its own page")
}

/// Signs `username` in with `password` at `provider`'s server; `previous` is the
/// browser's current session, which a sign-in ends.
pub fn sign_in(
    origin: &Origin,
    provider: ProviderKind,
    username: &str,
    password: &str,
    rd: Option<&str>,
    previous: Option<&[u8]>,
) -> Result<Signed> {
    let providers = origin.app.providers();
    let server = providers.media_server(provider).ok_or_else(not_offered)?;
    if username.is_empty() || username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD {
        return Ok(Signed::Incomplete);
    }
    if let Err(e) = attempt::charge(origin) {
        crate::log_warn!(
            "req={} sign-in rate limit for {}",
            origin.request_id,
            origin.ip
        );
        return Ok(Signed::Refused(e));
    }
    let _account = server.one_at_a_time(username);
    // Per account as well as per address: guesses spread over many addresses still
    // queue up behind the account's back-off (checked under its lock, so in order).
    let account = backoff::Account::new(provider, username);
    if let Err(retry_after_secs) = backoff::check(origin.app, &account) {
        crate::log_warn!(
            "req={} sign-in back-off for a {} account",
            origin.request_id,
            provider.as_str()
        );
        return Ok(Signed::Refused(AppError::Locked {
            reason: "too many failed sign-ins for this account",
            retry_after_secs,
        }));
    }
    let outcome = server.authenticate(&origin.app.http, username, password);
    origin.app.metrics.signin(provider, &outcome);
    match outcome {
        Ok(Outcome::Authorized(ident)) => {
            backoff::password_accepted(origin.app, &account);
            let landing = super::first_factor_done(origin, &ident, rd, None, previous)?
                .ok_or_else(|| AppError::internal("sign-in not recorded"))?;
            Ok(Signed::In(landing))
        }
        Ok(Outcome::Denied {
            username: who,
            account,
            log,
        }) => {
            crate::log_warn!("req={} sign-in denied: {log}", origin.request_id);
            super::withdraw_access(origin, provider, account.as_deref(), who.as_deref())?;
            super::record_failure(
                origin,
                provider.as_str(),
                who.as_deref(),
                "no access to the media server",
            );
            Ok(Signed::Denied { username: who })
        }
        Err(ProviderError::InvalidCredentials) => {
            backoff::password_refused(origin, &account, provider, username);
            crate::log_info!(
                "req={} sign-in failed: {} wrong credentials from {}",
                origin.request_id,
                provider.as_str(),
                origin.ip
            );
            Ok(Signed::WrongPassword)
        }
        Err(e) => {
            let err = attempt::refused(origin, e);
            if let Some(d) = err.log_detail() {
                crate::log_warn!(
                    "req={} sign-in with {}: {d}",
                    origin.request_id,
                    provider.as_str()
                );
            }
            Ok(Signed::Refused(err))
        }
    }
}
