//! Withdrawing access: what an identity the provider no longer vouches for was given
//! ends (sessions; tokens and trusted addresses when no linked account still has access).

use serde_json::json;

use crate::app::App;
use crate::db::{oauth, users};
use crate::error::Result;
use crate::event_type::EventType;
use crate::providers::ProviderKind;

use super::Origin;

/// Ends what an identity the provider no longer vouches for was given: its sessions, and
/// when no other linked account of the user still has access, every token applications
/// hold and the addresses trusted for native apps. Returns the tokens revoked.
pub fn withdraw(
    app: &App,
    tx: &rusqlite::Connection,
    identity_id: i64,
    user_id: i64,
    now: i64,
) -> Result<usize> {
    users::revoke_identity(tx, identity_id)?;
    app.access_cache.forget_user(user_id);
    if users::still_authorized(tx, user_id)? {
        return Ok(0);
    }
    crate::db::signin_ips::forget_all_signin_ips(tx, user_id)?;
    oauth::revoke_user_tokens(tx, user_id, now)
}

/// The provider refused an account: if the portal knew it, it loses its sessions and,
/// when no other linked account still has access, every token applications hold.
pub fn withdraw_access(
    origin: &Origin,
    provider: ProviderKind,
    account: Option<&str>,
    username: Option<&str>,
) -> Result<()> {
    origin.app.db.with_tx(|tx| {
        let Some((identity_id, user_id)) =
            users::find_identity(tx, provider.as_str(), account, username)?
        else {
            return Ok(());
        };
        let revoked = withdraw(origin.app, tx, identity_id, user_id, origin.now)?;
        origin.record(
            tx,
            EventType::AccessWithdrawn,
            Some(user_id),
            true,
            json!({ "provider": provider.as_str(), "tokens_revoked": revoked }),
        )
    })
}
