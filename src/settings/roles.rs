//! Section "roles": which groups carry which console permissions. The document and its
//! rules stay with the permissions (RolesSettings); this is its place in the list.

use crate::settings::{RolesSettings, Section};

impl Section for RolesSettings {
    const NAME: &'static str = "roles";

    fn check(&self) -> std::result::Result<(), String> {
        // The inherent check (it knows the permissions), not this trait method.
        RolesSettings::check(self)
    }
}
