//! install.sh and the systemd unit: install.sh runs for real (`sh install.sh`, Debian's
//! dash) into a DESTDIR temp tree with --no-start, and the tree, the modes, the generated
//! secrets and the idempotence of a second run are checked; the installed binary is then
//! started with the env file's variables, which proves the generated secrets are ones the
//! portal accepts; `--uninstall` keeps only the config and data, `--purge` leaves nothing.
//! Where `systemd-analyze` and `shellcheck` are installed (`.ci/run` installs both), the
//! unit is verified and its exposure score checked, and install.sh is linted; without them
//! those checks say they were skipped.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Client, TempDir};

const PREFIX: &str = "/opt/authportal";
const URL: &str = "http://portal.test:8089";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn authportal() -> &'static str {
    env!("CARGO_BIN_EXE_authportal")
}

/// `DESTDIR=dest sh install.sh ARGS`, whatever its exit status.
fn install_sh(dest: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg(repo().join("install.sh"))
        .args(args)
        .env("DESTDIR", dest)
        .stdin(Stdio::null())
        .output()
        .expect("sh runs")
}

/// Runs install.sh and insists it succeeds; returns what it printed.
fn install_ok(dest: &Path, args: &[&str]) -> String {
    let out = install_sh(dest, args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "install.sh {args:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every path under `root` (files and directories), relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// The `NAME=value` lines of an env file, as systemd reads them (comments skipped).
fn env_vars(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The installed binary with the env file's variables, as the unit would run it.
fn installed(dest: &Path, vars: &BTreeMap<String, String>, port: u16) -> Command {
    let mut cmd = Command::new(dest.join(&PREFIX[1..]).join("bin/authportal"));
    cmd.env_clear()
        .envs(vars)
        .env(
            "AUTHPORTAL_DATA_DIR",
            dest.join("var/lib/authportal").display().to_string(),
        )
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .stdin(Stdio::null());
    cmd
}

/// Starts the installed portal, checks /healthz and `setup-code`, stops it with SIGTERM.
fn serve_once(dest: &Path, vars: &BTreeMap<String, String>) {
    let port = free_port();
    let mut child = installed(dest, vars, port)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the installed binary starts");
    let client = Client::new(&format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if client
            .try_send("GET", "/healthz", &[], None)
            .is_ok_and(|r| r.status == 200)
        {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut log = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
            panic!("the installed portal exited ({status}) with the generated env file:\n{log}");
        }
        assert!(
            Instant::now() < deadline,
            "the installed portal never answered /healthz"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let hc = installed(dest, vars, port)
        .arg("healthcheck")
        .output()
        .unwrap();
    assert!(hc.status.success(), "authportal healthcheck failed: {hc:?}");
    let code = installed(dest, vars, port)
        .arg("setup-code")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&code.stdout).trim().to_string();
    assert!(code.status.success(), "setup-code failed: {code:?}");
    let shape = printed.len() == 11
        && printed.as_bytes()[5] == b'-'
        && printed
            .chars()
            .filter(|c| *c != '-')
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    assert!(shape, "setup-code printed {printed:?}, not a code");
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM should stop the portal with 0, got {status}"
    );
}

#[test]
fn install_sh_into_a_temp_tree_and_back_out() {
    let dest = TempDir::new();
    let d = &dest.0;
    let args = [
        "--binary",
        authportal(),
        "--prefix",
        PREFIX,
        "--url",
        URL,
        "--no-start",
    ];
    let first = install_ok(d, &args);
    assert!(first.contains("new SESSION_SECRET and DATA_KEY"), "{first}");
    assert!(first.contains("keep a copy of DATA_KEY"), "{first}");

    // The binary: executable, the one we built.
    let bin = d.join("opt/authportal/bin/authportal");
    assert_eq!(mode(&bin), 0o755);
    assert_eq!(fs::read(&bin).unwrap(), fs::read(authportal()).unwrap());

    // The unit: both binary paths moved to the prefix.
    let unit = fs::read_to_string(d.join("etc/systemd/system/authportal.service")).unwrap();
    assert!(
        unit.lines()
            .any(|l| l == "ExecStart=/opt/authportal/bin/authportal serve"),
        "{unit}"
    );
    assert!(unit.contains(
        "ExecStartPost=/bin/sh -c 'n=0; while ! /opt/authportal/bin/authportal healthcheck"
    ));
    assert!(!unit.contains("/usr/local/bin"), "{unit}");
    assert_eq!(
        mode(&d.join("etc/systemd/system/authportal.service")),
        0o644
    );

    // Directories and the env file with its secrets.
    assert_eq!(mode(&d.join("etc/authportal")), 0o750);
    assert_eq!(mode(&d.join("var/lib/authportal")), 0o700);
    let env_path = d.join("etc/authportal/authportal.env");
    assert_eq!(mode(&env_path), 0o640);
    let env_text = fs::read_to_string(&env_path).unwrap();
    let vars = env_vars(&env_text);
    assert!(vars["SESSION_SECRET"].len() >= 64, "{env_text}");
    let key = authportal::config::parse_data_key(&vars["DATA_KEY"]).expect("DATA_KEY parses");
    assert_eq!(key.len(), 32);
    assert_eq!(vars["APP_BASE_URL"], URL);
    assert_eq!(
        vars.keys().collect::<Vec<_>>(),
        ["APP_BASE_URL", "DATA_KEY", "SESSION_SECRET"],
        "only what install.sh sets is uncommented"
    );
    let cfg = authportal::Config::from_vars(&vars).expect("the env file is a valid configuration");
    assert_eq!(cfg.data_key.as_deref(), Some(&key[..]));

    // A second run (an upgrade with the same binary) keeps the env file byte for byte.
    let again = install_ok(d, &args);
    assert!(
        again.contains("kept the existing /etc/authportal/authportal.env"),
        "{again}"
    );
    assert_eq!(fs::read_to_string(&env_path).unwrap(), env_text);
    assert_eq!(mode(&env_path), 0o640);

    // The installed binary runs with exactly these variables.
    serve_once(d, &vars);
    assert!(d.join("var/lib/authportal/authportal.db").exists());

    // Uninstall: only the config and the data stay.
    let out = install_ok(d, &["--uninstall"]);
    assert!(
        out.contains("removed /opt/authportal/bin/authportal"),
        "{out}"
    );
    assert!(out.contains("kept /etc/authportal"), "{out}");
    let left = tree(d);
    for path in &left {
        assert!(
            ["etc", "var", "var/lib"].contains(&path.as_str())
                || path.starts_with("etc/authportal")
                || path.starts_with("var/lib/authportal"),
            "--uninstall left {path}: {left:#?}"
        );
    }
    assert!(left.contains(&"etc/authportal/authportal.env".to_string()));
    assert!(left.contains(&"var/lib/authportal/authportal.db".to_string()));

    // Installing again finds the config and data, and keeps them.
    let back = install_ok(d, &args);
    assert!(back.contains("kept the existing"), "{back}");
    assert_eq!(fs::read_to_string(&env_path).unwrap(), env_text);

    // Purge: nothing left.
    let out = install_ok(d, &["--uninstall", "--purge"]);
    assert!(out.contains("removed /var/lib/authportal"), "{out}");
    assert_eq!(tree(d), Vec::<String>::new());
}

#[test]
fn install_sh_keeps_the_secrets_of_existing_data() {
    // A data dir from an earlier run without install.sh: its data is sealed under the key in
    // secrets.json, so install.sh must not put a different DATA_KEY in front of it.
    let dest = TempDir::new();
    let data = dest.0.join("var/lib/authportal");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("secrets.json"), "{}").unwrap();
    let out = install_ok(&dest.0, &["--binary", authportal(), "--no-start"]);
    assert!(out.contains("found existing data"), "{out}");
    assert!(
        out.contains("data_key from /var/lib/authportal/secrets.json"),
        "{out}"
    );
    let vars = env_vars(&fs::read_to_string(dest.0.join("etc/authportal/authportal.env")).unwrap());
    assert_eq!(vars["DATA_KEY"], "");
    assert_eq!(vars["SESSION_SECRET"], "");
    // Default prefix.
    assert_eq!(mode(&dest.0.join("usr/local/bin/authportal")), 0o755);
    install_ok(&dest.0, &["--uninstall", "--purge"]);
    assert_eq!(tree(&dest.0), Vec::<String>::new());
}

#[test]
fn install_sh_refuses_bad_arguments_with_a_reason() {
    let dest = TempDir::new();
    for (args, reason) in [
        (vec!["--purge"], "--purge only goes with --uninstall"),
        (vec!["--binary", "/nonexistent/authportal"], "no such file"),
        (vec!["--prefix", "opt"], "absolute path"),
        (vec!["--url", "portal.lan"], "http://"),
        (vec!["--frobnicate"], "unknown argument"),
        (
            vec!["--binary", "/bin/true"],
            "does not look like authportal",
        ),
    ] {
        let out = install_sh(&dest.0, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
    }
    assert_eq!(
        tree(&dest.0),
        Vec::<String>::new(),
        "a refused run installs nothing"
    );
}

/// `systemd-analyze` when installed (Debian's `systemd` package; `.ci/run` installs it).
fn systemd_analyze() -> Option<PathBuf> {
    ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[test]
fn systemd_unit_verifies_and_rates_2_or_lower() {
    let Some(analyze) = systemd_analyze() else {
        eprintln!("skipped: systemd-analyze is not installed (apt-get install systemd)");
        return;
    };
    // verify checks that ExecStart's binary exists: a copy pointing at the built one.
    let dir = TempDir::new();
    let unit = fs::read_to_string(repo().join("systemd/authportal.service"))
        .unwrap()
        .replace("/usr/local/bin/authportal", authportal());
    let path = dir.0.join("authportal.service");
    fs::write(&path, unit).unwrap();

    let verify = Command::new(&analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    assert!(
        !stderr.contains("authportal.service"),
        "systemd-analyze verify complains about the unit:\n{stderr}"
    );

    let security = Command::new(&analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for authportal.service:"))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in systemd-analyze security output:\n{text}\n{}",
                String::from_utf8_lossy(&security.stderr)
            )
        });
    eprintln!("systemd-analyze security: exposure {score}");
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
}

#[test]
fn install_sh_is_shellcheck_clean() {
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: shellcheck is not installed (apt-get install shellcheck)");
        return;
    }
    let out = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(repo().join("install.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck install.sh:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The release build `bash .ci/build-static` makes (the README's test command runs it
/// before the tests).
fn static_binary() -> PathBuf {
    let bin = repo().join("target/x86_64-unknown-linux-musl/release/authportal");
    assert!(
        bin.exists(),
        "{} is missing: build it with `bash .ci/build-static` (`bash .ci/run` does)",
        bin.display()
    );
    bin
}

#[test]
fn the_static_release_binary_installs_and_serves() {
    let bin = static_binary();
    // Static: no program interpreter and no shared library to find on the owner's box.
    let headers = Command::new("readelf")
        .args(["--program-headers", "--dynamic"])
        .arg(&bin)
        .output()
        .expect("readelf (binutils) runs");
    let text = String::from_utf8_lossy(&headers.stdout);
    assert!(
        !text.contains("INTERP") && !text.contains("(NEEDED)"),
        "{text}"
    );
    let version = Command::new(&bin).arg("version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.starts_with("authportal ") && !version.contains("commit unknown"),
        "the release build names its commit: {version}"
    );
    let dest = TempDir::new();
    let bin_text = bin.display().to_string();
    install_ok(
        &dest.0,
        &[
            "--binary",
            &bin_text,
            "--prefix",
            PREFIX,
            "--url",
            URL,
            "--no-start",
        ],
    );
    let vars = env_vars(&fs::read_to_string(dest.0.join("etc/authportal/authportal.env")).unwrap());
    serve_once(&dest.0, &vars);
}
