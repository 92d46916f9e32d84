//! Pages as pure functions from data to markup (maud, compiled in).

pub mod admin;
pub mod layout;
pub mod login;
pub mod mfa;
pub mod oidc;
pub mod portal;
pub mod setup;
