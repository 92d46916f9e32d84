//! Plex: PIN sign-in through app.plex.tv, then the user's own resources decide access.
//!
//! Access is granted only when a resource that provides "server" carries the configured
//! machine id (never a server name: anyone can name a server the same).

use std::sync::Mutex;

use serde_json::Value;
use ureq::Agent;

use super::http::{Body, Reply, send};
use super::{Identity, Outcome, PRODUCT, ProviderError, ProviderKind, VERSION};
use crate::config::PlexConfig;

pub struct Plex {
    cfg: PlexConfig,
    client_id: String,
    machine_id: Mutex<Option<String>>,
    owner_id: Mutex<Option<u64>>,
}

/// A PIN created at plex.tv.
#[derive(Debug, Clone)]
pub struct Pin {
    pub id: u64,
    pub code: String,
    /// Unix seconds.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinStatus {
    Waiting,
    Claimed(String),
}

impl Plex {
    /// `client_id` is the stable per-install X-Plex-Client-Identifier.
    pub fn new(cfg: PlexConfig, client_id: String) -> Plex {
        let machine_id = cfg.machine_id.clone();
        Plex {
            cfg,
            client_id,
            machine_id: Mutex::new(machine_id),
            owner_id: Mutex::new(None),
        }
    }

    fn api(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.cfg.api_base.as_str().trim_end_matches('/'),
            path
        )
    }

    fn get(&self, agent: &Agent, path: &str, token: Option<&str>) -> Result<Reply, ProviderError> {
        let mut headers = vec![
            ("Accept", "application/json"),
            ("X-Plex-Product", PRODUCT),
            ("X-Plex-Version", VERSION),
            ("X-Plex-Client-Identifier", self.client_id.as_str()),
        ];
        if let Some(t) = token {
            headers.push(("X-Plex-Token", t));
        }
        send(agent, "GET", &self.api(path), &headers, Body::Empty)
    }

    pub fn create_pin(&self, agent: &Agent) -> Result<Pin, ProviderError> {
        let headers = [
            ("Accept", "application/json"),
            ("X-Plex-Product", PRODUCT),
            ("X-Plex-Version", VERSION),
            ("X-Plex-Client-Identifier", self.client_id.as_str()),
        ];
        let reply = send(
            agent,
            "POST",
            &self.api("/api/v2/pins?strong=true"),
            &headers,
            Body::Empty,
        )?;
        check_status(&reply, "pins", &[200, 201])?;
        let v = reply.json("plex.tv pins")?;
        let id = v["id"]
            .as_u64()
            .ok_or_else(|| ProviderError::Malformed("pin without id".into()))?;
        let code = v["code"]
            .as_str()
            .filter(|c| !c.is_empty() && c.chars().all(|c| c.is_ascii_alphanumeric()))
            .ok_or_else(|| ProviderError::Malformed("pin without a usable code".into()))?
            .to_string();
        let expires_at = parse_expiry(&v)
            .ok_or_else(|| ProviderError::Malformed("pin without expiry".into()))?;
        Ok(Pin {
            id,
            code,
            expires_at,
        })
    }

    /// The app.plex.tv page the person approves the PIN on; it returns to `forward_url`.
    pub fn auth_url(&self, code: &str, forward_url: &str) -> String {
        let params: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("clientID", &self.client_id)
            .append_pair("code", code)
            .append_pair("forwardUrl", forward_url)
            .append_pair("context[device][product]", PRODUCT)
            .finish();
        format!(
            "{}/auth#?{params}",
            self.cfg.app_base.as_str().trim_end_matches('/')
        )
    }

    pub fn check_pin(&self, agent: &Agent, pin_id: u64) -> Result<PinStatus, ProviderError> {
        let reply = self.get(agent, &format!("/api/v2/pins/{pin_id}"), None)?;
        if matches!(reply.status, 404 | 410) {
            return Err(ProviderError::Expired);
        }
        check_status(&reply, "pin", &[200])?;
        let v = reply.json("plex.tv pin")?;
        match v["authToken"].as_str() {
            Some(t) if !t.is_empty() => Ok(PinStatus::Claimed(t.to_string())),
            _ => Ok(PinStatus::Waiting),
        }
    }

    /// Who the token belongs to, and whether that account may use the configured server.
    pub fn authorize(&self, agent: &Agent, token: &str) -> Result<Outcome, ProviderError> {
        let user = self.user(agent, token)?;
        let machine_id = self.machine_id(agent)?;
        let resources = self.resources(agent, token)?;
        let server = resources.iter().find(|r| {
            provides_server(r) && r["clientIdentifier"].as_str() == Some(machine_id.as_str())
        });
        let owner = server.is_some_and(|r| r["owned"].as_bool() == Some(true))
            || self.owner_id(agent)? == Some(user.id);
        let username = user.username.clone();
        if server.is_none() && !owner {
            return Ok(Outcome::Denied {
                username: Some(username),
                account: Some(user.id.to_string()),
                log: format!(
                    "plex account {} has no access to server {machine_id}",
                    user.id
                ),
            });
        }
        if user.restricted && !self.cfg.allow_managed {
            return Ok(Outcome::Denied {
                username: Some(username),
                account: Some(user.id.to_string()),
                log: format!(
                    "plex account {} is a managed user and managed users are not allowed",
                    user.id
                ),
            });
        }
        let groups = groups(owner, server, &user);
        Ok(Outcome::Authorized(Identity {
            provider: ProviderKind::Plex,
            provider_user_id: user.id.to_string(),
            username,
            email: user.email,
            groups,
            token: token.to_string(),
        }))
    }

    /// The plex.tv account id a token belongs to (native apps sending X-Plex-Token).
    pub fn account_of(&self, agent: &Agent, token: &str) -> Result<String, ProviderError> {
        self.user(agent, token).map(|u| u.id.to_string())
    }

    fn user(&self, agent: &Agent, token: &str) -> Result<PlexUser, ProviderError> {
        let reply = self.get(agent, "/api/v2/user", Some(token))?;
        check_status(&reply, "user", &[200])?;
        PlexUser::from_json(&reply.json("plex.tv user")?)
    }

    /// The servers this account owns, as (machine id, name): what the setup wizard offers.
    pub fn owned_servers(
        &self,
        agent: &Agent,
        token: &str,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        Ok(self
            .resources(agent, token)?
            .iter()
            .filter(|r| provides_server(r) && r["owned"].as_bool() == Some(true))
            .filter_map(|r| {
                Some((
                    r["clientIdentifier"].as_str()?.to_string(),
                    r["name"]
                        .as_str()
                        .unwrap_or("Plex Media Server")
                        .to_string(),
                ))
            })
            .collect())
    }

    fn resources(&self, agent: &Agent, token: &str) -> Result<Vec<Value>, ProviderError> {
        let reply = self.get(
            agent,
            "/api/v2/resources?includeHttps=1&includeRelay=1",
            Some(token),
        )?;
        check_status(&reply, "resources", &[200])?;
        match reply.json("plex.tv resources")? {
            Value::Array(items) => Ok(items),
            _ => Err(ProviderError::Malformed(
                "plex.tv resources: not a list".into(),
            )),
        }
    }

    /// The configured machine id, or the one PLEX_SERVER_NAME resolves to among the
    /// owner's own servers (looked up once, then kept).
    fn machine_id(&self, agent: &Agent) -> Result<String, ProviderError> {
        if let Some(id) = self
            .machine_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(id);
        }
        let (Some(name), Some(owner_token)) = (&self.cfg.server_name, &self.cfg.owner_token) else {
            return Err(ProviderError::Misconfigured(
                "PLEX_SERVER_MACHINE_ID is not set".into(),
            ));
        };
        let owned = self.resources(agent, owner_token).map_err(|e| match e {
            ProviderError::InvalidCredentials => {
                ProviderError::Misconfigured("PLEX_OWNER_TOKEN is not accepted by plex.tv".into())
            }
            other => other,
        })?;
        let matches: Vec<&str> = owned
            .iter()
            .filter(|r| {
                provides_server(r)
                    && r["owned"].as_bool() == Some(true)
                    && r["name"].as_str() == Some(name)
            })
            .filter_map(|r| r["clientIdentifier"].as_str())
            .collect();
        let [id] = matches.as_slice() else {
            return Err(ProviderError::Misconfigured(format!(
                "PLEX_SERVER_NAME {name:?} matches {} servers owned by the PLEX_OWNER_TOKEN account; set PLEX_SERVER_MACHINE_ID",
                matches.len()
            )));
        };
        crate::log_info!(
            "plex: PLEX_SERVER_NAME {name:?} resolved to machine id {id}; set PLEX_SERVER_MACHINE_ID={id} to skip this lookup"
        );
        *self.machine_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.to_string());
        Ok(id.to_string())
    }

    /// The account id behind PLEX_OWNER_TOKEN, when one is configured.
    fn owner_id(&self, agent: &Agent) -> Result<Option<u64>, ProviderError> {
        let Some(owner_token) = &self.cfg.owner_token else {
            return Ok(None);
        };
        if let Some(id) = *self.owner_id.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(Some(id));
        }
        let owner = self.user(agent, owner_token).map_err(|e| match e {
            ProviderError::InvalidCredentials => {
                ProviderError::Misconfigured("PLEX_OWNER_TOKEN is not accepted by plex.tv".into())
            }
            other => other,
        })?;
        *self.owner_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(owner.id);
        Ok(Some(owner.id))
    }

    /// Re-validation: is plex.tv up (answers below 500)? Tells a failure of plex.tv
    /// itself from a failure about one account.
    pub fn reachable(&self, agent: &Agent) -> Result<(), ProviderError> {
        let reply = self.get(agent, "/api/v2/ping", None)?;
        match reply.status {
            s if s >= 500 => Err(ProviderError::Unreachable(format!(
                "plex.tv ping: status {s}"
            ))),
            _ => Ok(()),
        }
    }

    /// Reachability for `authportal check`: plex.tv answers (any status) at all.
    pub fn probe(&self, agent: &Agent) -> Result<String, ProviderError> {
        let reply = self.get(agent, "/api/v2/ping", None)?;
        Ok(format!("plex.tv answered {}", reply.status))
    }
}

/// The groups a Plex account gets. Home membership is read from the owner's server as
/// this account sees it (`home` on the shared resource: shared through the owner's Home),
/// never from the account's own `home` flag, which is also true for a friend who runs a
/// Home of their own.
fn groups(owner: bool, server: Option<&Value>, user: &PlexUser) -> Vec<String> {
    let in_owners_home = server.is_some_and(|r| r["home"].as_bool() == Some(true));
    let mut groups = vec![
        if owner {
            "plex-owner"
        } else if in_owners_home {
            "plex-home"
        } else {
            "plex-friend"
        }
        .to_string(),
    ];
    if user.restricted {
        groups.push("plex-managed".to_string());
    }
    groups
}

/// plex.tv's answers by status (MEDIA-API.md 5): 401/498 a dead token, 429 slow down,
/// 5xx down (not the person's fault), anything else unexpected (fail closed).
fn check_status(reply: &Reply, what: &str, ok: &[u16]) -> Result<(), ProviderError> {
    match reply.status {
        s if ok.contains(&s) => Ok(()),
        401 | 498 => Err(ProviderError::InvalidCredentials),
        429 => Err(ProviderError::RateLimited),
        s if s >= 500 => Err(ProviderError::Unreachable(format!(
            "plex.tv {what}: status {s}"
        ))),
        s => Err(ProviderError::Malformed(format!(
            "plex.tv {what}: status {s}"
        ))),
    }
}

fn provides_server(resource: &Value) -> bool {
    resource["provides"]
        .as_str()
        .is_some_and(|p| p.split(',').any(|item| item.trim() == "server"))
}

/// `expiresAt` (ISO-8601) when present, else `expiresIn` seconds from now.
fn parse_expiry(v: &Value) -> Option<i64> {
    if let Some(at) = v["expiresAt"].as_str() {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(at) {
            return Some(t.timestamp());
        }
    }
    v["expiresIn"]
        .as_i64()
        .map(|s| chrono::Utc::now().timestamp() + s)
}

struct PlexUser {
    id: u64,
    username: String,
    email: Option<String>,
    restricted: bool,
}

impl PlexUser {
    fn from_json(v: &Value) -> Result<PlexUser, ProviderError> {
        let id = v["id"]
            .as_u64()
            .ok_or_else(|| ProviderError::Malformed("plex.tv user without id".into()))?;
        // Managed users have an empty username; their title is the profile name.
        let username = [&v["username"], &v["title"]]
            .into_iter()
            .filter_map(|s| s.as_str())
            .find(|s| !s.trim().is_empty())
            .ok_or_else(|| ProviderError::Malformed("plex.tv user without a name".into()))?
            .to_string();
        Ok(PlexUser {
            id,
            username,
            // An email plex.tv has not confirmed is not passed on: the portal vouches for
            // the emails it hands out (email_verified), and admin bootstrap binds to them.
            email: v["email"]
                .as_str()
                .filter(|e| !e.is_empty() && v["confirmed"].as_bool() != Some(false))
                .map(str::to_string),
            restricted: v["restricted"].as_bool().unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_detection_reads_provides_items() {
        assert!(provides_server(&json!({"provides": "server"})));
        assert!(provides_server(&json!({"provides": "client, server"})));
        assert!(!provides_server(&json!({"provides": "client,player"})));
        assert!(!provides_server(&json!({"provides": "servers"})));
        assert!(!provides_server(&json!({})));
    }

    #[test]
    fn home_comes_from_the_owners_server_not_the_account() {
        let user = |restricted| PlexUser {
            id: 2,
            username: "f".into(),
            email: None,
            restricted,
        };
        let shared = json!({"provides": "server", "owned": false, "home": false});
        let via_home = json!({"provides": "server", "owned": false, "home": true});
        assert_eq!(groups(false, Some(&shared), &user(false)), ["plex-friend"]);
        assert_eq!(groups(false, Some(&via_home), &user(false)), ["plex-home"]);
        assert_eq!(
            groups(false, Some(&via_home), &user(true)),
            ["plex-home", "plex-managed"]
        );
        assert_eq!(groups(true, None, &user(false)), ["plex-owner"]);
    }

    #[test]
    fn an_unconfirmed_email_is_not_passed_on() {
        let u = PlexUser::from_json(
            &json!({"id": 5, "username": "a", "email": "a@example.com", "confirmed": false}),
        )
        .unwrap();
        assert_eq!(u.email, None);
        let u = PlexUser::from_json(
            &json!({"id": 5, "username": "a", "email": "a@example.com", "confirmed": true}),
        )
        .unwrap();
        assert_eq!(u.email.as_deref(), Some("a@example.com"));
    }

    #[test]
    fn user_names_fall_back_to_title() {
        let u = PlexUser::from_json(
            &json!({"id": 5, "username": "", "title": "Kid", "restricted": true}),
        )
        .unwrap();
        assert_eq!(u.username, "Kid");
        assert!(u.restricted);
        assert!(PlexUser::from_json(&json!({"username": "x"})).is_err());
    }
}
