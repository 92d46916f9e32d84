//! The OpenID Connect provider's rules: clients and their authentication, authorization
//! requests and consent, the token endpoint's grants (code with PKCE, refresh rotation,
//! client credentials, device codes), the device authorization grant (device.rs),
//! userinfo, introspection, revocation, RP-initiated logout, signing keys, and the typed
//! OAuth error. The HTTP side is web/oidc.rs and web/device.rs.

pub mod authorize;
pub mod clients;
pub mod device;
pub mod discovery;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod keys;
pub mod logout;
pub mod pending;
pub mod picture;
pub mod presets;
pub mod refresh;
pub mod revoke;
pub mod token;
pub mod userinfo;

pub use error::{Failure, OAuthError, Outcome};

/// An authorization code must be redeemed within this many seconds.
pub const CODE_TTL: i64 = 60;
pub const ACCESS_TTL: i64 = 3600;
pub const ID_TOKEN_TTL: i64 = 3600;
/// A refresh token lives this long; every use rotates it.
pub const REFRESH_TTL: i64 = 30 * 24 * 3600;

pub const SCOPES: &[&str] = &["openid", "profile", "email", "groups", "offline_access"];
pub const GRANT_TYPES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    device::GRANT_TYPE,
];

/// Token endpoint client authentication methods (RFC 7591 2): the secret in HTTP Basic,
/// the secret in the form, or none (a public client, which proves itself with PKCE).
pub const CLIENT_SECRET_BASIC: &str = "client_secret_basic";
pub const CLIENT_SECRET_POST: &str = "client_secret_post";
pub const AUTH_NONE: &str = "none";
pub const AUTH_METHODS: &[&str] = &[CLIENT_SECRET_BASIC, CLIENT_SECRET_POST, AUTH_NONE];

/// Who sent a request, as the audit log and the logs name it (filled in by web/).
pub struct Caller<'a> {
    pub ip: std::net::IpAddr,
    pub user_agent: Option<&'a str>,
    pub request_id: &'a str,
}

impl Caller<'_> {
    /// Writes a successful event of this request: its address, and the user agent in
    /// `detail` (the same shape as web::events::record).
    pub fn record(
        &self,
        tx: &rusqlite::Connection,
        kind: crate::event_type::EventType,
        user_id: Option<i64>,
        mut detail: serde_json::Value,
        now: i64,
    ) -> crate::error::Result<()> {
        if let (Some(ua), serde_json::Value::Object(map)) = (self.user_agent, &mut detail) {
            map.entry("user_agent").or_insert_with(|| ua.into());
        }
        crate::db::events::record(
            tx,
            &crate::db::events::Event {
                kind,
                user_id,
                ip: Some(&self.ip.to_string()),
                result: "success",
                detail,
            },
            now,
        )
    }
}

/// Space-separated scope string -> list, in order, without duplicates.
pub fn parse_scopes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in s.split(' ').filter(|x| !x.is_empty()) {
        if !out.iter().any(|o| o == scope) {
            out.push(scope.to_string());
        }
    }
    out
}
