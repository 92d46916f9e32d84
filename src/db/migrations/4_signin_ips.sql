-- Version 3 -> 4: sign-in addresses for forward-auth's trusted_ip_hours.
-- Where each user last completed a sign-in, for forward-auth rules that let native apps
-- in from an address an allowed user signed in from recently (trusted_ip_hours).
CREATE TABLE signin_ips (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    ip      TEXT NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, ip)
) WITHOUT ROWID;
CREATE INDEX signin_ips_ip ON signin_ips(ip, last_at);
