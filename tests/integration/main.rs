//! The integration tests: every test starts the real server in-process on a loopback
//! port with its own data dir, and talks to it over real HTTP.

mod admin;
mod admin_pages;
mod browser;
mod events;
mod fakes;
mod forward_auth;
mod harness;
mod media;
mod mfa;
mod oidc;
mod oidc_rp;
mod plex;
mod portal;
mod proxies;
mod revalidate;
mod security;
mod setup;
mod totp_ref;
mod webhooks;
