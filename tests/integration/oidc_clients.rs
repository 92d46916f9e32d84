//! Per-client OpenID Connect settings through the real server: the token endpoint
//! authentication method, PKCE required or optional, app presets, the claims the ID
//! token carries, the picture URL, and the CLI's flags for all of them.

use serde_json::{Value, json};

use crate::fakes::plex::{AVATAR_PNG, FakePlex, PlexAccount, server_resource};
use crate::harness::{Client, Portal, Resp};
use crate::oidc::{
    Op, REDIRECT, Rp, authorize_path, claims_of, enc, get_code, oauth_error, op, pkce,
    redirect_params,
};

/// A client registered with these authentication methods and PKCE setting.
fn register(op: &Op, public: bool, methods: &[&str], require_pkce: Option<bool>) -> Rp {
    register_in(&op.portal, public, methods, require_pkce)
}

fn register_in(portal: &Portal, public: bool, methods: &[&str], require_pkce: Option<bool>) -> Rp {
    let spec = authportal::oidc::clients::ClientSpec {
        name: "Per-client App".into(),
        redirect_uris: vec![REDIRECT.into()],
        public,
        token_endpoint_auth_methods: (!methods.is_empty())
            .then(|| methods.iter().map(|m| m.to_string()).collect()),
        require_pkce,
        ..Default::default()
    };
    let app = portal.app();
    let (client, secret) = app
        .db
        .with_tx(|tx| authportal::oidc::clients::create(tx, spec, app.clock.now()))
        .unwrap();
    Rp {
        id: client.client_id,
        secret,
    }
}

/// POSTs `fields` to a token-style endpoint, the client authenticating `how`:
/// "basic" (Authorization header), "post" (secret in the form) or "none" (id only).
fn call(op: &Op, path: &str, rp: &Rp, how: &str, fields: &[(&str, &str)]) -> Resp {
    call_in(&op.portal, path, rp, how, fields)
}

fn call_in(portal: &Portal, path: &str, rp: &Rp, how: &str, fields: &[(&str, &str)]) -> Resp {
    let secret = rp.secret.as_deref().unwrap_or("");
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    let basic = format!(
        "Basic {}",
        authportal::crypto::b64(format!("{}:{}", enc(&rp.id), enc(secret)).as_bytes())
    );
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    match how {
        "basic" => headers.push(("Authorization", &basic)),
        "post" => form.extend([("client_id", rp.id.as_str()), ("client_secret", secret)]),
        _ => form.push(("client_id", rp.id.as_str())),
    }
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    backend(portal).send("POST", path, &headers, Some(body.into_bytes()))
}

/// A plain HTTP client for an application's back channel (no browser Origin).
fn backend(portal: &Portal) -> Client {
    let c = Client::new(&portal.base);
    *c.origin.borrow_mut() = None;
    c
}

fn redeem(op: &Op, rp: &Rp, how: &str, code: &str, verifier: &str) -> Resp {
    call(
        op,
        "/oidc/token",
        rp,
        how,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
}

fn assert_refused(r: &Resp, how: &str) {
    assert_eq!(r.status, 401, "{how}: {}", r.body);
    assert_eq!(oauth_error(r), "invalid_client", "{how}");
    // RFC 6749 5.2: a client that tried HTTP Basic is told how to authenticate.
    assert_eq!(
        r.header("www-authenticate").is_some(),
        how == "basic",
        "{how}: {:?}",
        r.header("www-authenticate")
    );
}

#[test]
fn each_client_authenticates_only_the_way_it_is_registered() {
    let op = op(&[]);
    let user = op.user();
    for (methods, public, accepted, refused) in [
        (&["client_secret_basic"][..], false, "basic", "post"),
        (&["client_secret_post"][..], false, "post", "basic"),
        // A public client has no secret to post: an empty `client_secret=` is no secret
        // at all (RFC 6749 3.2), so the refused way is Basic.
        (&["none"][..], true, "none", "basic"),
    ] {
        let rp = register(&op, public, methods, None);
        let (verifier, challenge) = pkce();
        let code = get_code(&user, &rp, Some(&challenge));
        // Refused before the code is looked at: the same code still works afterwards.
        assert_refused(&redeem(&op, &rp, refused, &code, &verifier), refused);
        let ok = redeem(&op, &rp, accepted, &code, &verifier);
        assert_eq!(ok.status, 200, "{methods:?}: {}", ok.body);
        let t = ok.json();
        let access = t["access_token"].as_str().unwrap();

        // Introspection (confidential clients only) and revocation follow the same rule.
        if !public {
            let r = call(&op, "/oidc/introspect", &rp, refused, &[("token", access)]);
            assert_refused(&r, refused);
            let r = call(&op, "/oidc/introspect", &rp, accepted, &[("token", access)]);
            assert_eq!(r.json()["active"], true, "{methods:?}: {}", r.body);
        }
        let r = call(&op, "/oidc/revoke", &rp, refused, &[("token", access)]);
        assert_refused(&r, refused);
        let r = call(&op, "/oidc/revoke", &rp, accepted, &[("token", access)]);
        assert_eq!(r.status, 200, "{methods:?}: {}", r.body);
    }

    // A client may be registered for both secret methods (the default).
    let both = register(&op, false, &[], None);
    for how in ["basic", "post"] {
        let (verifier, challenge) = pkce();
        let code = get_code(&user, &both, Some(&challenge));
        assert_eq!(
            redeem(&op, &both, how, &code, &verifier).status,
            200,
            "{how}"
        );
    }
    // The wrong secret is refused whichever way it comes, and says nothing about methods.
    let basic_only = register(&op, false, &["client_secret_basic"], None);
    let wrong = Rp {
        id: basic_only.id.clone(),
        secret: Some("not-the-secret".into()),
    };
    let r = redeem(&op, &wrong, "post", "x", "y");
    assert_refused(&r, "post");
    assert!(!r.body.contains("client_secret_basic"), "{}", r.body);
}

#[test]
fn methods_must_fit_the_kind_of_client() {
    let op = op(&[("ADMIN_BOOTSTRAP_USERS", "alice")]);
    let admin = op.user();
    let post = |body: Value| admin.post_json("/api/admin/oauth/clients", &body);
    for (body, says) in [
        (
            json!({"name": "a", "redirect_uris": [REDIRECT], "token_endpoint_auth_methods": ["none"]}),
            "make the client public",
        ),
        (
            json!({"name": "a", "redirect_uris": [REDIRECT], "public": true, "token_endpoint_auth_methods": ["client_secret_post"]}),
            "only authentication method is none",
        ),
        (
            json!({"name": "a", "redirect_uris": [REDIRECT], "token_endpoint_auth_methods": ["private_key_jwt"]}),
            "unknown authentication method",
        ),
        (
            json!({"name": "a", "redirect_uris": [REDIRECT], "token_endpoint_auth_methods": []}),
            "at least one",
        ),
        (
            json!({"name": "a", "redirect_uris": [REDIRECT], "public": true, "require_pkce": false}),
            "always requires PKCE",
        ),
    ] {
        let r = post(body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        let msg = r.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains(says), "{body}: {msg}");
    }
    assert_eq!(op.portal.count("SELECT count(*) FROM oauth_clients"), 0);

    // Created with one method; an update that does not mention methods keeps it.
    let r = post(json!({"name": "a", "redirect_uris": [REDIRECT],
        "token_endpoint_auth_methods": ["client_secret_post"], "require_pkce": true}));
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    assert_eq!(
        created["token_endpoint_auth_methods"],
        json!(["client_secret_post"])
    );
    assert_eq!(created["require_pkce"], true);
    let id = created["client_id"].as_str().unwrap();
    let upd = crate::team::put(
        &admin,
        &format!("/api/admin/oauth/clients/{id}"),
        json!({"name": "b", "redirect_uris": [REDIRECT]}),
    );
    assert_eq!(upd.status, 200, "{}", upd.body);
    assert_eq!(
        upd.json()["token_endpoint_auth_methods"],
        json!(["client_secret_post"])
    );
    assert_eq!(upd.json()["require_pkce"], true);
    let upd = crate::team::put(
        &admin,
        &format!("/api/admin/oauth/clients/{id}"),
        json!({"name": "b", "redirect_uris": [REDIRECT], "require_pkce": false,
               "token_endpoint_auth_methods": ["client_secret_basic", "client_secret_post"]}),
    );
    assert_eq!(upd.json()["require_pkce"], false, "{}", upd.body);
    assert_eq!(
        upd.json()["token_endpoint_auth_methods"],
        json!(["client_secret_basic", "client_secret_post"])
    );
}

#[test]
fn pkce_is_required_or_optional_per_client() {
    let op = op(&[]);
    let user = op.user();
    let required = register(&op, false, &[], Some(true));
    let r = user.get(&authorize_path(&required, None, &[]));
    let p = redirect_params(&r);
    assert_eq!(p.get("error").map(String::as_str), Some("invalid_request"));
    assert!(p["error_description"].contains("PKCE"), "{p:?}");
    let (verifier, challenge) = pkce();
    let code = get_code(&user, &required, Some(&challenge));
    assert_eq!(
        redeem(&op, &required, "basic", &code, &verifier).status,
        200
    );

    // Optional: an app that sends no challenge (Jellyseerr, Portainer, Komga) gets a code;
    // one that sends a challenge is still held to it.
    let optional = register(&op, false, &[], Some(false));
    let code = get_code(&user, &optional, None);
    let r = call(
        &op,
        "/oidc/token",
        &optional,
        "basic",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let code = get_code(&user, &optional, Some(&challenge));
    let (other_verifier, _) = pkce();
    let r = redeem(&op, &optional, "basic", &code, &other_verifier);
    assert_eq!(oauth_error(&r), "invalid_grant");

    // Public clients always need it, whatever else was asked.
    let public = register(&op, true, &[], None);
    let r = user.get(&authorize_path(&public, None, &[]));
    assert_eq!(
        redirect_params(&r).get("error").map(String::as_str),
        Some("invalid_request")
    );
}

const MACHINE: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

/// A Plex portal where `owner` (tok-owner) and `friend` (tok-friend) may sign in.
fn plex_op() -> (FakePlex, Portal) {
    let fake = FakePlex::start();
    fake.add_account(
        PlexAccount::new(1, "owner", "tok-owner")
            .with_resources(vec![server_resource(MACHINE, "Hall", true)]),
    );
    fake.add_account(
        PlexAccount::new(2, "friend", "tok-friend")
            .with_resources(vec![server_resource(MACHINE, "Hall", false)]),
    );
    let url = fake.base_url();
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "plex"),
        ("PLEX_API_BASE", url.as_str()),
        ("PLEX_APP_BASE", url.as_str()),
        ("PLEX_SERVER_MACHINE_ID", MACHINE),
        ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
    ]);
    (fake, portal)
}

/// A browser signed in through Plex with `token`.
fn plex_user(fake: &FakePlex, portal: &Portal, token: &str) -> Client {
    let c = portal.client();
    c.use_fresh_ip();
    let r = c.post_json("/auth/start-web", &json!({"provider": "plex"}));
    let auth_url = r.json()["authUrl"].as_str().unwrap().to_string();
    let (_, frag) = auth_url.split_once("#?").unwrap();
    let code = url::form_urlencoded::parse(frag.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert!(fake.claim_pin(&code, token));
    assert_eq!(c.get("/auth/forward?provider=plex").status, 200);
    c
}

/// The token response for `user` at `rp` with these scopes.
fn tokens(portal: &Portal, user: &Client, rp: &Rp, scope: &str) -> Value {
    let (verifier, challenge) = pkce();
    let path = authorize_path(rp, Some(&challenge), &[]).replace(
        &format!(
            "scope={}",
            enc("openid profile email groups offline_access")
        ),
        &format!("scope={}", enc(scope)),
    );
    let r = user.get(&path);
    let code = redirect_params(&r)
        .get("code")
        .unwrap_or_else(|| panic!("no code: {} {:?}", r.status, r.header("location")))
        .clone();
    let r = call_in(
        portal,
        "/oidc/token",
        rp,
        "basic",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn trusted_client(portal: &Portal) -> Rp {
    let spec = authportal::oidc::clients::ClientSpec {
        name: "Grafana".into(),
        redirect_uris: vec![REDIRECT.into()],
        trusted: true,
        ..Default::default()
    };
    let app = portal.app();
    let (client, secret) = app
        .db
        .with_tx(|tx| authportal::oidc::clients::create(tx, spec, app.clock.now()))
        .unwrap();
    Rp {
        id: client.client_id,
        secret,
    }
}

#[test]
fn the_id_token_carries_what_grafana_reads_with_email_verified_and_a_picture() {
    let (fake, portal) = plex_op();
    let rp = trusted_client(&portal);
    let owner = plex_user(&fake, &portal, "tok-owner");
    let t = tokens(&portal, &owner, &rp, "openid profile email groups");
    let claims = claims_of(t["id_token"].as_str().unwrap());
    assert_eq!(claims["email"], "owner@example.test");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "owner");
    assert_eq!(claims["preferred_username"], "owner");
    assert_eq!(claims["groups"], json!(["plex-owner"]));
    let picture = claims["picture"].as_str().unwrap().to_string();
    let uuid = owner.get("/whoami").json()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let path = picture
        .strip_prefix(&portal.base)
        .unwrap_or_else(|| panic!("a portal URL: {picture}"));
    assert!(
        path.starts_with(&format!("/oidc/picture/{uuid}.")),
        "{path}"
    );
    // The media side is never named: not plex.tv, not the fake's address, no token.
    for leak in ["plex.tv", fake.base_url().as_str(), "tok-owner", "/avatar"] {
        assert!(!picture.contains(leak), "{picture} names {leak}");
    }
    // The userinfo endpoint says the same.
    let info = backend(&portal).send(
        "GET",
        "/oidc/userinfo",
        &[(
            "Authorization",
            &format!("Bearer {}", t["access_token"].as_str().unwrap()),
        )],
        None,
    );
    assert_eq!(info.json()["picture"], picture.as_str());
    assert_eq!(info.json()["email_verified"], true);

    // Each scope releases its own claims.
    let t = tokens(&portal, &owner, &rp, "openid email");
    let c = claims_of(t["id_token"].as_str().unwrap());
    assert_eq!(c["email_verified"], true);
    assert!(c.get("picture").is_none() && c.get("name").is_none(), "{c}");
    let t = tokens(&portal, &owner, &rp, "openid profile");
    let c = claims_of(t["id_token"].as_str().unwrap());
    assert!(
        c.get("email").is_none() && c.get("email_verified").is_none(),
        "{c}"
    );
    assert_eq!(c["picture"], picture.as_str());

    // Served by the portal, to anyone holding the URL (apps show it in <img>).
    fake.clear_requests();
    let r = backend(&portal).get(path);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.bytes, AVATAR_PNG);
    let fetched: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|q| q.path.ends_with("/avatar"))
        .collect();
    assert_eq!(fetched.len(), 1);
    assert!(
        fetched[0].header("x-plex-token").is_none() && !fetched[0].query.contains("Token"),
        "the avatar is fetched without the user's token: {:?}",
        fetched[0]
    );

    // Another user's picture URL cannot be made from this one.
    let friend = plex_user(&fake, &portal, "tok-friend");
    let friend_uuid = friend.get("/whoami").json()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let tag = path.rsplit('.').next().unwrap();
    for key in [
        format!("{friend_uuid}.{tag}"),
        format!("{uuid}.{}", tag.replace(|c: char| c != 'A', "A")),
        uuid.clone(),
        format!("{uuid}."),
        format!("{}.{tag}", enc("https://plex.tv/users/1/avatar")),
    ] {
        let r = backend(&portal).get(&format!("/oidc/picture/{key}"));
        assert_eq!(r.status, 404, "{key}: {}", r.body);
    }
    let t = tokens(&portal, &friend, &rp, "openid profile");
    let friend_picture = claims_of(t["id_token"].as_str().unwrap())["picture"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(friend_picture.contains(&friend_uuid) && friend_picture != picture);
    assert_eq!(
        backend(&portal)
            .get(friend_picture.strip_prefix(&portal.base).unwrap())
            .status,
        200
    );

    // A user who lost access has no picture served any more.
    portal
        .db()
        .execute("UPDATE users SET disabled_at = 1 WHERE uuid = ?1", [&uuid])
        .unwrap();
    assert_eq!(backend(&portal).get(path).status, 404);
}

#[test]
fn no_picture_claim_without_an_avatar() {
    let op = op(&[]);
    let rp = trusted_client(&op.portal);
    let user = op.user();
    let t = tokens(&op.portal, &user, &rp, "openid profile email");
    let c = claims_of(t["id_token"].as_str().unwrap());
    assert_eq!(c["name"], "alice");
    assert!(c.get("picture").is_none(), "{c}");
    assert!(
        c.get("email").is_none() && c.get("email_verified").is_none(),
        "{c}"
    );
}

/// The app's whole code flow the way a preset says it works: its first redirect URI,
/// PKCE only when required, its first authentication method. Returns the token response.
fn app_flow(op: &Op, user: &Client, client: &Value, secret: Option<&str>) -> Resp {
    let id = client["client_id"].as_str().unwrap();
    let redirect = client["redirect_uris"][0].as_str().unwrap();
    let scope: Vec<&str> = client["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let (verifier, challenge) = pkce();
    let mut path = format!(
        "/oidc/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state=s",
        enc(id),
        enc(redirect),
        enc(&scope.join(" "))
    );
    let with_pkce = client["require_pkce"] == true;
    if with_pkce {
        path.push_str(&format!(
            "&code_challenge={challenge}&code_challenge_method=S256"
        ));
    }
    let mut r = user.get(&path);
    if r.status == 200 {
        let fields = crate::oidc::hidden_fields(&r.body);
        let mut form: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form.push(("decision", "allow"));
        r = user.post_form("/oidc/authorize/decision", &form);
    }
    let loc = r.header("location").unwrap_or_default().to_string();
    assert!(loc.starts_with(redirect), "{loc}");
    let code = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap_or_else(|| panic!("no code: {loc}"))
        .1
        .into_owned();
    let how = match client["token_endpoint_auth_methods"][0].as_str().unwrap() {
        "client_secret_basic" => "basic",
        "client_secret_post" => "post",
        _ => "none",
    };
    let rp = Rp {
        id: id.to_string(),
        secret: secret.map(str::to_string),
    };
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
    ];
    if with_pkce {
        fields.push(("code_verifier", &verifier));
    }
    call(op, "/oidc/token", &rp, how, &fields)
}

#[test]
fn every_preset_creates_the_client_its_app_needs() {
    use authportal::oidc::presets::PRESETS;
    let op = op(&[("ADMIN_BOOTSTRAP_USERS", "alice")]);
    let admin = op.user();
    for p in PRESETS {
        let app_url = format!("https://{}.home.example/", p.key);
        let r = admin.post_json(
            "/api/admin/oauth/clients",
            &json!({"name": p.name, "preset": p.key, "app_url": app_url}),
        );
        assert_eq!(r.status, 201, "{}: {}", p.key, r.body);
        let c = r.json();
        let base = app_url.trim_end_matches('/');
        let redirects: Vec<String> = p
            .redirect_uris
            .iter()
            .map(|u| u.replace("{app}", base))
            .collect();
        assert_eq!(c["redirect_uris"], json!(redirects), "{}", p.key);
        assert_eq!(c["preset"], p.key, "{}", p.key);
        assert_eq!(c["public"], p.public, "{}", p.key);
        assert_eq!(c["client_secret"].is_string(), !p.public, "{}", p.key);
        assert_eq!(
            c["token_endpoint_auth_methods"],
            json!(p.auth_methods),
            "{}",
            p.key
        );
        assert_eq!(c["require_pkce"], p.pkce_required, "{}", p.key);
        assert_eq!(c["scopes"], json!(p.scopes), "{}", p.key);
        assert_eq!(c["grant_types"], json!(p.grant_types), "{}", p.key);
        // The values to paste: every setting, with this client's id (and secret) filled in.
        let settings = c["setup"]["preset"]["settings"].as_array().unwrap();
        assert_eq!(settings.len(), p.settings.len(), "{}", p.key);
        let text = c["setup"].to_string();
        assert!(
            text.contains(c["client_id"].as_str().unwrap()),
            "{}: {text}",
            p.key
        );
        if let Some(secret) = c["client_secret"].as_str() {
            assert!(text.contains(secret), "{}: the secret, shown once", p.key);
        }
        assert!(!text.contains('%'), "{}: a placeholder left: {text}", p.key);
        assert_eq!(
            c["setup"]["endpoints"]["Issuer"], op.portal.base,
            "{}",
            p.key
        );
        // And the flow works the way the app does it.
        let t = app_flow(&op, &admin, &c, c["client_secret"].as_str());
        assert_eq!(t.status, 200, "{}: {}", p.key, t.body);
        assert!(t.json()["id_token"].is_string(), "{}", p.key);
        assert_eq!(
            t.json()["refresh_token"].is_string(),
            p.scopes.contains(&"offline_access"),
            "{}",
            p.key
        );
    }
}

#[test]
fn presets_are_refused_by_name_and_need_an_address() {
    let op = op(&[("ADMIN_BOOTSTRAP_USERS", "alice")]);
    let admin = op.user();
    let post = |body: Value| admin.post_json("/api/admin/oauth/clients", &body);
    let r = post(json!({"name": "x", "preset": "gitlab", "app_url": "https://x.example"}));
    assert_eq!(r.status, 400);
    let msg = r.json()["error"].as_str().unwrap().to_string();
    assert!(
        msg.contains("unknown preset") && msg.contains("grafana"),
        "{msg}"
    );
    for bad in [
        "javascript:alert(1)",
        "grafana.example.com",
        "https://g.example/?x=1",
    ] {
        let r = post(json!({"name": "x", "preset": "grafana", "app_url": bad}));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let r = post(json!({"name": "x", "preset": "grafana"}));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("app_url"), "{}", r.body);
    let r = post(json!({"name": "x", "redirect_uris": [REDIRECT], "app_url": "https://x.example"}));
    assert_eq!(r.status, 400, "an address without a preset means nothing");
    // Explicit values win over the preset's.
    let r = post(
        json!({"name": "G", "preset": "grafana", "redirect_uris": [REDIRECT],
        "require_pkce": false, "token_endpoint_auth_methods": ["client_secret_post"]}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["redirect_uris"], json!([REDIRECT]));
    assert_eq!(r.json()["require_pkce"], false);
    assert_eq!(
        r.json()["token_endpoint_auth_methods"],
        json!(["client_secret_post"])
    );
    assert_eq!(op.portal.count("SELECT count(*) FROM oauth_clients"), 1);
    // A public client from a confidential app's preset keeps a public client's rules.
    let r2 = post(json!({"name": "P", "preset": "jellyseerr", "public": true,
        "redirect_uris": ["https://requests.example/cb"]}));
    assert_eq!(r2.status, 201, "{}", r2.body);
    assert_eq!(r2.json()["token_endpoint_auth_methods"], json!(["none"]));
    assert_eq!(r2.json()["require_pkce"], true);

    // The client page shows the issuer, discovery URL and endpoints with copy buttons,
    // and the preset's settings without the secret.
    let id = r.json()["client_id"].as_str().unwrap().to_string();
    let secret = r.json()["client_secret"].as_str().unwrap().to_string();
    let page = admin.get(&format!("/admin/clients/{id}"));
    assert_eq!(page.status, 200);
    for shown in [
        op.portal.base.clone(),
        format!("{}/.well-known/openid-configuration", op.portal.base),
        format!("{}/oidc/token", op.portal.base),
        "Settings for Grafana".to_string(),
        "role_attribute_path".to_string(),
        "data-copy=\"endpoint-1\"".to_string(),
        "name=\"allowed_groups\"".to_string(),
    ] {
        assert!(page.body.contains(&shown), "{shown}");
    }
    assert!(
        !page.body.contains(&secret),
        "the secret is shown only at creation"
    );
    // The create form offers every preset.
    let form = admin.get("/admin/clients");
    for p in authportal::oidc::presets::PRESETS {
        assert!(
            form.body.contains(&format!("value=\"{}\"", p.key)),
            "{}",
            p.key
        );
    }
}

fn cli(op: &Op, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
        .args(args)
        .envs(
            op.portal
                .vars
                .iter()
                .filter(|(k, _)| k.as_str() != "LISTEN_ADDR"),
        )
        .output()
        .unwrap()
}

#[test]
fn the_cli_takes_the_per_client_options_and_presets() {
    let op = op(&[]);
    let out = cli(
        &op,
        &[
            "oauth-client",
            "create",
            "--name",
            "Jelly",
            "--preset",
            "jellyfin",
            "--app-url",
            "https://jf.example",
            "--allowed-group",
            "family",
            "--allowed-group",
            "admins",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["redirect_uris"],
        json!(["https://jf.example/sso/OID/redirect/authportal"])
    );
    assert_eq!(
        v["token_endpoint_auth_methods"],
        json!(["client_secret_post"])
    );
    assert_eq!(v["require_pkce"], true);
    assert_eq!(v["allowed_groups"], json!(["family", "admins"]));
    let settings = v["setup"]["preset"]["settings"].to_string();
    assert!(
        settings.contains("OID Endpoint")
            && settings.contains(v["client_secret"].as_str().unwrap())
    );

    let out = cli(
        &op,
        &[
            "oauth-client",
            "create",
            "--name",
            "Plain",
            "--redirect-uri",
            REDIRECT,
            "--auth-method",
            "client_secret_basic",
            "--pkce",
            "optional",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["token_endpoint_auth_methods"],
        json!(["client_secret_basic"])
    );
    assert_eq!(v["require_pkce"], false);
    assert_eq!(v["setup"]["preset"], Value::Null);
    assert_eq!(
        v["setup"]["endpoints"]["Discovery URL"],
        format!("{}/.well-known/openid-configuration", op.portal.base)
    );

    let before = op.portal.count("SELECT count(*) FROM oauth_clients");
    for (args, says) in [
        (
            vec!["--preset", "nope"],
            "known presets: jellyfin, jellyseerr",
        ),
        (vec!["--preset"], "--preset needs a value"),
        (
            vec!["--pkce", "sometimes"],
            "--pkce must be required or optional",
        ),
        (
            vec!["--auth-method", "client_secret_jwt"],
            "unknown authentication method",
        ),
        (vec!["--frobnicate"], "unknown option --frobnicate"),
    ] {
        let mut all = vec![
            "oauth-client",
            "create",
            "--name",
            "x",
            "--redirect-uri",
            REDIRECT,
        ];
        all.extend(args.iter());
        let out = cli(&op, &all);
        let err = String::from_utf8_lossy(&out.stderr);
        let code = if says.starts_with("unknown authentication") {
            1
        } else {
            2
        };
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(
        op.portal.count("SELECT count(*) FROM oauth_clients"),
        before
    );
}

#[test]
fn a_jellyfin_picture_is_served_through_the_portal() {
    let jf = crate::fakes::jellyfin::FakeJellyfin::start(crate::fakes::jellyfin::Mode::Jellyfin);
    jf.add_user(crate::fakes::jellyfin::FakeUser {
        image_tag: Some("4f2a9c".into()),
        ..crate::fakes::jellyfin::FakeUser::new("bea", "pw")
    });
    let portal = crate::media::jellyfin_portal(&jf, &[("TRUSTED_PROXY_CIDRS", "127.0.0.1")]);
    let rp = trusted_client(&portal);
    let user = portal.client();
    assert_eq!(
        crate::media::sign_in(&user, "jellyfin", "bea", "pw").status,
        303
    );
    let t = tokens(&portal, &user, &rp, "openid profile");
    let picture = claims_of(t["id_token"].as_str().unwrap())["picture"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!picture.contains(&jf.base_url()), "{picture}");
    let r = backend(&portal).get(picture.strip_prefix(&portal.base).unwrap());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.bytes, AVATAR_PNG);
}
