//! Who is asking: the session behind the cookie, as a value handlers take as proof.

use crate::crypto::tokens::digest;
use crate::db::sessions::{self, SessionRow};
use crate::error::{AppError, Result};
use crate::providers::Amr;
use crate::roles::Permission;
use crate::web::cookies;
use crate::web::request::Ctx;

/// A live session. Holding one proves the cookie verified and the row exists.
pub struct UserSession {
    pub digest: Vec<u8>,
    pub row: SessionRow,
    /// The user's groups (db::users::groups).
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
    let Some(id) = cookies::Cookie::Session.read(ctx) else {
        return Ok(None);
    };
    let digest = digest(&id);
    let conn = ctx.app.db.conn()?;
    let Some(row) = sessions::load(&conn, &digest, ctx.now())? else {
        return Ok(None);
    };
    let admin = row.assigned_groups.iter().any(|g| g == "admins");
    let groups = row.groups.clone();
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

/// A session opened before the person set up a second factor (or before the owner
/// enforced one) has not passed it: signing a device in as them needs it (/device,
/// /link/jellyfin), like the console (the rule: mfa::session_owes_second_factor).
pub fn require_second_factor(ctx: &Ctx, s: &UserSession) -> Result<()> {
    let conn = ctx.app.db.conn()?;
    if crate::mfa::session_owes_second_factor(ctx.app, &conn, &s.row)? {
        return Err(AppError::Forbidden(
            "sign out and sign in again with your second factor to approve a device",
        ));
    }
    Ok(())
}

/// Proof that the session of this request holds a console permission: made only by
/// [`require_permission`], so a handler that takes one cannot run unguarded. The route
/// table (web/routes.rs) names the permission and hands the proof to the handler.
pub struct Admin {
    session: UserSession,
    permission: Permission,
}

impl Admin {
    /// The permission that was checked.
    pub fn permission(&self) -> Permission {
        self.permission
    }
}

impl std::ops::Deref for Admin {
    type Target = UserSession;
    fn deref(&self) -> &UserSession {
        &self.session
    }
}

/// An authorized session whose groups hold `permission` (and admin.access), with a
/// second factor when MFA is enforced for those groups. Groups are read on every
/// request, so a privilege change applies at once.
pub fn require_permission(ctx: &Ctx, permission: Permission) -> Result<Admin> {
    let s = require_user(ctx)?;
    let conn = ctx.app.db.conn()?;
    let roles = crate::settings::roles(&conn)?;
    if !roles.allows(&s.groups, Permission::AdminAccess) {
        return Err(AppError::Forbidden("administrators only"));
    }
    if !roles.allows(&s.groups, permission) {
        return Err(AppError::Forbidden("your role does not allow this"));
    }
    if !Amr::Otp.is_in(&s.row.amr)
        && ctx.app.config.mfa_enable
        && crate::mfa::enforced(ctx.app, &conn, &s.groups)?
    {
        return Err(AppError::SecondFactorRequired);
    }
    Ok(Admin {
        session: s,
        permission,
    })
}
