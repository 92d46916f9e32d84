//! The runtime settings sections (stored by db::settings): the `Section` trait each one
//! implements (name, default, checks, how secrets are sealed and shown), the list of
//! sections, and what the config API does by a section's name. Each section's document
//! and rules live in one file of settings/ (or next to the code it configures).

mod access;
mod backups;
mod branding;
mod events;
mod form;
mod mfa;
mod providers;
mod revalidation;
mod roles;
mod security;

use std::marker::PhantomData;

use rusqlite::Connection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Config;
use crate::crypto::seal::Sealer;
use crate::db;
use crate::error::Result;
use crate::providers::ProviderKind;
pub use crate::roles::RolesSettings;

pub use access::access;
pub use branding::{Branding, DEFAULT_APP_NAME, ServiceLink, branding, is_icon_name};
pub use events::{EventsSettings, events};
pub use form::{Field, FieldKind};
pub use mfa::{MfaSettings, mfa};
pub use providers::providers;
pub use revalidation::{Revalidation, revalidation};
pub use security::{Rate, RateLimits, Security, security};

/// A settings section: the document an owner edits at `/api/admin/config/{NAME}`. Its
/// `Default` applies until the section is saved. A new section is one file implementing
/// this, plus its line in `sections!` below.
pub trait Section: Serialize + DeserializeOwned + Default {
    /// The name in the API, the config export and the history. Never rename one.
    const NAME: &'static str;

    /// Rules beyond the type (ranges, references); the error is for the person.
    fn check(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    /// A console edit -> the document to store: secrets sealed, kept (`current`) or
    /// cleared. Checked afterwards.
    fn seal(
        incoming: &Value,
        _current: &Value,
        _sealer: &Sealer,
    ) -> std::result::Result<Value, String> {
        Ok(incoming.clone())
    }

    /// A stored document as the console may see it (secrets as set / not set).
    fn present(stored: &Value) -> Value {
        stored.clone()
    }

    /// The fields the environment sets (the console shows them locked).
    fn locked(_cfg: &Config) -> Vec<&'static str> {
        Vec::new()
    }

    /// What the console should point out about the stored document (it still applies).
    fn warnings(&self, _enabled: &[ProviderKind]) -> Vec<String> {
        Vec::new()
    }

    /// Rules for an owner's edit, given the document saved before (`stored`, the default
    /// when unreadable) and the media servers in use; not applied to imports.
    fn check_edit(
        &self,
        _stored: &Self,
        _enabled: &[ProviderKind],
    ) -> std::result::Result<(), String> {
        Ok(())
    }

    /// The fields of the console's generic form, in the order shown; their kinds and
    /// ranges are also checked on every save (see [`form::check`]). Empty for a section
    /// with a page of its own or none.
    const FORM: &'static [Field] = &[];
}

/// A section's saved value, or the default when it was never saved. A saved value that
/// no longer fits the type (a downgrade) falls back to the default and says so.
pub fn load<S: Section>(conn: &Connection) -> Result<S> {
    let Some(saved) = db::settings::get(conn, S::NAME)? else {
        return Ok(S::default());
    };
    Ok(serde_json::from_value(saved.config).unwrap_or_else(|e| {
        crate::log_error!(
            "settings section {:?} is unreadable ({e}); using defaults",
            S::NAME
        );
        S::default()
    }))
}

/// A section chosen by name at run time (the config API): `Section` without its type.
trait Named: Sync {
    fn name(&self) -> &'static str;
    fn default_value(&self) -> Value;
    fn validate(&self, value: &Value) -> std::result::Result<(), String>;
    fn seal(
        &self,
        incoming: &Value,
        current: &Value,
        sealer: &Sealer,
    ) -> std::result::Result<Value, String>;
    fn present(&self, stored: &Value) -> Value;
    fn locked(&self, cfg: &Config) -> Vec<&'static str>;
    fn form(&self) -> &'static [Field];
    fn filled(&self, stored: &Value) -> Value;
    fn warnings(&self, stored: &Value, enabled: &[ProviderKind]) -> Vec<String>;
    fn check_edit(
        &self,
        new: &Value,
        current: &Value,
        enabled: &[ProviderKind],
    ) -> std::result::Result<(), String>;
}

struct Of<S>(PhantomData<fn() -> S>);

impl<S: Section> Named for Of<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn default_value(&self) -> Value {
        serde_json::to_value(S::default()).unwrap_or(Value::Null)
    }

    fn validate(&self, value: &Value) -> std::result::Result<(), String> {
        form::check(S::NAME, S::FORM, value)?;
        serde_json::from_value::<S>(value.clone())
            .map_err(|e| format!("{}: {e}", S::NAME))?
            .check()
    }

    fn seal(
        &self,
        incoming: &Value,
        current: &Value,
        sealer: &Sealer,
    ) -> std::result::Result<Value, String> {
        // Before sealing, which may read the document into its type: the form's
        // check names the field that is wrong.
        form::check(S::NAME, S::FORM, incoming)?;
        S::seal(incoming, current, sealer)
    }

    fn present(&self, stored: &Value) -> Value {
        S::present(stored)
    }

    fn locked(&self, cfg: &Config) -> Vec<&'static str> {
        S::locked(cfg)
    }

    fn form(&self) -> &'static [Field] {
        S::FORM
    }

    fn filled(&self, stored: &Value) -> Value {
        serde_json::from_value::<S>(stored.clone())
            .ok()
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or_else(|| stored.clone())
    }

    fn warnings(&self, stored: &Value, enabled: &[ProviderKind]) -> Vec<String> {
        serde_json::from_value::<S>(stored.clone())
            .map(|s| s.warnings(enabled))
            .unwrap_or_default()
    }

    fn check_edit(
        &self,
        new: &Value,
        current: &Value,
        enabled: &[ProviderKind],
    ) -> std::result::Result<(), String> {
        let new: S =
            serde_json::from_value(new.clone()).map_err(|e| format!("{}: {e}", S::NAME))?;
        let stored: S = serde_json::from_value(current.clone()).unwrap_or_default();
        new.check_edit(&stored, enabled)
    }
}

/// Declares the sections once: their names (`SECTIONS`) and their implementations.
macro_rules! sections {
    ($($section:ty),+ $(,)?) => {
        /// The sections an owner can read and write.
        pub const SECTIONS: &[&str] = &[$(<$section as Section>::NAME),+];

        const ALL: &[&dyn Named] = &[$(&Of::<$section>(PhantomData)),+];
    };
}

sections!(
    crate::access::AccessSpec,
    crate::backup::schedule::BackupSettings,
    Branding,
    EventsSettings,
    crate::ldap::settings::LdapSettings,
    MfaSettings,
    crate::provider_settings::ProvidersSettings,
    Revalidation,
    RolesSettings,
    Security,
);

fn named(name: &str) -> Option<&'static dyn Named> {
    ALL.iter().copied().find(|s| s.name() == name)
}

/// The default value of a section (what applies until it is saved); None for a name
/// that is not a section.
pub fn default_of(name: &str) -> Option<Value> {
    named(name).map(|s| s.default_value())
}

/// Checks a new value for a section; the error is for the person who wrote it.
pub fn validate(name: &str, value: &Value) -> std::result::Result<(), String> {
    named(name)
        .ok_or_else(|| format!("unknown settings section {name:?}"))?
        .validate(value)
}

/// A console edit -> the document to store (secrets sealed, kept or cleared), checked.
pub fn prepare(
    name: &str,
    incoming: &Value,
    current: &Value,
    sealer: &Sealer,
) -> std::result::Result<Value, String> {
    let section = named(name).ok_or_else(|| format!("unknown settings section {name:?}"))?;
    let stored = section.seal(incoming, current, sealer)?;
    section.validate(&stored)?;
    Ok(stored)
}

/// The fields of a section the environment sets (the console shows them locked).
pub fn locked(name: &str, cfg: &Config) -> Vec<&'static str> {
    named(name).map(|s| s.locked(cfg)).unwrap_or_default()
}

/// The fields of a section's generic console form (empty when it has none).
pub fn form_fields(name: &str) -> &'static [Field] {
    named(name).map(|s| s.form()).unwrap_or_default()
}

/// A stored section with every field, defaults where it is silent (what the form shows).
pub fn filled(name: &str, stored: &Value) -> Value {
    named(name)
        .map(|s| s.filled(stored))
        .unwrap_or_else(|| stored.clone())
}

/// What the console should point out about a stored section (it still applies).
pub fn warnings(name: &str, stored: &Value, enabled: &[ProviderKind]) -> Vec<String> {
    named(name)
        .map(|s| s.warnings(stored, enabled))
        .unwrap_or_default()
}

/// Checks an owner's edit of a section against the document saved before (`current`,
/// Null when never saved) and the media servers in use.
pub fn check_edit(
    name: &str,
    new: &Value,
    current: &Value,
    enabled: &[ProviderKind],
) -> std::result::Result<(), String> {
    named(name)
        .ok_or_else(|| format!("unknown settings section {name:?}"))?
        .check_edit(new, current, enabled)
}

/// A stored document as the console may see it (secrets as set / not set).
pub fn present(name: &str, stored: &Value) -> Value {
    named(name)
        .map(|s| s.present(stored))
        .unwrap_or_else(|| stored.clone())
}

pub fn roles(conn: &Connection) -> Result<RolesSettings> {
    load(conn)
}

/// A section's history as the console shows it: secrets as set / not set, and what each
/// version changed from the one before.
pub fn history_for_console(conn: &Connection, name: &str) -> Result<Vec<db::settings::Version>> {
    let mut versions = db::settings::history(conn, name)?;
    for v in &mut versions {
        v.config = present(name, &v.config);
    }
    // Newest first: each version is compared with the next (older) one.
    for i in 0..versions.len() {
        let older = versions
            .get(i + 1)
            .map(|o| o.config.clone())
            .unwrap_or_else(|| default_of(name).unwrap_or(serde_json::Value::Null));
        let mut out = Vec::new();
        diff(&older, &versions[i].config, String::new(), &mut out);
        versions[i].changes = out;
    }
    Ok(versions)
}

/// The leaf differences between two JSON values, one entry per change, readable in the
/// history: "path: old -> new", "path: added NEW", "path: removed OLD". Keys come in the
/// order written; a list that grew or shrank shows what was added or removed rather than
/// the whole list; a long value is pretty-printed on lines of its own.
pub fn diff(old: &serde_json::Value, new: &serde_json::Value, path: String, out: &mut Vec<String>) {
    use serde_json::Value;
    const MAX_LINES: usize = 50;
    if out.len() >= MAX_LINES || old == new {
        return;
    }
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    let here = if path.is_empty() { "(whole)" } else { &path };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let gone = a.keys().filter(|k| !b.contains_key(*k));
            for k in b.keys().chain(gone) {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(x, y, at(k), out),
                    (None, Some(y)) => out.push(format!("{}: added {}", at(k), shown(y))),
                    (Some(x), None) => out.push(format!("{}: removed {}", at(k), shown(x))),
                    (None, None) => {}
                }
            }
        }
        // A short list that grew or shrank reads best whole: ["a"] -> ["a","b"].
        (Value::Array(a), Value::Array(b))
            if a.len() != b.len() && old.to_string().len() + new.to_string().len() <= ONE_LINE =>
        {
            out.push(format!("{here}: {old} -> {new}"));
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, format!("{path}[{i}]"), out);
            }
            for (i, y) in b.iter().enumerate().skip(a.len()) {
                out.push(format!("{path}[{i}]: added {}", shown(y)));
            }
            for (i, x) in a.iter().enumerate().skip(b.len()) {
                out.push(format!("{path}[{i}]: removed {}", shown(x)));
            }
        }
        _ => out.push(format!("{here}: {} -> {}", shown(old), shown(new))),
    }
}

/// How long a value in a history line may be before it gets lines of its own.
const ONE_LINE: usize = 60;

/// A value in a history line: on one line when short, else pretty-printed.
fn shown(v: &serde_json::Value) -> String {
    let compact = v.to_string();
    if compact.len() <= ONE_LINE {
        return compact;
    }
    serde_json::to_string_pretty(v).unwrap_or(compact)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_section_is_listed_once_and_its_default_passes_its_checks() {
        let mut names: Vec<&str> = SECTIONS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names, SECTIONS, "sorted and unique");
        for name in SECTIONS {
            let default = default_of(name).unwrap();
            assert!(default.is_object(), "{name}");
            validate(name, &default).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(
            default_of("mfa"),
            Some(serde_json::json!({ "enforce_groups": [] }))
        );
        assert_eq!(default_of("nope"), None);
        assert!(
            validate("nope", &Value::Null)
                .unwrap_err()
                .contains("unknown")
        );
    }

    /// Every integer field of every form: its bounds pass, one past them is refused with
    /// a message naming the field's path, and so is a value that is not a number.
    #[test]
    fn the_form_ranges_are_the_ones_a_save_checks() {
        fn walk(
            fields: &[Field],
            path: &mut Vec<&'static str>,
            out: &mut Vec<(Vec<&'static str>, i64, i64)>,
        ) {
            for f in fields {
                path.push(f.key);
                match &f.kind {
                    FieldKind::Integer { min, max, .. } => out.push((path.clone(), *min, *max)),
                    FieldKind::Group(inner) => walk(inner, path, out),
                    FieldKind::Strings { .. } => {}
                }
                path.pop();
            }
        }
        let mut checked = 0;
        for name in SECTIONS {
            let mut ints = Vec::new();
            walk(form_fields(name), &mut Vec::new(), &mut ints);
            for (path, min, max) in ints {
                let with = |v: Value| {
                    let mut doc = default_of(name).unwrap();
                    let (last, parents) = path.split_last().unwrap();
                    let mut at = &mut doc;
                    for k in parents {
                        at = at.get_mut(*k).unwrap();
                    }
                    at[*last] = v;
                    validate(name, &doc)
                };
                let dotted = format!("{name}.{}:", path.join("."));
                assert_eq!(with(min.into()), Ok(()), "{dotted} min");
                assert_eq!(with(max.into()), Ok(()), "{dotted} max");
                for bad in [
                    Value::from(min - 1),
                    Value::from(max + 1),
                    "12".into(),
                    1.5.into(),
                ] {
                    let err = with(bad.clone()).unwrap_err();
                    assert!(err.starts_with(&dotted), "{bad}: {err}");
                }
                checked += 1;
            }
        }
        // events 1, revalidation 4, security 1 + 5 x 2.
        assert_eq!(checked, 16);
    }

    #[test]
    fn a_list_field_names_itself_when_it_is_not_a_list_of_strings() {
        for bad in [json!("ntfy.lan"), json!([1]), json!(vec!["10.0.0.1"; 101])] {
            let err = validate("security", &json!({ "outbound_allow": bad })).unwrap_err();
            assert!(err.starts_with("security.outbound_allow:"), "{err}");
        }
        assert_eq!(
            validate("security", &json!({ "outbound_allow": ["ntfy.lan"] })),
            Ok(())
        );
    }

    #[test]
    fn mfa_still_names_its_field_and_nothing_else() {
        assert!(validate("mfa", &serde_json::json!({})).is_err());
        assert!(validate("mfa", &serde_json::json!({ "enforce_groups": [], "x": 1 })).is_err());
        assert!(validate("mfa", &serde_json::json!({ "enforce_groups": ["admins"] })).is_ok());
    }

    #[test]
    fn the_history_diff_names_what_was_added_and_keeps_the_order_written() {
        let old = serde_json::json!({"default_policy": "signed_in", "rules": [{"name": "a", "policy": "deny"}]});
        let new = serde_json::json!({"rules": [
            {"name": "a", "policy": "bypass"},
            {"name": "sonarr", "hosts": ["sonarr.example.com"], "groups": ["admins"], "policy": "two_factor"}
        ], "default_policy": "deny"});
        let mut out = Vec::new();
        diff(&old, &new, String::new(), &mut out);
        assert_eq!(out[0], "rules[0].policy: \"deny\" -> \"bypass\"");
        assert!(
            out[1].starts_with("rules[1]: added {\n  \"name\": \"sonarr\",\n"),
            "{}",
            out[1]
        );
        assert_eq!(out[2], "default_policy: \"signed_in\" -> \"deny\"");
        assert_eq!(out.len(), 3);
        let mut gone = Vec::new();
        diff(&new, &old, String::new(), &mut gone);
        assert!(gone[2].starts_with("rules[1]: removed {"), "{gone:?}");
    }
}
