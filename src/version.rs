//! What this build is: the crate version, and the git commit and build date the release
//! script (.ci/build-static) passes in; a plain `cargo build` says "unknown".

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub const COMMIT: &str = match option_env!("AUTHPORTAL_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// UTC date of the commit (not the wall clock), so a rebuild gives the same bytes.
pub const BUILD_DATE: &str = match option_env!("AUTHPORTAL_BUILD_DATE") {
    Some(d) => d,
    None => "unknown",
};

/// `authportal 0.1.0 (commit 1a2b3c4, built 2026-11-23)`
pub fn describe() -> String {
    format!("authportal {VERSION} (commit {COMMIT}, built {BUILD_DATE})")
}
