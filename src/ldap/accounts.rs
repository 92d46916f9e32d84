//! The directory's credentials: service accounts (made by an admin or `authportal
//! ldap-bind`) and people's app passwords. Each secret is random, shown once and kept
//! only as a digest.

use rusqlite::Connection;
use serde::Serialize;

use super::bind::new_secret;
use super::directory::Layout;
use crate::App;
use crate::db;
use crate::error::{AppError, Result};

/// Longest service-account or app-password name.
const MAX_NAME: usize = 64;

/// A new service account's DN and password (the only time the password is shown).
#[derive(Debug, Serialize)]
pub struct NewService {
    pub dn: String,
    pub password: String,
}

/// A service account as listed: its DN, and when it was made and last used.
#[derive(Debug, Serialize)]
pub struct ServiceInfo {
    pub name: String,
    pub dn: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// Service names go into DNs and command lines: letters, digits, `.`, `_` and `-`.
fn check_service_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AppError::bad_request(format!(
            "a service account name is 1 to {MAX_NAME} letters, digits, '.', '_' or '-'"
        )))
    }
}

/// Makes a service account (in the caller's transaction, beside its audit event).
pub fn create_service(
    tx: &Connection,
    layout: &Layout,
    name: &str,
    now: i64,
) -> Result<NewService> {
    check_service_name(name)?;
    let (password, digest) = new_secret();
    db::ldap::create_service(tx, name, &digest, now)?;
    Ok(NewService {
        dn: layout.service_dn(name),
        password,
    })
}

pub fn services(app: &App) -> Result<Vec<ServiceInfo>> {
    let l = Layout::of(app);
    Ok(db::ldap::services(&*app.db.conn()?)?
        .into_iter()
        .map(|s| ServiceInfo {
            dn: l.service_dn(&s.name),
            name: s.name,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
        })
        .collect())
}

/// Deletes a service account; NotFound when there is none of that name.
pub fn delete_service(tx: &Connection, name: &str) -> Result<()> {
    if db::ldap::delete_service(tx, name)? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// A new app password (the only time it is shown).
#[derive(Debug, Serialize)]
pub struct NewAppPassword {
    pub id: i64,
    pub name: String,
    pub password: String,
}

/// Makes an app password named `name` (what the person will use it for), in the
/// caller's transaction (beside its event).
pub fn create_app_password(
    tx: &Connection,
    user_id: i64,
    name: &str,
    now: i64,
) -> Result<NewAppPassword> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(hides_text) {
        return Err(AppError::bad_request(format!(
            "name the app password (1 to {MAX_NAME} characters), e.g. the app that will use it"
        )));
    }
    let (password, digest) = new_secret();
    let id = db::ldap::create_app_password(tx, user_id, name, &digest, now)?;
    Ok(NewAppPassword {
        id,
        name: name.to_string(),
        password,
    })
}

/// Control characters, and the format characters that reorder or hide text (bidi
/// embeddings, overrides and isolates, zero-width ones): a name is shown to people.
fn hides_text(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{061c}')
}

pub fn app_passwords(app: &App, user_id: i64) -> Result<Vec<db::ldap::AppPassword>> {
    db::ldap::app_passwords(&*app.db.conn()?, user_id)
}

/// Revokes one of the person's own app passwords; NotFound for any other id.
pub fn delete_app_password(tx: &Connection, user_id: i64, id: i64) -> Result<()> {
    if db::ldap::delete_app_password(tx, user_id, id)? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}
