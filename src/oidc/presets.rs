//! App presets: for each homelab app the client settings it needs (authentication
//! method, PKCE, scopes, redirect URIs) and the values an owner pastes into the app.
//! One table, used by the console's client form, the admin API and the CLI.

use super::{AUTH_NONE, CLIENT_SECRET_BASIC, CLIENT_SECRET_POST};
use crate::config::Config;
use crate::db::oauth::Client;

/// What one app needs of its client and where the portal's values go in the app.
#[derive(Debug)]
pub struct Preset {
    /// The name `--preset` and the API take.
    pub key: &'static str,
    pub name: &'static str,
    /// The app's documentation of its OpenID Connect settings.
    pub doc: &'static str,
    /// No secret: the app cannot keep one (PKCE is then always required).
    pub public: bool,
    pub auth_methods: &'static [&'static str],
    pub pkce_required: bool,
    pub scopes: &'static [&'static str],
    pub grant_types: &'static [&'static str],
    /// Redirect URIs; `{app}` stands for the app's own address (https://app.example.com).
    pub redirect_uris: &'static [&'static str],
    /// (setting in the app, value): `%issuer%`, `%discovery%`, `%client_id%`,
    /// `%client_secret%`, `%authorize%`, `%token%`, `%userinfo%`, `%jwks%`,
    /// `%logout%`, `%redirect_uri%` and `%scopes%` are filled in for the client.
    pub settings: &'static [(&'static str, &'static str)],
}

const BOTH_SECRETS: &[&str] = &[CLIENT_SECRET_BASIC, CLIENT_SECRET_POST];
const CODE: &[&str] = &["authorization_code"];
const CODE_REFRESH: &[&str] = &["authorization_code", "refresh_token"];

/// Every preset, in the order the form lists them.
pub const PRESETS: &[Preset] = &[
    // https://github.com/9p4/jellyfin-plugin-sso (README: "OpenID Connect", the
    // redirect is /sso/OID/redirect/PROVIDER_NAME; roles come from the role claim)
    Preset {
        key: "jellyfin",
        name: "Jellyfin (SSO plugin)",
        doc: "https://github.com/9p4/jellyfin-plugin-sso",
        public: false,
        auth_methods: &[CLIENT_SECRET_POST],
        pkce_required: true,
        scopes: &["openid", "profile", "groups"],
        grant_types: CODE,
        redirect_uris: &["{app}/sso/OID/redirect/authportal"],
        settings: &[
            ("Name of the OpenID provider", "authportal"),
            ("OID Endpoint", "%issuer%"),
            ("OpenID Client ID", "%client_id%"),
            ("OID Secret", "%client_secret%"),
            ("Enabled", "checked"),
            ("Enable Authorization by Plugin", "checked"),
            ("Role Claim", "groups"),
            ("Request Additional Scopes", "groups"),
            ("Admin Roles", "admins"),
            ("Scheme Override", "https"),
        ],
    },
    // https://docs.seerr.dev/using-seerr/settings/users/oidc and
    // https://www.authelia.com/integration/openid-connect/clients/jellyseerr/ (no PKCE;
    // the callback is /login?provider=SLUG&callback=true)
    Preset {
        key: "jellyseerr",
        name: "Jellyseerr",
        doc: "https://docs.seerr.dev/using-seerr/settings/users/oidc",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: false,
        scopes: &["openid", "profile", "email", "groups"],
        grant_types: CODE,
        redirect_uris: &["{app}/login?provider=authportal&callback=true"],
        settings: &[
            ("Provider Name", "authportal"),
            ("Provider Slug", "authportal"),
            ("Issuer URL", "%issuer%"),
            ("Client ID", "%client_id%"),
            ("Client Secret", "%client_secret%"),
            ("Scopes", "%scopes%"),
        ],
    },
    // https://www.audiobookshelf.org/guides/oidc_authentication (web callback, mobile
    // redirect, and the app's own audiobookshelf://oauth)
    Preset {
        key: "audiobookshelf",
        name: "Audiobookshelf",
        doc: "https://www.audiobookshelf.org/guides/oidc_authentication",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: false,
        scopes: &["openid", "profile", "email", "groups"],
        grant_types: CODE,
        redirect_uris: &[
            "{app}/auth/openid/callback",
            "{app}/auth/openid/mobile-redirect",
            "audiobookshelf://oauth",
        ],
        settings: &[
            ("Issuer URL", "%issuer%"),
            ("Authorize URL", "%authorize%"),
            ("Token URL", "%token%"),
            ("Userinfo URL", "%userinfo%"),
            ("JWKS URL", "%jwks%"),
            ("Logout URL", "%logout%"),
            ("Client ID", "%client_id%"),
            ("Client Secret", "%client_secret%"),
            ("Signing Algorithm", "RS256"),
            ("Allowed Mobile Redirect URIs", "audiobookshelf://oauth"),
            ("Group Claim", "groups"),
        ],
    },
    // https://immich.app/docs/administration/oauth (web /auth/login and /user-settings,
    // mobile app.immich:///oauth-callback)
    Preset {
        key: "immich",
        name: "Immich",
        doc: "https://immich.app/docs/administration/oauth",
        public: false,
        auth_methods: &[CLIENT_SECRET_POST],
        pkce_required: false,
        scopes: &["openid", "profile", "email"],
        grant_types: CODE,
        redirect_uris: &[
            "{app}/auth/login",
            "{app}/user-settings",
            "app.immich:///oauth-callback",
        ],
        settings: &[
            ("Issuer URL", "%issuer%"),
            ("Client ID", "%client_id%"),
            ("Client Secret", "%client_secret%"),
            ("Token Endpoint Auth Method", "client_secret_post"),
            ("Scope", "%scopes%"),
            ("ID Token Signed Response Algorithm", "RS256"),
            ("Auto Register", "on"),
        ],
    },
    // https://github.com/nextcloud/user_oidc (README: redirect /apps/user_oidc/code;
    // group provisioning from a claim)
    Preset {
        key: "nextcloud",
        name: "Nextcloud (user_oidc)",
        doc: "https://github.com/nextcloud/user_oidc",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: false,
        scopes: &["openid", "profile", "email", "groups"],
        grant_types: CODE,
        redirect_uris: &["{app}/apps/user_oidc/code"],
        settings: &[
            ("Identifier", "authportal"),
            ("Client ID", "%client_id%"),
            ("Client secret", "%client_secret%"),
            ("Discovery endpoint", "%discovery%"),
            ("Scope", "%scopes%"),
            ("User ID mapping", "preferred_username"),
            ("Groups mapping", "groups"),
            ("Use group provisioning", "checked"),
        ],
    },
    // https://grafana.com/docs/grafana/latest/setup-grafana/configure-security/configure-authentication/generic-oauth/
    // ([auth.generic_oauth]; Grafana reads email, name, login and groups from the ID token)
    Preset {
        key: "grafana",
        name: "Grafana",
        doc: "https://grafana.com/docs/grafana/latest/setup-grafana/configure-security/configure-authentication/generic-oauth/",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: true,
        scopes: &["openid", "profile", "email", "groups"],
        grant_types: CODE,
        redirect_uris: &["{app}/login/generic_oauth"],
        settings: &[
            ("[auth.generic_oauth] enabled", "true"),
            ("name", "authportal"),
            ("client_id", "%client_id%"),
            ("client_secret", "%client_secret%"),
            ("scopes", "%scopes%"),
            ("auth_url", "%authorize%"),
            ("token_url", "%token%"),
            ("api_url", "%userinfo%"),
            ("use_pkce", "true"),
            ("login_attribute_path", "preferred_username"),
            ("name_attribute_path", "name"),
            ("email_attribute_path", "email"),
            ("groups_attribute_path", "groups"),
            (
                "role_attribute_path",
                "contains(groups[*], 'admins') && 'Admin' || 'Viewer'",
            ),
            ("signout_redirect_url", "%logout%"),
        ],
    },
    // https://docs.portainer.io/admin/settings/authentication/oauth (custom provider; no
    // PKCE; the redirect URL is Portainer's own address)
    Preset {
        key: "portainer",
        name: "Portainer",
        doc: "https://docs.portainer.io/admin/settings/authentication/oauth",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: false,
        scopes: &["openid", "profile", "email", "groups"],
        grant_types: CODE,
        redirect_uris: &["{app}"],
        settings: &[
            ("Authentication method", "OAuth"),
            ("Provider", "Custom"),
            ("Client ID", "%client_id%"),
            ("Client secret", "%client_secret%"),
            ("Authorization URL", "%authorize%"),
            ("Access token URL", "%token%"),
            ("Resource URL", "%userinfo%"),
            ("Redirect URL", "%redirect_uri%"),
            ("Logout URL", "%logout%"),
            ("User identifier", "preferred_username"),
            ("Scopes", "%scopes%"),
        ],
    },
    // https://pve.proxmox.com/wiki/User_Management#user-realms-openid (an OpenID Connect
    // realm; the redirect is the address of the web interface)
    Preset {
        key: "proxmox",
        name: "Proxmox VE",
        doc: "https://pve.proxmox.com/wiki/User_Management#user-realms-openid",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: false,
        scopes: &["openid", "profile", "email"],
        grant_types: CODE,
        redirect_uris: &["{app}"],
        settings: &[
            ("Realm", "authportal"),
            ("Issuer URL", "%issuer%"),
            ("Client ID", "%client_id%"),
            ("Client Key", "%client_secret%"),
            ("Username Claim", "username"),
            ("Scopes", "%scopes%"),
            ("Autocreate Users", "checked"),
        ],
    },
    // https://docs.paperless-ngx.com/advanced_usage/#openid-connect-and-social-authentication
    // (django-allauth: the callback is /accounts/oidc/PROVIDER_ID/login/callback/)
    Preset {
        key: "paperless",
        name: "Paperless-ngx",
        doc: "https://docs.paperless-ngx.com/advanced_usage/#openid-connect-and-social-authentication",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: false,
        scopes: &["openid", "profile", "email"],
        grant_types: CODE,
        redirect_uris: &["{app}/accounts/oidc/authportal/login/callback/"],
        settings: &[
            (
                "PAPERLESS_APPS",
                "allauth.socialaccount.providers.openid_connect",
            ),
            (
                "PAPERLESS_SOCIALACCOUNT_PROVIDERS",
                r#"{"openid_connect":{"SCOPE":["openid","profile","email"],"OAUTH_PKCE_ENABLED":true,"APPS":[{"provider_id":"authportal","name":"authportal","client_id":"%client_id%","secret":"%client_secret%","settings":{"server_url":"%issuer%"}}]}}"#,
            ),
        ],
    },
    // https://docs.mealie.io/documentation/getting-started/authentication/oidc-v2/
    // (environment variables; the callback is /login)
    Preset {
        key: "mealie",
        name: "Mealie",
        doc: "https://docs.mealie.io/documentation/getting-started/authentication/oidc-v2/",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: false,
        scopes: &["openid", "profile", "email", "groups"],
        grant_types: CODE,
        redirect_uris: &["{app}/login"],
        settings: &[
            ("OIDC_AUTH_ENABLED", "true"),
            ("OIDC_SIGNUP_ENABLED", "true"),
            ("OIDC_CONFIGURATION_URL", "%discovery%"),
            ("OIDC_CLIENT_ID", "%client_id%"),
            ("OIDC_CLIENT_SECRET", "%client_secret%"),
            ("OIDC_PROVIDER_NAME", "authportal"),
            ("OIDC_GROUPS_CLAIM", "groups"),
            ("OIDC_ADMIN_GROUP", "admins"),
        ],
    },
    // https://docs.openwebui.com/features/auth/sso/ (environment variables; the
    // callback is /oauth/oidc/callback)
    Preset {
        key: "open-webui",
        name: "Open WebUI",
        doc: "https://docs.openwebui.com/features/auth/sso/",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: false,
        scopes: &["openid", "profile", "email", "groups"],
        grant_types: CODE,
        redirect_uris: &["{app}/oauth/oidc/callback"],
        settings: &[
            ("ENABLE_OAUTH_SIGNUP", "true"),
            ("OAUTH_CLIENT_ID", "%client_id%"),
            ("OAUTH_CLIENT_SECRET", "%client_secret%"),
            ("OPENID_PROVIDER_URL", "%discovery%"),
            ("OPENID_REDIRECT_URI", "%redirect_uri%"),
            ("OAUTH_PROVIDER_NAME", "authportal"),
            ("OAUTH_SCOPES", "%scopes%"),
            ("ENABLE_OAUTH_GROUP_MANAGEMENT", "true"),
            ("OAUTH_GROUP_CLAIM", "groups"),
        ],
    },
    // https://komga.org/docs/installation/oauth2 (Spring Security: the callback is
    // /login/oauth2/code/REGISTRATION_ID; Komga refuses a login without email_verified)
    Preset {
        key: "komga",
        name: "Komga",
        doc: "https://komga.org/docs/installation/oauth2",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: false,
        scopes: &["openid", "profile", "email"],
        grant_types: CODE,
        redirect_uris: &["{app}/login/oauth2/code/authportal"],
        settings: &[
            (
                "spring.security.oauth2.client.registration.authportal.client-id",
                "%client_id%",
            ),
            (
                "spring.security.oauth2.client.registration.authportal.client-secret",
                "%client_secret%",
            ),
            (
                "spring.security.oauth2.client.registration.authportal.client-name",
                "authportal",
            ),
            (
                "spring.security.oauth2.client.registration.authportal.scope",
                "openid,profile,email",
            ),
            (
                "spring.security.oauth2.client.registration.authportal.authorization-grant-type",
                "authorization_code",
            ),
            (
                "spring.security.oauth2.client.registration.authportal.redirect-uri",
                "{baseUrl}/{action}/oauth2/code/{registrationId}",
            ),
            (
                "spring.security.oauth2.client.provider.authportal.issuer-uri",
                "%issuer%",
            ),
            (
                "spring.security.oauth2.client.provider.authportal.user-name-attribute",
                "sub",
            ),
        ],
    },
    // https://github.com/dani-garcia/vaultwarden/wiki/Enabling-SSO-support-using-OpenId-Connect
    // (1.35: SSO_PKCE defaults on; offline_access keeps the session refreshed)
    Preset {
        key: "vaultwarden",
        name: "Vaultwarden",
        doc: "https://github.com/dani-garcia/vaultwarden/wiki/Enabling-SSO-support-using-OpenId-Connect",
        public: false,
        auth_methods: BOTH_SECRETS,
        pkce_required: true,
        scopes: &["openid", "profile", "email", "offline_access"],
        grant_types: CODE_REFRESH,
        redirect_uris: &["{app}/identity/connect/oidc-signin"],
        settings: &[
            ("SSO_ENABLED", "true"),
            ("SSO_AUTHORITY", "%issuer%"),
            ("SSO_CLIENT_ID", "%client_id%"),
            ("SSO_CLIENT_SECRET", "%client_secret%"),
            ("SSO_SCOPES", "email profile offline_access"),
            ("SSO_PKCE", "true"),
        ],
    },
    // https://github.com/christiaangoossens/hass-oidc-auth (docs/configuration.md: a
    // public client by default, PKCE S256, callback /auth/oidc/callback)
    Preset {
        key: "home-assistant",
        name: "Home Assistant (hass-oidc-auth)",
        doc: "https://github.com/christiaangoossens/hass-oidc-auth",
        public: true,
        auth_methods: &[AUTH_NONE],
        pkce_required: true,
        scopes: &["openid", "profile", "groups"],
        grant_types: CODE,
        redirect_uris: &["{app}/auth/oidc/callback"],
        settings: &[
            ("auth_oidc: client_id", "%client_id%"),
            ("auth_oidc: discovery_url", "%discovery%"),
            ("auth_oidc: claims: groups", "groups"),
            ("auth_oidc: roles: admin", "admins"),
        ],
    },
];

pub fn find(key: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.key == key)
}

/// The names `--preset` and the API accept, for messages.
pub fn known() -> String {
    PRESETS.iter().map(|p| p.key).collect::<Vec<_>>().join(", ")
}

impl Preset {
    /// The redirect URIs for an app at `app_url` (no trailing slash kept).
    pub fn redirect_uris_for(&self, app_url: &str) -> Vec<String> {
        let base = app_url.trim_end_matches('/');
        self.redirect_uris
            .iter()
            .map(|u| u.replace("{app}", base))
            .collect()
    }

    /// The redirect URIs as the form shows them before the owner names the app's address.
    pub fn example_redirect_uris(&self) -> Vec<String> {
        self.redirect_uris_for(&format!("https://{}.example.com", self.key))
    }

    /// (setting, value) for `client`; the secret is shown only when given (at creation).
    pub fn setup(
        &self,
        cfg: &Config,
        client: &Client,
        secret: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let secret = secret.unwrap_or("(the client secret, shown once at creation)");
        let redirect = client.redirect_uris.first().map(String::as_str);
        let fills = [
            ("%issuer%", cfg.issuer()),
            ("%discovery%", cfg.url_for(super::discovery::DISCOVERY_PATH)),
            ("%client_id%", client.client_id.clone()),
            ("%client_secret%", secret.to_string()),
            ("%authorize%", cfg.url_for("/oidc/authorize")),
            ("%token%", cfg.url_for("/oidc/token")),
            ("%userinfo%", cfg.url_for("/oidc/userinfo")),
            ("%jwks%", cfg.url_for("/oidc/jwks.json")),
            ("%logout%", cfg.url_for("/oidc/logout")),
            ("%redirect_uri%", redirect.unwrap_or_default().to_string()),
            ("%scopes%", client.scopes.join(" ")),
        ];
        self.settings
            .iter()
            .map(|(name, template)| (*name, fill(template, &fills)))
            .collect()
    }
}

/// `template` with each `%name%` replaced, in one pass (a value that itself contains a
/// placeholder, such as an owner's redirect URI, stays as it is).
fn fill(template: &str, fills: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let at = &rest[i..];
        match fills.iter().find(|(k, _)| at.starts_with(k)) {
            Some((k, v)) => {
                out.push_str(v);
                rest = &at[k.len()..];
            }
            None => {
                out.push('%');
                rest = &at[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once() {
        let fills = [
            ("%issuer%", "https://auth.example".to_string()),
            ("%redirect_uri%", "https://app.example/%issuer%".to_string()),
        ];
        assert_eq!(
            fill("%issuer%/x %redirect_uri% 100%", &fills),
            "https://auth.example/x https://app.example/%issuer% 100%"
        );
    }

    #[test]
    fn every_preset_is_a_client_the_portal_accepts() {
        let mut keys: Vec<&str> = PRESETS.iter().map(|p| p.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), PRESETS.len(), "preset keys are unique");
        for p in PRESETS {
            assert!(p.doc.starts_with("https://"), "{}", p.key);
            assert!(p.scopes.contains(&"openid"), "{}", p.key);
            assert!(
                p.scopes.iter().all(|s| super::super::SCOPES.contains(s)),
                "{}",
                p.key
            );
            assert!(
                p.auth_methods
                    .iter()
                    .all(|m| super::super::AUTH_METHODS.contains(m)),
                "{}",
                p.key
            );
            assert_eq!(p.public, p.auth_methods == [AUTH_NONE], "{}", p.key);
            assert!(!p.public || p.pkce_required, "{}", p.key);
            for uri in p.example_redirect_uris() {
                assert!(
                    super::super::clients::validate_redirect_uri(&uri).is_ok(),
                    "{}: {uri}",
                    p.key
                );
            }
        }
    }
}
