//! Token revocation (RFC 7009): a client ends one of its own tokens; a refresh token
//! takes its whole grant with it. Unknown tokens and other clients' tokens change
//! nothing and get the same answer.

use serde_json::json;

use super::clients::{self, Credentials};
use super::grants::digest_of;
use super::{Caller, OAuthError, Outcome};
use crate::app::App;
use crate::db::oauth::{self, Kind};
use crate::event_type::EventType;

/// POST /oidc/revoke: Ok for every well-formed request from an authenticated client.
pub fn revoke(
    app: &App,
    caller: &Caller,
    creds: &Credentials,
    token: Option<&str>,
    now: i64,
) -> Outcome<()> {
    let client = clients::authenticate(&*app.db.conn()?, creds)?;
    let token = token.ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?;
    let digest = digest_of(token);
    app.db.with_tx(|tx| {
        let Some(t) = oauth::token(tx, &digest)? else {
            return Ok(());
        };
        if t.client != client.id {
            return Ok(());
        }
        // A refresh token takes its whole grant with it (RFC 7009 2.1).
        let n = match t.kind {
            Kind::Refresh => oauth::revoke_family(tx, &t.family, now)?,
            Kind::Access => oauth::revoke_token(tx, &digest, now)?,
        };
        caller.record(
            tx,
            EventType::TokenRevoked,
            t.user_id,
            json!({ "client_id": client.client_id, "kind": format!("{:?}", t.kind).to_lowercase(), "revoked": n }),
            now,
        )
    })?;
    Ok(())
}
