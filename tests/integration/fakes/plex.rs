//! FakePlex: the plex.tv API (PINs, user, resources) and the app.plex.tv auth page on one server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rouille::Response;
use serde_json::{Value, json};

use super::http::{
    FakeServer, Fault, Recorded, html_escape, iso8601, json_response, lock, random_from, unix_secs,
};

/// The bytes every fake avatar is: a PNG signature and a little more.
pub const AVATAR_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake avatar";

/// A plex.tv account the fake knows, keyed by its token.
#[derive(Clone, Debug, Default)]
pub struct PlexAccount {
    pub token: String,
    pub id: u64,
    pub uuid: String,
    pub username: String,
    pub email: String,
    pub title: String,
    /// Managed user (real managed users also have `home: true`).
    pub restricted: bool,
    pub home: bool,
    /// plex.tv has not confirmed the email (`confirmed: false`).
    pub email_unconfirmed: bool,
    /// What `/api/v2/resources` returns for this token; see `server_resource`/`client_resource`.
    pub resources: Vec<Value>,
}

impl PlexAccount {
    /// An account with uuid/email/title derived from `id` and `username`, and no resources.
    pub fn new(id: u64, username: &str, token: &str) -> PlexAccount {
        PlexAccount {
            token: token.to_string(),
            id,
            uuid: format!("{id:016x}{:016x}", id.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            username: username.to_string(),
            email: format!("{username}@example.test"),
            title: username.to_string(),
            ..PlexAccount::default()
        }
    }

    pub fn with_resources(mut self, resources: Vec<Value>) -> PlexAccount {
        self.resources = resources;
        self
    }
}

/// A Plex Media Server entry as `/api/v2/resources` lists it.
/// `owned: false` means shared with this user as a friend: then `ownerId` is set. For a
/// member of the owner's Home see `home_server_resource`.
pub fn server_resource(machine_id: &str, name: &str, owned: bool) -> Value {
    let host = format!("{}.plex.direct", machine_id.to_ascii_lowercase());
    json!({
        "name": name,
        "product": "Plex Media Server",
        "productVersion": "1.41.3.9314-a0bfb8370",
        "platform": "Linux",
        "platformVersion": "6.1.0",
        "device": "PC",
        "clientIdentifier": machine_id,
        "createdAt": "2024-01-15T10:00:00Z",
        "lastSeenAt": "2026-11-23T13:55:00Z",
        "provides": "server",
        "ownerId": if owned { Value::Null } else { json!(9_000_001) },
        "sourceTitle": if owned { Value::Null } else { json!("server-owner") },
        "publicAddress": "203.0.113.10",
        "accessToken": format!("pms-token-{machine_id}"),
        "owned": owned,
        "home": false,
        "synced": false,
        "relay": true,
        "presence": true,
        "httpsRequired": false,
        "publicAddressMatches": false,
        "dnsRebindingProtection": false,
        "natLoopbackSupported": false,
        "connections": [
            {
                "protocol": "https",
                "address": "192.168.1.10",
                "port": 32400,
                "uri": format!("https://192-168-1-10.{host}:32400"),
                "local": true,
                "relay": false,
                "IPv6": false
            },
            {
                "protocol": "https",
                "address": "203.0.113.10",
                "port": 32400,
                "uri": format!("https://203-0-113-10.{host}:32400"),
                "local": false,
                "relay": false,
                "IPv6": false
            }
        ]
    })
}

/// The owner's server as a member of the owner's Plex Home sees it: shared like a
/// friend's (`owned: false`, the owner's `ownerId` and `sourceTitle`) but `home: true`.
/// A friend's view of it has `home: false`, even when the friend runs a Home of their own
/// (that shows only in the friend's own `/api/v2/user`).
pub fn home_server_resource(machine_id: &str, name: &str) -> Value {
    let mut r = server_resource(machine_id, name, false);
    r["home"] = json!(true);
    r
}

/// An owned player/client device (a browser running Plex Web): never grants server access.
pub fn client_resource(machine_id: &str, name: &str) -> Value {
    json!({
        "name": name,
        "product": "Plex Web",
        "productVersion": "4.145.0",
        "platform": "Firefox",
        "platformVersion": "133.0",
        "device": "Linux",
        "clientIdentifier": machine_id,
        "createdAt": "2024-01-15T10:00:00Z",
        "lastSeenAt": "2026-11-23T13:55:00Z",
        "provides": "client,player,pubsub-player",
        "ownerId": null,
        "sourceTitle": null,
        "publicAddress": "203.0.113.20",
        "accessToken": format!("client-token-{machine_id}"),
        "owned": true,
        "home": false,
        "synced": false,
        "relay": false,
        "presence": false,
        "httpsRequired": false,
        "publicAddressMatches": false,
        "dnsRebindingProtection": false,
        "natLoopbackSupported": false,
        "connections": []
    })
}

/// What a test can see of a PIN.
#[derive(Clone, Debug)]
pub struct PinInfo {
    pub id: u64,
    pub code: String,
    pub client_identifier: String,
    pub strong: bool,
    pub auth_token: Option<String>,
    pub expired: bool,
}

struct Pin {
    id: u64,
    code: String,
    client_id: String,
    product: String,
    strong: bool,
    created: SystemTime,
    expires: SystemTime,
    token: Option<String>,
}

impl Pin {
    fn expired(&self) -> bool {
        SystemTime::now() >= self.expires
    }

    fn info(&self) -> PinInfo {
        PinInfo {
            id: self.id,
            code: self.code.clone(),
            client_identifier: self.client_id.clone(),
            strong: self.strong,
            auth_token: self.token.clone(),
            expired: self.expired(),
        }
    }
}

struct State {
    accounts: Vec<PlexAccount>,
    pins: Vec<Pin>,
    next_pin_id: u64,
    pin_ttl: Option<Duration>,
    approve_token: Option<String>,
    auto_submit: bool,
}

/// Fake plex.tv + app.plex.tv. Clones share one server, which stops when the last is dropped.
#[derive(Clone)]
pub struct FakePlex {
    inner: Arc<Inner>,
}

struct Inner {
    server: FakeServer,
    state: Arc<Mutex<State>>,
}

impl FakePlex {
    pub fn start() -> FakePlex {
        let state = Arc::new(Mutex::new(State {
            accounts: Vec::new(),
            pins: Vec::new(),
            next_pin_id: 1_000_000_001,
            pin_ttl: None,
            approve_token: None,
            auto_submit: true,
        }));
        let st = state.clone();
        let server = FakeServer::start(Box::new(move |req| handle(&st, req)), fault_body, None);
        FakePlex {
            inner: Arc::new(Inner { server, state }),
        }
    }

    /// "http://127.0.0.1:PORT"; use it for both PLEX_API_BASE and PLEX_APP_BASE.
    pub fn base_url(&self) -> String {
        self.inner.server.base_url()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.server.requests()
    }

    /// Requests whose path starts with `path_prefix`.
    pub fn count(&self, path_prefix: &str) -> usize {
        self.inner.server.count(path_prefix)
    }

    pub fn clear_requests(&self) {
        self.inner.server.clear_requests()
    }

    /// Injects `fault` on paths starting with `route` ("" = all). The newest matching fault wins.
    pub fn fail(&self, route: &str, fault: Fault) {
        self.inner.server.fail(route, fault)
    }

    pub fn clear_faults(&self) {
        self.inner.server.clear_faults()
    }

    /// Adds an account, replacing any with the same token.
    pub fn add_account(&self, account: PlexAccount) {
        let mut st = lock(&self.inner.state);
        st.accounts.retain(|a| a.token != account.token);
        st.accounts.push(account);
    }

    /// Forgets the token: it then gets 401, like a token revoked on plex.tv.
    pub fn remove_account(&self, token: &str) -> bool {
        let mut st = lock(&self.inner.state);
        let before = st.accounts.len();
        st.accounts.retain(|a| a.token != token);
        st.accounts.len() != before
    }

    pub fn set_resources(&self, token: &str, resources: Vec<Value>) -> bool {
        let mut st = lock(&self.inner.state);
        match st.accounts.iter_mut().find(|a| a.token == token) {
            Some(a) => {
                a.resources = resources;
                true
            }
            None => false,
        }
    }

    /// The user approved `code` in the auth app as the account owning `token`.
    /// Returns false if the code is unknown or expired.
    pub fn claim_pin(&self, code: &str, token: &str) -> bool {
        let mut st = lock(&self.inner.state);
        match st.pins.iter_mut().find(|p| p.code == code && !p.expired()) {
            Some(p) => {
                p.token = Some(token.to_string());
                true
            }
            None => false,
        }
    }

    /// Forces the PIN to be expired now.
    pub fn expire_pin(&self, code: &str) -> bool {
        let mut st = lock(&self.inner.state);
        let past = SystemTime::now() - Duration::from_secs(1);
        match st.pins.iter_mut().find(|p| p.code == code) {
            Some(p) => {
                p.expires = past;
                true
            }
            None => false,
        }
    }

    /// Lifetime of PINs created from now on (default 1800 s strong, 900 s otherwise).
    pub fn set_pin_ttl(&self, ttl: Duration) {
        lock(&self.inner.state).pin_ttl = Some(ttl);
    }

    pub fn pins(&self) -> Vec<PinInfo> {
        lock(&self.inner.state).pins.iter().map(Pin::info).collect()
    }

    pub fn last_pin(&self) -> Option<PinInfo> {
        lock(&self.inner.state).pins.last().map(Pin::info)
    }

    /// Token the `/auth` page approves with (it pre-fills the form's token field).
    pub fn set_auto_approve_token(&self, token: &str) {
        lock(&self.inner.state).approve_token = Some(token.to_string());
    }

    /// Default true: `/auth` submits itself when an approve token is set. False: the test clicks
    /// the button with id "approve".
    pub fn set_auth_page_auto_submit(&self, auto: bool) {
        lock(&self.inner.state).auto_submit = auto;
    }
}

fn plex_error(status: u16, code: u32, message: &str) -> (u16, Value) {
    (
        status,
        json!({"errors": [{"code": code, "message": message, "status": status}]}),
    )
}

fn unauthenticated() -> (u16, Value) {
    plex_error(401, 1001, "User could not be authenticated")
}

fn pin_not_found() -> (u16, Value) {
    plex_error(404, 1020, "Code not found or expired")
}

fn fault_body(status: u16) -> Response {
    let (code, message) = match status {
        401 => (1001, "User could not be authenticated"),
        404 => (1002, "Not Found"),
        429 => (1003, "API rate limit exceeded"),
        _ => (u32::from(status), "Injected failure"),
    };
    let (status, body) = plex_error(status, code, message);
    json_response(status, &body)
}

/// GET /api/users (v1, XML only): everyone but the caller, each `User` with a `Server`
/// child for every server shared with them, as plex.tv lists the owner's friends.
fn shared_users_xml(state: &Mutex<State>, req: &Recorded) -> Response {
    let st = lock(state);
    let caller = plex_param(req, "X-Plex-Token");
    let Some(me) = st
        .accounts
        .iter()
        .find(|a| Some(&a.token) == caller.as_ref())
    else {
        return Response::from_data(
            "text/xml; charset=utf-8",
            "<errors><error code=\"1001\"/></errors>",
        )
        .with_status_code(401);
    };
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MediaContainer friendlyName=\"myPlex\">\n",
    );
    for a in st.accounts.iter().filter(|a| a.id != me.id) {
        xml.push_str(&format!(
            "  <User id=\"{}\" title=\"{}\" username=\"{}\" restricted=\"{}\" home=\"{}\">\n",
            a.id,
            a.title,
            a.username,
            u8::from(a.restricted),
            u8::from(a.home)
        ));
        for r in &a.resources {
            let shared = r["provides"]
                .as_str()
                .is_some_and(|p| p.split(',').any(|x| x == "server"))
                && r["owned"].as_bool() == Some(false);
            if shared {
                xml.push_str(&format!(
                    "    <Server machineIdentifier=\"{}\" name=\"{}\" owned=\"0\"/>\n",
                    r["clientIdentifier"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or("")
                ));
            }
        }
        xml.push_str("  </User>\n");
    }
    xml.push_str("</MediaContainer>\n");
    Response::from_data("text/xml; charset=utf-8", xml)
}

/// `X-Plex-*` values may come as headers or as query parameters.
fn plex_param(req: &Recorded, name: &str) -> Option<String> {
    req.header(name)
        .map(str::to_string)
        .or_else(|| req.query_param(name))
        .filter(|v| !v.is_empty())
}

fn handle(state: &Mutex<State>, req: &Recorded) -> Response {
    let path = req.path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET", "/auth") => auth_page(state),
        ("POST", "/fake/approve") => approve(state, req),
        ("GET", "/api/users") => shared_users_xml(state, req),
        // The avatar `thumb` points at (https://plex.tv/users/UUID/avatar): public, no token.
        ("GET", p) if p.starts_with("/users/") && p.ends_with("/avatar") => {
            Response::from_data("image/png", AVATAR_PNG.to_vec())
        }
        _ if path.starts_with("/api/") => {
            let (status, body) = api(state, req, path);
            let wants_json = req
                .header("accept")
                .is_some_and(|a| a.to_ascii_lowercase().contains("application/json"));
            if wants_json {
                json_response(status, &body)
            } else {
                // plex.tv defaults to XML; a client that forgets Accept gets nothing usable.
                Response::from_data(
                    "text/xml; charset=utf-8",
                    "<?xml version=\"1.0\"?><MediaContainer/>",
                )
                .with_status_code(status)
            }
        }
        _ => Response::from_data("text/html; charset=utf-8", "<html>Not Found</html>")
            .with_status_code(404),
    }
}

fn api(state: &Mutex<State>, req: &Recorded, path: &str) -> (u16, Value) {
    let Some(client_id) = plex_param(req, "X-Plex-Client-Identifier") else {
        return plex_error(400, 1000, "X-Plex-Client-Identifier is missing");
    };
    let mut st = lock(state);
    let method = req.method.as_str();
    if method == "POST" && path == "/api/v2/pins" {
        return create_pin(&mut st, req, client_id);
    }
    if method == "GET" {
        if let Some(id) = path.strip_prefix("/api/v2/pins/") {
            let Some(pin) = id
                .parse::<u64>()
                .ok()
                .and_then(|id| st.pins.iter().find(|p| p.id == id))
            else {
                return pin_not_found();
            };
            // Another client id must not be able to read someone else's PIN.
            if pin.expired() || pin.client_id != client_id {
                return pin_not_found();
            }
            return (200, pin_json(pin));
        }
        let account =
            plex_param(req, "X-Plex-Token").and_then(|t| st.accounts.iter().find(|a| a.token == t));
        match path {
            "/api/v2/user" => {
                return match account {
                    Some(a) => (200, user_json(a)),
                    None => unauthenticated(),
                };
            }
            // includeHttps / includeRelay / includeIPv6 are accepted and ignored.
            "/api/v2/resources" => {
                return match account {
                    Some(a) => (200, Value::Array(a.resources.clone())),
                    None => unauthenticated(),
                };
            }
            _ => {}
        }
    }
    plex_error(404, 1002, "Not Found")
}

fn create_pin(st: &mut State, req: &Recorded, client_id: String) -> (u16, Value) {
    let strong = req
        .query_param("strong")
        .is_some_and(|v| v == "true" || v == "1");
    let ttl = st
        .pin_ttl
        .unwrap_or(Duration::from_secs(if strong { 1800 } else { 900 }));
    let code = if strong {
        random_from(b"abcdefghijklmnopqrstuvwxyz0123456789", 25)
    } else {
        random_from(b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789", 4)
    };
    let now = SystemTime::now();
    let pin = Pin {
        id: st.next_pin_id,
        code,
        client_id,
        product: plex_param(req, "X-Plex-Product").unwrap_or_default(),
        strong,
        created: now,
        expires: now + ttl,
        token: None,
    };
    st.next_pin_id += 1;
    let body = pin_json(&pin);
    st.pins.push(pin);
    (201, body)
}

fn pin_json(p: &Pin) -> Value {
    let remaining = p
        .expires
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    json!({
        "id": p.id,
        "code": p.code,
        "product": p.product,
        "trusted": false,
        "qr": format!("https://plex.tv/api/v2/pins/qr/{}", p.code),
        "clientIdentifier": p.client_id,
        "location": {
            "code": "US",
            "european_union_member": false,
            "continent_code": "NA",
            "country": "United States",
            "city": "Testville",
            "time_zone": "America/New_York",
            "postal_code": "10001",
            "in_privacy_restricted_country": false,
            "in_privacy_restricted_region": false,
            "subdivisions": "New York",
            "coordinates": "40.7,-74.0"
        },
        // Rounded up so a fresh PIN reports the full lifetime.
        "expiresIn": remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0),
        "createdAt": iso8601(p.created),
        "expiresAt": iso8601(p.expires),
        "authToken": p.token,
        "newRegistration": false
    })
}

fn user_json(a: &PlexAccount) -> Value {
    json!({
        "id": a.id,
        "uuid": a.uuid,
        "username": a.username,
        "title": a.title,
        "email": a.email,
        "friendlyName": a.title,
        "locale": null,
        "confirmed": !a.email_unconfirmed,
        "joinedAt": 1_600_000_000,
        "emailOnlyAuth": false,
        "hasPassword": true,
        "protected": false,
        "thumb": format!("https://plex.tv/users/{}/avatar?c=1700000000", a.uuid),
        "authToken": a.token,
        "mailingListStatus": "unsubscribed",
        "mailingListActive": false,
        "scrobbleTypes": "",
        "country": "US",
        "subscription": {
            "active": false,
            "subscribedAt": null,
            "status": "Inactive",
            "paymentService": null,
            "plan": null,
            "features": []
        },
        "subscriptionDescription": null,
        "restricted": a.restricted,
        "anonymous": null,
        "home": a.home,
        "guest": false,
        "homeSize": if a.home { 2 } else { 1 },
        "homeAdmin": a.home && !a.restricted,
        "maxHomeSize": 15,
        "rememberExpiresAt": unix_secs(SystemTime::now()) + 14 * 86_400,
        "profile": {
            "autoSelectAudio": true,
            "defaultAudioLanguage": null,
            "defaultSubtitleLanguage": null,
            "autoSelectSubtitle": 0,
            "defaultSubtitleAccessibility": 0,
            "defaultSubtitleForced": 0
        },
        "entitlements": [],
        "roles": [],
        "services": [],
        "adsConsent": null,
        "adsConsentSetAt": null,
        "adsConsentReminderAt": null,
        "experimentalFeatures": false,
        "twoFactorEnabled": false,
        "backupCodesCreated": false,
        "attributionPartner": null
    })
}

fn auth_page(state: &Mutex<State>) -> Response {
    let st = lock(state);
    let token = st.approve_token.clone().unwrap_or_default();
    let auto = st.auto_submit && st.approve_token.is_some();
    drop(st);
    let html = format!(
        r##"<!doctype html>
<html><head><meta charset="utf-8"><title>Fake Plex sign-in</title></head>
<body>
<h1>Fake Plex</h1>
<p id="product"></p>
<form id="approve-form" method="post" action="/fake/approve">
<input type="hidden" name="code" id="code">
<input type="hidden" name="clientID" id="clientID">
<input type="hidden" name="forwardUrl" id="forwardUrl">
<input type="text" name="token" id="token" value="{token}">
<button type="submit" id="approve">Approve</button>
</form>
<script>
(function () {{
  // Real clients use "#?..." and sometimes "#!?...".
  var p = new URLSearchParams(location.hash.replace(/^#!?\??/, ''));
  ['code', 'clientID', 'forwardUrl'].forEach(function (k) {{
    document.getElementById(k).value = p.get(k) || '';
  }});
  document.getElementById('product').textContent =
    'Sign in to ' + (p.get('context[device][product]') || '(no product)');
  if ({auto} && p.get('code')) {{ document.getElementById('approve-form').submit(); }}
}})();
</script>
</body></html>"##,
        token = html_escape(&token),
        auto = auto,
    );
    Response::html(html)
}

fn approve(state: &Mutex<State>, req: &Recorded) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(req.body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let mut st = lock(state);
    let Some(token) = field("token").or_else(|| st.approve_token.clone()) else {
        return Response::html("<html>No token to approve with</html>").with_status_code(400);
    };
    let code = field("code").unwrap_or_default();
    let client_id = field("clientID");
    let pin = st.pins.iter_mut().find(|p| {
        p.code == code && !p.expired() && client_id.as_ref().is_none_or(|c| *c == p.client_id)
    });
    let Some(pin) = pin else {
        return Response::html("<html>Code not found or expired</html>").with_status_code(404);
    };
    pin.token = Some(token);
    drop(st);
    match field("forwardUrl") {
        Some(url) => Response::redirect_302(url),
        None => Response::html("<html>Approved. You can close this window.</html>"),
    }
}
