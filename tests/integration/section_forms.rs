//! The generic settings forms on /admin/settings/{section} (security, events,
//! revalidation): every field shown with its value and hint, the ones the environment
//! sets read-only, and a bad value refused with a message naming the field.

use serde_json::{Value, json};

use crate::harness::Client;
use crate::team::{put, setup};

/// The dotted path of every field of a section's form, as the inputs' data-path.
fn paths(fields: &[authportal::settings::Field], parent: &str, out: &mut Vec<String>) {
    use authportal::settings::FieldKind;
    for f in fields {
        let path = if parent.is_empty() {
            f.key.to_string()
        } else {
            format!("{parent}.{}", f.key)
        };
        match &f.kind {
            FieldKind::Group(inner) => paths(inner, &path, out),
            _ => out.push(path),
        }
    }
}

/// The start tag of the input (or textarea with its text) whose data-path is `path`.
fn control<'a>(page: &'a str, path: &str) -> &'a str {
    let at = page
        .find(&format!("data-path=\"{path}\""))
        .unwrap_or_else(|| panic!("no field {path} on the page"));
    let start = page[..at].rfind('<').unwrap();
    let end = if page[start..].starts_with("<textarea") {
        at + page[at..].find("</textarea>").unwrap()
    } else {
        at + page[at..].find('>').unwrap()
    };
    &page[start..end]
}

/// The value at a dotted path of a document.
fn at<'a>(doc: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(doc, |v, k| &v[k])
}

fn section(c: &Client, name: &str) -> Value {
    c.get(&format!("/api/admin/config/{name}")).json()
}

#[test]
fn section_forms_show_every_field_with_its_value_and_hint() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let mut doc = section(&root, "security")["config"].clone();
    doc["session_hours"] = json!(36);
    doc["rate_limits"]["signin"]["burst"] = json!(7);
    doc["outbound_allow"] = json!(["ntfy.lan", "10.1.2.0/24"]);
    let r = put(
        &root,
        "/api/admin/config/security",
        json!({ "version": 0, "config": doc }),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    for name in ["security", "events", "revalidation"] {
        let page = root.get(&format!("/admin/settings/{name}"));
        assert_eq!(page.status, 200);
        let body = &page.body;
        assert!(body.contains("id=\"section-form\""), "{name} has a form");
        assert!(
            body.find("id=\"section-form\"").unwrap() < body.find("id=\"cfg-form\"").unwrap(),
            "{name}: the form comes first, the JSON is the advanced view"
        );
        assert!(body.contains("Advanced: the JSON document"));
        let config = section(&root, name)["config"].clone();
        let mut all = Vec::new();
        paths(authportal::settings::form_fields(name), "", &mut all);
        assert!(!all.is_empty());
        for path in &all {
            let tag = control(body, path);
            // The harness sets OUTBOUND_ALLOW (its fakes run on loopback): that one is locked.
            let top = path.split('.').next().unwrap();
            let locked = section(&root, name)["locked"]
                .as_array()
                .unwrap()
                .contains(&json!(top));
            assert_eq!(tag.contains("readonly"), locked, "{name}.{path}: {tag}");
            match at(&config, path) {
                Value::Number(n) => assert!(
                    tag.contains(&format!("value=\"{n}\"")),
                    "{name}.{path}: {tag}"
                ),
                Value::Array(list) => {
                    let lines: Vec<&str> = list.iter().map(|v| v.as_str().unwrap()).collect();
                    assert!(tag.ends_with(&lines.join("\n")), "{name}.{path}: {tag}");
                }
                other => panic!("{name}.{path}: unexpected {other}"),
            }
        }
    }
    let security = root.get("/admin/settings/security").body;
    assert!(control(&security, "session_hours").contains("value=\"36\""));
    assert!(control(&security, "rate_limits.signin.burst").contains("value=\"7\""));
    assert!(control(&security, "rate_limits.signin.burst").contains("min=\"1\""));
    for hint in [
        "After this long people sign in again.",
        "Sign-in attempts",
        "Password forms and Plex PIN starts",
    ] {
        assert!(security.contains(hint), "{hint}");
    }
    assert!(
        root.get("/admin/settings/events")
            .body
            .contains("The janitor deletes older events")
    );
    // Sections with a page of their own point to it; they get no generic form.
    for (name, page) in [
        ("providers", "/admin/media"),
        ("branding", "/admin/branding"),
        ("backups", "/admin/backups"),
        ("ldap", "/admin/ldap"),
        ("access", "/admin/access"),
    ] {
        let body = root.get(&format!("/admin/settings/{name}")).body;
        assert!(
            body.contains(&format!("href=\"{page}\"")),
            "{name} -> {page}"
        );
        assert!(!body.contains("id=\"section-form\""), "{name}");
    }
    assert!(
        root.get("/admin/settings")
            .body
            .contains("href=\"/admin/media\"")
    );
}

#[test]
fn section_form_fields_the_environment_sets_are_read_only() {
    let s = setup(&[("OUTBOUND_ALLOW", "127.0.0.1/32")]);
    let root = s.user("root", "toor");
    let page = root.get("/admin/settings/security").body;
    let allow = control(&page, "outbound_allow");
    assert!(allow.contains("readonly"), "{allow}");
    assert!(
        page.contains("Set by <code>OUTBOUND_ALLOW</code>"),
        "names the variable"
    );
    assert!(!control(&page, "session_hours").contains("readonly"));
    assert_eq!(
        section(&root, "security")["locked"],
        json!(["outbound_allow"]),
        "the GET document says the same"
    );

    // Someone who may only read sees every field read-only and no Save.
    let vera = s.viewer(&root);
    let page = vera.get("/admin/settings/security").body;
    assert!(control(&page, "session_hours").contains("readonly"));
    assert!(control(&page, "rate_limits.token.per_minute").contains("readonly"));
    assert!(!page.contains("id=\"section-save\""));
}

#[test]
fn section_form_bad_values_are_refused_naming_the_field_and_change_nothing() {
    let s = setup(&[]);
    let root = s.user("root", "toor");
    let mut security = section(&root, "security")["config"].clone();
    security["rate_limits"]["signin"]["burst"] = json!("many");
    let mut too_many = section(&root, "security")["config"].clone();
    too_many["rate_limits"]["token"]["per_minute"] = json!(100_001);
    for (name, config, field) in [
        (
            "events",
            json!({ "retention_days": 0 }),
            "events.retention_days",
        ),
        (
            "events",
            json!({ "retention_days": "" }),
            "events.retention_days",
        ),
        (
            "events",
            json!({ "retention_days": 1.5 }),
            "events.retention_days",
        ),
        (
            "revalidation",
            json!({ "grace_hours": -1 }),
            "revalidation.grace_hours",
        ),
        (
            "revalidation",
            json!({ "interval_minutes": 99999999999999i64 }),
            "revalidation.interval_minutes",
        ),
        ("security", security, "security.rate_limits.signin.burst"),
        (
            "security",
            too_many,
            "security.rate_limits.token.per_minute",
        ),
        (
            "security",
            json!({ "outbound_allow": "ntfy.lan" }),
            "security.outbound_allow",
        ),
    ] {
        let r = put(
            &root,
            &format!("/api/admin/config/{name}"),
            json!({ "version": 0, "config": config }),
        );
        assert_eq!(r.status, 400, "{name} {config}: {}", r.body);
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.starts_with(&format!("{field}:")), "{error}");
    }
    assert_eq!(
        s.portal.count("SELECT count(*) FROM settings"),
        0,
        "nothing saved"
    );
    assert_eq!(
        s.portal
            .count("SELECT count(*) FROM events WHERE type = 'admin.config.update'"),
        0
    );

    // The document the form sends (every field, one changed) is saved as usual.
    let mut events = section(&root, "events");
    events["config"]["retention_days"] = json!(30);
    let r = put(&root, "/api/admin/config/events", events);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(section(&root, "events")["config"]["retention_days"], 30);
}
