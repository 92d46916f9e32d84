//! Section "events": how long the audit log is kept.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::settings::{Section, load};

/// Section "events": how long the audit log (and finished webhook deliveries) is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSettings {
    /// Days (1 to 3650); the janitor deletes older events.
    pub retention_days: i64,
}

impl Default for EventsSettings {
    fn default() -> Self {
        EventsSettings { retention_days: 90 }
    }
}

impl Section for EventsSettings {
    const NAME: &'static str = "events";

    fn check(&self) -> std::result::Result<(), String> {
        if !(1..=3650).contains(&self.retention_days) {
            return Err(format!(
                "events.retention_days: {} is not between 1 and 3650",
                self.retention_days
            ));
        }
        Ok(())
    }
}

pub fn events(conn: &Connection) -> Result<EventsSettings> {
    load(conn)
}
