//! Section "providers": which media servers sign people in, with their secrets sealed
//! (the document and its secret handling are in provider_settings).

use rusqlite::Connection;

use crate::config::Config;
use crate::crypto::seal::Sealer;
use crate::error::Result;
use crate::provider_settings::ProvidersSettings;
use crate::settings::{Section, load};

impl Section for ProvidersSettings {
    const NAME: &'static str = "providers";

    fn seal(
        incoming: &serde_json::Value,
        current: &serde_json::Value,
        sealer: &Sealer,
    ) -> std::result::Result<serde_json::Value, String> {
        crate::provider_settings::prepare(incoming, current, sealer)
    }

    fn present(stored: &serde_json::Value) -> serde_json::Value {
        crate::provider_settings::present(stored)
    }

    fn locked(cfg: &Config) -> Vec<&'static str> {
        crate::provider_settings::locked(cfg)
    }
}

/// Section "providers" as stored (secrets sealed).
pub fn providers(conn: &Connection) -> Result<ProvidersSettings> {
    load(conn)
}
