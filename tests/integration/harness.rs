//! Starting the real portal in-process on a loopback port with a temp data dir, and a
//! small HTTP client that keeps cookies like a browser and sends Origin on POSTs.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use authportal::{Config, RunningServer};
use serde_json::Value;

/// One RSA key for the whole test process: generating one per server is slow.
pub fn fixture_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        authportal::crypto::jwt::SigningKey::generate(2048)
            .unwrap()
            .to_pem()
    })
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let name = format!(
            "authportal-test-{}",
            authportal::crypto::hex(&authportal::crypto::random_bytes::<8>())
        );
        let p = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Portal {
    pub server: Option<RunningServer>,
    pub base: String,
    pub vars: BTreeMap<String, String>,
    pub dir: TempDir,
    /// What the portal logs (with what other tests' servers log meanwhile): printed when
    /// the test fails, so libtest shows it with the failure.
    log: authportal::log::Tap<'static>,
}

impl Drop for Portal {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for line in self.log.lines() {
                print!("{line}");
            }
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Portal {
    /// Starts a portal with these variables on top of test defaults (a fixture signing
    /// key, LOG_LEVEL=warn, OUTBOUND_ALLOW=loopback, APP_BASE_URL = the loopback address
    /// it listens on).
    pub fn start(vars: &[(&str, &str)]) -> Portal {
        Self::start_in(TempDir::new(), vars, true)
    }

    pub fn start_in(dir: TempDir, vars: &[(&str, &str)], fixture_key_too: bool) -> Portal {
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        map.insert("AUTHPORTAL_DATA_DIR".into(), dir.0.display().to_string());
        map.insert("LOG_LEVEL".into(), "warn".into());
        // Webhook receivers and login-cookie apps in tests listen on loopback, which the
        // outbound policy refuses by default; a test of that refusal sets this to "".
        map.insert("OUTBOUND_ALLOW".into(), "127.0.0.1/32,::1".into());
        if fixture_key_too {
            map.insert("OIDC_SIGNING_KEY".into(), fixture_key().to_string());
        }
        for (k, v) in vars {
            map.insert(k.to_string(), v.to_string());
        }
        // The port is picked first so APP_BASE_URL can name it; retry if it was taken meanwhile.
        for _ in 0..5 {
            let port = free_port();
            let base = format!("http://127.0.0.1:{port}");
            let mut m = map.clone();
            m.insert("LISTEN_ADDR".into(), format!("127.0.0.1:{port}"));
            m.entry("APP_BASE_URL".into()).or_insert(base.clone());
            let cfg = Config::from_vars(&m).expect("test config is valid");
            // One log writer serves every server of this process: lines reach the test
            // through its tap, not the terminal.
            authportal::log::keep_off_stderr();
            let log = authportal::log::tap();
            match authportal::start(cfg) {
                Ok(server) => {
                    return Portal {
                        server: Some(server),
                        base,
                        vars: m,
                        dir,
                        log,
                    };
                }
                Err(e) if e.contains("cannot listen") => continue,
                Err(e) => panic!("portal did not start: {e}"),
            }
        }
        panic!("no free port");
    }

    pub fn app(&self) -> &authportal::App {
        &self.server.as_ref().expect("running").app
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir.0
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// Sets up TOTP for the signed-in `c` (its session becomes one that passed it) and
    /// returns the secret.
    pub fn enrol_totp(&self, c: &Client) -> Vec<u8> {
        let r = c.post_json("/mfa/enroll/start", &serde_json::json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        let secret = crate::totp_ref::base32_decode(r.json()["secret"].as_str().unwrap());
        let code = crate::totp_ref::code(&secret, self.app().clock.now());
        let r = c.post_json("/mfa/enroll/verify", &serde_json::json!({ "code": code }));
        assert_eq!(r.status, 200, "{}", r.body);
        secret
    }

    /// Stops the server and starts a new one on the same data dir and variables.
    pub fn restart(mut self) -> Portal {
        self.server.take().unwrap().stop();
        let vars: Vec<(String, String)> = self
            .vars
            .iter()
            .filter(|(k, _)| *k != "LISTEN_ADDR" && *k != "APP_BASE_URL")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let vars_ref: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let dir = std::mem::replace(&mut self.dir, TempDir(PathBuf::new()));
        Portal::start_in(dir, &vars_ref, false)
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.0.join("authportal.db")).unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body as received (binary bodies: backups, images).
    pub bytes: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The Set-Cookie line for `name`, if this response set it.
    pub fn cookie_line(&self, name: &str) -> Option<&str> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.body))
    }
}

static NEXT_IP: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// A cookie-keeping HTTP client. POSTs carry `Origin: <base>` unless told otherwise.
pub struct Client {
    pub base: String,
    agent: ureq::Agent,
    pub cookies: RefCell<BTreeMap<String, String>>,
    pub origin: RefCell<Option<String>>,
    pub extra_headers: RefCell<Vec<(String, String)>>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        Client {
            base: base.to_string(),
            agent,
            cookies: RefCell::new(BTreeMap::new()),
            origin: RefCell::new(Some(base.to_string())),
            extra_headers: RefCell::new(Vec::new()),
        }
    }

    /// Sends `X-Forwarded-For` with an address no other client of this test run uses: a
    /// portal trusting 127.0.0.1 as a proxy then sees each client as its own address, so
    /// per-address sign-in limits stay out of the way.
    pub fn use_fresh_ip(&self) {
        let n = NEXT_IP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.extra_headers.replace(vec![(
            "X-Forwarded-For".into(),
            format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255),
        )]);
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.borrow().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .borrow_mut()
            .insert(name.to_string(), value.to_string());
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], None)
    }

    pub fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(body.into_bytes()),
        )
    }

    pub fn post_json(&self, path: &str, v: &Value) -> Resp {
        self.send(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            Some(v.to_string().into_bytes()),
        )
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.try_send(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Like `send`, but a connection that fails (a server killed mid-request) is an Err.
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Resp, String> {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        let cookie_header: String = self
            .cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        if !cookie_header.is_empty() {
            req = req.header("Cookie", cookie_header);
        }
        if method != "GET" {
            if let Some(o) = self.origin.borrow().as_ref() {
                req = req.header("Origin", o);
            }
        }
        for (k, v) in self.extra_headers.borrow().iter() {
            req = req.header(k, v);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body.unwrap_or_default()).unwrap();
        let mut res = self.agent.run(req).map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        // A body cut short is no answer: the write it reports was not acknowledged.
        let bytes = res
            .body_mut()
            .read_to_vec()
            .map_err(|e| format!("body: {e}"))?;
        // Binary bodies (images) read as "": tests look at their headers.
        let body = String::from_utf8(bytes.clone()).unwrap_or_default();
        let resp = Resp {
            status,
            headers,
            body,
            bytes,
        };
        for line in resp.set_cookies() {
            let pair = line.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                let expired = line.contains("Max-Age=0");
                if expired || v.is_empty() {
                    self.cookies.borrow_mut().remove(k);
                } else {
                    self.cookies
                        .borrow_mut()
                        .insert(k.to_string(), v.to_string());
                }
            }
        }
        Ok(resp)
    }
}
