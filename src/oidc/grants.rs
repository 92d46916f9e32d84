//! Issuing what the provider hands out: authorization codes, access and refresh tokens
//! (opaque, stored as digests), ID tokens (RS256), and the claims each scope releases.

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::{ACCESS_TTL, CODE_TTL, ID_TOKEN_TTL, REFRESH_TTL};
use crate::app::App;
use crate::crypto::{b64url, random_bytes, sha256};
use crate::db::oauth::{self, Client, Code, Kind, Token};
use crate::error::{AppError, Result};

/// A random opaque token (256 bits) and the digest stored for it.
pub fn new_token() -> (String, Vec<u8>) {
    let t = b64url(&random_bytes::<32>());
    let d = sha256(t.as_bytes()).to_vec();
    (t, d)
}

pub fn digest_of(token: &str) -> Vec<u8> {
    sha256(token.as_bytes()).to_vec()
}

pub struct CodeGrant<'a> {
    pub client: &'a Client,
    pub user_id: i64,
    pub sid: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub nonce: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub auth_time: i64,
    pub amr: &'a [String],
}

pub fn issue_code(conn: &Connection, g: &CodeGrant, now: i64) -> Result<String> {
    let (code, digest) = new_token();
    oauth::insert_code(
        conn,
        &digest,
        &Code {
            client: g.client.id,
            user_id: g.user_id,
            family: b64url(&random_bytes::<16>()),
            sid: g.sid.to_string(),
            redirect_uri: g.redirect_uri.to_string(),
            scopes: g.scopes.to_vec(),
            nonce: g.nonce.map(str::to_string),
            code_challenge: g.code_challenge.map(str::to_string),
            auth_time: g.auth_time,
            amr: g.amr.to_vec(),
            expires_at: now + CODE_TTL,
            used_at: None,
        },
        now,
    )?;
    Ok(code)
}

/// What a grant covers: who, which client, which scopes, from which sign-in.
pub struct Grant<'a> {
    pub client: &'a Client,
    pub user_id: Option<i64>,
    pub family: &'a str,
    pub sid: Option<&'a str>,
    /// What the access and ID tokens carry.
    pub scopes: &'a [String],
    /// What a new refresh token carries: always the scopes of the original grant.
    pub refresh_scopes: &'a [String],
    pub auth_time: Option<i64>,
    pub amr: &'a [String],
    pub nonce: Option<&'a str>,
}

/// Tokens stored by a grant's transaction. The ID token is signed only after that
/// transaction commits ([`Issued::sign`]): an RSA signature takes ~2 ms, and holding the
/// database's write lock that long made token requests queue behind each other
/// (measured: 2 parallel clients got no more than 1).
pub struct Issued {
    pub response: Value,
    /// Whose tokens these are (None for a client_credentials grant).
    pub user_id: Option<i64>,
    id_claims: Option<Map<String, Value>>,
}

impl Issued {
    /// The token response, with the ID token when openid was granted.
    pub fn sign(mut self, app: &App, now: i64) -> Result<Value> {
        if let Some(claims) = self.id_claims.take() {
            let key = app.keys.active(&app.db, &app.sealer, now)?;
            self.response["id_token"] = json!(key.sign(&Value::Object(claims)));
        }
        Ok(self.response)
    }
}

/// Issues an access token, a refresh token when offline_access was granted (and the
/// client may refresh), and the claims of an ID token when openid was.
pub fn issue_tokens(app: &App, conn: &Connection, g: &Grant, now: i64) -> Result<Issued> {
    let (access, access_digest) = new_token();
    let row = |kind, ttl, scopes: &[String]| Token {
        kind,
        client: g.client.id,
        user_id: g.user_id,
        family: g.family.to_string(),
        sid: g.sid.map(str::to_string),
        scopes: scopes.to_vec(),
        auth_time: g.auth_time,
        amr: g.amr.to_vec(),
        created_at: now,
        expires_at: now + ttl,
        rotated_at: None,
        revoked_at: None,
    };
    oauth::insert_token(
        conn,
        &access_digest,
        &row(Kind::Access, ACCESS_TTL, g.scopes),
    )?;
    let mut response = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL,
        "scope": g.scopes.join(" "),
    });
    let has = |s: &str| g.scopes.iter().any(|x| x == s);
    let offline = g.refresh_scopes.iter().any(|x| x == "offline_access");
    if g.user_id.is_some() && offline && g.client.grant_types.iter().any(|t| t == "refresh_token") {
        let (refresh, refresh_digest) = new_token();
        oauth::insert_token(
            conn,
            &refresh_digest,
            &row(Kind::Refresh, REFRESH_TTL, g.refresh_scopes),
        )?;
        response["refresh_token"] = json!(refresh);
    }
    let id_claims = match (g.user_id, has("openid")) {
        (Some(user_id), true) => Some(id_claims(app, conn, g, user_id, &access, now)?),
        _ => None,
    };
    Ok(Issued {
        response,
        user_id: g.user_id,
        id_claims,
    })
}

fn id_claims(
    app: &App,
    conn: &Connection,
    g: &Grant,
    user_id: i64,
    access_token: &str,
    now: i64,
) -> Result<Map<String, Value>> {
    let mut claims = user_claims(app, conn, user_id, g.scopes)?;
    claims.insert("iss".into(), json!(app.config.issuer()));
    claims.insert("aud".into(), json!(g.client.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + ID_TOKEN_TTL));
    if let Some(t) = g.auth_time {
        claims.insert("auth_time".into(), json!(t));
    }
    if let Some(n) = g.nonce {
        claims.insert("nonce".into(), json!(n));
    }
    if !g.amr.is_empty() {
        claims.insert("amr".into(), json!(g.amr));
    }
    if let Some(sid) = g.sid {
        claims.insert("sid".into(), json!(sid));
    }
    // at_hash: the left half of SHA-256 of the access token (Core 3.1.3.6).
    claims.insert(
        "at_hash".into(),
        json!(b64url(&sha256(access_token.as_bytes())[..16])),
    );
    Ok(claims)
}

/// `sub` and the claims each granted scope releases (what Grafana, Komga and others read
/// from the ID token). `sub` is the portal user's UUID: stable, and never given to anyone
/// else.
pub fn user_claims(
    app: &App,
    conn: &Connection,
    user_id: i64,
    scopes: &[String],
) -> Result<Map<String, Value>> {
    let (uuid, username, email) = oauth::claim_subject(conn, user_id)?
        .ok_or_else(|| AppError::internal(format!("user {user_id} vanished")))?;
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut c = Map::new();
    c.insert("sub".into(), json!(uuid));
    if has("profile") {
        c.insert("preferred_username".into(), json!(username));
        c.insert("name".into(), json!(username));
        if crate::db::users::avatar(conn, user_id)?.is_some() {
            c.insert("picture".into(), json!(super::picture::url(app, &uuid)));
        }
    }
    if has("email") {
        if let Some(e) = email {
            c.insert("email".into(), json!(e));
            // Always beside email (Komga refuses a login without it). Only Plex supplies
            // addresses, and providers/plex.rs keeps only those plex.tv confirmed.
            c.insert("email_verified".into(), json!(true));
        }
    }
    if has("groups") {
        c.insert(
            "groups".into(),
            json!(crate::db::users::groups(conn, user_id)?),
        );
    }
    Ok(c)
}
