//! Token introspection (RFC 7662): a confidential client asks whether one of its own
//! tokens is live, and whose it is. Anything else reads `{"active": false}`.

use serde_json::{Value, json};

use super::clients::{self, Credentials};
use super::grants::{self, digest_of};
use super::{OAuthError, Outcome};
use crate::app::App;
use crate::db::oauth::{self, Kind};

/// POST /oidc/introspect: the token's metadata, or `{"active": false}`.
pub fn introspect(app: &App, creds: &Credentials, token: Option<&str>, now: i64) -> Outcome<Value> {
    let client = clients::authenticate(&*app.db.conn()?, creds)?;
    if client.public {
        return Err(
            OAuthError::InvalidClient("introspection needs a confidential client".into()).into(),
        );
    }
    let token = token.ok_or_else(|| OAuthError::InvalidRequest("token is missing".into()))?;
    let conn = app.db.conn()?;
    let inactive = json!({ "active": false });
    let Some(t) = oauth::token(&conn, &digest_of(token))? else {
        return Ok(inactive);
    };
    let live = t.client == client.id
        && t.revoked_at.is_none()
        && t.rotated_at.is_none()
        && t.expires_at > now;
    if !live {
        return Ok(inactive);
    }
    let mut out = json!({
        "active": true,
        "scope": t.scopes.join(" "),
        "client_id": client.client_id,
        "token_type": if t.kind == Kind::Refresh { "refresh_token" } else { "Bearer" },
        "exp": t.expires_at,
        "iat": t.created_at,
        "iss": app.config.issuer(),
        "aud": client.client_id,
    });
    match t.user_id {
        Some(user_id) => {
            if !crate::db::users::still_authorized(&conn, user_id)? {
                return Ok(inactive);
            }
            let claims = grants::user_claims(app, &conn, user_id, &["profile".to_string()])?;
            out["sub"] = claims["sub"].clone();
            out["username"] = claims["preferred_username"].clone();
            if let Some(sid) = t.sid {
                out["sid"] = json!(sid);
            }
        }
        None => out["sub"] = json!(client.client_id),
    }
    Ok(out)
}
