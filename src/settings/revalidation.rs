//! Section "revalidation": how often signed-in users' access is checked again.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::settings::{Field, FieldKind, Section, load};

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

    const FORM: &'static [Field] = &[
        Field::new(
            "interval_minutes",
            "Check every",
            "How often each signed-in user's access to the media server is checked again.",
            FieldKind::Integer {
                min: 1,
                max: 1440,
                unit: "minutes",
            },
        ),
        Field::new(
            "grace_hours",
            "Grace while unreachable",
            "How long people keep access while the media server (or plex.tv) cannot be asked; 0 ends it at once.",
            FieldKind::Integer {
                min: 0,
                max: 720,
                unit: "hours",
            },
        ),
        Field::new(
            "plex_requests_per_minute",
            "Requests to plex.tv",
            "The most requests a pass makes to plex.tv, so a big server is not rate-limited there.",
            FieldKind::Integer {
                min: 1,
                max: 600,
                unit: "a minute",
            },
        ),
        Field::new(
            "media_requests_per_second",
            "Requests to Jellyfin or Emby",
            "The most requests a pass makes to your Jellyfin or Emby when accounts are checked one by one (no Jellyfin API key).",
            FieldKind::Integer {
                min: 1,
                max: 1000,
                unit: "a second",
            },
        ),
    ];
}

pub fn revalidation(conn: &Connection) -> Result<Revalidation> {
    load(conn)
}
