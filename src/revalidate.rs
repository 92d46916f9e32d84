//! Server access that stays true: the `revalidate` thread asks the media servers again,
//! every `revalidation.interval_minutes`, whether each user with a live session or
//! refresh token may still use the server (Plex: the owner's server is among their
//! resources, or they own it; Jellyfin/Emby: the account exists and is enabled). A "no"
//! ends their sessions, tokens and trusted addresses at once; an unreachable server
//! keeps access for `grace_hours` after the last confirmation, then ends it too.
//! A failed check concerns that account only; only a server that does not answer at
//! all spares its other users the wait (within their grace) for the rest of the pass.
//! Requests to plex.tv are bounded per minute, with back-off when plex.tv says 429.
//! Jellyfin with an API key is asked once per pass for every user (GET /Users), and
//! with PLEX_OWNER_TOKEN plex.tv's list of who the server is shared with confirms those
//! accounts in one request (the others are asked one by one); else
//! the owner's Jellyfin or Emby is asked account by account, spread over the interval
//! and never more than `media_requests_per_second`. A pass stops at its interval (the rest wait for the next
//! one, least recently checked first) and the console says when a pass cannot finish.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::app::App;
use crate::db::revalidation::{self as store, InUse};
use crate::error::Result;
use crate::event_type::EventType;
use crate::providers::{Outcome, ProviderError, ProviderKind};
use crate::ratelimit::RateLimiter;

/// What a pass remembers for the next one.
#[derive(Default)]
pub struct State {
    /// plex.tv requests per minute, rebuilt when the setting changes: (rate, limiter).
    plex_limit: Mutex<Option<(i64, Arc<RateLimiter>)>>,
    /// After a 429 from plex.tv: no Plex checks before this time (ms), doubling each time.
    plex_backoff: Mutex<(i64, i64)>,
    /// Identity id -> when its own check last failed (s). Such accounts queue as if just
    /// checked, so accounts that keep failing cannot stay at the head of every pass.
    failed: Mutex<HashMap<i64, i64>>,
}

/// Requests one Plex check makes (the user, then their resources).
const PLEX_REQUESTS_PER_CHECK: u32 = 2;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub checked: usize,
    pub confirmed: usize,
    pub revoked: usize,
    /// Kept although the server could not be asked (within the grace period).
    pub kept_in_grace: usize,
    /// Left for the next pass (plex.tv request bound or back-off).
    pub deferred: usize,
    /// Not revoked after all: signed in or confirmed again while the pass ran (or
    /// already withdrawn by a sign-in refusal meanwhile).
    pub confirmed_meanwhile: usize,
    pub errors: Vec<String>,
    /// Why a pass cannot ask everyone within its interval (for the console), if so.
    pub behind: Option<String>,
}

/// What the servers that can list their users (Jellyfin with an API key) answered, once
/// per pass instead of once per account: user id (no dashes, lowercase) -> outcome.
type Listing = std::result::Result<HashMap<String, Outcome>, ProviderError>;

/// Spaces the requests to the owner's Jellyfin or Emby when accounts are asked one by one.
struct Pace {
    gap: Duration,
    next: Instant,
}

impl Pace {
    /// `spread_over`: the time to spread `requests` over (a scheduled pass: most of its
    /// interval), never faster than `per_second`.
    fn new(per_second: i64, requests: usize, spread_over: Option<Duration>) -> Pace {
        Pace {
            gap: pace_gap(per_second, requests, spread_over),
            next: Instant::now(),
        }
    }

    fn wait(&mut self) {
        let now = Instant::now();
        if self.next > now {
            std::thread::sleep(self.next - now);
        }
        self.next = self.next.max(now) + self.gap;
    }
}

pub fn spawn(app: Arc<App>, stop: Arc<AtomicBool>) -> std::result::Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name("revalidate".into())
        .spawn(move || {
            // Monotonic time: moving the app's clock (tests) never starts a pass by itself.
            let mut last = Instant::now();
            let mut every = interval(&app);
            let mut looked = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                // The setting is read again every few seconds, not on every wake-up.
                if looked.elapsed() >= Duration::from_secs(10) {
                    every = interval(&app);
                    looked = Instant::now();
                }
                if last.elapsed() >= every {
                    last = Instant::now();
                    if let Err(e) = run(&app, Spread::OverInterval) {
                        crate::log_error!("revalidate: {e}");
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the revalidate thread: {e}"))
}

fn interval(app: &App) -> Duration {
    let minutes = app
        .db
        .conn()
        .and_then(|c| crate::settings::revalidation(&c))
        .map_or(15, |s| s.interval_minutes);
    minutes_of(minutes)
}

/// The time between two account checks: spread evenly over `spread_over` when given,
/// never less than the bound's 1/`per_second`.
fn pace_gap(per_second: i64, requests: usize, spread_over: Option<Duration>) -> Duration {
    let bound = Duration::from_secs(1) / per_second.clamp(1, 1000) as u32;
    let spread = match spread_over {
        Some(d) if requests > 0 => d / u32::try_from(requests).unwrap_or(u32::MAX),
        _ => Duration::ZERO,
    };
    bound.max(spread)
}

fn minutes_of(minutes: i64) -> Duration {
    Duration::from_secs(minutes.max(1) as u64 * 60)
}

/// Why a pass asking `one_by_one` accounts of Jellyfin/Emby and `plex` of Plex cannot
/// finish within its interval at the configured rates, if it cannot.
fn behind(
    one_by_one: usize,
    plex: usize,
    settings: &crate::settings::Revalidation,
) -> Option<String> {
    let media_secs = one_by_one as f64 / settings.media_requests_per_second.max(1) as f64;
    let plex_secs = (plex as f64 * f64::from(PLEX_REQUESTS_PER_CHECK)) * 60.0
        / settings.plex_requests_per_minute.max(1) as f64;
    let needed = media_secs.max(plex_secs);
    let interval = settings.interval_minutes as f64 * 60.0;
    (needed > interval).then(|| {
        let (what, hint) = if media_secs >= plex_secs {
            (
                format!(
                    "{one_by_one} Jellyfin/Emby accounts one by one at {} a second",
                    settings.media_requests_per_second
                ),
                "a Jellyfin API key (JELLYFIN_API_KEY) lets one request answer for everyone",
            )
        } else {
            (
                format!(
                    "{plex} Plex accounts at {} plex.tv requests a minute",
                    settings.plex_requests_per_minute
                ),
                "raise revalidation.plex_requests_per_minute if plex.tv allows it",
            )
        };
        format!(
            "a pass needs about {} minutes to ask {what}, longer than the {}-minute interval: \
             accounts not reached are asked first in the next pass; {hint}",
            (needed / 60.0).ceil(),
            settings.interval_minutes
        )
    })
}

/// With PLEX_OWNER_TOKEN, the accounts plex.tv lists the server as shared with (one
/// request from the plex.tv budget), when any target is a Plex account. A failure only
/// means the accounts are asked one by one, as without the token.
fn plex_shares(
    app: &App,
    targets: &[InUse],
    settings: &crate::settings::Revalidation,
    pass: &mut Pass,
) -> HashSet<String> {
    let providers = app.providers();
    let Some(plex) = providers.plex.as_ref().filter(|p| p.lists_shares()) else {
        return HashSet::new();
    };
    let wanted = targets
        .iter()
        .any(|t| t.provider == ProviderKind::Plex.as_str());
    if !wanted || !plex_budget(app, settings.plex_requests_per_minute, 1) {
        return HashSet::new();
    }
    match plex.shared_with(&app.http) {
        Ok(ids) => ids,
        Err(e) => {
            if e == ProviderError::RateLimited {
                plex_slow_down(app);
            }
            note_error(pass, format!("plex: the list of shares: {e}"));
            HashSet::new()
        }
    }
}

/// Asks each server that can list its users, once, if any of `targets` is its.
fn listings(app: &App, targets: &[InUse]) -> HashMap<ProviderKind, Listing> {
    let providers = app.providers();
    let mut out = HashMap::new();
    for kind in [ProviderKind::Jellyfin, ProviderKind::Emby] {
        let Some(server) = providers.media_server(kind).filter(|s| s.lists_users()) else {
            continue;
        };
        if targets.iter().any(|t| t.provider == kind.as_str()) {
            out.insert(kind, server.list_users(&app.http));
        }
    }
    out
}

/// How a check ended.
enum Verdict {
    Confirmed,
    Lost(String),
    /// The server could not say about this account; `why` is for the console and the
    /// log. `unreachable`: the request did not get through (or got a 5xx), so the
    /// server itself may be down.
    Unknown {
        why: String,
        unreachable: bool,
    },
    /// Nothing to ask with (no stored token): held to the grace period like Unknown,
    /// but says nothing about the server, so other users are still asked.
    Unaskable(String),
    /// Not asked: its server was found down earlier in this pass and the account is
    /// within its grace period, so asking (and waiting for a timeout) could not change
    /// anything.
    NotAsked,
    /// Not checked now (bounded rate, back-off, provider not in use).
    Deferred,
}

/// How a pass paces the accounts it asks one by one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Spread {
    /// As fast as the bound allows (a pass asked for now).
    No,
    /// Evenly over most of the interval (the scheduled pass), so the owner's server sees
    /// a trickle rather than a burst every interval.
    OverInterval,
}

/// Of the interval, the part a scheduled pass spreads its checks over (the rest absorbs
/// slow answers before the next pass is due).
const SPREAD_SHARE: f64 = 0.9;

/// One pass over every identity in use, now, at the bounded rate. Public so tests (and
/// an owner's script through the API, later) can run one instead of waiting.
pub fn run_once(app: &App) -> Result<Pass> {
    run(app, Spread::No)
}

fn run(app: &App, spread: Spread) -> Result<Pass> {
    let now = app.clock.now();
    let settings = crate::settings::revalidation(&*app.db.conn()?)?;
    let grace = settings.grace_hours * 3600;
    let targets = in_turn(app, store::in_use(&*app.db.conn()?, now)?);
    let mut pass = Pass::default();
    let deadline = Instant::now() + minutes_of(settings.interval_minutes);
    let listed = listings(app, &targets);
    let shared = plex_shares(app, &targets, &settings, &mut pass);
    let count = |kinds: &[ProviderKind]| {
        targets
            .iter()
            .filter(|t| {
                ProviderKind::parse(&t.provider)
                    .is_some_and(|k| kinds.contains(&k) && !listed.contains_key(&k))
                    && !shared.contains(&t.provider_user_id)
            })
            .count()
    };
    let one_by_one = count(&[ProviderKind::Jellyfin, ProviderKind::Emby]);
    pass.behind = behind(one_by_one, count(&[ProviderKind::Plex]), &settings);
    if let Some(why) = &pass.behind {
        crate::log_warn!("revalidate: {why}");
    }
    let spread_over = (spread == Spread::OverInterval)
        .then(|| minutes_of(settings.interval_minutes).mul_f64(SPREAD_SHARE));
    let mut pace = Pace::new(settings.media_requests_per_second, one_by_one, spread_over);
    // Providers found down in this pass: their other users within grace are not asked
    // (each would wait for the timeout). Only a server that does not answer at all is
    // "down"; one account's bad answer says nothing about the others.
    let mut down: HashSet<String> = HashSet::new();
    for t in &targets {
        let past_grace = now - t.confirmed_at > grace;
        let verdict = if Instant::now() >= deadline {
            // The next pass is due: the rest are asked first then.
            Verdict::Deferred
        } else if down.contains(&t.provider) && !past_grace {
            Verdict::NotAsked
        } else {
            let v = check(
                app,
                t,
                settings.plex_requests_per_minute,
                &listed,
                &shared,
                &mut pace,
            );
            if let Verdict::Unknown { why, unreachable } = &v {
                note_error(&mut pass, format!("{}: {why}", t.provider));
                if *unreachable && !down.contains(&t.provider) && !answers(app, t, &settings) {
                    down.insert(t.provider.clone());
                }
            }
            v
        };
        remember(app, t, &verdict, now);
        if !matches!(verdict, Verdict::Deferred) {
            pass.checked += 1;
        }
        apply(app, t, verdict, past_grace, now, &mut pass)?;
    }
    save_status(app, &pass, now)?;
    if pass.revoked > 0 || !pass.errors.is_empty() {
        crate::log_info!(
            "revalidate: checked {}, revoked {}, kept in grace {}, deferred {}{}",
            pass.checked,
            pass.revoked,
            pass.kept_in_grace,
            pass.deferred,
            pass.errors
                .first()
                .map(|e| format!("; {e}"))
                .unwrap_or_default()
        );
    }
    Ok(pass)
}

/// Acts on one account's verdict. Only its own answer can end its access: a "no", or
/// its own check failing once its own last confirmation is older than the grace period.
fn apply(
    app: &App,
    t: &InUse,
    verdict: Verdict,
    past_grace: bool,
    now: i64,
    pass: &mut Pass,
) -> Result<()> {
    let why = match verdict {
        Verdict::Confirmed => {
            store::confirmed(&*app.db.conn()?, t.identity_id, now)?;
            pass.confirmed += 1;
            return Ok(());
        }
        Verdict::Deferred => {
            pass.deferred += 1;
            return Ok(());
        }
        // NotAsked: never judged on another account's failure (and only given within
        // grace: accounts past it are asked even when their server is down).
        Verdict::NotAsked => {
            pass.kept_in_grace += 1;
            return Ok(());
        }
        Verdict::Unknown { .. } | Verdict::Unaskable(_) if !past_grace => {
            pass.kept_in_grace += 1;
            return Ok(());
        }
        Verdict::Lost(why) => why,
        Verdict::Unknown { why, .. } | Verdict::Unaskable(why) => {
            format!("the server could not confirm access for longer than the grace period ({why})")
        }
    };
    if revoke(app, t, &why, now)? {
        pass.revoked += 1;
    } else {
        pass.confirmed_meanwhile += 1;
    }
    Ok(())
}

/// One line per distinct error: a few accounts failing the same way stay one line.
fn note_error(pass: &mut Pass, e: String) {
    if !pass.errors.contains(&e) {
        pass.errors.push(e);
    }
}

/// After one account's request did not get through: does the server answer at all?
/// Only a "no" here marks the provider down for the rest of the pass.
fn answers(app: &App, t: &InUse, settings: &crate::settings::Revalidation) -> bool {
    let providers = app.providers();
    match ProviderKind::parse(&t.provider) {
        Some(ProviderKind::Plex) => match providers.plex.as_ref() {
            // The probe is a plex.tv request like any other: no budget, no verdict on
            // plex.tv, so treat it as down for this pass (the others keep their grace).
            Some(plex) => {
                plex_budget(app, settings.plex_requests_per_minute, 1)
                    && plex.reachable(&app.http).is_ok()
            }
            None => false,
        },
        Some(kind) => providers
            .media_server(kind)
            .is_some_and(|server| server.reachable(&app.http).is_ok()),
        None => false,
    }
}

/// Least recently asked first (so a bounded pass is fair), where an account whose own
/// check failed counts as asked at that failure: accounts that always fail go to the
/// back instead of taking the plex.tv budget first in every pass. In memory only; after
/// a restart they are asked first once more.
fn in_turn(app: &App, mut targets: Vec<InUse>) -> Vec<InUse> {
    let mut failed = app
        .revalidation
        .failed
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let live: HashSet<i64> = targets.iter().map(|t| t.identity_id).collect();
    failed.retain(|id, _| live.contains(id));
    targets.sort_by_key(|t| {
        let checked = t.checked_at.unwrap_or(0);
        let failed_at = failed.get(&t.identity_id).copied();
        // On a tie (failed in the same pass the others were confirmed) the failed go last.
        let failed_last = failed_at.is_some_and(|f| f >= checked);
        (
            checked.max(failed_at.unwrap_or(0)),
            failed_last,
            t.identity_id,
        )
    });
    targets
}

/// Keeps `failed` (the queue order) up to date with this account's verdict.
fn remember(app: &App, t: &InUse, verdict: &Verdict, now: i64) {
    let mut failed = app
        .revalidation
        .failed
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    match verdict {
        Verdict::Unknown { .. } => {
            failed.insert(t.identity_id, now);
        }
        Verdict::Confirmed | Verdict::Lost(_) => {
            failed.remove(&t.identity_id);
        }
        Verdict::Unaskable(_) | Verdict::NotAsked | Verdict::Deferred => {}
    }
}

fn check(
    app: &App,
    t: &InUse,
    plex_rate: i64,
    listed: &HashMap<ProviderKind, Listing>,
    plex_shared: &HashSet<String>,
    pace: &mut Pace,
) -> Verdict {
    let Some(kind) = ProviderKind::parse(&t.provider) else {
        return Verdict::Deferred;
    };
    let token = t.token_sealed.as_deref().and_then(|sealed| {
        let purpose = format!("provider-token:{}:{}", t.provider, t.provider_user_id);
        app.sealer
            .open(&purpose, sealed)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    });
    let providers = app.providers();
    let answer = match kind {
        ProviderKind::Plex => {
            let Some(plex) = providers.plex.as_ref() else {
                return Verdict::Deferred;
            };
            if plex_shared.contains(&t.provider_user_id) {
                return Verdict::Confirmed;
            }
            let Some(token) = token else {
                return Verdict::Unaskable("no stored Plex token for this account".into());
            };
            if !plex_budget(app, plex_rate, PLEX_REQUESTS_PER_CHECK) {
                return Verdict::Deferred;
            }
            let answer = plex.authorize(&app.http, &token);
            if !matches!(answer, Err(ProviderError::RateLimited)) {
                // plex.tv answers again: the next 429 starts the back-off from a minute.
                app.revalidation
                    .plex_backoff
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .1 = 0;
            }
            answer
        }
        ProviderKind::Jellyfin | ProviderKind::Emby if listed.contains_key(&kind) => {
            match &listed[&kind] {
                Ok(users) => {
                    let id = t.provider_user_id.replace('-', "").to_ascii_lowercase();
                    Ok(users.get(&id).cloned().unwrap_or_else(|| Outcome::Denied {
                        username: None,
                        account: Some(t.provider_user_id.clone()),
                        log: format!(
                            "{} user {} no longer exists",
                            kind.label(),
                            t.provider_user_id
                        ),
                    }))
                }
                Err(e) => Err(e.clone()),
            }
        }
        ProviderKind::Jellyfin | ProviderKind::Emby => {
            let Some(server) = providers.media_server(kind) else {
                return Verdict::Deferred;
            };
            if token.is_none() && !server.has_api_key() {
                return Verdict::Unaskable(format!(
                    "no stored {} token for this account and no API key",
                    kind.label()
                ));
            }
            pace.wait();
            server.check_user(&app.http, &t.provider_user_id, token.as_deref())
        }
    };
    match answer {
        Ok(Outcome::Authorized(ident)) if ident.provider_user_id == t.provider_user_id => {
            Verdict::Confirmed
        }
        Ok(Outcome::Authorized(_)) => {
            Verdict::Lost("the stored token names another account".into())
        }
        Ok(Outcome::Denied { log, .. }) => Verdict::Lost(log),
        Err(ProviderError::InvalidCredentials) => Verdict::Lost(format!(
            "{} no longer accepts the account's token",
            kind.label()
        )),
        Err(ProviderError::RateLimited) => {
            if kind == ProviderKind::Plex {
                plex_slow_down(app);
            }
            Verdict::Deferred
        }
        Err(e) => Verdict::Unknown {
            unreachable: matches!(e, ProviderError::Unreachable(_)),
            why: e.to_string(),
        },
    }
}

/// Takes `requests` from the per-minute plex.tv budget, unless plex.tv asked us to back off.
fn plex_budget(app: &App, rate: i64, requests: u32) -> bool {
    let now_ms = app.clock.now_ms();
    let state = &app.revalidation;
    if state
        .plex_backoff
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .0
        > now_ms
    {
        return false;
    }
    let limiter = {
        let mut slot = state.plex_limit.lock().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some((r, l)) if *r == rate => Arc::clone(l),
            _ => {
                let burst = rate.clamp(1, 600) as u32;
                let l = Arc::new(RateLimiter::new(burst, burst));
                *slot = Some((rate, Arc::clone(&l)));
                l
            }
        }
    };
    (0..requests).all(|_| limiter.check("plex.tv", now_ms).is_ok())
}

/// plex.tv said 429: no Plex checks for a while, twice as long each time (1 to 32 min).
fn plex_slow_down(app: &App) {
    let mut b = app
        .revalidation
        .plex_backoff
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let wait = (b.1 * 2).clamp(60_000, 32 * 60_000);
    *b = (app.clock.now_ms() + wait, wait);
}

/// Ends the account's access, unless it signed in or was confirmed again since the
/// snapshot of this pass was taken: a sign-in during a long pass is newer news than a
/// verdict reached on the old facts. Returns whether it ended.
fn revoke(app: &App, t: &InUse, why: &str, now: i64) -> Result<bool> {
    let ended = app.db.with_tx(|tx| {
        if !store::still_unconfirmed(tx, t.identity_id, t.confirmed_at)? {
            return Ok(false);
        }
        let revoked = crate::signin::withdraw(app, tx, t.identity_id, t.user_id, now)?;
        crate::db::events::record(
            tx,
            &crate::db::events::Event {
                kind: EventType::AccessRevoked,
                user_id: Some(t.user_id),
                ip: None,
                result: "success",
                detail: json!({
                    "provider": t.provider,
                    "reason": why,
                    "tokens_revoked": revoked,
                    "by": "revalidation",
                }),
            },
            now,
        )?;
        Ok(true)
    })?;
    if ended {
        crate::log_info!(
            "revalidate: {} account {} lost access: {why}",
            t.provider,
            t.provider_user_id
        );
    } else {
        crate::log_info!(
            "revalidate: {} account {} signed in or was confirmed during the pass; kept",
            t.provider,
            t.provider_user_id
        );
    }
    Ok(ended)
}

/// The console's view: when a pass last reached every server it asked, and the last error.
fn save_status(app: &App, pass: &Pass, now: i64) -> Result<()> {
    let conn = app.db.conn()?;
    let old = store::status(&conn)?.unwrap_or_else(|| json!({}));
    let ok = pass.errors.is_empty();
    let status = json!({
        "last_run": now,
        "last_success": if ok { json!(now) } else { old["last_success"].clone() },
        "last_error": if ok { old["last_error"].clone() } else { json!(pass.errors.join("; ")) },
        "last_error_at": if ok { old["last_error_at"].clone() } else { json!(now) },
        "failing": !ok,
        "checked": pass.checked,
        "revoked": pass.revoked,
        "kept_in_grace": pass.kept_in_grace,
        "deferred": pass.deferred,
        "behind": pass.behind,
    });
    store::set_status(&conn, &status)
}

/// The last pass's status for the console (None before the first pass).
pub fn status(app: &App) -> Result<Option<serde_json::Value>> {
    store::status(&*app.db.conn()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_checks_spread_over_the_interval_within_the_bound() {
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(pace_gap(10, 100, None)), 100, "asked now: the bound");
        let interval = Some(Duration::from_secs(900));
        assert_eq!(
            ms(pace_gap(10, 100, interval)),
            9_000,
            "100 over 15 minutes"
        );
        assert_eq!(
            ms(pace_gap(10, 100_000, interval)),
            100,
            "never above the bound"
        );
        assert_eq!(ms(pace_gap(10, 0, interval)), 100);
    }

    #[test]
    fn a_pass_longer_than_its_interval_is_reported() {
        let s = crate::settings::Revalidation::default();
        assert_eq!(behind(9_000, 100, &s), None, "15 min at 10/s: 9,000 fit");
        let why = behind(100_000, 0, &s).unwrap();
        assert!(
            why.contains("167 minutes") && why.contains("API key"),
            "{why}"
        );
        let why = behind(0, 1_000, &s).unwrap();
        assert!(why.contains("Plex") && why.contains("34 minutes"), "{why}");
    }
}
