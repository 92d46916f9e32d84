//! OAuth clients: validation of what an owner registers, creation with a secret shown
//! once (stored as a digest), secret rotation and client authentication at the
//! token-style endpoints.

use url::Url;

use super::presets::{self, Preset};
use super::{
    AUTH_METHODS, AUTH_NONE, CLIENT_SECRET_BASIC, CLIENT_SECRET_POST, GRANT_TYPES, OAuthError,
    Outcome, SCOPES, device,
};
use crate::crypto::{b64_decode_any, b64url, ct_eq, random_bytes, sha256};
use crate::db::oauth::{self, Client};
use crate::error::{AppError, Result};

/// What an owner asks for; absent lists get the defaults.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub name: String,
    /// May be left out with a preset and `app_url`.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub trusted: bool,
    pub scopes: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    /// Only members of these groups may use the client (empty: everyone with access;
    /// absent from an update: unchanged).
    pub allowed_groups: Option<Vec<String>>,
    /// How it authenticates at the token endpoint (AUTH_METHODS); default: either
    /// secret method for a confidential client, `none` for a public one.
    pub token_endpoint_auth_methods: Option<Vec<String>>,
    /// Authorization requests need PKCE; default: required for public clients (always),
    /// optional for confidential ones.
    pub require_pkce: Option<bool>,
    /// An app preset (oidc::presets) supplying what the spec leaves out.
    pub preset: Option<String>,
    /// With a preset and no redirect URIs: the app's address, from which the preset's
    /// redirect URIs are made.
    pub app_url: Option<String>,
    /// Opts in to the device authorization grant (TVs and apps without a browser): adds
    /// its grant type; such a client needs no redirect URI.
    #[serde(default)]
    pub device: bool,
}

/// Schemes a browser runs or reads itself: never a place to send a code.
const REFUSED_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "blob",
    "vbscript",
    "about",
    "filesystem",
    "view-source",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "tel",
];

/// A redirect URI must be absolute, without fragment or userinfo, and not a scheme a
/// browser would run (javascript:, data:, file:). http is allowed: LAN installs. Native
/// apps use their own scheme (RFC 8252 7.1: `app.immich:///oauth-callback`,
/// `audiobookshelf://oauth`).
pub fn validate_redirect_uri(raw: &str) -> std::result::Result<String, String> {
    let url = Url::parse(raw).map_err(|_| format!("{raw:?} is not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(format!("{raw:?} must not contain a fragment (#...)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw:?} must not contain a username or password"));
    }
    if raw.contains('*') {
        return Err(format!(
            "{raw:?}: wildcards are not allowed; register each URI exactly"
        ));
    }
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => {}
        "http" | "https" => return Err(format!("{raw:?} has no host")),
        s if REFUSED_SCHEMES.contains(&s) => {
            return Err(format!("{raw:?}: the {s} scheme is not allowed"));
        }
        // Private-use schemes of native apps (RFC 8252 7.1).
        _ => {}
    }
    // Compared byte for byte later, so keep exactly what was registered.
    Ok(raw.to_string())
}

/// http to a host other than this machine: a public client (no secret) would have its
/// code travel in the clear to wherever the network says.
fn plain_http_elsewhere(uri: &str) -> bool {
    let Ok(url) = Url::parse(uri) else {
        return false;
    };
    url.scheme() == "http"
        && !matches!(
            url.host(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback()
        )
        && !matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        && url.host_str() != Some("localhost")
}

fn checked_list(
    values: Option<Vec<String>>,
    allowed: &[&str],
    default: &[&str],
    what: &str,
) -> Result<Vec<String>> {
    let values = values.unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect());
    for v in &values {
        if !allowed.contains(&v.as_str()) {
            return Err(AppError::bad_request(format!(
                "unknown {what} {v:?}; allowed: {}",
                allowed.join(", ")
            )));
        }
    }
    let mut out = values;
    out.dedup();
    Ok(out)
}

/// Fills what a spec leaves out from its preset (explicit values win).
fn with_preset(mut spec: ClientSpec) -> Result<(ClientSpec, Option<&'static Preset>)> {
    let Some(key) = spec.preset.as_deref() else {
        if spec.app_url.is_some() {
            return Err(AppError::bad_request(
                "app_url is only used with a preset; give redirect URIs instead",
            ));
        }
        return Ok((spec, None));
    };
    let p = presets::find(key).ok_or_else(|| {
        AppError::bad_request(format!(
            "unknown preset {key:?}; known presets: {}",
            presets::known()
        ))
    })?;
    let owned = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    if spec.redirect_uris.is_empty() {
        let app_url = spec.app_url.as_deref().ok_or_else(|| {
            AppError::bad_request(format!(
                "give the app's address (app_url, like https://{}.example.com) or its redirect URIs",
                p.key
            ))
        })?;
        let parsed = Url::parse(app_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if parsed.is_none() || app_url.contains(['?', '#']) {
            return Err(AppError::bad_request(format!(
                "app_url {app_url:?} must be the app's address, like https://{}.example.com",
                p.key
            )));
        }
        spec.redirect_uris = p.redirect_uris_for(app_url);
    }
    spec.public |= p.public;
    spec.scopes = spec.scopes.or_else(|| owned(p.scopes));
    spec.grant_types = spec.grant_types.or_else(|| owned(p.grant_types));
    // A public client made from a confidential app's preset keeps its own rules (none,
    // PKCE always).
    if !spec.public {
        spec.token_endpoint_auth_methods = spec
            .token_endpoint_auth_methods
            .or_else(|| owned(p.auth_methods));
        spec.require_pkce = spec.require_pkce.or(Some(p.pkce_required));
    }
    Ok((spec, Some(p)))
}

/// The token endpoint methods a client may use: one or more, consistent with its kind.
fn auth_methods(spec_methods: Option<Vec<String>>, public: bool) -> Result<Vec<String>> {
    let default: &[&str] = if public {
        &[AUTH_NONE]
    } else {
        &[CLIENT_SECRET_BASIC, CLIENT_SECRET_POST]
    };
    let methods = checked_list(spec_methods, AUTH_METHODS, default, "authentication method")?;
    if methods.is_empty() {
        return Err(AppError::bad_request(
            "at least one token endpoint authentication method is required",
        ));
    }
    let has_none = methods.iter().any(|m| m == AUTH_NONE);
    if public && !(has_none && methods.len() == 1) {
        return Err(AppError::bad_request(
            "a public client has no secret: its only authentication method is none",
        ));
    }
    if !public && has_none {
        return Err(AppError::bad_request(
            "a confidential client authenticates with its secret (client_secret_basic or client_secret_post); make the client public for none",
        ));
    }
    Ok(methods)
}

/// Validates a spec into a client (without its secret).
pub fn from_spec(spec: ClientSpec, client_id: String, now: i64) -> Result<Client> {
    let (spec, preset) = with_preset(spec)?;
    let name = spec.name.trim().to_string();
    if name.is_empty() || name.len() > 100 {
        return Err(AppError::bad_request("name must be 1 to 100 characters"));
    }
    let redirect_uris = spec
        .redirect_uris
        .iter()
        .map(|u| validate_redirect_uri(u))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(AppError::BadRequest)?;
    if spec.public {
        if let Some(bad) = redirect_uris.iter().find(|u| plain_http_elsewhere(u)) {
            return Err(AppError::bad_request(format!(
                "{bad:?}: a public client's http redirect URI must be a loopback address (http://127.0.0.1/...); use https or the app's own scheme"
            )));
        }
    }
    let post_logout_uris = spec
        .post_logout_redirect_uris
        .iter()
        .map(|u| validate_redirect_uri(u))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(AppError::BadRequest)?;
    let default_grants: &[&str] = if spec.device && spec.redirect_uris.is_empty() {
        &["refresh_token"]
    } else {
        &["authorization_code", "refresh_token"]
    };
    let mut grant_types =
        checked_list(spec.grant_types, GRANT_TYPES, default_grants, "grant type")?;
    if spec.device && !grant_types.iter().any(|g| g == device::GRANT_TYPE) {
        grant_types.push(device::GRANT_TYPE.to_string());
    }
    if redirect_uris.is_empty() && grant_types.iter().any(|g| g == "authorization_code") {
        return Err(AppError::bad_request(
            "at least one redirect URI is required (a client for TVs and devices only: --device)",
        ));
    }
    if spec.public && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(AppError::bad_request(
            "a public client cannot use client_credentials (it has no secret)",
        ));
    }
    let mut allowed_groups = Vec::new();
    for g in spec.allowed_groups.iter().flatten() {
        let g = g.trim();
        if g.is_empty() || g.len() > 100 || g.chars().any(char::is_control) {
            return Err(AppError::bad_request(
                "an allowed group must be 1 to 100 printable characters",
            ));
        }
        if !allowed_groups.iter().any(|a| a == g) {
            allowed_groups.push(g.to_string());
        }
    }
    if spec.public && spec.require_pkce == Some(false) {
        return Err(AppError::bad_request(
            "a public client always requires PKCE (it has no secret to prove the code is its own)",
        ));
    }
    let auth_methods = auth_methods(spec.token_endpoint_auth_methods, spec.public)?;
    Ok(Client {
        id: 0,
        client_id,
        secret_digest: None,
        name,
        redirect_uris,
        post_logout_uris,
        public: spec.public,
        trusted: spec.trusted,
        scopes: checked_list(spec.scopes, SCOPES, SCOPES, "scope")?,
        grant_types,
        created_at: now,
        updated_at: now,
        allowed_groups,
        auth_methods,
        pkce_required: spec.public || spec.require_pkce.unwrap_or(false),
        preset: preset.map(|p| p.key.to_string()),
    })
}

/// `old` changed as an owner's spec says. What the spec leaves out (allowed groups,
/// authentication methods, PKCE, preset) stays as it was; the kind cannot change.
pub fn updated(old: Client, mut spec: ClientSpec, now: i64) -> Result<Client> {
    if old.public != spec.public {
        return Err(AppError::bad_request(
            "a client cannot change between public and confidential; create a new one",
        ));
    }
    spec.allowed_groups = spec.allowed_groups.or(Some(old.allowed_groups));
    if spec.preset.is_none() {
        spec.token_endpoint_auth_methods =
            spec.token_endpoint_auth_methods.or(Some(old.auth_methods));
        spec.require_pkce = spec.require_pkce.or(Some(old.pkce_required));
    }
    let mut client = from_spec(spec, old.client_id, old.created_at)?;
    client.preset = client.preset.or(old.preset);
    client.secret_digest = old.secret_digest;
    client.updated_at = now;
    Ok(client)
}

pub fn new_client_id() -> String {
    format!("ap-{}", b64url(&random_bytes::<12>()))
}

/// A new secret: shown once to the owner, stored as its SHA-256 digest.
pub fn new_secret() -> (String, Vec<u8>) {
    let secret = b64url(&random_bytes::<32>());
    let digest = sha256(secret.as_bytes()).to_vec();
    (secret, digest)
}

/// Creates a client; returns it and its secret (None for public clients).
pub fn create(
    conn: &rusqlite::Connection,
    spec: ClientSpec,
    now: i64,
) -> Result<(Client, Option<String>)> {
    let mut client = from_spec(spec, new_client_id(), now)?;
    let secret = if client.public {
        None
    } else {
        let (secret, digest) = new_secret();
        client.secret_digest = Some(digest);
        Some(secret)
    };
    oauth::save_client(conn, &client)?;
    let saved = oauth::client(conn, &client.client_id)?
        .ok_or_else(|| AppError::internal("client vanished"))?;
    Ok((saved, secret))
}

pub fn rotate_secret(conn: &rusqlite::Connection, client_id: &str, now: i64) -> Result<String> {
    let mut client = oauth::client(conn, client_id)?.ok_or(AppError::NotFound)?;
    if client.public {
        return Err(AppError::bad_request("a public client has no secret"));
    }
    let (secret, digest) = new_secret();
    client.secret_digest = Some(digest);
    client.updated_at = now;
    oauth::save_client(conn, &client)?;
    Ok(secret)
}

/// Constant-time check of a presented secret against the stored digest.
pub fn secret_matches(client: &Client, presented: &str) -> bool {
    client
        .secret_digest
        .as_ref()
        .is_some_and(|d| ct_eq(d, &sha256(presented.as_bytes())))
}

/// How a client says who it is at a token-style endpoint, as the request carried it.
#[derive(Debug, Default)]
pub struct Credentials<'a> {
    /// From `Authorization: Basic`, decoded by [`parse_basic`].
    pub basic: Option<(String, String)>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
}

/// The id and secret inside HTTP Basic credentials: both parts are form-urlencoded
/// inside the base64 (RFC 6749 2.3.1), so `a%3Ab:s` is the client `a:b`.
pub fn parse_basic(encoded: &str) -> std::result::Result<(String, String), OAuthError> {
    let malformed = || OAuthError::InvalidRequest("malformed Basic credentials".into());
    let raw = b64_decode_any(encoded).ok_or_else(malformed)?;
    let text = String::from_utf8(raw).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok((decode(id), decode(secret)))
}

/// Client authentication: client_secret_basic, client_secret_post, or none for public
/// clients; exactly one method, and one the client is registered for. A wrong secret and
/// an unknown client read the same.
pub fn authenticate(conn: &rusqlite::Connection, c: &Credentials) -> Outcome<Client> {
    let method = match (&c.basic, c.client_secret) {
        (Some(_), _) => CLIENT_SECRET_BASIC,
        (None, Some(_)) => CLIENT_SECRET_POST,
        (None, None) => AUTH_NONE,
    };
    let (client_id, secret) = match (&c.basic, c.client_id, c.client_secret) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::InvalidRequest(
                "use one client authentication method, not two".into(),
            )
            .into());
        }
        (Some((id, _)), Some(form_id), None) if form_id != id => {
            return Err(OAuthError::InvalidRequest(
                "client_id differs from the authenticated client".into(),
            )
            .into());
        }
        (Some((id, s)), _, None) => (id.as_str(), Some(s.as_str())),
        (None, Some(id), s) => (id, s),
        (None, None, _) => {
            return Err(
                OAuthError::InvalidClient("client authentication is required".into()).into(),
            );
        }
    };
    let bad = || OAuthError::InvalidClient("unknown client or wrong secret".into());
    let client = oauth::client(conn, client_id)?.ok_or_else(bad)?;
    let proven = match (client.public, secret) {
        (true, None) => true,
        (false, Some(s)) => secret_matches(&client, s),
        _ => false,
    };
    if !proven {
        return Err(bad().into());
    }
    // Checked after the secret, so the answer names the method only to the client itself.
    if !client.auth_methods.iter().any(|m| m == method) {
        return Err(OAuthError::InvalidClient(
            format!(
                "this client must authenticate with {}",
                client.auth_methods.join(" or ")
            )
            .into(),
        )
        .into());
    }
    Ok(client)
}

/// The JSON an owner sees for a client (never the secret or its digest).
pub fn describe(c: &Client) -> serde_json::Value {
    serde_json::json!({
        "client_id": c.client_id,
        "name": c.name,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_uris,
        "public": c.public,
        "trusted": c.trusted,
        "scopes": c.scopes,
        "grant_types": c.grant_types,
        "device": c.grant_types.iter().any(|g| g == device::GRANT_TYPE),
        "allowed_groups": c.allowed_groups,
        "token_endpoint_auth_methods": c.auth_methods,
        "require_pkce": c.pkce_required,
        "preset": c.preset,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

/// What an owner pastes into the app: the portal's addresses, the client's id (and
/// secret, when just created), and with a preset the app's own settings by name.
pub fn setup(
    cfg: &crate::config::Config,
    client: &Client,
    secret: Option<&str>,
) -> serde_json::Value {
    let endpoints: serde_json::Map<String, serde_json::Value> = super::discovery::endpoints(cfg)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    let preset = client.preset.as_deref().and_then(presets::find);
    serde_json::json!({
        "endpoints": endpoints,
        "preset": preset.map(|p| serde_json::json!({
            "name": p.name,
            "doc": p.doc,
            "settings": p.setup(cfg, client, secret).into_iter()
                .map(|(k, v)| serde_json::json!([k, v])).collect::<Vec<_>>(),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_checked() {
        for ok in [
            "https://grafana.example.com/login/generic_oauth",
            "http://192.168.1.5:3000/cb?x=1",
            "com.example.app:/callback",
            "app.immich:///oauth-callback",
            "audiobookshelf://oauth",
            "myapp:/cb",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/relative",
            "https://x.com/cb#frag",
            "https://u:p@x.com/",
            "javascript:alert(1)",
            "data:text/html,x",
            "https://*.x.com/",
            "http://",
            "file:///etc/passwd",
            "vbscript:x",
            "FTP://x.example/",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_clients_use_http_only_on_this_machine() {
        let spec = |uri: &str, public| ClientSpec {
            name: "App".into(),
            redirect_uris: vec![uri.into()],
            public,
            ..ClientSpec::default()
        };
        for ok in [
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "http://localhost:3000/cb",
            "https://app.example/cb",
            "audiobookshelf://oauth",
        ] {
            assert!(from_spec(spec(ok, true), "c".into(), 1).is_ok(), "{ok}");
        }
        for bad in ["http://192.168.1.5:3000/cb", "http://app.example/cb"] {
            assert!(from_spec(spec(bad, true), "c".into(), 1).is_err(), "{bad}");
            assert!(from_spec(spec(bad, false), "c".into(), 1).is_ok(), "{bad}");
        }
    }

    #[test]
    fn device_clients_opt_in_and_need_no_redirect_uri() {
        let spec = |device, uris: &[&str]| ClientSpec {
            name: "TV".into(),
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            device,
            public: true,
            ..ClientSpec::default()
        };
        let tv = from_spec(spec(true, &[]), "c".into(), 1).unwrap();
        assert_eq!(tv.grant_types, ["refresh_token", device::GRANT_TYPE]);
        let both = from_spec(spec(true, &["https://app.example/cb"]), "c".into(), 1).unwrap();
        assert_eq!(
            both.grant_types,
            ["authorization_code", "refresh_token", device::GRANT_TYPE]
        );
        assert_eq!(describe(&both)["device"], true);
        let web = from_spec(spec(false, &["https://app.example/cb"]), "c".into(), 1).unwrap();
        assert_eq!(describe(&web)["device"], false);
        assert!(from_spec(spec(false, &[]), "c".into(), 1).is_err());
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_inside() {
        let enc = |s: &str| crate::crypto::b64(s.as_bytes());
        assert_eq!(
            parse_basic(&enc("ap-1:s3cr%2Bt+x")),
            Ok(("ap-1".to_string(), "s3cr+t x".to_string()))
        );
        assert_eq!(
            parse_basic(&enc("a%3Ab:")),
            Ok(("a:b".to_string(), String::new()))
        );
        for bad in [
            "%%%".to_string(),
            enc("no-colon"),
            crate::crypto::b64(b"\xff:x"),
        ] {
            assert_eq!(
                parse_basic(&bad).map_err(|e| e.code()),
                Err("invalid_request"),
                "{bad}"
            );
        }
    }

    fn store_with_clients() -> (rusqlite::Connection, Client, String, Client) {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut conn).unwrap();
        let spec = |name: &str, public| ClientSpec {
            name: name.into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            public,
            ..ClientSpec::default()
        };
        let (confidential, secret) = create(&conn, spec("Grafana", false), 1).unwrap();
        let (public, _) = create(&conn, spec("Phone app", true), 1).unwrap();
        (conn, confidential, secret.unwrap(), public)
    }

    fn refused(conn: &rusqlite::Connection, c: &Credentials) -> &'static str {
        match authenticate(conn, c) {
            Err(crate::oidc::Failure::OAuth(e)) => e.code(),
            other => panic!("expected an OAuth refusal, got {other:?}"),
        }
    }

    #[test]
    fn clients_authenticate_with_exactly_one_method() {
        let (conn, conf, secret, public) = store_with_clients();
        let id = conf.client_id.as_str();
        let basic = Some((id.to_string(), secret.clone()));
        let ok = |c: &Credentials| authenticate(&conn, c).unwrap().client_id;
        assert_eq!(
            ok(&Credentials {
                basic: basic.clone(),
                ..Default::default()
            }),
            id
        );
        let same_id = Credentials {
            basic: basic.clone(),
            client_id: Some(id),
            ..Default::default()
        };
        assert_eq!(ok(&same_id), id);
        let post = Credentials {
            client_id: Some(id),
            client_secret: Some(&secret),
            ..Default::default()
        };
        assert_eq!(ok(&post), id);
        let none = Credentials {
            client_id: Some(&public.client_id),
            ..Default::default()
        };
        assert_eq!(ok(&none), public.client_id);

        let two = Credentials {
            basic: basic.clone(),
            client_secret: Some(&secret),
            ..Default::default()
        };
        assert_eq!(refused(&conn, &two), "invalid_request");
        let other_id = Credentials {
            basic,
            client_id: Some(&public.client_id),
            ..Default::default()
        };
        assert_eq!(refused(&conn, &other_id), "invalid_request");
        assert_eq!(refused(&conn, &Credentials::default()), "invalid_client");
        let wrong = Credentials {
            client_id: Some(id),
            client_secret: Some("nope"),
            ..Default::default()
        };
        assert_eq!(refused(&conn, &wrong), "invalid_client");
        let no_secret = Credentials {
            client_id: Some(id),
            ..Default::default()
        };
        assert_eq!(refused(&conn, &no_secret), "invalid_client");
        // A public client has no secret: presenting one is as wrong as a wrong one.
        let public_secret = Credentials {
            client_id: Some(&public.client_id),
            client_secret: Some(""),
            ..Default::default()
        };
        assert_eq!(refused(&conn, &public_secret), "invalid_client");
        let unknown = Credentials {
            client_id: Some("ap-nobody"),
            ..Default::default()
        };
        assert_eq!(refused(&conn, &unknown), "invalid_client");
    }
}
