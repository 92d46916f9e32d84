//! The event types of the audit log and webhooks: every stable dotted name in one list,
//! each with a line saying when it is written, and the rules for webhook subscription
//! patterns (`*`, `prefix.*`, exact names) over that list.

use std::fmt;

/// Declares the enum, its names and descriptions from one table, so a new type is one line.
macro_rules! event_types {
    ($($variant:ident => $name:literal, $about:literal;)+) => {
        /// One kind of event. The dotted name is the API (webhook rules, the events filter,
        /// `{event.type}`, owners' scripts): never rename one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $(#[doc = $about] $variant,)+
        }

        impl EventType {
            /// Every type, in the order the console and README list them.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)+];

            /// The stable dotted name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)+
                }
            }

            /// One line saying when the event is written.
            pub fn description(self) -> &'static str {
                match self {
                    $(EventType::$variant => $about,)+
                }
            }
        }
    };
}

event_types! {
    SigninSuccess => "signin.success", "A sign-in is complete: the provider vouched and, with MFA, the second factor passed. The only type that means \"this person is in\".";
    SigninFailure => "signin.failure", "A sign-in was refused (wrong password, no access, disabled account).";
    SigninFirstFactor => "signin.first_factor", "The password was right and a second factor is now due (only rules naming it exactly receive it).";
    SigninLocked => "signin.locked", "An account had too many wrong passwords in a row and must wait.";
    Logout => "logout", "A user signed out of the portal.";
    SessionEnd => "session.end", "A user ended one of their own sessions (from /home or the API).";
    DeviceLinked => "device.linked", "A user approved a TV or app's Jellyfin Quick Connect code on /home (result says whether the server took it).";
    MfaVerify => "mfa.verify", "A second-factor code was checked at sign-in (result says whether it passed).";
    MfaLocked => "mfa.locked", "Too many wrong second-factor codes: back-off started, or the day's budget is spent.";
    MfaEnroll => "mfa.enroll", "A user set up (or failed to confirm) two-factor sign-in.";
    MfaDisable => "mfa.disable", "A user removed their two-factor sign-in.";
    MfaRecoveryCodes => "mfa.recovery_codes", "A user made new recovery codes.";
    AppPasswordCreate => "app_password.create", "A user made an app password for the LDAP directory.";
    AppPasswordRevoke => "app_password.revoke", "A user revoked one of their app passwords.";
    LdapBindSuccess => "ldap.bind.success", "An application bound to the LDAP directory (as a service account or a person).";
    LdapBindFailure => "ldap.bind.failure", "An LDAP bind was refused (wrong DN or password, no access, too many failures).";
    AccessWithdrawn => "access.withdrawn", "A provider no longer vouches for an account at sign-in: its sessions and tokens ended.";
    AccessRevoked => "access.revoked", "Re-validation found an account without access: its sessions and tokens ended.";
    ConsentGranted => "consent.granted", "A user allowed an OIDC client to sign them in.";
    ConsentRevoked => "consent.revoked", "A user withdrew an OIDC client's consent on the portal.";
    TokenIssued => "token.issued", "The token endpoint issued tokens for a code.";
    TokenRefreshed => "token.refreshed", "The token endpoint issued tokens for a refresh token.";
    TokenRevoked => "token.revoked", "A client revoked a token.";
    DeviceApproved => "device.approved", "A user approved a TV's or app's sign-in code at /device (the device gets its tokens at its next poll).";
    DeviceDenied => "device.denied", "A user denied a TV's or app's sign-in code at /device.";
    ForwardAuthDenied => "forward_auth.denied", "Forward-auth refused a signed-in user a protected site.";
    SetupDone => "setup.done", "First-run setup finished and made the first admin.";
    BackupSuccess => "backup.success", "A scheduled backup was written.";
    BackupFailure => "backup.failure", "A scheduled backup failed.";
    WebhookDelivery => "webhook.delivery", "A webhook delivery ended, delivered or given up (never delivered to webhooks).";
    WebhookTest => "webhook.test", "The sample event of a test delivery (never recorded).";
    AdminConfigUpdate => "admin.config.update", "An admin changed a settings section.";
    AdminConfigRevert => "admin.config.revert", "An admin put back an earlier version of a settings section.";
    AdminConfigImport => "admin.config.import", "Settings were imported from a file.";
    AdminBrandingImage => "admin.branding.image", "An admin uploaded a logo or icon.";
    AdminBrandingImageRemoved => "admin.branding.image_removed", "An admin removed a logo or icon.";
    AdminBackupCreate => "admin.backup.create", "An admin (or the CLI) made a backup.";
    AdminBackupDelete => "admin.backup.delete", "An admin deleted a backup.";
    AdminBackupUpload => "admin.backup.upload", "An admin uploaded a backup file.";
    AdminBackupRestore => "admin.backup.restore", "An admin (or the CLI) restored a backup.";
    AdminOauthClientCreate => "admin.oauth_client.create", "An admin registered an OIDC client.";
    AdminOauthClientUpdate => "admin.oauth_client.update", "An admin changed an OIDC client.";
    AdminOauthClientDelete => "admin.oauth_client.delete", "An admin deleted an OIDC client.";
    AdminOauthClientRotateSecret => "admin.oauth_client.rotate_secret", "An admin gave an OIDC client a new secret.";
    AdminUserDisable => "admin.user.disable", "An admin disabled a user.";
    AdminUserEnable => "admin.user.enable", "An admin enabled a user.";
    AdminUserGroups => "admin.user.groups", "An admin changed a user's portal groups.";
    AdminSessionRevoke => "admin.session.revoke", "An admin ended one of a user's sessions.";
    AdminSessionRevokeAll => "admin.session.revoke_all", "An admin ended all of a user's sessions.";
    AdminGrantRevoke => "admin.grant.revoke", "An admin withdrew a user's consent to an OIDC client.";
    AdminMfaReset => "admin.mfa.reset", "An admin removed a user's second factors.";
    AdminTrustedIpForget => "admin.trusted_ip.forget", "An admin forgot a user's recent sign-in address.";
    AdminLdapServiceCreate => "admin.ldap_service.create", "An admin made an LDAP service account.";
    AdminLdapServiceDelete => "admin.ldap_service.delete", "An admin deleted an LDAP service account.";
    AdminWebhookCreate => "admin.webhook.create", "An admin created a webhook rule.";
    AdminWebhookUpdate => "admin.webhook.update", "An admin changed a webhook rule.";
    AdminWebhookDelete => "admin.webhook.delete", "An admin deleted a webhook rule.";
    AdminWebhookTest => "admin.webhook.test", "An admin queued a test delivery of a webhook rule.";
}

impl EventType {
    /// The type with this dotted name (exact, case-sensitive).
    pub fn parse(name: &str) -> Option<EventType> {
        Self::ALL.iter().copied().find(|t| t.as_str() == name)
    }

    /// Types only a rule naming them exactly receives, never "signin.*" or "*": rules
    /// written before `signin.first_factor` existed took "signin.*" to mean finished
    /// sign-ins, and must not start opening doors on a password alone.
    pub fn exact_only(self) -> bool {
        matches!(self, EventType::SigninFirstFactor)
    }

    /// Whether webhooks can receive it: deliveries are events too, and a rule for "*"
    /// must not feed on its own outcomes.
    pub fn delivered(self) -> bool {
        !self.as_str().starts_with("webhook.")
    }

    /// Every name, comma-separated, for error messages.
    pub fn known_names() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
        names.join(", ")
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Whether a webhook rule's pattern takes an event of this (dotted) type: exactly, "*",
/// or a prefix ending in "*". Exact-only types match only when named exactly. Works on
/// names rather than `EventType` so stored events of retired types still compare.
pub fn pattern_wants(pattern: &str, kind: &str) -> bool {
    let wildcards_too = !EventType::parse(kind).is_some_and(EventType::exact_only);
    match pattern.strip_suffix('*') {
        Some(prefix) => wildcards_too && kind.starts_with(prefix),
        None => pattern == kind,
    }
}

/// Whether a subscription pattern can ever fire: it takes at least one type webhooks
/// receive. A typo ("signin.sucess") or a prefix of nothing ("sigin.*") cannot.
pub fn pattern_is_known(pattern: &str) -> bool {
    EventType::ALL
        .iter()
        .any(|t| t.delivered() && pattern_wants(pattern, t.as_str()))
}

/// Checks a subscription pattern; the error names the known types.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern_is_known(pattern) {
        return Ok(());
    }
    Err(format!(
        "events: {pattern:?} matches no event type webhooks receive; use \"*\", a prefix such as \"signin.*\", or one of: {}",
        delivered_names()
    ))
}

/// The names webhooks can subscribe to, comma-separated.
fn delivered_names() -> String {
    let names: Vec<&str> = EventType::ALL
        .iter()
        .filter(|t| t.delivered())
        .map(|t| t.as_str())
        .collect();
    names.join(", ")
}

/// Checks a filter of the events API (a type or a type prefix such as "signin."): it must
/// begin at least one known type's name. The error names the known types.
pub fn check_filter(prefix: &str) -> Result<(), String> {
    if EventType::ALL
        .iter()
        .any(|t| t.as_str().starts_with(prefix))
    {
        return Ok(());
    }
    Err(format!(
        "type: {prefix:?} is not an event type or the start of one; known types: {}",
        EventType::known_names()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_dotted_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for t in EventType::ALL {
            assert!(seen.insert(t.as_str()), "{t} twice");
            assert_eq!(EventType::parse(t.as_str()), Some(*t));
            assert!(!t.description().is_empty());
            assert!(
                t.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
                "{t}"
            );
        }
        assert_eq!(EventType::parse("signin.sucess"), None);
    }

    #[test]
    fn patterns_keep_wildcard_and_exact_only_rules() {
        assert!(pattern_wants("*", "signin.success"));
        assert!(pattern_wants("signin.*", "signin.failure"));
        assert!(!pattern_wants("signin.*", "signin.first_factor"));
        assert!(!pattern_wants("*", "signin.first_factor"));
        assert!(pattern_wants("signin.first_factor", "signin.first_factor"));
        assert!(!pattern_wants("signin.success", "signin.successful"));
    }

    #[test]
    fn subscriptions_must_match_a_delivered_type() {
        for ok in [
            "*",
            "signin.*",
            "admin.*",
            "signin.first_factor",
            "access.withdrawn",
        ] {
            assert!(check_pattern(ok).is_ok(), "{ok}");
        }
        for bad in [
            "signin.sucess",
            "sigin.*",
            "webhook.delivery",
            "webhook.*",
            "signin.first*",
            "",
        ] {
            let e = check_pattern(bad).unwrap_err();
            assert!(e.contains("signin.success"), "{bad}: {e}");
        }
    }

    #[test]
    fn filters_must_begin_a_known_type() {
        assert!(check_filter("signin.").is_ok());
        assert!(check_filter("webhook.").is_ok());
        assert!(check_filter("access.revoked").is_ok());
        assert!(check_filter("signin.sucess").is_err());
    }
}
