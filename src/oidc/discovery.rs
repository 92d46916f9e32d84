//! The provider's metadata (OpenID Connect Discovery 1.0): what it supports and where.

use serde_json::{Value, json};

use super::{AUTH_METHODS, CLIENT_SECRET_BASIC, CLIENT_SECRET_POST, GRANT_TYPES, SCOPES};
use crate::config::Config;

/// Where the discovery document is served (relative to APP_BASE_URL).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// What an owner pastes into an app: (label, URL), the issuer first.
pub fn endpoints(cfg: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("Issuer", cfg.issuer()),
        ("Discovery URL", cfg.url_for(DISCOVERY_PATH)),
        ("Authorization endpoint", cfg.url_for("/oidc/authorize")),
        ("Token endpoint", cfg.url_for("/oidc/token")),
        ("Userinfo endpoint", cfg.url_for("/oidc/userinfo")),
        ("JWKS URL", cfg.url_for("/oidc/jwks.json")),
        ("Revocation endpoint", cfg.url_for("/oidc/revoke")),
        ("Introspection endpoint", cfg.url_for("/oidc/introspect")),
        ("End session (logout) endpoint", cfg.url_for("/oidc/logout")),
    ]
}

pub fn document(cfg: &Config) -> Value {
    json!({
        "issuer": cfg.issuer(),
        "authorization_endpoint": cfg.url_for("/oidc/authorize"),
        "token_endpoint": cfg.url_for("/oidc/token"),
        "userinfo_endpoint": cfg.url_for("/oidc/userinfo"),
        "jwks_uri": cfg.url_for("/oidc/jwks.json"),
        "revocation_endpoint": cfg.url_for("/oidc/revoke"),
        "introspection_endpoint": cfg.url_for("/oidc/introspect"),
        "end_session_endpoint": cfg.url_for("/oidc/logout"),
        "device_authorization_endpoint": cfg.url_for(super::device::AUTHORIZATION_PATH),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash", "sid",
                             "preferred_username", "name", "email", "email_verified", "groups", "picture"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": [CLIENT_SECRET_BASIC, CLIENT_SECRET_POST],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}
