//! Multi-factor rules: who must pass a second factor, checking a typed code (TOTP or
//! recovery code), making recovery codes, and the otpauth URI with its QR code.

use rusqlite::Connection;

use crate::app::App;
use crate::crypto::{random_bytes, sha256, totp};
use crate::db::mfa as store;
use crate::db::sessions::SessionRow;
use crate::error::{AppError, Result};
use crate::providers::Amr;

/// A sign-in waiting for its second factor lives this long.
pub const PENDING_TTL: i64 = 600;
/// An enrolment must be confirmed within this time.
pub const ENROLL_TTL: i64 = 900;
/// Changing MFA needs a second factor proved this recently (or a fresh code).
pub const RECENT: i64 = 600;
/// Wrong codes allowed per pending sign-in.
pub const MAX_ATTEMPTS: i64 = 5;
/// Wrong codes a user may type at the challenge in any 24 hours, from all addresses
/// and sign-ins together; past it the challenge refuses until the day passes or an
/// admin resets the user's MFA. Counted from the audit log, so a restart forgets nothing.
pub const DAILY_FAILURES: i64 = 50;
const DAY: i64 = 86_400;
pub const RECOVERY_CODE_COUNT: usize = 10;
/// 12 symbols of 5 bits: 60 bits per recovery code.
const RECOVERY_LEN: usize = 12;
/// Crockford's base32 alphabet: no i, l, o or u to misread.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Nothing,
    Challenge,
    Enroll,
}

/// Whether MFA is required of someone in these groups (everyone, or by group).
pub fn enforced(app: &App, conn: &Connection, groups: &[String]) -> Result<bool> {
    if app.config.mfa_enforce {
        return Ok(true);
    }
    let settings = crate::settings::mfa(conn)?;
    Ok(groups.iter().any(|g| settings.enforce_groups.contains(g)))
}

/// What a user must do after the first factor.
pub fn need(app: &App, conn: &Connection, user_id: i64, groups: &[String]) -> Result<Need> {
    if !app.config.mfa_enable {
        return Ok(Need::Nothing);
    }
    if store::is_enrolled(conn, user_id)? {
        Ok(Need::Challenge)
    } else if enforced(app, conn, groups)? {
        Ok(Need::Enroll)
    } else {
        Ok(Need::Nothing)
    }
}

/// Whether a session is short of the second factor a sign-in would ask of its person
/// now: it proved none (at sign-in, or by setting one up in it) because it was opened
/// before the person set one up or the owner enforced one. Such a session may not sign
/// anything else in as them (an application, a device); a new sign-in asks for it.
pub fn session_owes_second_factor(app: &App, conn: &Connection, s: &SessionRow) -> Result<bool> {
    if s.mfa_at.is_some() || Amr::Otp.is_in(&s.amr) {
        return Ok(false);
    }
    Ok(need(app, conn, s.user_id, &s.groups)? != Need::Nothing)
}

/// The day's budget of wrong codes: Ok(how many more may be typed), or Err(seconds until
/// the oldest counted one is a day old). Failures from before the current factor was
/// confirmed (an admin reset it, the user set up a new one) do not count.
pub fn daily_budget(
    conn: &Connection,
    user_id: i64,
    now: i64,
) -> Result<std::result::Result<i64, u64>> {
    let day_ago = now - DAY;
    let since = store::totp(conn, user_id)?.map_or(day_ago, |t| t.verified_at.max(day_ago));
    let (failed, oldest) = store::failed_codes_since(conn, user_id, since)?;
    if failed < DAILY_FAILURES {
        return Ok(Ok(DAILY_FAILURES - failed));
    }
    Ok(Err((oldest.unwrap_or(now) + DAY - now).max(1) as u64))
}

/// The second factor a code proved. Its name (`as_str`) is the `method` of `mfa.verify`
/// events and the `mfa` of `signin.success`; either way the session's amr says `otp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    Recovery { left: i64 },
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::Recovery { .. } => "recovery",
        }
    }
}

pub fn secret_purpose(user_id: i64) -> String {
    format!("totp-secret:{user_id}")
}

pub fn open_secret(app: &App, user_id: i64, sealed: &str) -> Result<Vec<u8>> {
    app.sealer
        .open(&secret_purpose(user_id), sealed)
        .map_err(|_| {
            AppError::internal(format!(
                "TOTP secret of user {user_id} does not open under DATA_KEY"
            ))
        })
}

/// Checks a typed code against the user's confirmed factors: a TOTP code (its step is
/// recorded, so it cannot be replayed) or an unused recovery code (burned). Call inside
/// an IMMEDIATE transaction so two requests cannot both spend the same code.
pub fn check_code(
    app: &App,
    tx: &Connection,
    user_id: i64,
    code: &str,
    now: i64,
) -> Result<Option<Factor>> {
    let cleaned: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    if cleaned.len() == totp::DIGITS as usize && cleaned.bytes().all(|b| b.is_ascii_digit()) {
        let Some(row) = store::totp(tx, user_id)? else {
            return Ok(None);
        };
        let secret = open_secret(app, user_id, &row.secret_sealed)?;
        let Some(step) = totp::verify(&secret, &cleaned, now, row.last_step) else {
            return Ok(None);
        };
        store::mark_used(tx, user_id, step, now)?;
        return Ok(Some(Factor::Totp));
    }
    let is_recovery =
        cleaned.len() == RECOVERY_LEN && cleaned.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
    if is_recovery && store::use_recovery_code(tx, user_id, &sha256(cleaned.as_bytes()), now)? {
        let left = store::recovery_codes_left(tx, user_id)?;
        return Ok(Some(Factor::Recovery { left }));
    }
    Ok(None)
}

/// Ten fresh recovery codes to show once ("xxxx-xxxx-xxxx"), and the digests to store.
pub fn new_recovery_codes() -> (Vec<String>, Vec<Vec<u8>>) {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let raw: String = random_bytes::<RECOVERY_LEN>()
                .iter()
                .map(|b| RECOVERY_ALPHABET[(b & 31) as usize] as char)
                .collect();
            let shown = format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12]);
            (shown, sha256(raw.as_bytes()).to_vec())
        })
        .unzip()
}

/// A new random 160-bit TOTP secret (RFC 4226 recommends 160 bits for SHA-1).
pub fn new_secret() -> [u8; 20] {
    random_bytes::<20>()
}

/// The URI authenticator apps read from the QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={}&period={}",
        enc(issuer),
        enc(account),
        totp::base32(secret),
        enc(issuer),
        totp::DIGITS,
        totp::PERIOD
    )
}

/// The QR code of `text` as a standalone SVG (drawn here: the secret never leaves).
pub fn qr_svg(text: &str) -> Result<String> {
    let qr = qrcodegen::QrCode::encode_text(text, qrcodegen::QrCodeEcc::Medium)
        .map_err(|e| AppError::internal(format!("QR encoding: {e:?}")))?;
    let border = 4;
    let size = qr.size() + 2 * border;
    let px = size * 5;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Ok(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}" viewBox="0 0 {size} {size}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_grouped_distinct_and_60_bits() {
        let (shown, digests) = new_recovery_codes();
        assert_eq!(shown.len(), 10);
        assert_eq!(digests.len(), 10);
        for c in &shown {
            assert_eq!(c.len(), 14);
            assert_eq!(c.matches('-').count(), 2);
        }
        let unique: std::collections::HashSet<_> = shown.iter().collect();
        assert_eq!(unique.len(), 10);
        assert!((RECOVERY_LEN as f64) * (RECOVERY_ALPHABET.len() as f64).log2() >= 50.0);
    }

    #[test]
    fn otpauth_uri_names_issuer_and_parameters() {
        let uri = otpauth_uri("My Portal", "alice@x", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/My%20Portal:alice%40x?secret=MZXW6YTBOI&issuer=My%20Portal&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<path d=\"M"));
    }
}
