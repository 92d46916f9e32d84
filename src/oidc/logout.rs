//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): whether to sign out at
//! once, ask first, or refuse, and where to go afterwards.

use serde_json::Value;

use super::authorize::redirect_with;
use crate::app::App;
use crate::db::oauth;
use crate::db::sessions::SessionRow;
use crate::error::Result;

/// What the logout endpoint does with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Refused, with a message for the person.
    Refused(&'static str),
    /// Ask before signing out: the request again (as hidden fields), and who asks.
    Confirm {
        params: Vec<(String, String)>,
        client_name: Option<String>,
    },
    /// End the session (when there is one), then go to `redirect` or say it is done.
    SignOut { redirect: Option<String> },
}

/// Decides a logout request. `session` is the signed-in session, `posted` whether the
/// request is the confirmation form's POST.
pub fn answer(
    app: &App,
    params: &[(String, String)],
    session: Option<&SessionRow>,
    posted: bool,
    now: i64,
) -> Result<Answer> {
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let hint = match get("id_token_hint") {
        None => None,
        Some(t) => match verify_hint(app, t, now) {
            Some(claims) => Some(claims),
            None => {
                return Ok(Answer::Refused(
                    "The sign-out request carries an ID token this portal did not issue.",
                ));
            }
        },
    };
    let hinted_client = hint.as_ref().and_then(|c| c["aud"].as_str());
    let client_id = match (get("client_id"), hinted_client) {
        (Some(a), Some(b)) if a != b => {
            return Ok(Answer::Refused("client_id does not match the ID token."));
        }
        (a, b) => a.or(b),
    };
    let client = match client_id {
        Some(id) => match oauth::client(&*app.db.conn()?, id)? {
            Some(c) => Some(c),
            None => {
                return Ok(Answer::Refused(
                    "This application is not registered with the portal.",
                ));
            }
        },
        None => None,
    };
    let redirect = match (get("post_logout_redirect_uri"), &client) {
        (None, _) => None,
        (Some(uri), Some(c)) if c.post_logout_uris.iter().any(|u| u == uri) => {
            let state: Vec<(&str, &str)> = get("state").map(|s| ("state", s)).into_iter().collect();
            Some(redirect_with(uri, &state))
        }
        (Some(_), _) => {
            return Ok(Answer::Refused(
                "The application asked to return to an address it has not registered for sign-out.",
            ));
        }
    };
    // Sign out at once when nobody is signed in, or when the application proved which
    // user it means (a valid ID token for this very user); otherwise ask first.
    let proven = match (session, &hint) {
        (None, _) => true,
        (Some(s), Some(h)) => h["sub"].as_str() == Some(s.uuid.as_str()),
        (Some(_), None) => false,
    };
    let confirmed = posted && get("confirm") == Some("yes");
    if !proven && !confirmed {
        return Ok(Answer::Confirm {
            params: params
                .iter()
                .filter(|(k, _)| k != "confirm")
                .cloned()
                .collect(),
            client_name: client.map(|c| c.name),
        });
    }
    Ok(Answer::SignOut { redirect })
}

/// The claims of an ID token this portal signed (expired is fine: it only names the user).
pub(super) fn verify_hint(app: &App, token: &str, now: i64) -> Option<Value> {
    // Loads keys rotated by another process since this one started.
    app.keys.jwks(&app.db, &app.sealer, now).ok()?;
    let kid = crate::crypto::jwt::kid_of(token)?;
    let claims = app.keys.find(&kid)?.verify(token)?;
    (claims["iss"].as_str() == Some(app.config.issuer().as_str())).then_some(claims)
}
