//! /metrics: Prometheus text format (checked by a small parser written from the format's
//! spec), counters that move with traffic, and the optional bearer token.

use std::collections::BTreeMap;

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::media::{jellyfin_portal, sign_in};

/// One sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the text exposition format 0.0.4: `# HELP`/`# TYPE` lines, then samples
/// `name{label="value",...} number`. Every sample's family must have been typed first,
/// and each family typed once. Panics with the line on anything else.
fn parse(text: &str) -> Vec<Sample> {
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, tail) = (parts.next(), parts.next(), parts.next());
            assert!(name.is_some_and(name_ok), "bad comment line {line:?}");
            match kw {
                Some("HELP") => assert!(tail.is_some(), "{line:?}"),
                Some("TYPE") => {
                    let kind = tail.unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{line:?}"
                    );
                    let prev = typed.insert(name.unwrap().to_string(), kind.to_string());
                    assert!(prev.is_none(), "family typed twice: {line:?}");
                }
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line:?}"));
                let mut labels = BTreeMap::new();
                for pair in body.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("{line:?}"));
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("unquoted label in {line:?}"));
                    assert!(name_ok(k) && !v.contains('"'), "{line:?}");
                    labels.insert(k.to_string(), v.to_string());
                }
                (n, labels)
            }
            None => (series, BTreeMap::new()),
        };
        assert!(name_ok(name), "bad name in {line:?}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            typed.contains_key(family),
            "sample before its TYPE: {line:?}"
        );
        samples.push((name.to_string(), labels, value));
    }
    samples
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| *v)
        .sum()
}

#[test]
fn metrics_count_requests_sign_ins_and_decisions() {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let portal = jellyfin_portal(&jf, &[]);
    let anon = portal.client();
    let first = anon.get("/metrics");
    assert_eq!(first.status, 200);
    assert!(
        first
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4"))
    );
    let before = parse(&first.body);
    assert_eq!(value(&before, "authportal_build_info", &[]), 1.0);

    let c = portal.client();
    assert_eq!(sign_in(&c, "jellyfin", "alice", "nope").status, 401);
    assert_eq!(sign_in(&c, "jellyfin", "alice", "wonderland").status, 303);
    let verify = |c: &crate::harness::Client| {
        c.send(
            "GET",
            "/auth/verify",
            &[
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "app.example.com"),
                ("X-Forwarded-Uri", "/"),
                ("Accept", "application/json"),
            ],
            None,
        )
        .status
    };
    assert_eq!(verify(&c), 200);
    assert_eq!(verify(&portal.client()), 401);
    anon.get("/wp-login.php");

    let after = parse(&anon.get("/metrics").body);
    let signins = |result| {
        value(
            &after,
            "authportal_signins_total",
            &[("provider", "jellyfin"), ("result", result)],
        )
    };
    assert_eq!(signins("success"), 1.0);
    assert_eq!(signins("invalid_credentials"), 1.0);
    let decision = |d| {
        value(
            &after,
            "authportal_forward_auth_decisions_total",
            &[("decision", d)],
        )
    };
    assert_eq!((decision("allow"), decision("sign_in")), (1.0, 1.0));
    assert_eq!(value(&after, "authportal_active_sessions", &[]), 1.0);
    assert_eq!(
        value(
            &after,
            "authportal_http_requests_total",
            &[("route", "other"), ("status", "404")]
        ),
        1.0,
        "unknown paths share one label"
    );
    assert_eq!(
        value(
            &after,
            "authportal_http_requests_total",
            &[("route", "/auth/forward"), ("status", "303")]
        ),
        1.0
    );
    let verify_count = value(
        &after,
        "authportal_http_request_duration_seconds_count",
        &[("route", "/auth/verify")],
    );
    let verify_inf = value(
        &after,
        "authportal_http_request_duration_seconds_bucket",
        &[("route", "/auth/verify"), ("le", "+Inf")],
    );
    assert_eq!((verify_count, verify_inf), (2.0, 2.0));
    assert!(value(&after, "process_resident_memory_bytes", &[]) > 1e6);
    assert_eq!(
        value(
            &after,
            "authportal_webhook_deliveries",
            &[("state", "pending")]
        ),
        0.0
    );
    assert!(
        after
            .iter()
            .all(|(n, _, _)| n != "authportal_backup_age_seconds"),
        "no backup yet, no age"
    );
    // A backup: its age appears.
    let admin_cli = std::process::Command::new(env!("CARGO_BIN_EXE_authportal"))
        .args(["backup", "create"])
        .envs(portal.vars.iter())
        .output()
        .unwrap();
    assert!(admin_cli.status.success(), "{admin_cli:?}");
    let later = parse(&anon.get("/metrics").body);
    let age = value(&later, "authportal_backup_age_seconds", &[]);
    assert!((0.0..120.0).contains(&age), "{age}");
}

#[test]
fn metrics_token_is_required_when_set() {
    let portal = crate::harness::Portal::start(&[("METRICS_TOKEN", "s3cret-scrape")]);
    let c = portal.client();
    let r = c.get("/metrics");
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let wrong = c.send("GET", "/metrics", &[("Authorization", "Bearer nope")], None);
    assert_eq!(wrong.status, 401);
    let ok = c.send(
        "GET",
        "/metrics",
        &[("Authorization", "Bearer s3cret-scrape")],
        None,
    );
    assert_eq!(ok.status, 200);
    assert!(!parse(&ok.body).is_empty());
}
