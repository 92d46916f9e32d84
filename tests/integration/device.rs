//! The device authorization grant (RFC 8628) through the real server: a TV's request,
//! every polling answer, the person's part at /device (sign-in, review, allow or deny,
//! wrong codes rate limited), access and groups checked twice, the QR code, events.
//! The grant driven by a client library the project did not write is oidc_rp.rs.

use serde_json::{Value, json};

use crate::fair_share::{FLOOD_48, Flood, evictions, fill_device_codes, held_by};
use crate::harness::{Client, Resp};
use crate::team::{self, Setup};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

struct Tv {
    id: String,
    secret: Option<String>,
}

fn register(s: &Setup, public: bool, allowed_groups: Option<Vec<String>>) -> Tv {
    let spec = authportal::oidc::clients::ClientSpec {
        name: "Living Room TV".into(),
        public,
        device: true,
        allowed_groups,
        ..Default::default()
    };
    let app = s.portal.app();
    let (client, secret) = app
        .db
        .with_tx(|tx| authportal::oidc::clients::create(tx, spec, app.clock.now()))
        .unwrap();
    Tv {
        id: client.client_id,
        secret,
    }
}

/// The TV's own HTTP client: no browser, no Origin.
fn tv_http(s: &Setup) -> Client {
    let c = Client::new(&s.portal.base);
    *c.origin.borrow_mut() = None;
    c
}

fn start(s: &Setup, tv: &Tv, scope: &str) -> Value {
    let r = tv_http(s).post_form(
        "/oidc/device_authorization",
        &[("client_id", tv.id.as_str()), ("scope", scope)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

fn poll(s: &Setup, tv: &Tv, device_code: &str) -> Resp {
    tv_http(s).post_form(
        "/oidc/token",
        &[
            ("grant_type", GRANT),
            ("device_code", device_code),
            ("client_id", tv.id.as_str()),
        ],
    )
}

/// The OAuth error of a refused poll, after checking its status.
fn refused(r: &Resp, status: u16) -> String {
    assert_eq!(r.status, status, "{}", r.body);
    r.json()["error"].as_str().unwrap().to_string()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn decide(c: &Client, user_code: &str, decision: &str) -> Resp {
    c.post_form(
        "/device",
        &[("user_code", user_code), ("decision", decision)],
    )
}

fn claims_of(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&authportal::crypto::b64url_decode(payload).unwrap()).unwrap()
}

fn count(s: &Setup, sql: &str) -> i64 {
    s.portal.count(sql)
}

#[test]
fn device_discovery_names_the_endpoint_and_the_grant() {
    let s = team::setup(&[]);
    let doc = s
        .portal
        .client()
        .get("/.well-known/openid-configuration")
        .json();
    assert_eq!(
        doc["device_authorization_endpoint"],
        format!("{}/oidc/device_authorization", s.portal.base)
    );
    let grants = doc["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!(GRANT)), "{grants:?}");
}

#[test]
fn device_codes_go_only_to_clients_that_opted_in() {
    let s = team::setup(&[]);
    let tv = register(&s, true, None);
    let body = start(&s, &tv, "openid profile");
    let user_code = body["user_code"].as_str().unwrap();
    let letters = "BCDFGHJKLMNPQRSTVWXZ";
    assert_eq!(user_code.len(), 9, "{user_code}");
    for (i, ch) in user_code.chars().enumerate() {
        assert!(
            if i == 4 {
                ch == '-'
            } else {
                letters.contains(ch)
            },
            "{user_code}"
        );
    }
    assert_eq!(
        body["verification_uri"],
        format!("{}/device", s.portal.base)
    );
    assert_eq!(
        body["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", s.portal.base)
    );
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["interval"], 5);
    // Only digests are kept.
    let device_code = body["device_code"].as_str().unwrap();
    let (dd, ud): (Vec<u8>, Vec<u8>) = s
        .portal
        .db()
        .query_row(
            "SELECT device_digest, user_digest FROM device_codes",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        dd,
        authportal::crypto::sha256(device_code.as_bytes()).to_vec()
    );
    assert_eq!(
        ud,
        authportal::crypto::sha256(user_code.replace('-', "").as_bytes()).to_vec()
    );

    // A client without the grant: unauthorized_client, at the device endpoint and when
    // polling.
    let web = authportal::oidc::clients::ClientSpec {
        name: "Web app".into(),
        redirect_uris: vec!["https://app.example.com/cb".into()],
        public: true,
        ..Default::default()
    };
    let app = s.portal.app();
    let (web, _) = app
        .db
        .with_tx(|tx| authportal::oidc::clients::create(tx, web, app.clock.now()))
        .unwrap();
    let web = Tv {
        id: web.client_id,
        secret: None,
    };
    let r = tv_http(&s).post_form(
        "/oidc/device_authorization",
        &[("client_id", web.id.as_str())],
    );
    assert_eq!(refused(&r, 400), "unauthorized_client");
    assert_eq!(
        refused(&poll(&s, &web, device_code), 400),
        "unauthorized_client"
    );
    // Unknown client, no client, a repeated parameter, no scope the client may have.
    let r = tv_http(&s).post_form("/oidc/device_authorization", &[("client_id", "ap-nobody")]);
    assert_eq!(refused(&r, 401), "invalid_client");
    let r = tv_http(&s).post_form("/oidc/device_authorization", &[("scope", "openid")]);
    assert_eq!(refused(&r, 401), "invalid_client");
    let r = tv_http(&s).post_form(
        "/oidc/device_authorization",
        &[("client_id", tv.id.as_str()), ("client_id", tv.id.as_str())],
    );
    assert_eq!(refused(&r, 400), "invalid_request");
    let r = tv_http(&s).post_form(
        "/oidc/device_authorization",
        &[("client_id", tv.id.as_str()), ("scope", "admin")],
    );
    assert_eq!(refused(&r, 400), "invalid_scope");
    assert_eq!(count(&s, "SELECT count(*) FROM device_codes"), 1);

    // A confidential device client authenticates as at the token endpoint.
    let conf = register(&s, false, None);
    let r = tv_http(&s).post_form(
        "/oidc/device_authorization",
        &[("client_id", conf.id.as_str())],
    );
    assert_eq!(refused(&r, 401), "invalid_client");
    let basic = authportal::crypto::b64(format!("{}:{}", conf.id, conf.secret.unwrap()).as_bytes());
    let r = tv_http(&s).send(
        "POST",
        "/oidc/device_authorization",
        &[
            ("Authorization", &format!("Basic {basic}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(b"scope=openid".to_vec()),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // The console makes device clients too (its create form has the box): no redirect
    // URI needed.
    let root = s.user("root", "toor");
    let form = root.get("/admin/clients");
    assert!(
        form.body
            .contains(r#"id="c-device" type="checkbox" name="device""#),
        "{}",
        form.body
    );
    let r = root.post_json(
        "/api/admin/oauth/clients",
        &json!({ "name": "Roku", "redirect_uris": [], "public": true, "device": true }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["device"], true);
    assert_eq!(r.json()["grant_types"], json!(["refresh_token", GRANT]));
    let list = root.get("/admin/clients");
    assert!(list.body.contains("public · devices"), "{}", list.body);
    let r = root.post_json(
        "/api/admin/oauth/clients",
        &json!({ "name": "Nothing", "redirect_uris": [], "public": true }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("redirect URI"), "{}", r.body);
}

#[test]
fn device_is_approved_at_device_and_polls_through_every_answer() {
    let s = team::setup(&[]);
    let clock = &s.portal.app().clock;
    clock.freeze();
    let tv = register(&s, true, None);
    let body = start(&s, &tv, "openid profile groups offline_access");
    let device_code = body["device_code"].as_str().unwrap();
    let user_code = body["user_code"].as_str().unwrap();

    // Pending; polled again at once: slow_down, and the interval grows by 5 s each time.
    assert_eq!(
        refused(&poll(&s, &tv, device_code), 400),
        "authorization_pending"
    );
    assert_eq!(refused(&poll(&s, &tv, device_code), 400), "slow_down");
    clock.advance(9);
    assert_eq!(refused(&poll(&s, &tv, device_code), 400), "slow_down");
    clock.advance(15);
    assert_eq!(
        refused(&poll(&s, &tv, device_code), 400),
        "authorization_pending"
    );
    assert_eq!(count(&s, "SELECT interval_secs FROM device_codes"), 15);

    // The person opens the complete URI: sign in first, then back to the code.
    let phone = s.portal.client();
    phone.use_fresh_ip();
    let r = phone.get(&format!("/device?user_code={user_code}"));
    assert_eq!(r.status, 303);
    let to_sign_in = r.header("location").unwrap().to_string();
    let rd = format!("/device?user_code={user_code}");
    assert_eq!(to_sign_in, format!("/?rd={}", enc(&rd)));
    let r = phone.post_form(
        "/auth/forward?provider=jellyfin",
        &[
            ("username", "alice"),
            ("password", "wonderland"),
            ("rd", &rd),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(rd.as_str()));
    // Typed in another case, without the dash: the same code.
    let typed = user_code.replace('-', "").to_lowercase();
    let r = phone.get(&format!("/device?user_code={typed}"));
    assert_eq!(r.status, 200, "{}", r.body);
    for text in [
        "Living Room TV",
        "Only approve a device you are holding",
        r#"<form method="post" action="/device">"#,
        &format!(r#"name="user_code" value="{user_code}""#),
        r#"name="decision" value="allow""#,
        r#"name="decision" value="deny""#,
        "The groups you belong to",
    ] {
        assert!(r.body.contains(text), "{text}: {}", r.body);
    }
    // The form is CSRF-checked like every other: another site's post changes nothing.
    *phone.origin.borrow_mut() = Some("https://evil.example".into());
    let r = decide(&phone, user_code, "allow");
    *phone.origin.borrow_mut() = Some(s.portal.base.clone());
    assert_eq!(r.status, 403, "{}", r.body);
    let r = decide(&phone, user_code, "maybe");
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("decision must be allow or deny"),
        "{}",
        r.body
    );
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM device_codes WHERE status = 'pending'"
        ),
        1
    );

    let r = decide(&phone, user_code, "allow");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("is signed in"), "{}", r.body);
    // Decided once.
    assert_eq!(decide(&phone, user_code, "deny").status, 400);

    clock.advance(15);
    let r = poll(&s, &tv, device_code);
    assert_eq!(r.status, 200, "{}", r.body);
    let t = r.json();
    assert!(t["access_token"].is_string());
    assert!(
        t["refresh_token"].is_string(),
        "offline_access gives a refresh token"
    );
    assert_eq!(t["scope"], "openid profile groups offline_access");
    let claims = claims_of(t["id_token"].as_str().unwrap());
    assert_eq!(claims["aud"], tv.id);
    assert_eq!(claims["sub"], s.uuid(&phone));
    assert_eq!(claims["preferred_username"], "alice");
    assert!(claims.get("nonce").is_none(), "{claims}");
    assert!(
        claims.get("sid").is_none(),
        "not bound to the phone's session"
    );
    // Redeemed once.
    clock.advance(15);
    assert_eq!(refused(&poll(&s, &tv, device_code), 400), "invalid_grant");
    let r = tv_http(&s).send(
        "GET",
        "/oidc/userinfo",
        &[(
            "Authorization",
            &format!("Bearer {}", t["access_token"].as_str().unwrap()),
        )],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // The phone signing out does not sign the TV out.
    assert_eq!(phone.post_form("/logout", &[]).status, 303);
    let refresh = |token: &str| {
        tv_http(&s).post_form(
            "/oidc/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", token),
                ("client_id", tv.id.as_str()),
            ],
        )
    };
    let r = refresh(t["refresh_token"].as_str().unwrap());
    assert_eq!(r.status, 200, "{}", r.body);
    let rotated = r.json()["refresh_token"].as_str().unwrap().to_string();
    // The approval is a consent: withdrawn from /home, the TV is signed out.
    assert_eq!(count(&s, "SELECT count(*) FROM oauth_consents"), 1);
    let alice = s.user("alice", "wonderland");
    let r = alice.post_form("/consents/revoke", &[("client_id", tv.id.as_str())]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(refused(&refresh(&rotated), 400), "invalid_grant");

    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'device.approved'"
        ),
        1
    );
    assert_eq!(
        count(
            &s,
            &format!(
                "SELECT count(*) FROM events WHERE type = 'token.issued' AND detail_json LIKE '%{GRANT}%'"
            )
        ),
        1
    );
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'consent.revoked'"
        ),
        1
    );
}

#[test]
fn device_denied_gets_access_denied_and_an_expired_code_expired_token() {
    let s = team::setup(&[]);
    let clock = &s.portal.app().clock;
    clock.freeze();
    let tv = register(&s, true, None);
    let alice = s.user("alice", "wonderland");

    let denied = start(&s, &tv, "openid");
    let r = decide(&alice, denied["user_code"].as_str().unwrap(), "deny");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("was not signed in"), "{}", r.body);
    let code = denied["device_code"].as_str().unwrap();
    assert_eq!(refused(&poll(&s, &tv, code), 400), "access_denied");
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'device.denied'"
        ),
        1
    );
    assert_eq!(count(&s, "SELECT count(*) FROM oauth_consents"), 0);

    let late = start(&s, &tv, "openid");
    clock.advance(601);
    let code = late["device_code"].as_str().unwrap();
    assert_eq!(refused(&poll(&s, &tv, code), 400), "expired_token");
    // Too late to approve, too.
    let r = decide(&alice, late["user_code"].as_str().unwrap(), "allow");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("expired"), "{}", r.body);
    // Unknown codes, and a code of another client.
    assert_eq!(refused(&poll(&s, &tv, "nonsense"), 400), "invalid_grant");
    let other = register(&s, true, None);
    let fresh = start(&s, &tv, "openid");
    let code = fresh["device_code"].as_str().unwrap();
    assert_eq!(refused(&poll(&s, &other, code), 400), "invalid_grant");
    let r = tv_http(&s).post_form(
        "/oidc/token",
        &[("grant_type", GRANT), ("client_id", tv.id.as_str())],
    );
    assert_eq!(refused(&r, 400), "invalid_request");

    // The janitor sweeps what expired (kept a while for devices polling late).
    clock.advance(601 + authportal::db::devices::KEPT_AFTER_EXPIRY_SECS);
    authportal::janitor::sweep(s.portal.app());
    assert_eq!(count(&s, "SELECT count(*) FROM device_codes"), 0);
}

#[test]
fn device_wrong_codes_are_rate_limited_per_session_and_per_address() {
    let s = team::setup(&[]);
    let tv = register(&s, true, None);
    let good = start(&s, &tv, "openid");
    let good = good["user_code"].as_str().unwrap();
    let alice = s.user("alice", "wonderland");
    // A code found is no guess: reviewing the real one costs nothing.
    for _ in 0..12 {
        assert_eq!(alice.get(&format!("/device?user_code={good}")).status, 200);
    }
    for i in 0..10 {
        let r = alice.get(&format!("/device?user_code=BCDF-GHJ{}", ["K", "L"][i % 2]));
        assert_eq!(r.status, 400, "guess {i}: {}", r.body);
        assert!(r.body.contains("unknown"), "{}", r.body);
    }
    let r = alice.get("/device?user_code=BCDF-GHJM");
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    // Even the right code waits now, and posting guesses counts the same.
    assert_eq!(alice.get(&format!("/device?user_code={good}")).status, 429);
    assert_eq!(decide(&alice, good, "allow").status, 429);
    // The same session from another address: still the session's limit.
    alice.use_fresh_ip();
    assert_eq!(alice.get("/device?user_code=BCDF-GHJN").status, 429);
    // Another session from a guessing address: the address's limit.
    let vera = s.user("vera", "viewer");
    let guessing_ip = vera.extra_headers.borrow().clone();
    for _ in 0..10 {
        assert_eq!(vera.get("/device?user_code=ZZZZ-ZZZZ").status, 400);
    }
    let root = s.user("root", "toor");
    root.extra_headers.replace(guessing_ip);
    assert_eq!(root.get("/device?user_code=ZZZZ-ZZZZ").status, 429);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM device_codes WHERE status = 'pending'"
        ),
        1
    );
}

#[test]
fn device_access_and_groups_are_checked_at_approval_and_at_token_issue() {
    let s = team::setup(&[]);
    let clock = &s.portal.app().clock;
    clock.freeze();
    let family_only = register(&s, true, Some(vec!["family".into()]));
    let alice = s.user("alice", "wonderland");
    let req = start(&s, &family_only, "openid");
    let r = decide(&alice, req["user_code"].as_str().unwrap(), "allow");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("only members of family"), "{}", r.body);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM device_codes WHERE status = 'pending'"
        ),
        1
    );
    // An admin puts alice in the group: she may approve; then takes her out before the
    // TV polls: no tokens.
    let root = s.user("root", "toor");
    let groups = format!("/api/admin/users/{}/groups", s.uuid(&alice));
    assert_eq!(
        team::put(&root, &groups, json!({ "groups": ["family"] })).status,
        200
    );
    assert_eq!(
        decide(&alice, req["user_code"].as_str().unwrap(), "allow").status,
        200
    );
    assert_eq!(
        team::put(&root, &groups, json!({ "groups": [] })).status,
        200
    );
    let code = req["device_code"].as_str().unwrap();
    assert_eq!(refused(&poll(&s, &family_only, code), 400), "invalid_grant");

    // Approved, then the account is disabled before the poll: no tokens.
    let tv = register(&s, true, None);
    let req = start(&s, &tv, "openid");
    assert_eq!(
        decide(&alice, req["user_code"].as_str().unwrap(), "allow").status,
        200
    );
    let r = root.post_json(
        &format!("/api/admin/users/{}/disable", s.uuid(&alice)),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let code = req["device_code"].as_str().unwrap();
    assert_eq!(refused(&poll(&s, &tv, code), 400), "invalid_grant");
    assert_eq!(count(&s, "SELECT count(*) FROM oauth_tokens"), 0);
}

#[test]
fn device_sign_in_at_device_passes_the_second_factor() {
    let s = team::setup(&[]);
    let tv = register(&s, true, None);
    let req = start(&s, &tv, "openid");
    let user_code = req["user_code"].as_str().unwrap();
    // alice sets up a second factor, then signs in again on her phone via /device.
    let alice = s.user("alice", "wonderland");
    let secret = s.portal.enrol_totp(&alice);
    assert_eq!(alice.post_form("/logout", &[]).status, 303);

    let rd = format!("/device?user_code={user_code}");
    let r = sign_in_with_rd(&alice, &rd);
    assert_eq!(r.header("location"), Some("/mfa/challenge"));
    // The password alone is no session: /device still sends the person to sign in.
    assert_eq!(alice.get(&rd).status, 303);
    assert_eq!(decide(&alice, user_code, "allow").status, 303);
    s.portal.app().clock.advance(30);
    let now = s.portal.app().clock.now();
    let r = alice.post_form(
        "/mfa/challenge/verify",
        &[("code", &crate::totp_ref::code(&secret, now))],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(rd.as_str()));
    assert_eq!(decide(&alice, user_code, "allow").status, 200);
    let r = poll(&s, &tv, req["device_code"].as_str().unwrap());
    assert_eq!(r.status, 200, "{}", r.body);
    let claims = claims_of(r.json()["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));
}

fn sign_in_with_rd(c: &Client, rd: &str) -> Resp {
    let r = c.post_form(
        "/auth/forward?provider=jellyfin",
        &[
            ("username", "alice"),
            ("password", "wonderland"),
            ("rd", rd),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    r
}

#[test]
fn device_qr_is_an_svg_of_the_complete_uri_for_any_well_formed_code() {
    let s = team::setup(&[]);
    let c = s.portal.client();
    let r = c.get("/device/qr?user_code=bcdf-ghjk");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert!(r.body.starts_with("<svg"), "{}", r.body);
    // Well-formed but unknown codes are drawn too: the QR endpoint answers no guesses.
    assert_eq!(c.get("/device/qr?user_code=ZZZZZZZZ").status, 200);
    for bad in [
        "",
        "?user_code=",
        "?user_code=AEIO-UUUU",
        "?user_code=BCDF-GHJ",
    ] {
        let r = c.get(&format!("/device/qr{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    // Signed out, /device sends people to sign in and back.
    let r = c.get("/device");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/?rd=%2Fdevice"));
    let alice = s.user("alice", "wonderland");
    let r = alice.get("/device");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(r#"name="user_code""#), "{}", r.body);
}

/// openid-client (tests/e2e/device.mjs) runs the grant as the TV while headless Chromium
/// signs in at /device and approves, then denies a second code typed by hand.
#[test]
fn device_grant_driven_by_openid_client_while_chromium_approves() {
    let e2e = crate::browser::e2e_dir();
    let s = team::setup(&[]);
    let spec = authportal::oidc::clients::ClientSpec {
        name: "Device Test TV".into(),
        public: true,
        device: true,
        ..Default::default()
    };
    let app = s.portal.app();
    let (tv, _) = app
        .db
        .with_tx(|tx| authportal::oidc::clients::create(tx, spec, app.clock.now()))
        .unwrap();
    let (ok, out, err) = crate::browser::run_node(
        &e2e,
        "device.mjs",
        &[&s.portal.base, &tv.client_id, "alice", "wonderland"],
    );
    assert!(
        ok,
        "tests/e2e/device.mjs failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM device_codes WHERE status = 'redeemed'"
        ),
        1
    );
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM device_codes WHERE status = 'denied'"
        ),
        1
    );
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type IN ('device.approved', 'device.denied')"
        ),
        2
    );
}

#[test]
fn device_endpoint_shares_the_token_rate_limit_with_429() {
    let s = team::setup(&[]);
    let tv = tv_http(&s);
    let mut last = None;
    for _ in 0..200 {
        let r = tv.post_form("/oidc/device_authorization", &[("client_id", "ap-nobody")]);
        if r.status != 401 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("the rate limit answered within 200 requests");
    assert_eq!(refused(&r, 429), "slow_down");
    assert!(r.header("retry-after").is_some());
}

#[test]
fn device_clients_come_from_the_command_line_with_device() {
    let s = team::setup(&[]);
    let run = |args: &[&str]| crate::admin::cli(&s.portal, args);
    let (code, out, err) = run(&[
        "oauth-client",
        "create",
        "--name",
        "TV",
        "--device",
        "--public",
    ]);
    assert_eq!(code, Some(0), "{out} {err}");
    let made: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(made["device"], true);
    assert_eq!(made["grant_types"], json!(["refresh_token", GRANT]));
    assert_eq!(made["redirect_uris"], json!([]));
    assert_eq!(made["client_secret"], Value::Null);
    let tv = Tv {
        id: made["client_id"].as_str().unwrap().to_string(),
        secret: None,
    };
    assert!(start(&s, &tv, "openid")["user_code"].is_string());
    // Without --device a client still needs a redirect URI: exit 1, nothing made.
    let (code, _, err) = run(&["oauth-client", "create", "--name", "Web", "--public"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("redirect URI"), "{err}");
    assert_eq!(count(&s, "SELECT count(*) FROM oauth_clients"), 1);
}

#[test]
fn device_requests_waiting_are_bounded_per_address() {
    let s = team::setup(&[]);
    let tv = register(&s, true, None);
    let flood = tv_http(&s);
    flood.use_fresh_ip();
    let ask = |c: &Client| {
        c.post_form(
            "/oidc/device_authorization",
            &[("client_id", tv.id.as_str())],
        )
    };
    for i in 0..authportal::oidc::device::MAX_PER_ADDRESS {
        assert_eq!(ask(&flood).status, 200, "request {i}");
    }
    let r = ask(&flood);
    assert_eq!(refused(&r, 429), "slow_down");
    assert!(r.header("retry-after").is_some());
    // Another address is not pushed out; the flood's requests free up as they expire.
    let other = tv_http(&s);
    other.use_fresh_ip();
    assert_eq!(ask(&other).status, 200);
    s.portal.app().clock.advance(601);
    assert_eq!(ask(&flood).status, 200);
}

/// device_codes full from many /64s of one /48: a TV from another network still gets its
/// code, approved and redeemed, and the flood's /48 gives up one of its own for it,
/// never the code another person's TV is showing.
#[test]
fn device_codes_full_from_one_48_still_take_a_tv_from_elsewhere() {
    let s = team::setup(&[]);
    let tv = register(&s, true, None);
    let max = authportal::db::devices::MAX_PENDING;
    let waiting = start(&s, &tv, "openid");
    // The flood comes later: its codes expire after the waiting one.
    s.portal.app().clock.advance(5);
    fill_device_codes(&s.portal, max - 1, &tv.id, Flood::One48);

    let req = start(&s, &tv, "openid");
    assert_eq!(held_by(&s.portal, "device_codes", FLOOD_48), max - 2);
    assert_eq!(held_by(&s.portal, "device_codes", "127.0.0.1"), 2);
    assert_eq!(evictions(&s.portal, "device_codes"), 1);
    let alice = s.user("alice", "wonderland");
    for r in [&waiting, &req] {
        let user_code = r["user_code"].as_str().unwrap();
        assert_eq!(decide(&alice, user_code, "allow").status, 200);
        let t = poll(&s, &tv, r["device_code"].as_str().unwrap());
        assert_eq!(t.status, 200, "{}", t.body);
        assert!(t.json()["access_token"].is_string(), "{}", t.body);
    }
}

/// device_codes full, this TV's address the biggest holder (under its own cap of 20):
/// its new request is refused with 429 slow_down, evicting nothing; a TV elsewhere gets in.
#[test]
fn device_codes_full_refuse_only_the_biggest_holder() {
    let s = team::setup(&[]);
    let tv = register(&s, true, None);
    let max = authportal::db::devices::MAX_PENDING;
    let own = authportal::oidc::device::MAX_PER_ADDRESS - 1;
    fill_device_codes(&s.portal, own, &tv.id, Flood::From("127.0.0.1"));
    fill_device_codes(&s.portal, max - own, &tv.id, Flood::ManyV4);
    let r = tv_http(&s).post_form(
        "/oidc/device_authorization",
        &[("client_id", tv.id.as_str())],
    );
    assert_eq!(refused(&r, 429), "slow_down");
    assert_eq!(count(&s, "SELECT count(*) FROM device_codes"), max);
    assert_eq!(held_by(&s.portal, "device_codes", "127.0.0.1"), own);

    let elsewhere = tv_http(&s);
    elsewhere.use_fresh_ip();
    let r = elsewhere.post_form(
        "/oidc/device_authorization",
        &[("client_id", tv.id.as_str())],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(held_by(&s.portal, "device_codes", "127.0.0.1"), own - 1);
    assert_eq!(count(&s, "SELECT count(*) FROM device_codes"), max);
}

/// A backup taken while a TV's approval waited for its poll must not bring that
/// approval back: a full restore ends every sign-in, device requests included.
#[test]
fn device_requests_do_not_come_back_with_a_restore() {
    let s = team::setup(&[]);
    let root = s.user("root", "toor");
    let tv = register(&s, true, None);
    let req = start(&s, &tv, "openid");
    let alice = s.user("alice", "wonderland");
    assert_eq!(
        decide(&alice, req["user_code"].as_str().unwrap(), "allow").status,
        200
    );
    let r = root.post_json("/api/admin/backups", &json!({}));
    assert_eq!(r.status, 201, "{}", r.body);
    let name = r.json()["name"].as_str().unwrap().to_string();
    let r = root.post_json(
        &format!("/api/admin/backups/{name}/restore"),
        &json!({ "scope": "all" }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(count(&s, "SELECT count(*) FROM device_codes"), 0);
    let code = req["device_code"].as_str().unwrap();
    assert_eq!(refused(&poll(&s, &tv, code), 400), "invalid_grant");
}

/// RFC 8628 3.5: a device polling after its code expired hears expired_token (start
/// again), not invalid_grant, even when other devices started meanwhile (each start
/// clears out old requests) or the janitor swept; only long after is the code forgotten.
#[test]
fn device_polled_late_hears_expired_token_after_other_starts_and_sweeps() {
    let s = team::setup(&[]);
    let clock = &s.portal.app().clock;
    clock.freeze();
    let tv = register(&s, true, None);
    let late = start(&s, &tv, "openid");
    let code = late["device_code"].as_str().unwrap();
    clock.advance(601);
    start(&s, &tv, "openid");
    assert_eq!(refused(&poll(&s, &tv, code), 400), "expired_token");
    authportal::janitor::sweep(s.portal.app());
    assert_eq!(refused(&poll(&s, &tv, code), 400), "expired_token");
    // Kept a while, not for ever.
    clock.advance(authportal::db::devices::KEPT_AFTER_EXPIRY_SECS);
    authportal::janitor::sweep(s.portal.app());
    assert_eq!(refused(&poll(&s, &tv, code), 400), "invalid_grant");
}

/// A client the owner takes the device grant from (a TV app found phishing, say) has no
/// requests left to approve: its waiting codes read as unknown at /device, nobody's
/// consent is recorded for it, and its device gets no tokens.
#[test]
fn device_codes_of_a_client_that_lost_the_grant_cannot_be_approved() {
    let s = team::setup(&[]);
    let tv = register(&s, true, None);
    let req = start(&s, &tv, "openid");
    let user_code = req["user_code"].as_str().unwrap();
    s.portal
        .db()
        .execute(
            "UPDATE oauth_clients SET grant_types_json = '[\"authorization_code\"]' WHERE client_id = ?1",
            [&tv.id],
        )
        .unwrap();
    let alice = s.user("alice", "wonderland");
    let r = alice.get(&format!("/device?user_code={user_code}"));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!r.body.contains("Living Room TV"), "{}", r.body);
    let r = decide(&alice, user_code, "allow");
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(count(&s, "SELECT count(*) FROM oauth_consents"), 0);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM events WHERE type = 'device.approved'"
        ),
        0
    );
    let code = req["device_code"].as_str().unwrap();
    assert_eq!(refused(&poll(&s, &tv, code), 400), "unauthorized_client");
}

/// A session opened before the person set up a second factor has not passed it: it may
/// not sign a device in as them (approving a TV from /home refuses it the same way),
/// though it may still turn a request down.
#[test]
fn device_approval_from_a_session_older_than_the_second_factor_is_refused() {
    let s = team::setup(&[]);
    let tv = register(&s, true, None);
    let req = start(&s, &tv, "openid offline_access");
    let user_code = req["user_code"].as_str().unwrap();
    let old = s.user("alice", "wonderland");
    let fresh = s.user("alice", "wonderland");
    s.portal.enrol_totp(&fresh);

    let r = decide(&old, user_code, "allow");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("second factor"), "{}", r.body);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM device_codes WHERE status = 'pending'"
        ),
        1
    );
    assert_eq!(count(&s, "SELECT count(*) FROM oauth_consents"), 0);
    // The session that set it up may; a denial needs no second factor.
    let other = start(&s, &tv, "openid");
    assert_eq!(
        decide(&old, other["user_code"].as_str().unwrap(), "deny").status,
        200
    );
    assert_eq!(decide(&fresh, user_code, "allow").status, 200);
}

/// RFC 6749 3.1 and 3.2: a parameter sent without a value is as if it were not sent.
/// Device libraries for public clients often send `client_secret=` and `scope=` empty: the
/// device still authenticates as a public client and gets the default scope, at the device
/// endpoint and when it polls.
#[test]
fn device_empty_parameters_count_as_not_sent() {
    let s = team::setup(&[]);
    let tv = register(&s, true, None);
    let r = tv_http(&s).post_form(
        "/oidc/device_authorization",
        &[
            ("client_id", tv.id.as_str()),
            ("client_secret", ""),
            ("scope", ""),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let device_code = r.json()["device_code"].as_str().unwrap().to_string();
    let r = tv_http(&s).post_form(
        "/oidc/token",
        &[
            ("grant_type", GRANT),
            ("device_code", &device_code),
            ("client_id", tv.id.as_str()),
            ("client_secret", ""),
        ],
    );
    assert_eq!(refused(&r, 400), "authorization_pending");
    // An empty device_code is a missing one.
    let r = tv_http(&s).post_form(
        "/oidc/token",
        &[
            ("grant_type", GRANT),
            ("device_code", ""),
            ("client_id", tv.id.as_str()),
        ],
    );
    assert_eq!(refused(&r, 400), "invalid_request");
}

/// The session ended while the review page was open (or was never there): the answer
/// sends the person to sign in and back to the code, as GET /device does; nothing is
/// decided and no 401 page is shown.
#[test]
fn device_decision_without_a_live_session_goes_to_sign_in_keeping_the_code() {
    let s = team::setup(&[]);
    let tv = register(&s, true, None);
    let req = start(&s, &tv, "openid");
    let user_code = req["user_code"].as_str().unwrap();
    let phone = s.user("alice", "wonderland");
    s.portal
        .db()
        .execute("UPDATE sessions SET expires_at = 0", [])
        .unwrap();
    let back = format!("/?rd={}", enc(&format!("/device?user_code={user_code}")));
    let r = decide(&phone, user_code, "allow");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(back.as_str()));
    let stranger = s.portal.client();
    stranger.use_fresh_ip();
    let r = decide(&stranger, user_code, "deny");
    assert_eq!(r.header("location"), Some(back.as_str()), "{}", r.body);
    let r = stranger.post_form("/device", &[("decision", "allow")]);
    assert_eq!(r.header("location"), Some("/?rd=%2Fdevice"), "{}", r.body);
    assert_eq!(
        count(
            &s,
            "SELECT count(*) FROM device_codes WHERE status = 'pending'"
        ),
        1
    );
}

/// A second factor set up before the owner switched MFA off: a sign-in no longer asks for
/// it, so approving a device does not either (it used to refuse for good: "sign in again
/// with your second factor", which no sign-in could give).
#[test]
fn device_approval_with_mfa_switched_off_does_not_ask_for_a_second_factor() {
    let s = team::setup(&[("MFA_ENABLE", "0")]);
    let tv = register(&s, true, None);
    let req = start(&s, &tv, "openid");
    let user_code = req["user_code"].as_str().unwrap();
    let phone = s.user("alice", "wonderland");
    s.portal
        .db()
        .execute(
            "INSERT INTO mfa_totp (user_id, secret_sealed, created_at, verified_at)
             SELECT id, 'sealed', 0, 0 FROM users WHERE username = 'alice'",
            [],
        )
        .unwrap();
    let r = decide(&phone, user_code, "allow");
    assert_eq!(r.status, 200, "{}", r.body);
}
