//! In-memory caches behind forward-auth: who a session is (every request to every app
//! asks), media tokens the portal validated with the media server (by digest, never the
//! token itself), and cookies apps gave on a `login_cookie` sign-in. All expire; nothing
//! here is written to disk.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::access::decide::Subject;

/// A validated token's owner is kept this long; a refused token this long.
pub const TOKEN_TTL_MS: i64 = 5 * 60 * 1000;
pub const REFUSED_TTL_MS: i64 = 60 * 1000;
/// Entries kept at most, so a flood of made-up tokens cannot grow memory without bound.
const MAX_ENTRIES: usize = 10_000;

/// A session's person is answered from memory until anything is committed to the store
/// by this process (db::Db::commits: sign-out, revocation, a disabled account, new
/// groups... all at once), and for this long at most: the bound on how long a change
/// made by another process (the recovery CLI) can go unseen by forward-auth.
pub const SESSION_TTL: Duration = Duration::from_secs(1);

/// A session's person (None: the account has no access), as read at `commits`. Shared
/// (`Arc`): each request takes it without copying the names and groups.
struct SessionEntry {
    subject: Option<Arc<Subject>>,
    /// The session's own end (unix seconds), checked at every use.
    expires_at: i64,
    commits: u64,
    read_at: Instant,
}

impl SessionEntry {
    fn fresh(&self, commits: u64) -> bool {
        self.commits == commits && self.read_at.elapsed() < SESSION_TTL
    }
}

/// Portal user id of a token (None: refused), and when that answer expires (ms).
type TokenEntry = (Option<i64>, i64);

#[derive(Default)]
pub struct AccessCache {
    /// Session cookie digest -> its person, while fresh (SESSION_TTL).
    sessions: RwLock<HashMap<Vec<u8>, SessionEntry>>,
    /// SHA-256(token) -> (portal user id, or None when the media server refused it; expiry).
    tokens: Mutex<HashMap<Vec<u8>, TokenEntry>>,
    /// (rule key, user id) -> (Cookie header value, expiry).
    cookies: Mutex<HashMap<(String, i64), (String, i64)>>,
    /// (rule key, user id) -> held while the portal signs that person in to that app, so
    /// a browser's parallel first requests make one sign-in and share its cookie.
    signing_in: Mutex<HashMap<(String, i64), Arc<SignInGate>>>,
}

/// One app sign-in at a time for a (rule, user); those who waited for one that failed
/// share its failure instead of each trying again (a dead app would hold the last of
/// them for a timeout per request before it).
#[derive(Default)]
struct SignInGate {
    turn: Mutex<()>,
    failures: AtomicU64,
}

fn bounded<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, (V, i64)>, now_ms: i64) {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, (_, exp)| *exp > now_ms);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
    }
}

impl AccessCache {
    /// The person of a live session read since the store last changed (`commits`, taken
    /// before reading it), within SESSION_TTL; None: not known, read the store.
    pub fn session(&self, digest: &[u8], commits: u64, now: i64) -> Option<Option<Arc<Subject>>> {
        let map = self.sessions.read().unwrap_or_else(|p| p.into_inner());
        map.get(digest)
            .filter(|e| e.fresh(commits) && e.expires_at > now)
            .map(|e| e.subject.clone())
    }

    /// Keeps what the store said of a live session; `commits` as taken before reading it,
    /// so a change committed meanwhile makes the entry stale at once.
    pub fn remember_session(
        &self,
        digest: &[u8],
        subject: Option<Arc<Subject>>,
        expires_at: i64,
        commits: u64,
    ) {
        let mut map = self.sessions.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(digest) {
            map.retain(|_, e| e.fresh(commits));
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            digest.to_vec(),
            SessionEntry {
                subject,
                expires_at,
                commits,
                read_at: Instant::now(),
            },
        );
    }

    /// Some(owner) when known and fresh (owner None: the token was refused).
    pub fn token(&self, digest: &[u8], now_ms: i64) -> Option<Option<i64>> {
        let map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        map.get(digest)
            .filter(|(_, exp)| *exp > now_ms)
            .map(|(owner, _)| *owner)
    }

    pub fn remember_token(&self, digest: Vec<u8>, owner: Option<i64>, now_ms: i64) {
        let ttl = if owner.is_some() {
            TOKEN_TTL_MS
        } else {
            REFUSED_TTL_MS
        };
        let mut map = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        bounded(&mut map, now_ms);
        map.insert(digest, (owner, now_ms + ttl));
    }

    pub fn cookie(&self, rule: &str, user_id: i64, now_ms: i64) -> Option<String> {
        let map = self.cookies.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(rule.to_string(), user_id))
            .filter(|(_, exp)| *exp > now_ms)
            .map(|(c, _)| c.clone())
    }

    /// The cookie for (rule, user), signing in with `sign_in` (-> cookie, expiry in ms)
    /// when there is none: one sign-in per person and app at a time, the others wait
    /// for its cookie (or its failure). A failure is not remembered beyond those who
    /// waited for it: the next request tries again.
    pub fn cookie_or_sign_in(
        &self,
        rule: &str,
        user_id: i64,
        now_ms: impl Fn() -> i64,
        sign_in: impl FnOnce() -> Option<(String, i64)>,
    ) -> Option<String> {
        if let Some(c) = self.cookie(rule, user_id, now_ms()) {
            return Some(c);
        }
        let key = (rule.to_string(), user_id);
        let gate = Arc::clone(
            self.signing_in
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key.clone())
                .or_default(),
        );
        let failed_before = gate.failures.load(Ordering::SeqCst);
        let cookie = {
            let _turn = gate.turn.lock().unwrap_or_else(|p| p.into_inner());
            // Whoever held the gate before may have stored a cookie meanwhile, or failed.
            match self.cookie(rule, user_id, now_ms()) {
                Some(c) => Some(c),
                None if gate.failures.load(Ordering::SeqCst) != failed_before => None,
                None => match sign_in() {
                    Some((cookie, expires_ms)) => {
                        self.remember_cookie(rule, user_id, cookie.clone(), expires_ms, now_ms());
                        Some(cookie)
                    }
                    None => {
                        gate.failures.fetch_add(1, Ordering::SeqCst);
                        None
                    }
                },
            }
        };
        let mut gates = self.signing_in.lock().unwrap_or_else(|p| p.into_inner());
        // Only the map and this call hold it: nobody waits, so the entry can go.
        if Arc::strong_count(&gate) == 2 {
            gates.remove(&key);
        }
        cookie
    }

    pub fn remember_cookie(
        &self,
        rule: &str,
        user_id: i64,
        cookie: String,
        expires_ms: i64,
        now_ms: i64,
    ) {
        let mut map = self.cookies.lock().unwrap_or_else(|p| p.into_inner());
        bounded(&mut map, now_ms);
        map.insert((rule.to_string(), user_id), (cookie, expires_ms));
    }

    /// Forget everything (after a restore replaced the users and settings).
    pub fn clear(&self) {
        self.sessions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.cookies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Forget everything about a user (their access was withdrawn).
    pub fn forget_user(&self, user_id: i64) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (owner, _)| *owner != Some(user_id));
        self.cookies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, u), _| *u != user_id);
    }
}
