//! `authportal export-config` / `import-config`: the settings sections as readable
//! JSON without secrets (a secret shows as {"set": true|false}), and back. An import
//! checks every section first and saves each as a new version (reason
//! "import-config") in one transaction; a secret the file leaves out, or gives as
//! {"set": ...}, keeps its stored value.

use serde_json::{Map, Value, json};

use crate::app::App;
use crate::db::settings as store;
use crate::error::AppError;
use crate::event_type::EventType;

pub const FORMAT: &str = "authportal-config";

/// Every section as the console shows it (defaults for those never saved).
pub fn export(app: &App) -> Result<Value, String> {
    let conn = app.db.conn().map_err(|e| e.to_string())?;
    let mut sections = Map::new();
    for name in crate::settings::SECTIONS {
        let saved = store::get(&conn, name).map_err(|e| e.to_string())?;
        let (version, config) = match saved {
            Some(s) => (s.version, s.config),
            None => (0, crate::settings::default_of(name).unwrap_or(Value::Null)),
        };
        sections.insert(
            name.to_string(),
            json!({ "version": version, "config": crate::settings::present(name, &config) }),
        );
    }
    Ok(json!({
        "format": FORMAT,
        "portal_version": env!("CARGO_PKG_VERSION"),
        "exported_at": chrono::DateTime::from_timestamp(app.clock.now(), 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "sections": sections,
    }))
}

/// Where `presented` (a stored value as the console sees it) shows a secret as
/// {"set": ...}, an import that leaves the field out or repeats that placeholder keeps
/// the stored secret: the field becomes {"set": true}, which settings::prepare keeps.
fn keep_absent_secrets(incoming: &mut Value, presented: &Value) {
    let (Value::Object(inc), Value::Object(pre)) = (incoming, presented) else {
        return;
    };
    for (key, shown) in pre {
        if is_secret(shown) {
            if inc.get(key).is_none_or(Value::is_object) {
                inc.insert(key.clone(), json!({ "set": true }));
            }
        } else if has_secret(shown) {
            // A whole object left out still keeps the secrets inside it.
            let child = inc.entry(key.clone()).or_insert_with(|| json!({}));
            keep_absent_secrets(child, shown);
        }
    }
}

/// A secret as settings::present shows it: {"set": true|false}.
fn is_secret(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.len() == 1 && o.get("set").is_some_and(Value::is_boolean))
}

fn has_secret(v: &Value) -> bool {
    is_secret(v) || v.as_object().is_some_and(|o| o.values().any(has_secret))
}

/// What an import changed: (section, new version).
pub type Imported = Vec<(String, i64)>;

/// Checks every section in `doc` and saves each as a new version, all or nothing.
pub fn import(app: &App, doc: &Value, by: &str) -> Result<Imported, String> {
    if doc["format"] != FORMAT {
        return Err(format!(
            "not an authportal settings export (expected \"format\": \"{FORMAT}\")"
        ));
    }
    let Some(sections) = doc["sections"].as_object() else {
        return Err("the file has no \"sections\" object".into());
    };
    if let Some(unknown) = sections
        .keys()
        .find(|k| !crate::settings::SECTIONS.contains(&k.as_str()))
    {
        return Err(format!(
            "unknown settings section {unknown:?}; known: {}",
            crate::settings::SECTIONS.join(", ")
        ));
    }
    let now = app.clock.now();
    let result = app.db.with_tx(|tx| {
        let mut done = Vec::new();
        for (name, entry) in sections {
            let Some(config) = entry.get("config") else {
                return Err(AppError::bad_request(format!(
                    "{name}: expected {{\"config\": {{...}}}}"
                )));
            };
            let current = store::get(tx, name)?;
            let (version, stored) = current
                .map(|s| (s.version, s.config))
                .unwrap_or((0, Value::Null));
            let mut incoming = config.clone();
            keep_absent_secrets(&mut incoming, &crate::settings::present(name, &stored));
            let prepared = crate::settings::prepare(name, &incoming, &stored, &app.sealer)
                .map_err(AppError::BadRequest)?;
            let change = store::Change {
                section: name,
                expected_version: version,
                config: &prepared,
                by: Some(by),
                reason: Some("import-config"),
            };
            match store::put(tx, &change, now)? {
                Ok(v) => done.push((name.clone(), v)),
                Err(c) => {
                    return Err(AppError::bad_request(format!(
                        "{name} changed meanwhile (now version {}); try again",
                        c.current
                    )));
                }
            }
        }
        crate::db::events::record(
            tx,
            &crate::db::events::Event {
                kind: EventType::AdminConfigImport,
                user_id: None,
                ip: None,
                result: "success",
                detail: json!({ "by": by, "sections": done.iter().map(|(n, _)| n).collect::<Vec<_>>() }),
            },
            now,
        )?;
        Ok(done)
    });
    let done = result.map_err(|e| match e {
        AppError::BadRequest(m) => m,
        other => other.to_string(),
    })?;
    app.settings_changed();
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_or_placeholder_secrets_are_kept_and_strings_replace() {
        let presented = json!({ "jellyfin": { "url": "http://x", "api_key": { "set": true } }, "plex": { "owner_token": { "set": false } } });
        let mut absent = json!({ "jellyfin": { "url": "http://y" } });
        keep_absent_secrets(&mut absent, &presented);
        assert_eq!(absent["jellyfin"]["api_key"], json!({ "set": true }));
        let mut given = json!({ "jellyfin": { "api_key": "new" }, "plex": { "owner_token": { "set": false } } });
        keep_absent_secrets(&mut given, &presented);
        assert_eq!(given["jellyfin"]["api_key"], json!("new"));
        assert_eq!(given["plex"]["owner_token"], json!({ "set": true }));
        let mut none = json!({});
        keep_absent_secrets(&mut none, &presented);
        assert_eq!(none["jellyfin"]["api_key"], json!({ "set": true }));
    }
}
