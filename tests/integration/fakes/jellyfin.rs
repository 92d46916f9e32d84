//! FakeJellyfin: the auth endpoints of a Jellyfin server, with an Emby mode (`/emby` prefix, no `/Users/Me`),
//! and Jellyfin's Quick Connect set (QuickConnectController/QuickConnectManager; Emby has none).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rouille::Response;
use serde_json::{Map, Value, json};

use super::http::{
    FakeServer, Fault, Recorded, iso8601, json_response, lock, random_hex, strip_prefix_ci,
    text_response,
};

/// Which server the fake imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Jellyfin,
    Emby,
}

/// `/System/Info/Public` `Id` (32 hex, no dashes, as Jellyfin serializes GUIDs).
pub const SERVER_ID: &str = "5b0c1f7e9d2a4c3b8e6f1a0d9c8b7a65";
/// The API key the fake accepts (`api_key()`).
pub const API_KEY: &str = "fake-api-key-7c2e9a41d05b";

const ERROR_BODY: &str = "Error processing request.";

#[derive(Clone, Debug, Default)]
pub struct FakeUser {
    /// 32 lowercase hex chars, no dashes.
    pub id: String,
    pub name: String,
    pub password: String,
    pub is_admin: bool,
    pub is_disabled: bool,
    /// `PrimaryImageTag` of a user with a profile picture (served as AVATAR_PNG).
    pub image_tag: Option<String>,
}

impl FakeUser {
    /// A non-admin, enabled user with an id derived from the name.
    pub fn new(name: &str, password: &str) -> FakeUser {
        // FNV-1a, twice with different seeds: stable ids without extra deps.
        let fnv = |seed: u64| {
            name.bytes().fold(seed, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        };
        FakeUser {
            id: format!(
                "{:016x}{:016x}",
                fnv(0xcbf2_9ce4_8422_2325),
                fnv(0x8422_2325_cbf2_9ce4)
            ),
            name: name.to_string(),
            password: password.to_string(),
            is_admin: false,
            is_disabled: false,
            image_tag: None,
        }
    }
}

struct UserRec {
    user: FakeUser,
    // Quirk: AuthenticateByName (and the token) still work although Policy.IsDisabled is true.
    login_despite_disabled: bool,
    last_login: Option<SystemTime>,
}

impl UserRec {
    fn blocked(&self) -> bool {
        self.user.is_disabled && !self.login_despite_disabled
    }
}

struct Session {
    token: String,
    user_id: String,
    device_id: String,
}

/// A Quick Connect request (QuickConnectResult).
struct QuickConnect {
    secret: String,
    code: String,
    device_id: String,
    device_name: String,
    app_name: String,
    app_version: String,
    added: SystemTime,
    /// The user who approved it, and when.
    approved: Option<(String, SystemTime)>,
}

/// QuickConnectManager: a request expires 10 minutes after creation, an approved one 10
/// minutes after approval.
const QUICK_CONNECT_TTL: Duration = Duration::from_secs(600);

struct State {
    mode: Mode,
    legacy: bool,
    base_url: String,
    users: Vec<UserRec>,
    sessions: Vec<Session>,
    device_ids: Vec<String>,
    quick_connect_enabled: bool,
    quick_connects: Vec<QuickConnect>,
    /// Added to the wall clock: tests move the fake's time to expire requests.
    clock_offset: Duration,
}

impl State {
    fn now(&self) -> SystemTime {
        SystemTime::now() + self.clock_offset
    }

    /// QuickConnectManager.ExpireRequests.
    fn expire_quick_connects(&mut self) {
        let now = self.now();
        self.quick_connects.retain(|q| {
            let since = q.approved.as_ref().map_or(q.added, |(_, at)| *at);
            now.duration_since(since).unwrap_or_default() < QUICK_CONNECT_TTL
        });
    }
}

/// Fake Jellyfin/Emby. Clones share one server, which stops when the last is dropped.
#[derive(Clone)]
pub struct FakeJellyfin {
    inner: Arc<Inner>,
}

struct Inner {
    server: FakeServer,
    state: Arc<Mutex<State>>,
}

impl FakeJellyfin {
    pub fn start(mode: Mode) -> FakeJellyfin {
        let state = Arc::new(Mutex::new(State {
            mode,
            legacy: false,
            base_url: String::new(),
            users: Vec::new(),
            sessions: Vec::new(),
            device_ids: Vec::new(),
            // QuickConnectAvailable defaults to true since 10.9.
            quick_connect_enabled: true,
            quick_connects: Vec::new(),
            clock_offset: Duration::ZERO,
        }));
        let st = state.clone();
        let alias = (mode == Mode::Emby).then_some("/emby");
        let server = FakeServer::start(Box::new(move |req| handle(&st, req)), fault_body, alias);
        lock(&state).base_url = server.base_url();
        FakeJellyfin {
            inner: Arc::new(Inner { server, state }),
        }
    }

    pub fn mode(&self) -> Mode {
        lock(&self.inner.state).mode
    }

    /// "http://127.0.0.1:PORT" (server root, without `/emby`).
    pub fn base_url(&self) -> String {
        self.inner.server.base_url()
    }

    /// Where the API lives: `base_url()` for Jellyfin, `base_url() + "/emby"` for Emby.
    pub fn api_base(&self) -> String {
        match self.mode() {
            Mode::Jellyfin => self.base_url(),
            Mode::Emby => format!("{}/emby", self.base_url()),
        }
    }

    pub fn server_id(&self) -> &'static str {
        SERVER_ID
    }

    pub fn server_name(&self) -> &'static str {
        server_name(self.mode())
    }

    pub fn api_key(&self) -> &'static str {
        API_KEY
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.server.requests()
    }

    /// Requests whose path starts with `path_prefix`; in Emby mode also after stripping `/emby`.
    pub fn count(&self, path_prefix: &str) -> usize {
        self.inner.server.count(path_prefix)
    }

    pub fn clear_requests(&self) {
        self.inner.server.clear_requests()
    }

    /// Injects `fault` on paths starting with `route` ("" = all; in Emby mode `/emby` is
    /// optional in `route`). The newest matching fault wins.
    pub fn fail(&self, route: &str, fault: Fault) {
        self.inner.server.fail(route, fault)
    }

    pub fn clear_faults(&self) {
        self.inner.server.clear_faults()
    }

    /// Adds a user, replacing any with the same id.
    pub fn add_user(&self, user: FakeUser) {
        let mut st = lock(&self.inner.state);
        st.users.retain(|u| u.user.id != user.id);
        st.users.push(UserRec {
            user,
            login_despite_disabled: false,
            last_login: None,
        });
    }

    /// Accept (true) or ignore (false, the default, like Jellyfin 12) the legacy auth forms:
    /// `X-Emby-Authorization`, the `Emby` scheme, `X-Emby-Token`, `X-MediaBrowser-Token`, `?api_key=`.
    /// No effect in Emby mode, where those are the normal forms.
    pub fn set_legacy(&self, legacy: bool) {
        lock(&self.inner.state).legacy = legacy;
    }

    /// Disables/enables a user; live tokens of a disabled user then get 401.
    /// Clears the `set_policy_disabled_but_login_ok` quirk.
    pub fn set_user_disabled(&self, name: &str, disabled: bool) -> bool {
        self.with_user(name, |u| {
            u.user.is_disabled = disabled;
            u.login_despite_disabled = false;
        })
    }

    /// Quirk: Policy.IsDisabled is true, yet login succeeds and the token works.
    pub fn set_policy_disabled_but_login_ok(&self, name: &str) -> bool {
        self.with_user(name, |u| {
            u.user.is_disabled = true;
            u.login_despite_disabled = true;
        })
    }

    /// DeviceId values seen on AuthenticateByName, in order (failed attempts included).
    pub fn device_ids(&self) -> Vec<String> {
        lock(&self.inner.state).device_ids.clone()
    }

    /// Live (not revoked) access tokens of a user.
    pub fn tokens_of(&self, name: &str) -> Vec<String> {
        let st = lock(&self.inner.state);
        let Some(id) = find_user_by_name(&st, name).map(|u| u.user.id.clone()) else {
            return Vec::new();
        };
        st.sessions
            .iter()
            .filter(|s| s.user_id == id)
            .map(|s| s.token.clone())
            .collect()
    }

    pub fn is_token_live(&self, token: &str) -> bool {
        lock(&self.inner.state)
            .sessions
            .iter()
            .any(|s| s.token == token)
    }

    /// Turns Quick Connect on or off (Dashboard > General > Quick Connect).
    pub fn set_quick_connect(&self, enabled: bool) {
        lock(&self.inner.state).quick_connect_enabled = enabled;
    }

    /// Moves the fake's clock forward (Quick Connect expiry).
    pub fn advance(&self, by: Duration) {
        lock(&self.inner.state).clock_offset += by;
    }

    /// Signs `name` in on a Jellyfin TV app of its own and returns that app's token.
    pub fn app_token(&self, name: &str) -> Option<String> {
        let mut st = lock(&self.inner.state);
        let user_id = find_user_by_name(&st, name)?.user.id.clone();
        let token = random_hex(32);
        st.sessions.push(Session {
            token: token.clone(),
            user_id,
            device_id: format!("fake-tv-{}", random_hex(8)),
        });
        Some(token)
    }

    /// Revokes a token (the user signed that device out).
    pub fn revoke_token(&self, token: &str) {
        lock(&self.inner.state)
            .sessions
            .retain(|s| s.token != token);
    }

    /// Plays a Jellyfin app where `name` is signed in approving `code`: a real POST
    /// /QuickConnect/Authorize with that app's token. Returns the status.
    pub fn approve_quick_connect(&self, name: &str, code: &str) -> u16 {
        let token = self.app_token(name).expect("known user");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let header = format!(
            r#"MediaBrowser Client="Jellyfin Android TV", Device="TV", DeviceId="tv-1", Version="0.18.0", Token="{token}""#
        );
        agent
            .post(format!(
                "{}/QuickConnect/Authorize?code={code}",
                self.base_url()
            ))
            .header("Authorization", header)
            .send_empty()
            .map(|r| r.status().as_u16())
            .expect("the fake answers")
    }

    /// Codes of live Quick Connect requests, oldest first, with whether each was approved
    /// and by which user name.
    pub fn quick_connect_codes(&self) -> Vec<(String, Option<String>)> {
        let mut st = lock(&self.inner.state);
        st.expire_quick_connects();
        st.quick_connects
            .iter()
            .map(|q| {
                let who = q.approved.as_ref().and_then(|(id, _)| {
                    st.users
                        .iter()
                        .find(|u| &u.user.id == id)
                        .map(|u| u.user.name.clone())
                });
                (q.code.clone(), who)
            })
            .collect()
    }

    /// Starts a Quick Connect request as a TV app would (the code the TV shows).
    pub fn tv_initiates(&self) -> String {
        let mut st = lock(&self.inner.state);
        new_quick_connect(
            &mut st,
            "tv-device-1",
            "Living room TV",
            "Jellyfin Android TV",
            "0.18.0",
        )
        .code
        .clone()
    }

    fn with_user(&self, name: &str, f: impl FnOnce(&mut UserRec)) -> bool {
        let mut st = lock(&self.inner.state);
        match st
            .users
            .iter_mut()
            .find(|u| u.user.name.eq_ignore_ascii_case(name))
        {
            Some(u) => {
                f(u);
                true
            }
            None => false,
        }
    }
}

fn server_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Jellyfin => "Fake Jellyfin",
        Mode::Emby => "Fake Emby",
    }
}

fn fault_body(status: u16) -> Response {
    text_response(status, ERROR_BODY)
}

fn error(status: u16) -> Response {
    text_response(status, ERROR_BODY)
}

fn not_found() -> Response {
    Response::empty_404()
}

fn find_user_by_name<'a>(st: &'a State, name: &str) -> Option<&'a UserRec> {
    st.users
        .iter()
        .find(|u| u.user.name.eq_ignore_ascii_case(name))
}

/// Who is calling, after applying the mode's rules for where credentials may come from.
enum Caller {
    Anonymous,
    ApiKey,
    User(String),
    Invalid,
}

struct AuthCtx {
    /// Keys lowercased, values URL-decoded.
    fields: Vec<(String, String)>,
    token: Option<String>,
}

impl AuthCtx {
    fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

fn auth_ctx(mode: Mode, legacy: bool, req: &Recorded) -> AuthCtx {
    // Emby accepts every form; Jellyfin without legacy only `Authorization: MediaBrowser` + ApiKey.
    let old_forms = mode == Mode::Emby || legacy;
    let schemes: &[&str] = if old_forms {
        &["MediaBrowser", "Emby"]
    } else {
        &["MediaBrowser"]
    };
    let mut fields = req
        .header("authorization")
        .and_then(|h| parse_auth_header(h, schemes));
    if fields.is_none() && old_forms {
        fields = req
            .header("x-emby-authorization")
            .and_then(|h| parse_auth_header(h, schemes));
    }
    let fields = fields.unwrap_or_default();
    let nonempty = |v: Option<String>| v.filter(|v| !v.is_empty());
    let from_header = nonempty(
        fields
            .iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.clone()),
    );
    let token = match mode {
        Mode::Jellyfin => from_header
            .or_else(|| {
                legacy
                    .then(|| {
                        nonempty(req.header("x-emby-token").map(str::to_string)).or_else(|| {
                            nonempty(req.header("x-mediabrowser-token").map(str::to_string))
                        })
                    })
                    .flatten()
            })
            .or_else(|| nonempty(req.query_param_ci("ApiKey")))
            .or_else(|| {
                legacy
                    .then(|| nonempty(req.query_param_ci("api_key")))
                    .flatten()
            }),
        Mode::Emby => from_header
            .or_else(|| nonempty(req.header("x-emby-token").map(str::to_string)))
            .or_else(|| nonempty(req.query_param_ci("api_key"))),
    };
    AuthCtx { fields, token }
}

/// `Scheme Key="value", Key2="value2"`; None if the scheme is not accepted.
fn parse_auth_header(value: &str, schemes: &[&str]) -> Option<Vec<(String, String)>> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    let fields = rest
        .split(',')
        .filter_map(|part| part.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v.strip_prefix('"').unwrap_or(v);
            let v = v.strip_suffix('"').unwrap_or(v);
            (k.trim().to_ascii_lowercase(), url_decode(v))
        })
        .collect();
    Some(fields)
}

/// WebUtility.UrlDecode: `%XX` and `+` as space; malformed escapes kept as-is.
fn url_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = (b[i] == b'%' && i + 2 < b.len())
            .then(|| Some(hex(b[i + 1])? * 16 + hex(b[i + 2])?))
            .flatten();
        match (b[i], escaped) {
            (_, Some(v)) => {
                out.push(v);
                i += 2;
            }
            (b'+', _) => out.push(b' '),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn caller(st: &State, ctx: &AuthCtx) -> Caller {
    let Some(token) = ctx.token.as_deref() else {
        return Caller::Anonymous;
    };
    if token == API_KEY {
        return Caller::ApiKey;
    }
    let user = st
        .sessions
        .iter()
        .find(|s| s.token == token)
        .and_then(|s| st.users.iter().find(|u| u.user.id == s.user_id));
    match user {
        Some(u) if !u.blocked() => Caller::User(u.user.id.clone()),
        _ => Caller::Invalid,
    }
}

fn handle(state: &Mutex<State>, req: &Recorded) -> Response {
    let mut st = lock(state);
    let path = match st.mode {
        Mode::Jellyfin => req.path.as_str(),
        // Emby answers only under /emby here; root paths 404 so a client must use the prefix.
        Mode::Emby => match strip_prefix_ci(&req.path, "/emby") {
            Some(p) => p,
            None => return not_found(),
        },
    };
    let path = path.trim_end_matches('/').to_ascii_lowercase();
    let ctx = auth_ctx(st.mode, st.legacy, req);
    match (req.method.as_str(), path.as_str()) {
        ("GET", "/system/info/public") => json_response(200, &system_info(&st)),
        (_, p) if p.starts_with("/quickconnect/") || p == "/users/authenticatewithquickconnect" => {
            match st.mode {
                Mode::Emby => not_found(),
                Mode::Jellyfin => quick_connect(&mut st, &ctx, req, p),
            }
        }
        ("POST", "/users/authenticatebyname") => authenticate(&mut st, &ctx, req),
        ("GET", "/users/me") => match (st.mode, caller(&st, &ctx)) {
            (Mode::Emby, _) => not_found(),
            (_, Caller::User(id)) => match st.users.iter().find(|u| u.user.id == id) {
                Some(u) => json_response(200, &user_dto(&st, u)),
                None => error(401),
            },
            // An API key has no user behind it.
            (_, Caller::ApiKey) => error(400),
            _ => error(401),
        },
        // Every user (re-validation with an API key asks once for everyone).
        ("GET", "/users") => match caller(&st, &ctx) {
            Caller::ApiKey => {
                let all: Vec<Value> = st.users.iter().map(|u| user_dto(&st, u)).collect();
                json_response(200, &Value::Array(all))
            }
            _ => error(401),
        },
        ("POST", "/sessions/logout") => match caller(&st, &ctx) {
            Caller::User(_) => {
                let token = ctx.token.clone().unwrap_or_default();
                st.sessions.retain(|s| s.token != token);
                Response::empty_204()
            }
            Caller::ApiKey => Response::empty_204(),
            _ => error(401),
        },
        // A user's picture: like the real servers, answered without a token.
        ("GET", p) if p.starts_with("/users/") && p.ends_with("/images/primary") => {
            let id = &p["/users/".len()..p.len() - "/images/primary".len()];
            match st.users.iter().find(|u| u.user.id.eq_ignore_ascii_case(id)) {
                Some(u) if u.user.image_tag.is_some() => {
                    Response::from_data("image/png", super::plex::AVATAR_PNG.to_vec())
                }
                _ => not_found(),
            }
        }
        ("GET", p) if p.starts_with("/users/") && !p["/users/".len()..].contains('/') => {
            match caller(&st, &ctx) {
                Caller::User(_) | Caller::ApiKey => {}
                _ => return error(401),
            }
            let id = p["/users/".len()..].replace('-', "");
            match st
                .users
                .iter()
                .find(|u| u.user.id.eq_ignore_ascii_case(&id))
            {
                Some(u) => json_response(200, &user_dto(&st, u)),
                None => text_response(404, "User not found"),
            }
        }
        _ => not_found(),
    }
}

/// QuickConnectController: Enabled, Initiate (POST; GET kept as obsolete), Connect,
/// Authorize (a live user token; `userId` of another user needs an administrator) and
/// Users/AuthenticateWithQuickConnect.
fn quick_connect(st: &mut State, ctx: &AuthCtx, req: &Recorded, path: &str) -> Response {
    let method = req.method.as_str();
    if (method, path) == ("GET", "/quickconnect/enabled") {
        return json_response(200, &json!(st.quick_connect_enabled));
    }
    if !st.quick_connect_enabled {
        return text_response(401, "Quick connect is disabled");
    }
    st.expire_quick_connects();
    match (method, path) {
        ("POST" | "GET", "/quickconnect/initiate") => {
            let (Some(client), Some(device), Some(device_id), Some(version)) = (
                ctx.field("Client"),
                ctx.field("Device"),
                ctx.field("DeviceId"),
                ctx.field("Version"),
            ) else {
                return error(400);
            };
            let q = new_quick_connect(st, device_id, device, client, version);
            json_response(200, &quick_connect_result(q))
        }
        ("GET", "/quickconnect/connect") => {
            let secret = req.query_param_ci("secret").unwrap_or_default();
            match st.quick_connects.iter().find(|q| q.secret == secret) {
                Some(q) => json_response(200, &quick_connect_result(q)),
                None => text_response(404, "Unknown secret"),
            }
        }
        ("POST", "/quickconnect/authorize") => {
            let caller_id = match caller(st, ctx) {
                Caller::User(id) => id,
                _ => return error(401),
            };
            let Some(code) = req.query_param_ci("code") else {
                return text_response(400, "Missing code");
            };
            let user_id = match req.query_param_ci("userId").map(|u| u.replace('-', "")) {
                Some(other) if !other.eq_ignore_ascii_case(&caller_id) => {
                    let admin = st
                        .users
                        .iter()
                        .any(|u| u.user.id == caller_id && u.user.is_admin);
                    if !admin {
                        return text_response(403, "Unknown user id");
                    }
                    other.to_ascii_lowercase()
                }
                _ => caller_id,
            };
            let now = st.now();
            match st.quick_connects.iter_mut().find(|q| q.code == code) {
                Some(q) => {
                    q.approved = Some((user_id, now));
                    json_response(200, &json!(true))
                }
                None => text_response(404, "Unable to find request"),
            }
        }
        ("POST", "/users/authenticatewithquickconnect") => {
            let secret = serde_json::from_str::<Value>(&req.body)
                .ok()
                .and_then(|v| v["Secret"].as_str().map(str::to_string));
            let Some(secret) = secret else {
                return error(400);
            };
            let found = st
                .quick_connects
                .iter()
                .find(|q| q.secret == secret)
                .and_then(|q| {
                    Some((
                        q.approved.as_ref()?.0.clone(),
                        q.device_id.clone(),
                        q.device_name.clone(),
                    ))
                });
            let Some((user_id, device_id, device)) = found else {
                return text_response(404, "Unknown secret");
            };
            // AuthenticateDirect: no password and no disabled check; the secret stays
            // usable until it expires.
            let Some(idx) = st.users.iter().position(|u| u.user.id == user_id) else {
                return text_response(404, "Unknown secret");
            };
            issue_token(st, idx, &device_id, "AuthPortal", &device, "1")
        }
        _ => not_found(),
    }
}

fn new_quick_connect<'a>(
    st: &'a mut State,
    device_id: &str,
    device: &str,
    client: &str,
    version: &str,
) -> &'a QuickConnect {
    let mut code;
    loop {
        code = super::http::random_from(b"0123456789", 6);
        if !st.quick_connects.iter().any(|q| q.code == code) {
            break;
        }
    }
    let added = st.now();
    st.quick_connects.push(QuickConnect {
        secret: random_hex(64),
        code,
        device_id: device_id.to_string(),
        device_name: device.to_string(),
        app_name: client.to_string(),
        app_version: version.to_string(),
        added,
        approved: None,
    });
    st.quick_connects.last().expect("just pushed")
}

fn quick_connect_result(q: &QuickConnect) -> Value {
    json!({
        "Authenticated": q.approved.is_some(),
        "Secret": q.secret,
        "Code": q.code,
        "DeviceId": q.device_id,
        "DeviceName": q.device_name,
        "AppName": q.app_name,
        "AppVersion": q.app_version,
        "DateAdded": iso8601(q.added)
    })
}

fn authenticate(st: &mut State, ctx: &AuthCtx, req: &Recorded) -> Response {
    if let Some(d) = ctx.field("DeviceId") {
        st.device_ids.push(d.to_string());
    }
    let (Some(client), Some(device), Some(device_id), Some(version)) = (
        ctx.field("Client"),
        ctx.field("Device"),
        ctx.field("DeviceId"),
        ctx.field("Version"),
    ) else {
        return error(400);
    };
    let Ok(Value::Object(body)) = serde_json::from_str::<Value>(&req.body) else {
        return error(400);
    };
    let get = |key: &str| {
        body.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.as_str())
    };
    let Some(username) = get("Username").filter(|u| !u.is_empty()) else {
        return error(400);
    };
    let pw = get("Pw").unwrap_or("");
    let Some(idx) = st
        .users
        .iter()
        .position(|u| u.user.name.eq_ignore_ascii_case(username) && u.user.password == pw)
    else {
        return error(401);
    };
    if st.users[idx].blocked() {
        return error(403);
    }
    issue_token(st, idx, device_id, client, device, version)
}

/// SessionManager.AuthenticateNewSession: a new token for user `idx` on a device (one per
/// user and device) and the AuthenticationResult.
fn issue_token(
    st: &mut State,
    idx: usize,
    device_id: &str,
    client: &str,
    device: &str,
    version: &str,
) -> Response {
    let now = SystemTime::now();
    st.users[idx].last_login = Some(now);
    let user_id = st.users[idx].user.id.clone();
    // SessionManager.GetAuthorizationToken: one token per user and device.
    st.sessions
        .retain(|s| !(s.user_id == user_id && s.device_id == device_id));
    let token = random_hex(32);
    st.sessions.push(Session {
        token: token.clone(),
        user_id: user_id.clone(),
        device_id: device_id.to_string(),
    });
    let u = &st.users[idx];
    let body = json!({
        "User": user_dto(st, u),
        "SessionInfo": {
            "PlayState": {"CanSeek": false, "IsPaused": false, "IsMuted": false, "RepeatMode": "RepeatNone"},
            "AdditionalUsers": [],
            "Capabilities": {"PlayableMediaTypes": [], "SupportedCommands": [], "SupportsMediaControl": false},
            "RemoteEndPoint": "127.0.0.1",
            "PlayableMediaTypes": [],
            "Id": random_hex(32),
            "UserId": user_id,
            "UserName": u.user.name,
            "Client": client,
            "LastActivityDate": iso8601(now),
            "LastPlaybackCheckIn": "0001-01-01T00:00:00.0000000Z",
            "DeviceName": device,
            "DeviceId": device_id,
            "ApplicationVersion": version,
            "IsActive": true,
            "SupportsMediaControl": false,
            "SupportsRemoteControl": false,
            "HasCustomDeviceName": false,
            "ServerId": SERVER_ID,
            "SupportedCommands": []
        },
        "AccessToken": token,
        "ServerId": SERVER_ID
    });
    json_response(200, &body)
}

fn system_info(st: &State) -> Value {
    let (version, product) = match st.mode {
        Mode::Jellyfin => ("12.0.0", "Jellyfin Server"),
        Mode::Emby => ("4.8.10.0", "Emby Server"),
    };
    json!({
        "LocalAddress": st.base_url,
        "ServerName": server_name(st.mode),
        "Version": version,
        "ProductName": product,
        "OperatingSystem": "Linux",
        "Id": SERVER_ID,
        "StartupWizardCompleted": true
    })
}

fn user_dto(st: &State, u: &UserRec) -> Value {
    let user = &u.user;
    let provider = match st.mode {
        Mode::Jellyfin => "Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider",
        Mode::Emby => "Emby.Server.Implementations.Library.DefaultAuthenticationProvider",
    };
    let mut dto = json!({
        "Name": user.name,
        "ServerId": SERVER_ID,
        "ServerName": server_name(st.mode),
        "Id": user.id,
        "HasPassword": !user.password.is_empty(),
        "HasConfiguredPassword": !user.password.is_empty(),
        "HasConfiguredEasyPassword": false,
        "EnableAutoLogin": false,
        "Configuration": {
            "PlayDefaultAudioTrack": true,
            "SubtitleLanguagePreference": "",
            "DisplayMissingEpisodes": false,
            "GroupedFolders": [],
            "SubtitleMode": "Default",
            "DisplayCollectionsView": false,
            "EnableLocalPassword": false,
            "OrderedViews": [],
            "LatestItemsExcludes": [],
            "MyMediaExcludes": [],
            "HidePlayedInLatest": true,
            "RememberAudioSelections": true,
            "RememberSubtitleSelections": true,
            "EnableNextEpisodeAutoPlay": true
        },
        "Policy": {
            "IsAdministrator": user.is_admin,
            "IsHidden": false,
            "IsDisabled": user.is_disabled,
            "BlockedTags": [],
            "EnableUserPreferenceAccess": true,
            "AccessSchedules": [],
            "EnableRemoteControlOfOtherUsers": user.is_admin,
            "EnableSharedDeviceControl": true,
            "EnableRemoteAccess": true,
            "EnableLiveTvManagement": user.is_admin,
            "EnableLiveTvAccess": true,
            "EnableMediaPlayback": true,
            "EnableContentDeletion": user.is_admin,
            "EnableContentDownloading": true,
            "EnableAllDevices": true,
            "EnabledDevices": [],
            "EnableAllChannels": true,
            "EnabledChannels": [],
            "EnableAllFolders": true,
            "EnabledFolders": [],
            "InvalidLoginAttemptCount": 0,
            "LoginAttemptsBeforeLockout": -1,
            "MaxActiveSessions": 0,
            "EnablePublicSharing": true,
            "RemoteClientBitrateLimit": 0,
            "AuthenticationProviderId": provider,
            "PasswordResetProviderId": "Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider",
            "SyncPlayAccess": "CreateAndJoinGroups"
        }
    });
    let obj: &mut Map<String, Value> = dto.as_object_mut().expect("object literal");
    // Jellyfin omits null dates rather than sending null.
    if let Some(t) = u.last_login {
        obj.insert("LastLoginDate".into(), json!(iso8601(t)));
        obj.insert("LastActivityDate".into(), json!(iso8601(t)));
    }
    if st.mode == Mode::Emby {
        let prefix: String = user
            .name
            .chars()
            .take(1)
            .flat_map(char::to_uppercase)
            .collect();
        obj.insert("Prefix".into(), json!(prefix));
    }
    if let Some(tag) = &user.image_tag {
        obj.insert("PrimaryImageTag".into(), json!(tag));
    }
    dto
}
