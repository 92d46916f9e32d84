//! The OpenID Connect provider through the real server: every rule of the issue, and
//! its negative cases. (The full flow driven by a certified client library is oidc_rp.rs.)

use serde_json::{Value, json};

use crate::fair_share::{FLOOD_48, Flood, evictions, fill_pending, held_by};
use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal, Resp};
use crate::media::{jellyfin_portal, sign_in};

pub(crate) const REDIRECT: &str = "https://app.example.com/oauth/callback";
const LOGOUT_TO: &str = "https://app.example.com/signed-out";

pub(crate) struct Rp {
    pub(crate) id: String,
    pub(crate) secret: Option<String>,
}

pub(crate) struct Op {
    pub(crate) jf: FakeJellyfin,
    pub(crate) portal: Portal,
}

pub(crate) fn op(extra: &[(&str, &str)]) -> Op {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let mut vars = vec![("TRUSTED_PROXY_CIDRS", "127.0.0.1")];
    vars.extend_from_slice(extra);
    let portal = jellyfin_portal(&jf, &vars);
    Op { jf, portal }
}

impl Op {
    fn register(&self, public: bool, trusted: bool, grants: Option<Vec<&str>>) -> Rp {
        let spec = authportal::oidc::clients::ClientSpec {
            name: "Test App".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![LOGOUT_TO.into()],
            public,
            trusted,
            scopes: None,
            grant_types: grants.map(|g| g.into_iter().map(str::to_string).collect()),
            ..Default::default()
        };
        let app = self.portal.app();
        let (client, secret) = app
            .db
            .with_tx(|tx| authportal::oidc::clients::create(tx, spec, app.clock.now()))
            .unwrap();
        Rp {
            id: client.client_id,
            secret,
        }
    }

    /// A browser signed in as alice (from its own forwarded address).
    pub(crate) fn user(&self) -> Client {
        let c = self.portal.client();
        c.use_fresh_ip();
        assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 303);
        c
    }

    /// A plain HTTP client for the application's back channel.
    pub(crate) fn backend(&self) -> Client {
        let c = Client::new(&self.portal.base);
        *c.origin.borrow_mut() = None;
        c
    }
}

pub(crate) fn pkce() -> (String, String) {
    let verifier = authportal::crypto::b64url(&authportal::crypto::random_bytes::<32>());
    let challenge = authportal::crypto::b64url(&authportal::crypto::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub(crate) fn authorize_path(rp: &Rp, challenge: Option<&str>, extra: &[(&str, &str)]) -> String {
    let mut q = format!(
        "/oidc/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state=st4te&nonce=n0nce",
        enc(&rp.id),
        enc(REDIRECT),
        enc("openid profile email groups offline_access")
    );
    if let Some(c) = challenge {
        q.push_str(&format!("&code_challenge={c}&code_challenge_method=S256"));
    }
    for (k, v) in extra {
        q.push_str(&format!("&{}={}", enc(k), enc(v)));
    }
    q
}

/// The query parameters of a redirect to the application.
pub(crate) fn redirect_params(r: &Resp) -> std::collections::HashMap<String, String> {
    let loc = r
        .header("location")
        .unwrap_or_else(|| panic!("no redirect ({}): {}", r.status, r.body));
    assert!(
        loc.starts_with(REDIRECT) || loc.starts_with(LOGOUT_TO),
        "{loc}"
    );
    let url = url::Url::parse(loc).unwrap();
    url.query_pairs().into_owned().collect()
}

/// Goes through authorize (allowing consent when asked) and returns the code.
pub(crate) fn get_code(user: &Client, rp: &Rp, challenge: Option<&str>) -> String {
    let r = user.get(&authorize_path(rp, challenge, &[]));
    let r = if r.status == 200 {
        assert!(r.body.contains("/oidc/authorize/decision"), "{}", r.body);
        let fields = hidden_fields(&r.body);
        let mut form: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form.push(("decision", "allow"));
        user.post_form("/oidc/authorize/decision", &form)
    } else {
        r
    };
    let p = redirect_params(&r);
    assert_eq!(p.get("state").map(String::as_str), Some("st4te"));
    p.get("code")
        .unwrap_or_else(|| panic!("no code: {p:?}"))
        .clone()
}

pub(crate) fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|chunk| {
            let attr = |name: &str| {
                let start = chunk.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                let end = chunk[start..].find('"').unwrap() + start;
                chunk[start..end]
                    .replace("&amp;", "&")
                    .replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
            };
            (attr("name"), attr("value"))
        })
        .collect()
}

pub(crate) fn token(c: &Client, rp: &Rp, fields: &[(&str, &str)]) -> Resp {
    let basic = authportal::crypto::b64(
        format!(
            "{}:{}",
            enc(&rp.id),
            enc(rp.secret.as_deref().unwrap_or(""))
        )
        .as_bytes(),
    );
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let auth = format!("Basic {basic}");
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if rp.secret.is_some() {
        headers.push(("Authorization", &auth));
    }
    c.send("POST", "/oidc/token", &headers, Some(body.into_bytes()))
}

pub(crate) fn exchange(op: &Op, rp: &Rp, code: &str, verifier: &str) -> Resp {
    let mut f = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    if rp.secret.is_none() {
        f.push(("client_id", &rp.id));
    }
    token(&op.backend(), rp, &f)
}

pub(crate) fn claims_of(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&authportal::crypto::b64url_decode(payload).unwrap()).unwrap()
}

pub(crate) fn userinfo(op: &Op, access: &str) -> Resp {
    op.backend().send(
        "GET",
        "/oidc/userinfo",
        &[("Authorization", &format!("Bearer {access}"))],
        None,
    )
}

/// Neither the access token nor the refresh token of this token response works any more.
fn assert_tokens_dead(op: &Op, rp: &Rp, t: &Value) {
    assert_eq!(
        userinfo(op, t["access_token"].as_str().unwrap()).status,
        401
    );
    let r = token(
        &op.backend(),
        rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(oauth_error(&r), "invalid_grant");
}

pub(crate) fn oauth_error(r: &Resp) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn discovery_and_jwks_describe_the_provider() {
    let op = op(&[]);
    let c = op.backend();
    let d = c.get("/.well-known/openid-configuration");
    assert_eq!(d.status, 200);
    assert_eq!(d.header("access-control-allow-origin"), Some("*"));
    let d = d.json();
    assert_eq!(d["issuer"], op.portal.base);
    assert_eq!(
        d["token_endpoint"],
        format!("{}/oidc/token", op.portal.base)
    );
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    let jwks = c.get("/oidc/jwks.json");
    assert_eq!(jwks.header("access-control-allow-origin"), Some("*"));
    let key = &jwks.json()["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(key.get("d").is_none(), "never the private part");
    assert_eq!(c.send("OPTIONS", "/oidc/token", &[], None).status, 204);
}

#[test]
fn code_flow_with_pkce_consent_tokens_and_userinfo() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let first = user.get(&authorize_path(&rp, Some(&challenge), &[]));
    assert_eq!(first.status, 200, "consent is asked the first time");
    assert!(first.body.contains("Test App wants to sign you in"));
    let code = get_code(&user, &rp, Some(&challenge));
    let r = exchange(&op, &rp, &code, &verifier);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let t = r.json();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3600);
    assert!(t["refresh_token"].is_string(), "offline_access was granted");
    let claims = claims_of(t["id_token"].as_str().unwrap());
    let who = user.get("/whoami").json();
    assert_eq!(claims["iss"], op.portal.base);
    assert_eq!(claims["aud"], rp.id);
    assert_eq!(claims["sub"], who["uuid"]);
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["groups"], json!(["jellyfin-user"]));
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    assert!(claims["sid"].is_string() && claims["at_hash"].is_string());
    assert!(
        claims.get("email").is_none(),
        "Jellyfin vouches for no email"
    );
    let access = t["access_token"].as_str().unwrap();
    let expected_hash =
        authportal::crypto::b64url(&authportal::crypto::sha256(access.as_bytes())[..16]);
    assert_eq!(claims["at_hash"], expected_hash);
    // The ID token verifies against the published key.
    let kid = authportal::crypto::jwt::kid_of(t["id_token"].as_str().unwrap()).unwrap();
    let jwks = op.backend().get("/oidc/jwks.json").json();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str())
    );

    let info = userinfo(&op, access);
    assert_eq!(info.status, 200, "{}", info.body);
    assert_eq!(info.json()["sub"], who["uuid"]);
    assert_eq!(info.json()["groups"], json!(["jellyfin-user"]));
    let post = op
        .backend()
        .post_form("/oidc/userinfo", &[("access_token", access)]);
    assert_eq!(post.json()["preferred_username"], "alice");

    // Consent is remembered: straight back with a code next time; prompt=consent asks again.
    let again = user.get(&authorize_path(&rp, Some(&challenge), &[]));
    assert_eq!(again.status, 303);
    assert!(redirect_params(&again).contains_key("code"));
    assert_eq!(
        user.get(&authorize_path(
            &rp,
            Some(&challenge),
            &[("prompt", "consent")]
        ))
        .status,
        200
    );
}

#[test]
fn trusted_clients_skip_consent_and_users_can_withdraw_it() {
    let op = op(&[]);
    let trusted = op.register(false, true, None);
    let user = op.user();
    let r = user.get(&authorize_path(&trusted, None, &[]));
    assert_eq!(r.status, 303);
    let plain = op.register(false, false, None);
    get_code(&user, &plain, None);
    assert!(user.get("/home").body.contains("Applications you allowed"));
    assert_eq!(
        user.post_form("/consents/revoke", &[("client_id", &plain.id)])
            .status,
        303
    );
    assert_eq!(
        user.get(&authorize_path(&plain, None, &[])).status,
        200,
        "asked again after withdrawing"
    );
}

#[test]
fn bad_client_or_redirect_uri_is_shown_on_a_page_never_redirected() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let user = op.user();
    let cases = [
        "/oidc/authorize?response_type=code&client_id=nope&redirect_uri=https%3A%2F%2Fapp.example.com%2Foauth%2Fcallback&scope=openid".to_string(),
        format!("/oidc/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid", rp.id),
        format!("/oidc/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Foauth%2Fcallback%2Fextra&scope=openid", rp.id),
        format!("/oidc/authorize?response_type=code&client_id={}&scope=openid", rp.id),
        "/oidc/authorize".to_string(),
        format!("/oidc/authorize?client_id={0}&client_id={0}&redirect_uri={1}", rp.id, enc(REDIRECT)),
    ];
    for path in cases {
        let r = user.get(&path);
        assert_eq!(r.status, 400, "{path}");
        assert!(r.header("location").is_none(), "{path}");
        assert!(r.body.contains("cannot be used"), "{path}");
    }
}

#[test]
fn request_errors_go_back_to_the_client_with_state() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let public = op.register(true, false, None);
    let user = op.user();
    let (_, challenge) = pkce();
    let base = |client: &Rp, scope: &str| {
        format!(
            "/oidc/authorize?client_id={}&redirect_uri={}&state=s1&scope={}",
            client.id,
            enc(REDIRECT),
            enc(scope)
        )
    };
    let cases = [
        (
            format!("{}&response_type=token", base(&rp, "openid")),
            "unsupported_response_type",
        ),
        (base(&rp, "openid"), "invalid_request"),
        (
            format!("{}&response_type=code", base(&rp, "profile")),
            "invalid_scope",
        ),
        (
            format!(
                "{}&response_type=code&code_challenge={challenge}&code_challenge_method=plain",
                base(&rp, "openid")
            ),
            "invalid_request",
        ),
        (
            format!(
                "{}&response_type=code&code_challenge=short&code_challenge_method=S256",
                base(&rp, "openid")
            ),
            "invalid_request",
        ),
        (
            format!("{}&response_type=code", base(&public, "openid")),
            "invalid_request",
        ),
        (
            format!("{}&response_type=code&scope=openid", base(&rp, "openid")),
            "invalid_request",
        ),
        (
            format!("{}&response_type=code&request=eyJ", base(&rp, "openid")),
            "request_not_supported",
        ),
        (
            format!("{}&response_type=code&max_age=-1", base(&rp, "openid")),
            "invalid_request",
        ),
        (
            format!(
                "{}&response_type=code&prompt=none%20login",
                base(&rp, "openid")
            ),
            "invalid_request",
        ),
    ];
    for (path, error) in cases {
        let r = user.get(&path);
        assert_eq!(r.status, 303, "{path}");
        let p = redirect_params(&r);
        assert_eq!(
            p.get("error").map(String::as_str),
            Some(error),
            "{path}: {p:?}"
        );
        assert_eq!(p.get("state").map(String::as_str), Some("s1"), "{path}");
        assert_eq!(p.get("iss"), Some(&op.portal.base), "{path}");
        assert!(!p.contains_key("code"));
    }
}

#[test]
fn sign_in_happens_in_the_middle_and_prompt_values_are_honoured() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let anon = op.portal.client();
    // prompt=none without a session.
    let r = anon.get(&authorize_path(&rp, None, &[("prompt", "none")]));
    assert_eq!(redirect_params(&r)["error"], "login_required");
    // Not signed in: through the sign-in page and back to the same request.
    let r = anon.get(&authorize_path(&rp, None, &[]));
    assert_eq!(r.status, 303);
    let loc = r.header("location").unwrap().to_string();
    assert!(loc.starts_with("/?rd=%2Foidc%2Fauthorize%3F"), "{loc}");
    let rd: String = url::Url::parse(&format!("http://x{loc}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "rd")
        .unwrap()
        .1
        .into_owned();
    let page = anon.get(&loc);
    assert!(page.body.contains("data-provider=\"jellyfin\""));
    let signed = anon.post_form(
        "/auth/forward?provider=jellyfin",
        &[
            ("username", "alice"),
            ("password", "wonderland"),
            ("rd", &rd),
        ],
    );
    assert_eq!(signed.header("location"), Some(rd.as_str()));
    let consent = anon.get(&rd);
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("wants to sign you in"));
    // prompt=none with a session but no consent yet.
    let r = anon.get(&authorize_path(&rp, None, &[("prompt", "none")]));
    assert_eq!(redirect_params(&r)["error"], "consent_required");
    get_code(&anon, &rp, None);
    assert!(
        redirect_params(&anon.get(&authorize_path(&rp, None, &[("prompt", "none")])))
            .contains_key("code")
    );

    // prompt=login and an exceeded max_age send a signed-in user through sign-in again.
    for extra in [("prompt", "login"), ("max_age", "60")] {
        op.portal.app().clock.advance(120);
        let r = anon.get(&authorize_path(&rp, None, &[extra]));
        let loc = r.header("location").unwrap().to_string();
        assert!(
            loc.starts_with("/?rd=") && loc.ends_with("&prompt=login"),
            "{extra:?}: {loc}"
        );
        assert_eq!(
            anon.get(&loc).status,
            200,
            "the sign-in page shows although signed in"
        );
        let rd: String = url::Url::parse(&format!("http://x{loc}"))
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "rd")
            .unwrap()
            .1
            .into_owned();
        let again = anon.get(&rd);
        let again = again.header("location").unwrap_or_default();
        assert!(again.starts_with("/?rd="), "the old sign-in is not enough");
        let rd = rd_of(again);
        anon.extra_headers.replace(vec![(
            "X-Forwarded-For".into(),
            format!("10.8.0.{}", extra.0.len()),
        )]);
        let signed = anon.post_form(
            "/auth/forward?provider=jellyfin",
            &[
                ("username", "alice"),
                ("password", "wonderland"),
                ("rd", &rd),
            ],
        );
        assert_eq!(signed.status, 303);
        let done = anon.get(&rd);
        assert!(redirect_params(&done).contains_key("code"), "{extra:?}");
    }
}

#[test]
fn token_endpoint_refuses_what_the_rfcs_refuse() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let other = op.register(false, false, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let be = op.backend();

    // Client authentication.
    let wrong = Rp {
        id: rp.id.clone(),
        secret: Some("wrong".into()),
    };
    let r = token(
        &be,
        &wrong,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert_eq!(r.status, 401);
    assert_eq!(oauth_error(&r), "invalid_client");
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    let r = be.post_form(
        "/oidc/token",
        &[("grant_type", "authorization_code"), ("client_id", &rp.id)],
    );
    assert_eq!(
        oauth_error(&r),
        "invalid_client",
        "a confidential client without its secret"
    );
    let r = token(
        &be,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("client_secret", rp.secret.as_deref().unwrap()),
        ],
    );
    assert_eq!(
        oauth_error(&r),
        "invalid_request",
        "two authentication methods"
    );
    assert_eq!(
        oauth_error(&token(&be, &rp, &[("grant_type", "password")])),
        "unsupported_grant_type"
    );
    assert_eq!(oauth_error(&token(&be, &rp, &[])), "invalid_request");
    assert_eq!(
        oauth_error(&token(&be, &rp, &[("grant_type", "client_credentials")])),
        "unauthorized_client"
    );
    let r = token(
        &be,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("grant_type", "refresh_token"),
        ],
    );
    assert_eq!(oauth_error(&r), "invalid_request");
    let r = be.send(
        "POST",
        "/oidc/token",
        &[("Content-Type", "application/json")],
        Some(b"{\"grant_type\":\"authorization_code\"}".to_vec()),
    );
    assert_eq!(r.status, 400);
    assert_eq!(oauth_error(&r), "invalid_request");
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // PKCE and the code's bindings.
    let code = get_code(&user, &rp, Some(&challenge));
    let bad = |fields: &[(&str, &str)]| oauth_error(&token(&be, &rp, fields));
    assert_eq!(
        bad(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT)
        ]),
        "invalid_grant",
        "missing verifier"
    );
    let code = get_code(&user, &rp, Some(&challenge));
    let wrong_verifier = "a".repeat(43);
    assert_eq!(
        bad(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &wrong_verifier)
        ]),
        "invalid_grant"
    );
    let code = get_code(&user, &rp, Some(&challenge));
    assert_eq!(
        bad(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/other"),
            ("code_verifier", &verifier)
        ]),
        "invalid_grant"
    );
    let code = get_code(&user, &rp, Some(&challenge));
    let r = token(
        &be,
        &other,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    );
    assert_eq!(oauth_error(&r), "invalid_grant", "a code of another client");
    let no_pkce = get_code(&user, &rp, None);
    assert_eq!(
        bad(&[
            ("grant_type", "authorization_code"),
            ("code", &no_pkce),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier)
        ]),
        "invalid_grant",
        "a verifier for a code without challenge"
    );
    let code = get_code(&user, &rp, Some(&challenge));
    op.portal.app().clock.advance(61);
    assert_eq!(
        bad(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier)
        ]),
        "invalid_grant",
        "expired"
    );
}

#[test]
fn a_reused_code_revokes_everything_issued_from_it() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let code = get_code(&user, &rp, Some(&challenge));
    let t = exchange(&op, &rp, &code, &verifier).json();
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&op, access).status, 200);
    let again = exchange(&op, &rp, &code, &verifier);
    assert_eq!(again.status, 400);
    assert_eq!(oauth_error(&again), "invalid_grant");
    assert_eq!(
        userinfo(&op, access).status,
        401,
        "the first exchange's tokens are revoked"
    );
    let r = token(
        &op.backend(),
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(oauth_error(&r), "invalid_grant");
}

#[test]
fn refresh_tokens_rotate_and_a_replay_revokes_the_family() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let t = exchange(&op, &rp, &get_code(&user, &rp, Some(&challenge)), &verifier).json();
    let r1 = t["refresh_token"].as_str().unwrap().to_string();
    let refresh = |rt: &str, scope: Option<&str>| {
        let mut f = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
        if let Some(s) = scope {
            f.push(("scope", s));
        }
        token(&op.backend(), &rp, &f)
    };
    let n = refresh(&r1, None).json();
    let r2 = n["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert!(n["id_token"].is_string());
    assert_eq!(
        claims_of(n["id_token"].as_str().unwrap())["auth_time"],
        claims_of(t["id_token"].as_str().unwrap())["auth_time"]
    );
    // A narrower scope is fine for the access token; a wider one is not.
    let narrow = refresh(&r2, Some("openid profile")).json();
    assert_eq!(narrow["scope"], "openid profile");
    let r3 = narrow["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        oauth_error(&refresh(&r3, Some("openid admin"))),
        "invalid_scope"
    );
    // Replaying r1: the whole family ends, r3 included.
    let replay = refresh(&r1, None);
    assert_eq!(oauth_error(&replay), "invalid_grant");
    assert_eq!(oauth_error(&refresh(&r3, None)), "invalid_grant");
    assert_eq!(
        userinfo(&op, narrow["access_token"].as_str().unwrap()).status,
        401
    );
    assert_eq!(
        op.portal
            .count("SELECT count(*) FROM oauth_tokens WHERE revoked_at IS NULL"),
        0
    );
}

#[test]
fn no_refresh_token_without_offline_access_and_public_clients_need_pkce() {
    let op = op(&[]);
    let public = op.register(true, false, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let path = format!(
        "/oidc/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=st4te&code_challenge={challenge}&code_challenge_method=S256",
        public.id,
        enc(REDIRECT)
    );
    let r = user.get(&path);
    let fields = hidden_fields(&r.body);
    let mut form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form.push(("decision", "allow"));
    let code = redirect_params(&user.post_form("/oidc/authorize/decision", &form))["code"].clone();
    let t = exchange(&op, &public, &code, &verifier);
    assert_eq!(t.status, 200, "{}", t.body);
    assert!(t.json().get("refresh_token").is_none());
    // A public client presenting a secret is refused.
    let r = op.backend().post_form(
        "/oidc/token",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &public.id),
            ("client_secret", "x"),
            ("code", "x"),
        ],
    );
    assert_eq!(oauth_error(&r), "invalid_client");
}

#[test]
fn client_credentials_userinfo_revocation_and_introspection() {
    let op = op(&[]);
    let machine = op.register(false, false, Some(vec!["client_credentials"]));
    let be = op.backend();
    let t = token(
        &be,
        &machine,
        &[("grant_type", "client_credentials"), ("scope", "groups")],
    );
    assert_eq!(t.status, 200, "{}", t.body);
    let access = t.json()["access_token"].as_str().unwrap().to_string();
    assert!(t.json().get("id_token").is_none() && t.json().get("refresh_token").is_none());
    assert_eq!(
        oauth_error(&token(
            &be,
            &machine,
            &[("grant_type", "client_credentials"), ("scope", "openid")]
        )),
        "invalid_scope"
    );
    let intro = |rp: &Rp, tok: &str| {
        let basic = authportal::crypto::b64(
            format!("{}:{}", rp.id, rp.secret.as_deref().unwrap_or("")).as_bytes(),
        );
        be.send(
            "POST",
            "/oidc/introspect",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", &format!("Basic {basic}")),
            ],
            Some(format!("token={tok}").into_bytes()),
        )
    };
    let i = intro(&machine, &access).json();
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], machine.id);
    assert_eq!(i["scope"], "groups");
    // Userinfo needs a user's token with openid.
    let u = userinfo(&op, &access);
    assert_eq!(u.status, 401);
    assert!(
        u.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    let none = be.get("/oidc/userinfo");
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer realm=\"authportal\"")
    );
    // Another client cannot see or revoke it.
    let other = op.register(false, false, Some(vec!["client_credentials"]));
    assert_eq!(intro(&other, &access).json()["active"], false);
    let revoke = |rp: &Rp, tok: &str| {
        let basic = authportal::crypto::b64(
            format!("{}:{}", rp.id, rp.secret.as_deref().unwrap_or("")).as_bytes(),
        );
        be.send(
            "POST",
            "/oidc/revoke",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", &format!("Basic {basic}")),
            ],
            Some(format!("token={tok}").into_bytes()),
        )
    };
    assert_eq!(revoke(&other, &access).status, 200);
    assert_eq!(intro(&machine, &access).json()["active"], true);
    assert_eq!(
        revoke(&machine, "unknown-token").status,
        200,
        "unknown tokens are not an error (RFC 7009)"
    );
    assert_eq!(revoke(&machine, &access).status, 200);
    assert_eq!(intro(&machine, &access).json()["active"], false);
    // A public client cannot introspect.
    let public = op.register(true, false, None);
    let r = be.post_form(
        "/oidc/introspect",
        &[("client_id", &public.id), ("token", &access)],
    );
    assert_eq!(r.status, 401);
}

#[test]
fn accounts_without_access_get_nothing() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let t = exchange(&op, &rp, &get_code(&user, &rp, Some(&challenge)), &verifier).json();
    op.portal
        .db()
        .execute("UPDATE identities SET authorized = 0", [])
        .unwrap();
    let r = user.get(&authorize_path(&rp, Some(&challenge), &[]));
    assert_eq!(redirect_params(&r)["error"], "access_denied");
    assert_tokens_dead(&op, &rp, &t);
}

#[test]
fn signing_out_ends_the_sessions_tokens_but_not_offline_access() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let ask = user.get(&authorize_path(&rp, Some(&challenge), &[]));
    assert!(
        ask.body.contains("even when you sign out of the portal"),
        "the consent page says so: {}",
        ask.body
    );
    let t = exchange(&op, &rp, &get_code(&user, &rp, Some(&challenge)), &verifier).json();
    assert_eq!(user.post_form("/logout", &[]).status, 303);
    assert_eq!(
        userinfo(&op, t["access_token"].as_str().unwrap()).status,
        401
    );
    // The app's offline_access refresh token outlives the browser's sign-out.
    let r = token(
        &op.backend(),
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let fresh = r.json();
    assert_eq!(
        userinfo(&op, fresh["access_token"].as_str().unwrap()).status,
        200
    );
    // An admin ending a session ends everything issued through it.
    let user = op.user();
    let t = exchange(&op, &rp, &get_code(&user, &rp, Some(&challenge)), &verifier).json();
    let sid = claims_of(t["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let app = op.portal.app();
    app.db
        .with_tx(|tx| authportal::db::oauth::revoke_session_tokens(tx, &sid, app.clock.now()))
        .unwrap();
    assert_tokens_dead(&op, &rp, &t);
}

#[test]
fn rp_initiated_logout() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let t = exchange(&op, &rp, &get_code(&user, &rp, Some(&challenge)), &verifier).json();
    let id_token = t["id_token"].as_str().unwrap();
    // Unregistered return address: a page, never a redirect.
    let r = user.get(&format!(
        "/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
        enc("https://evil.example/")
    ));
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
    // A forged hint is refused.
    let forged = format!("{}x", &id_token[..id_token.len() - 1]);
    assert_eq!(
        user.get(&format!("/oidc/logout?id_token_hint={forged}"))
            .status,
        400
    );
    // Without a hint the user is asked first (a GET from anywhere cannot sign them out).
    let ask = user.get("/oidc/logout");
    assert_eq!(ask.status, 200);
    assert!(ask.body.contains("Sign out?"));
    assert_eq!(user.get("/whoami").json()["authenticated"], true);
    // With the hint: out at once, back to the registered address with state.
    let r = user.get(&format!(
        "/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye",
        enc(LOGOUT_TO)
    ));
    assert_eq!(r.status, 303);
    assert_eq!(redirect_params(&r)["state"], "bye");
    assert_eq!(user.get("/whoami").json()["authenticated"], false);
    assert_eq!(
        userinfo(&op, t["access_token"].as_str().unwrap()).status,
        401
    );

    // The confirmation form signs out on POST.
    let user = op.user();
    let r = user.post_form("/oidc/logout", &[("confirm", "yes")]);
    assert_eq!(r.status, 200);
    assert_eq!(user.get("/whoami").json()["authenticated"], false);
}

#[test]
fn rotated_keys_stay_published_until_their_tokens_expire() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let before = exchange(&op, &rp, &get_code(&user, &rp, Some(&challenge)), &verifier).json();
    let old_kid = authportal::crypto::jwt::kid_of(before["id_token"].as_str().unwrap()).unwrap();
    // The pinned fixture key is configured in tests; rotate through the library as the CLI does.
    let app = op.portal.app();
    let new_kid =
        authportal::oidc::keys::rotate(&app.db, &app.sealer, 2048, app.clock.now()).unwrap();
    let kids: Vec<String> = op.backend().get("/oidc/jwks.json").json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kids.contains(&old_kid) && kids.contains(&new_kid),
        "{kids:?}"
    );
    let after = exchange(&op, &rp, &get_code(&user, &rp, Some(&challenge)), &verifier).json();
    assert_eq!(
        authportal::crypto::jwt::kid_of(after["id_token"].as_str().unwrap()).unwrap(),
        new_kid
    );
}

#[test]
fn garbage_never_gets_a_5xx() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let user = op.user();
    let be = op.backend();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        ("POST", "/oidc/token".into(), b"%%%".to_vec()),
        ("POST", "/oidc/token".into(), vec![0xff, 0xfe, 0x00]),
        ("POST", "/oidc/revoke".into(), b"token=".to_vec()),
        ("POST", "/oidc/introspect".into(), b"".to_vec()),
        ("GET", "/oidc/userinfo".into(), vec![]),
        (
            "POST",
            "/oidc/userinfo".into(),
            b"access_token=%ff".to_vec(),
        ),
        ("GET", "/oidc/authorize?%ff=%fe".into(), vec![]),
        (
            "GET",
            format!("/oidc/authorize?client_id={}&redirect_uri=%zz", rp.id),
            vec![],
        ),
        ("GET", "/oidc/logout?id_token_hint=a.b.c".into(), vec![]),
        (
            "GET",
            "/oidc/logout?id_token_hint=...&client_id=nope".into(),
            vec![],
        ),
        (
            "POST",
            "/oidc/authorize/decision".into(),
            b"decision=allow".to_vec(),
        ),
        (
            "POST",
            "/oidc/authorize/decision".into(),
            b"decision=maybe".to_vec(),
        ),
    ];
    for (method, path, body) in cases {
        for c in [&user, &be] {
            let r = c.send(method, &path, &form, Some(body.clone()));
            assert!(r.status < 500, "{method} {path} -> {} {}", r.status, r.body);
        }
    }
    let basic = be.send(
        "POST",
        "/oidc/token",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", "Basic !!!"),
        ],
        Some(b"grant_type=client_credentials".to_vec()),
    );
    assert_eq!(basic.status, 400);
}

#[test]
fn admins_manage_clients_through_the_api() {
    let op = op(&[("ADMIN_BOOTSTRAP_USERS", "alice")]);
    let admin = op.user();
    let spec = json!({ "name": "Grafana", "redirect_uris": ["https://grafana.example.com/login/generic_oauth"] });
    let created = admin.post_json("/api/admin/oauth/clients", &spec);
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    let list = admin.get("/api/admin/oauth/clients");
    assert!(!list.body.contains(&secret), "secrets are shown once");
    assert_eq!(list.json()["clients"][0]["client_id"], id.as_str());
    let bad = admin.post_json(
        "/api/admin/oauth/clients",
        &json!({ "name": "x", "redirect_uris": ["javascript:alert(1)"] }),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].as_str().unwrap().contains("javascript"));
    let unknown = admin.post_json(
        "/api/admin/oauth/clients",
        &json!({ "name": "x", "redirect_uris": [REDIRECT], "scopes": ["root"] }),
    );
    assert_eq!(unknown.status, 400);
    let upd = admin.send(
        "PUT",
        &format!("/api/admin/oauth/clients/{id}"),
        &[("Content-Type", "application/json")],
        Some(
            json!({ "name": "Grafana 2", "redirect_uris": [REDIRECT], "trusted": true })
                .to_string()
                .into_bytes(),
        ),
    );
    assert_eq!(upd.status, 200, "{}", upd.body);
    assert_eq!(upd.json()["trusted"], true);
    let rotated = admin.post_json(
        &format!("/api/admin/oauth/clients/{id}/rotate-secret"),
        &json!({}),
    );
    assert_ne!(rotated.json()["client_secret"], secret.as_str());
    let old = Rp {
        id: id.clone(),
        secret: Some(secret),
    };
    assert_eq!(
        oauth_error(&token(
            &op.backend(),
            &old,
            &[("grant_type", "authorization_code")]
        )),
        "invalid_client"
    );
    assert_eq!(
        admin
            .send(
                "DELETE",
                &format!("/api/admin/oauth/clients/{id}"),
                &[],
                None
            )
            .status,
        204
    );
    assert_eq!(
        admin
            .send(
                "DELETE",
                &format!("/api/admin/oauth/clients/{id}"),
                &[],
                None
            )
            .status,
        404
    );
    // Not for other users.
    let op2 = self::op(&[]);
    let user = op2.user();
    assert_eq!(user.get("/api/admin/oauth/clients").status, 403);
    assert_eq!(
        op2.portal.client().get("/api/admin/oauth/clients").status,
        401
    );
}

#[test]
fn the_cli_creates_clients_that_work() {
    let op = op(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
        .args([
            "oauth-client",
            "create",
            "--name",
            "CLI App",
            "--redirect-uri",
            REDIRECT,
        ])
        .envs(
            op.portal
                .vars
                .iter()
                .filter(|(k, _)| k.as_str() != "LISTEN_ADDR"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["public"], false);
    assert_eq!(
        v["scopes"],
        json!(["openid", "profile", "email", "groups", "offline_access"])
    );
    let rp = Rp {
        id: v["client_id"].as_str().unwrap().into(),
        secret: Some(v["client_secret"].as_str().unwrap().into()),
    };
    let user = op.user();
    let (verifier, challenge) = pkce();
    let t = exchange(&op, &rp, &get_code(&user, &rp, Some(&challenge)), &verifier);
    assert_eq!(t.status, 200, "{}", t.body);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
        .args([
            "oauth-client",
            "create",
            "--name",
            "x",
            "--redirect-uri",
            "https://x.example/#frag",
        ])
        .envs(op.portal.vars.iter())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("fragment"));
}

#[test]
fn losing_server_access_at_the_next_sign_in_revokes_tokens_and_sessions() {
    let op = op(&[]);
    let rp = op.register(false, false, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let t = exchange(&op, &rp, &get_code(&user, &rp, Some(&challenge)), &verifier).json();
    assert_eq!(
        userinfo(&op, t["access_token"].as_str().unwrap()).status,
        200
    );
    op.jf.set_user_disabled("alice", true);
    let other = op.portal.client();
    let r = sign_in(&other, "jellyfin", "alice", "wonderland");
    assert_eq!(r.status, 403);
    assert_eq!(
        user.get("/whoami").json()["authenticated"],
        false,
        "the older browser session ended too"
    );
    assert_tokens_dead(&op, &rp, &t);
    assert_eq!(
        op.portal
            .count("SELECT count(*) FROM events WHERE type = 'access.withdrawn'"),
        1
    );
    // Access given back: the next sign-in works again.
    op.jf.set_user_disabled("alice", false);
    assert_eq!(
        sign_in(&other, "jellyfin", "alice", "wonderland").status,
        303
    );
    assert_eq!(other.get("/whoami").json()["authorized"], true);
}

/// The query of an authorization request as form fields (for the POST form of it).
fn authorize_fields(path: &str) -> Vec<(String, String)> {
    url::Url::parse(&format!("http://x{path}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[test]
fn unknown_scopes_are_ignored_and_the_token_response_says_what_was_granted() {
    let op = op(&[]);
    let rp = op.register(false, true, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let path = authorize_path(&rp, Some(&challenge), &[])
        .replace("offline_access", "phone+address+roles+admin+my_app%3Aread");
    let r = user.get(&path);
    let p = redirect_params(&r);
    let code = p.get("code").unwrap_or_else(|| panic!("no code: {p:?}"));
    let t = exchange(&op, &rp, code, &verifier).json();
    assert_eq!(t["scope"], "openid profile email groups", "{t}");
    // Only a missing openid is refused.
    let r = user.get(&authorize_path(&rp, None, &[]).replace("scope=openid+", "scope="));
    assert_eq!(redirect_params(&r)["error"], "invalid_scope");
}

#[test]
fn the_authorization_endpoint_takes_a_form_post_from_the_application() {
    let op = op(&[]);
    let rp = op.register(false, true, None);
    let user = op.user();
    *user.origin.borrow_mut() = Some("https://app.example.com".into());
    let (verifier, challenge) = pkce();
    let fields = authorize_fields(&authorize_path(&rp, Some(&challenge), &[]));
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // A browser sends no SameSite=Lax cookie with another site's POST: the request is
    // kept and goes on as a GET, which has them.
    let r = user.post_form("/oidc/authorize", &form);
    assert_eq!(r.status, 303, "{}", r.body);
    let next = r.header("location").unwrap().to_string();
    assert!(next.starts_with("/oidc/authorize?pending="), "{next}");
    let r = user.get(&next);
    let p = redirect_params(&r);
    assert_eq!(p["state"], "st4te");
    let t = exchange(&op, &rp, &p["code"], &verifier);
    assert_eq!(t.status, 200, "{}", t.body);
    // Errors of a posted request go back to the client the same way.
    let mut bad = form.clone();
    bad.retain(|(k, _)| *k != "response_type");
    let r = user.post_form("/oidc/authorize", &bad);
    assert_eq!(redirect_params(&r)["error"], "invalid_request");
}

#[test]
fn rp_initiated_logout_by_post_from_the_application() {
    let op = op(&[]);
    let rp = op.register(false, true, None);
    let user = op.user();
    let (verifier, challenge) = pkce();
    let t = exchange(&op, &rp, &get_code(&user, &rp, Some(&challenge)), &verifier).json();
    let id_token = t["id_token"].as_str().unwrap();
    *user.origin.borrow_mut() = Some("https://app.example.com".into());
    // Another site's POST goes on as the GET (which carries the portal's cookies), and
    // cannot confirm on the person's behalf: they are asked.
    let r = user.post_form("/oidc/logout", &[("confirm", "yes")]);
    assert_eq!(r.header("location"), Some("/oidc/logout?confirm=yes"));
    let r = user.get("/oidc/logout?confirm=yes");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Sign out?"));
    *user.origin.borrow_mut() = Some(op.portal.base.clone());
    assert_eq!(user.get("/whoami").json()["authenticated"], true);
    // With the application's ID token: out at once, back with state.
    *user.origin.borrow_mut() = Some("https://app.example.com".into());
    let r = user.post_form(
        "/oidc/logout",
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", LOGOUT_TO),
            ("state", "bye"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let r = user.get(r.header("location").unwrap());
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(redirect_params(&r)["state"], "bye");
    assert_eq!(user.get("/whoami").json()["authenticated"], false);
}

/// The `rd` of a sign-in redirect.
fn rd_of(location: &str) -> String {
    url::Url::parse(&format!("http://x{location}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "rd")
        .unwrap()
        .1
        .into_owned()
}

#[test]
fn a_long_request_survives_sign_in_and_the_second_factor() {
    let op = op(&[]);
    let rp = op.register(false, true, None);
    let secret = op.portal.enrol_totp(&op.user());
    let state: String = "s".repeat(3000);
    let c = op.portal.client();
    c.use_fresh_ip();
    let (verifier, challenge) = pkce();
    let path = authorize_path(&rp, Some(&challenge), &[]).replace("st4te", &state);
    let r = c.get(&path);
    assert_eq!(r.status, 303, "{}", r.body);
    let loc = r.header("location").unwrap().to_string();
    let rd = rd_of(&loc);
    assert!(rd.len() < 100, "only an id travels: {rd}");
    let r = c.post_form(
        "/auth/forward?provider=jellyfin",
        &[
            ("username", "alice"),
            ("password", "wonderland"),
            ("rd", &rd),
        ],
    );
    assert_eq!(r.header("location"), Some("/mfa/challenge"), "{}", r.body);
    op.portal.app().clock.advance(30);
    let now = op.portal.app().clock.now();
    let r = c.post_form(
        "/mfa/challenge/verify",
        &[("code", &crate::totp_ref::code(&secret, now))],
    );
    assert_eq!(r.header("location"), Some(rd.as_str()), "{}", r.body);
    let r = c.get(&rd);
    let p = redirect_params(&r);
    assert_eq!(p.get("state"), Some(&state));
    let t = exchange(&op, &rp, &p["code"], &verifier);
    assert_eq!(t.status, 200, "{}", t.body);
    // Single use, and only for the browser that made it.
    assert_eq!(c.get(&rd).status, 400);
    let other = op.user();
    let r2 = op.portal.client().get(&authorize_path(&rp, None, &[]));
    let rd2 = rd_of(r2.header("location").unwrap());
    assert_eq!(
        other.get(&rd2).status,
        400,
        "another browser cannot resume it"
    );
}

/// oidc_pending full from many /64s of one /48: a request kept earlier is not pushed out
/// by a newcomer from elsewhere (the /48 gives way), and still ends in tokens.
#[test]
fn a_full_table_of_waiting_requests_makes_room_from_the_network_that_filled_it() {
    let op = op(&[]);
    let rp = op.register(false, true, None);
    let max = authportal::db::oauth::MAX_PENDING;
    let c = op.portal.client();
    c.use_fresh_ip();
    let (verifier, challenge) = pkce();
    let r = c.get(&authorize_path(&rp, Some(&challenge), &[]));
    assert_eq!(r.status, 303, "{}", r.body);
    let rd = rd_of(r.header("location").unwrap());
    op.portal.app().clock.advance(5);
    fill_pending(&op.portal, max - 1, Flood::One48);

    let newcomer = op.portal.client();
    newcomer.use_fresh_ip();
    let r = newcomer.get(&authorize_path(&rp, None, &[]));
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(held_by(&op.portal, "oidc_pending", FLOOD_48), max - 2);
    assert_eq!(evictions(&op.portal, "oidc_pending"), 1);

    let r = c.post_form(
        "/auth/forward?provider=jellyfin",
        &[
            ("username", "alice"),
            ("password", "wonderland"),
            ("rd", &rd),
        ],
    );
    assert_eq!(r.header("location"), Some(rd.as_str()), "{}", r.body);
    let p = redirect_params(&c.get(&rd));
    let t = exchange(&op, &rp, &p["code"], &verifier);
    assert_eq!(t.status, 200, "{}", t.body);
}

/// oidc_pending full, all from this browser's own address: its request is refused with
/// a 429 that says why, and nothing is evicted.
#[test]
fn a_full_table_of_waiting_requests_refuses_the_network_that_filled_it() {
    let op = op(&[]);
    let rp = op.register(false, true, None);
    let max = authportal::db::oauth::MAX_PENDING;
    fill_pending(&op.portal, max, Flood::From("192.0.2.60"));
    let c = op.portal.client();
    c.extra_headers
        .replace(vec![("X-Forwarded-For".into(), "192.0.2.60".into())]);
    let r = c.get(&authorize_path(&rp, None, &[]));
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(
        r.body.contains("too many sign-ins are in progress"),
        "{}",
        r.body
    );
    assert!(r.header("retry-after").is_some());
    assert_eq!(op.portal.count("SELECT count(*) FROM oidc_pending"), max);
    assert_eq!(evictions(&op.portal, "oidc_pending"), 0);
}

#[test]
fn a_client_cannot_send_the_portals_own_state() {
    let op = op(&[]);
    let rp = op.register(false, true, None);
    let user = op.user();
    op.portal.app().clock.advance(120);
    for extra in [
        vec![("prompt", "login"), ("auth_after", "0")],
        vec![("max_age", "60"), ("auth_after", "0")],
    ] {
        let r = user.get(&authorize_path(&rp, None, &extra));
        let loc = r.header("location").unwrap_or_default();
        assert!(loc.starts_with("/?rd="), "{extra:?}: {loc}");
    }
}

#[test]
fn an_id_token_hint_for_another_user_is_not_answered_for_whoever_is_signed_in() {
    let op = op(&[]);
    op.jf.add_user(FakeUser::new("bob", "builder"));
    let rp = op.register(false, true, None);
    let alice = op.user();
    let (verifier, challenge) = pkce();
    let t = exchange(
        &op,
        &rp,
        &get_code(&alice, &rp, Some(&challenge)),
        &verifier,
    )
    .json();
    let hint = t["id_token"].as_str().unwrap().to_string();
    let alice_sub = claims_of(&hint)["sub"].clone();

    let bob = op.portal.client();
    bob.use_fresh_ip();
    assert_eq!(sign_in(&bob, "jellyfin", "bob", "builder").status, 303);
    let with_hint = |extra: &[(&str, &str)]| {
        let mut e = vec![("id_token_hint", hint.as_str())];
        e.extend_from_slice(extra);
        authorize_path(&rp, Some(&challenge), &e)
    };
    let r = bob.get(&with_hint(&[("prompt", "none")]));
    assert_eq!(redirect_params(&r)["error"], "login_required");
    // A hint the portal did not sign is refused.
    let forged = authorize_path(&rp, Some(&challenge), &[("id_token_hint", "a.b.c")]);
    assert_eq!(
        redirect_params(&bob.get(&forged))["error"],
        "invalid_request"
    );
    // Without prompt=none: offered to switch, the request kept through it.
    let r = bob.get(&with_hint(&[]));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Sign out and switch account"), "{}", r.body);
    let fields = hidden_fields(&r.body);
    let pending = &fields.iter().find(|(k, _)| k == "pending").unwrap().1;
    let r = bob.post_form("/oidc/authorize/switch", &[("pending", pending)]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(bob.get("/whoami").json()["authenticated"], false);
    let rd = rd_of(r.header("location").unwrap());
    let r = bob.post_form(
        "/auth/forward?provider=jellyfin",
        &[
            ("username", "alice"),
            ("password", "wonderland"),
            ("rd", &rd),
        ],
    );
    assert_eq!(r.header("location"), Some(rd.as_str()), "{}", r.body);
    let p = redirect_params(&bob.get(&rd));
    assert_eq!(p["state"], "st4te");
    let t = exchange(&op, &rp, &p["code"], &verifier).json();
    assert_eq!(claims_of(t["id_token"].as_str().unwrap())["sub"], alice_sub);
}

#[test]
fn the_oauth_authorization_server_metadata_is_the_discovery_document() {
    let op = op(&[]);
    let c = op.backend();
    let a = c.get("/.well-known/oauth-authorization-server");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json(), c.get("/.well-known/openid-configuration").json());
    assert_eq!(a.json()["issuer"], op.portal.base.as_str());
}

#[test]
fn native_apps_may_come_back_on_any_loopback_port() {
    let op = op(&[]);
    let spec = authportal::oidc::clients::ClientSpec {
        name: "Desktop App".into(),
        redirect_uris: vec![
            "http://127.0.0.1/callback".into(),
            "http://[::1]/callback".into(),
        ],
        public: true,
        ..Default::default()
    };
    let app = op.portal.app();
    let (client, _) = app
        .db
        .with_tx(|tx| authportal::oidc::clients::create(tx, spec, app.clock.now()))
        .unwrap();
    let user = op.user();
    let (_, challenge) = pkce();
    let ask = |redirect: &str| {
        user.get(&format!(
            "/oidc/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256",
            client.client_id,
            enc(redirect)
        ))
    };
    for ok in [
        "http://127.0.0.1:53123/callback",
        "http://[::1]:8400/callback",
        "http://127.0.0.1/callback",
    ] {
        let r = ask(ok);
        assert_eq!(r.status, 200, "{ok}: consent is asked: {}", r.body);
        assert!(r.body.contains("/oidc/authorize/decision"), "{ok}");
    }
    for bad in [
        "http://127.0.0.1:53123/other",
        "http://127.0.0.1:53123/callback?x=1",
        "http://localhost:53123/callback",
        "https://127.0.0.1:53123/callback",
        "http://127.0.0.2:53123/callback",
        "http://127.0.0.1:53123/callback#f",
    ] {
        let r = ask(bad);
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.header("location").is_none(), "{bad}");
    }
}

#[test]
fn a_native_app_gets_its_code_at_its_own_scheme() {
    let op = op(&[]);
    let spec = authportal::oidc::clients::ClientSpec {
        name: "Audiobookshelf".into(),
        redirect_uris: vec!["audiobookshelf://oauth".into()],
        public: true,
        trusted: true,
        ..Default::default()
    };
    let app = op.portal.app();
    let (client, _) = app
        .db
        .with_tx(|tx| authportal::oidc::clients::create(tx, spec, app.clock.now()))
        .unwrap();
    let user = op.user();
    let (_, challenge) = pkce();
    let r = user.get(&format!(
        "/oidc/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256",
        client.client_id,
        enc("audiobookshelf://oauth")
    ));
    let loc = r.header("location").unwrap_or_default();
    assert!(loc.starts_with("audiobookshelf://oauth?code="), "{loc}");
}

#[test]
fn a_client_limited_to_groups_turns_others_away_and_says_why() {
    let op = op(&[]);
    let user = op.user();
    let id: i64 = op
        .portal
        .db()
        .query_row("SELECT id FROM users WHERE username = 'alice'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let hers = authportal::db::users::groups(&op.portal.db(), id).unwrap();
    assert!(!hers.is_empty(), "alice has her provider's groups");
    let limited = |groups: Vec<String>| {
        let spec = authportal::oidc::clients::ClientSpec {
            name: "Family Photos".into(),
            redirect_uris: vec![REDIRECT.into()],
            trusted: true,
            allowed_groups: Some(groups),
            ..Default::default()
        };
        let app = op.portal.app();
        let (client, secret) = app
            .db
            .with_tx(|tx| authportal::oidc::clients::create(tx, spec, app.clock.now()))
            .unwrap();
        Rp {
            id: client.client_id,
            secret,
        }
    };
    let (_, challenge) = pkce();
    let closed = limited(vec!["family".into(), "movie-night".into()]);
    let r = user.get(&authorize_path(&closed, Some(&challenge), &[]));
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("Only members of family, movie-night"),
        "{}",
        r.body
    );
    assert!(r.body.contains("error=access_denied"), "{}", r.body);
    assert!(r.header("location").is_none());
    let r = user.get(&authorize_path(
        &closed,
        Some(&challenge),
        &[("prompt", "none")],
    ));
    assert_eq!(redirect_params(&r)["error"], "access_denied");
    // A member gets in.
    let open = limited(vec!["family".into(), hers[0].clone()]);
    let (verifier, challenge) = pkce();
    let r = user.get(&authorize_path(&open, Some(&challenge), &[]));
    let p = redirect_params(&r);
    let t = exchange(&op, &open, &p["code"], &verifier).json();
    // Out of the group: the app's refresh token no longer works.
    let app = op.portal.app();
    app.db
        .with_tx(|tx| {
            let mut c = authportal::db::oauth::client(tx, &open.id)?.unwrap();
            c.allowed_groups = vec!["family".into()];
            authportal::db::oauth::save_client(tx, &c)
        })
        .unwrap();
    let r = token(
        &op.backend(),
        &open,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
        ],
    );
    assert_eq!(oauth_error(&r), "invalid_grant", "{}", r.body);
}

#[test]
fn admins_set_allowed_groups_and_an_update_without_them_keeps_them() {
    let s = crate::team::setup(&[]);
    let root = s.user("root", "toor");
    let r = root.post_json(
        "/api/admin/oauth/clients",
        &json!({ "name": "Photos", "redirect_uris": [REDIRECT], "allowed_groups": ["family", " family "] }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["allowed_groups"], json!(["family"]));
    let path = format!(
        "/api/admin/oauth/clients/{}",
        r.json()["client_id"].as_str().unwrap()
    );
    let r = crate::team::put(
        &root,
        &path,
        json!({ "name": "Photos 2", "redirect_uris": [REDIRECT] }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["allowed_groups"], json!(["family"]));
    let r = crate::team::put(
        &root,
        &path,
        json!({ "name": "Photos", "redirect_uris": [REDIRECT], "allowed_groups": [] }),
    );
    assert_eq!(r.json()["allowed_groups"], json!([]));
    let r = crate::team::put(
        &root,
        &path,
        json!({ "name": "Photos", "redirect_uris": [REDIRECT], "allowed_groups": [""] }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
}

/// A session opened before its person set up a second factor has not passed it: the
/// authorization endpoint sends the person to sign in again (the code is asked for there),
/// keeping the request, and never hands the application a code from the old session.
#[test]
fn a_session_older_than_the_second_factor_must_pass_it_before_a_code() {
    let op = op(&[]);
    let rp = op.register(false, true, None);
    let old = op.user();
    let secret = op.portal.enrol_totp(&op.user());
    let (verifier, challenge) = pkce();
    let r = old.get(&authorize_path(&rp, Some(&challenge), &[]));
    assert_eq!(r.status, 303, "{}", r.body);
    let loc = r.header("location").unwrap().to_string();
    assert!(
        loc.starts_with("/?"),
        "sent to sign in, not to the app: {loc}"
    );
    // prompt=none cannot ask: the application hears login_required.
    let r = old.get(&authorize_path(
        &rp,
        Some(&challenge),
        &[("prompt", "none")],
    ));
    assert_eq!(redirect_params(&r)["error"], "login_required");
    assert_eq!(op.portal.count("SELECT count(*) FROM oauth_codes"), 0);

    // Signing in again asks for the code, then the kept request ends with a code.
    let rd = rd_of(&loc);
    let r = old.post_form(
        "/auth/forward?provider=jellyfin",
        &[
            ("username", "alice"),
            ("password", "wonderland"),
            ("rd", &rd),
        ],
    );
    assert_eq!(r.header("location"), Some("/mfa/challenge"), "{}", r.body);
    op.portal.app().clock.advance(30);
    let now = op.portal.app().clock.now();
    let r = old.post_form(
        "/mfa/challenge/verify",
        &[("code", &crate::totp_ref::code(&secret, now))],
    );
    assert_eq!(r.header("location"), Some(rd.as_str()), "{}", r.body);
    let p = redirect_params(&old.get(&rd));
    let t = exchange(&op, &rp, &p["code"], &verifier);
    assert_eq!(t.status, 200, "{}", t.body);
    let amr = claims_of(t.json()["id_token"].as_str().unwrap())["amr"].clone();
    assert!(amr.as_array().unwrap().iter().any(|a| a == "otp"), "{amr}");
}

/// RFC 6749 3.1: a parameter sent without a value is as if it were not sent, here too
/// (`pending=` included); one sent twice is still refused.
#[test]
fn authorize_parameters_without_a_value_count_as_not_sent() {
    let op = op(&[]);
    let rp = op.register(false, true, None);
    let user = op.user();
    let (_, challenge) = pkce();
    let empty = [
        ("pending", ""),
        ("prompt", ""),
        ("max_age", ""),
        ("response_mode", ""),
        ("login_hint", ""),
        ("id_token_hint", ""),
        ("request", ""),
    ];
    let r = user.get(&authorize_path(&rp, Some(&challenge), &empty));
    let p = redirect_params(&r);
    assert!(p.contains_key("code"), "{p:?}");
    assert_eq!(p.get("state").map(String::as_str), Some("st4te"));
    // An empty value still counts when the name is repeated.
    let r = user.get(&authorize_path(
        &rp,
        Some(&challenge),
        &[("prompt", ""), ("prompt", "")],
    ));
    assert_eq!(redirect_params(&r)["error"], "invalid_request");
    let r = user.get(&authorize_path(
        &rp,
        Some(&challenge),
        &[("pending", ""), ("pending", "")],
    ));
    assert_eq!(r.status, 400, "{}", r.body);
}
