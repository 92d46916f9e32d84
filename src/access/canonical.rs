//! One canonical spelling of a request's host and path, so that access rules, `rd` checks
//! and the app behind the proxy agree on what was asked for, however an attacker spells it.
//!
//! Apps decode `%61` to `a`, merge `//` and resolve `..` before routing, so a rule that
//! matched the raw spelling could be walked around. The canonical path is for matching
//! only (the app still gets the request as sent):
//! - `%XX` is decoded once (`%252e` is the three characters `%2e`; a decoded `%` is
//!   written `%25`, so `%` in the result always means "an encoded byte"); control
//!   characters stay encoded (`%0A`), hex in upper case;
//! - path parameters (`;jsessionid=x`) are cut from every segment, as Tomcat-style apps
//!   do before routing: `/admin;x` and `/..;/admin` must not slip past an `/admin` rule.
//!   Apps that keep `;` literally see a path at least as deep under the same prefix;
//! - empty and `.` segments are dropped and `..` removes the segment before it;
//! - refused, because servers disagree on what they mean: an encoded `/` or `\` (unless
//!   the caller allows them, then they stay encoded: `%2F`, `%5C`), a raw `\`, NUL or any
//!   raw control character, invalid percent-encoding, bytes that are not UTF-8 once
//!   decoded (overlong `%c0%ae`), `..` above the root, and `..` right after `//` (merged
//!   first it climbs one segment more than unmerged).
//!
//! Paths are case-sensitive and stay as they are; hosts are lowercased.

use std::fmt;
use std::net::Ipv6Addr;

/// Why a host or path has no safe canonical form (Display: plain words for a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotAbsolute,
    RawControl,
    Backslash,
    EncodedSlash,
    EncodedNul,
    BadPercent,
    NotUtf8,
    AboveRoot,
    DotDotAfterEmpty,
    Userinfo,
    BadHost,
    BadPort,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotAbsolute => "the path must start with /",
            Refusal::RawControl => "the path contains a control character",
            Refusal::Backslash => "the path contains a backslash (\\ or %5C)",
            Refusal::EncodedSlash => {
                "the path contains an encoded slash (%2F or %5C); an access rule for this \
                 host can allow it with allow_encoded_slash"
            }
            Refusal::EncodedNul => "the path contains an encoded NUL (%00)",
            Refusal::BadPercent => "the path has a % that is not followed by two hex digits",
            Refusal::NotUtf8 => "the path is not valid UTF-8 once decoded",
            Refusal::AboveRoot => "the path climbs above / with ..",
            Refusal::DotDotAfterEmpty => {
                "the path has .. right after // (servers disagree on what it means)"
            }
            Refusal::Userinfo => "the host carries a user name (user@host)",
            Refusal::BadHost => "the host is not a host name or IP address",
            Refusal::BadPort => "the port is not a number from 1 to 65535",
        })
    }
}

/// The canonical form of a path (no query: the caller cuts at `?` and `#`). With
/// `encoded_slash`, `%2F` and `%5C` are kept, encoded, inside their segment.
pub fn path(raw: &str, encoded_slash: bool) -> Result<String, Refusal> {
    if !raw.starts_with('/') {
        return Err(Refusal::NotAbsolute);
    }
    if raw.bytes().any(|b| b.is_ascii_control()) {
        return Err(Refusal::RawControl);
    }
    if raw.contains('\\') {
        return Err(Refusal::Backslash);
    }
    let raw_segments: Vec<&str> = raw[1..].split('/').collect();
    let mut kept: Vec<String> = Vec::new();
    let mut previous_empty = false;
    let mut trailing_slash = false;
    for (i, raw_segment) in raw_segments.iter().enumerate() {
        let without_params = raw_segment.split(';').next().unwrap_or("");
        let segment = decode_segment(without_params, encoded_slash)?;
        let last = i + 1 == raw_segments.len();
        let empty = segment.is_empty();
        match segment.as_str() {
            "" | "." => trailing_slash = last,
            ".." => {
                if previous_empty {
                    return Err(Refusal::DotDotAfterEmpty);
                }
                kept.pop().ok_or(Refusal::AboveRoot)?;
                trailing_slash = last;
            }
            _ => {
                kept.push(segment);
                trailing_slash = false;
            }
        }
        previous_empty = empty;
    }
    let mut out = format!("/{}", kept.join("/"));
    if trailing_slash && !kept.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Decodes one segment once; see the module doc for what stays encoded or is refused.
fn decode_segment(raw: &str, encoded_slash: bool) -> Result<String, Refusal> {
    // Nothing to decode, escape or refuse: the segment is its own canonical form (the
    // common case, and forward-auth canonicalises every request).
    if !raw
        .bytes()
        .any(|b| b == b'%' || b == b'\\' || b.is_ascii_control())
    {
        return Ok(raw.to_string());
    }
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            decoded.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .ok_or(Refusal::BadPercent)?;
        // Two hex digits: always a byte.
        let b = (hex_value(hex[0]) << 4) | hex_value(hex[1]);
        match b {
            0 => return Err(Refusal::EncodedNul),
            b'/' | b'\\' if !encoded_slash => return Err(Refusal::EncodedSlash),
            _ => {}
        }
        decoded.push(b);
        i += 3;
    }
    let text = String::from_utf8(decoded).map_err(|_| Refusal::NotUtf8)?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // Only decoded bytes can be these: raw ones were refused above.
        if c == '%' || c == '/' || c == '\\' || c.is_ascii_control() {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn hex_value(h: u8) -> u8 {
    match h {
        b'0'..=b'9' => h - b'0',
        b'a'..=b'f' => h - b'a' + 10,
        _ => h - b'A' + 10,
    }
}

/// The canonical host and port of an authority (`Host` header or URL authority):
/// lowercase, without a trailing dot, IPv6 in brackets in its short form, and the port
/// only when it is not the scheme's default.
pub fn authority(raw: &str, scheme: &str) -> Result<(String, Option<u16>), Refusal> {
    if raw.contains('@') {
        return Err(Refusal::Userinfo);
    }
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or(Refusal::BadHost)?;
        let ip: Ipv6Addr = inside.parse().map_err(|_| Refusal::BadHost)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(Refusal::BadHost)?),
        };
        (format!("[{ip}]"), port)
    } else {
        let (name, port) = match raw.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (raw, None),
        };
        (host_name(name)?, port)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(parse_port(p)?),
    };
    let default = match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    Ok((host, port.filter(|p| Some(*p) != default)))
}

fn parse_port(p: &str) -> Result<u16, Refusal> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::BadPort);
    }
    p.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or(Refusal::BadPort)
}

/// A host name (or IPv4 address) without port: lowercase, one trailing dot dropped.
/// Names travel as ASCII (IDNs as punycode); anything else is refused.
pub fn host_name(raw: &str) -> Result<String, Refusal> {
    if let Some(inside) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let ip: Ipv6Addr = inside.parse().map_err(|_| Refusal::BadHost)?;
        return Ok(format!("[{ip}]"));
    }
    let name = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
        return Err(Refusal::BadHost);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &str) -> Result<String, Refusal> {
        path(raw, false)
    }

    #[test]
    fn every_spelling_of_admin_is_admin() {
        for raw in [
            "/admin",
            "/%61dmin",
            "/%61%64%6D%69%6e",
            "//admin",
            "/ad%6Din",
            "/./admin",
            "/x/../admin",
            "/x/%2e%2e/admin",
            "/x/.%2E/admin",
            "/%2e/admin",
            "/admin;jsessionid=x",
            "/admin;",
            "/public/..;/admin",
            "/public/..;x=1/admin",
            "/admin/.",
            "/admin/x/..",
        ] {
            let got = p(raw).unwrap();
            assert!(got == "/admin" || got == "/admin/", "{raw:?} -> {got:?}");
        }
        assert_eq!(p("///admin/x").unwrap(), "/admin/x");
        assert_eq!(p("/ad%6Din/").unwrap(), "/admin/");
        assert_eq!(p("/admin//x//").unwrap(), "/admin/x/");
        assert_eq!(p("/admin;a=b/x;c").unwrap(), "/admin/x");
    }

    #[test]
    fn what_cannot_be_made_canonical_is_refused() {
        for (raw, why) in [
            ("/%2Fadmin", Refusal::EncodedSlash),
            ("/%2fadmin", Refusal::EncodedSlash),
            ("/x%5Cadmin", Refusal::EncodedSlash),
            ("/x%5cadmin", Refusal::EncodedSlash),
            ("\\admin", Refusal::NotAbsolute),
            ("/\\admin", Refusal::Backslash),
            ("/x\\..\\admin", Refusal::Backslash),
            ("/admin%00", Refusal::EncodedNul),
            ("/admin\0", Refusal::RawControl),
            ("/ad\tmin", Refusal::RawControl),
            ("/admin\r\n", Refusal::RawControl),
            ("/%", Refusal::BadPercent),
            ("/%4", Refusal::BadPercent),
            ("/%zz", Refusal::BadPercent),
            ("/%+1", Refusal::BadPercent),
            ("/%c0%ae%c0%ae/admin", Refusal::NotUtf8),
            ("/%ff", Refusal::NotUtf8),
            ("/..", Refusal::AboveRoot),
            ("/../admin", Refusal::AboveRoot),
            ("/%2e%2e/admin", Refusal::AboveRoot),
            ("/x/../../admin", Refusal::AboveRoot),
            ("/..;/admin", Refusal::AboveRoot),
            ("/x//../admin", Refusal::DotDotAfterEmpty),
            ("/x/;p/../admin", Refusal::DotDotAfterEmpty),
            ("admin", Refusal::NotAbsolute),
            ("", Refusal::NotAbsolute),
        ] {
            assert_eq!(p(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn decoding_happens_once_and_case_is_kept() {
        assert_eq!(p("/%252e%252e/admin").unwrap(), "/%252e%252e/admin");
        assert_eq!(p("/a%25b").unwrap(), "/a%25b");
        assert_eq!(p("/Admin").unwrap(), "/Admin", "paths are case-sensitive");
        assert_eq!(p("/caf%C3%A9").unwrap(), "/café");
        assert_eq!(p("/café").unwrap(), "/café");
        assert_eq!(p("/a%20b").unwrap(), p("/a b").unwrap());
        assert_eq!(p("/%7Euser").unwrap(), "/~user");
        assert_eq!(
            p("/a%3Bb").unwrap(),
            "/a;b",
            "an encoded ; is data, not a parameter"
        );
        assert_eq!(
            p("/a%0ab").unwrap(),
            "/a%0Ab",
            "control characters stay encoded"
        );
        assert_eq!(p("/").unwrap(), "/");
        assert_eq!(p("//").unwrap(), "/");
        assert_eq!(p("/x/..").unwrap(), "/");
    }

    #[test]
    fn encoded_slashes_stay_encoded_when_allowed() {
        assert_eq!(path("/a%2fb/c", true).unwrap(), "/a%2Fb/c");
        assert_eq!(path("/a%5Cb", true).unwrap(), "/a%5Cb");
        assert_eq!(path("/%2F..%2Fadmin", true).unwrap(), "/%2F..%2Fadmin");
        assert_eq!(path("/a\\b", true), Err(Refusal::Backslash));
        assert_eq!(path("/%00", true), Err(Refusal::EncodedNul));
    }

    #[test]
    fn hosts_are_lowercase_without_trailing_dot_or_default_port() {
        let a = |raw: &str, scheme: &str| authority(raw, scheme);
        let app = Ok(("app.example".to_string(), None));
        assert_eq!(a("app.example", "https"), app);
        assert_eq!(a("APP.Example", "https"), app);
        assert_eq!(a("app.example.", "https"), app);
        assert_eq!(a("App.Example.:443", "https"), app);
        assert_eq!(a("app.example:80", "http"), app);
        assert_eq!(a("app.example:", "http"), app);
        assert_eq!(
            a("app.example:443", "http"),
            Ok(("app.example".to_string(), Some(443)))
        );
        assert_eq!(
            a("app.example:8443", "https"),
            Ok(("app.example".to_string(), Some(8443)))
        );
        assert_eq!(
            a("[0:0::1]:8443", "https"),
            Ok(("[::1]".to_string(), Some(8443)))
        );
        assert_eq!(a("[FE80::A]", "https"), Ok(("[fe80::a]".to_string(), None)));
        assert_eq!(
            a("192.168.1.10:80", "http"),
            Ok(("192.168.1.10".to_string(), None))
        );
        for (raw, why) in [
            ("user@app.example", Refusal::Userinfo),
            ("user:pw@app.example", Refusal::Userinfo),
            ("app.example@evil.com", Refusal::Userinfo),
            ("app.example..", Refusal::BadHost),
            ("app..example", Refusal::BadHost),
            ("", Refusal::BadHost),
            (".", Refusal::BadHost),
            ("app example", Refusal::BadHost),
            ("app.example/x", Refusal::BadHost),
            ("app.example\\x", Refusal::BadHost),
            ("app.ex%61mple", Refusal::BadHost),
            ("app.exämple", Refusal::BadHost),
            ("app.example:1:2", Refusal::BadPort),
            ("app.example:x", Refusal::BadPort),
            ("app.example:0", Refusal::BadPort),
            ("app.example:65536", Refusal::BadPort),
            ("app.example:+443", Refusal::BadPort),
            ("[::1", Refusal::BadHost),
            ("[::1]x", Refusal::BadHost),
            ("[nope]", Refusal::BadHost),
            ("::1", Refusal::BadHost),
        ] {
            assert_eq!(a(raw, "https"), Err(why), "{raw:?}");
        }
    }
}
