//! Multi-factor sign-in through the real server, with codes from the reference TOTP in
//! totp_ref.rs (not the portal's own implementation).

use serde_json::{Value, json};

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal};
use crate::media::{jellyfin_portal, sign_in};
use crate::totp_ref;

struct Setup {
    _jf: FakeJellyfin,
    portal: Portal,
}

fn setup(extra: &[(&str, &str)]) -> Setup {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    jf.add_user(FakeUser {
        is_admin: true,
        ..FakeUser::new("root", "toor")
    });
    let mut vars = vec![("TRUSTED_PROXY_CIDRS", "127.0.0.1")];
    vars.extend_from_slice(extra);
    let portal = jellyfin_portal(&jf, &vars);
    Setup { _jf: jf, portal }
}

impl Setup {
    fn now(&self) -> i64 {
        self.portal.app().clock.now()
    }

    /// Moves the portal's clock to the next 30 s step, so a new code is valid.
    fn next_step(&self) {
        self.portal.app().clock.advance(30);
    }

    fn code(&self, secret: &[u8]) -> String {
        totp_ref::code(secret, self.now())
    }

    /// A client that signs in from a fresh forwarded address.
    fn signed_in(&self, user: &str, pw: &str) -> (Client, crate::harness::Resp) {
        let c = self.portal.client();
        c.use_fresh_ip();
        let r = sign_in(&c, "jellyfin", user, pw);
        (c, r)
    }

    /// Enrols `c` (already signed in) and returns the secret and the recovery codes.
    fn enrol(&self, c: &Client) -> (Vec<u8>, Vec<String>) {
        let r = c.post_json("/mfa/enroll/start", &json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        let start = r.json();
        assert_eq!(start["digits"], 6);
        assert_eq!(start["period"], 30);
        let otpauth = start["otpauth"].as_str().unwrap();
        assert!(
            otpauth.starts_with("otpauth://totp/AuthPortal:alice?secret="),
            "{otpauth}"
        );
        assert!(start["qr_svg"].as_str().unwrap().starts_with("<svg"));
        let secret = totp_ref::base32_decode(start["secret"].as_str().unwrap());
        assert_eq!(secret.len(), 20);
        let r = c.post_json("/mfa/enroll/verify", &json!({ "code": self.code(&secret) }));
        assert_eq!(r.status, 200, "{}", r.body);
        let codes: Vec<String> = r.json()["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        (secret, codes)
    }
}

fn challenge(c: &Client, code: &str) -> crate::harness::Resp {
    c.post_form("/mfa/challenge/verify", &[("code", code)])
}

#[test]
fn enrol_then_sign_in_with_a_totp_code() {
    let s = setup(&[]);
    let (c, r) = s.signed_in("alice", "wonderland");
    assert_eq!(r.status, 303);
    let (secret, codes) = s.enrol(&c);
    assert_eq!(codes.len(), 10);
    for code in &codes {
        assert!(code.len() == 14 && code.matches('-').count() == 2, "{code}");
    }
    let status = c.get("/mfa/enroll/status").json();
    assert_eq!(status["enrolled"], true);
    assert_eq!(status["recovery_codes_left"], 10);
    assert!(status["verified_at"].is_string());
    // Codes are stored only as digests.
    let stored: Vec<Vec<u8>> = s
        .portal
        .db()
        .prepare("SELECT code_digest FROM mfa_recovery_codes")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len(), 10);
    assert!(stored.iter().all(|d| d.len() == 32));

    assert_eq!(c.post_form("/logout", &[]).status, 303);
    let (c, r) = s.signed_in("alice", "wonderland");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/mfa/challenge"));
    assert!(
        r.cookie_line("authportal_session").is_none(),
        "no session before the second factor"
    );
    let pending = r.cookie_line("authportal_mfa").expect("pending cookie");
    assert!(pending.contains("HttpOnly"));
    assert_eq!(c.get("/mfa/challenge").status, 200);

    s.next_step();
    let r = challenge(&c, &s.code(&secret));
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/home"));
    assert!(
        r.cookie_line("authportal_mfa")
            .unwrap()
            .contains("Max-Age=0")
    );
    let who = c.get("/whoami").json();
    assert_eq!(who["authenticated"], true);
    assert_eq!(who["amr"], json!(["pwd", "otp"]));
    assert_eq!(s.portal.count("SELECT count(*) FROM mfa_pending"), 0);
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'mfa.verify' AND result = 'success'"),
        1
    );
}

#[test]
fn a_code_is_accepted_once_and_only_near_now() {
    let s = setup(&[]);
    let (c, _) = s.signed_in("alice", "wonderland");
    let (secret, _) = s.enrol(&c);
    s.next_step();
    let code = s.code(&secret);
    let (c1, _) = s.signed_in("alice", "wonderland");
    assert_eq!(challenge(&c1, &code).status, 303);
    let (c2, _) = s.signed_in("alice", "wonderland");
    assert_eq!(
        challenge(&c2, &code).status,
        401,
        "the same step is never accepted twice"
    );
    // Two steps away is out of the window.
    let far = totp_ref::code(&secret, s.now() + 90);
    assert_eq!(challenge(&c2, &far).status, 401);
    // One step ahead is inside it (clock drift).
    let ahead = totp_ref::code(&secret, s.now() + 30);
    assert_eq!(challenge(&c2, &ahead).status, 303);
}

#[test]
fn a_recovery_code_works_once_in_any_case_and_the_page_says_how_many_remain() {
    let s = setup(&[]);
    let (c, _) = s.signed_in("alice", "wonderland");
    let (_, codes) = s.enrol(&c);
    let (c, _) = s.signed_in("alice", "wonderland");
    let typed = codes[3].replace('-', "").to_uppercase();
    let r = challenge(&c, &typed);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("9 recovery codes left"), "{}", r.body);
    assert!(r.cookie_line("authportal_session").is_some());
    assert_eq!(c.get("/whoami").json()["amr"], json!(["pwd", "otp"]));
    let (c, _) = s.signed_in("alice", "wonderland");
    assert_eq!(
        challenge(&c, &codes[3]).status,
        401,
        "a used code is burned"
    );
    let r = c.send(
        "POST",
        "/mfa/challenge/verify",
        &[("Content-Type", "application/json")],
        Some(json!({"code": codes[4]}).to_string().into_bytes()),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["recovery_codes_left"], 8);
}

#[test]
fn the_pending_cookie_is_not_a_session_and_a_session_is_not_a_pending_sign_in() {
    let s = setup(&[]);
    let (c, _) = s.signed_in("alice", "wonderland");
    let (secret, _) = s.enrol(&c);
    let session_cookie = c.cookie("authportal_session").unwrap();

    let (p, _) = s.signed_in("alice", "wonderland");
    let pending_cookie = p.cookie("authportal_mfa").unwrap();
    let only_pending = s.portal.client();
    only_pending.set_cookie("authportal_mfa", &pending_cookie);
    assert_eq!(only_pending.get("/whoami").json()["authenticated"], false);
    assert_eq!(only_pending.get("/me").status, 401);
    assert_eq!(only_pending.get("/home").status, 303);
    assert_eq!(
        only_pending
            .post_json("/mfa/enroll/start", &json!({}))
            .status,
        401,
        "a challenge cookie cannot reach enrolment"
    );
    assert_eq!(
        only_pending.post_json("/mfa/disable", &json!({})).status,
        401
    );
    // The pending value under the session cookie's name is refused (another kind).
    let swapped = s.portal.client();
    swapped.set_cookie("authportal_session", &pending_cookie);
    assert_eq!(swapped.get("/whoami").json()["authenticated"], false);

    // A session cannot answer a challenge.
    let only_session = s.portal.client();
    only_session.set_cookie("authportal_session", &session_cookie);
    s.next_step();
    assert_eq!(challenge(&only_session, &s.code(&secret)).status, 401);
    let forged = s.portal.client();
    forged.set_cookie("authportal_mfa", &session_cookie.replacen("s.", "m.", 1));
    assert_eq!(challenge(&forged, &s.code(&secret)).status, 401);
}

#[test]
fn five_wrong_codes_end_the_pending_sign_in() {
    let s = setup(&[]);
    let (c, _) = s.signed_in("alice", "wonderland");
    let (secret, _) = s.enrol(&c);
    let (c, _) = s.signed_in("alice", "wonderland");
    for i in 0..5 {
        let r = challenge(&c, "000000");
        assert_eq!(r.status, 401, "attempt {i}");
        assert!(r.body.contains(&format!("{} attempt", 4 - i)), "{}", r.body);
    }
    s.next_step();
    let r = challenge(&c, &s.code(&secret));
    assert_eq!(r.status, 429, "even a right code after five wrong ones");
    assert!(r.header("retry-after").is_some());
    assert_eq!(s.portal.count("SELECT count(*) FROM mfa_pending"), 0);
    assert_eq!(
        challenge(&c, &s.code(&secret)).status,
        401,
        "the pending sign-in is gone"
    );
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'mfa.verify' AND result = 'failure'"),
        5
    );
}

#[test]
fn codes_are_rate_limited_per_user_across_sign_ins() {
    let s = setup(&[]);
    let (c, _) = s.signed_in("alice", "wonderland");
    s.enrol(&c);
    let mut limited = false;
    for _ in 0..4 {
        let (c, _) = s.signed_in("alice", "wonderland");
        for _ in 0..4 {
            if challenge(&c, "000000").status == 429 {
                limited = true;
            }
        }
    }
    assert!(
        limited,
        "fresh pending sign-ins from fresh addresses do not buy unlimited guesses"
    );
}

#[test]
fn enforcement_for_everyone_makes_enrolment_part_of_sign_in() {
    let s = setup(&[("MFA_ENFORCE", "true")]);
    let (c, r) = s.signed_in("alice", "wonderland");
    assert_eq!(r.header("location"), Some("/mfa/enroll"));
    assert!(r.cookie_line("authportal_session").is_none());
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
    let page = c.get("/mfa/enroll");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("needs two-factor sign-in"));
    let status = c.get("/mfa/enroll/status").json();
    assert_eq!(status["enforced"], true);
    assert_eq!(status["enrolled"], false);
    let start = c.post_json("/mfa/enroll/start", &json!({})).json();
    let secret = totp_ref::base32_decode(start["secret"].as_str().unwrap());
    assert_eq!(
        c.post_json("/mfa/enroll/verify", &json!({"code": "000000"}))
            .status,
        400
    );
    assert_eq!(c.get("/whoami").json()["authenticated"], false);
    let r = c.post_json("/mfa/enroll/verify", &json!({ "code": s.code(&secret) }));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["redirect"], "/home");
    assert!(r.cookie_line("authportal_session").is_some());
    assert_eq!(c.get("/whoami").json()["amr"], json!(["pwd", "otp"]));
    // Enforced: it cannot be turned off.
    let r = c.post_json("/mfa/disable", &json!({}));
    assert_eq!(r.status, 403);
    // Next sign-in is a challenge, not another enrolment.
    let (_, r) = s.signed_in("alice", "wonderland");
    assert_eq!(r.header("location"), Some("/mfa/challenge"));
}

#[test]
fn enforcement_by_group_comes_from_the_settings() {
    let s = setup(&[]);
    let app = s.portal.app();
    app.db
        .with_tx(|tx| {
            let cfg = json!({ "enforce_groups": ["jellyfin-admin"] });
            let change = authportal::db::settings::Change {
                section: "mfa",
                expected_version: 0,
                config: &cfg,
                by: Some("test"),
                reason: None,
            };
            authportal::db::settings::put(tx, &change, 0).map(|r| r.unwrap())
        })
        .unwrap();
    let (_, r) = s.signed_in("root", "toor");
    assert_eq!(r.header("location"), Some("/mfa/enroll"));
    let (_, r) = s.signed_in("alice", "wonderland");
    assert_eq!(r.header("location"), Some("/home"));
}

/// MFA enforcement counts the groups of identities that still have access (the one
/// rule of db::users::groups): a group the provider no longer vouches for enforces nothing.
#[test]
fn enforcement_by_group_ignores_a_withdrawn_identitys_groups() {
    let s = setup(&[]);
    let app = s.portal.app();
    app.db
        .with_tx(|tx| {
            let cfg = json!({ "enforce_groups": ["jellyfin-admin"] });
            let change = authportal::db::settings::Change {
                section: "mfa",
                expected_version: 0,
                config: &cfg,
                by: Some("test"),
                reason: None,
            };
            authportal::db::settings::put(tx, &change, 0).map(|r| r.unwrap())
        })
        .unwrap();
    let (c, r) = s.signed_in("root", "toor");
    assert_eq!(r.header("location"), Some("/mfa/enroll"));
    assert_eq!(c.get("/mfa/enroll/status").json()["enforced"], true);
    // The provider stops vouching for root (as a re-validation would record it).
    s.portal
        .db()
        .execute("UPDATE identities SET authorized = 0", [])
        .unwrap();
    assert_eq!(c.get("/mfa/enroll/status").json()["enforced"], false);
}

#[test]
fn changing_mfa_needs_a_recent_second_factor_or_a_fresh_code() {
    let s = setup(&[]);
    let (c, _) = s.signed_in("alice", "wonderland");
    let (secret, _) = s.enrol(&c);
    // Just enrolled: recent. Eleven minutes later: not.
    s.portal.app().clock.advance(11 * 60);
    for (path, body) in [
        ("/mfa/enroll/start", json!({})),
        ("/mfa/recovery-codes", json!({})),
        ("/mfa/disable", json!({})),
        ("/mfa/disable", json!({"code": "123456"})),
    ] {
        let r = c.post_json(path, &body);
        assert_eq!(r.status, 403, "{path} {body}: {}", r.body);
    }
    assert_eq!(c.get("/mfa/enroll/status").json()["enrolled"], true);
    let r = c.post_json("/mfa/recovery-codes", &json!({ "code": s.code(&secret) }));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["recovery_codes"].as_array().unwrap().len(), 10);
    // The code made the session recent again: no code needed for a while.
    let r = c.post_json("/mfa/disable", &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(c.get("/mfa/enroll/status").json()["enrolled"], false);
    assert_eq!(s.portal.count("SELECT count(*) FROM mfa_recovery_codes"), 0);
}

#[test]
fn a_new_authenticator_replaces_the_old_only_once_confirmed() {
    let s = setup(&[]);
    let (c, _) = s.signed_in("alice", "wonderland");
    let (old, _) = s.enrol(&c);
    let start = c.post_json("/mfa/enroll/start", &json!({})).json();
    let new = totp_ref::base32_decode(start["secret"].as_str().unwrap());
    assert_ne!(old, new);
    // Not confirmed yet: the old secret still signs in.
    s.next_step();
    let (p, _) = s.signed_in("alice", "wonderland");
    assert_eq!(challenge(&p, &s.code(&old)).status, 303);
    s.next_step();
    assert_eq!(
        c.post_json("/mfa/enroll/verify", &json!({ "code": s.code(&new) }))
            .status,
        200
    );
    s.next_step();
    let (p, _) = s.signed_in("alice", "wonderland");
    assert_eq!(challenge(&p, &s.code(&old)).status, 401);
    assert_eq!(challenge(&p, &s.code(&new)).status, 303);
}

#[test]
fn admins_can_reset_a_users_mfa_and_it_is_audited() {
    let s = setup(&[("ADMIN_BOOTSTRAP_USERS", "root")]);
    let (c, _) = s.signed_in("alice", "wonderland");
    s.enrol(&c);
    let uuid = c.get("/whoami").json()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/admin/users/{uuid}/mfa/reset");
    assert_eq!(s.portal.client().post_json(&path, &json!({})).status, 401);
    assert_eq!(c.post_json(&path, &json!({})).status, 403, "not an admin");
    let (admin, _) = s.signed_in("root", "toor");
    let r = admin.post_json(&path, &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["reset"], true);
    assert_eq!(
        admin
            .post_json("/api/admin/users/nope/mfa/reset", &json!({}))
            .status,
        404
    );
    let detail: String = s
        .portal
        .db()
        .query_row(
            "SELECT detail_json FROM events WHERE type = 'admin.mfa.reset'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["target"], uuid);
    let (_, r) = s.signed_in("alice", "wonderland");
    assert_eq!(
        r.header("location"),
        Some("/home"),
        "no challenge after the reset"
    );
}

#[test]
fn mfa_can_be_switched_off_for_the_whole_portal() {
    let s = setup(&[("MFA_ENABLE", "0")]);
    let (c, _) = s.signed_in("alice", "wonderland");
    assert_eq!(c.get("/mfa/enroll").status, 404);
    assert_eq!(c.post_json("/mfa/enroll/start", &json!({})).status, 404);
    assert!(!c.get("/home").body.contains("/mfa/enroll"));
}

/// Wrong codes count per user, whatever the address or sign-in: five in a row start a
/// back-off (one `mfa.locked` event), and 50 in a day close the challenge until the day
/// passes, even across a restart (the count comes from the audit log).
#[test]
fn wrong_codes_back_off_per_user_and_a_day_has_a_budget() {
    let s = setup(&[]);
    let (c, _) = s.signed_in("alice", "wonderland");
    let (secret, _) = s.enrol(&c);
    let (c, _) = s.signed_in("alice", "wonderland");
    for i in 0..5 {
        assert_eq!(challenge(&c, "000000").status, 401, "attempt {i}");
    }
    let (c, _) = s.signed_in("alice", "wonderland");
    let r = challenge(&c, "000000");
    assert_eq!(r.status, 429, "a new sign-in from a new address waits too");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        r.body
            .contains("too many wrong codes for this account; try again in 1 second"),
        "{}",
        r.body
    );
    let locked = "SELECT count(*) FROM events WHERE type = 'mfa.locked'";
    assert_eq!(s.portal.count(locked), 1);

    // 45 more wrong codes, each after the back-off (at most 15 minutes) has passed.
    for i in 5..50 {
        s.portal.app().clock.advance(15 * 60);
        let (c, _) = s.signed_in("alice", "wonderland");
        assert_eq!(challenge(&c, "000000").status, 401, "wrong code {i}");
    }
    assert_eq!(
        s.portal.count(locked),
        2,
        "the day's budget is spent: one event"
    );
    s.portal.app().clock.advance(15 * 60);
    let (c, _) = s.signed_in("alice", "wonderland");
    let r = challenge(&c, &s.code(&secret));
    assert_eq!(r.status, 429, "even the right code: {}", r.body);
    assert!(r.body.contains("today"), "{}", r.body);
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((3600..=86_400).contains(&retry), "{retry}");

    // The budget is in the database, not in memory.
    let portal = s.portal.restart();
    let c = portal.client();
    c.use_fresh_ip();
    crate::media::sign_in(&c, "jellyfin", "alice", "wonderland");
    let code = totp_ref::code(&secret, portal.app().clock.now());
    assert_eq!(challenge(&c, &code).status, 429, "after a restart");

    // A day after the last wrong code (the clock restarted from the real time), the
    // challenge opens again.
    portal.app().clock.advance(2 * 86_400);
    let c = portal.client();
    c.use_fresh_ip();
    crate::media::sign_in(&c, "jellyfin", "alice", "wonderland");
    let code = totp_ref::code(&secret, portal.app().clock.now());
    let r = challenge(&c, &code);
    assert_eq!(r.status, 303, "{}", r.body);
}

/// A spent day's budget ends when an admin resets the user's MFA: wrong codes typed
/// against the old factor do not count against the one set up afterwards.
#[test]
fn an_admin_reset_ends_a_spent_code_budget() {
    let s = setup(&[("ADMIN_BOOTSTRAP_USERS", "root")]);
    let (c, _) = s.signed_in("alice", "wonderland");
    s.enrol(&c);
    let uuid = c.get("/whoami").json()["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    // 50 wrong codes in the last hour (after the factor was set up), as the audit log
    // would hold them.
    let db = s.portal.db();
    let user_id: i64 = db
        .query_row("SELECT id FROM users WHERE uuid = ?1", [&uuid], |r| {
            r.get(0)
        })
        .unwrap();
    s.portal.app().clock.advance(3600);
    for i in 0..50 {
        db.execute(
            "INSERT INTO events (type, time, user_id, ip, result, detail_json)
             VALUES ('mfa.verify', ?1, ?2, '10.9.9.9', 'failure', '{}')",
            rusqlite::params![s.now() - 3000 + i, user_id],
        )
        .unwrap();
    }
    let (c, _) = s.signed_in("alice", "wonderland");
    let r = challenge(&c, "000000");
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (83_000..=83_400).contains(&retry),
        "about 23 hours: {retry}"
    );

    let (admin, _) = s.signed_in("root", "toor");
    let r = admin.post_json(&format!("/api/admin/users/{uuid}/mfa/reset"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    let (c, r) = s.signed_in("alice", "wonderland");
    assert_eq!(r.header("location"), Some("/home"));
    s.next_step();
    let (secret, _) = s.enrol(&c);
    s.next_step();
    let (c, _) = s.signed_in("alice", "wonderland");
    let r = challenge(&c, &s.code(&secret));
    assert_eq!(
        r.status, 303,
        "the new factor has a fresh budget: {}",
        r.body
    );
}
