//! The directory tree, read from the database for each search: the base entry,
//! `ou=people` (one `inetOrgPerson` per person with server access), `ou=groups` (one
//! `groupOfUniqueNames`/`groupOfNames` per group the portal knows) and the Root DSE.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};

use rusqlite::Connection;

use super::dn::{Dn, escape_value};
use crate::error::Result;

/// The vendor the Root DSE names.
pub const VENDOR: &str = "authportal";
/// RFC 4511 StartTLS.
pub const OID_STARTTLS: &str = "1.3.6.1.4.1.1466.20037";

pub const PEOPLE: &str = "people";
pub const GROUPS: &str = "groups";
pub const SERVICES: &str = "services";

/// Searches that hold the tree at once, in all: each has the whole directory in memory
/// (about 1 KB a person: hundreds of MB at 200,000 people), and a burst of searches on
/// many connections must not multiply that. The others wait their turn.
pub const MAX_READERS: usize = 2;

static READERS: Mutex<usize> = Mutex::new(0);
static READER_LEFT: Condvar = Condvar::new();

/// One of the MAX_READERS places, held while a search or compare has the tree.
pub struct ReadSlot(());

impl ReadSlot {
    /// Waits for a place.
    pub fn take() -> ReadSlot {
        let mut n = READERS.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= MAX_READERS {
            n = READER_LEFT.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
        ReadSlot(())
    }
}

impl Drop for ReadSlot {
    fn drop(&mut self) {
        let mut n = READERS.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        READER_LEFT.notify_one();
    }
}

/// What an entry stands for (who may see it depends on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The Root DSE, the base and the organizational units.
    Container,
    Person,
    Group,
}

/// One entry: its DN as written (escaped), its parsed form, and its attributes (type
/// names as the schema spells them, values as strings).
#[derive(Debug, Clone)]
pub struct Entry {
    pub dn: String,
    pub parsed: Dn,
    pub kind: Kind,
    pub attrs: Vec<(&'static str, Vec<String>)>,
}

impl Entry {
    fn new(kind: Kind, dn: String, attrs: Vec<(&'static str, Vec<String>)>) -> Option<Entry> {
        let parsed = Dn::parse(&dn)?;
        Some(Entry {
            dn,
            parsed,
            kind,
            attrs,
        })
    }

    /// The values of an attribute, by name without case.
    pub fn values(&self, name: &str) -> Option<&[String]> {
        self.attrs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// Where the tree hangs and what the Root DSE says.
#[derive(Debug, Clone)]
pub struct Layout {
    /// As configured (LDAP_BASE_DN), checked to parse.
    pub base: String,
    pub tls: bool,
}

impl Layout {
    /// The layout the configuration gives.
    pub fn of(app: &crate::App) -> Layout {
        Layout {
            base: app.config.ldap.base_dn.clone(),
            tls: app.config.ldap.tls.is_some(),
        }
    }

    pub fn base_dn(&self) -> Dn {
        Dn::parse(&self.base).unwrap_or_else(Dn::root)
    }

    pub fn ou(&self, ou: &str) -> String {
        format!("ou={ou},{}", self.base)
    }

    pub fn person_dn(&self, username: &str) -> String {
        format!("uid={},{}", escape_value(username), self.ou(PEOPLE))
    }

    pub fn group_dn(&self, group: &str) -> String {
        format!("cn={},{}", escape_value(group), self.ou(GROUPS))
    }

    pub fn service_dn(&self, name: &str) -> String {
        format!("cn={},{}", escape_value(name), self.ou(SERVICES))
    }

    /// The Root DSE (the entry with the empty DN).
    pub fn root_dse(&self) -> Entry {
        let mut extensions = vec![ldap3_proto::proto::OID_WHOAMI.to_string()];
        if self.tls {
            extensions.push(OID_STARTTLS.to_string());
        }
        Entry {
            dn: String::new(),
            parsed: Dn::root(),
            kind: Kind::Container,
            attrs: vec![
                ("objectClass", vec!["top".into()]),
                ("namingContexts", vec![self.base.clone()]),
                ("supportedLDAPVersion", vec!["3".into()]),
                ("supportedExtension", extensions),
                ("vendorName", vec![VENDOR.into()]),
                ("vendorVersion", vec![crate::version::VERSION.into()]),
            ],
        }
    }
}

/// The whole tree below the base, in DN order: base, the organizational units, people
/// and groups.
pub fn entries(conn: &Connection, layout: &Layout) -> Result<Vec<Entry>> {
    let people = crate::db::ldap::people(conn)?;
    let mut member_of_all = crate::db::users::groups_of_everyone(conn)?;
    // group name -> member DNs; every group the portal knows, also while empty.
    let mut groups: BTreeMap<String, Vec<String>> = crate::db::ldap::assigned_group_names(conn)?
        .into_iter()
        .map(|g| (g, Vec::new()))
        .collect();
    let mut out = base_entries(layout);
    let mut person_entries = Vec::with_capacity(people.len());
    for p in people {
        let member_of = member_of_all.remove(&p.user_id).unwrap_or_default();
        let dn = layout.person_dn(&p.username);
        for g in &member_of {
            groups.entry(g.clone()).or_default().push(dn.clone());
        }
        let mut attrs = vec![
            (
                "objectClass",
                vec!["inetOrgPerson".into(), "person".into(), "top".into()],
            ),
            ("uid", vec![p.username.clone()]),
            ("cn", vec![p.username.clone()]),
            ("displayName", vec![p.username.clone()]),
        ];
        if let Some(mail) = p.email.filter(|m| !m.is_empty()) {
            attrs.push(("mail", vec![mail]));
        }
        attrs.push(("entryUUID", vec![p.uuid]));
        attrs.push((
            "memberOf",
            member_of.iter().map(|g| layout.group_dn(g)).collect(),
        ));
        person_entries.extend(Entry::new(Kind::Person, dn, attrs));
    }
    out.extend(person_entries);
    for (name, members) in groups {
        let attrs = vec![
            (
                "objectClass",
                vec![
                    "groupOfUniqueNames".into(),
                    "groupOfNames".into(),
                    "top".into(),
                ],
            ),
            ("cn", vec![name.clone()]),
            ("member", members.clone()),
            ("uniqueMember", members),
        ];
        out.extend(Entry::new(Kind::Group, layout.group_dn(&name), attrs));
    }
    Ok(out)
}

/// The base entry and the organizational units under it.
fn base_entries(layout: &Layout) -> Vec<Entry> {
    let base = layout.base_dn();
    let mut attrs = vec![("objectClass", vec!["top".into(), "domain".into()])];
    if let Some(rdn) = base.0.first() {
        // The base's own naming attribute (dc=authportal -> dc: authportal).
        let name: &'static str = match rdn.attr.as_str() {
            "dc" => "dc",
            "o" => "o",
            "ou" => "ou",
            _ => "cn",
        };
        attrs.push((name, vec![rdn.value.clone()]));
    }
    let mut out: Vec<Entry> = Entry::new(Kind::Container, layout.base.clone(), attrs)
        .into_iter()
        .collect();
    for ou in [PEOPLE, GROUPS] {
        out.extend(Entry::new(
            Kind::Container,
            layout.ou(ou),
            vec![
                (
                    "objectClass",
                    vec!["top".into(), "organizationalUnit".into()],
                ),
                ("ou", vec![ou.to_string()]),
            ],
        ));
    }
    out
}
