//! Jellyfin and Emby: username + password against the configured server, then the
//! user's policy decides (disabled refuses; administrators get the admin group).
//!
//! Jellyfin 12 drops the legacy X-Emby-* headers, so Jellyfin gets only
//! `Authorization: MediaBrowser ...`; Emby gets `X-Emby-Authorization: Emby ...` and
//! its `/emby` path prefix when the server answers there.

use std::sync::Mutex;

use serde_json::{Value, json};
use ureq::Agent;

use super::http::{Body, Reply, send};
use super::{FirstFactor, Identity, Outcome, PRODUCT, ProviderError, ProviderKind, VERSION};
use crate::config::MediaServerConfig;

pub struct MediaServer {
    kind: ProviderKind,
    cfg: MediaServerConfig,
    device_id: String,
    /// Emby's API base: "/emby" or "" (probed once, then kept).
    prefix: Mutex<Option<String>>,
    /// Sign-ins of one account go one at a time (see [`MediaServer::one_at_a_time`]).
    accounts: [Mutex<()>; ACCOUNT_LOCKS],
    /// Whether Quick Connect was on, and when that was asked (ms): the sign-in page
    /// asks at most once per [`QUICK_CONNECT_CACHE_MS`].
    quick_connect: Mutex<Option<(bool, i64)>>,
}

/// How long the sign-in page trusts the last answer of /QuickConnect/Enabled.
const QUICK_CONNECT_CACHE_MS: i64 = 30_000;

/// A Quick Connect request the server started: the code a person types into a
/// Jellyfin app, and the secret that is redeemed for their token once approved.
pub struct QuickConnectRequest {
    pub secret: String,
    pub code: String,
}

/// Why Quick Connect could not go on.
#[derive(Debug)]
pub enum QuickConnectError {
    /// The server has Quick Connect turned off (or is Emby, which has none).
    Off,
    /// The code or secret is unknown to the server, or expired.
    Unknown,
    /// The user token it was asked with is no longer valid.
    TokenRefused,
    Provider(ProviderError),
}

impl From<ProviderError> for QuickConnectError {
    fn from(e: ProviderError) -> Self {
        QuickConnectError::Provider(e)
    }
}

/// Locks that sign-ins of one account share (accounts are spread over them by name).
const ACCOUNT_LOCKS: usize = 16;

/// The most of a user list read (~100,000 users of ~2 KB).
const USER_LIST_LIMIT: u64 = 256 << 20;

/// What re-validation keeps of each UserDto in GET /Users (the rest is skipped while
/// parsing, never held).
#[derive(serde::Deserialize)]
struct ListedUser {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Policy")]
    policy: ListedPolicy,
}

#[derive(serde::Deserialize)]
struct ListedPolicy {
    #[serde(rename = "IsDisabled")]
    is_disabled: bool,
    #[serde(rename = "IsAdministrator")]
    is_administrator: bool,
}

impl MediaServer {
    /// `device_id` is stable per install, so Jellyfin replaces our previous token for a
    /// user instead of piling up devices.
    pub fn new(kind: ProviderKind, cfg: MediaServerConfig, device_id: String) -> MediaServer {
        let prefix = (kind == ProviderKind::Jellyfin).then(String::new);
        MediaServer {
            kind,
            cfg,
            device_id,
            prefix: Mutex::new(prefix),
            accounts: Default::default(),
            quick_connect: Mutex::new(None),
        }
    }

    /// Held from the password check until the sign-in is stored. The server keeps one
    /// token per user and device, and this portal is one device: a second sign-in of the
    /// same account (a household sharing one, two tabs) replaces the first one's token
    /// while it is being checked, which refused both; and the token stored last must be
    /// the live one.
    pub fn one_at_a_time(&self, username: &str) -> std::sync::MutexGuard<'_, ()> {
        let hash = username
            .to_lowercase()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        self.accounts[(hash % ACCOUNT_LOCKS as u64) as usize]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn client_fields(&self) -> String {
        format!(
            r#"Client="{PRODUCT}", Device="{PRODUCT}", DeviceId="{}", Version="{VERSION}""#,
            urlencode(&self.device_id)
        )
    }

    /// The authorization header for this server kind, with a token when given.
    fn auth_header(&self, token: Option<&str>) -> (&'static str, String) {
        let mut fields = self.client_fields();
        if let Some(t) = token {
            fields.push_str(&format!(r#", Token="{}""#, urlencode(t)));
        }
        match self.kind {
            ProviderKind::Emby => ("X-Emby-Authorization", format!("Emby {fields}")),
            _ => ("Authorization", format!("MediaBrowser {fields}")),
        }
    }

    fn url(&self, prefix: &str, path: &str) -> String {
        format!(
            "{}{prefix}{path}",
            self.cfg.url.as_str().trim_end_matches('/')
        )
    }

    /// A user's primary image (`tag` from their UserDto): an image endpoint the server
    /// answers without a token, so none is sent.
    pub fn avatar(
        &self,
        agent: &Agent,
        user_id: &str,
        tag: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, ProviderError> {
        let prefix = self.prefix(agent)?;
        let path = format!(
            "/Users/{}/Images/Primary?tag={}&maxWidth=256",
            urlencode(user_id),
            urlencode(tag)
        );
        super::http::get_bytes(agent, &self.url(&prefix, &path), limit)
    }

    /// Emby documents `/emby/...`; many installs answer at the root too. Probe once.
    fn prefix(&self, agent: &Agent) -> Result<String, ProviderError> {
        if let Some(p) = self
            .prefix
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(p);
        }
        let mut last = None;
        for candidate in ["/emby", ""] {
            let reply = send(
                agent,
                "GET",
                &self.url(candidate, "/System/Info/Public"),
                &[("Accept", "application/json")],
                Body::Empty,
            )?;
            if reply.status == 200 && reply.json("system info").is_ok() {
                *self.prefix.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(candidate.to_string());
                return Ok(candidate.to_string());
            }
            last = Some(reply.status);
        }
        Err(ProviderError::Misconfigured(format!(
            "no Emby API at {} (System/Info/Public answered {last:?} under /emby and /)",
            self.cfg.url
        )))
    }

    pub fn authenticate(
        &self,
        agent: &Agent,
        username: &str,
        password: &str,
    ) -> Result<Outcome, ProviderError> {
        let prefix = self.prefix(agent)?;
        let (name, value) = self.auth_header(None);
        let body = json!({ "Username": username, "Pw": password });
        let reply = send(
            agent,
            "POST",
            &self.url(&prefix, "/Users/AuthenticateByName"),
            &[(name, value.as_str()), ("Accept", "application/json")],
            Body::Json(&body),
        )?;
        match reply.status {
            200 => {}
            401 => return Err(ProviderError::InvalidCredentials),
            403 => {
                return Ok(Outcome::Denied {
                    username: Some(username.to_string()),
                    account: None,
                    log: format!(
                        "{} refused the sign-in of {username:?} with 403 (disabled, locked or not permitted)",
                        self.kind.label()
                    ),
                });
            }
            429 => return Err(ProviderError::RateLimited),
            s => return Err(status_error(self.kind, "AuthenticateByName", s)),
        }
        self.signed_in(
            agent,
            &prefix,
            &reply,
            "AuthenticateByName",
            FirstFactor::Password,
        )
    }

    /// A 200 AuthenticationResult (`what` names the call, `method` how the person was
    /// checked): its token and user, decided.
    fn signed_in(
        &self,
        agent: &Agent,
        prefix: &str,
        reply: &Reply,
        what: &str,
        method: FirstFactor,
    ) -> Result<Outcome, ProviderError> {
        let v = reply.json(what)?;
        let token = v["AccessToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ProviderError::Malformed(format!("{what} without AccessToken")))?;
        let user_id = v["User"]["Id"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ProviderError::Malformed(format!("{what} without User.Id")))?;
        // The login answer carries a policy too, but read the user afresh with the new
        // token: that is the server's current word, and it proves the token works.
        let user = self.current_user(agent, prefix, token, user_id)?;
        self.decide(user, token, method)
    }

    /// Jellyfin: GET /Users/Me with the token. Emby has no /Users/Me: GET /Users/{Id}.
    fn current_user(
        &self,
        agent: &Agent,
        prefix: &str,
        token: &str,
        user_id: &str,
    ) -> Result<Option<Value>, ProviderError> {
        let reply: Reply = match self.kind {
            ProviderKind::Emby => send(
                agent,
                "GET",
                &self.url(prefix, &format!("/Users/{}", urlencode(user_id))),
                &[("X-Emby-Token", token), ("Accept", "application/json")],
                Body::Empty,
            )?,
            _ => {
                let (name, value) = self.auth_header(Some(token));
                send(
                    agent,
                    "GET",
                    &self.url(prefix, "/Users/Me"),
                    &[(name, value.as_str()), ("Accept", "application/json")],
                    Body::Empty,
                )?
            }
        };
        match reply.status {
            200 => Ok(Some(reply.json("user")?)),
            // A token refused right after login: the user was disabled meanwhile.
            401 | 403 => Ok(None),
            s => Err(status_error(self.kind, "user lookup", s)),
        }
    }

    fn decide(
        &self,
        user: Option<Value>,
        token: &str,
        method: FirstFactor,
    ) -> Result<Outcome, ProviderError> {
        let Some(user) = user else {
            return Ok(Outcome::Denied {
                username: None,
                account: None,
                log: format!(
                    "{} refused the fresh token (user disabled?)",
                    self.kind.label()
                ),
            });
        };
        let name = user["Name"].as_str().filter(|n| !n.is_empty());
        let id = user["Id"].as_str().filter(|n| !n.is_empty());
        let (Some(name), Some(id), Some(policy)) = (name, id, user["Policy"].as_object()) else {
            return Err(ProviderError::Malformed(format!(
                "{} user without Name, Id or Policy",
                self.kind.label()
            )));
        };
        let flag = |k: &str| policy.get(k).and_then(Value::as_bool);
        let (Some(disabled), Some(admin)) = (flag("IsDisabled"), flag("IsAdministrator")) else {
            return Err(ProviderError::Malformed(format!(
                "{} policy without IsDisabled/IsAdministrator",
                self.kind.label()
            )));
        };
        if disabled {
            return Ok(Outcome::Denied {
                username: Some(name.to_string()),
                account: Some(id.to_string()),
                log: format!("{} user {id} is disabled", self.kind.label()),
            });
        }
        let role = if admin { "admin" } else { "user" };
        Ok(Outcome::Authorized(Identity {
            provider: self.kind,
            provider_user_id: id.to_string(),
            username: name.to_string(),
            email: None,
            groups: vec![format!("{}-{role}", self.kind.as_str())],
            token: token.to_string(),
            // The tag names the image version; a user without a picture has none.
            avatar: user["PrimaryImageTag"]
                .as_str()
                .filter(|t| {
                    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric())
                })
                .map(str::to_string),
            method,
        }))
    }

    /// The user id a token belongs to (native apps sending their own token). Jellyfin
    /// answers /Users/Me; Emby has no such call, so Emby tokens cannot be checked.
    pub fn account_of(&self, agent: &Agent, token: &str) -> Result<String, ProviderError> {
        if self.kind == ProviderKind::Emby {
            return Err(ProviderError::Misconfigured(
                "Emby cannot say whose token this is".into(),
            ));
        }
        let user = self
            .current_user(agent, "", token, "")?
            .ok_or(ProviderError::InvalidCredentials)?;
        user["Id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::Malformed("Jellyfin user without Id".into()))
    }

    /// Whether the sign-in page offers Quick Connect: Jellyfin only, asked with GET
    /// /QuickConnect/Enabled at most once per 30 s (`now_ms` from the app clock). An
    /// unreachable server counts as off until the next ask.
    pub fn quick_connect_offered(&self, agent: &Agent, now_ms: i64) -> bool {
        if self.kind != ProviderKind::Jellyfin {
            return false;
        }
        {
            let mut cached = self.quick_connect.lock().unwrap_or_else(|p| p.into_inner());
            match *cached {
                Some((on, at)) if now_ms - at < QUICK_CONNECT_CACHE_MS => return on,
                // Pages shown while this one asks keep the last answer: one ask at a
                // time, however many people open the page while the server is slow.
                previous => *cached = Some((previous.is_some_and(|(on, _)| on), now_ms)),
            }
        }
        let on = self.quick_connect_enabled(agent).unwrap_or(false);
        self.remember_quick_connect(on, now_ms);
        on
    }

    fn remember_quick_connect(&self, on: bool, now_ms: i64) {
        *self.quick_connect.lock().unwrap_or_else(|p| p.into_inner()) = Some((on, now_ms));
    }

    /// GET /QuickConnect/Enabled: a bare JSON `true` or `false`.
    fn quick_connect_enabled(&self, agent: &Agent) -> Result<bool, ProviderError> {
        let reply = send(
            agent,
            "GET",
            &self.url("", "/QuickConnect/Enabled"),
            &[("Accept", "application/json")],
            Body::Empty,
        )?;
        match reply.status {
            200 => reply
                .json("QuickConnect/Enabled")?
                .as_bool()
                .ok_or_else(|| {
                    ProviderError::Malformed("QuickConnect/Enabled is not a boolean".into())
                }),
            s => Err(status_error(self.kind, "QuickConnect/Enabled", s)),
        }
    }

    /// Starts a Quick Connect request as this portal's device (POST /QuickConnect/Initiate;
    /// servers before 10.9 only know GET). The server binds the request to our DeviceId,
    /// so the token it gives at the end replaces the portal's previous one for that user.
    pub fn quick_connect_initiate(
        &self,
        agent: &Agent,
        now_ms: i64,
    ) -> Result<QuickConnectRequest, QuickConnectError> {
        if self.kind != ProviderKind::Jellyfin {
            return Err(QuickConnectError::Off);
        }
        let (name, value) = self.auth_header(None);
        let headers = [(name, value.as_str()), ("Accept", "application/json")];
        let url = self.url("", "/QuickConnect/Initiate");
        let mut reply = send(agent, "POST", &url, &headers, Body::Empty)?;
        if matches!(reply.status, 404 | 405) {
            reply = send(agent, "GET", &url, &headers, Body::Empty)?;
        }
        match reply.status {
            200 => {}
            401 | 403 => {
                self.remember_quick_connect(false, now_ms);
                return Err(QuickConnectError::Off);
            }
            429 => return Err(ProviderError::RateLimited.into()),
            s => return Err(status_error(self.kind, "QuickConnect/Initiate", s).into()),
        }
        let v = reply.json("QuickConnect/Initiate")?;
        let field = |k: &str| v[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let (Some(secret), Some(code)) = (field("Secret"), field("Code")) else {
            return Err(ProviderError::Malformed("Initiate without Secret or Code".into()).into());
        };
        self.remember_quick_connect(true, now_ms);
        Ok(QuickConnectRequest { secret, code })
    }

    /// GET /QuickConnect/Connect?secret=: whether a Jellyfin app approved the request.
    pub fn quick_connect_approved(
        &self,
        agent: &Agent,
        secret: &str,
    ) -> Result<bool, QuickConnectError> {
        let url = self.url(
            "",
            &format!("/QuickConnect/Connect?secret={}", urlencode(secret)),
        );
        let reply = send(
            agent,
            "GET",
            &url,
            &[("Accept", "application/json")],
            Body::Empty,
        )?;
        match reply.status {
            200 => reply.json("QuickConnect/Connect")?["Authenticated"]
                .as_bool()
                .ok_or_else(|| {
                    ProviderError::Malformed("Connect without Authenticated".into()).into()
                }),
            401 => Err(QuickConnectError::Off),
            404 => Err(QuickConnectError::Unknown),
            429 => Err(ProviderError::RateLimited.into()),
            s => Err(status_error(self.kind, "QuickConnect/Connect", s).into()),
        }
    }

    /// Redeems an approved secret (POST /Users/AuthenticateWithQuickConnect, as the device
    /// that started it) and decides like a password sign-in. That call skips the
    /// server's disabled check, so the user's policy is read afresh with the new token.
    pub fn quick_connect_redeem(
        &self,
        agent: &Agent,
        secret: &str,
    ) -> Result<Outcome, QuickConnectError> {
        let (name, value) = self.auth_header(None);
        let reply = send(
            agent,
            "POST",
            &self.url("", "/Users/AuthenticateWithQuickConnect"),
            &[(name, value.as_str()), ("Accept", "application/json")],
            Body::Json(&json!({ "Secret": secret })),
        )?;
        match reply.status {
            200 => Ok(self.signed_in(
                agent,
                "",
                &reply,
                "AuthenticateWithQuickConnect",
                FirstFactor::QuickConnect,
            )?),
            401 => Err(QuickConnectError::Off),
            // Not approved (any more), or expired.
            404 => Err(QuickConnectError::Unknown),
            429 => Err(ProviderError::RateLimited.into()),
            s => Err(status_error(self.kind, "AuthenticateWithQuickConnect", s).into()),
        }
    }

    /// Approves the code a Jellyfin app shows (POST /QuickConnect/Authorize?code=) with a
    /// user's own token: that app is then signed in as that user. Jellyfin answers 401
    /// both for a dead token and for Quick Connect turned off, so a 401 asks which.
    pub fn quick_connect_authorize(
        &self,
        agent: &Agent,
        token: &str,
        code: &str,
    ) -> Result<(), QuickConnectError> {
        if self.kind != ProviderKind::Jellyfin {
            return Err(QuickConnectError::Off);
        }
        let (name, value) = self.auth_header(Some(token));
        let url = self.url(
            "",
            &format!("/QuickConnect/Authorize?code={}", urlencode(code)),
        );
        let reply = send(
            agent,
            "POST",
            &url,
            &[(name, value.as_str()), ("Accept", "application/json")],
            Body::Empty,
        )?;
        match reply.status {
            // Older servers answer `false` for a code they do not know.
            200 => match reply.json("QuickConnect/Authorize")?.as_bool() {
                Some(true) => Ok(()),
                Some(false) => Err(QuickConnectError::Unknown),
                None => Err(ProviderError::Malformed("Authorize is not a boolean".into()).into()),
            },
            400 | 404 => Err(QuickConnectError::Unknown),
            401 | 403 => match self.quick_connect_enabled(agent)? {
                false => Err(QuickConnectError::Off),
                true => Err(QuickConnectError::TokenRefused),
            },
            429 => Err(ProviderError::RateLimited.into()),
            s => Err(status_error(self.kind, "QuickConnect/Authorize", s).into()),
        }
    }

    /// Whether an API key is configured (re-validation can ask about any user).
    pub fn has_api_key(&self) -> bool {
        self.cfg.api_key.is_some()
    }

    /// Whether one request can answer for every account (`list_users`): Jellyfin with an
    /// API key. Emby and token-only set-ups are asked account by account.
    pub fn lists_users(&self) -> bool {
        self.kind == ProviderKind::Jellyfin && self.has_api_key()
    }

    /// Re-validation of everyone at once: GET /Users with the API key, each user decided
    /// as `check_user` would (enabled or not), keyed by id without dashes, lowercased. An
    /// account missing from the answer no longer exists.
    pub fn list_users(
        &self,
        agent: &Agent,
    ) -> Result<std::collections::HashMap<String, Outcome>, ProviderError> {
        let Some(key) = self.cfg.api_key.as_deref().filter(|_| self.lists_users()) else {
            return Err(ProviderError::Misconfigured(
                "listing users needs Jellyfin and an API key".into(),
            ));
        };
        let prefix = self.prefix(agent)?;
        let (name, value) = self.auth_header(Some(key));
        let (status, users) = super::http::get_parsed::<Vec<ListedUser>>(
            agent,
            &self.url(&prefix, "/Users"),
            &[(name, value.as_str()), ("Accept", "application/json")],
            // Only the fields below are kept; a UserDto is ~1-2 KB on the wire.
            USER_LIST_LIMIT,
        )?;
        let users = match (status, users) {
            (200, Some(users)) => users,
            (401 | 403, _) => {
                return Err(ProviderError::Misconfigured(format!(
                    "{} refused the API key",
                    self.kind.label()
                )));
            }
            (429, _) => return Err(ProviderError::RateLimited),
            (s, _) => return Err(status_error(self.kind, "user list", s)),
        };
        users
            .into_iter()
            .map(|u| {
                let id = u.id.replace('-', "").to_ascii_lowercase();
                let user = json!({ "Id": u.id, "Name": u.name, "Policy": {
                    "IsDisabled": u.policy.is_disabled,
                    "IsAdministrator": u.policy.is_administrator } });
                Ok((id, self.decide(Some(user), "", NOT_A_SIGN_IN)?))
            })
            .collect()
    }

    /// Re-validation: does account `user_id` still exist and is it enabled? Asked with
    /// the server's API key when one is configured, else with the user's own token (a
    /// refused user token means the account was disabled or removed). A refused API key
    /// is the portal's problem, not the user's: `Misconfigured`.
    pub fn check_user(
        &self,
        agent: &Agent,
        user_id: &str,
        token: Option<&str>,
    ) -> Result<Outcome, ProviderError> {
        let prefix = self.prefix(agent)?;
        let api_key = self.cfg.api_key.as_deref();
        let Some(key) = api_key.or(token) else {
            return Err(ProviderError::Misconfigured(
                "no API key and no stored token to ask with".into(),
            ));
        };
        let by_key = api_key.is_some();
        let path = if by_key || self.kind == ProviderKind::Emby {
            format!("/Users/{}", urlencode(user_id))
        } else {
            "/Users/Me".to_string()
        };
        let (name, value) = match self.kind {
            ProviderKind::Emby => ("X-Emby-Token", key.to_string()),
            _ => self.auth_header(Some(key)),
        };
        let reply = send(
            agent,
            "GET",
            &self.url(&prefix, &path),
            &[(name, value.as_str()), ("Accept", "application/json")],
            Body::Empty,
        )?;
        let gone = |why: &str| Outcome::Denied {
            username: None,
            account: Some(user_id.to_string()),
            log: format!("{} user {user_id} {why}", self.kind.label()),
        };
        match reply.status {
            200 => {
                let user = reply.json("user")?;
                let same = user["Id"].as_str().is_some_and(|id| {
                    id.replace('-', "")
                        .eq_ignore_ascii_case(&user_id.replace('-', ""))
                });
                if !same {
                    return Ok(gone("is not who the token names"));
                }
                self.decide(Some(user), token.unwrap_or(""), NOT_A_SIGN_IN)
            }
            404 => Ok(gone("no longer exists")),
            401 | 403 if by_key => Err(ProviderError::Misconfigured(format!(
                "{} refused the API key",
                self.kind.label()
            ))),
            401 | 403 => Ok(gone("refused its token (disabled or removed)")),
            429 => Err(ProviderError::RateLimited),
            s => Err(status_error(self.kind, "user check", s)),
        }
    }

    /// Re-validation: does the server answer at all? Any status below 500 on the public
    /// info route says it is up, so a failed check of one account concerns that account
    /// only and the others are still worth asking.
    pub fn reachable(&self, agent: &Agent) -> Result<(), ProviderError> {
        match self.public_info(agent)?.status {
            s if s >= 500 => Err(status_error(self.kind, "system info", s)),
            _ => Ok(()),
        }
    }

    /// GET System/Info/Public: answered without signing in.
    fn public_info(&self, agent: &Agent) -> Result<Reply, ProviderError> {
        let prefix = self.prefix(agent)?;
        send(
            agent,
            "GET",
            &self.url(&prefix, "/System/Info/Public"),
            &[("Accept", "application/json")],
            Body::Empty,
        )
    }

    /// The server's name, version and product (System/Info/Public, no sign-in needed).
    pub fn server_info(&self, agent: &Agent) -> Result<ServerInfo, ProviderError> {
        let reply = self.public_info(agent)?;
        let v = reply.json("system info")?;
        let text = |key: &str| v[key].as_str().map(str::to_string);
        Ok(ServerInfo {
            name: text("ServerName").unwrap_or_default(),
            version: text("Version").unwrap_or_else(|| "?".into()),
            product: text("ProductName"),
        })
    }

    /// Reachability for `authportal check`.
    pub fn probe(&self, agent: &Agent) -> Result<String, ProviderError> {
        let ServerInfo { name, version, .. } = self.server_info(agent)?;
        Ok(format!(
            "{} {version} ({name}) answered at {}",
            self.kind.label(),
            self.cfg.url.as_str().trim_end_matches('/')
        ))
    }
}

/// What a server says about itself before anyone signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
    /// "Jellyfin Server", "Emby Server" (absent on some versions).
    pub product: Option<String>,
}

impl ServerInfo {
    /// The kind the product name says, if it says one.
    pub fn kind(&self) -> Option<ProviderKind> {
        let p = self.product.as_deref()?.to_ascii_lowercase();
        if p.contains("jellyfin") {
            Some(ProviderKind::Jellyfin)
        } else if p.contains("emby") {
            Some(ProviderKind::Emby)
        } else {
            None
        }
    }
}

/// The method of an identity decided outside a sign-in (user lists, re-validation), where
/// no session is opened from it and the method is never read.
const NOT_A_SIGN_IN: FirstFactor = FirstFactor::Password;

fn status_error(kind: ProviderKind, what: &str, status: u16) -> ProviderError {
    if status >= 500 {
        ProviderError::Unreachable(format!("{} {what}: status {status}", kind.label()))
    } else if status == 404 {
        ProviderError::Misconfigured(format!(
            "{} {what}: 404, check the server URL",
            kind.label()
        ))
    } else {
        ProviderError::Malformed(format!(
            "{} {what}: unexpected status {status}",
            kind.label()
        ))
    }
}

/// Header field values are URL-decoded by Jellyfin, so encode anything unusual.
fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
