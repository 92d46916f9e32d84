-- 16: where each entry of a store anyone may fill came from (its network: an IPv4 address
-- or an IPv6 /48; and its address: an IPv4 address or an IPv6 /64), so a full store makes
-- room from the network holding the most entries (src/fair_share.rs). Older rows hold ''.
ALTER TABLE login_flows ADD COLUMN network TEXT NOT NULL DEFAULT '';
ALTER TABLE login_flows ADD COLUMN requester TEXT NOT NULL DEFAULT '';
CREATE INDEX login_flows_holder ON login_flows(network, requester, created_at);
ALTER TABLE device_codes ADD COLUMN network TEXT NOT NULL DEFAULT '';
CREATE INDEX device_codes_holder ON device_codes(network, requester, created_at);
ALTER TABLE oidc_pending ADD COLUMN network TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_pending ADD COLUMN requester TEXT NOT NULL DEFAULT '';
CREATE INDEX oidc_pending_holder ON oidc_pending(network, requester, created_at);
