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

    /// See access::check_edit: what an edit may not silently do to the rules saved before.
    fn check_edit(
        &self,
        stored: &Self,
        enabled: &[ProviderKind],
    ) -> std::result::Result<(), String> {
        crate::access::check_edit(self, stored, enabled)
    }
}

pub fn access(conn: &Connection) -> Result<AccessSpec> {
    load(conn)
}
