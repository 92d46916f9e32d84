//! Hostile input to every route: random header values, cookies, query strings, form and
//! JSON bodies (proptest, fixed seed, bounded case count) sent to the real in-process
//! server, anonymous and as a signed-in admin. No answer may be a 5xx, no handler may
//! panic, and a marker secret put in the Authorization header and the cookies must never
//! come back in a response or reach the log.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::team::setup;

/// Looks like a credential; put in every Authorization header and cookie value.
const MARKER: &str = "SeKr1tMarker7q";

/// Every route of the route table (authportal::web::routes::ROUTES), `{}` standing for
/// each `{name}` and `{*}` segment (an id, a name, a section), filled in at random; an
/// any-method route as GET and POST, a CORS route's OPTIONS too; and the branding icon
/// paths, whose first segment a random fill would rarely hit.
fn routes() -> &'static [(&'static str, String)] {
    use authportal::web::routes::{Method, ROUTES};
    static LIST: std::sync::LazyLock<Vec<(&'static str, String)>> =
        std::sync::LazyLock::new(|| {
            let mut list = Vec::new();
            for r in ROUTES {
                let template: String = r
                    .path
                    .split('/')
                    .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
                    .collect::<Vec<_>>()
                    .join("/");
                let methods: &[&'static str] = match r.method {
                    Method::Any => &["GET", "POST"],
                    m => &[m.name()][..],
                };
                for m in methods {
                    list.push((*m, template.clone()));
                }
                if r.cors {
                    list.push(("OPTIONS", template));
                }
            }
            list.push(("GET", "/branding/icons/{}".into()));
            list.push(("PUT", "/api/admin/branding/icons/{}".into()));
            list
        });
    &LIST
}

fn route_of(method: &str, path: &str) -> usize {
    routes()
        .iter()
        .position(|(m, p)| *m == method && p == path)
        .unwrap()
}

/// Names the handlers read from queries, forms and JSON bodies.
const FIELDS: &[&str] = &[
    "rd",
    "provider",
    "username",
    "password",
    "code",
    "client_id",
    "client_secret",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "grant_type",
    "refresh_token",
    "token",
    "token_type_hint",
    "access_token",
    "id_token_hint",
    "post_logout_redirect_uri",
    "decision",
    "prompt",
    "device_code",
    "user_code",
    "version",
    "config",
    "section",
    "name",
    "url",
    "events",
    "groups",
    "before",
    "limit",
    "type",
    "method",
    "kind",
    "api_key",
    "machine_id",
    "body_format",
    "body_template",
    "headers",
];

/// One random request.
#[derive(Debug, Clone)]
struct Case {
    route: usize,
    /// Another method than the route's (405s and the any-method routes).
    method: Option<&'static str>,
    fill: Vec<String>,
    query: Vec<(String, String)>,
    authorization: Option<Vec<u8>>,
    cookies: Vec<(String, Vec<u8>)>,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Body,
    as_admin: bool,
    same_origin: bool,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Form(Vec<(String, String)>),
    Json(serde_json::Value),
    Bytes(&'static str, Vec<u8>),
}

/// Text with a bias to what breaks parsers: non-ASCII, separators, percent signs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_.-]{0,12}",
        "[ -~]{0,24}",
        any::<String>().prop_map(|s| s.chars().take(40).collect()),
        Just("..".to_string()),
        Just("%".to_string()),
        Just("é/ü".to_string()),
        Just("plex".to_string()),
        Just("jellyfin".to_string()),
        Just("http://evil.example/".to_string()),
        Just("authorization_code".to_string()),
        Just("refresh_token".to_string()),
        Just("quick_connect".to_string()),
        Just("urn:ietf:params:oauth:grant-type:device_code".to_string()),
        Just("BCDF-GHJK".to_string()),
        Just("123456".to_string()),
    ]
}

/// Bytes a header value may carry on the wire (no CR, LF, NUL or other controls): any
/// obs-text byte too, which the server reads as U+FFFD.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..24)
}

/// An Authorization value around the marker: near misses of Basic and Bearer (the issue's
/// `Basic\xff`, `Beare\xff`), odd case, odd spacing, junk.
fn authorization() -> impl Strategy<Value = Vec<u8>> {
    let scheme = prop_oneof![
        Just(b"Basic ".to_vec()),
        Just(b"basic ".to_vec()),
        Just(b"Basic\xff".to_vec()),
        Just(b"Basic".to_vec()),
        Just(b"Bearer ".to_vec()),
        Just(b"bEaReR   ".to_vec()),
        Just(b"Beare\xff".to_vec()),
        Just(b"Bearer\xff\xfe".to_vec()),
        Just(b"\xff".to_vec()),
        Just(b"MediaBrowser Token=".to_vec()),
        header_bytes(),
    ];
    let basic = (text(), any::<bool>()).prop_map(|(id, b64)| {
        let pair = format!("{id}:{MARKER}");
        if b64 {
            base64_std(pair.as_bytes()).into_bytes()
        } else {
            pair.into_bytes()
        }
    });
    let credential = prop_oneof![
        Just(MARKER.as_bytes().to_vec()),
        basic,
        header_bytes().prop_map(|mut b| {
            b.extend_from_slice(MARKER.as_bytes());
            b
        }),
    ];
    (scheme, credential).prop_map(|(mut s, c)| {
        s.extend(c);
        s
    })
}

fn base64_std(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn cookies() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = prop_oneof![
        Just("authportal_session".to_string()),
        Just("authportal_mfa".to_string()),
        Just("authportal_pending".to_string()),
        "[a-z_]{1,10}",
    ];
    let value = header_bytes().prop_map(|mut b| {
        b.retain(|c| *c != b';');
        b.extend_from_slice(MARKER.as_bytes());
        b
    });
    prop::collection::vec((name, value), 0..3)
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6).prop_map(|pairs| {
                Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        4 => prop::sample::select(FIELDS).prop_map(str::to_string),
        1 => text(),
    ];
    prop::collection::vec((name, text()), 0..6)
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::None),
        pairs().prop_map(Body::Form),
        json().prop_map(Body::Json),
        (
            prop::sample::select(
                &[
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "text/plain",
                    "image/png",
                    "application/octet-stream",
                    "multipart/form-data; boundary=x",
                ][..]
            ),
            prop::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(t, b)| Body::Bytes(t, b)),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let name = prop::sample::select(
        &[
            "X-Forwarded-Host",
            "X-Forwarded-Uri",
            "X-Forwarded-Proto",
            "X-Forwarded-Method",
            "X-Original-URL",
            "Accept",
            "Referer",
            "User-Agent",
            "X-Emby-Token",
            "X-MediaBrowser-Token",
            "Host",
        ][..],
    );
    prop::collection::vec((name, header_bytes()), 0..4)
}

fn case() -> impl Strategy<Value = Case> {
    (
        0..routes().len(),
        prop::option::weighted(
            0.15,
            prop::sample::select(&["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"][..]),
        ),
        prop::collection::vec(text(), 2),
        pairs(),
        prop::option::weighted(0.7, authorization()),
        cookies(),
        headers(),
        body(),
        any::<bool>(),
        prop::bool::weighted(0.85),
    )
        .prop_map(
            |(
                route,
                method,
                fill,
                query,
                authorization,
                cookies,
                headers,
                body,
                as_admin,
                same_origin,
            )| Case {
                route,
                method,
                fill,
                query,
                authorization,
                cookies,
                headers,
                body,
                as_admin,
                same_origin,
            },
        )
}

fn percent(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What came back.
struct Answer {
    status: u16,
    /// The whole response as text (status line, headers, body with chunks joined).
    text: String,
}

fn send(base: &str, admin_cookie: &str, ip: &str, c: &Case) -> Answer {
    let (route_method, template) = &routes()[c.route];
    let method = c.method.unwrap_or(route_method);
    let mut fill = c.fill.iter();
    let mut target = String::new();
    for (i, part) in template.split("{}").enumerate() {
        if i > 0 {
            target.push_str(&percent(fill.next().map_or("x", String::as_str)));
        }
        target.push_str(part);
    }
    if !c.query.is_empty() {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&c.query)
            .finish();
        target = format!("{target}?{q}");
    }
    let mut headers: Vec<(&str, Vec<u8>)> = vec![("X-Forwarded-For", ip.into())];
    if c.same_origin {
        headers.push(("Origin", base.into()));
    }
    if let Some(a) = &c.authorization {
        headers.push(("Authorization", a.clone()));
    }
    let mut cookie: Vec<u8> = Vec::new();
    if c.as_admin {
        cookie.extend_from_slice(admin_cookie.as_bytes());
    }
    for (name, value) in &c.cookies {
        if !cookie.is_empty() {
            cookie.extend_from_slice(b"; ");
        }
        cookie.extend_from_slice(name.as_bytes());
        cookie.push(b'=');
        cookie.extend_from_slice(value);
    }
    if !cookie.is_empty() {
        headers.push(("Cookie", cookie));
    }
    headers.extend(c.headers.iter().cloned());
    let body = match (&c.body, method) {
        (_, "GET" | "HEAD") | (Body::None, _) => Vec::new(),
        (Body::Form(pairs), _) => {
            headers.push((
                "Content-Type",
                b"application/x-www-form-urlencoded".to_vec(),
            ));
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
                .into_bytes()
        }
        (Body::Json(v), _) => {
            headers.push(("Content-Type", b"application/json".to_vec()));
            v.to_string().into_bytes()
        }
        (Body::Bytes(t, b), _) => {
            headers.push(("Content-Type", t.as_bytes().to_vec()));
            b.clone()
        }
    };
    let addr = base.trim_start_matches("http://");
    let raw = exchange(addr, method, &target, &headers, &body)
        .unwrap_or_else(|e| panic!("{method} {target}: no answer: {e}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{method} {target}: no status line: {text:?}"));
    Answer {
        status,
        text: unchunked(&text),
    }
}

/// One request on its own connection, byte for byte as given (a client library would
/// refuse the non-UTF-8 header values); the raw response, read until the server closes.
fn exchange(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, Vec<u8>)],
    body: &[u8],
) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Write};
    let mut req =
        format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    for (name, value) in headers {
        req.extend_from_slice(name.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || !matches!(method, "GET" | "HEAD") {
        req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    s.write_all(&req)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

/// The response with a chunked body joined up, so a secret split across chunks is seen.
fn unchunked(text: &str) -> String {
    let Some((head, mut rest)) = text.split_once("\r\n\r\n") else {
        return text.to_string();
    };
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return text.to_string();
    }
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        let Some(chunk) = after.get(..n) else { break };
        body.push_str(chunk);
        rest = after.get(n..).unwrap_or("").trim_start_matches("\r\n");
    }
    format!("{head}\r\n\r\n{body}")
}

/// What must never come back or be logged: the marker, and each Authorization value and
/// cookie value whole (a base64 Basic value does not show the marker itself).
fn secrets(c: &Case) -> Vec<String> {
    let mut out = vec![MARKER.to_string()];
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    out.extend(c.authorization.as_deref().map(lossy));
    out.extend(c.cookies.iter().map(|(_, v)| lossy(v)));
    out
}

fn check(c: &Case, answer: &Answer, log: &[String]) -> Result<(), TestCaseError> {
    prop_assert!(
        answer.status < 500,
        "{} for {:?}:\n{}",
        answer.status,
        c,
        answer.text
    );
    for line in log {
        prop_assert!(!line.contains("panicked"), "a handler panicked: {line}");
    }
    for secret in secrets(c) {
        prop_assert!(
            !answer.text.contains(&secret),
            "the response echoes {secret:?}:\n{}",
            answer.text
        );
        for line in log {
            prop_assert!(!line.contains(&secret), "the log echoes {secret:?}: {line}");
        }
    }
    Ok(())
}

/// The issue's own examples: a Basic or Bearer scheme cut inside a multi-byte character
/// on each endpoint that reads Authorization.
#[test]
fn hostile_authorization_headers_get_a_4xx_and_are_never_echoed() {
    let s = setup(&[
        ("LOG_LEVEL", "debug"),
        ("METRICS_TOKEN", "a-metrics-token-for-tests"),
    ]);
    let tap = authportal::log::tap();
    let paths = [
        ("POST", "/oidc/token"),
        ("POST", "/oidc/device_authorization"),
        ("GET", "/oidc/userinfo"),
        ("POST", "/oidc/userinfo"),
        ("POST", "/oidc/introspect"),
        ("POST", "/oidc/revoke"),
        ("GET", "/metrics"),
    ];
    let hostile: [&[u8]; 4] = [
        b"Basic\xff\xfeSeKr1tMarker7q",
        b"Beare\xffSeKr1tMarker7q",
        b"Basi\xff SeKr1tMarker7q",
        b"bearer\xff SeKr1tMarker7q",
    ];
    for (method, path) in paths {
        for auth in hostile {
            authportal::log::set_level(authportal::log::Level::Debug);
            let c = Case {
                route: route_of(method, path),
                method: None,
                fill: Vec::new(),
                query: Vec::new(),
                authorization: Some(auth.to_vec()),
                cookies: vec![("authportal_session".into(), MARKER.into())],
                headers: Vec::new(),
                body: Body::Form(vec![("token".into(), "x".into())]),
                as_admin: false,
                same_origin: true,
            };
            let answer = send(&s.portal.base, "", "10.200.0.1", &c);
            assert!(
                (400..500).contains(&answer.status),
                "{method} {path} {:?}: {}",
                String::from_utf8_lossy(auth),
                answer.text
            );
            check(&c, &answer, &tap.lines()).unwrap();
        }
    }
}

#[test]
fn random_requests_to_every_route_get_no_5xx_and_echo_no_credential() {
    let s = setup(&[("LOG_LEVEL", "debug")]);
    let admin = s.user("root", "toor");
    let admin_cookie = format!(
        "authportal_session={}",
        admin.cookie("authportal_session").unwrap()
    );
    let probe = Case {
        route: route_of("GET", "/whoami"),
        method: None,
        fill: Vec::new(),
        query: Vec::new(),
        authorization: None,
        cookies: Vec::new(),
        headers: Vec::new(),
        body: Body::None,
        as_admin: true,
        same_origin: false,
    };
    let whoami = send(&s.portal.base, &admin_cookie, "10.201.255.255", &probe).text;
    assert!(whoami.contains(r#""admin":true"#), "{whoami}");
    let tap = authportal::log::tap();
    let config = Config {
        cases: 1500,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let n = std::sync::atomic::AtomicU32::new(0);
    let result = runner.run(&case(), |c| {
        // Signing out would end the admin cases; a proxy's own Authorization is enough.
        if c.as_admin && routes()[c.route].1 == "/logout" {
            return Ok(());
        }
        let n = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Other tests' servers set the process-wide level as they start.
        authportal::log::set_level(authportal::log::Level::Debug);
        let ip = format!("10.201.{}.{}", n >> 8 & 255, n & 255);
        let answer = send(&s.portal.base, &admin_cookie, &ip, &c);
        check(&c, &answer, &tap.lines())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
