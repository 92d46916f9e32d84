//! Section "events": how long the audit log is kept.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::settings::{Field, FieldKind, Section, load};

/// Section "events": how long the audit log (and finished webhook deliveries) is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSettings {
    /// Days (1 to 3650, see FORM); the janitor deletes older events.
    pub retention_days: i64,
}

impl Default for EventsSettings {
    fn default() -> Self {
        EventsSettings { retention_days: 90 }
    }
}

impl Section for EventsSettings {
    const NAME: &'static str = "events";

    const FORM: &'static [Field] = &[Field::new(
        "retention_days",
        "Keep events for",
        "The janitor deletes older events from the audit log, and finished webhook deliveries with them.",
        FieldKind::Integer {
            min: 1,
            max: 3650,
            unit: "days",
        },
    )];
}

pub fn events(conn: &Connection) -> Result<EventsSettings> {
    load(conn)
}
