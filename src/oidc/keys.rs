//! The signing keys: the newest signs ID tokens; retired keys stay published in the
//! JWKS until every ID token they signed has expired. `authportal keys rotate` adds a
//! key; running servers notice through a version number in the meta table.

use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

use super::ID_TOKEN_TTL;
use crate::crypto::jwt::{DEFAULT_BITS, SigningKey};
use crate::crypto::seal::Sealer;
use crate::db::{Db, meta, oauth};
use crate::error::{AppError, Result};

pub(crate) const VERSION_KEY: &str = "signing_keys_version";

struct Loaded {
    version: Option<String>,
    active: Arc<SigningKey>,
    published: Vec<Arc<SigningKey>>,
}

pub struct KeyRing {
    loaded: RwLock<Loaded>,
}

fn purpose(kid: &str) -> String {
    format!("signing-key:{kid}")
}

impl KeyRing {
    /// Loads the keys, first recording `configured` when the store has none, or when it
    /// is pinned by OIDC_SIGNING_KEY(_PATH) and is not the one signing.
    pub fn open(
        db: &Db,
        sealer: &Sealer,
        configured: SigningKey,
        pinned: bool,
        now: i64,
    ) -> std::result::Result<KeyRing, String> {
        let stored = db
            .with_tx(|tx| {
                let existing = oauth::signing_keys(tx, now - ID_TOKEN_TTL)?;
                let active_kid = existing
                    .iter()
                    .find(|(_, _, retired)| retired.is_none())
                    .map(|(k, _, _)| k.clone());
                if active_kid.is_none()
                    || (pinned && active_kid.as_deref() != Some(configured.kid.as_str()))
                {
                    add(tx, sealer, &configured, now)?;
                }
                Ok(())
            })
            .map_err(|e| e.to_string());
        stored?;
        let loaded = load(db, sealer, now).map_err(|e| e.to_string())?;
        Ok(KeyRing {
            loaded: RwLock::new(loaded),
        })
    }

    /// Reloads when another process (the CLI) rotated the keys.
    fn refresh(&self, db: &Db, sealer: &Sealer, now: i64) -> Result<()> {
        let version = meta::get(&*db.conn()?, VERSION_KEY)?;
        if self
            .loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .version
            == version
        {
            return Ok(());
        }
        let fresh = load(db, sealer, now)?;
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    pub fn active(&self, db: &Db, sealer: &Sealer, now: i64) -> Result<Arc<SigningKey>> {
        self.refresh(db, sealer, now)?;
        Ok(Arc::clone(
            &self.loaded.read().unwrap_or_else(|p| p.into_inner()).active,
        ))
    }

    pub fn jwks(&self, db: &Db, sealer: &Sealer, now: i64) -> Result<Value> {
        self.refresh(db, sealer, now)?;
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        Ok(json!({ "keys": loaded.published.iter().map(|k| k.jwk()).collect::<Vec<_>>() }))
    }

    /// The published key with this id (to verify an id_token_hint).
    pub fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        loaded.published.iter().find(|k| k.kid == kid).cloned()
    }
}

fn add(tx: &rusqlite::Connection, sealer: &Sealer, key: &SigningKey, now: i64) -> Result<()> {
    oauth::add_signing_key(
        tx,
        &key.kid,
        &sealer.seal(&purpose(&key.kid), key.to_pem().as_bytes()),
        now,
    )?;
    let version = crate::crypto::b64url(&crate::crypto::random_bytes::<8>());
    meta::set(tx, VERSION_KEY, &version)
}

fn load(db: &Db, sealer: &Sealer, now: i64) -> Result<Loaded> {
    let conn = db.conn()?;
    let version = meta::get(&conn, VERSION_KEY)?;
    let mut published = Vec::new();
    let mut active = None;
    for (kid, sealed, retired) in oauth::signing_keys(&conn, now - ID_TOKEN_TTL)? {
        let pem = sealer.open(&purpose(&kid), &sealed).map_err(|_| {
            AppError::internal(format!("signing key {kid} does not open under DATA_KEY"))
        })?;
        let key =
            SigningKey::from_pem(&String::from_utf8_lossy(&pem)).map_err(AppError::internal)?;
        let key = Arc::new(key);
        if retired.is_none() && active.is_none() {
            active = Some(Arc::clone(&key));
        }
        published.push(key);
    }
    let active = active.ok_or_else(|| AppError::internal("no active signing key"))?;
    Ok(Loaded {
        version,
        active,
        published,
    })
}

/// `authportal keys rotate`: a new key signs from now on. Returns its kid.
pub fn rotate(
    db: &Db,
    sealer: &Sealer,
    bits: usize,
    now: i64,
) -> std::result::Result<String, String> {
    let key = SigningKey::generate(bits.max(DEFAULT_BITS))?;
    db.with_tx(|tx| {
        add(tx, sealer, &key, now)?;
        oauth::delete_old_keys(tx, now - ID_TOKEN_TTL)?;
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok(key.kid.clone())
}
