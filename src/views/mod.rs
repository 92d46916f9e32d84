//! Pages as pure functions from data to markup (maud, compiled in).

pub mod admin;
pub mod backups;
pub mod device;
pub mod layout;
pub mod login;
pub mod mfa;
pub mod oidc;
pub mod portal;
pub mod setup;

/// A moment as people read it: "2026-11-23 16:05 CET", in APP_TIMEZONE.
pub fn when(tz: chrono_tz::Tz, ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
        .unwrap_or_default()
}
