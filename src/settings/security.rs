//! Section "security": session length, rate limits and where outbound requests may go.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::crypto::seal::Sealer;
use crate::error::Result;
use crate::settings::{Field, FieldKind, Section, load};

/// Section "security".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    /// How long a sign-in lasts, in hours (1 to 720, see FORM).
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
    /// LDAP binds that are guesses (wrong ones, media passwords): a budget apart from
    /// `signin`, so an app retrying an old password does not lock its address out of
    /// the sign-in page, nor guessing there out of LDAP.
    pub ldap_bind: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            signin: rate(5, 10),
            mfa: rate(10, 10),
            writes: rate(30, 120),
            token: rate(120, 1200),
            ldap_bind: rate(5, 10),
        }
    }
}

impl Section for Security {
    const NAME: &'static str = "security";

    /// Ranges are checked by FORM; this checks what a range cannot say.
    fn check(&self) -> std::result::Result<(), String> {
        self.allow_list()
            .map_err(|e| format!("security.outbound_allow: {e}"))?;
        Ok(())
    }

    const FORM: &'static [Field] = &[
        Field::new(
            "session_hours",
            "A sign-in lasts",
            "After this long people sign in again.",
            FieldKind::Integer {
                min: 1,
                max: 720,
                unit: "hours",
            },
        ),
        Field::new(
            "rate_limits",
            "Rate limits",
            "How many requests a client may make: a burst at once, then so many a minute. Over it, the portal answers 429 and says when to try again.",
            FieldKind::Group(RATE_LIMITS_FORM),
        ),
        Field::new(
            "outbound_allow",
            "Outbound allow-list",
            "Hosts, IPs or CIDR ranges (one a line, e.g. 127.0.0.1/32 or ntfy.lan) that webhooks and other outbound requests may reach besides public and LAN addresses; loopback, link-local and metadata addresses are refused unless listed.",
            FieldKind::Strings { max: 100 },
        )
        .set_by("OUTBOUND_ALLOW"),
    ];

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

/// The form's rate-limit groups, one for each kind of request.
const RATE_LIMITS_FORM: &[Field] = &[
    rate_field(
        "signin",
        "Sign-in attempts",
        "Password forms and Plex PIN starts, per client address.",
    ),
    rate_field(
        "mfa",
        "Second-factor codes",
        "Per client address and per user.",
    ),
    rate_field(
        "writes",
        "Other changes",
        "Every other state-changing request: forms and console changes.",
    ),
    rate_field(
        "token",
        "Application token calls",
        "Applications calling the token, revocation, introspection and userinfo endpoints.",
    ),
    rate_field(
        "ldap_bind",
        "LDAP binds",
        "Failed binds to the LDAP directory (and media-password binds), per client address; apart from sign-ins. A right app or service-account password is never refused.",
    ),
];

/// The fields of one [`Rate`].
const RATE_FORM: &[Field] = &[
    Field::new(
        "burst",
        "Burst",
        "Requests allowed at once.",
        FieldKind::Integer {
            min: 1,
            max: 100_000,
            unit: "requests",
        },
    ),
    Field::new(
        "per_minute",
        "Then",
        "Requests allowed a minute after the burst.",
        FieldKind::Integer {
            min: 1,
            max: 100_000,
            unit: "a minute",
        },
    ),
];

/// The form's group for one kind of request: its burst and its rate a minute.
const fn rate_field(key: &'static str, label: &'static str, hint: &'static str) -> Field {
    Field::new(key, label, hint, FieldKind::Group(RATE_FORM))
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
