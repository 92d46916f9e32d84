//! Jellyfin Quick Connect through the real portal against the fake Jellyfin: signing in
//! with a code typed into a Jellyfin app, and approving a TV's code from /home.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fair_share::{Flood, fill_flows, held_by};
use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal, Resp};
use crate::media::{jellyfin_portal, sign_in};
use crate::totp_ref;

const OFF: &str = "Quick Connect is turned off on this Jellyfin server";

fn fake() -> FakeJellyfin {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    jf.add_user(FakeUser::new("bob", "builder"));
    jf
}

fn portal(jf: &FakeJellyfin) -> Portal {
    jellyfin_portal(jf, &[("TRUSTED_PROXY_CIDRS", "127.0.0.1")])
}

fn start(c: &Client) -> Resp {
    c.post_json(
        "/auth/start-web",
        &json!({ "provider": "jellyfin", "method": "quick_connect" }),
    )
}

/// Polls as the page does, moving the portal's clock past the once-a-second throttle.
fn poll(portal: &Portal, c: &Client) -> Resp {
    portal.app().clock.advance(2);
    let r = c.get("/auth/poll");
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

fn started_code(c: &Client) -> String {
    let r = start(c);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.cookie_line("authportal_flow").is_some(),
        "bound to this browser"
    );
    let v = r.json();
    assert_eq!(v["expires_in"], 600);
    assert_eq!(
        v.as_object().unwrap().len(),
        2,
        "code and expires_in only: {v}"
    );
    let code = v["code"].as_str().unwrap().to_string();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    code
}

fn events(portal: &Portal, kind: &str, result: &str) -> i64 {
    portal.count(&format!(
        "SELECT count(*) FROM events WHERE type = '{kind}' AND result = '{result}'"
    ))
}

#[test]
fn quick_connect_signs_in_once_without_a_password() {
    let jf = fake();
    let portal = portal(&jf);
    let c = portal.client();
    let page = c.get("/");
    assert!(
        page.body.contains(r#"data-method="quick_connect""#),
        "the button shows while the server has Quick Connect on"
    );

    let code = started_code(&c);
    let initiate = jf
        .requests()
        .into_iter()
        .find(|r| r.path == "/QuickConnect/Initiate")
        .expect("Initiate was called");
    assert_eq!(initiate.method, "POST");
    let header = initiate.header("authorization").unwrap();
    assert!(
        header.contains("DeviceId=\"") && header.contains("Client=\""),
        "{header}"
    );
    // The secret stays server-side: not in the answer, and sealed in the database.
    let secret: String = portal
        .db()
        .query_row("SELECT secret_sealed FROM login_flows", [], |r| r.get(0))
        .unwrap();
    let live = jf.quick_connect_codes();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].0, code);
    assert!(!is_bare_secret(&secret), "sealed, not the secret itself");

    assert_eq!(poll(&portal, &c).json()["status"], "pending");
    assert_eq!(jf.approve_quick_connect("alice", &code), 200);
    let done = poll(&portal, &c);
    assert_eq!(done.json()["status"], "done", "{}", done.body);
    assert_eq!(done.json()["redirect"], "/home");
    assert!(done.cookie_line("authportal_session").is_some());
    let who = c.get("/whoami").json();
    assert_eq!(who["authenticated"], true);
    assert_eq!(who["username"], "alice");
    assert_eq!(who["provider"], "jellyfin");
    assert_eq!(events(&portal, "signin.success", "success"), 1);

    // Redeemed once: another poll moves on without a new session or a second redeem.
    let again = poll(&portal, &c);
    assert_eq!(again.json()["status"], "done");
    assert!(again.cookie_line("authportal_session").is_none());
    assert_eq!(jf.count("/Users/AuthenticateWithQuickConnect"), 1);
    assert_eq!(portal.count("SELECT count(*) FROM sessions"), 1);
    assert_eq!(
        portal.count("SELECT count(*) FROM login_flows WHERE secret_sealed IS NOT NULL"),
        0
    );
}

/// Looks like a Jellyfin Quick Connect secret (64 hex characters).
fn is_bare_secret(sealed: &str) -> bool {
    sealed.len() == 64 && sealed.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn another_browser_cannot_poll_a_quick_connect_it_did_not_start() {
    let jf = fake();
    let portal = portal(&jf);
    let c = portal.client();
    let code = started_code(&c);
    assert_eq!(jf.approve_quick_connect("alice", &code), 200);
    let stranger = portal.client();
    stranger.use_fresh_ip();
    assert_eq!(poll(&portal, &stranger).json()["status"], "expired");
    assert!(stranger.get("/whoami").json()["authenticated"] == false);
    assert_eq!(jf.count("/Users/AuthenticateWithQuickConnect"), 0);
}

#[test]
fn quick_connect_with_a_second_factor_stops_at_the_challenge() {
    let jf = fake();
    let portal = portal(&jf);
    let first = portal.client();
    first.use_fresh_ip();
    assert_eq!(
        sign_in(&first, "jellyfin", "alice", "wonderland").status,
        303
    );
    portal.enrol_totp(&first);

    let c = portal.client();
    c.use_fresh_ip();
    let code = started_code(&c);
    assert_eq!(jf.approve_quick_connect("alice", &code), 200);
    let done = poll(&portal, &c);
    assert_eq!(done.json()["status"], "done", "{}", done.body);
    assert_eq!(done.json()["redirect"], "/mfa/challenge");
    assert!(done.cookie_line("authportal_mfa").is_some());
    assert!(done.cookie_line("authportal_session").is_none());
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
    assert_eq!(events(&portal, "signin.first_factor", "success"), 1);
}

#[test]
fn quick_connect_without_a_second_factor_when_mfa_is_enforced_goes_to_enrolment() {
    let jf = fake();
    let portal = jellyfin_portal(
        &jf,
        &[
            ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
            ("MFA_ENFORCE", "true"),
        ],
    );
    let c = portal.client();
    let code = started_code(&c);
    assert_eq!(jf.approve_quick_connect("bob", &code), 200);
    let done = poll(&portal, &c);
    assert_eq!(done.json()["redirect"], "/mfa/enroll", "{}", done.body);
    assert!(done.cookie_line("authportal_session").is_none());
}

#[test]
fn an_account_disabled_after_approving_is_refused_at_redeem() {
    let jf = fake();
    let portal = portal(&jf);
    let c = portal.client();
    let code = started_code(&c);
    assert_eq!(jf.approve_quick_connect("alice", &code), 200);
    // AuthenticateWithQuickConnect skips Jellyfin's disabled check: the portal must not.
    jf.set_user_disabled("alice", true);
    let r = poll(&portal, &c);
    assert_eq!(r.json()["status"], "denied", "{}", r.body);
    assert_eq!(r.json()["redirect"], "/restricted?provider=jellyfin");
    assert!(r.cookie_line("authportal_session").is_none());
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
    assert_eq!(events(&portal, "signin.failure", "failure"), 1);
    assert_eq!(poll(&portal, &c).json()["status"], "denied");
}

#[test]
fn quick_connect_off_answers_409_and_hides_the_button() {
    let jf = fake();
    jf.set_quick_connect(false);
    let portal = portal(&jf);
    let c = portal.client();
    let page = c.get("/");
    assert!(page.body.contains(r#"data-provider="jellyfin""#));
    assert!(
        !page.body.contains("quick_connect"),
        "no Quick Connect button"
    );
    let r = start(&c);
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["error"], OFF);
    assert_eq!(portal.count("SELECT count(*) FROM login_flows"), 0);

    // Turned on again: the page asks the server again once its short cache is stale.
    jf.set_quick_connect(true);
    jf.clear_requests();
    c.get("/");
    assert_eq!(jf.count("/QuickConnect/Enabled"), 0, "cached briefly");
    portal.app().clock.advance(31);
    assert!(c.get("/").body.contains(r#"data-method="quick_connect""#));
    assert_eq!(jf.count("/QuickConnect/Enabled"), 1);
}

#[test]
fn an_expired_quick_connect_says_so_and_cannot_be_redeemed() {
    let jf = fake();
    let portal = portal(&jf);
    let c = portal.client();
    let code = started_code(&c);
    jf.advance(Duration::from_secs(601));
    assert_eq!(jf.approve_quick_connect("alice", &code), 404);
    assert_eq!(poll(&portal, &c).json()["status"], "expired");
    assert_eq!(portal.count("SELECT count(*) FROM login_flows"), 0);
    assert_eq!(c.get("/whoami").json()["authenticated"], false);

    // Approved, then left past the server's expiry before the page polled.
    let c = portal.client();
    c.use_fresh_ip();
    let code = started_code(&c);
    assert_eq!(jf.approve_quick_connect("alice", &code), 200);
    jf.advance(Duration::from_secs(601));
    assert_eq!(poll(&portal, &c).json()["status"], "expired");
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
}

#[test]
fn emby_never_offers_quick_connect() {
    let emby = FakeJellyfin::start(Mode::Emby);
    emby.add_user(FakeUser::new("carol", "secret"));
    let url = emby.base_url();
    let portal = Portal::start(&[("MEDIA_SERVER", "emby"), ("EMBY_SERVER_URL", url.as_str())]);
    let c = portal.client();
    let page = c.get("/");
    assert!(page.body.contains(r#"data-provider="emby""#));
    assert!(!page.body.contains("quick_connect"));
    let r = c.post_json(
        "/auth/start-web",
        &json!({ "provider": "emby", "method": "quick_connect" }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(emby.count("/QuickConnect"), 0);

    // Nor does /home offer to sign in a TV, and the route refuses.
    assert_eq!(sign_in(&c, "emby", "carol", "secret").status, 303);
    assert!(!c.get("/home").body.contains("/link/jellyfin"));
    let r = c.post_form("/link/jellyfin", &[("code", "123456")]);
    assert_eq!(r.status, 400, "{}", r.body);
}

#[test]
fn only_a_jellyfin_sign_in_can_approve_a_jellyfin_tv() {
    let jf = fake();
    let emby = FakeJellyfin::start(Mode::Emby);
    emby.add_user(FakeUser::new("carol", "secret"));
    let (jf_url, emby_url) = (jf.base_url(), emby.base_url());
    let portal = Portal::start(&[
        ("MEDIA_SERVER", "jellyfin,emby"),
        ("JELLYFIN_SERVER_URL", jf_url.as_str()),
        ("EMBY_SERVER_URL", emby_url.as_str()),
    ]);
    let c = portal.client();
    assert_eq!(sign_in(&c, "emby", "carol", "secret").status, 303);
    assert!(!c.get("/home").body.contains("/link/jellyfin"));
    let code = jf.tv_initiates();
    let r = link(&c, &code);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("sign in with Jellyfin first")
    );
    assert_eq!(jf.count("/QuickConnect/Authorize"), 0);
}

/// A client signed in to the portal with Jellyfin as `name`.
fn signed_in(portal: &Portal, name: &str, pw: &str) -> Client {
    let c = portal.client();
    c.use_fresh_ip();
    assert_eq!(sign_in(&c, "jellyfin", name, pw).status, 303);
    c
}

fn link(c: &Client, code: &str) -> Resp {
    c.send(
        "POST",
        "/link/jellyfin",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        Some(json!({ "code": code }).to_string().into_bytes()),
    )
}

#[test]
fn approving_a_tv_code_from_home_signs_the_tv_in_as_that_person() {
    let jf = fake();
    let portal = portal(&jf);
    let c = signed_in(&portal, "alice", "wonderland");
    let home = c.get("/home");
    assert!(home.body.contains("Sign in a TV or app"));
    assert!(home.body.contains(r#"action="/link/jellyfin""#));

    // The /home form: a page.
    let code = jf.tv_initiates();
    let r = c.post_form("/link/jellyfin", &[("code", &code)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("App signed in"));
    assert_eq!(
        jf.quick_connect_codes(),
        vec![(code, Some("alice".to_string()))]
    );

    // JSON, with the code typed with a space.
    let code = jf.tv_initiates();
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let r = link(&c, &spaced);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({ "authorized": true }));
    assert_eq!(events(&portal, "device.linked", "success"), 2);
    let detail: String = portal
        .db()
        .query_row(
            "SELECT detail_json FROM events WHERE type = 'device.linked' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["provider"], "jellyfin");

    // The token used was the portal's own for alice (the TV signs in as her only).
    let authorize = jf
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/QuickConnect/Authorize")
        .unwrap();
    let header = authorize.header("authorization").unwrap().to_string();
    assert!(
        jf.tokens_of("alice")
            .iter()
            .any(|t| header.contains(t.as_str())),
        "{header}"
    );
}

#[test]
fn a_revoked_jellyfin_token_asks_the_person_to_sign_in_again() {
    let jf = fake();
    let portal = portal(&jf);
    let c = signed_in(&portal, "alice", "wonderland");
    for t in jf.tokens_of("alice") {
        jf.revoke_token(&t);
    }
    let code = jf.tv_initiates();
    let r = link(&c, &code);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("your Jellyfin sign-in has expired"),
        "{}",
        r.body
    );
    assert_eq!(jf.quick_connect_codes(), vec![(code, None)]);
    assert_eq!(events(&portal, "device.linked", "failure"), 1);
}

#[test]
fn unknown_codes_quick_connect_off_and_nonsense_are_clear_4xx() {
    let jf = fake();
    let portal = portal(&jf);
    let c = signed_in(&portal, "alice", "wonderland");
    let live = jf.tv_initiates();
    let unknown = if live == "000000" { "000001" } else { "000000" };
    let r = link(&c, unknown);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("unknown or expired")
    );

    let r = link(&c, "12ab56");
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("6-digit code"));
    let r = c.post_json("/link/jellyfin", &json!({ "kode": "123456" }));
    assert_eq!(r.status, 400, "{}", r.body);

    jf.set_quick_connect(false);
    let r = link(&c, &live);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().starts_with(OFF));
    assert_eq!(jf.quick_connect_codes(), vec![(live, None)]);
}

#[test]
fn approving_needs_a_same_origin_full_session_and_is_rate_limited() {
    let jf = fake();
    let portal = portal(&jf);
    let code = jf.tv_initiates();

    let anonymous = portal.client();
    assert_eq!(link(&anonymous, &code).status, 401);

    let c = signed_in(&portal, "alice", "wonderland");
    c.origin.replace(Some("http://evil.example".into()));
    let r = c.post_form("/link/jellyfin", &[("code", &code)]);
    assert_eq!(r.status, 403, "{}", r.body);
    c.origin.replace(Some(c.base.clone()));
    assert_eq!(jf.quick_connect_codes(), vec![(code, None)]);

    // A guesser: five tries, then a wait, also from another address.
    for _ in 0..5 {
        assert_eq!(link(&c, "999999").status, 400);
    }
    let r = link(&c, "999999");
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    c.use_fresh_ip();
    assert_eq!(
        link(&c, "999999").status,
        429,
        "per person, not only per address"
    );
}

#[test]
fn approving_needs_the_second_factor_once_enrolled() {
    let jf = fake();
    let portal = portal(&jf);
    let before = signed_in(&portal, "alice", "wonderland");
    let enrolled = signed_in(&portal, "alice", "wonderland");
    portal.enrol_totp(&enrolled);
    let code = jf.tv_initiates();
    // A session from before the second factor existed has not passed it.
    let r = link(&before, &code);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("second factor")
    );
    // The session that enrolled did.
    assert_eq!(link(&enrolled, &code).status, 200);
}

#[test]
fn webhooks_can_follow_device_linked() {
    let jf = fake();
    let portal = jellyfin_portal(
        &jf,
        &[
            ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
            ("ADMIN_BOOTSTRAP_USERS", "alice"),
        ],
    );
    let c = signed_in(&portal, "alice", "wonderland");
    let r = c.post_json(
        "/api/admin/webhooks",
        &json!({ "name": "tv", "enabled": true, "events": ["device.linked"], "method": "POST",
                 "url": "http://127.0.0.1:9/hook", "headers": {}, "body_format": "json",
                 "body_template": "{\"who\":\"{user.username}\",\"what\":\"{event.type}\"}" }),
    );
    assert!(
        r.status == 200 || r.status == 201,
        "{} {}",
        r.status,
        r.body
    );
}

/// The session's amr as /whoami shows it.
fn amr(c: &Client) -> Value {
    let who = c.get("/whoami").json();
    assert_eq!(who["authenticated"], true, "{who}");
    who["amr"].clone()
}

/// No password is typed with Quick Connect, so no session from it says "pwd": "qc" (ours,
/// RFC 8176 has none for it), then "otp" after a second factor; a password still says pwd.
#[test]
fn quick_connect_sessions_say_qc_in_amr_never_pwd() {
    let jf = fake();
    let portal = portal(&jf);
    let with_password = portal.client();
    with_password.use_fresh_ip();
    assert_eq!(
        sign_in(&with_password, "jellyfin", "alice", "wonderland").status,
        303
    );
    assert_eq!(amr(&with_password), json!(["pwd"]));

    let c = portal.client();
    c.use_fresh_ip();
    let code = started_code(&c);
    assert_eq!(jf.approve_quick_connect("bob", &code), 200);
    assert_eq!(poll(&portal, &c).json()["status"], "done");
    assert_eq!(amr(&c), json!(["qc"]));

    // With a second factor: the challenge's session is ["qc", "otp"].
    let secret = portal.enrol_totp(&with_password);
    let c = portal.client();
    c.use_fresh_ip();
    let code = started_code(&c);
    assert_eq!(jf.approve_quick_connect("alice", &code), 200);
    assert_eq!(poll(&portal, &c).json()["redirect"], "/mfa/challenge");
    portal.app().clock.advance(31);
    let totp = totp_ref::code(&secret, portal.app().clock.now());
    let r = c.post_json("/mfa/challenge/verify", &json!({ "code": totp }));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(amr(&c), json!(["qc", "otp"]));
}

/// Enrolling as part of a Quick Connect sign-in (MFA enforced) ends in ["qc", "otp"].
#[test]
fn quick_connect_then_enrolment_says_qc_and_otp() {
    let jf = fake();
    let portal = jellyfin_portal(
        &jf,
        &[
            ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
            ("MFA_ENFORCE", "true"),
        ],
    );
    let c = portal.client();
    let code = started_code(&c);
    assert_eq!(jf.approve_quick_connect("bob", &code), 200);
    assert_eq!(poll(&portal, &c).json()["redirect"], "/mfa/enroll");
    portal.enrol_totp(&c);
    assert_eq!(amr(&c), json!(["qc", "otp"]));
}

/// login_flows is bounded: when it is full and this browser's address holds every flow,
/// its new sign-in is refused with a 429 that says why and when to try again, and
/// nobody's sign-in in progress is evicted; someone from another address still gets in,
/// at that address's expense.
#[test]
fn a_full_table_of_sign_ins_refuses_only_the_network_that_filled_it() {
    let jf = fake();
    let portal = portal(&jf);
    let max = authportal::db::flows::MAX_LIVE;
    fill_flows(&portal, max, Flood::From("192.0.2.50"));
    let c = portal.client();
    c.extra_headers
        .replace(vec![("X-Forwarded-For".into(), "192.0.2.50".into())]);
    let r = start(&c);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(
        r.body.contains("too many sign-ins are in progress"),
        "{}",
        r.body
    );
    assert!(r.header("retry-after").is_some());
    assert!(c.cookie("authportal_flow").is_none());
    assert_eq!(portal.count("SELECT count(*) FROM login_flows"), max);

    // Another address gets its code and signs in with it.
    let other = portal.client();
    other.use_fresh_ip();
    let code = started_code(&other);
    assert_eq!(held_by(&portal, "login_flows", "192.0.2.50"), max - 1);
    assert_eq!(jf.approve_quick_connect("alice", &code), 200);
    assert_eq!(poll(&portal, &other).json()["redirect"], "/home");
    assert_eq!(other.get("/whoami").json()["username"], "alice");

    // Room comes back as flows expire.
    portal.app().clock.advance(601);
    assert_eq!(start(&c).status, 200);
}
