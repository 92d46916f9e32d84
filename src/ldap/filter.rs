//! Search filters (RFC 4511 section 4.5.1.7) evaluated against an entry, with the
//! three-valued logic the RFC asks for. Every attribute of this directory matches
//! without case (caseIgnoreMatch, distinguishedNameMatch, uuidMatch, objectIdentifier
//! names), so values compare lowercased; DN-valued attributes compare as parsed DNs.

use ldap3_proto::proto::{LdapFilter, LdapSubstringFilter};

use super::directory::Entry;
use super::dn::Dn;

/// Filters nested deeper than this are refused before evaluation: no real client needs
/// more, and evaluation recurses.
pub const MAX_DEPTH: usize = 16;
/// Filters with more parts than this are refused (a wide filter costs per entry).
pub const MAX_NODES: usize = 512;

/// RFC 4511's TRUE, FALSE and Undefined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Undefined,
}

impl From<bool> for Truth {
    fn from(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }
}

/// A filter within bounds, its assertion values lowercased once: a search evaluates it
/// on every entry, and lowercasing a 60 KB substring per entry made one request cost
/// (entries x filter size).
#[derive(Debug, Clone)]
pub struct Prepared(LdapFilter);

impl Prepared {
    /// None when the filter is out of bounds ([`within_bounds`]).
    pub fn new(f: &LdapFilter) -> Option<Prepared> {
        within_bounds(f).then(|| Prepared(lowercased(f)))
    }

    /// Whether the filter is TRUE, FALSE or Undefined for `entry`.
    pub fn eval(&self, entry: &Entry) -> Truth {
        eval(&self.0, entry)
    }
}

/// What a filter asks of some attributes: the values it compares them equal to
/// (equality or approx, anywhere in it), and whether it asks anything else of them
/// (presence, substrings, ordering), which needs every value.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Asks<'a> {
    pub equal_to: Vec<&'a str>,
    pub more: bool,
}

impl Prepared {
    /// The (attribute, lowercased value) of every equality each match must satisfy: the
    /// filter itself, or a part of its top-level AND. A search may read only the entries
    /// an index gives for one of them.
    pub fn required_equalities(&self) -> Vec<(&str, &str)> {
        let parts = match &self.0 {
            LdapFilter::And(parts) => parts.as_slice(),
            one => std::slice::from_ref(one),
        };
        parts
            .iter()
            .filter_map(|p| match p {
                LdapFilter::Equality(a, v) => Some((a.as_str(), v.as_str())),
                _ => None,
            })
            .collect()
    }

    /// What the filter asks of the attributes `names` (without case).
    pub fn asks_of(&self, names: &[&str]) -> Asks<'_> {
        fn walk<'a>(f: &'a LdapFilter, names: &[&str], out: &mut Asks<'a>) {
            let named = |a: &str| names.iter().any(|n| n.eq_ignore_ascii_case(a));
            match f {
                LdapFilter::And(v) | LdapFilter::Or(v) => {
                    v.iter().for_each(|c| walk(c, names, out))
                }
                LdapFilter::Not(c) => walk(c, names, out),
                LdapFilter::Equality(a, v) | LdapFilter::Approx(a, v) if named(a) => {
                    out.equal_to.push(v)
                }
                LdapFilter::Present(a)
                | LdapFilter::Substring(a, _)
                | LdapFilter::GreaterOrEqual(a, _)
                | LdapFilter::LessOrEqual(a, _)
                    if named(a) =>
                {
                    out.more = true
                }
                // Extensible matches are Undefined whatever the values.
                _ => {}
            }
        }
        let mut out = Asks::default();
        walk(&self.0, names, &mut out);
        out
    }
}

fn lowercased(f: &LdapFilter) -> LdapFilter {
    let low = |v: &String| v.to_lowercase();
    match f {
        LdapFilter::And(v) => LdapFilter::And(v.iter().map(lowercased).collect()),
        LdapFilter::Or(v) => LdapFilter::Or(v.iter().map(lowercased).collect()),
        LdapFilter::Not(c) => LdapFilter::Not(Box::new(lowercased(c))),
        LdapFilter::Equality(a, v) => LdapFilter::Equality(a.clone(), low(v)),
        LdapFilter::Approx(a, v) => LdapFilter::Approx(a.clone(), low(v)),
        LdapFilter::GreaterOrEqual(a, v) => LdapFilter::GreaterOrEqual(a.clone(), low(v)),
        LdapFilter::LessOrEqual(a, v) => LdapFilter::LessOrEqual(a.clone(), low(v)),
        LdapFilter::Substring(a, sub) => LdapFilter::Substring(
            a.clone(),
            LdapSubstringFilter {
                initial: sub.initial.as_ref().map(low),
                any: sub.any.iter().map(low).collect(),
                final_: sub.final_.as_ref().map(low),
            },
        ),
        other => other.clone(),
    }
}

/// Whether the filter stays within MAX_DEPTH and MAX_NODES.
pub fn within_bounds(f: &LdapFilter) -> bool {
    fn walk(f: &LdapFilter, depth: usize, nodes: &mut usize) -> bool {
        *nodes += 1;
        if depth > MAX_DEPTH || *nodes > MAX_NODES {
            return false;
        }
        match f {
            LdapFilter::And(v) | LdapFilter::Or(v) => v.iter().all(|c| walk(c, depth + 1, nodes)),
            LdapFilter::Not(c) => walk(c, depth + 1, nodes),
            _ => true,
        }
    }
    walk(f, 1, &mut 0)
}

/// Attributes whose values are DNs.
fn is_dn_valued(attr: &str) -> bool {
    ["member", "uniqueMember", "memberOf"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(attr))
}

/// Evaluates `f`, its assertion values lowercased ([`Prepared`]), on `entry`.
fn eval(f: &LdapFilter, entry: &Entry) -> Truth {
    match f {
        LdapFilter::And(parts) => {
            let mut out = Truth::True;
            for p in parts {
                match eval(p, entry) {
                    Truth::False => return Truth::False,
                    Truth::Undefined => out = Truth::Undefined,
                    Truth::True => {}
                }
            }
            out
        }
        LdapFilter::Or(parts) => {
            let mut out = Truth::False;
            for p in parts {
                match eval(p, entry) {
                    Truth::True => return Truth::True,
                    Truth::Undefined => out = Truth::Undefined,
                    Truth::False => {}
                }
            }
            out
        }
        LdapFilter::Not(inner) => match eval(inner, entry) {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Undefined => Truth::Undefined,
        },
        LdapFilter::Present(attr) => entry.values(attr).is_some_and(|v| !v.is_empty()).into(),
        LdapFilter::Equality(attr, value) | LdapFilter::Approx(attr, value) => {
            any_value(entry, attr, |v| equal(attr, v, value))
        }
        LdapFilter::Substring(attr, sub) => any_value(entry, attr, |v| substring(v, sub)),
        LdapFilter::GreaterOrEqual(attr, value) => {
            any_value(entry, attr, |v| v.to_lowercase() >= *value)
        }
        LdapFilter::LessOrEqual(attr, value) => {
            any_value(entry, attr, |v| v.to_lowercase() <= *value)
        }
        // No extensible matching rules here: RFC 4511 makes an unknown rule Undefined.
        LdapFilter::Extensible(_) => Truth::Undefined,
    }
}

/// TRUE when some value of `attr` passes; FALSE when none does or the entry has none.
fn any_value(entry: &Entry, attr: &str, test: impl Fn(&str) -> bool) -> Truth {
    entry
        .values(attr)
        .is_some_and(|vals| vals.iter().any(|v| test(v)))
        .into()
}

fn equal(attr: &str, stored: &str, asserted: &str) -> bool {
    if is_dn_valued(attr) {
        if let (Some(a), Some(b)) = (Dn::parse(stored), Dn::parse(asserted)) {
            return a == b;
        }
    }
    stored.to_lowercase() == asserted
}

/// initial*any*...*final, in order, without overlap, without case (the parts are
/// lowercased already).
fn substring(value: &str, sub: &LdapSubstringFilter) -> bool {
    let value = value.to_lowercase();
    let mut rest = value.as_str();
    if let Some(initial) = &sub.initial {
        match rest.strip_prefix(initial.as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    for any in &sub.any {
        match rest.find(any.as_str()) {
            Some(at) => rest = &rest[at + any.len()..],
            None => return false,
        }
    }
    match &sub.final_ {
        Some(fin) => rest.ends_with(fin.as_str()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::parse_ldap_filter_str;

    fn person() -> Entry {
        let dn = "uid=Alice,ou=people,dc=authportal,dc=local".to_string();
        Entry {
            parsed: Dn::parse(&dn).unwrap(),
            kind: crate::ldap::directory::Kind::Person,
            dn,
            attrs: vec![
                ("objectClass", vec!["inetOrgPerson".into(), "person".into()]),
                ("uid", vec!["Alice".into()]),
                ("mail", vec!["alice@example.com".into()]),
                (
                    "memberOf",
                    vec!["cn=plex-friend,ou=groups,dc=authportal,dc=local".into()],
                ),
            ],
        }
    }

    fn check(filter: &str) -> Truth {
        let f = parse_ldap_filter_str(filter).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
        ev(&f, &person())
    }

    fn ev(f: &LdapFilter, e: &Entry) -> Truth {
        Prepared::new(f).expect("within bounds").eval(e)
    }

    #[test]
    fn equality_presence_and_substrings_ignore_case() {
        use Truth::*;
        for (filter, want) in [
            ("(uid=alice)", True),
            ("(UID=ALICE)", True),
            ("(objectclass=INETORGPERSON)", True),
            ("(uid=bob)", False),
            ("(mail=*)", True),
            ("(cn=*)", False),
            ("(mail=ALI*)", True),
            ("(mail=*@EXAMPLE.com)", True),
            ("(mail=a*ce*ex*com)", True),
            ("(mail=a*ex*ce*com)", False),
            ("(mail=alice*alice@example.com)", False),
            ("(memberOf=*)", True),
            ("(uid>=a)", True),
            ("(uid<=a)", False),
        ] {
            assert_eq!(check(filter), want, "{filter}");
        }
    }

    #[test]
    fn and_or_not_follow_three_valued_logic() {
        use Truth::*;
        for (filter, want) in [
            ("(&(uid=alice)(objectClass=person))", True),
            ("(&(uid=alice)(objectClass=groupOfNames))", False),
            ("(|(uid=bob)(mail=alice@example.com))", True),
            ("(!(uid=bob))", True),
            ("(!(uid=alice))", False),
            ("(uid:caseExactMatch:=Alice)", Undefined),
            ("(!(uid:caseExactMatch:=Alice))", Undefined),
            ("(|(uid:caseExactMatch:=Alice)(uid=alice))", True),
            ("(&(uid:caseExactMatch:=Alice)(uid=bob))", False),
            ("(&(uid:caseExactMatch:=Alice)(uid=alice))", Undefined),
        ] {
            assert_eq!(check(filter), want, "{filter}");
        }
    }

    /// Values arrive unescaped in BER (RFC 4515 escapes are the client's string form):
    /// a `*` or `(` in an equality or substring value is literal.
    #[test]
    fn special_characters_in_values_match_literally() {
        let mut e = person();
        e.attrs[1].1 = vec!["a*b(c)\\d".into()];
        let eq = |v: &str| LdapFilter::Equality("uid".into(), v.into());
        assert_eq!(ev(&eq("A*B(c)\\d"), &e), Truth::True);
        assert_eq!(ev(&eq("a*"), &e), Truth::False);
        let sub = |initial: &str| {
            LdapFilter::Substring(
                "uid".into(),
                LdapSubstringFilter {
                    initial: Some(initial.into()),
                    any: vec![],
                    final_: None,
                },
            )
        };
        assert_eq!(ev(&sub("a*b("), &e), Truth::True);
        assert_eq!(ev(&sub("ab"), &e), Truth::False);
        let spaced = LdapFilter::Equality(
            "memberOf".into(),
            "cn=plex-friend , ou=Groups,dc=authportal, dc=local".into(),
        );
        assert_eq!(ev(&spaced, &person()), Truth::True, "DNs compare parsed");
        let other = LdapFilter::Equality(
            "memberOf".into(),
            "cn=plex-home,ou=groups,dc=authportal,dc=local".into(),
        );
        assert_eq!(ev(&other, &person()), Truth::False);
    }

    #[test]
    fn required_equalities_are_the_filter_or_its_top_level_and() {
        let p = |f: &str| Prepared::new(&parse_ldap_filter_str(f).unwrap()).unwrap();
        assert_eq!(p("(uid=Alice)").required_equalities(), [("uid", "alice")]);
        assert_eq!(
            p("(&(objectClass=person)(mail=A@B)(!(uid=x)))").required_equalities(),
            [("objectClass", "person"), ("mail", "a@b")]
        );
        assert!(p("(|(uid=a)(uid=b))").required_equalities().is_empty());
        assert!(p("(!(uid=a))").required_equalities().is_empty());
        let asks = p("(|(member=A)(&(cn=g)(!(uniqueMember=b))))");
        assert_eq!(
            asks.asks_of(&["member", "uniqueMember"]),
            Asks {
                equal_to: vec!["a", "b"],
                more: false
            }
        );
        assert!(p("(member=*)").asks_of(&["member"]).more);
        assert!(p("(member=a*)").asks_of(&["member"]).more);
        assert_eq!(p("(cn=x)").asks_of(&["member"]), Asks::default());
    }

    #[test]
    fn deep_or_wide_filters_are_out_of_bounds() {
        let mut deep = LdapFilter::Present("uid".into());
        for _ in 0..MAX_DEPTH {
            deep = LdapFilter::Not(Box::new(deep));
        }
        assert!(!within_bounds(&deep));
        let wide = LdapFilter::Or(vec![LdapFilter::Present("uid".into()); MAX_NODES + 1]);
        assert!(!within_bounds(&wide));
        let fine = LdapFilter::And(vec![LdapFilter::Present("uid".into()); 10]);
        assert!(within_bounds(&fine));
    }
}
