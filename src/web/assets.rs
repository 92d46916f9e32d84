//! The compiled-in static files: CSS, the page script, icons.

use rouille::Response;

use crate::crypto::{hex, sha256};
use crate::error::{AppError, Result};
use crate::web::request::Ctx;

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "styles.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/styles.css"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/login.js"),
    ),
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/admin.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../assets/favicon.svg"),
    ),
    (
        "icons/plex.svg",
        "image/svg+xml",
        include_bytes!("../../assets/icons/plex.svg"),
    ),
    (
        "icons/jellyfin.svg",
        "image/svg+xml",
        include_bytes!("../../assets/icons/jellyfin.svg"),
    ),
    (
        "icons/emby.svg",
        "image/svg+xml",
        include_bytes!("../../assets/icons/emby.svg"),
    ),
];

pub fn serve(ctx: &Ctx, name: &str) -> Result<Response> {
    let (_, content_type, body) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or(AppError::NotFound)?;
    let etag = hex(&sha256(body)[..8]);
    Ok(Response::from_data(*content_type, *body)
        .with_public_cache(3600)
        .with_etag(ctx.req, etag))
}
