-- 11: a Jellyfin Quick Connect sign-in waits in login_flows like a Plex PIN; its secret
-- (which the server would redeem for the account's token) is kept here, sealed, until it
-- is redeemed once.
ALTER TABLE login_flows ADD COLUMN secret_sealed TEXT;
