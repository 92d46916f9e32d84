-- authportal: the whole current schema. A fresh database runs this file; older ones
-- climb the ladder in src/db/migrate.rs. Times are unix seconds (UTC) unless named _ms.

-- Facts about this database itself (key check for DATA_KEY, install id...).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- A portal account. Usernames are unique without case (apps take Alice and alice for
-- one account): a later person whose provider name is taken gets a marked one (bob-plex).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    uuid          TEXT NOT NULL UNIQUE,
    username      TEXT NOT NULL,
    email         TEXT,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER,
    -- Set by an admin: no sign-in, no session, no token while set.
    disabled_at   INTEGER
);
CREATE UNIQUE INDEX users_username ON users(username COLLATE NOCASE);
-- The user list: most recent sign-in first, paged by key; searched by email prefix.
CREATE INDEX users_recent ON users(coalesce(last_login_at, 0), id);
CREATE INDEX users_email ON users(email COLLATE NOCASE);

-- Groups an admin (or ADMIN_BOOTSTRAP_USERS) assigned; "admins" makes an admin.
CREATE TABLE user_groups (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
-- LDAP `memberOf=`: who holds a group, named without case.
CREATE INDEX user_groups_name ON user_groups(name COLLATE NOCASE, user_id);

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
    -- When re-validation last heard from the media server that this account still has access.
    checked_at       INTEGER,
    -- The provider's avatar: Plex's thumb URL, or Jellyfin/Emby's primary image tag.
    -- Never given out: the portal serves it at an unguessable picture URL.
    avatar           TEXT,
    UNIQUE (provider, provider_user_id)
);
CREATE INDEX identities_user ON identities(user_id);

-- Server-side sessions; the cookie holds a signed id whose SHA-256 is the key here.
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
-- Re-validation asks, per identity, whether it holds a live session.
CREATE INDEX sessions_identity ON sessions(identity_id, expires_at);

-- A Plex PIN or Jellyfin Quick Connect sign-in in progress, bound to the browser that started it by the
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
    backoff_ms   INTEGER NOT NULL,
    -- Jellyfin Quick Connect: the sealed secret, until it is redeemed (NULL for Plex).
    secret_sealed TEXT,
    -- where it came from (src/fair_share.rs): IPv4 address or IPv6 /48, and IPv4 address or /64
    network      TEXT NOT NULL DEFAULT '',
    requester    TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX login_flows_expiry ON login_flows(expires_at);
CREATE INDEX login_flows_holder ON login_flows(network, requester, created_at);

-- A confirmed TOTP secret (sealed). last_step is the newest time step accepted: older
-- or equal steps are refused (replay).
CREATE TABLE mfa_totp (
    user_id       INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    verified_at   INTEGER NOT NULL,
    last_used_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0
);

-- A secret being set up; it replaces mfa_totp only once a code from it is verified.
CREATE TABLE mfa_enrollments (
    user_id       INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);

-- Recovery codes, as SHA-256 digests; a used code keeps its row with used_at set.
CREATE TABLE mfa_recovery_codes (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_digest BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (user_id, code_digest)
) WITHOUT ROWID;

-- A sign-in that passed the first factor and waits for the second (challenge) or for
-- enrolment (MFA enforced, not enrolled). Referenced by its own cookie kind, never a session.
CREATE TABLE mfa_pending (
    id_digest   BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('challenge', 'enroll')),
    rd          TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    -- how the first factor was made: the session's first amr value ("pwd", "qc")
    first_factor TEXT NOT NULL DEFAULT 'pwd' CHECK (first_factor IN ('pwd', 'qc'))
) WITHOUT ROWID;
CREATE INDEX mfa_pending_expiry ON mfa_pending(expires_at);

-- Runtime settings by section, versioned; every change keeps the previous value.
CREATE TABLE settings (
    section     TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    config_json TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT
) WITHOUT ROWID;
CREATE TABLE settings_history (
    id          INTEGER PRIMARY KEY,
    section     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    config_json TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT,
    reason      TEXT
);

-- The audit log: sign-ins, MFA, admin actions.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    type        TEXT NOT NULL,
    time        INTEGER NOT NULL,
    user_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    ip          TEXT,
    result      TEXT NOT NULL,
    detail_json TEXT NOT NULL DEFAULT '{}'
);
-- Each index serves a filter of the events API (newest first within it); the time
-- filters and the retention prune walk the ids, which grow with time.
CREATE INDEX events_user ON events(user_id, id);
CREATE INDEX events_ip ON events(ip, id);
CREATE INDEX events_type ON events(type, id);

-- Long strings events repeat (user agents), stored once; a detail refers to one as
-- "#user_agent": id. last_at is the newest event using it, for pruning with the events.
CREATE TABLE event_strings (
    id      INTEGER PRIMARY KEY,
    text    TEXT NOT NULL UNIQUE,
    last_at INTEGER NOT NULL
);

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
    updated_at                INTEGER NOT NULL,
    -- Only members of these groups may use the client (empty: everyone with access).
    allowed_groups_json       TEXT NOT NULL DEFAULT '[]',
    -- Token endpoint authentication methods it may use (client_secret_basic,
    -- client_secret_post, none) and whether its authorization requests need PKCE.
    auth_methods_json         TEXT NOT NULL DEFAULT '[]',
    pkce_required             INTEGER NOT NULL DEFAULT 0,
    -- The app preset it was created from (oidc::presets), for the setup values its page shows.
    preset                    TEXT
);

-- What a user allowed a client to see; asked again when a request wants more.
CREATE TABLE oauth_consents (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id   INTEGER NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    scopes_json TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) WITHOUT ROWID;

-- Authorization requests waiting for their sign-in, keyed by the digest of the id in
-- `rd` and bound to the browser (the digest of its pending-request cookie); single use,
-- about ten minutes. `auth_after`: the sign-in must be at or after this time.
CREATE TABLE oidc_pending (
    id_digest      BLOB PRIMARY KEY,
    browser_digest BLOB NOT NULL,
    params_json    TEXT NOT NULL,
    auth_after     INTEGER,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    -- where it came from (src/fair_share.rs): IPv4 address or IPv6 /48, and IPv4 address or /64
    network        TEXT NOT NULL DEFAULT '',
    requester      TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX oidc_pending_expiry ON oidc_pending(expires_at);
CREATE INDEX oidc_pending_holder ON oidc_pending(network, requester, created_at);

-- The device authorization grant (RFC 8628): a device's request waiting for a person to
-- approve it at /device. Both codes are SHA-256 digests; `status` is pending, approved,
-- denied or redeemed; `interval_secs` grows by 5 each time the device polls too fast.
CREATE TABLE device_codes (
    device_digest BLOB PRIMARY KEY,
    user_digest   BLOB NOT NULL UNIQUE,
    client_id     INTEGER NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    -- the asking device's address (ratelimit::address_key): live requests per address are bounded
    requester     TEXT NOT NULL,
    scopes_json   TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending',
    interval_secs INTEGER NOT NULL,
    last_poll_at  INTEGER,
    user_id       INTEGER REFERENCES users(id) ON DELETE CASCADE,
    auth_time     INTEGER,
    amr_json      TEXT NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    -- the asking device's network (src/fair_share.rs): IPv4 address or IPv6 /48
    network       TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX device_codes_expiry ON device_codes(expires_at);
CREATE INDEX device_codes_requester ON device_codes(requester, expires_at);
CREATE INDEX device_codes_holder ON device_codes(network, requester, created_at);

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

-- Where each user last completed a sign-in, for forward-auth rules that let native apps
-- in from an address an allowed user signed in from recently (trusted_ip_hours).
CREATE TABLE signin_ips (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ip      TEXT NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, ip)
) WITHOUT ROWID;
CREATE INDEX signin_ips_ip ON signin_ips(ip, last_at);

-- Images an owner uploaded for the pages (the logo), served by the portal itself.
CREATE TABLE branding_files (
    name         TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    data         BLOB NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- A webhook rule. Header values and the signing secret are sealed under DATA_KEY.
CREATE TABLE webhooks (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    enabled       INTEGER NOT NULL,
    events_json   TEXT NOT NULL,
    users_json    TEXT NOT NULL DEFAULT '[]',
    groups_json   TEXT NOT NULL DEFAULT '[]',
    method        TEXT NOT NULL CHECK (method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE')),
    url           TEXT NOT NULL,
    headers_json  TEXT NOT NULL DEFAULT '{}',
    body_format   TEXT NOT NULL CHECK (body_format IN ('json', 'form')),
    body_template TEXT NOT NULL DEFAULT '',
    timeout_secs  INTEGER NOT NULL,
    max_attempts  INTEGER NOT NULL,
    secret_sealed TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One event (or a test) to deliver to one webhook: the queue and its outcome.
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id    INTEGER REFERENCES events(id) ON DELETE SET NULL,
    test        INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at_ms  INTEGER NOT NULL,
    last_status INTEGER,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_at_ms);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);

-- Every attempt of a delivery: status code or transport error, and how long it took.
CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
) WITHOUT ROWID;

-- Service accounts (cn=NAME,ou=services,<base>) that applications bind as to search.
CREATE TABLE ldap_services (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_digest BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE UNIQUE INDEX ldap_services_name ON ldap_services(name COLLATE NOCASE);

-- App passwords a person made on /home to bind as uid=<username>,ou=people,<base>.
CREATE TABLE app_passwords (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    secret_digest BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX app_passwords_user ON app_passwords(user_id);

PRAGMA user_version = 17;
