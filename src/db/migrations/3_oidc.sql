-- Version 2 -> 3: the OpenID Connect provider. Sessions get a public id (the `sid` claim);
-- sessions from before have none to give, so they end here (people sign in again).
DROP TABLE sessions;
CREATE TABLE sessions (
    id_digest   BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    amr_json    TEXT NOT NULL,
    sid         TEXT NOT NULL UNIQUE,
    auth_time   INTEGER NOT NULL,
    mfa_at      INTEGER,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ip          TEXT,
    user_agent  TEXT
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- OAuth / OpenID Connect clients. Secrets are stored only as SHA-256 digests.
CREATE TABLE oauth_clients (
    id                        INTEGER PRIMARY KEY,
    client_id                 TEXT NOT NULL UNIQUE,
    secret_digest             BLOB,
    name                      TEXT NOT NULL,
    redirect_uris_json        TEXT NOT NULL,
    post_logout_uris_json     TEXT NOT NULL DEFAULT '[]',
    public                    INTEGER NOT NULL,
    trusted                   INTEGER NOT NULL DEFAULT 0,
    scopes_json               TEXT NOT NULL,
    grant_types_json          TEXT NOT NULL,
    created_at                INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
);

-- What a user allowed a client to see; asked again when a request wants more.
CREATE TABLE oauth_consents (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id   INTEGER NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    scopes_json TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) WITHOUT ROWID;

-- Authorization codes (single use). `family` names the grant: every token issued from
-- this code shares it, so a replayed code or refresh token can revoke them all.
CREATE TABLE oauth_codes (
    code_digest    BLOB PRIMARY KEY,
    client_id      INTEGER NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family         TEXT NOT NULL,
    sid            TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scopes_json    TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    auth_time      INTEGER NOT NULL,
    amr_json       TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
) WITHOUT ROWID;
CREATE INDEX oauth_codes_expiry ON oauth_codes(expires_at);

-- Access and refresh tokens, by digest. A rotated refresh token keeps its row with
-- rotated_at set: presenting it again revokes its family.
CREATE TABLE oauth_tokens (
    token_digest BLOB PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    client_id    INTEGER NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    user_id      INTEGER REFERENCES users(id) ON DELETE CASCADE,
    family       TEXT NOT NULL,
    sid          TEXT,
    scopes_json  TEXT NOT NULL,
    auth_time    INTEGER,
    amr_json     TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    rotated_at   INTEGER,
    revoked_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX oauth_tokens_family ON oauth_tokens(family);
CREATE INDEX oauth_tokens_user ON oauth_tokens(user_id);
CREATE INDEX oauth_tokens_sid ON oauth_tokens(sid);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens(expires_at);

-- ID-token signing keys (private keys sealed under DATA_KEY). The newest unretired key
-- signs; retired keys stay in the JWKS until every ID token they signed has expired.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    pem_sealed TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
) WITHOUT ROWID;
