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

/// What `secrets.json` holds: only the secrets the environment does not set, so a
/// DATA_KEY from an env file is never shadowed by an unused generated one.
#[derive(Serialize, Deserialize)]
struct SecretsFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_key: Option<String>,
    install_id: String,
}

/// Creates the data dir if needed and returns the secrets and signing key to run with.
pub fn prepare(cfg: &Config) -> Result<(Secrets, SigningKey), String> {
    let dir = &cfg.data_dir;
    fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
    // Best effort: the directory may belong to someone else (a mounted volume).
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let secrets = load_or_create_secrets(&dir.join(SECRETS_FILE), cfg)?;
    Ok((secrets, signing_key(cfg)?))
}

fn load_or_create_secrets(path: &Path, cfg: &Config) -> Result<Secrets, String> {
    let existing = path.exists();
    let mut f = if existing {
        let text =
            fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))?
    } else {
        SecretsFile {
            session_secret: None,
            data_key: None,
            install_id: new_uuid(),
        }
    };
    let mut generated = Vec::new();
    if cfg.session_secret.is_none() && f.session_secret.is_none() {
        f.session_secret = Some(b64(&random_bytes::<48>()));
        generated.push("session_secret");
    }
    if cfg.data_key.is_none() && f.data_key.is_none() {
        f.data_key = Some(b64(&random_bytes::<32>()));
        generated.push("data_key");
    }
    if !existing || !generated.is_empty() {
        write_private(path, &serde_json::to_string_pretty(&f).expect("json"))?;
        if generated.contains(&"data_key") {
            crate::log_info!(
                "generated data_key in {} (keep a copy off this machine: backups are useless without it)",
                path.display()
            );
        }
    }
    let decode = |name: &str, v: &Option<String>| -> Result<Option<Vec<u8>>, String> {
        v.as_deref()
            .map(|v| {
                b64_decode_any(v).ok_or_else(|| format!("{}: {name} is not base64", path.display()))
            })
            .transpose()
    };
    let stored_secret = decode("session_secret", &f.session_secret)?;
    let stored_key = decode("data_key", &f.data_key)?;
    Ok(Secrets {
        // The environment wins; the file holds a value whenever it does not set one.
        session_secret: cfg
            .session_secret
            .clone()
            .or(stored_secret)
            .expect("set or generated"),
        data_key: cfg
            .data_key
            .clone()
            .or(stored_key)
            .expect("set or generated"),
        install_id: f.install_id,
    })
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
