//! Section "security": session length, rate limits and where outbound requests may go.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::crypto::seal::Sealer;
use crate::error::Result;
use crate::settings::{Section, load};

/// Section "security".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// How long a sign-in lasts, in hours (1 to 720).
    pub session_hours: i64,
    /// Requests per client IP (and per user for second-factor codes).
    pub rate_limits: RateLimits,
    /// Hosts, IPs or CIDR ranges outbound requests may reach besides public and LAN
    /// addresses (e.g. "127.0.0.1/32", "ntfy.lan"); OUTBOUND_ALLOW, when set, wins.
    pub outbound_allow: Vec<String>,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            session_hours: 24,
            rate_limits: RateLimits::default(),
            outbound_allow: Vec::new(),
        }
    }
}

/// How many requests of a kind a client may make: `burst` at once, then `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub burst: u32,
    pub per_minute: u32,
}

const fn rate(burst: u32, per_minute: u32) -> Rate {
    Rate { burst, per_minute }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Sign-in attempts (password forms and Plex PIN starts).
    pub signin: Rate,
    /// Second-factor codes, per client IP and per user.
    pub mfa: Rate,
    /// Every other state-changing request (forms, console changes).
    pub writes: Rate,
    /// Calls of applications to the token, revocation, introspection and userinfo endpoints.
    pub token: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            signin: rate(5, 10),
            mfa: rate(10, 10),
            writes: rate(30, 120),
            token: rate(120, 1200),
        }
    }
}

impl Section for Security {
    const NAME: &'static str = "security";

    fn check(&self) -> std::result::Result<(), String> {
        if !(1..=720).contains(&self.session_hours) {
            return Err(format!(
                "security.session_hours: {} is not between 1 and 720",
                self.session_hours
            ));
        }
        if self.outbound_allow.len() > 100 {
            return Err("security.outbound_allow: at most 100 entries".into());
        }
        self.allow_list()
            .map_err(|e| format!("security.outbound_allow: {e}"))?;
        let r = &self.rate_limits;
        for (name, rate) in [
            ("signin", r.signin),
            ("mfa", r.mfa),
            ("writes", r.writes),
            ("token", r.token),
        ] {
            for (field, value) in [("burst", rate.burst), ("per_minute", rate.per_minute)] {
                if !(1..=100_000).contains(&value) {
                    return Err(format!(
                        "security.rate_limits.{name}.{field}: {value} is not between 1 and 100000"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Stored whole, so the console shows every limit in force, not just those edited.
    fn seal(
        incoming: &serde_json::Value,
        _current: &serde_json::Value,
        _sealer: &Sealer,
    ) -> std::result::Result<serde_json::Value, String> {
        let whole: Security =
            serde_json::from_value(incoming.clone()).map_err(|e| format!("security: {e}"))?;
        serde_json::to_value(whole).map_err(|e| format!("security: {e}"))
    }

    fn locked(cfg: &Config) -> Vec<&'static str> {
        if cfg.env_set.contains("OUTBOUND_ALLOW") {
            vec!["outbound_allow"]
        } else {
            Vec::new()
        }
    }
}

impl Security {
    pub fn allow_list(&self) -> std::result::Result<crate::outbound::AllowList, String> {
        crate::outbound::AllowList::parse(self.outbound_allow.iter().map(String::as_str))
    }

    pub fn session_ttl(&self) -> i64 {
        self.session_hours * 3600
    }
}

pub fn security(conn: &Connection) -> Result<Security> {
    load(conn)
}
