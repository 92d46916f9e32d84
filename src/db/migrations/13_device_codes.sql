-- 13: the device authorization grant (RFC 8628). A device's request waits here for a
-- person to approve it at /device; both codes are kept only as SHA-256 digests.
CREATE TABLE device_codes (
    device_digest BLOB PRIMARY KEY,
    user_digest   BLOB NOT NULL UNIQUE,
    client_id     INTEGER NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    -- the asking device's address (ratelimit::address_key): live requests per address are bounded
    requester     TEXT NOT NULL,
    scopes_json   TEXT NOT NULL,
    -- pending, approved, denied or redeemed
    status        TEXT NOT NULL DEFAULT 'pending',
    interval_secs INTEGER NOT NULL,
    last_poll_at  INTEGER,
    user_id       INTEGER REFERENCES users(id) ON DELETE CASCADE,
    auth_time     INTEGER,
    amr_json      TEXT NOT NULL DEFAULT '[]',
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX device_codes_expiry ON device_codes(expires_at);
CREATE INDEX device_codes_requester ON device_codes(requester, expires_at);
