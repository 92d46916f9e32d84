-- 7: audit-log filters, webhooks (rules, a persistent delivery queue, every attempt),
-- and when each provider identity was last re-checked with its media server.

-- Keyset paging (id DESC) by user, address and type.
CREATE INDEX events_user ON events(user_id, id);
CREATE INDEX events_ip ON events(ip, id);
CREATE INDEX events_type ON events(type, id);

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

-- Server access that stays true: the last time the media server confirmed this account.
ALTER TABLE identities ADD COLUMN checked_at INTEGER;
