//! The LDAP directory's service accounts in the console API: `GET|POST
//! /api/admin/ldap/services` and `DELETE /api/admin/ldap/services/{name}`.

use rouille::Response;
use serde::Deserialize;
use serde_json::json;

use crate::error::Result;
use crate::event_type::EventType;
use crate::ldap::{accounts, directory::Layout};
use crate::web::admin::audit;
use crate::web::guards::Admin;
use crate::web::request::Ctx;

/// GET /admin/ldap: the console page.
pub fn page_get(ctx: &Ctx, c: crate::web::admin_pages::Console) -> Result<Response> {
    use crate::roles::Permission;
    use crate::views::admin::{Area, LdapPage, ldap as view};
    let services = accounts::services(ctx.app)?;
    let listen = crate::ldap::settings::of(ctx.app)?.listen_addr;
    Ok(crate::web::admin_pages::page(view(
        &c.frame(Area::Ldap),
        &LdapPage {
            listen: listen.map(|a| a.to_string()),
            base: &ctx.app.config.ldap.base_dn,
            services: &services,
            can_write: c.can(Permission::ConfigWrite),
        },
    )))
}

/// GET: names, DNs and dates (never a password).
pub fn list_get(ctx: &Ctx, _: Admin) -> Result<Response> {
    let list = accounts::services(ctx.app)?;
    Ok(Response::json(&json!({ "services": list })).with_no_cache())
}

#[derive(Deserialize)]
struct NewBody {
    name: String,
}

/// POST `{"name"}` -> 201 `{dn, password}`: the password is shown this once.
pub fn create_post(ctx: &Ctx, admin: Admin) -> Result<Response> {
    let body: NewBody = ctx.json(r#"{"name": "nextcloud"}"#)?;
    let layout = Layout::of(ctx.app);
    let made = ctx.app.db.with_tx(|tx| {
        let made = accounts::create_service(tx, &layout, &body.name, ctx.now())?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminLdapServiceCreate,
            json!({ "dn": made.dn }),
        )?;
        Ok(made)
    })?;
    Ok(Response::json(&made).with_status_code(201).with_no_cache())
}

/// DELETE: 204, or 404 for a name that is not a service account.
pub fn delete(ctx: &Ctx, admin: Admin, name: &str) -> Result<Response> {
    ctx.app.db.with_tx(|tx| {
        accounts::delete_service(tx, name)?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminLdapServiceDelete,
            json!({ "name": name }),
        )
    })?;
    Ok(Response::empty_204().with_no_cache())
}
