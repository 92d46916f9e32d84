-- 12: per client, how it authenticates at the token endpoint and whether PKCE is
-- required; per identity, the provider's avatar (served through the portal's picture URL).
ALTER TABLE oauth_clients ADD COLUMN auth_methods_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN pkce_required INTEGER NOT NULL DEFAULT 0;
-- The app preset it was created from (oidc::presets), for the setup values its page shows.
ALTER TABLE oauth_clients ADD COLUMN preset TEXT;
-- What clients could do before: confidential ones either secret method, public ones none
-- and always PKCE.
UPDATE oauth_clients SET auth_methods_json = '["client_secret_basic","client_secret_post"]' WHERE public = 0;
UPDATE oauth_clients SET auth_methods_json = '["none"]', pkce_required = 1 WHERE public = 1;
ALTER TABLE identities ADD COLUMN avatar TEXT;
