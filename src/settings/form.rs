//! The generic settings form: how a simple section describes its fields (label, hint,
//! kind and range) for the console's form, and the check of a saved document against
//! that description, so the form, the API and imports agree on every range.

use serde_json::Value;

/// One field of a section's document as the console's form shows it.
pub struct Field {
    /// The key in the JSON document.
    pub key: &'static str,
    pub label: &'static str,
    /// What the field does, in a sentence, shown under it.
    pub hint: &'static str,
    pub kind: FieldKind,
    /// The environment variable that sets this field (the form shows it read-only
    /// when the section's `locked` names it).
    pub env: Option<&'static str>,
}

/// What a field holds.
pub enum FieldKind {
    /// A whole number from `min` to `max`, counted in `unit` ("days", "a minute").
    Integer {
        min: i64,
        max: i64,
        unit: &'static str,
    },
    /// A list of strings (one a line in the form), at most `max` of them.
    Strings { max: usize },
    /// An object with fields of its own.
    Group(&'static [Field]),
}

impl Field {
    pub const fn new(
        key: &'static str,
        label: &'static str,
        hint: &'static str,
        kind: FieldKind,
    ) -> Self {
        Field {
            key,
            label,
            hint,
            kind,
            env: None,
        }
    }

    /// The same field, set by the environment variable `env` when that is present.
    pub const fn set_by(self, env: &'static str) -> Self {
        Field {
            env: Some(env),
            ..self
        }
    }
}

/// Checks `doc` (section `section`) against its fields: each field present has its kind
/// and range; an absent one takes its default. The error names the field the way the
/// form finds it: "section.path.to.field: what is wrong".
pub fn check(section: &str, fields: &[Field], doc: &Value) -> Result<(), String> {
    if fields.is_empty() {
        return Ok(());
    }
    check_at(section, fields, doc)
}

fn check_at(path: &str, fields: &[Field], doc: &Value) -> Result<(), String> {
    let Some(object) = doc.as_object() else {
        return Err(format!("{path}: expected an object of fields"));
    };
    for field in fields {
        let Some(value) = object.get(field.key) else {
            continue;
        };
        let at = format!("{path}.{}", field.key);
        match &field.kind {
            FieldKind::Integer { min, max, .. } => {
                // The value itself is not echoed: it may be anything, of any size.
                let n = value
                    .as_i64()
                    .ok_or_else(|| format!("{at}: expected a whole number"))?;
                if !(*min..=*max).contains(&n) {
                    return Err(format!("{at}: {n} is not between {min} and {max}"));
                }
            }
            FieldKind::Strings { max } => {
                let list = value
                    .as_array()
                    .filter(|l| l.iter().all(Value::is_string))
                    .ok_or_else(|| format!("{at}: expected a list of strings"))?;
                if list.len() > *max {
                    return Err(format!("{at}: at most {max} entries"));
                }
            }
            FieldKind::Group(inner) => check_at(&at, inner, value)?,
        }
    }
    Ok(())
}
