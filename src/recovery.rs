//! The way back when the console is out of reach (an admin locked out, a phone lost):
//! what `authportal admin list|grant|revoke` and `authportal mfa reset` do. They open the
//! database like every other command, so they work with the portal stopped or running
//! (SQLite's WAL lets a second process write), and each change is an audit event.

use serde_json::json;

use crate::app::App;
use crate::db::{events, mfa, users};
use crate::error::{AppError, Result};
use crate::event_type::EventType;

/// The group that makes an admin (it always holds every permission).
pub const ADMINS: &str = "admins";

pub fn admins(app: &App) -> Result<Vec<users::AdminRow>> {
    users::admins(&*app.db.conn()?)
}

fn user(tx: &rusqlite::Connection, username: &str) -> Result<(i64, String)> {
    users::by_username(tx, username)?.ok_or_else(|| {
        AppError::bad_request(format!(
            "no user {username:?} (see `authportal admin list`, or the console's users page)"
        ))
    })
}

fn audit(
    tx: &rusqlite::Connection,
    app: &App,
    kind: EventType,
    detail: serde_json::Value,
) -> Result<()> {
    let e = events::Event {
        kind,
        user_id: None,
        ip: None,
        result: "success",
        detail,
    };
    events::record(tx, &e, app.clock.now())
}

/// Puts the user in the admins group; Ok(false) when they already were.
pub fn grant(app: &App, username: &str) -> Result<bool> {
    app.db.with_tx(|tx| {
        let (id, uuid) = user(tx, username)?;
        if users::assigned_groups(tx, id)?.iter().any(|g| g == ADMINS) {
            return Ok(false);
        }
        users::add_group(tx, id, ADMINS, app.clock.now())?;
        let groups = users::assigned_groups(tx, id)?;
        audit(
            tx,
            app,
            EventType::AdminUserGroups,
            json!({ "target": uuid, "groups": groups, "via": "cli" }),
        )?;
        Ok(true)
    })
}

/// Takes the user out of the admins group; refused when it would leave no admin.
pub fn revoke(app: &App, username: &str) -> Result<bool> {
    app.db.with_tx(|tx| {
        let (id, uuid) = user(tx, username)?;
        if !users::remove_group(tx, id, ADMINS)? {
            return Ok(false);
        }
        if users::count_admins(tx)? == 0 {
            return Err(AppError::bad_request(
                "this would leave no admin; grant someone else first (authportal admin grant USERNAME)",
            ));
        }
        let groups = users::assigned_groups(tx, id)?;
        audit(tx, app, EventType::AdminUserGroups, json!({ "target": uuid, "groups": groups, "via": "cli" }))?;
        Ok(true)
    })
}

/// Removes the user's second factors (they set one up again at their next sign-in if
/// MFA is enforced for them); Ok(false) when they had none.
pub fn mfa_reset(app: &App, username: &str) -> Result<bool> {
    app.db.with_tx(|tx| {
        let (id, uuid) = user(tx, username)?;
        let removed = mfa::remove(tx, id)?;
        audit(
            tx,
            app,
            EventType::AdminMfaReset,
            json!({ "target": uuid, "had_mfa": removed, "via": "cli" }),
        )?;
        Ok(removed)
    })
}
