//! Who is asking: the session behind the cookie, as a value handlers take as proof.

use crate::crypto::tokens::digest;
use crate::db::sessions::{self, SessionRow};
use crate::error::{AppError, Result};
use crate::web::cookies;
use crate::web::request::Ctx;

/// A live session. Holding one proves the cookie verified and the row exists.
pub struct UserSession {
    pub digest: Vec<u8>,
    pub row: SessionRow,
    /// Provider groups plus the groups an admin assigned.
    pub groups: Vec<String>,
    pub admin: bool,
}

impl UserSession {
    pub fn authorized(&self) -> bool {
        self.row.authorized
    }
}

/// The session of this request, if its cookie is valid and the session is live.
pub fn current_session(ctx: &Ctx) -> Result<Option<UserSession>> {
    let Some(value) = ctx.cookie(cookies::SESSION) else {
        return Ok(None);
    };
    let Some(id) = ctx.app.cookies.verify(cookies::SESSION_KIND, &value) else {
        return Ok(None);
    };
    let digest = digest(&id);
    let conn = ctx.app.db.conn()?;
    let Some(row) = sessions::load(&conn, &digest, ctx.now())? else {
        return Ok(None);
    };
    let admin = row.assigned_groups.iter().any(|g| g == "admins");
    let mut groups = row.provider_groups.clone();
    groups.extend(row.assigned_groups.iter().cloned());
    Ok(Some(UserSession {
        digest,
        row,
        groups,
        admin,
    }))
}

/// A session whose account may use the server.
pub fn require_user(ctx: &Ctx) -> Result<UserSession> {
    match current_session(ctx)? {
        Some(s) if s.authorized() => Ok(s),
        Some(_) => Err(AppError::Forbidden("this account has no access")),
        None => Err(AppError::Unauthorized),
    }
}

/// An authorized session of a user in the "admins" group.
pub fn require_admin(ctx: &Ctx) -> Result<UserSession> {
    let s = require_user(ctx)?;
    if !s.admin {
        return Err(AppError::Forbidden("administrators only"));
    }
    Ok(s)
}
