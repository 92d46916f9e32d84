//! The sign-in popup in a real browser: tests/e2e/signin.mjs drives headless Chromium
//! (Debian's /usr/bin/chromium through playwright-core) against a portal started here
//! with a fake Jellyfin, because only a browser runs login.js, the popup and postMessage.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The script has its own 90 s watchdog; this is the backstop if node itself hangs.
const NODE_TIMEOUT: Duration = Duration::from_secs(150);

/// Panics with how to install what the browser test needs: it must fail, not skip,
/// when they are missing, or CI would pass without ever running it.
fn require_browser_tools(e2e: &Path) {
    const HOW: &str = "run `bash .ci/run` (it installs them), or by hand: \
                       `apt-get install -y --no-install-recommends chromium` and \
                       `npm ci --prefix tests/e2e`";
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing, so the browser test cannot run: {HOW}"
    );
    assert!(
        e2e.join("node_modules/playwright-core/package.json")
            .exists(),
        "tests/e2e/node_modules/playwright-core is missing, so the browser test cannot run: {HOW}"
    );
    let node = Command::new("node")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("`node` cannot be run ({e}): install Node.js 20 or newer"));
    assert!(node.status.success(), "`node --version` failed");
}

/// Runs node on the script, killing it past NODE_TIMEOUT; returns (exit ok, stdout, stderr).
fn run_node(e2e: &Path, args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new("node")
        .arg(e2e.join("signin.mjs"))
        .args(args)
        .current_dir(e2e)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    // Read both pipes on their own threads so a chatty browser cannot fill one and stall.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > NODE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, mut err) = (out.join().unwrap(), err.join().unwrap());
    if status.is_none() {
        err.push_str(&format!("\nkilled after {NODE_TIMEOUT:?}"));
    }
    (status.is_some_and(|s| s.success()), out, err)
}

#[test]
fn browser_signs_in_through_the_jellyfin_popup() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    require_browser_tools(&e2e);

    let jf = FakeJellyfin::start(Mode::Jellyfin);
    jf.add_user(FakeUser::new("alice", "wonderland"));
    let portal = crate::media::jellyfin_portal(&jf, &[]);

    let (ok, out, err) = run_node(&e2e, &[&portal.base, "alice", "wonderland"]);
    assert!(
        ok,
        "the browser sign-in failed\n--- stdout\n{out}\n--- stderr\n{err}"
    );
    // Shown with --nocapture: what was checked and where the screenshots are.
    println!("{out}");
    assert!(out.contains("PASS"), "{out}");

    assert_eq!(
        portal.count("SELECT count(*) FROM sessions"),
        1,
        "the browser sign-in made exactly one server-side session"
    );
    assert_eq!(jf.count("/Users/AuthenticateByName"), 1);
}
