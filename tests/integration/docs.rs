//! The configuration reference is checked against the code: every variable the portal
//! reads is in README.md's table and in systemd/authportal.env.example, and they name no
//! variable the portal does not read; the event types table is the code's list.

use std::collections::BTreeSet;

use authportal::Config;

fn known() -> BTreeSet<&'static str> {
    Config::VARIABLES.iter().copied().collect()
}

/// Backticked ALL_CAPS words in the rows of the README's configuration table.
fn readme_table() -> BTreeSet<String> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## Configure")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README.md has a Configure section");
    let word = regex::Regex::new(r"`([A-Z][A-Z0-9_]{2,})`").unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let first_cell = l.split('|').nth(1).unwrap_or("");
            word.captures_iter(first_cell)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_variable_the_code_reads_is_listed() {
    // Up to its tests: the code that reads variables (v.get / v.bool, or a helper given
    // the names, like media_server(&v, URL, KEY)).
    let source = include_str!("../../src/config.rs")
        .split("#[cfg(test)]")
        .next()
        .unwrap();
    let read = regex::Regex::new(r#"\.(?:get|bool)\(\s*"([A-Z][A-Z0-9_]*)""#).unwrap();
    let pairs =
        regex::Regex::new(r#"media_server\(&v,\s*"([A-Z][A-Z0-9_]*)",\s*"([A-Z][A-Z0-9_]*)""#)
            .unwrap();
    let in_code: BTreeSet<&str> = read
        .captures_iter(source)
        .map(|c| c.get(1).unwrap().as_str())
        .chain(
            pairs
                .captures_iter(source)
                .flat_map(|c| [c.get(1).unwrap().as_str(), c.get(2).unwrap().as_str()]),
        )
        .collect();
    let known = known();
    assert!(in_code.len() > 30, "the scan found only {in_code:?}");
    let unlisted: Vec<_> = in_code.difference(&known).collect();
    assert!(
        unlisted.is_empty(),
        "read but not in Config::VARIABLES: {unlisted:?}"
    );
    let unread: Vec<_> = known.difference(&in_code).collect();
    assert!(
        unread.is_empty(),
        "in Config::VARIABLES but never read: {unread:?}"
    );
}

#[test]
fn the_readme_table_documents_exactly_the_variables() {
    let table = readme_table();
    let known: BTreeSet<String> = known().iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = known.difference(&table).collect();
    assert!(missing.is_empty(), "README.md's table lacks {missing:?}");
    let unknown: Vec<_> = table.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "README.md documents unknown {unknown:?}"
    );
}

#[test]
fn the_env_file_example_names_every_variable() {
    let example = include_str!("../../systemd/authportal.env.example");
    let set = regex::Regex::new(r"(?m)^#?([A-Z][A-Z0-9_]+)=").unwrap();
    let named: BTreeSet<String> = set
        .captures_iter(example)
        .map(|c| c[1].to_string())
        .collect();
    let known: BTreeSet<String> = known().iter().map(|s| s.to_string()).collect();
    let missing: Vec<_> = known.difference(&named).collect();
    assert!(
        missing.is_empty(),
        "authportal.env.example lacks {missing:?}"
    );
    let unknown: Vec<_> = named.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "authportal.env.example names unknown {unknown:?}"
    );
}

/// The example in README.md's "Access rules" section is a valid `access` section, and
/// every rule field is in its table.
#[test]
fn the_readme_access_rules_example_is_valid_and_every_field_is_documented() {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("\n## Access rules")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README.md has an Access rules section");
    let example = section
        .split("```json\n")
        .nth(1)
        .and_then(|s| s.split("\n```").next())
        .expect("an example in a json block");
    let spec: authportal::access::AccessSpec =
        serde_json::from_str(example).expect("the example is an access section");
    authportal::access::AccessRules::compile(&spec).expect("the example compiles");
    let none = authportal::access::AccessSpec::default();
    let plex = [authportal::providers::ProviderKind::Plex];
    authportal::access::check_edit(&spec, &none, &plex).expect("the example can be saved");
    // The examples of single rules (one a line, in the next json block) compile too.
    let rules = section
        .split("```json\n")
        .nth(2)
        .and_then(|s| s.split("\n```").next())
        .expect("examples of single rules in a second json block");
    for line in rules.lines() {
        let doc = format!(r#"{{"rules": [{line}]}}"#);
        let spec: authportal::access::AccessSpec =
            serde_json::from_str(&doc).unwrap_or_else(|e| panic!("{line}: {e}"));
        authportal::access::AccessRules::compile(&spec).unwrap_or_else(|e| panic!("{e}"));
        authportal::access::check_edit(&spec, &none, &plex).unwrap_or_else(|e| panic!("{e}"));
    }
    // Every field of a rule (as the portal writes a default one) has a row.
    let rule: serde_json::Value =
        serde_json::from_value::<authportal::access::RuleSpec>(serde_json::json!({}))
            .map(|r| serde_json::to_value(r).unwrap())
            .unwrap();
    for field in rule.as_object().unwrap().keys() {
        assert!(
            section.contains(&format!("| `{field}` |")),
            "the Access rules table lacks {field}"
        );
    }
}

#[test]
fn the_readme_lists_every_event_type_with_its_description() {
    use authportal::event_type::EventType;
    let readme = include_str!("../../README.md");
    let table = readme
        .split("| Type | Written when |\n|---|---|\n")
        .nth(1)
        .and_then(|s| s.split("\n\n").next())
        .expect("README.md has the event types table");
    let rows: Vec<String> = table.lines().map(str::to_string).collect();
    let want: Vec<String> = EventType::ALL
        .iter()
        .map(|t| format!("| `{}` | {} |", t.as_str(), t.description()))
        .collect();
    assert_eq!(rows, want, "README's event types table = src/event_type.rs");
}

/// The forward-auth snippets the console fills in for an install are the README's
/// tested ones (tests/integration/proxies.rs runs those): the templates rendered with the
/// README's example addresses are exactly what the README shows.
#[test]
fn the_readme_snippets_are_the_consoles_templates() {
    use authportal::next_steps::{Install, Proxy};
    let readme = include_str!("../../README.md");
    for proxy in Proxy::ALL {
        let name = proxy.name();
        let open = format!("<!-- snippet:{name} -->");
        let close = format!("<!-- /snippet:{name} -->");
        let start = readme
            .find(&open)
            .unwrap_or_else(|| panic!("README.md has no {open} marker"))
            + open.len();
        let len = readme[start..].find(&close).expect("closing marker");
        let lines: Vec<&str> = readme[start..start + len].trim().lines().collect();
        let shown = lines[1..lines.len() - 1].join("\n") + "\n";
        assert_eq!(
            shown,
            proxy.render(&Install::readme_example()),
            "README.md's {name} snippet differs from src/next_steps/; change both"
        );
    }
}
