//! The data directory: secrets.json and the signing key, generated on first start and
//! kept (0600); environment variables override what is stored.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::crypto::jwt::{DEFAULT_BITS, SigningKey};
use crate::crypto::{b64, b64_decode_any, random_bytes, tokens::new_uuid};

pub const DB_FILE: &str = "authportal.db";
const SECRETS_FILE: &str = "secrets.json";
const SIGNING_KEY_FILE: &str = "oidc-signing-key.pem";

pub struct Secrets {
    pub session_secret: Vec<u8>,
    pub data_key: Vec<u8>,
    /// Stable per install: the X-Plex-Client-Identifier and Jellyfin DeviceId.
    pub install_id: String,
}

#[derive(Serialize, Deserialize)]
struct SecretsFile {
    session_secret: String,
    data_key: String,
    install_id: String,
}

/// Creates the data dir if needed and returns the secrets and signing key to run with.
pub fn prepare(cfg: &Config) -> Result<(Secrets, SigningKey), String> {
    let dir = &cfg.data_dir;
    fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
    // Best effort: the directory may belong to someone else (a mounted volume).
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let stored = load_or_create_secrets(&dir.join(SECRETS_FILE))?;
    let secrets = Secrets {
        session_secret: cfg.session_secret.clone().unwrap_or(stored.0),
        data_key: cfg.data_key.clone().unwrap_or(stored.1),
        install_id: stored.2,
    };
    Ok((secrets, signing_key(cfg)?))
}

fn load_or_create_secrets(path: &Path) -> Result<(Vec<u8>, Vec<u8>, String), String> {
    if path.exists() {
        let text =
            fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let f: SecretsFile = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not valid: {e}", path.display()))?;
        let decode = |name: &str, v: &str| {
            b64_decode_any(v).ok_or_else(|| format!("{}: {name} is not base64", path.display()))
        };
        return Ok((
            decode("session_secret", &f.session_secret)?,
            decode("data_key", &f.data_key)?,
            f.install_id,
        ));
    }
    let f = SecretsFile {
        session_secret: b64(&random_bytes::<48>()),
        data_key: b64(&random_bytes::<32>()),
        install_id: new_uuid(),
    };
    write_private(path, &serde_json::to_string_pretty(&f).expect("json"))?;
    crate::log_info!(
        "generated {} (keep a copy of data_key off this machine: backups are useless without it)",
        path.display()
    );
    load_or_create_secrets(path)
}

fn signing_key(cfg: &Config) -> Result<SigningKey, String> {
    if let Some(pem) = &cfg.oidc_signing_key_pem {
        return SigningKey::from_pem(pem).map_err(|e| format!("OIDC_SIGNING_KEY: {e}"));
    }
    if let Some(path) = &cfg.oidc_signing_key_path {
        let pem = fs::read_to_string(path)
            .map_err(|e| format!("OIDC_SIGNING_KEY_PATH: cannot read {}: {e}", path.display()))?;
        return SigningKey::from_pem(&pem).map_err(|e| format!("OIDC_SIGNING_KEY_PATH: {e}"));
    }
    let path = cfg.data_dir.join(SIGNING_KEY_FILE);
    if path.exists() {
        let pem = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return SigningKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()));
    }
    let key = SigningKey::generate(DEFAULT_BITS)?;
    write_private(&path, &key.to_pem())?;
    crate::log_info!(
        "generated {}-bit signing key {}",
        key.bits(),
        path.display()
    );
    Ok(key)
}

/// Writes a file readable only by its owner, atomically (temp file, fsync, rename).
pub fn write_private(path: &Path, contents: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}
