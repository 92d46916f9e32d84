//! Approving a TV's Jellyfin Quick Connect code from the portal ("Sign in a TV or app" on
//! /home): the person's own sealed Jellyfin token approves it, so the TV signs in as
//! them and nobody else, and each attempt is a `device.linked` event.

use serde_json::json;

use super::Origin;
use crate::db::users;
use crate::error::Result;
use crate::event_type::EventType;
use crate::providers::jellyfin::{MediaServer, QuickConnectError};
use crate::providers::{ProviderError, ProviderKind};

/// Digits in a Quick Connect code (Jellyfin 10.9+ shows six).
pub const CODE_DIGITS: usize = 6;

/// Why a code was not approved.
#[derive(Debug)]
pub enum Refused {
    /// The person has no Jellyfin sign-in here (or its token is not kept).
    NoJellyfinAccount,
    /// The server does not know the code, or it expired.
    UnknownCode,
    /// Quick Connect is turned off on the server.
    QuickConnectOff,
    /// The server refused the person's stored token: they must sign in again.
    SignInExpired,
    Provider(ProviderError),
}

/// The code as typed, without the spaces or dash people add; None unless it is exactly
/// six ASCII digits.
pub fn parse_code(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (code.len() == CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// Approves `code` with the Jellyfin token of user `user_id` (the identity they signed
/// in with when it is a Jellyfin one, else their latest Jellyfin sign-in) and records
/// the attempt. The outer Result is the portal's own failure.
pub fn approve(
    origin: &Origin,
    server: &MediaServer,
    user_id: i64,
    identity_id: i64,
    code: &str,
) -> Result<std::result::Result<(), Refused>> {
    let app = origin.app;
    let provider = ProviderKind::Jellyfin.as_str();
    let stored =
        users::provider_token_sealed(&*app.db.conn()?, user_id, provider, Some(identity_id))?;
    let Some((account, sealed)) = stored else {
        return Ok(Err(Refused::NoJellyfinAccount));
    };
    let token = app
        .sealer
        .open(&format!("provider-token:{provider}:{account}"), &sealed)
        .ok()
        .and_then(|t| String::from_utf8(t).ok());
    let Some(token) = token else {
        return Ok(Err(Refused::SignInExpired));
    };
    let result = server
        .quick_connect_authorize(&app.http, &token, code)
        .map_err(|e| match e {
            QuickConnectError::Off => Refused::QuickConnectOff,
            QuickConnectError::Unknown => Refused::UnknownCode,
            QuickConnectError::TokenRefused => Refused::SignInExpired,
            QuickConnectError::Provider(e) => Refused::Provider(e),
        });
    let reason = match &result {
        Ok(()) => None,
        Err(Refused::UnknownCode) => Some("unknown or expired code"),
        Err(Refused::QuickConnectOff) => Some("Quick Connect is off"),
        Err(Refused::SignInExpired) => Some("the Jellyfin token was refused"),
        // The server did not answer: not an attempt worth an audit line.
        Err(_) => return Ok(result),
    };
    app.db.with_tx(|tx| {
        origin.record(
            tx,
            EventType::DeviceLinked,
            Some(user_id),
            result.is_ok(),
            json!({ "provider": provider, "account": account, "reason": reason }),
        )
    })?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::parse_code;

    #[test]
    fn codes_are_six_digits_with_spaces_or_a_dash_allowed() {
        assert_eq!(parse_code("123456").as_deref(), Some("123456"));
        assert_eq!(parse_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(parse_code("123-456").as_deref(), Some("123456"));
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "١٢٣٤٥٦",
            "123456\n",
            "12%3456",
        ] {
            assert_eq!(parse_code(bad), None, "{bad:?}");
        }
    }
}
