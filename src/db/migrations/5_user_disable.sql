-- Version 4 -> 5: admins can disable a portal user.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
