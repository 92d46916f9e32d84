//! Section "mfa": which groups must use a second factor.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::settings::{Section, load};

/// Section "mfa". Saved documents name every field (no defaults filled in), as before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaSettings {
    /// Members of these groups must use a second factor (e.g. "admins").
    pub enforce_groups: Vec<String>,
}

impl Section for MfaSettings {
    const NAME: &'static str = "mfa";
}

pub fn mfa(conn: &Connection) -> Result<MfaSettings> {
    load(conn)
}
