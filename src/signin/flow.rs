//! Sign-ins that take several requests, bound to the browser that started them by a flow
//! row (db::flows): the Plex PIN and Jellyfin Quick Connect. This owns when to ask the
//! provider (at most once a second per flow, waiting longer after a 429 or no answer),
//! redeeming a Quick Connect secret once (put back when the redeem did not happen), and
//! finishing once: whichever request sees the approval first (Plex's popup or the page's
//! poll) signs in; the other finds the flow done and goes where it led.

use std::net::IpAddr;

use rusqlite::Connection;

use crate::app::App;
use crate::crypto::tokens::{digest, new_id};
use crate::db::flows::{self, Flow, FlowState};
use crate::db::holders::Store;
use crate::error::{AppError, Result};
use crate::fair_share::{self, Holder};
use crate::providers::jellyfin::{MediaServer, QuickConnectError};
use crate::providers::plex::{PinStatus, Plex};
use crate::providers::{Outcome, ProviderError, ProviderKind};

use super::attempt::{self, provider_error};
use super::{Issued, Origin};

/// How often the provider is asked about one flow, however often the page polls.
const POLL_EVERY_MS: i64 = 1000;

/// Longest wait between asks after the provider said 429 or did not answer.
const MAX_BACKOFF_MS: i64 = 30_000;

/// How long a Quick Connect request lives: the server's own expiry.
const QUICK_CONNECT_TTL: i64 = 600;

/// What the sealed Quick Connect secret is for (the seal's purpose).
const QUICK_CONNECT_SECRET: &str = "quick-connect-secret";

/// The answer when db::flows::MAX_LIVE sign-ins are in progress and the starter's network
/// holds the most of them: 429, since room comes back as flows finish or expire, with a
/// wait the person can act on.
pub fn too_many_in_progress() -> AppError {
    AppError::Locked {
        reason: "too many sign-ins are in progress on this portal",
        retry_after_secs: 60,
    }
}

const QUICK_CONNECT_OFF: &str = "Quick Connect is turned off on this Jellyfin server";

/// A flow just started: the id its browser carries for `ttl` seconds (web/ signs it into
/// the flow cookie) and what the page shows.
pub struct Started {
    pub flow_id: Vec<u8>,
    pub ttl: i64,
    /// Plex: the app.plex.tv URL to open; Quick Connect: the code to type into a Jellyfin app.
    pub shown: String,
}

/// Where a flow stands, as the page's poll or Plex's returning popup sees it.
pub enum Step {
    /// No flow of this browser's: never started here, expired, or refused by the server.
    Expired,
    /// Still waiting for the person (or for the provider to answer again).
    Pending,
    /// Signed in: where to go, and what the browser carries when this request finished it
    /// (nothing when another request of the flow did, or an admin disabled the account).
    Done {
        redirect: String,
        issued: Option<Issued>,
    },
    /// The provider knows the account but it may not use the server.
    Denied { redirect: String },
}

/// Starts a Plex PIN for this browser; plex.tv sends the person back to `forward_url`
/// once they approved it. None when no Plex is set up.
pub fn start_plex(origin: &Origin, rd: Option<&str>, forward_url: &str) -> Result<Option<Started>> {
    let providers = origin.app.providers();
    let Some(plex) = providers.plex.as_ref() else {
        return Ok(None);
    };
    attempt::charge(origin)?;
    let pin = plex
        .create_pin(&origin.app.http, origin.now)
        .map_err(|e| attempt::refused(origin, e))?;
    let id = new_id();
    let now = origin.now;
    store_plex_pin(
        origin.app,
        origin.ip,
        &digest(&id),
        pin.id,
        rd,
        pin.expires_at,
    )?;
    Ok(Some(Started {
        flow_id: id.to_vec(),
        ttl: (pin.expires_at - now).max(60),
        shown: plex.auth_url(&pin.code, forward_url),
    }))
}

/// Starts a Jellyfin Quick Connect request for this browser: the code to show, the secret
/// kept sealed in the flow row until it is redeemed.
pub fn start_quick_connect(
    origin: &Origin,
    provider: ProviderKind,
    rd: Option<&str>,
) -> Result<Started> {
    let providers = origin.app.providers();
    let server = providers
        .media_server(provider)
        .filter(|_| provider == ProviderKind::Jellyfin)
        .ok_or_else(|| AppError::bad_request("Quick Connect is a Jellyfin sign-in"))?;
    attempt::charge(origin)?;
    let request = server
        .quick_connect_initiate(&origin.app.http, origin.app.clock.now_ms())
        .map_err(|e| quick_connect_error(origin, e))?;
    let id = new_id();
    let now = origin.now;
    let sealed = origin
        .app
        .sealer
        .seal(QUICK_CONNECT_SECRET, request.secret.as_bytes());
    store_flow(origin.app, origin.ip, |tx, from| {
        let expires_at = now + QUICK_CONNECT_TTL;
        flows::create_quick_connect(tx, &digest(&id), &sealed, rd, from, now, expires_at)
    })?;
    Ok(Started {
        flow_id: id.to_vec(),
        ttl: QUICK_CONNECT_TTL,
        shown: request.code,
    })
}

/// Keeps a Plex PIN started from `ip` (a sign-in, or an owner connecting their server)
/// as a flow under `flow_digest` until `expires_at`, once there is room for it.
pub fn store_plex_pin(
    app: &App,
    ip: IpAddr,
    flow_digest: &[u8],
    pin_id: u64,
    rd: Option<&str>,
    expires_at: i64,
) -> Result<()> {
    store_flow(app, ip, |tx, from| {
        let now = app.clock.now();
        flows::create(tx, flow_digest, pin_id, rd, from, now, expires_at)
    })
}

/// Stores a new flow started from `ip` with `insert`, once there is room for it: a full
/// table makes room from the network holding the most flows (fair_share), and refuses
/// only when that is the starter's own.
fn store_flow(
    app: &App,
    ip: IpAddr,
    insert: impl FnOnce(&Connection, &Holder) -> Result<()>,
) -> Result<()> {
    let from = fair_share::holder_of(ip);
    let now = app.clock.now();
    app.db.with_tx(|tx| {
        let store = Store::SignInFlows;
        if !fair_share::make_room(tx, &app.metrics, store, flows::MAX_LIVE, &from, now)? {
            return Err(too_many_in_progress());
        }
        insert(tx, &from)
    })
}

/// The page's poll of the flow `flow_id` (from its cookie); `previous` is the browser's
/// current session, which a sign-in ends.
pub fn poll(origin: &Origin, flow_id: Option<&[u8]>, previous: Option<&[u8]>) -> Result<Step> {
    let Some((flow_digest, flow)) = current(origin, flow_id)? else {
        return Ok(Step::Expired);
    };
    match flow.state {
        FlowState::Done => return Ok(done_before(flow.rd.as_deref())),
        FlowState::Denied => {
            return Ok(Step::Denied {
                redirect: restricted(&flow.provider),
            });
        }
        FlowState::Pending => {}
    }
    let asking = Asking {
        origin,
        previous,
        flow_digest: &flow_digest,
        flow: &flow,
        now_ms: origin.app.clock.now_ms(),
    };
    if asking.now_ms < flow.next_poll_ms {
        return Ok(Step::Pending);
    }
    let providers = origin.app.providers();
    if flow.provider != ProviderKind::Plex.as_str() {
        let server = providers
            .media_server(ProviderKind::Jellyfin)
            .ok_or(AppError::NotFound)?;
        return asking.quick_connect(server);
    }
    let plex = providers.plex.as_ref().ok_or(AppError::NotFound)?;
    match plex.check_pin(&origin.app.http, flow.pin_id) {
        Ok(PinStatus::Waiting) => asking.ask_again(),
        Ok(PinStatus::Claimed(token)) => asking.finish_plex(plex, &token),
        Err(ProviderError::Expired) => asking.forget(),
        Err(ProviderError::RateLimited | ProviderError::Unreachable(_)) => asking.back_off(),
        Err(e) => Err(provider_error(e)),
    }
}

/// Plex's popup came back (GET /auth/forward): the PIN is asked about at once, and an
/// approved one signs in. Expired or Pending: the person did not finish at plex.tv.
pub fn plex_returned(
    origin: &Origin,
    flow_id: Option<&[u8]>,
    previous: Option<&[u8]>,
) -> Result<Step> {
    let providers = origin.app.providers();
    let plex = providers.plex.as_ref().ok_or(AppError::NotFound)?;
    let Some((flow_digest, flow)) =
        current(origin, flow_id)?.filter(|(_, f)| f.provider == ProviderKind::Plex.as_str())
    else {
        return Ok(Step::Expired);
    };
    match flow.state {
        FlowState::Done => Ok(done_before(flow.rd.as_deref())),
        FlowState::Denied => Ok(Step::Denied {
            redirect: restricted(ProviderKind::Plex.as_str()),
        }),
        FlowState::Pending => match plex
            .check_pin(&origin.app.http, flow.pin_id)
            .map_err(provider_error)?
        {
            PinStatus::Waiting => Ok(Step::Pending),
            PinStatus::Claimed(token) => Asking {
                origin,
                previous,
                flow_digest: &flow_digest,
                flow: &flow,
                now_ms: origin.app.clock.now_ms(),
            }
            .finish_plex(plex, &token),
        },
    }
}

/// The flow of `flow_id`, by its digest, if it is alive.
fn current(origin: &Origin, flow_id: Option<&[u8]>) -> Result<Option<(Vec<u8>, Flow)>> {
    let Some(id) = flow_id else {
        return Ok(None);
    };
    let d = digest(id);
    let flow = flows::get(&*origin.app.db.conn()?, &d, origin.now)?;
    Ok(flow.map(|f| (d, f)))
}

/// A flow finished earlier: where it led (its `rd` holds that once done), or /home.
fn done_before(rd: Option<&str>) -> Step {
    Step::Done {
        redirect: rd.unwrap_or("/home").to_string(),
        issued: None,
    }
}

/// The page for an account the provider refused.
fn restricted(provider: &str) -> String {
    format!("/restricted?provider={provider}")
}

/// One poll of a pending flow whose turn to ask the provider has come.
struct Asking<'a> {
    origin: &'a Origin<'a>,
    previous: Option<&'a [u8]>,
    flow_digest: &'a [u8],
    flow: &'a Flow,
    now_ms: i64,
}

impl Asking<'_> {
    /// Not yet: ask again in a second (a provider that answers again ends any back-off).
    fn ask_again(&self) -> Result<Step> {
        let conn = self.origin.app.db.conn()?;
        flows::schedule_poll(
            &conn,
            self.flow_digest,
            self.now_ms + POLL_EVERY_MS,
            POLL_EVERY_MS,
        )?;
        Ok(Step::Pending)
    }

    /// The provider asked us to slow down or did not answer: ask again later, each time
    /// waiting twice as long (up to MAX_BACKOFF_MS). The page keeps polling meanwhile.
    fn back_off(&self) -> Result<Step> {
        let backoff = (self.flow.backoff_ms * 2).min(MAX_BACKOFF_MS);
        let conn = self.origin.app.db.conn()?;
        flows::schedule_poll(&conn, self.flow_digest, self.now_ms + backoff, backoff)?;
        Ok(Step::Pending)
    }

    /// The provider no longer knows the request: the flow ends.
    fn forget(&self) -> Result<Step> {
        flows::delete(&*self.origin.app.db.conn()?, self.flow_digest)?;
        Ok(Step::Expired)
    }

    /// Asks the server whether a Jellyfin app approved the code; redeems it when so.
    fn quick_connect(&self, server: &MediaServer) -> Result<Step> {
        let Some(sealed) = flows::secret(&*self.origin.app.db.conn()?, self.flow_digest)? else {
            // Another poll of this browser is redeeming it right now.
            return Ok(Step::Pending);
        };
        let secret = open_secret(self.origin, &sealed)?;
        match server.quick_connect_approved(&self.origin.app.http, &secret) {
            Ok(false) => self.ask_again(),
            Ok(true) => self.redeem(server),
            Err(e) => self.quick_connect_failed(e),
        }
    }

    /// Takes the secret out of the flow (so only this request redeems it) and signs in.
    fn redeem(&self, server: &MediaServer) -> Result<Step> {
        let origin = self.origin;
        let Some(sealed) = flows::take_secret(&*origin.app.db.conn()?, self.flow_digest)? else {
            return Ok(Step::Pending);
        };
        let secret = open_secret(origin, &sealed)?;
        let outcome = match server.quick_connect_redeem(&origin.app.http, &secret) {
            Ok(outcome) => Ok(outcome),
            Err(QuickConnectError::Provider(e)) => Err(e),
            Err(e) => return self.quick_connect_failed(e),
        };
        origin.app.metrics.signin(ProviderKind::Jellyfin, &outcome);
        match outcome {
            Ok(outcome) => self.finish(ProviderKind::Jellyfin, outcome),
            Err(e @ (ProviderError::RateLimited | ProviderError::Unreachable(_))) => {
                // Not redeemed: the next poll tries again with the same secret.
                flows::return_secret(&*origin.app.db.conn()?, self.flow_digest, &sealed)?;
                crate::log_warn!("req={} Quick Connect redeem: {e}", origin.request_id);
                self.back_off()
            }
            Err(e) => Err(provider_error(e)),
        }
    }

    /// The server refused to go on with the request, or did not answer.
    fn quick_connect_failed(&self, e: QuickConnectError) -> Result<Step> {
        match e {
            QuickConnectError::Provider(
                ProviderError::RateLimited | ProviderError::Unreachable(_),
            ) => self.back_off(),
            QuickConnectError::Unknown => self.forget(),
            QuickConnectError::Off => {
                flows::delete(&*self.origin.app.db.conn()?, self.flow_digest)?;
                Err(AppError::Conflict(QUICK_CONNECT_OFF))
            }
            e => Err(quick_connect_error(self.origin, e)),
        }
    }

    /// plex.tv handed over the account's token: decide on it, then finish.
    fn finish_plex(&self, plex: &Plex, token: &str) -> Result<Step> {
        let outcome = plex.authorize(&self.origin.app.http, token);
        self.origin.app.metrics.signin(ProviderKind::Plex, &outcome);
        let outcome = outcome.map_err(provider_error)?;
        self.finish(ProviderKind::Plex, outcome)
    }

    /// Turns the provider's word on the flow into a session (or a denial), once: the flow
    /// row is claimed in the sign-in's transaction, so the popup and the poll cannot both
    /// sign in.
    fn finish(&self, provider: ProviderKind, outcome: Outcome) -> Result<Step> {
        let origin = self.origin;
        match outcome {
            Outcome::Authorized(ident) => {
                // The flow row stays: a popup returning after the poll finished finds the
                // flow done and moves on to where it led.
                let landing = super::first_factor_done(
                    origin,
                    &ident,
                    self.flow.rd.as_deref(),
                    Some(self.flow_digest),
                    self.previous,
                )?;
                match landing {
                    Some(l) => Ok(Step::Done {
                        redirect: l.redirect,
                        issued: l.issued,
                    }),
                    None => {
                        // Someone else finished this flow meanwhile: read where it led.
                        let conn = origin.app.db.conn()?;
                        let flow = flows::get(&conn, self.flow_digest, origin.now)?;
                        Ok(done_before(flow.and_then(|f| f.rd).as_deref()))
                    }
                }
            }
            Outcome::Denied {
                log,
                account,
                username,
            } => {
                crate::log_warn!("req={} sign-in denied: {log}", origin.request_id);
                super::withdraw_access(origin, provider, account.as_deref(), username.as_deref())?;
                super::record_failure(
                    origin,
                    provider.as_str(),
                    username.as_deref(),
                    "no access to the media server",
                );
                let conn = origin.app.db.conn()?;
                flows::set_state(&conn, self.flow_digest, FlowState::Denied)?;
                Ok(Step::Denied {
                    redirect: restricted(provider.as_str()),
                })
            }
        }
    }
}

/// A Quick Connect failure as the person sees it; an unreachable server is not their
/// attempt, so it is given back.
fn quick_connect_error(origin: &Origin, e: QuickConnectError) -> AppError {
    match e {
        QuickConnectError::Off => AppError::Conflict(QUICK_CONNECT_OFF),
        QuickConnectError::Unknown => AppError::bad_request("the sign-in expired, start again"),
        QuickConnectError::TokenRefused => AppError::Upstream("Quick Connect refused".into()),
        QuickConnectError::Provider(e) => attempt::refused(origin, e),
    }
}

fn open_secret(origin: &Origin, sealed: &str) -> Result<String> {
    let raw = origin
        .app
        .sealer
        .open(QUICK_CONNECT_SECRET, sealed)
        .map_err(|_| AppError::internal("a Quick Connect secret did not open"))?;
    String::from_utf8(raw).map_err(|_| AppError::internal("a Quick Connect secret is not text"))
}
