//! Section "revalidation": how often signed-in users' access is checked again.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::settings::{Section, load};

/// Section "revalidation": how often signed-in users' server access is checked again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Revalidation {
    /// Minutes between passes (1 to 1440).
    pub interval_minutes: i64,
    /// Hours access is kept while the media server (or plex.tv) cannot be asked (0 to 720).
    pub grace_hours: i64,
    /// Requests a minute to plex.tv at most (1 to 600).
    pub plex_requests_per_minute: i64,
    /// Requests a second to the owner's Jellyfin or Emby at most, when accounts are
    /// checked one by one (no Jellyfin API key; 1 to 1000).
    pub media_requests_per_second: i64,
}

impl Default for Revalidation {
    fn default() -> Self {
        Revalidation {
            interval_minutes: 15,
            grace_hours: 24,
            plex_requests_per_minute: 60,
            media_requests_per_second: 10,
        }
    }
}

impl Section for Revalidation {
    const NAME: &'static str = "revalidation";

    fn check(&self) -> std::result::Result<(), String> {
        for (name, v, lo, hi) in [
            ("interval_minutes", self.interval_minutes, 1, 1440),
            ("grace_hours", self.grace_hours, 0, 720),
            (
                "plex_requests_per_minute",
                self.plex_requests_per_minute,
                1,
                600,
            ),
            (
                "media_requests_per_second",
                self.media_requests_per_second,
                1,
                1000,
            ),
        ] {
            if !(lo..=hi).contains(&v) {
                return Err(format!(
                    "revalidation.{name}: {v} is not between {lo} and {hi}"
                ));
            }
        }
        Ok(())
    }
}

pub fn revalidation(conn: &Connection) -> Result<Revalidation> {
    load(conn)
}
