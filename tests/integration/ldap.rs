//! The LDAP directory with clients nobody here wrote: `ldapsearch`, `ldapwhoami`,
//! `ldapcompare` and `ldapadd` from Debian's ldap-utils, and Python's ldap3.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fakes::jellyfin::FakeUser;
use crate::harness::{Client, Portal};
use crate::team::{Setup, setup};

const BASE: &str = "dc=authportal,dc=local";

fn ldap_setup(extra: &[(&str, &str)]) -> Setup {
    let mut vars = vec![("LDAP_LISTEN_ADDR", "127.0.0.1:0")];
    vars.extend_from_slice(extra);
    setup(&vars)
}

fn url(p: &Portal) -> String {
    let addr = p.server.as_ref().unwrap().ldap_addr.expect("LDAP listens");
    format!("ldap://{addr}")
}

fn people_dn(name: &str) -> String {
    format!("uid={name},ou=people,{BASE}")
}

/// Runs an ldap-utils tool; (exit code, stdout, stderr).
fn tool(name: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(name)
        .args(args)
        .env("LDAPTLS_REQCERT", "never")
        .output()
        .unwrap_or_else(|e| panic!("{name} (apt-get install ldap-utils): {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `ldapsearch -x -LLL` bound as (dn, password), or anonymously.
fn search(
    url: &str,
    bind: Option<(&str, &str)>,
    base: &str,
    scope: &str,
    filter: &str,
    attrs: &[&str],
) -> (i32, String, String) {
    search_with(url, bind, &[], base, scope, filter, attrs)
}

/// [`search`] with ldapsearch's own options (a size limit, paged results...).
fn search_with(
    url: &str,
    bind: Option<(&str, &str)>,
    options: &[&str],
    base: &str,
    scope: &str,
    filter: &str,
    attrs: &[&str],
) -> (i32, String, String) {
    let mut args = vec!["-x", "-LLL", "-o", "ldif-wrap=no", "-H", url];
    if let Some((dn, pw)) = bind {
        args.extend(["-D", dn, "-w", pw]);
    }
    args.extend(options);
    args.extend(["-b", base, "-s", scope, filter]);
    args.extend(attrs);
    tool("ldapsearch", &args)
}

/// ldapcompare bound as `dn`: its exit code (6 TRUE, 5 FALSE) and its trimmed answer.
fn compare(url: &str, dn: &str, pw: &str, entry: &str, assertion: &str) -> (i32, String) {
    let (code, out, _) = tool(
        "ldapcompare",
        &["-x", "-H", url, "-D", dn, "-w", pw, entry, assertion],
    );
    (code, out.trim().to_string())
}

fn whoami(url: &str, dn: &str, pw: &str) -> (i32, String, String) {
    tool("ldapwhoami", &["-x", "-H", url, "-D", dn, "-w", pw])
}

/// A service account made the way an owner makes one: `authportal ldap-bind create`.
fn service(p: &Portal, name: &str) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_authportal"))
        .args(["ldap-bind", "create", "--name", name])
        .envs(p.vars.iter())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["dn"].as_str().unwrap().to_string(),
        v["password"].as_str().unwrap().to_string(),
    )
}

fn app_password(c: &Client, name: &str) -> (i64, String) {
    let r = c.post_json("/api/me/app-passwords", &json!({ "name": name }));
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    (
        v["id"].as_i64().unwrap(),
        v["password"].as_str().unwrap().to_string(),
    )
}

/// The values of `attr` in LDIF output (one entry or several).
fn values(ldif: &str, attr: &str) -> Vec<String> {
    let prefix = format!("{attr}: ");
    ldif.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn ldap_service_account_searches_people_and_groups() {
    let s = ldap_setup(&[]);
    s.jf.add_user(FakeUser::new("o(b)*rien", "pw"));
    s.user("alice", "wonderland");
    s.user("root", "toor");
    s.user("o(b)*rien", "pw");
    let url = url(&s.portal);
    let (dn, pw) = service(&s.portal, "nextcloud");
    assert_eq!(dn, format!("cn=nextcloud,ou=services,{BASE}"));
    let bind = Some((dn.as_str(), pw.as_str()));

    // The Root DSE answers anyone.
    let (code, out, err) = search(
        &url,
        None,
        "",
        "base",
        "(objectClass=*)",
        &["namingContexts", "supportedLDAPVersion", "vendorName"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(values(&out, "namingContexts"), [BASE]);
    assert_eq!(values(&out, "supportedLDAPVersion"), ["3"]);
    assert_eq!(values(&out, "vendorName"), ["authportal"]);

    // People: one inetOrgPerson each, with the OIDC sub as entryUUID and group DNs.
    let (code, out, err) = search(
        &url,
        bind,
        &format!("ou=people,{BASE}"),
        "one",
        "(objectClass=person)",
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let mut uids = values(&out, "uid");
    uids.sort();
    assert_eq!(uids, ["alice", "o(b)*rien", "root"]);
    let (_, out, _) = search(
        &url,
        bind,
        BASE,
        "sub",
        "(&(objectClass=inetOrgPerson)(uid=ALICE))",
        &["entryUUID", "memberOf", "objectClass"],
    );
    let alice_uuid = s
        .portal
        .db()
        .query_row("SELECT uuid FROM users WHERE username = 'alice'", [], |r| {
            r.get::<_, String>(0)
        })
        .unwrap();
    assert_eq!(values(&out, "entryUUID"), [alice_uuid]);
    assert_eq!(
        values(&out, "memberOf"),
        [format!("cn=jellyfin-user,ou=groups,{BASE}")]
    );
    assert!(values(&out, "objectClass").contains(&"inetOrgPerson".to_string()));
    assert!(
        values(&out, "uid").is_empty(),
        "only the attributes asked for"
    );

    // A filter that needs escaping matches the name literally, not as a wildcard.
    let (code, out, err) = search(&url, bind, BASE, "sub", r"(uid=o\28b\29\2arien)", &["uid"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(values(&out, "uid"), ["o(b)*rien"]);
    assert!(out.contains(r"dn: uid=o(b)*rien,ou=people"), "{out}");
    let (_, out, _) = search(&url, bind, BASE, "sub", r"(uid=o\2a)", &["uid"]);
    assert!(values(&out, "uid").is_empty(), "{out}");
    let (_, out, _) = search(&url, bind, BASE, "sub", "(|(uid=al*)(uid=*rien))", &["uid"]);
    assert_eq!(values(&out, "uid").len(), 2, "{out}");

    // Groups: provider tiers and assigned groups, with member and uniqueMember.
    let (code, out, err) = search(
        &url,
        bind,
        &format!("ou=groups,{BASE}"),
        "one",
        "(objectClass=groupOfUniqueNames)",
        &["cn", "member", "uniqueMember"],
    );
    assert_eq!(code, 0, "{err}");
    let mut cns = values(&out, "cn");
    cns.sort();
    assert_eq!(cns, ["admins", "jellyfin-user"], "{out}");
    let (_, out, _) = search(
        &url,
        bind,
        BASE,
        "sub",
        &format!(
            "(&(objectClass=groupOfNames)(member={}))",
            people_dn("alice")
        ),
        &["cn"],
    );
    assert_eq!(values(&out, "cn"), ["jellyfin-user"]);
    let (_, out, _) = search(&url, bind, BASE, "sub", "(cn=admins)", &["uniqueMember"]);
    assert_eq!(values(&out, "uniqueMember"), [people_dn("root")]);

    // Size limit: the first entries, then sizeLimitExceeded (exit code 4).
    let (code, out, _) = search_with(&url, bind, &["-z", "1"], BASE, "sub", "(uid=*)", &["uid"]);
    assert_eq!((code, values(&out, "uid").len()), (4, 1), "{out}");
    // Paged results (RFC 2696), a page of one at a time: every entry once.
    let pages = ["-E", "pr=1/noprompt"];
    let (code, out, err) = search_with(&url, bind, &pages, BASE, "sub", "(uid=*)", &["uid"]);
    assert_eq!(code, 0, "{err}");
    let mut paged = values(&out, "uid");
    paged.sort();
    assert_eq!(paged, ["alice", "o(b)*rien", "root"], "{out}");
    // A base that does not exist.
    let (code, _, _) = search(
        &url,
        bind,
        &format!("ou=nowhere,{BASE}"),
        "sub",
        "(uid=*)",
        &[],
    );
    assert_eq!(code, 32);

    // Anonymous search of the tree is refused; a wrong service password is refused.
    let (code, _, _) = search(&url, None, BASE, "sub", "(uid=*)", &[]);
    assert_eq!(code, 50);
    let (code, _, _) = search(
        &url,
        Some((dn.as_str(), "wrong")),
        BASE,
        "sub",
        "(uid=*)",
        &[],
    );
    assert_eq!(code, 49);
    let (code, out, err) = whoami(&url, &dn, &pw);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("dn:{dn}"));
}

#[test]
fn ldap_person_binds_with_an_app_password_until_it_is_revoked() {
    let s = ldap_setup(&[]);
    let alice = s.user("alice", "wonderland");
    s.user("root", "toor");
    let url = url(&s.portal);
    let me = people_dn("alice");
    let (id, pw) = app_password(&alice, "Nextcloud");
    let (_, second) = app_password(&alice, "UniFi");

    let (code, out, err) = whoami(&url, &me, &pw);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("dn:{me}"));
    let (code, _, _) = whoami(&url, &me, &second);
    assert_eq!(code, 0, "every app password works");
    // The DN without case, as clients send it.
    let (code, _, _) = whoami(
        &url,
        &format!("UID=Alice,OU=People,{}", BASE.to_uppercase()),
        &pw,
    );
    assert_eq!(code, 0);
    // A wrong password, another person's DN, the media password (not allowed here).
    for (dn, p) in [
        (me.as_str(), "wrong"),
        (&people_dn("root"), pw.as_str()),
        (me.as_str(), "wonderland"),
    ] {
        let (code, _, _) = whoami(&url, dn, p);
        assert_eq!(code, 49, "{dn}");
    }
    // A DN with an empty password is not a bind.
    let (code, _, _) = tool("ldapwhoami", &["-x", "-H", &url, "-D", &me]);
    assert_ne!(code, 0);

    // A person sees their own entry and their groups, nobody else.
    let (code, out, err) = search(
        &url,
        Some((&me, &pw)),
        BASE,
        "sub",
        "(|(uid=*)(cn=*))",
        &["uid", "cn"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(values(&out, "uid"), ["alice"]);
    assert!(
        values(&out, "cn").contains(&"jellyfin-user".to_string()),
        "{out}"
    );
    assert!(!values(&out, "cn").contains(&"admins".to_string()), "{out}");

    // Listed without passwords, with the last use.
    let list = alice.get("/api/me/app-passwords").json();
    let rows = list["app_passwords"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(!list.to_string().contains(&pw));
    assert_eq!(rows[0]["name"], "Nextcloud");
    assert!(rows[0]["last_used_at"].is_i64(), "{list}");
    // Bad input changes nothing; another person cannot revoke it.
    assert_eq!(
        alice
            .post_json("/api/me/app-passwords", &json!({ "name": " " }))
            .status,
        400
    );
    assert_eq!(
        alice
            .post_json("/api/me/app-passwords", &json!({ "nom": "x" }))
            .status,
        400
    );
    let root = s.user("root", "toor");
    assert_eq!(
        root.send("DELETE", &format!("/api/me/app-passwords/{id}"), &[], None)
            .status,
        404
    );
    assert_eq!(s.portal.count("SELECT count(*) FROM app_passwords"), 2);
    assert_eq!(s.portal.client().get("/api/me/app-passwords").status, 401);
    // The password is kept only as a digest.
    let stored: Vec<u8> = s
        .portal
        .db()
        .query_row(
            "SELECT secret_digest FROM app_passwords WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, authportal::crypto::sha256(pw.as_bytes()));

    // Revoked: the password no longer binds; the other one still does.
    assert_eq!(
        alice
            .send("DELETE", &format!("/api/me/app-passwords/{id}"), &[], None)
            .status,
        204
    );
    let (code, _, _) = whoami(&url, &me, &pw);
    assert_eq!(code, 49);
    let (code, _, _) = whoami(&url, &me, &second);
    assert_eq!(code, 0);

    // Binds are events and metrics.
    let events: Vec<(String, String)> = {
        let db = s.portal.db();
        let mut st = db
            .prepare("SELECT type, result FROM events WHERE type LIKE 'ldap.%' ORDER BY id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(
        events.contains(&("ldap.bind.success".into(), "success".into())),
        "{events:?}"
    );
    assert!(
        events.contains(&("ldap.bind.failure".into(), "failure".into())),
        "{events:?}"
    );
    let metrics = s.portal.client().get("/metrics").body;
    assert!(
        metrics.contains("authportal_ldap_binds_total{result=\"failure\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("authportal_ldap_searches_total 1"),
        "{metrics}"
    );

    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'app_password.create'"),
        2
    );
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'app_password.revoke'"),
        1
    );

    // The /home page shows the section and a new password once.
    let page = alice.get("/home").body;
    assert!(
        page.contains("App passwords") && page.contains("UniFi"),
        "{page}"
    );
    let r = alice.post_form("/app-passwords/new", &[("name", "Mail")]);
    assert_eq!(r.status, 200, "{}", r.body);
    let shown = r
        .body
        .split("<code>")
        .nth(2)
        .and_then(|s| s.split("</code>").next())
        .unwrap()
        .to_string();
    let (code, _, _) = whoami(&url, &me, &shown);
    assert_eq!(code, 0, "the password the page showed binds");
}

#[test]
fn ldap_person_whose_access_is_withdrawn_disappears_and_cannot_bind() {
    let s = ldap_setup(&[]);
    let alice = s.user("alice", "wonderland");
    let url = url(&s.portal);
    let (dn, spw) = service(&s.portal, "apache");
    let (_, pw) = app_password(&alice, "Apache");
    let (code, _, _) = whoami(&url, &people_dn("alice"), &pw);
    assert_eq!(code, 0);

    s.jf.set_user_disabled("alice", true);
    let c = s.portal.client();
    c.use_fresh_ip();
    assert_eq!(
        crate::media::sign_in(&c, "jellyfin", "alice", "wonderland").status,
        403
    );

    let (code, out, _) = search(
        &url,
        Some((&dn, &spw)),
        BASE,
        "sub",
        "(uid=alice)",
        &["uid"],
    );
    assert_eq!(code, 0);
    assert!(values(&out, "uid").is_empty(), "{out}");
    let (_, out, _) = search(
        &url,
        Some((&dn, &spw)),
        BASE,
        "sub",
        "(cn=jellyfin-user)",
        &["member"],
    );
    assert!(values(&out, "member").is_empty(), "{out}");
    let (code, _, _) = whoami(&url, &people_dn("alice"), &pw);
    assert_eq!(code, 49);
}

#[test]
fn ldap_jellyfin_person_binds_with_their_media_password_only_when_allowed() {
    let s = ldap_setup(&[("LDAP_MEDIA_PASSWORD_BIND", "true")]);
    s.user("alice", "wonderland");
    let url = url(&s.portal);
    let (code, out, err) = whoami(&url, &people_dn("alice"), "wonderland");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("dn:{}", people_dn("alice")));
    let (code, _, _) = whoami(&url, &people_dn("alice"), "not-her-password");
    assert_eq!(code, 49);
    assert_eq!(
        s.portal.count("SELECT count(*) FROM app_passwords"),
        0,
        "nothing stored"
    );
    // The portal keeps the token the bind was answered with, as a sign-in does (a
    // server may end the earlier one of the same device; re-validation asks with it).
    let (account, sealed): (String, String) = s
        .portal
        .db()
        .query_row(
            "SELECT provider_user_id, token_sealed FROM identities",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let token = s
        .portal
        .app()
        .sealer
        .open(&format!("provider-token:jellyfin:{account}"), &sealed)
        .unwrap();
    let token = String::from_utf8(token).unwrap();
    assert_eq!(s.jf.tokens_of("alice").last(), Some(&token));
    // A media server that does not answer: "unavailable", not a wrong password.
    s.jf.fail(
        "/Users/AuthenticateByName",
        crate::fakes::http::Fault::Status(503),
    );
    let (code, _, err) = whoami(&url, &people_dn("alice"), "wonderland");
    assert_eq!(code, 52, "{err}");
    s.jf.clear_faults();

    // Not allowed (the default): the same password is refused.
    let off = ldap_setup(&[]);
    off.user("alice", "wonderland");
    let (code, _, _) = whoami(&self::url(&off.portal), &people_dn("alice"), "wonderland");
    assert_eq!(code, 49);
}

#[test]
fn ldap_compare_checks_membership_and_writes_are_refused() {
    let s = ldap_setup(&[]);
    s.user("alice", "wonderland");
    let url = url(&s.portal);
    let (dn, pw) = service(&s.portal, "apache");
    let group = format!("cn=jellyfin-user,ou=groups,{BASE}");
    let member = format!("uniqueMember:{}", people_dn("alice"));
    assert_eq!(compare(&url, &dn, &pw, &group, &member), (6, "TRUE".into()));
    let other = format!("member:{}", people_dn("root"));
    assert_eq!(compare(&url, &dn, &pw, &group, &other), (5, "FALSE".into()));

    let ldif = format!(
        "dn: uid=mallory,ou=people,{BASE}\nobjectClass: person\nuid: mallory\ncn: mallory\nsn: m\n"
    );
    let path = std::env::temp_dir().join(format!("ldap-add-{}.ldif", std::process::id()));
    std::fs::write(&path, ldif).unwrap();
    let (code, _, err) = tool(
        "ldapadd",
        &[
            "-x",
            "-H",
            &url,
            "-D",
            &dn,
            "-w",
            &pw,
            "-f",
            path.to_str().unwrap(),
        ],
    );
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, 53, "{err}");
    let (code, _, _) = tool(
        "ldapdelete",
        &["-x", "-H", &url, "-D", &dn, "-w", &pw, &people_dn("alice")],
    );
    assert_eq!(code, 53);
}

/// Writes raw bytes on a fresh connection and reads until the server closes it (or a
/// second passes); what the server sent back.
fn raw(url: &str, bytes: &[u8]) -> Vec<u8> {
    let addr = url.trim_start_matches("ldap://");
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let _ = c.write_all(bytes);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

fn encode(msg: ldap3_proto::proto::LdapMsg) -> Vec<u8> {
    use tokio_util::codec::Encoder;
    let mut buf = bytes::BytesMut::new();
    ldap3_proto::LdapCodec::default()
        .encode(msg, &mut buf)
        .unwrap();
    buf.to_vec()
}

fn nested_search(depth: usize) -> Vec<u8> {
    use ldap3_proto::proto::*;
    let mut f = LdapFilter::Present("uid".into());
    for _ in 0..depth {
        f = LdapFilter::Not(Box::new(f));
    }
    encode(LdapMsg::new(
        1,
        LdapOp::SearchRequest(LdapSearchRequest {
            base: BASE.into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: f,
            attrs: vec![],
        }),
    ))
}

#[test]
fn ldap_malformed_packets_leave_the_server_answering() {
    let s = ldap_setup(&[("LDAP_ALLOW_ANONYMOUS", "true")]);
    s.user("alice", "wonderland");
    let url = self::url(&s.portal);
    let answering = || {
        let (code, out, err) = search(&url, None, BASE, "sub", "(uid=alice)", &["uid"]);
        assert_eq!(
            (code, values(&out, "uid")),
            (0, vec!["alice".to_string()]),
            "{err}"
        );
    };
    answering();
    // Random bytes (a fixed generator: the same sweep every run).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..20 {
        let noise: Vec<u8> = (0..64 + round * 50)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        raw(&url, &noise);
    }
    answering();
    // Truncated BER: every prefix of a real bind.
    let bind = encode(ldap3_proto::proto::LdapMsg::new(
        1,
        ldap3_proto::proto::LdapOp::BindRequest(ldap3_proto::proto::LdapBindRequest {
            version: 3,
            dn: people_dn("alice"),
            cred: ldap3_proto::proto::LdapBindCred::Simple("x".into()),
        }),
    ));
    for cut in [1, 2, 5, bind.len() / 2, bind.len() - 1] {
        raw(&url, &bind[..cut]);
    }
    answering();
    // Huge lengths: a 2 GiB message announced, then more than the limit sent.
    let mut huge = vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff];
    huge.extend(std::iter::repeat_n(0x04, 200 * 1024));
    let back = raw(&url, &huge);
    assert!(back.len() < 200, "closed with at most a notice");
    raw(
        &url,
        &[
            0x30, 0x89, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    answering();
    // Filters nested beyond the bound: refused (within BER's) or the connection closed.
    let back = raw(&url, &nested_search(20));
    assert!(!back.is_empty(), "a searchResultDone");
    assert!(
        back.windows(3).any(|w| w == [0x0a, 0x01, 53]),
        "unwillingToPerform: {back:?}"
    );
    raw(&url, &nested_search(5000));
    // Message id 0, and a response a client must not send.
    raw(&url, &[0x30, 0x05, 0x02, 0x01, 0x00, 0x42, 0x00]);
    answering();
}

#[test]
fn ldap_python_ldap3_client_searches_compares_and_binds() {
    let s = ldap_setup(&[]);
    let alice = s.user("alice", "wonderland");
    s.jf.add_user(FakeUser::new("b*b", "pw"));
    s.user("b*b", "pw");
    let (dn, pw) = service(&s.portal, "python");
    let (_, app_pw) = app_password(&alice, "script");
    let addr = s.portal.server.as_ref().unwrap().ldap_addr.unwrap();
    let script = r#"
import json, sys
from ldap3 import Server, Connection, SUBTREE
from ldap3.utils.conv import escape_filter_chars
host, port, dn, pw, base, alice, app_pw = sys.argv[1:]
server = Server(host, port=int(port), get_info='ALL')
c = Connection(server, dn, pw, auto_bind=True)
out = {"naming": [str(x) for x in server.info.naming_contexts]}
c.search(base, "(uid=%s)" % escape_filter_chars("b*b"), SUBTREE, attributes=["uid", "memberOf"])
out["escaped"] = [str(e.uid) for e in c.entries]
c.search(base, "(&(objectClass=person)(memberOf=cn=jellyfin-user,ou=groups,%s))" % base, SUBTREE, attributes=["uid"])
out["members"] = sorted(str(e.uid) for e in c.entries)
out["compare"] = c.compare("cn=jellyfin-user,ou=groups," + base, "member", alice)
out["whoami"] = c.extend.standard.who_am_i()
paged = c.extend.standard.paged_search(base, "(objectClass=person)", SUBTREE, attributes=["uid"], paged_size=1, generator=False)
c.search(base, "(objectClass=person)", SUBTREE, attributes=["uid"], paged_size=1)
page = c.result["controls"]["1.2.840.113556.1.4.319"]["value"]
out["first_page"] = [len(c.entries), len(page["cookie"]) > 0]
out["paged"] = sorted(str(e["attributes"]["uid"][0]) for e in paged if e["type"] == "searchResEntry")
p = Connection(server, alice, app_pw)
out["person_bind"] = p.bind()
bad = Connection(server, alice, "wrong")
out["bad_bind"] = bad.bind()
out["bad_result"] = bad.result["result"]
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            "127.0.0.1",
            &addr.port().to_string(),
            &dn,
            &pw,
            BASE,
            &people_dn("alice"),
            &app_pw,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the ldap3 script failed (needs pip install ldap3==2.9.1): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["naming"], json!([BASE]));
    assert_eq!(v["escaped"], json!(["b*b"]));
    assert_eq!(v["members"], json!(["alice", "b*b"]));
    assert_eq!(v["compare"], json!(true));
    assert_eq!(v["whoami"], json!(format!("dn:{dn}")));
    assert_eq!(v["first_page"], json!([1, true]), "one entry and a cookie");
    assert_eq!(v["paged"], json!(["alice", "b*b"]));
    assert_eq!(v["person_bind"], json!(true));
    assert_eq!(
        (v["bad_bind"].clone(), v["bad_result"].clone()),
        (json!(false), json!(49))
    );
}

/// A certificate for `localhost` and its key, made by openssl in `dir`.
fn self_signed(dir: &crate::harness::TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

#[test]
fn ldap_speaks_ldaps_and_starttls_with_the_configured_certificate() {
    let dir = crate::harness::TempDir::new();
    let (cert, key) = self_signed(&dir);
    let s = ldap_setup(&[
        ("LDAP_TLS_CERT", cert.to_str().unwrap()),
        ("LDAP_TLS_KEY", key.to_str().unwrap()),
    ]);
    s.user("alice", "wonderland");
    let (dn, pw) = service(&s.portal, "tls");
    let plain = url(&s.portal);
    let ldaps = plain.replace("ldap://", "ldaps://");
    let (code, out, err) = search(
        &ldaps,
        Some((&dn, &pw)),
        BASE,
        "sub",
        "(uid=alice)",
        &["uid"],
    );
    assert_eq!(
        (code, values(&out, "uid")),
        (0, vec!["alice".to_string()]),
        "{err}"
    );
    let (code, out, err) = tool(
        "ldapsearch",
        &[
            "-x",
            "-ZZ",
            "-LLL",
            "-H",
            &plain,
            "-D",
            &dn,
            "-w",
            &pw,
            "-b",
            BASE,
            "(uid=alice)",
            "uid",
        ],
    );
    assert_eq!(
        (code, values(&out, "uid")),
        (0, vec!["alice".to_string()]),
        "{err}"
    );
    let (_, out, _) = search(
        &plain,
        None,
        "",
        "base",
        "(objectClass=*)",
        &["supportedExtension"],
    );
    assert!(
        values(&out, "supportedExtension").contains(&"1.3.6.1.4.1.1466.20037".to_string()),
        "{out}"
    );
    // Plain LDAP still answers localhost.
    let (code, _, _) = whoami(&plain, &dn, &pw);
    assert_eq!(code, 0);
}

#[test]
fn ldap_people_with_a_second_factor_bind_only_with_app_passwords() {
    let s = ldap_setup(&[("LDAP_MEDIA_PASSWORD_BIND", "true")]);
    let alice = s.user("alice", "wonderland");
    let url = url(&s.portal);
    let (_, pw) = app_password(&alice, "Mail");
    let start = alice.post_json("/mfa/enroll/start", &json!({})).json();
    let secret = crate::totp_ref::base32_decode(start["secret"].as_str().unwrap());
    let code = crate::totp_ref::code(&secret, s.portal.app().clock.now());
    let r = alice.post_json("/mfa/enroll/verify", &json!({ "code": code }));
    assert_eq!(r.status, 200, "{}", r.body);
    let (code, _, _) = whoami(&url, &people_dn("alice"), "wonderland");
    assert_eq!(
        code, 49,
        "the media password skips the second factor: refused"
    );
    let (code, _, _) = whoami(&url, &people_dn("alice"), &pw);
    assert_eq!(code, 0);
}

/// Guessable passwords (media passwords) are limited per address and per DN; random
/// secrets are never refused when right, so nobody can lock an app out by failing binds.
#[test]
fn ldap_failed_binds_are_rate_limited() {
    let s = ldap_setup(&[("LDAP_MEDIA_PASSWORD_BIND", "true")]);
    let alice = s.user("alice", "wonderland");
    let url = url(&s.portal);
    let me = people_dn("alice");
    let (_, app_pw) = app_password(&alice, "Mail");
    let (dn, pw) = service(&s.portal, "guessed");
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(whoami(&url, &me, "guess").0);
    }
    assert_eq!(&codes[..5], [49; 5], "{codes:?}");
    assert_eq!(codes[7], 53, "{codes:?}");
    let (code, _, err) = whoami(&url, &me, "wonderland");
    assert_eq!(code, 53, "even the right media password waits: {err}");
    assert!(err.contains("too many failed binds"), "{err}");
    // Random secrets that are right still bind; wrong ones are limited too.
    assert_eq!(whoami(&url, &me, &app_pw).0, 0);
    assert_eq!(whoami(&url, &dn, &pw).0, 0);
    assert_eq!(whoami(&url, &dn, "guess").0, 53);
    // Counted, but only real attempts are events: a flood does not fill the audit log.
    let failed = codes.iter().filter(|c| **c == 49).count() as i64;
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'ldap.bind.failure'"),
        failed
    );
    let metrics = s.portal.client().get("/metrics").body;
    assert!(
        metrics.contains("authportal_ldap_binds_total{result=\"failure\"} 5")
            && metrics.contains("authportal_ldap_binds_total{result=\"limited\"} 5"),
        "refused unchecked, over the limit: counted apart: {metrics}"
    );
    // The portal's clock moves on: the media password works again.
    s.portal.app().clock.advance(15 * 60);
    let (code, _, err) = whoami(&url, &me, "wonderland");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn ldap_console_sets_the_directory_and_manages_service_accounts() {
    // Off until the console names an address; it applies at the next start.
    let s = setup(&[]);
    let root = s.user("root", "toor");
    s.user("alice", "wonderland");
    assert_eq!(s.portal.server.as_ref().unwrap().ldap_addr, None);
    let current = root.get("/api/admin/config/ldap").json();
    assert_eq!(
        current["config"],
        json!({ "listen_addr": "", "media_password_bind": false, "anonymous_search": false })
    );
    let r = crate::team::put(
        &root,
        "/api/admin/config/ldap",
        json!({ "version": current["version"], "config": { "listen_addr": "3890" } }),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("IP:PORT"), "{}", r.body);
    let r = crate::team::put(
        &root,
        "/api/admin/config/ldap",
        json!({ "version": current["version"], "config": { "listen_addr": "127.0.0.1:0", "media_password_bind": true } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let Setup { jf, portal } = s;
    let portal = portal.restart();
    let url = self::url(&portal);
    let (code, _, err) = whoami(&url, &people_dn("alice"), "wonderland");
    assert_eq!(code, 0, "media password bind from the console: {err}");

    // Service accounts from the console: shown once, audited, deleted.
    let root = portal.client();
    root.use_fresh_ip();
    assert_eq!(
        crate::media::sign_in(&root, "jellyfin", "root", "toor").status,
        303
    );
    let r = root.post_json("/api/admin/ldap/services", &json!({ "name": "unifi" }));
    assert_eq!(r.status, 201, "{}", r.body);
    let made = r.json();
    let (dn, pw) = (
        made["dn"].as_str().unwrap().to_string(),
        made["password"].as_str().unwrap().to_string(),
    );
    assert_eq!(whoami(&url, &dn, &pw).0, 0);
    assert_eq!(
        root.post_json("/api/admin/ldap/services", &json!({ "name": "unifi" }))
            .status,
        400,
        "taken"
    );
    assert_eq!(
        root.post_json("/api/admin/ldap/services", &json!({ "name": "a,b" }))
            .status,
        400
    );
    let page = root.get("/admin/ldap");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&dn) && page.body.contains("ldap-create"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&pw));
    let list = root.get("/api/admin/ldap/services").json();
    assert_eq!(list["services"][0]["dn"], json!(dn));
    assert!(!list.to_string().contains(&pw));
    assert_eq!(
        root.send("DELETE", "/api/admin/ldap/services/unifi", &[], None)
            .status,
        204
    );
    assert_eq!(
        root.send("DELETE", "/api/admin/ldap/services/unifi", &[], None)
            .status,
        404
    );
    assert_eq!(whoami(&url, &dn, &pw).0, 49);
    assert_eq!(
        portal.count("SELECT count(*) FROM events WHERE type LIKE 'admin.ldap_service.%'"),
        2
    );
    drop(jf);

    // The environment wins, and the console shows those fields locked.
    let env = ldap_setup(&[("LDAP_MEDIA_PASSWORD_BIND", "false")]);
    let root = env.user("root", "toor");
    let alice = env.user("alice", "wonderland");
    assert_eq!(alice.get("/admin/ldap").status, 403);
    assert_eq!(alice.get("/api/admin/ldap/services").status, 403);
    assert_eq!(
        alice
            .post_json("/api/admin/ldap/services", &json!({ "name": "x" }))
            .status,
        403
    );
    let doc = root.get("/api/admin/config/ldap").json();
    let locked = doc["locked"].to_string();
    assert!(
        locked.contains("listen_addr") && locked.contains("media_password_bind"),
        "{doc}"
    );
}

#[test]
fn ldap_connections_per_address_are_capped() {
    let s = ldap_setup(&[("LDAP_ALLOW_ANONYMOUS", "true")]);
    let url = url(&s.portal);
    let addr = url.trim_start_matches("ldap://").to_string();
    let held: Vec<TcpStream> = (0..authportal::ldap::MAX_PER_ADDRESS)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // Give the accept loop time to count them all.
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(extra.read(&mut buf).unwrap_or(0), 0, "closed at once");
    let (code, _, _) = search(&url, None, BASE, "base", "(objectClass=*)", &[]);
    assert_ne!(code, 0, "the address is at its cap");
    drop(held);
    std::thread::sleep(Duration::from_millis(600));
    let (code, _, err) = search(&url, None, BASE, "base", "(objectClass=*)", &[]);
    assert_eq!(code, 0, "room again: {err}");
}

/// A console address that cannot be used (a port taken meanwhile) leaves the directory
/// off, not the portal; the environment's is a configuration error.
#[test]
fn ldap_a_taken_console_address_leaves_only_the_directory_off() {
    let hold = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = hold.local_addr().unwrap().to_string();
    let s = setup(&[]);
    crate::admin::store_section(&s.portal, "ldap", &json!({ "listen_addr": taken }));
    let Setup { jf, portal } = s;
    let portal = portal.restart();
    assert_eq!(portal.server.as_ref().unwrap().ldap_addr, None);
    assert_eq!(portal.client().get("/healthz").status, 200);
    drop(jf);
    let mut vars: std::collections::BTreeMap<String, String> = portal.vars.clone();
    vars.insert("LDAP_LISTEN_ADDR".into(), taken);
    let cfg = authportal::Config::from_vars(&vars).unwrap();
    drop(portal);
    let err = authportal::start(cfg).err().expect("refused");
    assert!(err.contains("LDAP_LISTEN_ADDR"), "{err}");
}

/// One connection that sends messages and decodes the answers with ldap3_proto.
struct Session {
    tcp: TcpStream,
    codec: ldap3_proto::LdapCodec,
    buf: bytes::BytesMut,
    next_id: i32,
}

impl Session {
    fn open(url: &str) -> Session {
        let tcp = TcpStream::connect(url.trim_start_matches("ldap://")).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Session {
            tcp,
            codec: ldap3_proto::LdapCodec::default(),
            buf: bytes::BytesMut::new(),
            next_id: 1,
        }
    }

    /// Sends `op` and returns every answer up to the one that ends it.
    fn ask(&mut self, op: ldap3_proto::proto::LdapOp) -> Vec<ldap3_proto::proto::LdapOp> {
        use ldap3_proto::proto::LdapOp;
        use tokio_util::codec::Decoder;
        let id = self.next_id;
        self.next_id += 1;
        self.tcp
            .write_all(&encode(ldap3_proto::proto::LdapMsg::new(id, op)))
            .unwrap();
        let mut out = Vec::new();
        loop {
            while let Some(msg) = self.codec.decode(&mut self.buf).unwrap() {
                assert_eq!(msg.msgid, id);
                let last = !matches!(msg.op, LdapOp::SearchResultEntry(_));
                out.push(msg.op);
                if last {
                    return out;
                }
            }
            let mut chunk = [0u8; 8192];
            let n = self.tcp.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn bind(&mut self, dn: &str, cred: ldap3_proto::proto::LdapBindCred) -> i32 {
        self.bind_v(3, dn, cred)
    }

    fn bind_v(&mut self, version: i64, dn: &str, cred: ldap3_proto::proto::LdapBindCred) -> i32 {
        use ldap3_proto::proto::*;
        match &self.ask(LdapOp::BindRequest(LdapBindRequest {
            version,
            dn: dn.into(),
            cred,
        }))[..]
        {
            [LdapOp::BindResponse(r)] => r.res.code.clone() as i32,
            other => panic!("{other:?}"),
        }
    }

    fn whoami(&mut self) -> String {
        use ldap3_proto::proto::*;
        match &self.ask(LdapOp::ExtendedRequest(LdapExtendedRequest {
            name: OID_WHOAMI.into(),
            value: None,
        }))[..]
        {
            [LdapOp::ExtendedResponse(r)] => {
                String::from_utf8(r.value.clone().unwrap_or_default()).unwrap()
            }
            other => panic!("{other:?}"),
        }
    }
}

fn simple(pw: &str) -> ldap3_proto::proto::LdapBindCred {
    ldap3_proto::proto::LdapBindCred::Simple(pw.into())
}

/// RFC 4511 section 4.2.1: a failed bind, of whatever kind, leaves the connection
/// anonymous; it must not keep the identity of an earlier bind.
#[test]
fn ldap_a_failed_bind_of_any_kind_leaves_the_connection_anonymous() {
    use ldap3_proto::proto::*;
    let s = ldap_setup(&[]);
    s.user("alice", "wonderland");
    let url = url(&s.portal);
    let (dn, pw) = service(&s.portal, "nas");
    let mut c = Session::open(&url);
    let sasl = || {
        LdapBindCred::SASL(SaslCredentials {
            mechanism: "EXTERNAL".into(),
            credentials: Vec::new(),
        })
    };
    for failing in 0..3 {
        assert_eq!(c.bind(&dn, simple(&pw)), 0);
        assert_eq!(c.whoami(), format!("dn:{dn}"));
        let code = match failing {
            0 => c.bind(&dn, sasl()),
            1 => c.bind_v(2, &dn, simple(&pw)),
            _ => c.bind(&dn, simple("wrong")),
        };
        assert_ne!(code, 0, "bind {failing}");
        assert_eq!(c.whoami(), "", "bind {failing} left the connection bound");
        let done = c.ask(LdapOp::SearchRequest(LdapSearchRequest {
            base: BASE.into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: LdapFilter::Present("uid".into()),
            attrs: vec![],
        }));
        assert!(
            matches!(&done[..], [LdapOp::SearchResultDone(r)] if r.code == LdapResultCode::InsufficentAccessRights),
            "bind {failing}: {done:?}"
        );
    }
}

/// A person sees their groups, but not who else is in them: a group such as
/// `jellyfin-user` would otherwise list every username on the server, and compare would
/// answer for anyone.
#[test]
fn ldap_a_person_does_not_see_the_other_members_of_their_groups() {
    let s = ldap_setup(&[]);
    let alice = s.user("alice", "wonderland");
    s.user("vera", "viewer");
    let url = url(&s.portal);
    let me = people_dn("alice");
    let (_, pw) = app_password(&alice, "Mail");
    let group = format!("cn=jellyfin-user,ou=groups,{BASE}");
    // A service account sees both members.
    let (dn, spw) = service(&s.portal, "nas");
    let (code, out, err) = search(
        &url,
        Some((&dn, &spw)),
        &group,
        "base",
        "(objectClass=*)",
        &["member"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(values(&out, "member").len(), 2, "{out}");

    let (code, out, err) = search(
        &url,
        Some((&me, &pw)),
        BASE,
        "sub",
        "(objectClass=*)",
        &["member", "uniqueMember", "uid"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.to_lowercase().contains("vera"), "{out}");
    assert_eq!(values(&out, "member"), std::slice::from_ref(&me), "{out}");
    assert_eq!(
        values(&out, "uniqueMember"),
        std::slice::from_ref(&me),
        "{out}"
    );
    // Nor does a filter or compare on membership tell.
    let (code, out, _) = search(
        &url,
        Some((&me, &pw)),
        BASE,
        "sub",
        &format!("(member={})", people_dn("vera")),
        &["cn"],
    );
    assert_eq!(code, 0);
    assert!(values(&out, "cn").is_empty(), "{out}");
    let vera = format!("member:{}", people_dn("vera"));
    assert_ne!(compare(&url, &me, &pw, &group, &vera), (6, "TRUE".into()));
    let myself = format!("member:{me}");
    assert_eq!(compare(&url, &me, &pw, &group, &myself), (6, "TRUE".into()));
}

/// Deleting a service account (a leaked password) ends what its open connections may
/// do: apps hold connections for hours, and a new account made in its place (the same
/// name, perhaps the same row id) is not the old password's.
#[test]
fn ldap_a_deleted_service_account_reads_nothing_on_connections_it_opened() {
    use ldap3_proto::proto::*;
    let s = ldap_setup(&[]);
    s.user("alice", "wonderland");
    let url = url(&s.portal);
    let (dn, pw) = service(&s.portal, "leaked");
    let mut c = Session::open(&url);
    assert_eq!(c.bind(&dn, simple(&pw)), 0);
    let people = || {
        LdapOp::SearchRequest(LdapSearchRequest {
            base: BASE.into(),
            scope: LdapSearchScope::Subtree,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: LdapFilter::Equality("uid".into(), "alice".into()),
            attrs: vec![],
        })
    };
    assert_eq!(c.ask(people()).len(), 2, "alice and the end");
    let out = Command::new(env!("CARGO_BIN_EXE_authportal"))
        .args(["ldap-bind", "delete", "leaked"])
        .envs(s.portal.vars.iter())
        .output()
        .unwrap();
    assert!(out.status.success());
    let (again, _) = service(&s.portal, "leaked");
    assert_eq!(again, dn);
    let done = c.ask(people());
    assert!(
        matches!(&done[..], [LdapOp::SearchResultDone(r)] if r.code == LdapResultCode::InsufficentAccessRights),
        "{done:?}"
    );
    assert_eq!(c.whoami(), "", "the connection is anonymous again");
}

/// A client that drips a message a byte at a time, never pausing long enough for a
/// read to time out, is closed once the message has taken 10 s (it would otherwise
/// hold one of the connection slots for hours).
#[test]
fn ldap_a_message_dripped_a_byte_at_a_time_is_cut_off() {
    let s = ldap_setup(&[]);
    let url = url(&s.portal);
    let mut c = TcpStream::connect(url.trim_start_matches("ldap://")).unwrap();
    c.set_nonblocking(true).unwrap();
    // A SEQUENCE that announces 60,000 bytes, then filler.
    let mut bytes = vec![0x30, 0x82, 0xea, 0x60]
        .into_iter()
        .chain(std::iter::repeat(0x04));
    let started = std::time::Instant::now();
    let closed = loop {
        if started.elapsed() > Duration::from_secs(20) {
            break false;
        }
        let mut b = [0u8; 64];
        match c.read(&mut b) {
            Ok(0) => break true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok(_) | Err(_) => break true,
        }
        if c.write_all(&[bytes.next().unwrap()]).is_err() {
            break true;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(closed, "still open after {:?}", started.elapsed());
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
}

/// Revoking an app password (or withdrawing the person's access) ends what the
/// connections it opened may read, as deleting a service account does.
#[test]
fn ldap_a_revoked_app_password_reads_nothing_on_connections_it_opened() {
    use ldap3_proto::proto::*;
    let s = ldap_setup(&[]);
    let alice = s.user("alice", "wonderland");
    let url = url(&s.portal);
    let me = people_dn("alice");
    let (id, pw) = app_password(&alice, "Mail");
    let (_, kept) = app_password(&alice, "Kept");
    let mine = || {
        LdapOp::SearchRequest(LdapSearchRequest {
            base: me.clone(),
            scope: LdapSearchScope::Base,
            aliases: LdapDerefAliases::Never,
            sizelimit: 0,
            timelimit: 0,
            typesonly: false,
            filter: LdapFilter::Present("objectClass".into()),
            attrs: vec!["uid".into()],
        })
    };
    let mut revoked = Session::open(&url);
    let mut other = Session::open(&url);
    assert_eq!(revoked.bind(&me, simple(&pw)), 0);
    assert_eq!(other.bind(&me, simple(&kept)), 0);
    assert_eq!(revoked.ask(mine()).len(), 2, "her entry and the end");
    let r = alice.send("DELETE", &format!("/api/me/app-passwords/{id}"), &[], None);
    assert_eq!(r.status, 204, "{}", r.body);
    let done = revoked.ask(mine());
    assert!(
        matches!(&done[..], [LdapOp::SearchResultDone(r)] if r.code == LdapResultCode::InsufficentAccessRights),
        "{done:?}"
    );
    assert_eq!(revoked.whoami(), "");
    // Her other app password's connection is untouched.
    assert_eq!(other.ask(mine()).len(), 2);
    assert_eq!(other.whoami(), format!("dn:{me}"));
}

/// An app password's name is shown on /home and in the audit log: characters that
/// reorder or hide text (bidi overrides, zero-width ones) could make it read as another.
#[test]
fn ldap_app_password_names_refuse_invisible_and_reordering_characters() {
    let s = ldap_setup(&[]);
    let alice = s.user("alice", "wonderland");
    for name in [
        "Mail\u{202e}liaM",
        "Ma\u{200b}il",
        "\u{2066}Mail",
        "Mail\u{feff}",
        "a\u{7}b",
    ] {
        let r = alice.post_json("/api/me/app-passwords", &json!({ "name": name }));
        assert_eq!(r.status, 400, "{name:?}: {}", r.body);
        assert!(
            r.json()["error"].is_string() || r.body.contains("name"),
            "{}",
            r.body
        );
    }
    assert_eq!(s.portal.count("SELECT count(*) FROM app_passwords"), 0);
    let r = alice.post_json("/api/me/app-passwords", &json!({ "name": "Mail für Zoë" }));
    assert_eq!(r.status, 201, "{}", r.body);
}

/// A TLS-configured portal (LDAPS and StartTLS on its directory's port).
fn tls_setup() -> (Setup, crate::harness::TempDir) {
    let dir = crate::harness::TempDir::new();
    let (cert, key) = self_signed(&dir);
    let s = ldap_setup(&[
        ("LDAP_ALLOW_ANONYMOUS", "true"),
        ("LDAP_TLS_CERT", cert.to_str().unwrap()),
        ("LDAP_TLS_KEY", key.to_str().unwrap()),
    ]);
    (s, dir)
}

/// The time limits of [`Quick`]: a slow client is cut off after a second, not ten.
const QUICK: Duration = Duration::from_secs(1);
const QUICK_IDLE: Duration = Duration::from_secs(3);

/// A second directory listener on the portal's app, with short time limits; stopped
/// when dropped.
struct Quick {
    addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Quick {
    fn start(p: &Portal) -> Quick {
        Quick::with(
            p,
            authportal::ldap::Limits {
                idle: QUICK_IDLE,
                message_time: QUICK,
                handshake_time: QUICK,
                ..authportal::ldap::Limits::default()
            },
        )
    }

    fn with(p: &Portal, limits: authportal::ldap::Limits) -> Quick {
        let app = std::sync::Arc::clone(&p.server.as_ref().unwrap().app);
        let bound = authportal::ldap::bind(&app).unwrap().expect("LDAP listens");
        let addr = bound.addr.to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = bound
            .serve_with(app, std::sync::Arc::clone(&stop), limits)
            .unwrap();
        Quick {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Quick {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Writes `bytes` on a fresh connection to `addr`, one every 100 ms (never pausing long
/// enough for a read to time out), until the server closes it or `give_up` passes: how
/// long the server took to close it, None if it never did.
fn drip(addr: &str, bytes: impl IntoIterator<Item = u8>, give_up: Duration) -> Option<Duration> {
    drip_on(TcpStream::connect(addr).unwrap(), bytes, give_up)
}

/// [`drip`] on a connection already open.
fn drip_on(
    mut c: TcpStream,
    bytes: impl IntoIterator<Item = u8>,
    give_up: Duration,
) -> Option<Duration> {
    c.set_nonblocking(true).unwrap();
    let mut bytes = bytes.into_iter();
    let started = std::time::Instant::now();
    while started.elapsed() < give_up {
        let mut b = [0u8; 1024];
        match c.read(&mut b) {
            Ok(n) if n > 0 => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok(_) | Err(_) => return Some(started.elapsed()),
        }
        if let Some(byte) = bytes.next() {
            if c.write_all(&[byte]).is_err() {
                return Some(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// The start of a TLS handshake record that announces 512 bytes, then filler.
fn tls_record_dripped() -> impl Iterator<Item = u8> {
    [0x16, 0x03, 0x01, 0x02, 0x00]
        .into_iter()
        .chain(std::iter::repeat(0x01))
}

/// rustls reads whole TLS records: a handshake dripped a byte at a time, or one that
/// stops half-way, must still end within the handshake time (it would otherwise hold a
/// thread and a connection slot for as long as the client likes). The per-address cap
/// counts connections still in their handshake like any other.
#[test]
fn ldap_a_tls_handshake_dripped_or_left_unfinished_is_cut_off() {
    let (s, _dir) = tls_setup();
    let quick = Quick::start(&s.portal);
    let dripped = drip(&quick.addr, tls_record_dripped(), Duration::from_secs(15));
    assert!(
        dripped.is_some_and(|t| t >= QUICK && t < QUICK * 5),
        "{dripped:?}"
    );
    let stalled = drip(&quick.addr, [0x16, 0x03, 0x01], Duration::from_secs(15));
    assert!(
        stalled.is_some_and(|t| t >= QUICK && t < QUICK * 5),
        "{stalled:?}"
    );

    let addr = url(&s.portal).trim_start_matches("ldap://").to_string();
    let held: Vec<TcpStream> = (0..authportal::ldap::MAX_PER_ADDRESS)
        .map(|_| {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.write_all(&[0x16, 0x03, 0x01]).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(extra.read(&mut buf).unwrap_or(0), 0, "closed at once");
    drop(held);
}

/// A TLS client's certificate check that takes any certificate (the test's own).
#[derive(Debug)]
struct AnyCertificate(Vec<rustls::SignatureScheme>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.clone()
    }
}

/// A connection to `addr` that has finished its TLS handshake (LDAPS, or after a
/// StartTLS request), with the client's TLS state: what it writes next can be
/// encrypted and then sent a byte at a time.
fn tls_client(addr: &str, starttls: bool) -> (TcpStream, rustls::ClientConnection) {
    use ldap3_proto::proto::*;
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if starttls {
        let request = LdapOp::ExtendedRequest(LdapExtendedRequest {
            name: "1.3.6.1.4.1.1466.20037".into(),
            value: None,
        });
        tcp.write_all(&encode(LdapMsg::new(1, request))).unwrap();
        let mut answer = [0u8; 256];
        assert!(tcp.read(&mut answer).unwrap() > 0, "StartTLS answered");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(std::sync::Arc::new(AnyCertificate(schemes)))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).unwrap();
    }
    (tcp, conn)
}

/// Over LDAPS and after StartTLS, a message in a TLS record sent a byte at a time must
/// still arrive within the message time of its first byte; a connection that says
/// nothing after its handshake closes when idle, as a plain one does.
#[test]
fn ldap_a_message_dripped_inside_tls_is_cut_off() {
    let (s, _dir) = tls_setup();
    let quick = Quick::start(&s.portal);
    for starttls in [false, true] {
        let (tcp, mut conn) = tls_client(&quick.addr, starttls);
        // A search request that announces 60,000 bytes; its first 200 in one record.
        let mut message = vec![0x30, 0x82, 0xea, 0x60];
        message.resize(200, 0x04);
        conn.writer().write_all(&message).unwrap();
        let mut record = Vec::new();
        conn.write_tls(&mut record).unwrap();
        let cut = drip_on(tcp, record, Duration::from_secs(15));
        assert!(
            cut.is_some_and(|t| t >= QUICK && t < QUICK * 5),
            "StartTLS {starttls}: {cut:?}"
        );

        let (mut tcp, _conn) = tls_client(&quick.addr, starttls);
        let started = std::time::Instant::now();
        tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest);
        let idle = started.elapsed();
        assert!(
            idle >= QUICK_IDLE - Duration::from_millis(500) && idle < QUICK_IDLE * 3,
            "StartTLS {starttls}: closed after {idle:?}"
        );
    }
}

/// LDAP binds and web sign-ins have budgets of their own: an app retrying an old
/// password does not lock its address out of the sign-in page, and guessing on the
/// sign-in page does not stop LDAP binds from that address.
#[test]
fn ldap_binds_and_web_sign_ins_have_budgets_of_their_own() {
    let s = ldap_setup(&[]);
    let url = url(&s.portal);
    let (dn, pw) = service(&s.portal, "app");
    // Both come from 127.0.0.1 (no X-Forwarded-For), each guess on another name so that
    // no account's back-off is what refuses.
    let web = s.portal.client();
    let ghost = |i: usize| people_dn(&format!("ghost{i}"));
    let binds: Vec<i32> = (0..6).map(|i| whoami(&url, &ghost(i), "guess").0).collect();
    assert_eq!(binds, [49, 49, 49, 49, 49, 53], "the LDAP budget is spent");
    assert_eq!(
        crate::media::sign_in(&web, "jellyfin", "nobody", "guess").status,
        401,
        "the sign-in page still answers this address"
    );
    let metrics = s.portal.client().get("/metrics").body;
    assert!(
        metrics.contains("authportal_ldap_binds_total{result=\"limited\"} 1"),
        "{metrics}"
    );

    s.portal.app().clock.advance(15 * 60);
    let signins: Vec<u16> = (0..6)
        .map(|i| crate::media::sign_in(&web, "jellyfin", &format!("ghost{i}"), "guess").status)
        .collect();
    assert_eq!(
        signins,
        [401, 401, 401, 401, 401, 429],
        "the sign-in budget is spent"
    );
    assert_eq!(
        whoami(&url, &ghost(9), "guess").0,
        49,
        "a wrong bind is still checked, not refused for the web's guesses"
    );
    assert_eq!(whoami(&url, &dn, &pw).0, 0);
}

/// When the directory is full, a newcomer takes the place of the connection that has
/// waited longest anonymously: connections that say one thing and wait are cheap to
/// open from many addresses (an IPv6 home has 256 /64s) and must not keep everyone
/// out. A bound app's connections are never closed for a stranger.
#[test]
fn ldap_a_full_directory_closes_an_anonymous_idle_connection_for_a_newcomer() {
    let s = ldap_setup(&[]);
    let (dn, pw) = service(&s.portal, "app");
    let quick = Quick::with(
        &s.portal,
        authportal::ldap::Limits {
            max_connections: 3,
            ..authportal::ldap::Limits::default()
        },
    );
    let url = format!("ldap://{}", quick.addr);
    let mut app = Session::open(&url);
    assert_eq!(app.bind(&dn, simple(&pw)), 0);
    let mut first = Session::open(&url);
    assert_eq!(first.whoami(), "");
    std::thread::sleep(Duration::from_millis(50));
    let mut second = Session::open(&url);
    assert_eq!(second.whoami(), "");

    let mut newcomer = Session::open(&url);
    assert_eq!(newcomer.whoami(), "", "the newcomer is served");
    first
        .tcp
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut b = [0u8; 16];
    assert!(
        matches!(first.tcp.read(&mut b), Ok(0)),
        "the longest-waiting anonymous connection was closed"
    );
    // A message dripping in does not make a connection look busy.
    second.tcp.write_all(&[0x30]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut later = Session::open(&url);
    assert_eq!(later.whoami(), "");
    second
        .tcp
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    assert!(matches!(second.tcp.read(&mut b), Ok(0)));
    assert_eq!(newcomer.whoami(), "");
    assert_eq!(app.whoami(), format!("dn:{dn}"));
}

/// Clients speak first in LDAP: a connection that says nothing is closed after the
/// message time, not kept for the idle time (5 minutes) as one between messages is.
#[test]
fn ldap_a_connection_that_never_speaks_is_closed() {
    let s = ldap_setup(&[]);
    let quick = Quick::start(&s.portal);
    let silent = drip(&quick.addr, [], Duration::from_secs(10));
    assert!(
        silent.is_some_and(|t| t >= QUICK && t < QUICK * 4),
        "{silent:?}"
    );
}

/// A client that reads its answers a trickle at a time (here 2.5 KB/s, its receive
/// window kept small) must not hold its thread for as long as the answers last: writes
/// that wait beyond the grace at less than the least rate (16 KiB/s) close it.
#[test]
fn ldap_a_client_that_reads_a_trickle_is_cut_off() {
    use ldap3_proto::proto::*;
    let s = ldap_setup(&[]);
    let quick = Quick::with(
        &s.portal,
        authportal::ldap::Limits {
            write_grace: QUICK,
            ..authportal::ldap::Limits::default()
        },
    );
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = quick.addr.parse().unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut c: TcpStream = socket.into();
    // 20,000 Root DSE searches at once: megabytes of answers, more than socket
    // buffers hold.
    let requests: Vec<u8> = (1..=20_000)
        .flat_map(|id| {
            encode(LdapMsg::new(
                id,
                LdapOp::SearchRequest(LdapSearchRequest {
                    base: String::new(),
                    scope: LdapSearchScope::Base,
                    aliases: LdapDerefAliases::Never,
                    sizelimit: 0,
                    timelimit: 0,
                    typesonly: false,
                    filter: LdapFilter::Present("objectClass".into()),
                    attrs: vec![],
                }),
            ))
        })
        .collect();
    c.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&requests).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut taken = 0;
    let closed = loop {
        if started.elapsed() > Duration::from_secs(20) {
            break None;
        }
        let mut b = [0u8; 256];
        match c.read(&mut b) {
            Ok(0) => break Some(started.elapsed()),
            Ok(n) => taken += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break Some(started.elapsed()),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(10)),
        "{closed:?} after {taken} bytes"
    );
}

/// Adds people member0..member{n-1} straight to the store (a big community without
/// signing each in), each a Jellyfin user, every tenth also in `team`.
fn add_people(p: &Portal, n: usize) {
    use authportal::providers::{FirstFactor, Identity, ProviderKind};
    let mut db = p.db();
    let tx = db.transaction().unwrap();
    for i in 0..n {
        let ident = Identity {
            provider: ProviderKind::Jellyfin,
            provider_user_id: format!("bulk{i}"),
            username: format!("member{i}"),
            email: Some(format!("member{i}@example.com")),
            groups: vec!["jellyfin-user".into()],
            token: String::new(),
            avatar: None,
            method: FirstFactor::Password,
        };
        let linked = authportal::db::users::record_sign_in(&tx, &ident, None, 0).unwrap();
        if i % 10 == 0 {
            authportal::db::users::add_group(&tx, linked.user_id, "team", 0).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// A search over more entries than a page, and than the directory reads from the store
/// at once, returns every entry exactly once, paged or not; a filter an index answers
/// finds what the same filter read by a scan (`(|F)` is never narrowed) finds.
#[test]
fn ldap_search_streams_more_entries_than_a_page_each_once() {
    let s = ldap_setup(&[]);
    s.user("alice", "wonderland");
    let people = authportal::ldap::directory::BATCH + 100;
    add_people(&s.portal, people);
    let url = url(&s.portal);
    let (dn, pw) = service(&s.portal, "nas");
    let once = |out: &str| {
        let mut uids = values(out, "uid");
        let n = uids.len();
        uids.sort();
        uids.dedup();
        assert_eq!(uids.len(), n, "an entry came twice");
        uids
    };
    let (code, out, err) = search_with(
        &url,
        Some((&dn, &pw)),
        &["-E", "pr=37/noprompt"],
        BASE,
        "sub",
        "(objectClass=person)",
        &["uid"],
    );
    assert_eq!(code, 0, "{err}");
    let paged = once(&out);
    assert_eq!(paged.len(), people + 1, "{out}");
    assert!(paged.contains(&"alice".to_string()));
    let (code, out, err) = search(&url, Some((&dn, &pw)), BASE, "sub", "(uid=*)", &["uid"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(once(&out), paged);

    let team = format!("cn=team,ou=groups,{BASE}");
    for (filter, found) in [
        ("(uid=MEMBER123)".to_string(), 1),
        ("(mail=member123@example.COM)".into(), 1),
        ("(&(objectClass=inetOrgPerson)(cn=member7))".into(), 1),
        (format!("(memberOf={team})"), people.div_ceil(10)),
        (
            format!(
                "(&(objectClass=groupOfNames)(member={}))",
                people_dn("member10")
            ),
            2,
        ),
        ("(cn=team)".into(), 1),
    ] {
        let (code, indexed, err) = search(&url, Some((&dn, &pw)), BASE, "sub", &filter, &["dn"]);
        assert_eq!(code, 0, "{filter}: {err}");
        let (_, scanned, _) = search(
            &url,
            Some((&dn, &pw)),
            BASE,
            "sub",
            &format!("(|{filter})"),
            &["dn"],
        );
        let dns = |out: &str| {
            let mut v = values(out, "dn");
            v.sort();
            v
        };
        assert_eq!(dns(&indexed), dns(&scanned), "{filter}");
        assert_eq!(dns(&indexed).len(), found, "{filter}: {indexed}");
    }
    // Compare reads the entry whatever the assertion says of it.
    assert_eq!(
        compare(&url, &dn, &pw, &team, "objectClass:person"),
        (5, "FALSE".into())
    );
    assert_eq!(
        compare(
            &url,
            &dn,
            &pw,
            &people_dn("member5"),
            &format!("memberOf:{team}")
        ),
        (5, "FALSE".into())
    );
    let member10 = format!("member:{}", people_dn("member10"));
    assert_eq!(
        compare(&url, &dn, &pw, &team, &member10),
        (6, "TRUE".into())
    );
    // A group as big as the directory lists every member when asked for them.
    let (code, out, err) = search(
        &url,
        Some((&dn, &pw)),
        &format!("cn=jellyfin-user,ou=groups,{BASE}"),
        "base",
        "(objectClass=*)",
        &["member"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(values(&out, "member").len(), people + 1);
}

/// Answers are written as they are made: the first arrive long before the search ends
/// (a search holds one entry and a buffer, not its whole answer). So a search waits on
/// its client while it writes, and it does so without a reader's place: two clients
/// that search a big directory and never read their answers do not hold up a third
/// client's search.
#[test]
fn ldap_clients_that_do_not_read_their_answers_leave_searches_to_others() {
    use ldap3_proto::proto::*;
    use tokio_util::codec::Decoder;
    let s = ldap_setup(&[]);
    s.user("alice", "wonderland");
    add_people(&s.portal, 8_000);
    let (dn, pw) = service(&s.portal, "nas");
    let url = url(&s.portal);
    let addr: std::net::SocketAddr = url.trim_start_matches("ldap://").parse().unwrap();
    let everyone = |id| {
        encode(LdapMsg::new(
            id,
            LdapOp::SearchRequest(LdapSearchRequest {
                base: BASE.into(),
                scope: LdapSearchScope::Subtree,
                aliases: LdapDerefAliases::Never,
                sizelimit: 0,
                timelimit: 0,
                typesonly: false,
                filter: LdapFilter::Present("objectClass".into()),
                attrs: vec![],
            }),
        ))
    };
    let mut first = Session::open(&url);
    // The group of everyone lists 8,000 members: more than a default message.
    first.codec = ldap3_proto::LdapCodec::new(Some(16 << 20), None);
    assert_eq!(first.bind(&dn, simple(&pw)), 0);
    let started = std::time::Instant::now();
    first.tcp.write_all(&everyone(2)).unwrap();
    let mut chunk = [0u8; 8192];
    let mut first_bytes = None;
    let mut entries = 0;
    'answer: loop {
        let n = first.tcp.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        first_bytes.get_or_insert(started.elapsed());
        first.buf.extend_from_slice(&chunk[..n]);
        while let Some(msg) = first.codec.decode(&mut first.buf).unwrap() {
            match msg.op {
                LdapOp::SearchResultEntry(_) => entries += 1,
                LdapOp::SearchResultDone(done) => {
                    assert_eq!(done.code, LdapResultCode::Success);
                    break 'answer;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    let whole = started.elapsed();
    let first_bytes = first_bytes.unwrap();
    assert!(entries > 8_000, "{entries}");
    assert!(
        first_bytes * 4 < whole,
        "the first answers came after {first_bytes:?} of {whole:?}"
    );

    let stalled: Vec<TcpStream> = (0..authportal::ldap::directory::MAX_READERS)
        .map(|_| {
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            socket.connect(&addr.into()).unwrap();
            let mut session = Session {
                tcp: socket.into(),
                codec: ldap3_proto::LdapCodec::default(),
                buf: bytes::BytesMut::new(),
                next_id: 1,
            };
            session
                .tcp
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            assert_eq!(session.bind(&dn, simple(&pw)), 0);
            session.tcp.write_all(&everyone(2)).unwrap();
            session.tcp
        })
        .collect();
    // Both are now stuck writing megabytes nobody reads.
    std::thread::sleep(Duration::from_secs(2));
    let mut third = Session::open(&url);
    assert_eq!(third.bind(&dn, simple(&pw)), 0);
    let started = std::time::Instant::now();
    let answers = third.ask(LdapOp::SearchRequest(LdapSearchRequest {
        base: BASE.into(),
        scope: LdapSearchScope::Subtree,
        aliases: LdapDerefAliases::Never,
        sizelimit: 0,
        timelimit: 0,
        typesonly: false,
        filter: LdapFilter::Equality("uid".into(), "alice".into()),
        attrs: vec!["uid".into()],
    }));
    let took = started.elapsed();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    drop(stalled);
}

/// A Jellyfin/Emby person's media password is guessed through one back-off, whether on
/// the sign-in page or by LDAP binds: split between them, guesses get no more tries
/// than either alone (five), and then even the right password waits on both.
#[test]
fn ldap_media_password_binds_share_the_sign_in_back_off_of_the_account() {
    let s = ldap_setup(&[("LDAP_MEDIA_PASSWORD_BIND", "true")]);
    s.user("alice", "wonderland");
    let url = url(&s.portal);
    let me = people_dn("alice");
    let web = s.portal.client();
    for _ in 0..3 {
        assert_eq!(
            crate::media::sign_in(&web, "jellyfin", "alice", "guess").status,
            401
        );
    }
    for _ in 0..2 {
        assert_eq!(whoami(&url, &me, "guess").0, 49);
    }
    let (code, _, err) = whoami(&url, &me, "wonderland");
    assert_eq!(code, 53, "five guesses in all: the bind waits: {err}");
    assert!(err.contains("too many failed binds"), "{err}");
    assert_eq!(
        crate::media::sign_in(&web, "jellyfin", "alice", "wonderland").status,
        429,
        "and so does the sign-in page"
    );
}

/// A failed bind says nothing of whether the name exists: an unknown DN, a known one
/// with a wrong password and the app password of a person whose access was withdrawn
/// get the same bytes back.
#[test]
fn ldap_failed_binds_answer_the_same_whether_the_name_exists() {
    use ldap3_proto::proto::*;
    let s = ldap_setup(&[]);
    s.user("alice", "wonderland");
    let vera = s.user("vera", "viewer");
    let (_, veras) = app_password(&vera, "Mail");
    s.jf.set_user_disabled("vera", true);
    let c = s.portal.client();
    c.use_fresh_ip();
    assert_eq!(
        crate::media::sign_in(&c, "jellyfin", "vera", "viewer").status,
        403
    );
    let url = url(&s.portal);
    let bind = |dn: &str, pw: &str| {
        raw(
            &url,
            &encode(LdapMsg::new(
                1,
                LdapOp::BindRequest(LdapBindRequest {
                    version: 3,
                    dn: dn.into(),
                    cred: simple(pw),
                }),
            )),
        )
    };
    let unknown = bind(&people_dn("nobody"), "guess");
    assert!(!unknown.is_empty());
    assert_eq!(
        bind(&people_dn("alice"), "guess"),
        unknown,
        "wrong password"
    );
    assert_eq!(bind(&people_dn("vera"), &veras), unknown, "withdrawn");
    let service = format!("cn=nobody,ou=services,{BASE}");
    assert_eq!(bind(&service, "guess"), unknown, "unknown service");
}
