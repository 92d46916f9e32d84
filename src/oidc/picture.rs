//! The `picture` claim: a portal URL per user (`/oidc/picture/UUID.TAG`, the tag a MAC of
//! the UUID, so a URL cannot be made up for someone else) that serves the user's own
//! avatar from their media provider. Apps never learn the media server's address or
//! token, and the portal fetches only the avatar it stored for that user: no open proxy.

use crate::app::App;
use crate::error::{AppError, Result};
use crate::providers::{ProviderError, ProviderKind};

/// The route's prefix; the key follows.
pub const PATH_PREFIX: &str = "/oidc/picture/";
/// What the MAC of a picture URL is bound to (apart from cookies and other tags).
const TAG_KIND: &str = "picture";
/// The largest avatar served (provider avatars are small; larger answers are refused).
pub const MAX_BYTES: u64 = 512 * 1024;

/// The picture URL of the user with `uuid` (whether or not they have an avatar today).
pub fn url(app: &App, uuid: &str) -> String {
    app.config.url_for(&format!(
        "{PATH_PREFIX}{uuid}.{}",
        app.cookies.tag(TAG_KIND, uuid)
    ))
}

/// An avatar ready to serve.
#[derive(Debug)]
pub struct Picture {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The avatar behind `key` (`UUID.TAG`). A key the portal did not make, a user without
/// access or without an avatar all read NotFound; the provider failing is 502/503.
pub fn fetch(app: &App, key: &str) -> Result<Picture> {
    let (uuid, tag) = key.split_once('.').ok_or(AppError::NotFound)?;
    if uuid.len() > 64 || !app.cookies.tag_matches(TAG_KIND, uuid, tag) {
        return Err(AppError::NotFound);
    }
    let found = {
        let conn = app.db.conn()?;
        match crate::db::users::id_by_uuid(&conn, uuid)? {
            Some(user_id) => crate::db::users::avatar(&conn, user_id)?,
            None => None,
        }
    };
    // The database connection is back in the pool before the network call.
    let (provider, account, avatar) = found.ok_or(AppError::NotFound)?;
    let providers = app.providers();
    let fetched = match ProviderKind::parse(&provider) {
        Some(ProviderKind::Plex) => providers
            .plex
            .as_ref()
            .map(|plex| plex.avatar(&app.http, &avatar, MAX_BYTES)),
        Some(kind) => providers
            .media_server(kind)
            .map(|server| server.avatar(&app.http, &account, &avatar, MAX_BYTES)),
        None => None,
    }
    .ok_or(AppError::NotFound)?;
    let bytes = fetched
        .map_err(|e| match e {
            ProviderError::Unreachable(d) => AppError::Unavailable(format!("avatar: {d}")),
            other => AppError::Upstream(format!("avatar: {other}")),
        })?
        .ok_or(AppError::NotFound)?;
    let content_type = image_type(&bytes)
        .ok_or_else(|| AppError::Upstream("avatar: the answer is not an image".into()))?;
    Ok(Picture {
        content_type,
        bytes,
    })
}

/// The type of an image by its first bytes; the provider's Content-Type is not trusted
/// (an HTML or SVG answer served from the portal's origin could run script).
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_raster_images_are_served() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(image_type(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(image_type(b"GIF89a.."), Some("image/gif"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        for bad in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>"[..],
            b"<html>",
            b"",
            b"RIFF",
        ] {
            assert_eq!(image_type(bad), None);
        }
    }
}
