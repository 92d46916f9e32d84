//! No lock-outs: the rules that refuse a console change which would take the console away
//! from the admin making it. The command line (`authportal admin grant`, `mfa reset`)
//! stays the way back for everything else.

use serde_json::Value;

use crate::roles::{Permission, RolesSettings};
use crate::settings::MfaSettings;

/// The admin making a change, as the guard saw them on this request.
pub struct Me<'a> {
    /// Their groups (db::users::groups).
    pub groups: &'a [String],
    /// This session passed a second factor (its amr holds "otp").
    pub second_factor: bool,
    /// MFA is on for this install (MFA_ENABLE): enforcement applies only then.
    pub mfa_enabled: bool,
}

/// Err(what to do first) when saving `stored` as settings section `section` would shut
/// `me` out of the console. Sections other than "mfa" and "roles" cannot.
pub fn check_section(section: &str, stored: &Value, me: &Me) -> Result<(), String> {
    match section {
        "mfa" => {
            let Ok(mfa) = serde_json::from_value::<MfaSettings>(stored.clone()) else {
                return Ok(()); // refused by the section's own checks
            };
            check_mfa(&mfa, me)
        }
        "roles" => {
            let Ok(roles) = serde_json::from_value::<RolesSettings>(stored.clone()) else {
                return Ok(());
            };
            check_roles(&roles, me.groups)
        }
        _ => Ok(()),
    }
}

fn check_mfa(mfa: &MfaSettings, me: &Me) -> Result<(), String> {
    if !me.mfa_enabled || me.second_factor {
        return Ok(());
    }
    match mfa.enforce_groups.iter().find(|g| me.groups.contains(g)) {
        Some(group) => Err(format!(
            "this would require two-factor sign-in of the group {group:?}, which you are in, and \
             this session has no second factor, so it would lock you out of the console: set up \
             two-factor sign-in at /mfa/enroll first, sign out and in again with your code, then \
             save again"
        )),
        None => Ok(()),
    }
}

/// Err when `roles` would leave someone in `groups` without admin.access.
pub fn check_roles(roles: &RolesSettings, groups: &[String]) -> Result<(), String> {
    if roles.allows(groups, Permission::AdminAccess) {
        return Ok(());
    }
    Err(format!(
        "this would take admin.access away from you (your groups: {}), locking you out of the \
         console: ask another admin to make this change, or keep admin.access in one of your groups",
        if groups.is_empty() {
            "none".to_string()
        } else {
            groups.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(groups: &[String], second_factor: bool) -> Me<'_> {
        Me {
            groups,
            second_factor,
            mfa_enabled: true,
        }
    }

    #[test]
    fn enforcing_mfa_on_your_own_group_needs_a_second_factor_first() {
        let groups = vec!["admins".to_string()];
        let doc = serde_json::json!({ "enforce_groups": ["family", "admins"] });
        let e = check_section("mfa", &doc, &me(&groups, false)).unwrap_err();
        assert!(e.contains("/mfa/enroll"), "{e}");
        check_section("mfa", &doc, &me(&groups, true)).unwrap();
        let other = serde_json::json!({ "enforce_groups": ["family"] });
        check_section("mfa", &other, &me(&groups, false)).unwrap();
    }

    #[test]
    fn a_role_change_may_not_take_your_own_admin_access() {
        let groups = vec!["ops".to_string()];
        let keeps = serde_json::json!({ "roles": { "admins": ["*"], "ops": ["admin.access", "config.write"] } });
        check_section("roles", &keeps, &me(&groups, false)).unwrap();
        let drops = serde_json::json!({ "roles": { "admins": ["*"], "ops": ["config.write"] } });
        let e = check_section("roles", &drops, &me(&groups, false)).unwrap_err();
        assert!(e.contains("admin.access"), "{e}");
    }
}
