-- 9: indexes for large communities (100,000 users, a million events).
-- Re-validation asks, per identity, whether it holds a live session.
CREATE INDEX sessions_identity ON sessions(identity_id, expires_at);
-- The user list: most recent sign-in first, paged by key; searched by email prefix.
CREATE INDEX users_recent ON users(coalesce(last_login_at, 0), id);
CREATE INDEX users_email ON users(email COLLATE NOCASE);
-- No query uses events_time (time filters and pruning walk the ids): ~20 MB a million events.
DROP INDEX events_time;
-- Long strings events repeat (user agents) are stored once (db/events.rs).
CREATE TABLE event_strings (
    id      INTEGER PRIMARY KEY,
    text    TEXT NOT NULL UNIQUE,
    last_at INTEGER NOT NULL
);
