//! The console pages with forms for access rules (`/admin/access`) and roles
//! (`/admin/roles`). They only read; admin.js saves through `PUT /api/admin/config/*`,
//! the one way a section is saved, with its checks and lock-out refusals.

use rouille::Response;

use crate::error::Result;
use crate::roles::Permission;
use crate::settings::Section;
use crate::views::admin::{self as view, Area};
use crate::web::admin_pages::{Console, page};
use crate::web::request::Ctx;

/// The version a section was last saved as (0: never).
fn version_of(conn: &rusqlite::Connection, name: &str) -> Result<i64> {
    Ok(crate::db::settings::get(conn, name)?.map_or(0, |s| s.version))
}

/// GET /admin/access: the default policy, the rules as forms, the tester.
pub fn access_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let enabled = &ctx.app.providers().enabled;
    let conn = ctx.app.db.conn()?;
    let version = version_of(&conn, crate::access::AccessSpec::NAME)?;
    let spec = crate::settings::access(&conn)?;
    let groups = crate::groups::known(&conn, enabled)?;
    drop(conn);
    let warnings = crate::access::warnings(&spec, enabled);
    Ok(page(view::access(
        &c.frame(Area::Access),
        &view::AccessPage {
            version,
            spec: &spec,
            warnings: &warnings,
            groups: &groups,
            can_write: c.can(Permission::ConfigWrite),
        },
    )))
}

/// GET /admin/roles: groups x permissions.
pub fn roles_get(ctx: &Ctx, c: Console) -> Result<Response> {
    let conn = ctx.app.db.conn()?;
    let version = version_of(&conn, crate::settings::RolesSettings::NAME)?;
    let roles = crate::settings::roles(&conn)?;
    let groups = crate::groups::known(&conn, &ctx.app.providers().enabled)?;
    drop(conn);
    Ok(page(view::roles(
        &c.frame(Area::Settings),
        &view::RolesPage {
            version,
            roles: &roles,
            groups: &groups,
            can_write: c.can(Permission::ConfigWrite),
        },
    )))
}
