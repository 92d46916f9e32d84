//! Which media servers the portal uses: the "providers" settings section (set by the
//! setup wizard or the console) merged with the environment, which wins field by field.
//! Secrets (the Plex owner token, API keys) are sealed in the stored document and shown
//! to the console only as set / not set.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{Config, MediaServerConfig, PlexConfig};
use crate::crypto::seal::Sealer;
use crate::providers::ProviderKind;

const SECRET_PURPOSE: &str = "settings-secret:providers";

/// A secret as stored: sealed text, or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlexSettings {
    pub machine_id: Option<String>,
    pub server_name: Option<String>,
    pub owner_token: Secret,
    pub allow_managed: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub url: Option<String>,
    pub api_key: Secret,
}

/// Section "providers", as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvidersSettings {
    pub media_servers: Vec<String>,
    pub plex: PlexSettings,
    pub jellyfin: ServerSettings,
    pub emby: ServerSettings,
}

/// The secret fields, by JSON path, and the variable that overrides each field.
const SECRETS: &[(&str, &str)] = &[
    ("plex", "owner_token"),
    ("jellyfin", "api_key"),
    ("emby", "api_key"),
];
const ENV_OF: &[(&str, &str)] = &[
    ("media_servers", "MEDIA_SERVER"),
    ("plex.machine_id", "PLEX_SERVER_MACHINE_ID"),
    ("plex.server_name", "PLEX_SERVER_NAME"),
    ("plex.owner_token", "PLEX_OWNER_TOKEN"),
    ("plex.allow_managed", "PLEX_ALLOW_MANAGED_USERS"),
    ("jellyfin.url", "JELLYFIN_SERVER_URL"),
    ("jellyfin.api_key", "JELLYFIN_API_KEY"),
    ("emby.url", "EMBY_SERVER_URL"),
    ("emby.api_key", "EMBY_API_KEY"),
];

/// The variable that sets `field` ("jellyfin.url" -> JELLYFIN_SERVER_URL).
pub fn env_var(field: &str) -> Option<&'static str> {
    ENV_OF
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, var)| *var)
}

/// Fields the environment sets (the console shows them locked).
pub fn locked(cfg: &Config) -> Vec<&'static str> {
    ENV_OF
        .iter()
        .filter(|(_, var)| cfg.env_set.contains(*var))
        .map(|(field, _)| *field)
        .collect()
}

/// The stored document as the console sees it: secrets as {"set": bool}.
pub fn present(stored: &Value) -> Value {
    let mut v = stored.clone();
    for (server, field) in SECRETS {
        let set = stored[server][field]["sealed"].is_string();
        if v[server].is_object() {
            v[server][*field] = json!({ "set": set });
        }
    }
    v
}

/// A console edit -> the document to store. For each secret: a string sets it (sealed
/// here), {"set": true} keeps the stored one, null or {"set": false} clears it.
pub fn prepare(incoming: &Value, current: &Value, sealer: &Sealer) -> Result<Value, String> {
    let mut doc = incoming.clone();
    if !doc.is_object() {
        return Err("providers: expected an object".into());
    }
    for (server, field) in SECRETS {
        let given = &incoming[server][field];
        let stored = match given {
            Value::String(s) if !s.trim().is_empty() => {
                json!({ "sealed": sealer.seal(SECRET_PURPOSE, s.trim().as_bytes()) })
            }
            Value::Object(o) if o.get("set") == Some(&Value::Bool(true)) => {
                current[server][field].clone()
            }
            Value::Null | Value::Object(_) | Value::String(_) => json!({}),
            _ => {
                return Err(format!(
                    "providers.{server}.{field}: expected a string, {{\"set\": true}} or null"
                ));
            }
        };
        if !doc[server].is_object() {
            doc[*server] = json!({});
        }
        doc[*server][*field] = if stored.is_null() { json!({}) } else { stored };
    }
    let parsed: ProvidersSettings =
        serde_json::from_value(doc.clone()).map_err(|e| format!("providers: {e}"))?;
    validate(&parsed)?;
    Ok(doc)
}

fn validate(p: &ProvidersSettings) -> Result<(), String> {
    for name in &p.media_servers {
        if ProviderKind::parse(name).is_none() {
            return Err(format!(
                "providers.media_servers: unknown media server {name:?}; expected plex, jellyfin or emby"
            ));
        }
    }
    for (label, server) in [("jellyfin", &p.jellyfin), ("emby", &p.emby)] {
        if let Some(u) = &server.url {
            let url = url::Url::parse(u)
                .map_err(|_| format!("providers.{label}.url: {u:?} is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https")
                || url.host_str().is_none()
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(format!(
                    "providers.{label}.url: use http(s)://host[:port][/base]"
                ));
            }
            // Kept and shown with the address (settings, history, log lines): never a
            // password. The environment's *_SERVER_URL refuses them too.
            if !url.username().is_empty() || url.password().is_some() {
                return Err(format!(
                    "providers.{label}.url: leave the username and password out of the address"
                ));
            }
            // The owner names their server, so loopback and LAN are fine; the metadata
            // address never is (it holds the machine's cloud credentials).
            let ip = crate::outbound::literal_ip(&url);
            if ip.and_then(crate::outbound::special) == Some(crate::outbound::Special::Metadata) {
                return Err(format!(
                    "providers.{label}.url: {} is a cloud metadata address, not a media server",
                    url.host_str().unwrap_or("")
                ));
            }
        }
    }
    Ok(())
}

/// What the portal runs with: each field from the environment when set there, else
/// from the stored section.
pub struct Effective {
    pub enabled: Vec<ProviderKind>,
    pub plex: PlexConfig,
    pub jellyfin: Option<MediaServerConfig>,
    pub emby: Option<MediaServerConfig>,
}

pub fn effective(cfg: &Config, stored: &ProvidersSettings, sealer: &Sealer) -> Effective {
    let env = |var: &str| cfg.env_set.contains(var);
    let open = |s: &Secret| {
        s.sealed
            .as_ref()
            .and_then(|x| sealer.open(SECRET_PURPOSE, x).ok())
            .and_then(|b| String::from_utf8(b).ok())
    };
    let enabled = if env("MEDIA_SERVER") {
        cfg.providers.clone()
    } else {
        let mut out: Vec<ProviderKind> = Vec::new();
        for k in stored
            .media_servers
            .iter()
            .filter_map(|n| ProviderKind::parse(n))
        {
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out
    };
    let plex = PlexConfig {
        api_base: cfg.plex.api_base.clone(),
        app_base: cfg.plex.app_base.clone(),
        owner_token: if env("PLEX_OWNER_TOKEN") {
            cfg.plex.owner_token.clone()
        } else {
            open(&stored.plex.owner_token)
        },
        machine_id: if env("PLEX_SERVER_MACHINE_ID") {
            cfg.plex.machine_id.clone()
        } else {
            stored.plex.machine_id.clone()
        },
        server_name: if env("PLEX_SERVER_NAME") {
            cfg.plex.server_name.clone()
        } else {
            stored.plex.server_name.clone()
        },
        allow_managed: if env("PLEX_ALLOW_MANAGED_USERS") {
            cfg.plex.allow_managed
        } else {
            stored.plex.allow_managed.unwrap_or(true)
        },
    };
    let server = |from_env: &Option<MediaServerConfig>,
                  url_var: &str,
                  key_var: &str,
                  s: &ServerSettings|
     -> Option<MediaServerConfig> {
        let url = if env(url_var) {
            from_env.as_ref().map(|m| m.url.clone())
        } else {
            s.url.as_deref().and_then(|u| url::Url::parse(u).ok())
        };
        let api_key = if env(key_var) {
            from_env.as_ref().and_then(|m| m.api_key.clone())
        } else {
            open(&s.api_key)
        };
        url.map(|url| MediaServerConfig { url, api_key })
    };
    Effective {
        enabled,
        jellyfin: server(
            &cfg.jellyfin,
            "JELLYFIN_SERVER_URL",
            "JELLYFIN_API_KEY",
            &stored.jellyfin,
        ),
        emby: server(&cfg.emby, "EMBY_SERVER_URL", "EMBY_API_KEY", &stored.emby),
        plex,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_sealed_kept_or_cleared_and_never_shown() {
        let sealer = Sealer::new(&[3u8; 32]);
        let doc = prepare(&json!({"media_servers": ["jellyfin"], "jellyfin": {"url": "http://jf.lan:8096", "api_key": "k-123"}}), &json!({}), &sealer).unwrap();
        assert!(!doc.to_string().contains("k-123"));
        assert_eq!(present(&doc)["jellyfin"]["api_key"], json!({"set": true}));
        let kept = prepare(&present(&doc), &doc, &sealer).unwrap();
        assert_eq!(kept["jellyfin"]["api_key"], doc["jellyfin"]["api_key"]);
        let cleared = prepare(
            &json!({"jellyfin": {"url": "http://jf.lan:8096", "api_key": null}}),
            &doc,
            &sealer,
        )
        .unwrap();
        assert_eq!(
            present(&cleared)["jellyfin"]["api_key"],
            json!({"set": false})
        );
        assert!(
            prepare(&json!({"media_servers": ["kodi"]}), &json!({}), &sealer)
                .unwrap_err()
                .contains("kodi")
        );
        assert!(
            prepare(
                &json!({"jellyfin": {"url": "ftp://x"}}),
                &json!({}),
                &sealer
            )
            .is_err()
        );
        assert!(prepare(&json!({"jellyfin": {"api_key": 5}}), &json!({}), &sealer).is_err());
        assert!(
            prepare(
                &json!({"jellyfin": {"url": "http://169.254.169.254/"}}),
                &json!({}),
                &sealer
            )
            .unwrap_err()
            .contains("metadata")
        );
        assert!(
            prepare(
                &json!({"jellyfin": {"url": "http://127.0.0.1:8096"}}),
                &json!({}),
                &sealer
            )
            .is_ok()
        );
    }
}
