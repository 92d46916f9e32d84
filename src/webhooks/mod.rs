//! Webhooks: rule specs and their validation (spec.rs), templates over an event
//! (template.rs), the console's presets (presets.rs) and preview (preview.rs), and the
//! background thread that delivers the persistent queue (delivery.rs).

mod delivery;
mod presets;
mod preview;
mod spec;
mod template;

pub use delivery::{backoff_secs, run_due, spawn};
pub use presets::{PRESETS, Preset, PresetHeader};
pub use preview::{Draft, preview};
pub use spec::{EXAMPLE, METHODS, Spec, describe, prepare, url_without_path};
pub use template::{PLACEHOLDERS, Placeholder, Values};
