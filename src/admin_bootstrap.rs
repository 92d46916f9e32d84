//! ADMIN_BOOTSTRAP_USERS: which signed-in accounts are made admins, each entry bound to
//! one account the owner controls.
//!
//! A plex.tv username is anyone's to take (a friend can rename to `Alice`), so a Plex
//! account matches only together with the email plex.tv vouches for. A Jellyfin or Emby
//! account lives on the owner's own server, so its name is the owner's to give: it
//! matches by username (any case, as those servers compare names), and the email part is
//! checked only if the server ever reports one (today neither does).
//!
//! Forms (comma-separated):
//! - `alice`                        Jellyfin or Emby user alice; never a Plex account
//! - `alice:alice@example.com`      Plex account alice with that email, or Jellyfin/Emby user alice
//! - `plex:alice:alice@example.com` only the Plex account (the email is required)
//! - `jellyfin:alice`, `emby:alice` only that server's user (an email part may follow)
//!
//! A first part naming a provider is always the provider, so `plex:x@example.com` is a
//! Plex entry without an email (refused), not a user called "plex".

use crate::config::ConfigError;
use crate::providers::{Identity, ProviderKind};

const VAR: &str = "ADMIN_BOOTSTRAP_USERS";

/// One entry: which provider(s), the username, and the email it must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminBootstrap {
    /// None: a Plex account (with the email) or a Jellyfin/Emby user.
    pub provider: Option<ProviderKind>,
    pub username: String,
    pub email: Option<String>,
}

impl AdminBootstrap {
    /// Does this entry name the account the provider vouched for?
    pub fn matches(&self, ident: &Identity) -> bool {
        if self.provider.is_some_and(|p| p != ident.provider) {
            return false;
        }
        if !same_name(&self.username, &ident.username) {
            return false;
        }
        match ident.provider {
            // Only the email plex.tv vouches for binds a Plex account to the owner's entry.
            ProviderKind::Plex => match (&self.email, &ident.email) {
                (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                _ => false,
            },
            ProviderKind::Jellyfin | ProviderKind::Emby => match (&self.email, &ident.email) {
                (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                _ => true,
            },
        }
    }

    /// One line for the start-up log: how this entry will match.
    pub fn describe(&self) -> String {
        let name = &self.username;
        match (self.provider, &self.email) {
            (Some(ProviderKind::Plex), Some(email)) => {
                format!(
                    "{VAR}: {name:?} matches only the Plex account {name} whose plex.tv email is {email}"
                )
            }
            (Some(p), email) => format!(
                "{VAR}: {name:?} matches only the {} user {name} (any case) on your server{}",
                p.label(),
                if email.is_some() {
                    "; the email part is not checked: that server reports no email"
                } else {
                    ""
                }
            ),
            (None, Some(email)) => format!(
                "{VAR}: {name:?} matches the Plex account {name} whose plex.tv email is {email}, or the Jellyfin/Emby user {name} (any case) on your server (those report no email, so the name alone decides)"
            ),
            (None, None) => format!(
                "{VAR}: {name:?} matches the Jellyfin/Emby user {name} (any case) on your server; never a Plex account (write {name}:EMAIL for one)"
            ),
        }
    }
}

/// Usernames compare without case, as Jellyfin and Emby compare them.
fn same_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// Parses the variable's value; a bad entry stops start-up with a line naming the variable.
pub fn parse(s: &str) -> Result<Vec<AdminBootstrap>, ConfigError> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(parse_entry)
        .collect()
}

fn parse_entry(entry: &str) -> Result<AdminBootstrap, ConfigError> {
    let bad = |why: &str| ConfigError {
        var: VAR,
        problem: format!(
            "entry {entry:?} {why}; expected username, username:email or provider:username[:email] (provider plex, jellyfin or emby)"
        ),
    };
    let parts: Vec<&str> = entry.split(':').map(str::trim).collect();
    let (provider, username, email) = match parts.as_slice() {
        [user] => (None, *user, None),
        [first, rest] => match ProviderKind::parse(&first.to_ascii_lowercase()) {
            Some(p) => (Some(p), *rest, None),
            None => (None, *first, Some(*rest)),
        },
        [first, user, email] => {
            let p = ProviderKind::parse(&first.to_ascii_lowercase()).ok_or_else(|| {
                bad("has three parts but the first is not plex, jellyfin or emby")
            })?;
            (Some(p), *user, Some(*email))
        }
        _ => return Err(bad("has too many ':'")),
    };
    if username.is_empty() {
        return Err(bad("has no username"));
    }
    let email = match email {
        Some(e) => Some(
            crate::config::parse_email(VAR, e)
                .map_err(|_| bad("has no valid email after the username"))?,
        ),
        None => None,
    };
    if provider == Some(ProviderKind::Plex) && email.is_none() {
        return Err(bad(
            "names a Plex account without its email (a plex.tv name is anyone's to take: write plex:username:email)",
        ));
    }
    Ok(AdminBootstrap {
        provider,
        username: username.to_string(),
        email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(provider: ProviderKind, username: &str, email: Option<&str>) -> Identity {
        Identity {
            provider,
            provider_user_id: "1".into(),
            username: username.into(),
            email: email.map(str::to_string),
            groups: Vec::new(),
            token: String::new(),
            avatar: None,
            method: crate::providers::FirstFactor::Password,
        }
    }

    fn one(s: &str) -> AdminBootstrap {
        let mut v = parse(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v.remove(0)
    }

    #[test]
    fn forms_parse_and_provider_prefixes_win() {
        assert_eq!(
            one("plex:alice:Alice@Example.com"),
            AdminBootstrap {
                provider: Some(ProviderKind::Plex),
                username: "alice".into(),
                email: Some("Alice@Example.com".into())
            }
        );
        assert_eq!(
            one("alice:alice@example.com").provider,
            None,
            "two parts, the first no provider: username:email"
        );
        assert_eq!(
            one(" Jellyfin : bob ").provider,
            Some(ProviderKind::Jellyfin)
        );
        assert_eq!(one("jellyfin:bob").username, "bob");
        assert_eq!(
            one("emby:bob:bob@example.com").email.as_deref(),
            Some("bob@example.com")
        );
        assert_eq!(
            one("bob"),
            AdminBootstrap {
                provider: None,
                username: "bob".into(),
                email: None
            }
        );
        assert_eq!(parse(" , ,").unwrap(), vec![]);
        assert_eq!(parse("a, jellyfin:b").unwrap().len(), 2);
    }

    #[test]
    fn bad_entries_name_the_variable() {
        for bad in [
            "plex:alice",
            "plex:alice@example.com",
            "kodi:alice:alice@example.com",
            "alice:not-an-email",
            ":alice@example.com",
            "jellyfin:",
            "plex:a:b@example.com:x",
            "alice:",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.var, VAR, "{bad}");
            assert!(e.problem.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn a_bare_name_never_matches_a_plex_account() {
        let e = one("alice");
        assert!(!e.matches(&ident(
            ProviderKind::Plex,
            "alice",
            Some("alice@example.com")
        )));
        assert!(!e.matches(&ident(ProviderKind::Plex, "Alice", None)));
        assert!(e.matches(&ident(ProviderKind::Jellyfin, "ALICE", None)));
        assert!(e.matches(&ident(ProviderKind::Emby, "alice", None)));
        assert!(!e.matches(&ident(ProviderKind::Jellyfin, "alice2", None)));
    }

    #[test]
    fn username_email_binds_plex_by_email_and_jellyfin_by_name() {
        let e = one("alice:Alice@Example.com");
        assert!(e.matches(&ident(
            ProviderKind::Plex,
            "Alice",
            Some("alice@example.COM")
        )));
        assert!(!e.matches(&ident(
            ProviderKind::Plex,
            "alice",
            Some("mallory@example.com")
        )));
        assert!(!e.matches(&ident(ProviderKind::Plex, "alice", None)));
        assert!(!e.matches(&ident(ProviderKind::Plex, "bob", Some("alice@example.com"))));
        assert!(e.matches(&ident(ProviderKind::Jellyfin, "alice", None)));
        assert!(e.matches(&ident(ProviderKind::Emby, "Alice", None)));
        assert!(!e.matches(&ident(
            ProviderKind::Jellyfin,
            "alice",
            Some("other@example.com")
        )));
    }

    #[test]
    fn provider_entries_match_only_that_provider() {
        let e = one("jellyfin:alice");
        assert!(e.matches(&ident(ProviderKind::Jellyfin, "Alice", None)));
        assert!(!e.matches(&ident(ProviderKind::Emby, "alice", None)));
        let p = one("plex:alice:alice@example.com");
        assert!(p.matches(&ident(
            ProviderKind::Plex,
            "alice",
            Some("alice@example.com")
        )));
        assert!(!p.matches(&ident(ProviderKind::Jellyfin, "alice", None)));
    }

    #[test]
    fn every_form_describes_how_it_matches() {
        assert!(one("alice").describe().contains("never a Plex account"));
        assert!(
            one("alice:a@example.com")
                .describe()
                .contains("plex.tv email is a@example.com")
        );
        assert!(
            one("jellyfin:alice:a@example.com")
                .describe()
                .contains("not checked")
        );
        assert!(
            one("plex:alice:a@example.com")
                .describe()
                .contains("only the Plex account")
        );
    }
}
