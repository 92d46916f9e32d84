//! The owner's look: the uploaded logo (`/branding/logo`, the built-in shield until one
//! is uploaded) and the accent colour (`/branding/theme.css`). Every page links both, so
//! no page needs to know about branding.

use rouille::Response;
use serde_json::json;

use crate::crypto::{hex, sha256};
use crate::db::settings as store;
use crate::error::{AppError, Result};
use crate::web::admin::audit;
use crate::web::guards::require_permission;
use crate::web::request::Ctx;

const LOGO: &str = "logo";

/// The image kinds accepted, by their first bytes (what the browser will sniff anyway).
/// No SVG: an uploaded SVG could carry script.
fn image_type(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if data.len() > 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// GET /branding/logo
pub fn logo_get(ctx: &Ctx) -> Result<Response> {
    match store::branding_file(&*ctx.app.db.conn()?, LOGO)? {
        Some((content_type, data, _)) => {
            let etag = hex(&sha256(&data)[..8]);
            Ok(Response::from_data(content_type, data)
                .with_public_cache(300)
                .with_etag(ctx.req, etag))
        }
        None => crate::web::assets::serve(ctx, "favicon.svg"),
    }
}

/// GET /branding/theme.css: the accent colour, when the owner chose one.
pub fn theme_get(ctx: &Ctx) -> Result<Response> {
    let branding = crate::settings::branding(&*ctx.app.db.conn()?)?;
    // Validated as #rrggbb when saved, so it is safe inside CSS.
    let css = match branding.accent_color {
        Some(c) => format!(":root {{ --accent: {c}; --accent-2: {c}; }}\n"),
        None => String::new(),
    };
    let etag = hex(&sha256(css.as_bytes())[..8]);
    Ok(Response::from_data("text/css; charset=utf-8", css)
        .with_public_cache(60)
        .with_etag(ctx.req, etag))
}

/// PUT /api/admin/branding/logo with the image as the body (PNG, JPEG or WebP, 64 KiB).
pub fn logo_put(ctx: &Ctx) -> Result<Response> {
    let admin = require_permission(ctx, "config.write")?;
    let data = ctx.body()?;
    let content_type = image_type(&data).ok_or_else(|| {
        AppError::bad_request("the logo must be a PNG, JPEG or WebP image of at most 64 KiB")
    })?;
    ctx.app.db.with_tx(|tx| {
        store::set_branding_file(tx, LOGO, content_type, &data, ctx.now())?;
        audit(
            ctx,
            tx,
            &admin,
            "admin.branding.logo",
            json!({ "bytes": data.len(), "type": content_type }),
        )
    })?;
    Ok(Response::json(
        &json!({ "logo": "/branding/logo", "type": content_type, "bytes": data.len() }),
    )
    .with_no_cache())
}

/// DELETE /api/admin/branding/logo: back to the built-in shield.
pub fn logo_delete(ctx: &Ctx) -> Result<Response> {
    let admin = require_permission(ctx, "config.write")?;
    ctx.app.db.with_tx(|tx| {
        store::delete_branding_file(tx, LOGO)?;
        audit(ctx, tx, &admin, "admin.branding.logo_removed", json!({}))
    })?;
    Ok(Response::empty_204())
}
