//! The owner's look: uploaded images (the logo at `/branding/logo`, the built-in shield
//! until one is uploaded; a background; service icons) and the theme
//! (`/branding/theme.css`: accent colour, background). Every page links the logo and the
//! theme, so no page needs to know about branding.

use rouille::Response;
use serde_json::json;

use crate::crypto::{hex, sha256};
use crate::db::settings as store;
use crate::error::{AppError, Result};
use crate::event_type::EventType;
use crate::web::admin::audit;
use crate::web::guards::Admin;
use crate::web::request::Ctx;

/// The images an owner can upload, each stored as one row of `branding_files`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Slot<'a> {
    /// Beside the app name on every page.
    Logo,
    /// Behind the portal pages (not the console).
    Background,
    /// A service link's icon on the home page, by name.
    Icon(&'a str),
}

impl<'a> Slot<'a> {
    /// The slot a path segment names; `None` for anything else (a 404).
    pub fn parse(kind: &str, name: Option<&'a str>) -> Option<Slot<'a>> {
        match (kind, name) {
            ("logo", None) => Some(Slot::Logo),
            ("background", None) => Some(Slot::Background),
            ("icons", Some(n)) if crate::settings::is_icon_name(n) => Some(Slot::Icon(n)),
            _ => None,
        }
    }

    fn key(self) -> String {
        match self {
            Slot::Logo => "logo".into(),
            Slot::Background => "background".into(),
            Slot::Icon(n) => format!("icon:{n}"),
        }
    }

    /// The most an upload may weigh: a background is a photo, the others are small.
    fn max_bytes(self) -> usize {
        match self {
            Slot::Logo => 512 * 1024,
            Slot::Background => 4 * 1024 * 1024,
            Slot::Icon(_) => 256 * 1024,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Slot::Logo => "logo",
            Slot::Background => "background image",
            Slot::Icon(_) => "icon",
        }
    }
}

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

/// A short tag of an image's bytes, for ETags and cache-busting URLs.
fn tag(data: &[u8]) -> String {
    hex(&sha256(data)[..8])
}

/// GET /branding/{logo|background|icons/NAME}. The logo falls back to the built-in
/// shield; the others are 404 until uploaded.
pub fn image_get(ctx: &Ctx, slot: Slot) -> Result<Response> {
    match store::branding_file(&*ctx.app.db.conn()?, &slot.key())? {
        Some((content_type, data, _)) => {
            let etag = tag(&data);
            Ok(Response::from_data(content_type, data)
                .with_public_cache(300)
                .with_etag(ctx.req, etag))
        }
        None if slot == Slot::Logo => crate::web::assets::serve(ctx, "favicon.svg"),
        None => Err(AppError::NotFound),
    }
}

/// GET /branding/theme.css: the accent colour and the background image, when the owner
/// chose them. The background URL carries the image's tag, so a new upload shows at once.
pub fn theme_get(ctx: &Ctx) -> Result<Response> {
    let conn = ctx.app.db.conn()?;
    let branding = crate::settings::branding(&conn)?;
    let background = store::branding_file(&conn, &Slot::Background.key())?;
    drop(conn);
    let mut css = String::new();
    // Validated as #rrggbb when saved, so it is safe inside CSS.
    if let Some(c) = branding.accent_color {
        css.push_str(&format!(":root {{ --accent: {c}; --accent-2: {c}; }}\n"));
    }
    if let Some((_, data, _)) = background {
        css.push_str(&format!(
            "body:not(.console) {{ background: var(--bg) url(\"/branding/background?v={}\") center / cover no-repeat fixed; }}\n",
            tag(&data)
        ));
    }
    let etag = tag(css.as_bytes());
    Ok(Response::from_data("text/css; charset=utf-8", css)
        .with_public_cache(60)
        .with_etag(ctx.req, etag))
}

/// GET /api/admin/branding/images: what is uploaded.
pub fn images_get(ctx: &Ctx, _: Admin) -> Result<Response> {
    let files = store::branding_files(&*ctx.app.db.conn()?)?;
    let describe = |f: &store::BrandingFile| json!({ "type": f.content_type, "bytes": f.bytes, "updated_at": f.updated_at });
    let find = |key: &str| files.iter().find(|f| f.name == key).map(describe);
    let icons: Vec<_> = files
        .iter()
        .filter_map(|f| {
            let name = f.name.strip_prefix("icon:")?;
            let mut d = describe(f);
            d["name"] = json!(name);
            d["url"] = json!(format!("/branding/icons/{name}"));
            Some(d)
        })
        .collect();
    Ok(Response::json(&json!({
        "logo": find("logo"),
        "background": find("background"),
        "icons": icons,
    }))
    .with_no_cache())
}

/// PUT /api/admin/branding/{slot} with the image as the body (PNG, JPEG or WebP).
pub fn image_put(ctx: &Ctx, admin: Admin, slot: Slot) -> Result<Response> {
    let max = slot.max_bytes();
    let refused = || {
        AppError::bad_request(format!(
            "the {} must be a PNG, JPEG or WebP image of at most {} KiB",
            slot.label(),
            max / 1024
        ))
    };
    let data = ctx.upload(max).map_err(|e| match e {
        AppError::PayloadTooLarge => refused(),
        e => e,
    })?;
    let content_type = image_type(&data).ok_or_else(refused)?;
    let key = slot.key();
    ctx.app.db.with_tx(|tx| {
        store::set_branding_file(tx, &key, content_type, &data, ctx.now())?;
        audit(
            ctx,
            tx,
            &admin,
            EventType::AdminBrandingImage,
            json!({ "image": key, "bytes": data.len(), "type": content_type }),
        )
    })?;
    let url = match slot {
        Slot::Icon(n) => format!("/branding/icons/{n}"),
        Slot::Logo => "/branding/logo".into(),
        Slot::Background => "/branding/background".into(),
    };
    Ok(
        Response::json(&json!({ "url": url, "type": content_type, "bytes": data.len() }))
            .with_no_cache(),
    )
}

/// DELETE /api/admin/branding/{slot}: the logo goes back to the built-in shield.
pub fn image_delete(ctx: &Ctx, admin: Admin, slot: Slot) -> Result<Response> {
    let key = slot.key();
    let removed = ctx.app.db.with_tx(|tx| {
        let removed = store::delete_branding_file(tx, &key)?;
        if removed {
            audit(
                ctx,
                tx,
                &admin,
                EventType::AdminBrandingImageRemoved,
                json!({ "image": key }),
            )?;
        }
        Ok(removed)
    })?;
    if !removed {
        return Err(AppError::NotFound);
    }
    Ok(Response::empty_204())
}
