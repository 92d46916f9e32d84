//! Webhooks: rule specs and their validation (spec.rs), templates over an event
//! (template.rs), and the background thread that delivers the persistent queue
//! (delivery.rs).

mod delivery;
mod spec;
mod template;

pub use delivery::{backoff_secs, run_due, spawn};
pub use spec::{EXAMPLE, METHODS, Spec, describe, prepare, url_without_path};
pub use template::{PLACEHOLDERS, Values};
