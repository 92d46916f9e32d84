-- 10: authorization requests waiting for their sign-in are kept server-side (a request of
-- any size survives sign-in and the second factor; only a short id travels in `rd`).
CREATE TABLE oidc_pending (
    id_digest      BLOB PRIMARY KEY,
    browser_digest BLOB NOT NULL,
    params_json    TEXT NOT NULL,
    auth_after     INTEGER,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX oidc_pending_expiry ON oidc_pending(expires_at);

-- Per client: only members of these groups may use it (empty: everyone with access).
ALTER TABLE oauth_clients ADD COLUMN allowed_groups_json TEXT NOT NULL DEFAULT '[]';
