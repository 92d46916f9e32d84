//! Plex: PIN sign-in through app.plex.tv, then the user's own resources decide access.
//!
//! Access is granted only when a resource that provides "server" carries the configured
//! machine id (never a server name: anyone can name a server the same).

use std::sync::Mutex;

use serde_json::Value;
use ureq::Agent;

use super::http::{Body, Reply, send};
use super::{FirstFactor, Identity, Outcome, PRODUCT, ProviderError, ProviderKind, VERSION};
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

    /// The avatar at `path` (as [`avatar_path`] kept it), from plex.tv without a token.
    pub fn avatar(
        &self,
        agent: &Agent,
        path: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, ProviderError> {
        super::http::get_bytes(agent, &self.api(path), limit)
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

    /// `now` (the App clock) dates a PIN that plex.tv gives as seconds to live.
    pub fn create_pin(&self, agent: &Agent, now: i64) -> Result<Pin, ProviderError> {
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
        let expires_at = parse_expiry(&v, now)
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
            avatar: user.avatar,
            method: FirstFactor::Password,
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

    /// Whether `shared_with` can ask: PLEX_OWNER_TOKEN is set.
    pub fn lists_shares(&self) -> bool {
        self.cfg.owner_token.is_some()
    }

    /// Re-validation of many accounts in one request: the plex.tv account ids the
    /// configured server is shared with (GET /api/users with PLEX_OWNER_TOKEN: XML, read
    /// as it streams). Only a confirmation: the list leaves out the owner and plex.tv
    /// calls it legacy, so an account not in it is asked on its own, never revoked on
    /// the list's word. Managed users count only when they are allowed.
    pub fn shared_with(
        &self,
        agent: &Agent,
    ) -> Result<std::collections::HashSet<String>, ProviderError> {
        let Some(owner_token) = self.cfg.owner_token.as_deref() else {
            return Err(ProviderError::Misconfigured("no PLEX_OWNER_TOKEN".into()));
        };
        let machine_id = self.machine_id(agent)?;
        let headers = [
            ("Accept", "application/xml"),
            ("X-Plex-Product", PRODUCT),
            ("X-Plex-Version", VERSION),
            ("X-Plex-Client-Identifier", self.client_id.as_str()),
            ("X-Plex-Token", owner_token),
        ];
        let (status, ids) =
            super::http::get_read(agent, &self.api("/api/users"), &headers, 256 << 20, |r| {
                shares_in(r, &machine_id, self.cfg.allow_managed)
            })?;
        match (status, ids) {
            (200, Some(ids)) => Ok(ids),
            (401, _) => Err(ProviderError::Misconfigured(
                "PLEX_OWNER_TOKEN is not accepted by plex.tv".into(),
            )),
            (429, _) => Err(ProviderError::RateLimited),
            (s, _) if s >= 500 => Err(ProviderError::Unreachable(format!(
                "plex.tv users: status {s}"
            ))),
            (s, _) => Err(ProviderError::Malformed(format!(
                "plex.tv users: status {s}"
            ))),
        }
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
/// The longest tag `shares_in` reads (a `<User ...>` with its attributes is ~1 KB).
const MAX_TAG: u64 = 64 * 1024;

/// From plex.tv's `/api/users` XML (`<User id=... restricted=...><Server
/// machineIdentifier=.../></User>`...), the ids of users with a `Server` child that is
/// `machine_id`, read tag by tag (quotes respected, so a `>` in a title ends nothing).
fn shares_in(
    r: &mut dyn std::io::BufRead,
    machine_id: &str,
    allow_managed: bool,
) -> Result<std::collections::HashSet<String>, ProviderError> {
    let io = |e: std::io::Error| ProviderError::Unreachable(format!("plex.tv users: {e}"));
    let mut ids = std::collections::HashSet::new();
    // The user whose children are being read, if it may count.
    let mut user: Option<String> = None;
    let mut text = Vec::new();
    let mut tag = Vec::new();
    loop {
        text.clear();
        if r.read_until(b'<', &mut text).map_err(io)? == 0 || text.last() != Some(&b'<') {
            return Ok(ids);
        }
        tag.clear();
        let mut quote = None;
        loop {
            let mut byte = [0u8; 1];
            if r.read(&mut byte).map_err(io)? == 0 {
                return Err(ProviderError::Malformed(
                    "plex.tv users: cut inside a tag".into(),
                ));
            }
            match (quote, byte[0]) {
                (None, b'>') => break,
                (None, q @ (b'"' | b'\'')) => quote = Some(q),
                (Some(q), b) if b == q => quote = None,
                _ => {}
            }
            tag.push(byte[0]);
            if tag.len() as u64 > MAX_TAG {
                return Err(ProviderError::Malformed(
                    "plex.tv users: a tag too long".into(),
                ));
            }
        }
        let tag = String::from_utf8_lossy(&tag);
        let closing = tag.starts_with('/');
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        match (closing, name) {
            (true, "User") => user = None,
            (false, "User") => {
                let restricted = attribute(&tag, "restricted").is_some_and(|v| v == "1");
                user = attribute(&tag, "id")
                    .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
                    .filter(|_| allow_managed || !restricted)
                    .map(str::to_string);
                if tag.trim_end().ends_with('/') {
                    user = None;
                }
            }
            (false, "Server") => {
                if let Some(id) = &user {
                    if attribute(&tag, "machineIdentifier") == Some(machine_id) {
                        ids.insert(id.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

/// The value of attribute `name` in a tag's text (`User id="1" title='x'`), unescaped
/// only as far as ids need: values with entities are returned as written.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = tag.split_once(char::is_whitespace)?.1;
    loop {
        rest = rest.trim_start();
        let (key, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let q = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let (value, tail) = after[1..].split_once(q)?;
        if key.trim() == name {
            return Some(value);
        }
        rest = tail;
    }
}

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

/// `expiresAt` (ISO-8601) when present, else `expiresIn` seconds from `now`.
fn parse_expiry(v: &Value, now: i64) -> Option<i64> {
    if let Some(at) = v["expiresAt"].as_str() {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(at) {
            return Some(t.timestamp());
        }
    }
    v["expiresIn"].as_i64().map(|s| now + s)
}

struct PlexUser {
    id: u64,
    username: String,
    email: Option<String>,
    restricted: bool,
    avatar: Option<String>,
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
            avatar: v["thumb"].as_str().and_then(avatar_path),
        })
    }
}

/// The path of a plex.tv avatar (`https://plex.tv/users/ID/avatar?c=N` ->
/// `/users/ID/avatar?c=N`), fetched later from PLEX_API_BASE. Anything else (another
/// host, odd characters) is no avatar: the portal never fetches a URL an answer names.
fn avatar_path(thumb: &str) -> Option<String> {
    let url = url::Url::parse(thumb).ok()?;
    let path = url.path();
    let safe = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.=&".contains(&b))
    };
    let query = url.query().unwrap_or("");
    (url.scheme() == "https"
        && url.host_str() == Some("plex.tv")
        && url.port().is_none()
        && path.starts_with("/users/")
        && path.ends_with("/avatar")
        && !path.contains("..")
        && path.len() + query.len() <= 200
        && safe(path)
        && safe(query))
    .then(|| match query {
        "" => path.to_string(),
        q => format!("{path}?{q}"),
    })
}

#[cfg(test)]
mod shares_tests {
    use super::*;

    const MID: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

    fn shares(xml: &str, allow_managed: bool) -> Vec<String> {
        let mut ids: Vec<String> = shares_in(&mut xml.as_bytes(), MID, allow_managed)
            .unwrap()
            .into_iter()
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn the_users_the_server_is_shared_with_and_no_one_else() {
        let xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<MediaContainer friendlyName="myPlex" identifier="com.plexapp.plugins.myplex">
  <User id="11" title="a > b" username="friend" restricted="0" home="0">
    <Server id="1" serverId="9" machineIdentifier="{MID}" name="Hall" owned="0" pending="0"/>
  </User>
  <User id="12" title='&lt;Server machineIdentifier="{MID}"/&gt;' username="other">
    <Server id="2" machineIdentifier="ffff" name="Elsewhere"/>
  </User>
  <User id="13" username="kid" restricted="1"><Server machineIdentifier="{MID}"/></User>
  <User id="14" username="gone"/>
  <Server machineIdentifier="{MID}"/>
  <User id="x15" username="odd"><Server machineIdentifier="{MID}"/></User>
</MediaContainer>"#
        );
        assert_eq!(shares(&xml, true), ["11", "13"]);
        assert_eq!(
            shares(&xml, false),
            ["11"],
            "managed users only when allowed"
        );
        assert!(
            shares_in(&mut &b"<User id=\"1\""[..], MID, true).is_err(),
            "cut"
        );
        assert_eq!(shares("", true), Vec::<String>::new());
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
            avatar: None,
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
    fn only_a_plex_tv_avatar_path_is_kept() {
        assert_eq!(
            avatar_path("https://plex.tv/users/abc123/avatar?c=1700000000").as_deref(),
            Some("/users/abc123/avatar?c=1700000000")
        );
        for bad in [
            "https://evil.example/users/a/avatar",
            "http://plex.tv/users/a/avatar",
            "https://plex.tv:8443/users/a/avatar",
            "https://plex.tv/users/a/../../admin/avatar",
            "https://plex.tv/library/x",
            "https://plex.tv/users/a/avatar?X-Plex-Token=t%20x",
            "not a url",
        ] {
            assert_eq!(avatar_path(bad), None, "{bad}");
        }
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
