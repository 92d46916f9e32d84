//! Fake upstream servers (plex.tv + app.plex.tv, Jellyfin/Emby) for the integration tests.
#![allow(dead_code)]

pub mod http;
pub mod jellyfin;
pub mod plex;
pub mod receiver;

// Re-exported so tests can write `fakes::Fault`; unused when a test binary does not.
#[allow(unused_imports)]
pub use http::{Fault, Recorded};
