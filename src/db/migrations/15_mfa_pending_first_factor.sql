-- 15: a sign-in waiting for its second factor remembers how the first was made ("pwd",
-- or "qc" for Jellyfin Quick Connect), so the session it becomes has an honest amr.
ALTER TABLE mfa_pending ADD COLUMN first_factor TEXT NOT NULL DEFAULT 'pwd'
    CHECK (first_factor IN ('pwd', 'qc'));
