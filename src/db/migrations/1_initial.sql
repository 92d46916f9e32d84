-- The version 1 schema as released; kept so tests can prove the ladder climbs from it.
-- authportal: the whole current schema. A fresh database runs this file; older ones
-- climb the ladder in src/db/migrate.rs. Times are unix seconds (UTC) unless named _ms.

-- Facts about this database itself (key check for DATA_KEY, install id...).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- A portal account. Usernames are not unique: two providers may each have a "bob".
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    uuid          TEXT NOT NULL UNIQUE,
    username      TEXT NOT NULL,
    email         TEXT,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER
);

-- Groups an admin (or ADMIN_BOOTSTRAP_USERS) assigned; "admins" makes an admin.
CREATE TABLE user_groups (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;

-- One provider account linked to a user; groups are refreshed at every sign-in.
CREATE TABLE identities (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider         TEXT NOT NULL CHECK (provider IN ('plex', 'jellyfin', 'emby')),
    provider_user_id TEXT NOT NULL,
    username         TEXT NOT NULL,
    email            TEXT,
    groups_json      TEXT NOT NULL DEFAULT '[]',
    authorized       INTEGER NOT NULL,
    token_sealed     TEXT,
    created_at       INTEGER NOT NULL,
    last_login_at    INTEGER NOT NULL,
    UNIQUE (provider, provider_user_id)
);
CREATE INDEX identities_user ON identities(user_id);

-- Server-side sessions; the cookie holds a signed id whose SHA-256 is the key here.
CREATE TABLE sessions (
    id_digest   BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    amr_json    TEXT NOT NULL,
    auth_time   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ip          TEXT,
    user_agent  TEXT
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- A Plex PIN sign-in in progress, bound to the browser that started it by the
-- digest of its flow cookie. The PIN code itself is never stored.
CREATE TABLE login_flows (
    id_digest    BLOB PRIMARY KEY,
    provider     TEXT NOT NULL,
    pin_id       INTEGER NOT NULL,
    rd           TEXT,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'done', 'denied')),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    next_poll_ms INTEGER NOT NULL,
    backoff_ms   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_flows_expiry ON login_flows(expires_at);

PRAGMA user_version = 1;
