//! The portal's cookies: one `Cookie` kind each, carrying its name and the purpose its
//! value is signed for, and the Set-Cookie values. Every cookie is HttpOnly and
//! SameSite=Lax; Secure when the portal is served over https (or forced); Domain when
//! configured.

use crate::config::Config;
use crate::crypto::tokens::CookieSigner;
use crate::web::request::Ctx;

/// A cookie the portal sets. Each holds a signed random id referring to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cookie {
    /// A full session (a `sessions` row).
    Session,
    /// A Plex PIN sign-in in progress (a `login_flows` row).
    Flow,
    /// A sign-in that passed the first factor and waits for the second (or for enrolment).
    Mfa,
    /// The setup wizard, unlocked by the setup code.
    Setup,
    /// This browser, for the OIDC authorization requests it left waiting for sign-in
    /// (`oidc_pending` rows are bound to it).
    OidcPending,
}

impl Cookie {
    pub const ALL: [Cookie; 5] = [
        Cookie::Session,
        Cookie::Flow,
        Cookie::Mfa,
        Cookie::Setup,
        Cookie::OidcPending,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cookie::Session => "authportal_session",
            Cookie::Flow => "authportal_flow",
            Cookie::Mfa => "authportal_mfa",
            Cookie::Setup => "authportal_setup",
            Cookie::OidcPending => "authportal_oidc",
        }
    }

    /// What the value is signed for, so one cookie's value can never stand in for another's.
    fn purpose(self) -> &'static str {
        match self {
            Cookie::Session => "s",
            Cookie::Flow => "f",
            Cookie::Mfa => "m",
            Cookie::Setup => "w",
            Cookie::OidcPending => "o",
        }
    }

    /// The id this request's cookie holds, if it is present and its signature verifies.
    pub fn read(self, ctx: &Ctx) -> Option<Vec<u8>> {
        let value = ctx.cookie(self.name())?;
        ctx.app.cookies.verify(self.purpose(), &value)
    }

    /// The cookie's value for `id`: signed for this kind only.
    pub fn sign(self, signer: &CookieSigner, id: &[u8]) -> String {
        signer.sign(self.purpose(), id)
    }

    /// The Set-Cookie value that gives the browser `id`, signed, for `max_age_secs`.
    pub fn issue(self, ctx: &Ctx, id: &[u8], max_age_secs: i64) -> String {
        let value = self.sign(&ctx.app.cookies, id);
        set(&ctx.app.config, self.name(), &value, max_age_secs)
    }

    /// The Set-Cookie value that removes it.
    pub fn clear(self, cfg: &Config) -> String {
        set(cfg, self.name(), "", 0)
    }

    /// Whether `name` is one of the portal's own cookies (which never reach an app).
    pub fn is_portal(name: &str) -> bool {
        Cookie::ALL.iter().any(|c| c.name() == name)
    }
}

fn set(cfg: &Config, name: &str, value: &str, max_age_secs: i64) -> String {
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

#[cfg(test)]
mod tests {
    use super::Cookie;

    #[test]
    fn each_cookie_has_its_own_name_and_signing_purpose() {
        for (i, a) in Cookie::ALL.iter().enumerate() {
            assert!(Cookie::is_portal(a.name()));
            for b in &Cookie::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
                assert_ne!(
                    a.purpose(),
                    b.purpose(),
                    "{a:?} and {b:?} would verify each other"
                );
            }
        }
        assert!(!Cookie::is_portal("app_session"));
    }
}
