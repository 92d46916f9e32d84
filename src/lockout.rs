//! No lock-outs and no climbing: the rules that refuse a console change which would take
//! the console away from the admin making it, or hand out more of it than they hold. The
//! command line (`authportal admin grant`, `mfa reset`) stays the way back for everything
//! else.

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

/// Err when saving `stored` as section `section` ("roles") would give a group a
/// permission it does not have under `in_force` and that someone in `editor` groups does
/// not hold: a helper with config.write cannot give their own group users.write or "*".
pub fn check_grants(
    section: &str,
    stored: &Value,
    in_force: &RolesSettings,
    editor: &[String],
) -> Result<(), String> {
    if section != "roles" {
        return Ok(());
    }
    let Ok(new) = serde_json::from_value::<RolesSettings>(stored.clone()) else {
        return Ok(()); // refused by the section's own checks
    };
    for group in new.roles.keys() {
        let group = std::slice::from_ref(group);
        let gained = Permission::ALL
            .into_iter()
            .find(|p| new.allows(group, *p) && !in_force.allows(group, *p));
        if let Some(p) = gained.filter(|p| !in_force.allows(editor, *p)) {
            return Err(format!(
                "roles.{}: you cannot give {p}, which you do not hold yourself: ask an admin who does",
                group[0]
            ));
        }
    }
    Ok(())
}

/// A permission someone in `groups` holds and someone in `editor` groups does not.
fn beyond(roles: &RolesSettings, groups: &[String], editor: &[String]) -> Option<Permission> {
    Permission::ALL
        .into_iter()
        .find(|p| roles.allows(groups, *p) && !roles.allows(editor, *p))
}

/// Err when assigning the `added` groups would give someone a permission that someone in
/// `editor` groups does not hold: users.write alone cannot make anyone an admin.
pub fn check_assignment(
    roles: &RolesSettings,
    added: &[String],
    editor: &[String],
) -> Result<(), String> {
    for group in added {
        if let Some(p) = beyond(roles, std::slice::from_ref(group), editor) {
            return Err(format!(
                "group {group:?} carries {p}, which you do not hold yourself: ask an admin who does"
            ));
        }
    }
    Ok(())
}

/// Err when the user in `target` groups holds a permission that someone in `editor`
/// groups does not: users.write alone cannot demote, disable or reset the second factor
/// of an admin.
pub fn check_target(
    roles: &RolesSettings,
    target: &[String],
    editor: &[String],
) -> Result<(), String> {
    match beyond(roles, target, editor) {
        Some(p) => Err(format!(
            "this user holds {p}, which you do not: ask an admin who does"
        )),
        None => Ok(()),
    }
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

    fn roles(doc: Value) -> RolesSettings {
        serde_json::from_value(doc).unwrap()
    }

    #[test]
    fn nobody_gives_out_a_permission_they_do_not_hold() {
        let in_force = roles(serde_json::json!({ "roles": { "admins": ["*"],
            "helpdesk": ["admin.access", "config.read", "config.write"], "viewers": ["events.read"] } }));
        let helpdesk = vec!["helpdesk".to_string()];
        let admins = vec!["admins".to_string()];
        for climbing in [
            serde_json::json!({ "roles": { "admins": ["*"], "helpdesk": ["*"] } }),
            serde_json::json!({ "roles": { "admins": ["*"], "helpdesk": ["admin.access", "config.write", "users.write"] } }),
            serde_json::json!({ "roles": { "admins": ["*"], "helpdesk": ["admin.access", "config.write"], "new": ["backups.write"] } }),
        ] {
            let e = check_grants("roles", &climbing, &in_force, &helpdesk).unwrap_err();
            assert!(e.contains("do not hold"), "{e}");
            check_grants("roles", &climbing, &in_force, &admins).unwrap();
        }
        // Giving what you hold, and keeping what others already had, is fine.
        let fine = serde_json::json!({ "roles": { "admins": ["*"],
            "helpdesk": ["admin.access", "config.read", "config.write"], "viewers": ["events.read"],
            "ops": ["admin.access", "config.read"] } });
        check_grants("roles", &fine, &in_force, &helpdesk).unwrap();
        check_grants("mfa", &fine, &in_force, &[]).unwrap();

        let users_only = roles(serde_json::json!({ "roles": { "admins": ["*"],
            "helpdesk": ["admin.access", "users.read", "users.write"] } }));
        for group in ["admins", "helpdesk"] {
            check_assignment(&users_only, &[group.to_string()], &admins).unwrap();
        }
        let e = check_assignment(&users_only, &admins, &helpdesk).unwrap_err();
        assert!(e.contains("\"admins\""), "{e}");
        check_assignment(
            &users_only,
            &["helpdesk".into(), "family".into()],
            &helpdesk,
        )
        .unwrap();
        let e = check_target(&users_only, &admins, &helpdesk).unwrap_err();
        assert!(e.contains("do not"), "{e}");
        check_target(&users_only, &helpdesk, &helpdesk).unwrap();
        check_target(&users_only, &helpdesk, &admins).unwrap();
    }
}
