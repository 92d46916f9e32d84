//! Real reverse proxies in front of an app, configured from the README's own snippets:
//! nginx (`auth_request`) and Caddy (`forward_auth`) from Debian's packages, with the
//! portal as their forward-auth endpoint and a small upstream that echoes the headers it
//! receives. The snippets are read from README.md between `<!-- snippet:NAME -->` markers
//! and only their placeholder addresses are replaced, so a change to the README is a
//! change to what runs here. Missing binaries fail the tests (with how to install them):
//! a skipped test would hide a README that no longer works.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fakes::http::FakeServer;
use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal, Resp, TempDir};
use crate::media::{jellyfin_portal, sign_in};

const NGINX: &str = "/usr/sbin/nginx";
const CADDY: &str = "/usr/bin/caddy";
const HTML: &str = "text/html,application/xhtml+xml";
/// The placeholders the README's snippets use for the portal and the app.
const README_PORTAL: &str = "127.0.0.1:8089";
const README_APP: &str = "127.0.0.1:9000";

/// Fails (never skips) when a proxy is not installed, saying how to install it.
fn require(binary: &str, package: &str) {
    assert!(
        Path::new(binary).exists(),
        "{binary} is missing: these tests run the real proxy. Install Debian's `{package}` \
         package (`apt-get install --no-install-recommends {package}`), or run `bash .ci/run`, \
         which installs it"
    );
}

/// The text of the README's code block between `<!-- snippet:NAME -->` and
/// `<!-- /snippet:NAME -->`, without its fence lines.
fn readme_snippet(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = fs::read_to_string(&path).expect("README.md");
    let open = format!("<!-- snippet:{name} -->");
    let close = format!("<!-- /snippet:{name} -->");
    let start = readme
        .find(&open)
        .unwrap_or_else(|| panic!("README.md has no {open} marker"))
        + open.len();
    let len = readme[start..]
        .find(&close)
        .unwrap_or_else(|| panic!("README.md has no {close} marker"));
    let lines: Vec<&str> = readme[start..start + len].trim().lines().collect();
    assert!(
        lines.len() > 2 && lines[0].starts_with("```") && lines[lines.len() - 1] == "```",
        "the {name} snippet in README.md is not one fenced code block"
    );
    lines[1..lines.len() - 1].join("\n") + "\n"
}

/// Replaces each placeholder, insisting it is there: a renamed placeholder must break
/// the test rather than leave the README's addresses in the running config.
fn substitute(mut text: String, name: &str, pairs: &[(&str, String)]) -> String {
    for (from, to) in pairs {
        assert!(
            text.contains(from),
            "the {name} snippet in README.md no longer contains {from:?}; \
             update tests/integration/proxies.rs to match"
        );
        text = text.replace(from, to);
    }
    text
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running proxy process; killed (and its temp dir removed) on drop.
struct Proxy {
    name: &'static str,
    child: Child,
    port: u16,
    logs: Vec<PathBuf>,
    _dir: TempDir,
}

impl Proxy {
    /// Starts the proxy that `command(port, dir)` describes on a free loopback port and
    /// waits (bounded) until it accepts connections. `logs` are files under `dir` shown
    /// with its stdout and stderr when it does not come up.
    fn start(name: &'static str, logs: &[&str], command: impl Fn(u16, &Path) -> Command) -> Proxy {
        let mut last = String::new();
        // The port is chosen before the proxy binds it; retry if something took it meanwhile.
        for _ in 0..3 {
            let dir = TempDir::new();
            let port = free_port();
            let mut cmd = command(port, &dir.0);
            let out = fs::File::create(dir.0.join("stdout.log")).unwrap();
            let err = fs::File::create(dir.0.join("stderr.log")).unwrap();
            cmd.stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err));
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
            let mut all_logs = vec![dir.0.join("stdout.log"), dir.0.join("stderr.log")];
            all_logs.extend(logs.iter().map(|l| dir.0.join(l)));
            let mut proxy = Proxy {
                name,
                child,
                port,
                logs: all_logs,
                _dir: dir,
            };
            match proxy.wait_until_listening(Duration::from_secs(15)) {
                Ok(()) => return proxy,
                Err(why) => {
                    last = format!("{why}\n{}", proxy.logs());
                    if !last.to_ascii_lowercase().contains("address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("{name} did not come up: {last}");
    }

    fn wait_until_listening(&mut self, limit: Duration) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited with {status}", self.name));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} was not listening on {addr} after {limit:?}",
                    self.name
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the proxy wrote, for failure messages.
    fn logs(&self) -> String {
        self.logs
            .iter()
            .map(|p| {
                let text = fs::read_to_string(p).unwrap_or_else(|e| format!("({e})"));
                format!("--- {}:\n{}", p.display(), text.trim_end())
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A client that talks to the proxy as a browser would to `host`.
    fn client(&self, host: &str, session: Option<&str>) -> Client {
        let c = Client::new(&format!("http://127.0.0.1:{}", self.port));
        c.extra_headers
            .replace(vec![("Host".to_string(), host.to_string())]);
        if let Some(s) = session {
            c.set_cookie("authportal_session", s);
        }
        c
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app behind the proxy: answers every request with what it received, as JSON
/// (`headers` maps each lowercased name to all its values, so duplicates show).
fn echo_app() -> FakeServer {
    FakeServer::start(
        Box::new(|req: &crate::fakes::Recorded| {
            let mut headers = serde_json::Map::new();
            for (k, v) in &req.headers {
                headers
                    .entry(k.clone())
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .unwrap()
                    .push(json!(v));
            }
            rouille::Response::json(&json!({
                "method": req.method,
                "path": req.path,
                "query": req.query,
                "headers": headers,
                "body": req.body,
            }))
        }),
        |status| rouille::Response::text("fault").with_status_code(status),
        None,
    )
}

/// All values of a header the app saw.
fn seen(echo: &Value, name: &str) -> Vec<String> {
    echo["headers"][name]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

struct Setup {
    _jf: FakeJellyfin,
    portal: Portal,
    app: FakeServer,
}

impl Setup {
    fn new() -> Setup {
        let jf = FakeJellyfin::start(Mode::Jellyfin);
        jf.add_user(FakeUser::new("alice", "wonderland"));
        jf.add_user(FakeUser {
            is_admin: true,
            ..FakeUser::new("root", "toor")
        });
        let portal = jellyfin_portal(
            &jf,
            &[
                ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
                ("ADMIN_BOOTSTRAP_USERS", "root"),
                ("SESSION_COOKIE_DOMAIN", "example.com"),
                // login_cookie apps listen on loopback here.
                ("OUTBOUND_ALLOW", "127.0.0.1/32"),
            ],
        );
        Setup {
            _jf: jf,
            portal,
            app: echo_app(),
        }
    }

    /// Where the proxy reaches the portal and the app (host:port).
    fn portal_addr(&self) -> String {
        self.portal.base.trim_start_matches("http://").to_string()
    }

    fn app_addr(&self) -> String {
        self.app
            .base_url()
            .trim_start_matches("http://")
            .to_string()
    }

    /// Signs in at the portal directly; returns the session cookie's value.
    fn session_of(&self, user: &str, password: &str) -> (Client, String) {
        let c = self.portal.client();
        let r = sign_in(&c, "jellyfin", user, password);
        assert_eq!(r.status, 303, "{}", r.body);
        let cookie = r.cookie_line("authportal_session").expect("session cookie");
        assert!(cookie.contains("Domain=example.com"), "{cookie}");
        let value = c.cookie("authportal_session").unwrap();
        (c, value)
    }

    /// Saves the access rules through the admin API.
    fn rules(&self, config: Value) {
        let (root, _) = self.session_of("root", "toor");
        let current = root.get("/api/admin/config/access").json();
        let r = root.send(
            "PUT",
            "/api/admin/config/access",
            &[("Content-Type", "application/json")],
            Some(
                json!({ "version": current["version"], "config": config, "reason": "proxy test" })
                    .to_string()
                    .into_bytes(),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

/// The checks both proxies must pass; `proxy` is already listening.
fn exercise(s: &Setup, proxy: &Proxy) {
    let logs = || proxy.logs();
    let expect = |r: &Resp, status: u16, what: &str| {
        assert_eq!(
            r.status,
            status,
            "{}: {what}: {} {:?}\n{}",
            proxy.name,
            r.body,
            r.headers,
            logs()
        );
    };

    // The portal itself, served through the proxy.
    let page = proxy.client("auth.example.com", None).get("/");
    expect(&page, 200, "the portal's own site");
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        page.headers
    );

    // (a) An anonymous browser is sent to sign in, and back here afterwards.
    let anon = proxy.client("app.example.com", None);
    let r = anon.send("GET", "/page?x=1", &[("Accept", HTML)], None);
    expect(&r, 302, "anonymous browser");
    assert_eq!(
        r.header("location"),
        Some(
            format!(
                "{}/?rd=http%3A%2F%2Fapp.example.com%2Fpage%3Fx%3D1",
                s.portal.base
            )
            .as_str()
        ),
        "{}",
        proxy.name
    );
    // (d) Clients that are not browsers get a plain 401.
    let r = anon.send("GET", "/api/items", &[("Accept", "application/json")], None);
    expect(&r, 401, "anonymous API client");
    assert!(r.header("location").is_none_or(str::is_empty), "{r:?}");
    let r = anon.send(
        "GET",
        "/api/items",
        &[("Accept", HTML), ("X-Requested-With", "XMLHttpRequest")],
        None,
    );
    expect(&r, 401, "anonymous XHR");
    assert!(
        s.app.requests().is_empty(),
        "{}: nothing anonymous reaches the app: {:?}",
        proxy.name,
        s.app.requests()
    );

    // (b) Signed in: the app sees who, and a Remote-User the client sent is replaced.
    let (_, session) = s.session_of("alice", "wonderland");
    let alice = proxy.client("app.example.com", Some(&session));
    let r = alice.send(
        "GET",
        "/page?x=1",
        &[("Accept", HTML), ("Remote-User", "root")],
        None,
    );
    expect(&r, 200, "signed in");
    let echo = r.json();
    assert_eq!(echo["path"], "/page", "{echo}");
    assert_eq!(echo["query"], "x=1", "{echo}");
    assert_eq!(seen(&echo, "remote-user"), ["alice"], "{echo}");
    assert_eq!(seen(&echo, "remote-name"), ["alice"], "{echo}");
    assert_eq!(seen(&echo, "remote-groups"), ["jellyfin-user"], "{echo}");
    assert!(
        seen(&echo, "remote-email").iter().all(String::is_empty),
        "Jellyfin vouches for no email: {echo}"
    );
    // A request body reaches the app (only the portal's copy of the request goes without it).
    let r = alice.send(
        "POST",
        "/form",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"a=1&b=2".to_vec()),
    );
    expect(&r, 200, "signed-in POST");
    let echo = r.json();
    assert_eq!(
        (echo["method"].as_str(), echo["body"].as_str()),
        (Some("POST"), Some("a=1&b=2")),
        "{echo}"
    );
    assert_eq!(seen(&echo, "remote-user"), ["alice"], "{echo}");

    // (c) Rules that refuse: a closed path and a path for someone else.
    s.rules(json!({ "rules": [
        {"name": "health", "hosts": ["app.example.com"], "paths": ["/ping"], "policy": "bypass"},
        {"name": "closed", "hosts": ["app.example.com"], "paths": ["/closed"], "policy": "deny"},
        {"name": "root only", "hosts": ["app.example.com"], "paths": ["/admin"], "users": ["root"]}
    ]}));
    s.app.clear_requests();
    expect(
        &alice.send("GET", "/closed", &[("Accept", HTML)], None),
        403,
        "a deny rule",
    );
    expect(
        &alice.send("GET", "/admin", &[("Accept", HTML)], None),
        403,
        "a rule for another user",
    );
    assert!(
        s.app.requests().is_empty(),
        "{}: refused requests reached the app: {:?}",
        proxy.name,
        s.app.requests()
    );
    expect(
        &alice.send("GET", "/", &[("Accept", HTML)], None),
        200,
        "no rule matches: signed in is enough",
    );
    // A bypass path lets anyone through, but not as whoever they claim to be.
    let r = anon.send(
        "GET",
        "/ping",
        &[
            ("Accept", "*/*"),
            ("Remote-User", "root"),
            ("Remote-Groups", "admins"),
        ],
        None,
    );
    expect(&r, 200, "bypass rule, anonymous");
    let echo = r.json();
    for name in [
        "remote-user",
        "remote-name",
        "remote-email",
        "remote-groups",
    ] {
        assert!(
            seen(&echo, name).iter().all(String::is_empty),
            "{}: the app saw a client-sent {name}: {echo}",
            proxy.name
        );
    }

    // (e) An app with its own sign-in (login_cookie): the proxy passes the app's cookie
    // from the portal's answer on, with the browser's own; the portal's never.
    let tautulli = FakeServer::start(
        Box::new(|_: &crate::fakes::Recorded| {
            rouille::Response::text("ok").with_additional_header(
                "Set-Cookie",
                "tautulli_session=for-alice; Max-Age=600; HttpOnly",
            )
        }),
        |status| rouille::Response::text("fault").with_status_code(status),
        None,
    );
    s.rules(json!({ "rules": [
        {"name": "tautulli", "hosts": ["app.example.com"], "paths": ["/tautulli"],
         "login_cookie": {"url": format!("{}/auth/signin", tautulli.base_url()),
                          "form": {"username": "{user}"}}}
    ]}));
    alice.set_cookie("theme", "dark");
    let cookies_at = |path: &str| {
        let r = alice.send("GET", path, &[("Accept", HTML)], None);
        expect(&r, 200, path);
        let echo = r.json();
        let mut pairs: Vec<String> = seen(&echo, "cookie")
            .iter()
            .flat_map(|c| c.split(';').map(|p| p.trim().to_string()))
            .filter(|p| !p.is_empty())
            .collect();
        pairs.sort_unstable();
        pairs
    };
    assert_eq!(
        cookies_at("/tautulli/home"),
        ["tautulli_session=for-alice", "theme=dark"],
        "{}",
        proxy.name
    );
    assert_eq!(cookies_at("/other"), ["theme=dark"], "{}", proxy.name);
}

#[test]
fn nginx_auth_request_in_front_of_an_app() {
    require(NGINX, "nginx");
    let s = Setup::new();
    let snippet = readme_snippet("nginx");
    let proxy = Proxy::start("nginx", &["error.log"], |port, dir| {
        let servers = substitute(
            snippet.clone(),
            "nginx",
            &[
                ("listen 80;", format!("listen 127.0.0.1:{port};")),
                (README_PORTAL, s.portal_addr()),
                (README_APP, s.app_addr()),
            ],
        );
        // Everything nginx writes stays in `dir`; one process, so a kill stops it all.
        let d = dir.display();
        let conf = format!(
            "master_process off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             access_log {d}/access.log;\n\
             client_body_temp_path {d}/client_body;\n\
             proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n\
             {servers}}}\n"
        );
        fs::write(dir.join("nginx.conf"), conf).unwrap();
        let mut cmd = Command::new(NGINX);
        cmd.arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"]);
        cmd
    });
    exercise(&s, &proxy);
}

#[test]
fn caddy_forward_auth_in_front_of_an_app() {
    require(CADDY, "caddy");
    let s = Setup::new();
    let snippet = readme_snippet("caddy");
    let proxy = Proxy::start("caddy", &[], |port, dir| {
        let sites = substitute(
            snippet.clone(),
            "caddy",
            &[
                (
                    "auth.example.com {",
                    format!("http://auth.example.com:{port} {{"),
                ),
                (
                    "app.example.com {",
                    format!("http://app.example.com:{port} {{"),
                ),
                (README_PORTAL, s.portal_addr()),
                (README_APP, s.app_addr()),
            ],
        );
        // Plain HTTP on a loopback port, no admin endpoint, nothing written outside `dir`.
        let conf = format!(
            "{{\n\
             \tadmin off\n\
             \tauto_https off\n\
             \tstorage file_system {}\n\
             }}\n\n{sites}",
            dir.join("data").display()
        );
        fs::write(dir.join("Caddyfile"), conf).unwrap();
        let mut cmd = Command::new(CADDY);
        cmd.args(["run", "--adapter", "caddyfile", "--config"])
            .arg(dir.join("Caddyfile"))
            .env("HOME", dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("data"));
        cmd
    });
    exercise(&s, &proxy);
}
