-- 9: indexes for large communities (100,000 users, a million events).
-- Re-validation asks, per identity, whether it holds a live session.
CREATE INDEX sessions_identity ON sessions(identity_id, expires_at);
