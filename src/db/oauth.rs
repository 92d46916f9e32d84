//! OAuth / OpenID Connect storage: clients, consents, codes, tokens, signing keys.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Result;
use crate::fair_share::Holder;

fn json_list(text: String) -> Vec<String> {
    // Written only by this module from Vec<String>.
    serde_json::from_str(&text).unwrap_or_default()
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).expect("strings serialize")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: i64,
    pub client_id: String,
    pub secret_digest: Option<Vec<u8>>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_uris: Vec<String>,
    pub public: bool,
    pub trusted: bool,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Only members of these groups may use it (empty: everyone with server access).
    pub allowed_groups: Vec<String>,
    /// How it may authenticate at the token-style endpoints (oidc::AUTH_METHODS).
    pub auth_methods: Vec<String>,
    /// Its authorization requests must carry a PKCE challenge.
    pub pkce_required: bool,
    /// The app preset it was created from (oidc::presets).
    pub preset: Option<String>,
}

const CLIENT_COLUMNS: &str = "id, client_id, secret_digest, name, redirect_uris_json, post_logout_uris_json, public, trusted,
     scopes_json, grant_types_json, created_at, updated_at, allowed_groups_json, auth_methods_json, pkce_required, preset";

fn client_row(r: &Row) -> rusqlite::Result<Client> {
    Ok(Client {
        id: r.get(0)?,
        client_id: r.get(1)?,
        secret_digest: r.get(2)?,
        name: r.get(3)?,
        redirect_uris: json_list(r.get(4)?),
        post_logout_uris: json_list(r.get(5)?),
        public: r.get(6)?,
        trusted: r.get(7)?,
        scopes: json_list(r.get(8)?),
        grant_types: json_list(r.get(9)?),
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        allowed_groups: json_list(r.get(12)?),
        auth_methods: json_list(r.get(13)?),
        pkce_required: r.get(14)?,
        preset: r.get(15)?,
    })
}

pub fn client(conn: &Connection, client_id: &str) -> Result<Option<Client>> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([client_id], client_row)
        .optional()?)
}

pub fn client_by_row_id(conn: &Connection, id: i64) -> Result<Option<Client>> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], client_row)
        .optional()?)
}

pub fn clients(conn: &Connection) -> Result<Vec<Client>> {
    let sql = format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY name, client_id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], client_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Inserts or updates (by client_id) every field of a client.
pub fn save_client(conn: &Connection, c: &Client) -> Result<()> {
    conn.execute(
        "INSERT INTO oauth_clients (client_id, secret_digest, name, redirect_uris_json, post_logout_uris_json, public, trusted,
                                    scopes_json, grant_types_json, created_at, updated_at, allowed_groups_json,
                                    auth_methods_json, pkce_required, preset)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (client_id) DO UPDATE SET secret_digest = excluded.secret_digest, name = excluded.name,
             redirect_uris_json = excluded.redirect_uris_json, post_logout_uris_json = excluded.post_logout_uris_json,
             public = excluded.public, trusted = excluded.trusted, scopes_json = excluded.scopes_json,
             grant_types_json = excluded.grant_types_json, updated_at = excluded.updated_at,
             allowed_groups_json = excluded.allowed_groups_json,
             auth_methods_json = excluded.auth_methods_json, pkce_required = excluded.pkce_required,
             preset = excluded.preset",
        params![
            c.client_id,
            c.secret_digest,
            c.name,
            to_json(&c.redirect_uris),
            to_json(&c.post_logout_uris),
            c.public,
            c.trusted,
            to_json(&c.scopes),
            to_json(&c.grant_types),
            c.created_at,
            c.updated_at,
            to_json(&c.allowed_groups),
            to_json(&c.auth_methods),
            c.pkce_required,
            c.preset
        ],
    )?;
    Ok(())
}

pub fn delete_client(conn: &Connection, client_id: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM oauth_clients WHERE client_id = ?1",
        [client_id],
    )? > 0)
}

/// An authorization request waiting for its sign-in (oidc::authorize keeps it here so
/// only a short id travels through the sign-in's `rd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    pub params: Vec<(String, String)>,
    /// The sign-in must be at or after this time (set by the portal, never by a client).
    pub auth_after: Option<i64>,
}

/// Keeps `p`, made from `from`, under `id_digest` for the browser `browser_digest` until
/// `expires_at` (after fair_share::make_room), dropping requests that expired meanwhile.
pub fn save_pending(
    conn: &Connection,
    id_digest: &[u8],
    browser_digest: &[u8],
    p: &PendingRequest,
    from: &Holder,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    conn.execute("DELETE FROM oidc_pending WHERE expires_at <= ?1", [now])?;
    let params_json = serde_json::to_string(&p.params).expect("strings serialize");
    conn.execute(
        "INSERT INTO oidc_pending (id_digest, browser_digest, params_json, auth_after, created_at, expires_at,
                                   network, requester)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id_digest,
            browser_digest,
            params_json,
            p.auth_after,
            now,
            expires_at,
            from.network,
            from.address
        ],
    )?;
    Ok(())
}

/// Authorization requests waiting for a sign-in, at most. Anyone may start one, so the
/// table is bounded: when it is full, crate::fair_share makes room from the network
/// holding the most (or refuses that network's newcomer), so a flood cannot push out the
/// sign-ins people elsewhere are in the middle of.
pub const MAX_PENDING: i64 = 10_000;

/// Removes up to `batch` requests whose sign-in never came back (the janitor's sweep).
pub fn sweep_pending(conn: &Connection, now: i64, batch: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM oidc_pending WHERE id_digest IN
           (SELECT id_digest FROM oidc_pending WHERE expires_at <= ?1 LIMIT ?2)",
        params![now, batch],
    )?)
}

/// Takes (and so ends) the pending request `id_digest` if this browser made it and it
/// has not expired: each is resumed once.
pub fn take_pending(
    conn: &Connection,
    id_digest: &[u8],
    browser_digest: &[u8],
    now: i64,
) -> Result<Option<PendingRequest>> {
    let row: Option<(String, Option<i64>)> = conn
        .prepare_cached(
            "DELETE FROM oidc_pending WHERE id_digest = ?1 AND browser_digest = ?2 AND expires_at > ?3
             RETURNING params_json, auth_after",
        )?
        .query_row(params![id_digest, browser_digest, now], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    Ok(row.map(|(params_json, auth_after)| PendingRequest {
        // Written only by save_pending from Vec<(String, String)>.
        params: serde_json::from_str(&params_json).unwrap_or_default(),
        auth_after,
    }))
}

pub fn consent(conn: &Connection, user_id: i64, client: i64) -> Result<Option<Vec<String>>> {
    Ok(conn
        .query_row(
            "SELECT scopes_json FROM oauth_consents WHERE user_id = ?1 AND client_id = ?2",
            params![user_id, client],
            |r| r.get(0),
        )
        .optional()?
        .map(json_list))
}

pub fn save_consent(
    conn: &Connection,
    user_id: i64,
    client: i64,
    scopes: &[String],
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO oauth_consents (user_id, client_id, scopes_json, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, client_id) DO UPDATE SET scopes_json = excluded.scopes_json, created_at = excluded.created_at",
        params![user_id, client, to_json(scopes), now],
    )?;
    Ok(())
}

pub fn delete_consent(conn: &Connection, user_id: i64, client: i64) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM oauth_consents WHERE user_id = ?1 AND client_id = ?2",
        params![user_id, client],
    )? > 0)
}

/// A client a user has consented to.
pub struct Consented {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub at: i64,
}

pub fn consents_of(conn: &Connection, user_id: i64) -> Result<Vec<Consented>> {
    let mut stmt = conn.prepare(
        "SELECT c.client_id, c.name, k.scopes_json, k.created_at FROM oauth_consents k
         JOIN oauth_clients c ON c.id = k.client_id WHERE k.user_id = ?1 ORDER BY c.name",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(Consented {
            client_id: r.get(0)?,
            name: r.get(1)?,
            scopes: json_list(r.get(2)?),
            at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[derive(Debug, Clone)]
pub struct Code {
    pub client: i64,
    pub user_id: i64,
    pub family: String,
    pub sid: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub fn insert_code(conn: &Connection, digest: &[u8], c: &Code, now: i64) -> Result<()> {
    conn.execute(
        "INSERT INTO oauth_codes (code_digest, client_id, user_id, family, sid, redirect_uri, scopes_json, nonce,
                                  code_challenge, auth_time, amr_json, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            digest,
            c.client,
            c.user_id,
            c.family,
            c.sid,
            c.redirect_uri,
            to_json(&c.scopes),
            c.nonce,
            c.code_challenge,
            c.auth_time,
            to_json(&c.amr),
            now,
            c.expires_at
        ],
    )?;
    Ok(())
}

/// The code by digest, whether used or not (a used one reveals a replay).
pub fn code(conn: &Connection, digest: &[u8]) -> Result<Option<Code>> {
    Ok(conn
        .query_row(
            "SELECT client_id, user_id, family, sid, redirect_uri, scopes_json, nonce, code_challenge, auth_time, amr_json,
                    expires_at, used_at
             FROM oauth_codes WHERE code_digest = ?1",
            [digest],
            |r| {
                Ok(Code {
                    client: r.get(0)?,
                    user_id: r.get(1)?,
                    family: r.get(2)?,
                    sid: r.get(3)?,
                    redirect_uri: r.get(4)?,
                    scopes: json_list(r.get(5)?),
                    nonce: r.get(6)?,
                    code_challenge: r.get(7)?,
                    auth_time: r.get(8)?,
                    amr: json_list(r.get(9)?),
                    expires_at: r.get(10)?,
                    used_at: r.get(11)?,
                })
            },
        )
        .optional()?)
}

/// Marks a code used; false when it already was (only one redemption wins).
pub fn use_code(conn: &Connection, digest: &[u8], now: i64) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE oauth_codes SET used_at = ?2 WHERE code_digest = ?1 AND used_at IS NULL",
        params![digest, now],
    )? == 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Refresh,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Access => "access",
            Kind::Refresh => "refresh",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Token {
    pub kind: Kind,
    pub client: i64,
    pub user_id: Option<i64>,
    pub family: String,
    pub sid: Option<String>,
    pub scopes: Vec<String>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub fn insert_token(conn: &Connection, digest: &[u8], t: &Token) -> Result<()> {
    conn.execute(
        "INSERT INTO oauth_tokens (token_digest, kind, client_id, user_id, family, sid, scopes_json, auth_time, amr_json,
                                   created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            digest,
            t.kind.as_str(),
            t.client,
            t.user_id,
            t.family,
            t.sid,
            to_json(&t.scopes),
            t.auth_time,
            to_json(&t.amr),
            t.created_at,
            t.expires_at
        ],
    )?;
    Ok(())
}

pub fn token(conn: &Connection, digest: &[u8]) -> Result<Option<Token>> {
    Ok(conn
        .prepare_cached(
            "SELECT kind, client_id, user_id, family, sid, scopes_json, auth_time, amr_json, created_at, expires_at,
                    rotated_at, revoked_at
             FROM oauth_tokens WHERE token_digest = ?1",
        )?
        .query_row([digest], |r| {
            let kind: String = r.get(0)?;
            Ok(Token {
                kind: if kind == "refresh" { Kind::Refresh } else { Kind::Access },
                client: r.get(1)?,
                user_id: r.get(2)?,
                family: r.get(3)?,
                sid: r.get(4)?,
                scopes: json_list(r.get(5)?),
                auth_time: r.get(6)?,
                amr: json_list(r.get(7)?),
                created_at: r.get(8)?,
                expires_at: r.get(9)?,
                rotated_at: r.get(10)?,
                revoked_at: r.get(11)?,
            })
        })
        .optional()?)
}

/// Marks a refresh token rotated; false when it already was (a replay).
pub fn rotate_token(conn: &Connection, digest: &[u8], now: i64) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE oauth_tokens SET rotated_at = ?2 WHERE token_digest = ?1 AND rotated_at IS NULL AND revoked_at IS NULL",
        params![digest, now],
    )? == 1)
}

pub fn revoke_family(conn: &Connection, family: &str, now: i64) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE oauth_tokens SET revoked_at = ?2 WHERE family = ?1 AND revoked_at IS NULL",
        params![family, now],
    )?)
}

pub fn revoke_token(conn: &Connection, digest: &[u8], now: i64) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE oauth_tokens SET revoked_at = ?2 WHERE token_digest = ?1 AND revoked_at IS NULL",
        params![digest, now],
    )?)
}

/// What a person's sign-out ends: the tokens bound to that session, but not the
/// `offline_access` refresh tokens apps hold (those end on explicit revocation, withdrawn
/// consent, lost access, a disabled account or an admin's action).
pub fn revoke_signed_out_tokens(conn: &Connection, sid: &str, now: i64) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE oauth_tokens SET revoked_at = ?2 WHERE sid = ?1 AND revoked_at IS NULL
         AND NOT (kind = 'refresh'
                  AND EXISTS (SELECT 1 FROM json_each(scopes_json) WHERE value = 'offline_access'))",
        params![sid, now],
    )?)
}

/// Every token issued under a portal session, offline ones too (an admin ends it).
pub fn revoke_session_tokens(conn: &Connection, sid: &str, now: i64) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE oauth_tokens SET revoked_at = ?2 WHERE sid = ?1 AND revoked_at IS NULL",
        params![sid, now],
    )?)
}

/// Every token of a user (access removed, or an admin's revocation).
pub fn revoke_user_tokens(conn: &Connection, user_id: i64, now: i64) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE oauth_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user_id, now],
    )?)
}

/// Every token of one user at one client (their consent was withdrawn).
pub fn revoke_user_client_tokens(
    conn: &Connection,
    user_id: i64,
    client: i64,
    now: i64,
) -> Result<usize> {
    Ok(conn.execute(
        "UPDATE oauth_tokens SET revoked_at = ?3 WHERE user_id = ?1 AND client_id = ?2 AND revoked_at IS NULL",
        params![user_id, client, now],
    )?)
}

/// Deletes up to `limit` expired codes and up to `limit` expired tokens.
pub fn sweep(conn: &Connection, now: i64, limit: i64) -> Result<usize> {
    let c = conn.execute(
        "DELETE FROM oauth_codes WHERE code_digest IN
             (SELECT code_digest FROM oauth_codes WHERE expires_at <= ?1 LIMIT ?2)",
        [now, limit],
    )?;
    let t = conn.execute(
        "DELETE FROM oauth_tokens WHERE token_digest IN
             (SELECT token_digest FROM oauth_tokens WHERE expires_at <= ?1 LIMIT ?2)",
        [now, limit],
    )?;
    Ok(c + t)
}

/// (uuid, username, email): how ID tokens and userinfo name a user.
pub fn claim_subject(
    conn: &Connection,
    user_id: i64,
) -> Result<Option<(String, String, Option<String>)>> {
    Ok(conn
        .prepare_cached("SELECT uuid, username, email FROM users WHERE id = ?1")?
        .query_row([user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

/// (kid, sealed PEM, retired_at) of every key still worth publishing, newest first.
pub fn signing_keys(
    conn: &Connection,
    published_after: i64,
) -> Result<Vec<(String, String, Option<i64>)>> {
    let mut stmt = conn.prepare(
        "SELECT kid, pem_sealed, retired_at FROM signing_keys
         WHERE retired_at IS NULL OR retired_at > ?1 ORDER BY retired_at IS NOT NULL, created_at DESC",
    )?;
    let rows = stmt.query_map([published_after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds a key as the one that signs from now on; the others are retired now.
pub fn add_signing_key(conn: &Connection, kid: &str, pem_sealed: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL AND kid != ?2",
        params![now, kid],
    )?;
    conn.execute(
        "INSERT INTO signing_keys (kid, pem_sealed, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (kid) DO UPDATE SET retired_at = NULL, created_at = excluded.created_at",
        params![kid, pem_sealed, now],
    )?;
    Ok(())
}

pub fn delete_old_keys(conn: &Connection, retired_before: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at <= ?1",
        [retired_before],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_request_is_taken_once_by_its_browser_and_swept_when_expired() {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        let p = PendingRequest {
            params: vec![("client_id".into(), "x".into())],
            auth_after: None,
        };
        let from = Holder {
            network: "192.0.2.7".into(),
            address: "192.0.2.7".into(),
        };
        for i in 0..3i64 {
            save_pending(&c, &i.to_be_bytes(), b"browser", &p, &from, 0, 600 + i).unwrap();
        }
        let first = 0i64.to_be_bytes();
        assert!(take_pending(&c, &first, b"other", 1).unwrap().is_none());
        assert_eq!(take_pending(&c, &first, b"browser", 1).unwrap(), Some(p));
        assert!(take_pending(&c, &first, b"browser", 1).unwrap().is_none());
        assert_eq!(sweep_pending(&c, 601, 100).unwrap(), 1);
    }
}
