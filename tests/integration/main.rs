//! The integration tests: every test starts the real server in-process on a loopback
//! port with its own data dir, and talks to it over real HTTP.

mod admin;
mod admin_pages;
mod backup;
mod branding;
mod browser;
mod crash;
mod docs;
mod events;
mod fakes;
mod forward_auth;
mod fuzz_routes;
mod harness;
mod install;
mod ldap;
mod logging;
mod media;
mod metrics;
mod mfa;
mod oidc;
mod oidc_rp;
mod outbound;
mod plex;
mod portal;
mod proxies;
mod revalidate;
mod routes;
mod security;
mod server_limits;
mod setup;
mod team;
mod totp_ref;
mod webhooks;
