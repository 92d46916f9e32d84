-- Version 1 -> 2: multi-factor sign-in, runtime settings, the audit log.
ALTER TABLE sessions ADD COLUMN mfa_at INTEGER;

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
    expires_at  INTEGER NOT NULL
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
CREATE INDEX events_time ON events(time);
