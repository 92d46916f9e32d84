//! Media-server sign-in: the providers, the identity they vouch for, and how they fail.

pub mod check;
pub mod connect;
pub mod http;
pub mod jellyfin;
pub mod plex;

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    Plex,
    Jellyfin,
    Emby,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::Plex,
        ProviderKind::Jellyfin,
        ProviderKind::Emby,
    ];

    pub fn parse(s: &str) -> Option<ProviderKind> {
        match s {
            "plex" => Some(ProviderKind::Plex),
            "jellyfin" => Some(ProviderKind::Jellyfin),
            "emby" => Some(ProviderKind::Emby),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Plex => "plex",
            ProviderKind::Jellyfin => "jellyfin",
            ProviderKind::Emby => "emby",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ProviderKind::Plex => "Plex",
            ProviderKind::Jellyfin => "Jellyfin",
            ProviderKind::Emby => "Emby",
        }
    }
}

/// An account the provider vouches for AND that may use the owner's server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub provider: ProviderKind,
    pub provider_user_id: String,
    pub username: String,
    pub email: Option<String>,
    /// Derived from the provider at this sign-in (plex-owner, jellyfin-admin...).
    pub groups: Vec<String>,
    /// The provider's token for this account; sealed before it touches the disk.
    pub token: String,
    /// The account's avatar at the provider (oidc::picture fetches it): plex.tv's path
    /// of it, or Jellyfin/Emby's primary image tag. Never a full URL from the answer.
    pub avatar: Option<String>,
    /// How the provider checked the person at this sign-in.
    pub method: FirstFactor,
}

/// How the provider checked the person: the first value of the session's `amr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    /// A password: typed into the portal's form (Jellyfin, Emby) or into plex.tv's own
    /// page (the portal cannot see how plex.tv checked; a password is its sign-in).
    Password,
    /// Jellyfin Quick Connect: a Jellyfin app already signed in approved a code; no
    /// password was typed. RFC 8176 registers no value for "approved on another signed-in
    /// device", so this is "qc", a value of our own, which OIDC Core's `amr` allows
    /// (relying parties treat unknown values as not a password).
    QuickConnect,
}

impl FirstFactor {
    /// Its `amr` value (RFC 8176 `pwd`, or our `qc`); also how it is stored.
    pub fn amr(self) -> &'static str {
        match self {
            FirstFactor::Password => Amr::Password,
            FirstFactor::QuickConnect => Amr::QuickConnect,
        }
        .as_str()
    }

    pub fn parse(s: &str) -> Option<FirstFactor> {
        [FirstFactor::Password, FirstFactor::QuickConnect]
            .into_iter()
            .find(|f| f.amr() == s)
    }
}

/// A value of a session's `amr` (RFC 8176): how the person was checked. Stored with the
/// session, sent to applications in ID tokens and read by every rule that asks whether a
/// second factor was proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amr {
    /// RFC 8176 `pwd`: [`FirstFactor::Password`].
    Password,
    /// Our own `qc`: [`FirstFactor::QuickConnect`].
    QuickConnect,
    /// RFC 8176 `otp`: a second factor (a TOTP or a recovery code) was proved.
    Otp,
}

impl Amr {
    const ALL: [Amr; 3] = [Amr::Password, Amr::QuickConnect, Amr::Otp];

    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Password => "pwd",
            Amr::QuickConnect => "qc",
            Amr::Otp => "otp",
        }
    }

    pub fn parse(s: &str) -> Option<Amr> {
        Amr::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether a session's stored `amr` list holds this value.
    pub fn is_in(self, amr: &[String]) -> bool {
        amr.iter().any(|a| Amr::parse(a) == Some(self))
    }
}

/// The end of a provider check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Authorized(Identity),
    /// The account is real but may not use the server (disabled, not shared with).
    /// `log` says why, for the log only.
    /// `account` is the provider's user id when known, so the portal can withdraw what
    /// it gave that account before.
    Denied {
        username: Option<String>,
        account: Option<String>,
        log: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// Wrong username or password, or a dead token.
    InvalidCredentials,
    /// Connection refused, DNS, timeout, 5xx: not the person's fault, not a failed attempt.
    Unreachable(String),
    /// An answer we cannot trust (not JSON, missing fields): fail closed.
    Malformed(String),
    /// The upstream asked us to slow down.
    RateLimited,
    /// The PIN or code is no longer valid.
    Expired,
    /// The portal's own settings do not let it decide (e.g. unknown Plex server).
    Misconfigured(String),
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderError::InvalidCredentials => write!(f, "invalid credentials"),
            ProviderError::Unreachable(d) => write!(f, "unreachable: {d}"),
            ProviderError::Malformed(d) => write!(f, "malformed answer: {d}"),
            ProviderError::RateLimited => write!(f, "rate limited upstream"),
            ProviderError::Expired => write!(f, "expired"),
            ProviderError::Misconfigured(d) => write!(f, "misconfigured: {d}"),
        }
    }
}

/// The product name shown in the user's Plex devices and Jellyfin sessions.
pub const PRODUCT: &str = "AuthPortal";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    use super::{Amr, FirstFactor};

    #[test]
    fn first_factors_are_stored_as_their_amr_values_and_read_back() {
        for f in [FirstFactor::Password, FirstFactor::QuickConnect] {
            assert_eq!(FirstFactor::parse(f.amr()), Some(f));
        }
        assert_eq!(FirstFactor::QuickConnect.amr(), "qc");
        assert_eq!(FirstFactor::parse("otp"), None);
    }

    #[test]
    fn amr_values_read_back_and_are_found_in_a_stored_list() {
        for a in Amr::ALL {
            assert_eq!(Amr::parse(a.as_str()), Some(a));
        }
        assert_eq!(Amr::parse("OTP"), None);
        let stored = vec!["pwd".to_string(), "otp".to_string()];
        assert!(Amr::Otp.is_in(&stored));
        assert!(!Amr::QuickConnect.is_in(&stored));
    }
}
