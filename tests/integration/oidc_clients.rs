//! Per-client OpenID Connect settings through the real server: the token endpoint
//! authentication method, PKCE required or optional, app presets, the claims the ID
//! token carries, the picture URL, and the CLI's flags for all of them.

use serde_json::{Value, json};

use crate::harness::Resp;
use crate::oidc::{
    Op, REDIRECT, Rp, authorize_path, enc, get_code, oauth_error, op, pkce, redirect_params,
};

/// A client registered with these authentication methods and PKCE setting.
fn register(op: &Op, public: bool, methods: &[&str], require_pkce: Option<bool>) -> Rp {
    let spec = authportal::oidc::clients::ClientSpec {
        name: "Per-client App".into(),
        redirect_uris: vec![REDIRECT.into()],
        public,
        token_endpoint_auth_methods: (!methods.is_empty())
            .then(|| methods.iter().map(|m| m.to_string()).collect()),
        require_pkce,
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
}

/// POSTs `fields` to a token-style endpoint, the client authenticating `how`:
/// "basic" (Authorization header), "post" (secret in the form) or "none" (id only).
fn call(op: &Op, path: &str, rp: &Rp, how: &str, fields: &[(&str, &str)]) -> Resp {
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
    op.backend()
        .send("POST", path, &headers, Some(body.into_bytes()))
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
        (&["none"][..], true, "none", "post"),
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
        assert_eq!(redeem(&op, &both, how, &code, &verifier).status, 200, "{how}");
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
    assert_eq!(created["token_endpoint_auth_methods"], json!(["client_secret_post"]));
    assert_eq!(created["require_pkce"], true);
    let id = created["client_id"].as_str().unwrap();
    let upd = crate::team::put(
        &admin,
        &format!("/api/admin/oauth/clients/{id}"),
        json!({"name": "b", "redirect_uris": [REDIRECT]}),
    );
    assert_eq!(upd.status, 200, "{}", upd.body);
    assert_eq!(upd.json()["token_endpoint_auth_methods"], json!(["client_secret_post"]));
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
    assert_eq!(redeem(&op, &required, "basic", &code, &verifier).status, 200);

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
