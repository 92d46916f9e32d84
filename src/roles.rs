//! Console permissions and the "roles" settings section that grants them to groups.
//! A permission is a type, so a typo in code does not compile; its stable name
//! (`users.write`) is what the API and the roles JSON carry.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What the console lets a role do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    AdminAccess,
    ConfigRead,
    ConfigWrite,
    UsersRead,
    UsersWrite,
    OauthRead,
    OauthWrite,
    BackupsRead,
    BackupsWrite,
    EventsRead,
    WebhooksRead,
    WebhooksWrite,
}

impl Permission {
    /// Every permission, in the order the console lists them.
    pub const ALL: [Permission; 12] = [
        Permission::AdminAccess,
        Permission::ConfigRead,
        Permission::ConfigWrite,
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::OauthRead,
        Permission::OauthWrite,
        Permission::BackupsRead,
        Permission::BackupsWrite,
        Permission::EventsRead,
        Permission::WebhooksRead,
        Permission::WebhooksWrite,
    ];

    /// The stable name the API and the roles JSON use.
    pub const fn name(self) -> &'static str {
        match self {
            Permission::AdminAccess => "admin.access",
            Permission::ConfigRead => "config.read",
            Permission::ConfigWrite => "config.write",
            Permission::UsersRead => "users.read",
            Permission::UsersWrite => "users.write",
            Permission::OauthRead => "oauth.read",
            Permission::OauthWrite => "oauth.write",
            Permission::BackupsRead => "backups.read",
            Permission::BackupsWrite => "backups.write",
            Permission::EventsRead => "events.read",
            Permission::WebhooksRead => "webhooks.read",
            Permission::WebhooksWrite => "webhooks.write",
        }
    }

    /// The permission with this stable name (exact, case-sensitive).
    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }

    /// "admin.access, config.read, ...": for messages that name the known ones.
    pub fn known() -> String {
        Permission::ALL.map(Permission::name).join(", ")
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Permission::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown permission {name:?}; known: {}",
                Permission::known()
            ))
        })
    }
}

/// One entry of a role: a permission, or `*` for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    All,
    One(Permission),
}

impl Grant {
    fn covers(self, permission: Permission) -> bool {
        match self {
            Grant::All => true,
            Grant::One(p) => p == permission,
        }
    }
}

impl Serialize for Grant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Grant::All => s.serialize_str("*"),
            Grant::One(p) => p.serialize(s),
        }
    }
}

/// Raw role lists as written, so an unknown name can be reported with its group.
type RawRoles = BTreeMap<String, Vec<String>>;

/// Section "roles": groups that carry console permissions ("*" = all). The `admins`
/// group always has every permission, so nobody can lock the owners out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesSettings {
    #[serde(deserialize_with = "grants")]
    pub roles: BTreeMap<String, Vec<Grant>>,
}

/// Reads each group's names, refusing an unknown one with the known names listed.
fn grants<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<Grant>>, D::Error> {
    let raw = RawRoles::deserialize(d)?;
    raw.into_iter()
        .map(|(group, names)| {
            let grants = names
                .iter()
                .map(|name| match name.as_str() {
                    "*" => Ok(Grant::All),
                    n => Permission::parse(n).map(Grant::One).ok_or_else(|| {
                        serde::de::Error::custom(format!(
                            "roles.{group}: unknown permission {n:?}; known: {}",
                            Permission::known()
                        ))
                    }),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((group, grants))
        })
        .collect()
}

impl Default for RolesSettings {
    fn default() -> Self {
        use Permission::*;
        let viewer = [
            AdminAccess,
            ConfigRead,
            UsersRead,
            OauthRead,
            BackupsRead,
            EventsRead,
            WebhooksRead,
        ];
        RolesSettings {
            roles: [
                ("admins".to_string(), vec![Grant::All]),
                (
                    "viewers".to_string(),
                    viewer.into_iter().map(Grant::One).collect(),
                ),
            ]
            .into_iter()
            .collect(),
        }
    }
}

impl RolesSettings {
    /// Whether someone in these groups holds `permission`.
    pub fn allows(&self, groups: &[String], permission: Permission) -> bool {
        groups.iter().any(|g| {
            g == "admins"
                || self
                    .roles
                    .get(g)
                    .is_some_and(|grants| grants.iter().any(|p| p.covers(permission)))
        })
    }

    /// The rules serde cannot express: named groups, and the owners keep everything.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.roles.keys().any(|group| group.trim().is_empty()) {
            return Err("roles: a role needs a group name".into());
        }
        if self.roles.get("admins").is_none_or(|p| p != &[Grant::All]) {
            return Err(
                "roles.admins must stay [\"*\"]: the owners' group always holds every permission"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.name()), Some(p));
            let json = serde_json::to_value(p).unwrap();
            assert_eq!(json, serde_json::json!(p.name()));
            assert_eq!(serde_json::from_value::<Permission>(json).unwrap(), p);
        }
        assert_eq!(Permission::parse("Users.Write"), None);
        assert_eq!(Permission::parse("*"), None);
    }

    #[test]
    fn roles_refuse_an_unknown_name_and_name_the_known_ones() {
        let e = serde_json::from_value::<RolesSettings>(
            serde_json::json!({ "roles": { "admins": ["*"], "helpdesk": ["users.wirte"] } }),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("roles.helpdesk"), "{e}");
        assert!(e.contains("users.wirte"), "{e}");
        assert!(e.contains("admin.access, config.read"), "{e}");
    }

    #[test]
    fn the_default_round_trips_through_its_json() {
        let json = serde_json::to_value(RolesSettings::default()).unwrap();
        assert_eq!(json["roles"]["admins"], serde_json::json!(["*"]));
        assert_eq!(json["roles"]["viewers"][0], "admin.access");
        let back: RolesSettings = serde_json::from_value(json).unwrap();
        assert!(back.allows(&["viewers".into()], Permission::UsersRead));
        assert!(!back.allows(&["viewers".into()], Permission::UsersWrite));
        assert!(back.allows(&["admins".into()], Permission::WebhooksWrite));
        back.check().unwrap();
    }
}
