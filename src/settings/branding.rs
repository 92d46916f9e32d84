//! Section "branding": the texts people see and the services on the home page.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::settings::{Section, load};

/// A service on the home page: the apps a signed-in person may open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceLink {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Shown only to members of this group (everyone when absent).
    #[serde(default)]
    pub group: Option<String>,
    /// The name of an uploaded icon (`/branding/icons/NAME`).
    #[serde(default)]
    pub icon: Option<String>,
}

/// An icon name: what may follow `/branding/icons/`.
pub fn is_icon_name(n: &str) -> bool {
    (1..=32).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Section "branding": the texts people see and the services on the home page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Branding {
    /// Shown in every page's title and header, and in the console.
    pub app_name: Option<String>,
    /// The accent colour of buttons and links, as #rrggbb.
    pub accent_color: Option<String>,
    /// Replaces "You are signed in with ... and have access to this server."
    pub welcome_text: Option<String>,
    /// Added to the "No access" page (who to ask, how).
    pub restricted_text: Option<String>,
    pub links: Vec<ServiceLink>,
}

pub const DEFAULT_APP_NAME: &str = "AuthPortal";

impl Section for Branding {
    const NAME: &'static str = "branding";

    fn check(&self) -> std::result::Result<(), String> {
        if let Some(n) = &self.app_name {
            if n.trim().is_empty() || n.chars().count() > 40 || n.chars().any(char::is_control) {
                return Err(format!(
                    "branding.app_name: {n:?} must be 1 to 40 characters on one line"
                ));
            }
        }
        if let Some(c) = &self.accent_color {
            let hex = c
                .strip_prefix('#')
                .filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if hex.is_none() {
                return Err(format!(
                    "branding.accent_color: {c:?} must look like #6c8cff"
                ));
            }
        }
        for (i, l) in self.links.iter().enumerate() {
            let at = format!("branding.links[{i}]");
            if l.name.trim().is_empty() || l.name.len() > 60 {
                return Err(format!("{at}.name: 1 to 60 characters"));
            }
            let url = url::Url::parse(&l.url)
                .map_err(|_| format!("{at}.url: {:?} is not an absolute URL", l.url))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!("{at}.url: must be http(s)"));
            }
            if let Some(icon) = &l.icon {
                if !is_icon_name(icon) {
                    return Err(format!(
                        "{at}.icon: {icon:?} must be an uploaded icon's name (a-z, 0-9, -)"
                    ));
                }
            }
        }
        for (field, text) in [
            ("welcome_text", &self.welcome_text),
            ("restricted_text", &self.restricted_text),
        ] {
            if text.as_ref().is_some_and(|t| t.len() > 2000) {
                return Err(format!("branding.{field}: at most 2000 characters"));
            }
        }
        Ok(())
    }
}

impl Branding {
    /// The links someone in these groups may see.
    pub fn links_for<'a>(
        &'a self,
        groups: &'a [String],
    ) -> impl Iterator<Item = &'a ServiceLink> + 'a {
        self.links
            .iter()
            .filter(move |l| l.group.as_ref().is_none_or(|g| groups.contains(g)))
    }
}

pub fn branding(conn: &Connection) -> Result<Branding> {
    load(conn)
}
