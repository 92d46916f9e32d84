//! Section "access": the forward-auth rules (defined and compiled in access/).

use rusqlite::Connection;

use crate::access::{AccessRules, AccessSpec};
use crate::error::Result;
use crate::providers::ProviderKind;
use crate::settings::{Section, load};

impl Section for AccessSpec {
    const NAME: &'static str = "access";

    fn check(&self) -> std::result::Result<(), String> {
        AccessRules::compile(self).map(|_| ())
    }

    fn warnings(&self, enabled: &[ProviderKind]) -> Vec<String> {
        crate::access::warnings(self, enabled)
    }
}

pub fn access(conn: &Connection) -> Result<AccessSpec> {
    load(conn)
}

/// An owner's edit of the access rules, checked against the rules saved before and the
/// media servers in use (see access::check_edit).
pub fn check_access_edit(
    new: &serde_json::Value,
    current: &serde_json::Value,
    enabled: &[ProviderKind],
) -> std::result::Result<(), String> {
    let new: AccessSpec =
        serde_json::from_value(new.clone()).map_err(|e| format!("access: {e}"))?;
    let stored: AccessSpec = serde_json::from_value(current.clone()).unwrap_or_default();
    crate::access::check_edit(&new, &stored, enabled)
}
