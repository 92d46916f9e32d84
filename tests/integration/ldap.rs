//! The LDAP directory with clients nobody here wrote: `ldapsearch`, `ldapwhoami`,
//! `ldapcompare` and `ldapadd` from Debian's ldap-utils, and Python's ldap3.

use std::io::{Read, Write};
use std::net::TcpStream;
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
    let mut args = vec!["-x", "-LLL", "-o", "ldif-wrap=no", "-H", url];
    if let Some((dn, pw)) = bind {
        args.extend(["-D", dn, "-w", pw]);
    }
    args.extend(["-b", base, "-s", scope, filter]);
    args.extend(attrs);
    tool("ldapsearch", &args)
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
    let (code, out, _) = tool(
        "ldapsearch",
        &[
            "-x", "-LLL", "-H", &url, "-D", &dn, "-w", &pw, "-z", "1", "-b", BASE, "(uid=*)", "uid",
        ],
    );
    assert_eq!((code, values(&out, "uid").len()), (4, 1), "{out}");
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
