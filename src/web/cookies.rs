//! Cookie names and Set-Cookie values. Every cookie is HttpOnly and SameSite=Lax;
//! Secure when the portal is served over https (or forced); Domain when configured.

use crate::config::Config;

/// A full session (signed reference to a `sessions` row).
pub const SESSION: &str = "authportal_session";
/// A Plex PIN sign-in in progress (signed reference to a `login_flows` row).
pub const FLOW: &str = "authportal_flow";

/// A sign-in that passed the first factor and waits for the second (or for enrolment).
pub const MFA: &str = "authportal_mfa";

/// The setup wizard, unlocked by the setup code.
pub const SETUP: &str = "authportal_setup";

/// The signing "kind" of each cookie, so one can never stand in for another.
pub const SESSION_KIND: &str = "s";
pub const FLOW_KIND: &str = "f";
pub const MFA_KIND: &str = "m";
pub const SETUP_KIND: &str = "w";

pub fn set(cfg: &Config, name: &str, value: &str, max_age_secs: i64) -> String {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax");
    if cfg.secure_cookies() {
        c.push_str("; Secure");
    }
    if let Some(domain) = &cfg.cookie_domain {
        // A bare IP cannot be a cookie Domain; host-only cookies do the job there.
        if domain.parse::<std::net::IpAddr>().is_err() {
            c.push_str("; Domain=");
            c.push_str(domain);
        }
    }
    c
}

pub fn clear(cfg: &Config, name: &str) -> String {
    set(cfg, name, "", 0)
}
