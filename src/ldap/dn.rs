//! Distinguished names (RFC 4514) as far as the directory needs them: parsing with
//! escapes into a normal form to compare (attribute types and values without case, as
//! the directory's attributes all match without case), and escaping values into DNs.

/// A parsed DN: its RDNs from the leaf up. Multi-valued RDNs (`a=1+b=2`) are not part
/// of this directory and do not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(pub Vec<Rdn>);

/// One `type=value`: the type lowercased, the value unescaped as written and lowercased
/// (RDNs compare by type and lowercased value).
#[derive(Debug, Clone)]
pub struct Rdn {
    pub attr: String,
    pub value: String,
    norm: String,
}

impl PartialEq for Rdn {
    fn eq(&self, other: &Rdn) -> bool {
        self.attr == other.attr && self.norm == other.norm
    }
}

impl Eq for Rdn {}

impl Rdn {
    fn new(attr: &str, value: &str) -> Rdn {
        Rdn {
            attr: attr.to_ascii_lowercase(),
            value: value.to_string(),
            norm: value.to_lowercase(),
        }
    }
}

/// Longest DN accepted: no name in this directory comes near it.
const MAX_DN_LEN: usize = 1024;

impl Dn {
    /// The root (empty DN).
    pub fn root() -> Dn {
        Dn(Vec::new())
    }

    /// Parses `s`; None when it is not a DN this directory could hold.
    pub fn parse(s: &str) -> Option<Dn> {
        if s.len() > MAX_DN_LEN {
            return None;
        }
        let s = s.trim();
        if s.is_empty() {
            return Some(Dn::root());
        }
        let mut rdns = Vec::new();
        let mut chars = s.chars().peekable();
        loop {
            let mut attr = String::new();
            for c in chars.by_ref() {
                if c == '=' {
                    break;
                }
                attr.push(c);
            }
            let attr = attr.trim().to_ascii_lowercase();
            if attr.is_empty()
                || !attr
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                return None;
            }
            let mut value: Vec<u8> = Vec::new();
            // Spaces that were escaped count; trailing unescaped ones do not.
            let mut keep = 0;
            let mut ended = false;
            while let Some(c) = chars.next() {
                match c {
                    ',' => {
                        ended = true;
                        break;
                    }
                    '+' | '=' | '"' | ';' | '<' | '>' => return None,
                    '\\' => {
                        let first = chars.next()?;
                        if first.is_ascii_hexdigit() {
                            let second = chars.next()?;
                            let hex: String = [first, second].iter().collect();
                            value.push(u8::from_str_radix(&hex, 16).ok()?);
                        } else {
                            let mut buf = [0u8; 4];
                            value.extend_from_slice(first.encode_utf8(&mut buf).as_bytes());
                        }
                        keep = value.len();
                    }
                    ' ' if value.is_empty() => {}
                    c => {
                        let mut buf = [0u8; 4];
                        value.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        if c != ' ' {
                            keep = value.len();
                        }
                    }
                }
            }
            value.truncate(keep);
            let value = String::from_utf8(value).ok()?;
            if value.is_empty() {
                return None;
            }
            rdns.push(Rdn::new(&attr, &value));
            if !ended {
                break;
            }
        }
        Some(Dn(rdns))
    }

    /// Whether `self` is `base` or below it.
    pub fn is_within(&self, base: &Dn) -> bool {
        self.0.len() >= base.0.len() && self.0.ends_with(&base.0)
    }

    /// The DN one level up (the root's parent is the root).
    pub fn parent(&self) -> Dn {
        Dn(self.0.iter().skip(1).cloned().collect())
    }

    /// The leaf RDN's (type, value) when the DN sits directly below `parent`.
    pub fn leaf_below<'a>(&'a self, parent: &Dn) -> Option<(&'a str, &'a str)> {
        if self.0.len() == parent.0.len() + 1 && self.0.ends_with(&parent.0) {
            self.0.first().map(|r| (r.attr.as_str(), r.value.as_str()))
        } else {
            None
        }
    }

    /// Prepends one RDN.
    pub fn child(&self, attr: &str, value: &str) -> Dn {
        let mut rdns = vec![Rdn::new(attr, value)];
        rdns.extend(self.0.iter().cloned());
        Dn(rdns)
    }
}

/// Escapes an attribute value for use in a DN string (RFC 4514 section 2.4).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escapes_and_compares_without_case_or_spaces() {
        let a = Dn::parse("uid=Alice,ou=People, dc=AuthPortal,dc=local").unwrap();
        let b = Dn::parse("UID=alice , OU=people,DC=authportal,DC=LOCAL").unwrap();
        assert_eq!(a, b);
        let odd = Dn::parse(r"uid=a\,b\2Bc\ ,ou=people").unwrap();
        assert_eq!(odd.0[0].value, "a,b+c ");
        let name = "#o'neil, jr+ ";
        assert_eq!(
            Dn::parse(&format!("uid={},ou=x", escape_value(name)))
                .unwrap()
                .0[0]
                .value,
            name
        );
        let base = Dn::parse("dc=authportal,dc=local").unwrap();
        assert!(a.is_within(&base));
        assert_eq!(a.parent().leaf_below(&base), Some(("ou", "People")));
    }

    #[test]
    fn refuses_what_is_not_a_simple_dn() {
        for bad in [
            "uid",
            "=x",
            "uid=",
            "uid=a+cn=b",
            "uid=a,",
            r"uid=a\",
            r"uid=a\4",
            r"uid=\ff\fe",
            "u id=x",
        ] {
            assert_eq!(Dn::parse(bad), None, "{bad}");
        }
        assert_eq!(Dn::parse(&"a".repeat(2000)), None);
        assert_eq!(Dn::parse(" "), Some(Dn::root()));
    }
}
