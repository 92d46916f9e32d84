//! The directory tree, read from the database by each search a batch at a time and
//! handed over one entry at a time ([`Search`]): the base entry, `ou=people` (one
//! `inetOrgPerson` per person with server access), `ou=groups` (one
//! `groupOfUniqueNames`/`groupOfNames` per group the portal knows) and the Root DSE.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use ldap3_proto::proto::LdapSearchScope;
use rusqlite::Connection;

use super::dn::{Dn, escape_value};
use super::filter::Prepared;
use crate::db::ldap::{self as db, Person, Who};
use crate::db::users;
use crate::error::Result;

/// The vendor the Root DSE names.
pub const VENDOR: &str = "authportal";
/// RFC 4511 StartTLS.
pub const OID_STARTTLS: &str = "1.3.6.1.4.1.1466.20037";

pub const PEOPLE: &str = "people";
pub const GROUPS: &str = "groups";
pub const SERVICES: &str = "services";

/// Searches (and compares) that read the directory at once, in all. Each holds little
/// (a batch of people and one entry), but a full search of a big directory keeps a core
/// busy for seconds: a burst of them on many connections must leave the small box's
/// other core to the portal. The others wait their turn. A place is held only while
/// reading, never while waiting for a client to take its answers ([`away`]).
pub const MAX_READERS: usize = 2;

static READERS: Mutex<usize> = Mutex::new(0);
static READER_LEFT: Condvar = Condvar::new();

thread_local! {
    /// Whether this thread (one connection's) holds a reader's place now.
    static HOLDS_PLACE: Cell<bool> = const { Cell::new(false) };
}

/// One of the MAX_READERS places, held while a search or compare reads the directory.
pub struct ReadSlot(());

impl ReadSlot {
    /// Waits for a place.
    pub fn take() -> ReadSlot {
        enter();
        ReadSlot(())
    }
}

impl Drop for ReadSlot {
    fn drop(&mut self) {
        leave();
    }
}

fn enter() {
    let mut n = READERS.lock().unwrap_or_else(|p| p.into_inner());
    while *n >= MAX_READERS {
        n = READER_LEFT.wait(n).unwrap_or_else(|p| p.into_inner());
    }
    *n += 1;
    HOLDS_PLACE.with(|h| h.set(true));
}

fn leave() {
    let mut n = READERS.lock().unwrap_or_else(|p| p.into_inner());
    *n = n.saturating_sub(1);
    HOLDS_PLACE.with(|h| h.set(false));
    READER_LEFT.notify_one();
}

/// Runs `write` (answers going to a client) without this thread's reader place, if it
/// holds one, and takes a place again after. A client decides how fast it reads: two
/// that read slowly (or not at all) would otherwise hold both places, and every other
/// search would wait as long as the write allowance lets them dawdle.
pub fn away<T>(write: impl FnOnce() -> T) -> T {
    let held = HOLDS_PLACE.with(Cell::get);
    if held {
        leave();
    }
    let out = write();
    if held {
        enter();
    }
    out
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

/// People read from the store at once: what a search holds besides the one entry it is
/// answering, whatever the size of the directory.
pub const BATCH: usize = 256;
/// Members a group entry lists at most. A group such as `jellyfin-user` holds everyone:
/// listing 200,000 DNs in one entry would hold them all. Clients that ask "which groups
/// is this person in" (`(member=<dn>)` on groups, or `memberOf` on people) are answered
/// exactly whatever the size; only a listing of a bigger group is cut at this.
pub const MAX_GROUP_MEMBERS: usize = 10_000;

const PERSON_CLASSES: [&str; 3] = ["inetorgperson", "person", "top"];
const GROUP_CLASSES: [&str; 3] = ["groupofuniquenames", "groupofnames", "top"];
const MEMBER_ATTRS: [&str; 2] = ["member", "uniqueMember"];

/// Who reads the directory: everything (a service account, or anyone when anonymous
/// search is allowed), or a person (their own entry, their groups with themselves as
/// the only member, and the containers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Everyone,
    Person { user_id: i64 },
}

/// A place in the directory's order (the containers, people by username without case,
/// groups by name): a walk resumes after it. It is the paged-results cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    Start,
    Container(u8),
    Person(String),
    Group(String),
}

impl Position {
    fn stage(&self) -> u8 {
        match self {
            Position::Start => 0,
            Position::Container(_) => 1,
            Position::Person(_) => 2,
            Position::Group(_) => 3,
        }
    }

    pub fn to_cookie(&self) -> Vec<u8> {
        let mut out = vec![self.stage()];
        match self {
            Position::Start => {}
            Position::Container(i) => out.push(*i),
            Position::Person(key) | Position::Group(key) => out.extend_from_slice(key.as_bytes()),
        }
        out
    }

    /// None for bytes this server did not make (an empty cookie is the start).
    pub fn from_cookie(cookie: &[u8]) -> Option<Position> {
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
        match cookie {
            [] | [0] => Some(Position::Start),
            [1, i] if *i < 3 => Some(Position::Container(*i)),
            [2, key @ ..] => text(key).map(Position::Person),
            [3, key @ ..] => text(key).map(Position::Group),
            _ => None,
        }
    }
}

/// Whether a walk goes on after an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Which entries of one kind (all directly below one organizational unit) a search's
/// base and scope take in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reach {
    Nothing,
    All,
    /// The one whose naming value is this (the base names it).
    Named(String),
}

fn reach(base: &Dn, scope: &LdapSearchScope, ou: &Dn, naming_attr: &str) -> Reach {
    if let Some((attr, value)) = base.leaf_below(ou) {
        let takes_base = matches!(scope, LdapSearchScope::Base | LdapSearchScope::Subtree);
        return if attr == naming_attr && takes_base {
            Reach::Named(value.to_string())
        } else {
            Reach::Nothing
        };
    }
    if !ou.is_within(base) {
        return Reach::Nothing;
    }
    match scope {
        LdapSearchScope::Base => Reach::Nothing,
        LdapSearchScope::OneLevel if ou != base => Reach::Nothing,
        _ => Reach::All,
    }
}

/// What one search reads and how: worked out once from its view, base, scope and filter,
/// then [`Search::walk`] reads the store a batch at a time and hands over one entry at a
/// time. Narrowing only ever drops entries the filter could not match: each entry read
/// is still checked against the whole filter by the caller.
pub struct Search<'a> {
    conn: &'a Connection,
    layout: &'a Layout,
    reader: Reader,
    people: Option<Who>,
    groups: Reach,
    /// People that `member=` assertions of the filter name, with their groups: a group
    /// entry's member values are these when the search does not list members, and the
    /// filter then answers as on the whole list.
    asserted: Vec<(String, Vec<String>)>,
    /// Group entries list their members (up to MAX_GROUP_MEMBERS).
    list_members: bool,
    deadline: Option<Instant>,
    batch: usize,
    /// The most people held at once (tests check it stays within a batch).
    peak_held: Cell<usize>,
}

impl<'a> Search<'a> {
    /// `wants_members`: the client asked for member values (then they are listed).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        conn: &'a Connection,
        layout: &'a Layout,
        view: View,
        base: &Dn,
        scope: &LdapSearchScope,
        test: &Prepared,
        wants_members: bool,
        deadline: Option<Instant>,
    ) -> Result<Search<'a>> {
        let root = layout.base_dn();
        let people_reach = reach(base, scope, &root.child("ou", PEOPLE), "uid");
        let mut groups = reach(base, scope, &root.child("ou", GROUPS), "cn");
        let mut search = Search {
            conn,
            layout,
            reader: Reader::Everyone,
            people: None,
            groups: Reach::Nothing,
            asserted: Vec::new(),
            list_members: false,
            deadline,
            batch: BATCH,
            peak_held: Cell::new(0),
        };
        if let View::Person { user_id } = view {
            let me = db::people_page(conn, &Who::UserId(user_id), None, 1)?
                .into_iter()
                .next();
            search.reader = match me {
                Some(p) => Reader::Me {
                    dn: layout.person_dn(&p.username),
                    groups: users::groups(conn, user_id)?,
                },
                None => Reader::Unlisted,
            };
            // Only ever their own entry (the caller checks it is within the base).
            let listed = matches!(search.reader, Reader::Me { .. });
            search.people =
                (people_reach != Reach::Nothing && listed).then_some(Who::UserId(user_id));
            search.groups = groups;
            return Ok(search);
        }
        let narrowed = Narrowed::of(layout, test);
        search.people = match (people_reach, narrowed.people) {
            (Reach::Nothing, _) | (_, None) => None,
            // The store folds ASCII case only: another name is found by a scan.
            (Reach::Named(name), _) if name.is_ascii() => Some(Who::Username(name)),
            (Reach::Named(_), _) => Some(Who::Everyone),
            (Reach::All, Some(who)) => Some(who),
        };
        if !narrowed.groups {
            groups = Reach::Nothing;
        }
        search.groups = groups;
        if search.groups != Reach::Nothing {
            let asks = test.asks_of(&MEMBER_ATTRS);
            search.list_members = wants_members || asks.more;
            for value in asks.equal_to {
                search.asserted.extend(search.person_named_by(value)?);
            }
        }
        Ok(search)
    }

    /// A smaller batch (tests walk several batches on a small directory).
    pub fn with_batch(mut self, batch: usize) -> Search<'a> {
        self.batch = batch.max(1);
        self
    }

    /// The most people held at once so far.
    pub fn peak_held(&self) -> usize {
        self.peak_held.get()
    }

    /// The listed person a DN value names, with their groups.
    fn person_named_by(&self, dn: &str) -> Result<Option<(String, Vec<String>)>> {
        let people = self.layout.base_dn().child("ou", PEOPLE);
        let parsed = Dn::parse(dn);
        let Some(("uid", name)) = parsed.as_ref().and_then(|d| d.leaf_below(&people)) else {
            return Ok(None);
        };
        let Some(p) = self.person_named(name)? else {
            return Ok(None);
        };
        let groups = users::groups(self.conn, p.user_id)?;
        Ok(Some((self.layout.person_dn(&p.username), groups)))
    }

    /// The listed person with this username (without case).
    fn person_named(&self, name: &str) -> Result<Option<Person>> {
        if name.is_ascii() {
            return Ok(
                db::people_page(self.conn, &Who::Username(name.into()), None, 1)?
                    .into_iter()
                    .next(),
            );
        }
        // The store folds ASCII case only: other names are compared here, a batch at a time.
        let wanted = name.to_lowercase();
        let mut after: Option<String> = None;
        loop {
            let batch = db::people_page(self.conn, &Who::Everyone, after.as_deref(), self.batch)?;
            let full = batch.len() == self.batch;
            after = batch.last().map(|p| p.username.clone());
            if let Some(p) = batch
                .into_iter()
                .find(|p| p.username.to_lowercase() == wanted)
            {
                return Ok(Some(p));
            }
            if !full {
                return Ok(None);
            }
        }
    }

    fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Hands every entry the search may see after `from`, in the directory's order, to
    /// `visit` (which checks scope and filter), until it says stop.
    pub fn walk(
        &self,
        from: &Position,
        visit: &mut dyn FnMut(&Position, &Entry) -> Flow,
    ) -> Result<Flow> {
        if from.stage() <= 1 {
            let skip = match from {
                Position::Container(i) => usize::from(*i) + 1,
                _ => 0,
            };
            for (i, e) in base_entries(self.layout).iter().enumerate().skip(skip) {
                let at = Position::Container(u8::try_from(i).unwrap_or(u8::MAX));
                if visit(&at, e) == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            }
        }
        if from.stage() <= 2 && self.walk_people(from, visit)? == Flow::Stop {
            return Ok(Flow::Stop);
        }
        self.walk_groups(from, visit)
    }

    fn walk_people(
        &self,
        from: &Position,
        visit: &mut dyn FnMut(&Position, &Entry) -> Flow,
    ) -> Result<Flow> {
        let Some(who) = &self.people else {
            return Ok(Flow::Continue);
        };
        let mut after = match from {
            Position::Person(key) => Some(key.clone()),
            _ => None,
        };
        loop {
            let batch = db::people_page(self.conn, who, after.as_deref(), self.batch)?;
            self.peak_held.set(self.peak_held.get().max(batch.len()));
            let full = batch.len() == self.batch;
            after = batch.last().map(|p| p.username.clone());
            let ids: Vec<i64> = batch.iter().map(|p| p.user_id).collect();
            let mut groups = users::groups_of(self.conn, &ids)?;
            for p in batch {
                let member_of = groups.remove(&p.user_id).unwrap_or_default();
                let at = Position::Person(p.username.clone());
                let Some(entry) = person_entry(self.layout, p, &member_of) else {
                    continue;
                };
                if visit(&at, &entry) == Flow::Stop {
                    return Ok(Flow::Stop);
                }
            }
            if !full {
                return Ok(Flow::Continue);
            }
        }
    }

    /// The names of the groups the search may see, sorted.
    fn group_names(&self) -> Result<Vec<String>> {
        if self.groups == Reach::Nothing {
            return Ok(Vec::new());
        }
        let names: BTreeSet<String> = match &self.reader {
            Reader::Me { groups, .. } => groups.iter().cloned().collect(),
            Reader::Unlisted => BTreeSet::new(),
            Reader::Everyone => db::assigned_group_names(self.conn)?
                .into_iter()
                .chain(users::provider_group_names(self.conn)?)
                .collect(),
        };
        Ok(match &self.groups {
            Reach::Nothing | Reach::All => names.into_iter().collect(),
            Reach::Named(n) => {
                let n = n.to_lowercase();
                names
                    .into_iter()
                    .filter(|g| g.to_lowercase() == n)
                    .collect()
            }
        })
    }

    fn walk_groups(
        &self,
        from: &Position,
        visit: &mut dyn FnMut(&Position, &Entry) -> Flow,
    ) -> Result<Flow> {
        for name in self.group_names()? {
            if let Position::Group(after) = from {
                if name <= *after {
                    continue;
                }
            }
            let members = self.members(&name)?;
            let Some(entry) = group_entry(self.layout, &name, members) else {
                continue;
            };
            if visit(&Position::Group(name), &entry) == Flow::Stop {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// A group's member values as this search needs them.
    fn members(&self, group: &str) -> Result<Vec<String>> {
        match &self.reader {
            Reader::Everyone => {}
            // A person sees only themselves in their groups.
            Reader::Me { dn, .. } => return Ok(vec![dn.clone()]),
            Reader::Unlisted => return Ok(Vec::new()),
        }
        let mut out = if self.list_members {
            self.listed_members(group)?
        } else {
            Vec::new()
        };
        for (dn, groups) in &self.asserted {
            if groups.iter().any(|g| g == group) && !out.contains(dn) {
                out.push(dn.clone());
            }
        }
        Ok(out)
    }

    /// The first MAX_GROUP_MEMBERS members of a group, by the groups rule
    /// (users::merge_groups), read a batch at a time.
    fn listed_members(&self, group: &str) -> Result<Vec<String>> {
        let who = may_hold(group);
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let batch = db::people_page(self.conn, &who, after.as_deref(), self.batch)?;
            self.peak_held.set(self.peak_held.get().max(batch.len()));
            let full = batch.len() == self.batch;
            let ids: Vec<i64> = batch.iter().map(|p| p.user_id).collect();
            let groups = users::groups_of(self.conn, &ids)?;
            for p in &batch {
                if groups
                    .get(&p.user_id)
                    .is_some_and(|g| g.iter().any(|g| g == group))
                {
                    if out.len() == MAX_GROUP_MEMBERS {
                        return Ok(out);
                    }
                    out.push(self.layout.person_dn(&p.username));
                }
            }
            after = batch.last().map(|p| p.username.clone());
            if !full || self.expired() {
                return Ok(out);
            }
        }
    }
}

/// Who a search reads as.
enum Reader {
    Everyone,
    /// A listed person: their DN and groups.
    Me {
        dn: String,
        groups: Vec<String>,
    },
    /// A person who is not listed (any more): the containers only.
    Unlisted,
}

/// How the filter's required equalities narrow what is read: the people an index gives
/// (None: no person can match), and whether a group can match.
struct Narrowed {
    people: Option<Who>,
    groups: bool,
}

impl Narrowed {
    fn of(layout: &Layout, test: &Prepared) -> Narrowed {
        let groups_ou = layout.base_dn().child("ou", GROUPS);
        let mut people = true;
        let mut groups = true;
        // The narrowest index a required equality gives: an exact key, else a group.
        let mut exact: Option<Who> = None;
        let mut in_group: Option<Who> = None;
        for (attr, value) in test.required_equalities() {
            let attr = attr.to_ascii_lowercase();
            // The store folds ASCII case only: other values are found by a scan.
            let key = value.is_ascii().then(|| value.to_string());
            match attr.as_str() {
                "objectclass" => {
                    people &= PERSON_CLASSES.contains(&value);
                    groups &= GROUP_CLASSES.contains(&value);
                }
                "member" | "uniquemember" => people = false,
                "uid" | "displayname" => {
                    groups = false;
                    exact = exact.or(key.map(Who::Username));
                }
                "cn" => exact = exact.or(key.map(Who::Username)),
                "mail" => {
                    groups = false;
                    exact = exact.or(key.map(Who::Mail));
                }
                "entryuuid" => {
                    groups = false;
                    exact = exact.or(key.map(Who::Uuid));
                }
                "memberof" => {
                    groups = false;
                    let parsed = Dn::parse(value);
                    if let Some(("cn", g)) = parsed.as_ref().and_then(|d| d.leaf_below(&groups_ou))
                    {
                        let who = may_hold(g);
                        if who != Who::Everyone {
                            in_group = in_group.or(Some(who));
                        }
                    }
                }
                _ => {}
            }
        }
        Narrowed {
            people: people.then(|| exact.or(in_group).unwrap_or(Who::Everyone)),
            groups,
        }
    }
}

/// The people who may hold a group, for the store to find: a superset, checked again
/// by the groups rule. LIKE and NOCASE fold ASCII only, and a `%` in a pattern makes
/// LIKE backtrack: other names (and long ones) are checked on everyone.
fn may_hold(group: &str) -> Who {
    if group.is_ascii() && group.len() <= 256 && !group.contains('%') {
        Who::MayHoldGroup(group.to_string())
    } else {
        Who::Everyone
    }
}

/// A person's entry.
fn person_entry(layout: &Layout, p: Person, member_of: &[String]) -> Option<Entry> {
    let dn = layout.person_dn(&p.username);
    let mut attrs = vec![
        (
            "objectClass",
            vec!["inetOrgPerson".into(), "person".into(), "top".into()],
        ),
        ("uid", vec![p.username.clone()]),
        ("cn", vec![p.username.clone()]),
        ("displayName", vec![p.username]),
    ];
    if let Some(mail) = p.email.filter(|m| !m.is_empty()) {
        attrs.push(("mail", vec![mail]));
    }
    attrs.push(("entryUUID", vec![p.uuid]));
    attrs.push((
        "memberOf",
        member_of.iter().map(|g| layout.group_dn(g)).collect(),
    ));
    Entry::new(Kind::Person, dn, attrs)
}

/// A group's entry with these member values.
fn group_entry(layout: &Layout, name: &str, members: Vec<String>) -> Option<Entry> {
    let attrs = vec![
        (
            "objectClass",
            vec![
                "groupOfUniqueNames".into(),
                "groupOfNames".into(),
                "top".into(),
            ],
        ),
        ("cn", vec![name.to_string()]),
        ("member", members.clone()),
        ("uniqueMember", members),
    ];
    Entry::new(Kind::Group, layout.group_dn(name), attrs)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{FirstFactor, Identity, ProviderKind};
    use ldap3_proto::parse_ldap_filter_str;
    use ldap3_proto::proto::LdapFilter;

    const BASE: &str = "dc=authportal,dc=local";

    fn layout() -> Layout {
        Layout {
            base: BASE.into(),
            tls: false,
        }
    }

    /// member0..member{n-1}, each in jellyfin-user, every third also in `team`.
    fn directory(n: usize) -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        for i in 0..n {
            let ident = Identity {
                provider: ProviderKind::Jellyfin,
                provider_user_id: format!("p{i}"),
                username: format!("member{i}"),
                email: Some(format!("member{i}@example.com")),
                groups: vec!["jellyfin-user".into()],
                token: String::new(),
                avatar: None,
                method: FirstFactor::Password,
            };
            let linked = users::record_sign_in(&c, &ident, None, 0).unwrap();
            if i % 3 == 0 {
                users::add_group(&c, linked.user_id, "team", 0).unwrap();
            }
        }
        c
    }

    /// A filter in its string form, or `attr=value` for a value the string parser does
    /// not take (a DN).
    fn prepared(filter: &str) -> Prepared {
        Prepared::new(&parsed(filter)).unwrap()
    }

    fn parsed(filter: &str) -> LdapFilter {
        match filter.split_once('=') {
            Some((attr, value)) if !filter.starts_with('(') => {
                LdapFilter::Equality(attr.into(), value.into())
            }
            _ => parse_ldap_filter_str(filter).unwrap(),
        }
    }

    /// The DNs (and member values) a subtree search from the base matches, from `from`,
    /// and the most people it held at once.
    fn matches(
        c: &Connection,
        filter: &str,
        batch: usize,
        from: &Position,
    ) -> (Vec<String>, usize) {
        matching(c, &parsed(filter), batch, from)
    }

    fn matching(
        c: &Connection,
        filter: &LdapFilter,
        batch: usize,
        from: &Position,
    ) -> (Vec<String>, usize) {
        let layout = layout();
        let test = Prepared::new(filter).unwrap();
        let base = layout.base_dn();
        let search = Search::new(
            c,
            &layout,
            View::Everyone,
            &base,
            &LdapSearchScope::Subtree,
            &test,
            false,
            None,
        )
        .unwrap()
        .with_batch(batch);
        let mut out = Vec::new();
        search
            .walk(from, &mut |_, e| {
                if test.eval(e) == crate::ldap::filter::Truth::True {
                    out.push(e.dn.clone());
                }
                Flow::Continue
            })
            .unwrap();
        (out, search.peak_held())
    }

    /// 25 people read 10 at a time: each entry once, in order, never more than a batch
    /// of people held; and a walk resumed after the 12th person (a paging cookie) gives
    /// the rest, each once.
    #[test]
    fn a_walk_reads_people_a_batch_at_a_time_and_gives_each_once() {
        let c = directory(25);
        let (all, held) = matches(&c, "(objectClass=person)", 10, &Position::Start);
        assert_eq!(all.len(), 25);
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 25, "{all:?}");
        assert!(held <= 10, "held {held} people at once");
        let twelfth = all[11]
            .strip_prefix("uid=")
            .and_then(|r| r.split(',').next())
            .unwrap();
        let cookie = Position::Person(twelfth.into()).to_cookie();
        let from = Position::from_cookie(&cookie).unwrap();
        let (rest, _) = matches(&c, "(objectClass=person)", 10, &from);
        assert_eq!(rest, all[12..]);
        // The groups come after the people; the containers first.
        let (every, _) = matches(&c, "(objectClass=*)", 7, &Position::Start);
        assert_eq!(every.len(), 3 + 25 + 2, "{every:?}");
        assert_eq!(every[0], BASE);
        assert!(every[28].starts_with("cn=jellyfin-user,"), "{every:?}");
        assert_eq!(Position::from_cookie(b"\x09junk"), None);
    }

    /// A filter an index answers finds what a scan finds: `(|F)` is never narrowed.
    #[test]
    fn a_filter_answered_by_an_index_matches_what_a_scan_finds() {
        let c = directory(40);
        let uuid: String = c
            .query_row(
                "SELECT uuid FROM users WHERE username = 'member7'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let member3 = format!("uid=member3,ou=people,{BASE}");
        let team = format!("cn=team,ou=groups,{BASE}");
        let eq = |a: &str, v: &str| LdapFilter::Equality(a.into(), v.into());
        let and = |a: LdapFilter, b: LdapFilter| LdapFilter::And(vec![a, b]);
        let string = |f: &str| parse_ldap_filter_str(f).unwrap();
        for (filter, found, held) in [
            (string("(uid=MEMBER7)"), 1, 1),
            (string("(cn=member7)"), 1, 1),
            (string("(mail=member7@EXAMPLE.com)"), 1, 1),
            (eq("entryUUID", &uuid), 1, 1),
            (eq("memberOf", &team), 14, 14),
            (
                and(
                    string("(objectClass=person)"),
                    eq("memberOf", &team.to_uppercase()),
                ),
                14,
                14,
            ),
            (
                string("(&(objectClass=inetOrgPerson)(uid=member1*))"),
                11,
                40,
            ),
            (
                and(string("(objectClass=groupOfNames)"), eq("member", &member3)),
                2,
                0,
            ),
            (eq("uniqueMember", &member3), 2, 0),
            (string("(cn=team)"), 1, 0),
            (string("(uid=nobody)"), 0, 0),
            // A name LIKE would backtrack on is found by a scan.
            (
                eq("memberOf", &format!("cn=%t%e%a%m%,ou=groups,{BASE}")),
                0,
                40,
            ),
        ] {
            let (indexed, peak) = matching(&c, &filter, 1000, &Position::Start);
            let scan = LdapFilter::Or(vec![filter.clone()]);
            let (scanned, _) = matching(&c, &scan, 1000, &Position::Start);
            assert_eq!(indexed, scanned, "{filter:?}");
            assert_eq!(indexed.len(), found, "{filter:?}: {indexed:?}");
            assert_eq!(peak, held, "{filter:?}: people read");
        }
    }

    /// The store folds ASCII case only: a name beyond it is still found without case,
    /// as a base and in a `member=` assertion (then by a scan).
    #[test]
    fn names_beyond_ascii_are_found_without_case() {
        let c = directory(12);
        let ident = Identity {
            provider: ProviderKind::Jellyfin,
            provider_user_id: "e".into(),
            username: "Émile".into(),
            email: None,
            groups: vec!["jellyfin-user".into()],
            token: String::new(),
            avatar: None,
            method: FirstFactor::Password,
        };
        users::record_sign_in(&c, &ident, None, 0).unwrap();
        let layout = layout();
        let emile = Dn::parse(&format!("uid=éMILE,ou=people,{BASE}")).unwrap();
        let search = Search::new(
            &c,
            &layout,
            View::Everyone,
            &emile,
            &LdapSearchScope::Base,
            &prepared("(objectClass=*)"),
            false,
            None,
        )
        .unwrap()
        .with_batch(5);
        let mut found = Vec::new();
        search
            .walk(&Position::Start, &mut |_, e| {
                if e.parsed == emile {
                    found.push(e.dn.clone());
                }
                Flow::Continue
            })
            .unwrap();
        assert_eq!(found, [format!("uid=Émile,ou=people,{BASE}")]);
        let (groups, _) = matches(
            &c,
            &format!("member=uid=émile,ou=people,{BASE}"),
            5,
            &Position::Start,
        );
        assert_eq!(groups, [format!("cn=jellyfin-user,ou=groups,{BASE}")]);
    }

    /// A big group's member values are listed only when asked for; a `member=` filter
    /// still answers for everyone.
    #[test]
    fn group_members_are_listed_only_when_asked_for() {
        let c = directory(30);
        let layout = layout();
        let group = Dn::parse(&layout.group_dn("jellyfin-user")).unwrap();
        let members = |filter: &str, wants: bool| {
            let test = prepared(filter);
            let search = Search::new(
                &c,
                &layout,
                View::Everyone,
                &group,
                &LdapSearchScope::Base,
                &test,
                wants,
                None,
            )
            .unwrap()
            .with_batch(8);
            let mut out = None;
            search
                .walk(&Position::Start, &mut |_, e| {
                    if e.parsed != group {
                        return Flow::Continue;
                    }
                    out = Some((
                        e.values("member").unwrap().len(),
                        test.eval(e) == crate::ldap::filter::Truth::True,
                    ));
                    Flow::Stop
                })
                .unwrap();
            (out.unwrap(), search.peak_held())
        };
        assert_eq!(members("(objectClass=*)", false), ((0, true), 0));
        let last = format!("member=uid=member29,ou=people,{BASE}");
        assert_eq!(members(&last, false), ((1, true), 0));
        let (listed, held) = members("(objectClass=*)", true);
        assert_eq!(listed, (30, true));
        assert!(held <= 8, "held {held}");
        assert_eq!(members("(member=*)", false).0, (30, true));
    }
}
