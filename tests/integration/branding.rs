//! Branding: the app name on every page, uploaded images (logo, background, service
//! icons) and the rate limits of the security section.

use serde_json::json;

use crate::harness::Client;
use crate::media::sign_in;
use crate::team::{put, setup};

fn png(extra: usize) -> Vec<u8> {
    [b"\x89PNG\r\n\x1a\n".as_slice(), &vec![7u8; extra]].concat()
}

fn upload(c: &Client, path: &str, body: Vec<u8>) -> crate::harness::Resp {
    c.send(
        "PUT",
        path,
        &[("Content-Type", "application/octet-stream")],
        Some(body),
    )
}

#[test]
fn the_app_name_is_on_every_page() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let anon = s.portal.client();
    assert!(
        anon.get("/")
            .body
            .contains("<title>Sign in · AuthPortal</title>")
    );
    let r = put(
        &root,
        "/api/admin/config/branding",
        json!({ "version": 0, "config": { "app_name": "Smith Media" } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let login = anon.get("/").body;
    assert!(
        login.contains("<title>Sign in · Smith Media</title>"),
        "{login}"
    );
    assert!(login.contains("<span>Smith Media</span>"));
    assert!(root.get("/home").body.contains("· Smith Media</title>"));
    assert!(
        anon.get("/no-such-page")
            .body
            .contains("· Smith Media</title>")
    );
    let console = root.get("/admin").body;
    assert!(
        console.contains("Console · Smith Media</title>"),
        "{console}"
    );
    for bad in [json!(""), json!("x".repeat(41)), json!("two\nlines")] {
        let r = put(
            &root,
            "/api/admin/config/branding",
            json!({ "version": 1, "config": { "app_name": bad } }),
        );
        assert_eq!(r.status, 400);
        assert!(r.json()["error"].as_str().unwrap().contains("app_name"));
    }
}

#[test]
fn a_background_image_is_uploaded_and_themed() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let anon = s.portal.client();
    assert_eq!(anon.get("/branding/background").status, 404);
    // Bigger than any ordinary request body may be: uploads have their own limit.
    let image = png(1024 * 1024);
    let r = upload(&root, "/api/admin/branding/background", image.clone());
    assert_eq!(r.status, 200, "{}", r.body);
    let served = anon.get("/branding/background");
    assert_eq!(served.header("content-type"), Some("image/png"));
    let length = image.len().to_string();
    assert_eq!(served.header("content-length"), Some(length.as_str()));
    let css = anon.get("/branding/theme.css").body;
    assert!(
        css.contains("body:not(.console)") && css.contains("url(\"/branding/background?v="),
        "{css}"
    );
    // Too big, or not an image: refused with the reason, nothing changed.
    let r = upload(
        &root,
        "/api/admin/branding/background",
        png(5 * 1024 * 1024),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("4096 KiB"));
    let r = upload(&root, "/api/admin/branding/background", b"<svg/>".to_vec());
    assert_eq!(r.status, 400);
    assert_eq!(
        anon.get("/branding/background").header("content-length"),
        Some(length.as_str())
    );
    // Other routes keep the small limit.
    let r = root.send(
        "PUT",
        "/api/admin/config/branding",
        &[("Content-Type", "application/json")],
        Some(vec![b' '; 100 * 1024]),
    );
    assert_eq!(r.status, 413);
    let listed = root.get("/api/admin/branding/images").json();
    assert_eq!(listed["background"]["bytes"], image.len());
    assert!(listed["logo"].is_null());
    let alice = s.user("alice", "wonderland");
    assert_eq!(anon.get("/api/admin/branding/images").status, 401);
    assert_eq!(alice.get("/api/admin/branding/images").status, 403);
    assert_eq!(
        upload(&anon, "/api/admin/branding/background", png(10)).status,
        401
    );
    assert_eq!(
        upload(&alice, "/api/admin/branding/icons/x", png(10)).status,
        403
    );
    assert_eq!(
        alice
            .send("DELETE", "/api/admin/branding/background", &[], None)
            .status,
        403
    );
    assert_eq!(
        root.send("DELETE", "/api/admin/branding/background", &[], None)
            .status,
        204
    );
    assert_eq!(anon.get("/branding/background").status, 404);
    assert!(!anon.get("/branding/theme.css").body.contains("background"));
    assert_eq!(
        root.send("DELETE", "/api/admin/branding/background", &[], None)
            .status,
        404
    );
}

#[test]
fn service_links_show_their_uploaded_icons() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let r = upload(&root, "/api/admin/branding/icons/grafana", png(100));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["url"], "/branding/icons/grafana");
    for bad in ["Grafana", "a.b", "x%2F..", &"a".repeat(33)] {
        let r = upload(&root, &format!("/api/admin/branding/icons/{bad}"), png(1));
        assert_eq!(r.status, 404, "{bad}");
    }
    let r = put(
        &root,
        "/api/admin/config/branding",
        json!({ "version": 0, "config": { "links": [
            { "name": "Grafana", "url": "https://grafana.example.com", "icon": "grafana" },
            { "name": "Wiki", "url": "https://wiki.example.com", "icon": "wiki" }
        ] } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let home = root.get("/home").body;
    assert!(home.contains("src=\"/branding/icons/grafana\""));
    assert!(
        !home.contains("/branding/icons/wiki"),
        "no broken image for an icon not uploaded"
    );
    assert_eq!(s.portal.client().get("/branding/icons/grafana").status, 200);
    let r = put(
        &root,
        "/api/admin/config/branding",
        json!({ "version": 1, "config": { "links": [
            { "name": "Grafana", "url": "https://grafana.example.com", "icon": "../x" }
        ] } }),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("links[0].icon")
    );
}

#[test]
fn rate_limits_come_from_the_security_section() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let r = put(
        &root,
        "/api/admin/config/security",
        json!({ "version": 0, "config": { "rate_limits": { "signin": { "burst": 0, "per_minute": 5 } } } }),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("security.rate_limits.signin.burst")
    );
    let r = put(
        &root,
        "/api/admin/config/security",
        json!({ "version": 0, "config": { "rate_limits": { "signin": { "burst": 2, "per_minute": 1 } } } }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Applied at once, without a restart: the third attempt from one address waits.
    let c = s.portal.client();
    c.use_fresh_ip();
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wrong").status, 401);
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wrong").status, 401);
    let limited = sign_in(&c, "jellyfin", "alice", "wonderland");
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
    // The other limits kept their defaults.
    let got = root.get("/api/admin/config/security").json();
    assert_eq!(got["config"]["rate_limits"]["writes"]["burst"], 30);
    assert_eq!(got["config"]["session_hours"], 24);
}
