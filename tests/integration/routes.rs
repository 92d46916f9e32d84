//! The route table (src/web/routes.rs) as clients see it: `Allow` names the methods of
//! the path asked, every route with a permission refuses whoever lacks it, and a
//! JSON-only route refuses a form body.

use authportal::roles::Permission;
use authportal::web::routes::{self, Found, Method, ROUTES};
use serde_json::json;

use crate::harness::Client;
use crate::team::{put, setup};

/// A path that the route's own pattern matches (and no route before it).
fn concrete(route: &routes::Route) -> String {
    route
        .path
        .split('/')
        .map(|seg| match seg {
            "{*}" => "logo",
            s if s.starts_with('{') => "x1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn method_of(route: &routes::Route) -> &'static str {
    match route.method {
        Method::Any => "GET",
        m => m.name(),
    }
}

/// Sends the route's method to its path, with an empty JSON body for writes.
fn call(c: &Client, route: &routes::Route) -> crate::harness::Resp {
    // A fresh address per request: dozens of writes must not meet the write limit.
    c.use_fresh_ip();
    let method = method_of(route);
    let body = (method != "GET").then(|| b"{}".to_vec());
    c.send(
        method,
        &concrete(route),
        &[("Content-Type", "application/json")],
        body,
    )
}

#[test]
fn every_route_with_a_permission_refuses_the_anonymous_the_non_admin_and_a_role_without_it() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let alice = s.user("alice", "wonderland");
    let vera = s.user("vera", "viewer");
    let vera_id = s.uuid(&vera);
    let anon = s.portal.client();

    // One role per permission holding every other one (admin.access included, unless
    // that is the one it lacks).
    let roles = root.get("/api/admin/config/roles").json();
    let mut config = roles["config"].clone();
    for p in Permission::ALL {
        let others: Vec<&str> = Permission::ALL
            .into_iter()
            .filter(|o| *o != p)
            .map(Permission::name)
            .collect();
        config["roles"][format!("all-but-{p}")] = json!(others);
    }
    let r = put(
        &root,
        "/api/admin/config/roles",
        json!({ "version": roles["version"], "config": config }),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let guarded: Vec<&routes::Route> = ROUTES.iter().filter(|r| r.permission().is_some()).collect();
    assert!(guarded.len() > 40, "only {} guarded routes", guarded.len());
    for p in Permission::ALL {
        let r = put(
            &root,
            &format!("/api/admin/users/{vera_id}/groups"),
            json!({ "groups": [format!("all-but-{p}")] }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        for route in guarded.iter().filter(|r| r.permission() == Some(p)) {
            let path = concrete(route);
            let segs = routes::segments(&path);
            assert!(
                matches!(routes::find(method_of(route), &segs), Found::Route(r, _) if std::ptr::eq(r, *route)),
                "{path} must reach its own route"
            );
            let what = format!("{} {}", method_of(route), route.path);
            let a = call(&anon, route);
            if route.is_page() {
                assert_eq!(a.status, 303, "{what}: anonymous is sent to sign in");
                assert!(a.header("location").unwrap().starts_with("/?rd="), "{what}");
            } else {
                assert_eq!(a.status, 401, "{what}: anonymous: {}", a.body);
            }
            let n = call(&alice, route);
            assert_eq!(n.status, 403, "{what}: not an admin: {}", n.body);
            let v = call(&vera, route);
            assert_eq!(v.status, 403, "{what}: a role without {p}: {}", v.body);
            if !route.is_page() && p != Permission::AdminAccess {
                assert!(
                    v.body.contains("your role does not allow this"),
                    "{what}: {}",
                    v.body
                );
            }
        }
    }
}

#[test]
fn method_not_allowed_names_the_methods_of_the_path() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let anon = s.portal.client();
    for method in ["OPTIONS", "DELETE", "POST"] {
        let r = anon.send(method, "/healthz", &[], None);
        assert_eq!(r.status, 405, "{method} /healthz");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method} /healthz");
    }
    let r = root.send("DELETE", "/api/admin/config/security", &[], None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, PUT"));
    assert_eq!(r.json()["error"], "method not allowed");
    let r = anon.get("/oidc/token");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    let r = anon.send("PUT", "/api/admin/backups/b.tar/restore", &[], None);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    // A path no route has is a 404, however deep under a known prefix.
    assert_eq!(root.get("/api/admin/users/x1/nothing").status, 404);
    assert_eq!(anon.send("OPTIONS", "/nowhere", &[], None).status, 404);
}

#[test]
fn a_json_only_route_refuses_a_form_body_and_changes_nothing() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let before = root.get("/api/admin/config/security").json();
    let mut config = before["config"].clone();
    config["session_hours"] = json!(2);
    let body = json!({ "version": before["version"], "config": config }).to_string();
    for ct in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let r = root.send(
            "PUT",
            "/api/admin/config/security",
            &[("Content-Type", ct)],
            Some(body.clone().into_bytes()),
        );
        assert_eq!(r.status, 400, "{ct}: {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains("JSON"),
            "{}",
            r.body
        );
    }
    assert_eq!(
        root.get("/api/admin/config/security").json()["version"],
        before["version"]
    );
    let anon = s.portal.client();
    let r = anon.post_form("/auth/start-web", &[("provider", "jellyfin")]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("JSON"));
    // The same body as JSON is taken.
    let r = root.send(
        "PUT",
        "/api/admin/config/security",
        &[("Content-Type", "application/json")],
        Some(body.into_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}
