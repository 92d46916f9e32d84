//! Parsing requests (pure functions): heads with httparse, framing (Content-Length,
//! chunked), chunk-size lines and trailers; every ambiguity is refused.

use super::{HEAD_LIMIT, MAX_HEADERS};

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) http10: bool,
    pub(super) headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    None,
    Length(usize),
    Chunked,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Meta {
    pub(super) framing: Framing,
    pub(super) keep_alive: bool,
    pub(super) expect_continue: bool,
    pub(super) http10: bool,
}

/// Index just past the blank line ending a head, searching for its first LF from
/// `from`. Bare LFs end it too, so such a head is refused (400) at once.
pub(super) fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from.min(buf.len());
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let lf = i + p;
        let rest = &buf[lf + 1..];
        if rest.starts_with(b"\n") {
            return Some(lf + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(lf + 3);
        }
        i = lf + 1;
    }
    None
}

/// A token character (RFC 9110 5.6.2), as header names are made of. A `matches!`, which
/// compiles to a bit test, rather than a search of the list: every answer's header names
/// go through here byte by byte.
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Whether `bytes` holds an LF not preceded by CR. httparse takes a bare LF as a line
/// end; a proxy that does not would read different lines from the same bytes.
fn has_bare_lf(bytes: &[u8]) -> bool {
    bare_lf_from(bytes, 0)
}

/// [`has_bare_lf`] looking only at LFs from index `from` on.
pub(super) fn bare_lf_from(bytes: &[u8], from: usize) -> bool {
    (from..bytes.len()).any(|i| bytes[i] == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// httparse with every leniency off. Its defaults are strict for requests already; they
/// are spelled out so a version that changes a default cannot loosen this silently.
fn request_parser() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config
        .allow_multiple_spaces_in_request_line_delimiters(false)
        .ignore_invalid_headers_in_requests(false)
        .allow_space_before_first_header_name(false)
        .allow_spaces_after_header_name_in_responses(false)
        .allow_obsolete_multiline_headers_in_responses(false);
    config
}

/// 505 for a well-formed version other than 1.0 and 1.1 (httparse calls any other
/// version malformed, which would be a 400).
fn unsupported_version(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\r').next()?;
    let version = line.rsplit(|&b| b == b' ').next()?;
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit()
                && minor.is_ascii_digit()
                && !(*major == b'1' && matches!(minor, b'0' | b'1')) =>
        {
            Some(505)
        }
        _ => None,
    }
}

/// Parses a complete head (request line and header fields, ending with the blank line)
/// with httparse. Bare LF line ends, obs-fold continuation lines, whitespace before a
/// colon and control characters are all refused (400).
pub(super) fn parse_head(bytes: &[u8]) -> Result<Head, u16> {
    if has_bare_lf(bytes) {
        return Err(400);
    }
    if let Some(status) = unsupported_version(bytes) {
        return Err(status);
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    match request_parser().parse_request(&mut parsed, bytes) {
        Ok(httparse::Status::Complete(n)) if n == bytes.len() => {}
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        _ => return Err(400),
    }
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(400);
    };
    // httparse lets bytes above 0x7f through in the target; a target is ASCII, and has
    // no fragment.
    if target.is_empty()
        || !target
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b'#')
    {
        return Err(400);
    }
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_string(), header_text(trim_whitespace(h.value))))
        .collect();
    let target = if target.starts_with('/') || (target == "*" && method == "OPTIONS") {
        target.to_string()
    } else {
        // absolute-form (RFC 9112, 3.2.2): keep the path and query. Its host must be the
        // Host header's: a proxy may route by one while the handler reads the other.
        let rest = target
            .strip_prefix("http://")
            .or_else(|| target.strip_prefix("https://"))
            .ok_or(400u16)?;
        let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let host = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("Host"));
        if authority.is_empty() || host.is_some_and(|(_, h)| !h.eq_ignore_ascii_case(authority)) {
            return Err(400);
        }
        match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        }
    };
    Ok(Head {
        method: method.to_string(),
        target,
        http10: version == 0,
        headers,
    })
}

/// The first value of the header `name` (any case).
pub(super) fn header<'a>(head: &'a Head, name: &str) -> Option<&'a str> {
    head.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether a comma-separated header value lists `token` (any case).
pub(super) fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// What the headers say about the body and the connection. Every framing a proxy in
/// front could read differently is refused: both framings, a repeated or listed
/// Content-Length, an empty Transfer-Encoding element, any coding but `chunked` alone.
pub(super) fn analyse(head: &Head, body_limit: usize) -> Result<Meta, u16> {
    let mut hosts = 0;
    let mut length: Option<usize> = None;
    let mut transfer_encodings: Vec<&str> = Vec::new();
    let (mut close, mut keep_alive_token, mut expect_continue) = (false, false, false);
    for (name, value) in &head.headers {
        let name = name.as_str();
        if name.eq_ignore_ascii_case("Host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("Content-Length") {
            let v = value.as_str();
            if length.is_some()
                || v.is_empty()
                || v.len() > 19
                || !v.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(400);
            }
            let n: u64 = v.parse().map_err(|_| 400u16)?;
            length = Some(usize::try_from(n).unwrap_or(usize::MAX));
        } else if name.eq_ignore_ascii_case("Transfer-Encoding") {
            transfer_encodings.extend(value.split(',').map(str::trim));
        } else if name.eq_ignore_ascii_case("Connection") {
            close |= has_token(value, "close");
            keep_alive_token |= has_token(value, "keep-alive");
        } else if name.eq_ignore_ascii_case("Expect") {
            if value.eq_ignore_ascii_case("100-continue") {
                expect_continue = true;
            } else {
                return Err(417);
            }
        }
    }
    if hosts > 1 || (hosts == 0 && !head.http10) {
        return Err(400);
    }
    let framing = if !transfer_encodings.is_empty() {
        // Both framings at once is how requests are smuggled past proxies: refuse.
        if length.is_some() || head.http10 || transfer_encodings.contains(&"") {
            return Err(400);
        }
        match transfer_encodings.as_slice() {
            [te] if te.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => return Err(501),
        }
    } else {
        match length {
            Some(n) if n > body_limit => return Err(413),
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };
    Ok(Meta {
        framing,
        keep_alive: !close && (!head.http10 || keep_alive_token),
        expect_continue: expect_continue && !head.http10,
        http10: head.http10,
    })
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Chunked {
    /// The body is complete; it took this many bytes of the input (trailers included).
    Done(usize),
    /// More input needed.
    Partial,
    Invalid(u16),
}

/// Decodes a chunked body (RFC 9112, 7.1) from the start of a buffer that grows between
/// calls. It resumes where it stopped, so a client dribbling bytes costs linear work.
/// Chunk extensions and trailer fields are checked and dropped.
#[derive(Debug, Default)]
pub(super) struct ChunkedDecoder {
    pub(super) body: Vec<u8>,
    /// Start of the element (size line, chunk, trailer section) being decoded.
    pos: usize,
    /// Where to resume looking for the end of the current line or section.
    scanned: usize,
    /// Set once the last chunk is read: where the trailer section starts.
    trailers_at: Option<usize>,
}

/// Longest chunk-size line (with extensions) accepted.
const CHUNK_LINE_LIMIT: usize = 1024;

impl ChunkedDecoder {
    pub(super) fn step(&mut self, buf: &[u8], limit: usize) -> Chunked {
        loop {
            if let Some(t) = self.trailers_at {
                return self.trailers(buf, t);
            }
            let from = self.scanned.max(self.pos);
            let Some(nl) = buf[from..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| from + i)
            else {
                self.scanned = buf.len();
                return if buf.len() - self.pos > CHUNK_LINE_LIMIT {
                    Chunked::Invalid(400)
                } else {
                    Chunked::Partial
                };
            };
            let line = &buf[self.pos..=nl];
            if line.len() > CHUNK_LINE_LIMIT {
                return Chunked::Invalid(400);
            }
            let Some(size) = chunk_size(line) else {
                return Chunked::Invalid(400);
            };
            if size == 0 {
                self.pos = nl + 1;
                self.scanned = self.pos;
                self.trailers_at = Some(self.pos);
                continue;
            }
            let room = (limit - self.body.len()) as u64;
            if size > room {
                return Chunked::Invalid(413);
            }
            // Fits in usize: it is at most `limit`.
            let size = size as usize;
            let data = nl + 1;
            if buf.len() < data + size + 2 {
                // Resume at this size line once the whole chunk is in.
                self.scanned = self.pos;
                return Chunked::Partial;
            }
            if &buf[data + size..data + size + 2] != b"\r\n" {
                return Chunked::Invalid(400);
            }
            self.body.extend_from_slice(&buf[data..data + size]);
            self.pos = data + size + 2;
        }
    }

    /// The trailer section from `start` (field lines, then an empty line), parsed with
    /// httparse and dropped.
    fn trailers(&mut self, buf: &[u8], start: usize) -> Chunked {
        let section = &buf[start..];
        if section.starts_with(b"\r\n") {
            return Chunked::Done(start + 2);
        }
        let from = self.scanned.saturating_sub(start + 3);
        let end = section[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| from + i + 4);
        let Some(end) = end else {
            self.scanned = buf.len();
            return if bare_lf_from(section, from) {
                Chunked::Invalid(400)
            } else if section.len() > HEAD_LIMIT {
                Chunked::Invalid(431)
            } else {
                Chunked::Partial
            };
        };
        if end > HEAD_LIMIT {
            return Chunked::Invalid(431);
        }
        let fields = &section[..end];
        if has_bare_lf(fields) {
            return Chunked::Invalid(400);
        }
        let mut parsed = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::parse_headers(fields, &mut parsed) {
            Ok(httparse::Status::Complete((n, _))) if n == end => Chunked::Done(start + end),
            Err(httparse::Error::TooManyHeaders) => Chunked::Invalid(431),
            _ => Chunked::Invalid(400),
        }
    }
}

/// The size a chunk-size line (with its CRLF) announces, None if it is not exactly
/// `1*HEXDIG [BWS ";" ext] CRLF`. httparse reads the number (and refuses more than 16
/// digits); the checks before it refuse what it lets pass: an empty size (taken as 0),
/// whitespace before or after the size without an extension, and any control
/// character (bare CR or LF, NUL) in an extension.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let content = line.strip_suffix(b"\r\n")?;
    let digits = content
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(content.len());
    if digits == 0
        || content
            .iter()
            .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
    {
        return None;
    }
    let rest = &content[digits..];
    if !rest.is_empty() && !trim_whitespace(rest).starts_with(b";") {
        return None;
    }
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((n, size))) if n == line.len() => Some(size),
        _ => None,
    }
}

/// Strips spaces and tabs (HTTP's optional whitespace) at both ends.
/// A header value as text, a byte that is not UTF-8 replaced by U+FFFD. Checked with
/// `from_utf8` first: it reads ASCII (nearly every value) many bytes at a time, where
/// the lossy conversion goes a byte at a time.
fn header_text(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(value).into_owned(),
    }
}

fn trim_whitespace(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::server::BODY_LIMIT;

    fn head(text: &str) -> Result<Head, u16> {
        let bytes = text.as_bytes();
        let end = head_end(bytes, 0).expect("a complete head");
        parse_head(&bytes[..end])
    }

    fn meta(text: &str) -> Result<Meta, u16> {
        analyse(&head(text)?, BODY_LIMIT)
    }

    #[test]
    fn token_characters_are_those_of_rfc_9110() {
        for b in 0..=255u8 {
            let listed = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), listed, "byte {b}");
        }
    }

    #[test]
    fn parses_a_request_head() {
        let h = head(
            "GET /whoami?x=1 HTTP/1.1\r\nHost: a.example\r\nCookie:  a=b \r\nX-Empty:\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/whoami?x=1");
        assert!(!h.http10);
        assert_eq!(
            h.headers,
            vec![
                ("Host".to_string(), "a.example".to_string()),
                ("Cookie".to_string(), "a=b".to_string()),
                ("X-Empty".to_string(), String::new()),
            ]
        );
        let h = head("POST / HTTP/1.0\r\nHost: a\r\n\r\n").unwrap();
        assert!(h.http10);
        assert_eq!(h.headers.len(), 1);
    }

    #[test]
    fn absolute_form_targets_keep_path_and_query() {
        assert_eq!(
            head("GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n")
                .unwrap()
                .target,
            "/x?y"
        );
        assert_eq!(
            head("GET https://a.example HTTP/1.1\r\nHost: A.example\r\n\r\n")
                .unwrap()
                .target,
            "/"
        );
        assert_eq!(
            head("GET http://a.example:8089?q HTTP/1.1\r\nHost: a.example:8089\r\n\r\n")
                .unwrap()
                .target,
            "/?q"
        );
        assert_eq!(
            head("GET http://a.example/x HTTP/1.0\r\n\r\n")
                .unwrap()
                .target,
            "/x"
        );
        // A host in the target unlike the Host header: which one routes? Refused.
        assert_eq!(
            head("GET http://evil.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n"),
            Err(400)
        );
        assert_eq!(head("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), Err(400));
        assert_eq!(head("GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n"), Err(400));
        assert_eq!(
            head("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap()
                .target,
            "*"
        );
        assert_eq!(head("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), Err(400));
        assert_eq!(head("GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n"), Err(400));
    }

    #[test]
    fn refuses_malformed_heads() {
        for bad in [
            "GET /\r\n\r\n",
            "GET  / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1 \r\n\r\n",
            "GET / http/1.1\r\n\r\n",
            "GET / HTTP/1\r\n\r\n",
            "GET / HTTP/1.10\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "GET /a\x01b HTTP/1.1\r\n\r\n",
            "GET /\x7f HTTP/1.1\r\n\r\n",
            "GET /caf\u{e9} HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\r\r\n\r\n",
            // Bare LF line ends, anywhere.
            "GET / HTTP/1.1\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n\n",
            "GET / HTTP/1.0\n\n",
            "GET / HTTP/1.1\r\nX: a\nb\r\n\r\n",
            "GET / HTTP/1.1\r\nHost:\ta\r\n\tfolded\r\n\r\n",
            "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
            "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHo\x00st: a\r\n\r\n",
            "GET / HTTP/1.1\r\nX: \x1b[0m\r\n\r\n",
            "GET / HTTP/1.1\rHost: a\r\n\r\n",
        ] {
            assert_eq!(head(bad), Err(400), "{bad:?}");
        }
        assert_eq!(head("GET / HTTP/2.0\r\n\r\n"), Err(505));
        assert_eq!(head("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Err(505));
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X: y\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(head(&many), Err(431));
        // Bytes above 0x7f in a value (obs-text) are passed on, not a reason to fail.
        let h = parse_head(b"GET / HTTP/1.1\r\nX: a\xffb\r\n\r\n").unwrap();
        assert_eq!(h.headers[0].1, "a\u{fffd}b");
    }

    #[test]
    fn finds_the_end_of_a_head_incrementally() {
        let text = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT";
        assert_eq!(head_end(text, 0), Some(text.len() - 4));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nX", 0), Some(16));
        // Resuming two bytes back still sees a terminator split across reads.
        for cut in 1..text.len() - 4 {
            assert_eq!(head_end(&text[..cut], 0), None, "cut at {cut}");
            assert_eq!(head_end(text, cut.saturating_sub(2)), Some(text.len() - 4));
        }
    }

    #[test]
    fn framing_and_connection() {
        let m = meta("GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(
            (m.framing, m.keep_alive, m.expect_continue),
            (Framing::None, true, false)
        );
        let m = meta("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!(m.framing, Framing::Length(5));
        let m = meta("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").unwrap();
        assert_eq!(m.framing, Framing::Chunked);
        let m = meta("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, Close\r\n\r\n").unwrap();
        assert!(!m.keep_alive);
        assert!(!meta("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        let m = meta("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(m.keep_alive && m.http10);
        let m =
            meta("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
        assert!(m.unwrap().expect_continue);
        let limit = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {BODY_LIMIT}\r\n\r\n");
        assert_eq!(meta(&limit).unwrap().framing, Framing::Length(BODY_LIMIT));
    }

    #[test]
    fn refuses_ambiguous_or_unsupported_framing() {
        let cases = [
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
                400,
            ),
            // Even repeated with the same value: one Content-Length, one number.
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
                400,
            ),
            // An empty or comma-only Transfer-Encoding is not "no Transfer-Encoding".
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
                501,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
                501,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65538\r\n\r\n",
                413,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999\r\n\r\n",
                413,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                501,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                501,
            ),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n",
                417,
            ),
        ];
        for (text, status) in cases {
            assert_eq!(meta(text), Err(status), "{text:?}");
        }
    }

    fn decode_all(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize), u16> {
        let mut d = ChunkedDecoder::default();
        match d.step(input, limit) {
            Chunked::Done(used) => Ok((d.body, used)),
            Chunked::Partial => Err(0),
            Chunked::Invalid(s) => Err(s),
        }
    }

    #[test]
    fn decodes_chunked_bodies() {
        let input =
            b"5;ext=1\r\nhello\r\n7 ; e=\"q\"\r\n, world\r\n0\r\nTrailer: x\r\n\r\nGET /next";
        let (body, used) = decode_all(input, BODY_LIMIT).unwrap();
        assert_eq!(body, b"hello, world");
        assert_eq!(&input[used..], b"GET /next");
        assert_eq!(
            decode_all(b"0\r\n\r\n", BODY_LIMIT).unwrap(),
            (Vec::new(), 5)
        );
        assert_eq!(
            decode_all(b"A\r\n0123456789\r\n0000\r\n\r\n", BODY_LIMIT)
                .unwrap()
                .0,
            b"0123456789"
        );
        // Fed one byte at a time, the resumable decoder gets the same result.
        let mut d = ChunkedDecoder::default();
        let mut done = None;
        for n in 1..=input.len() {
            match d.step(&input[..n], BODY_LIMIT) {
                Chunked::Partial => {}
                Chunked::Done(used) => {
                    done = Some(used);
                    break;
                }
                Chunked::Invalid(s) => panic!("invalid {s} at {n}"),
            }
        }
        assert_eq!(done, Some(input.len() - 9));
        assert_eq!(d.body, b"hello, world");
    }

    #[test]
    fn refuses_bad_chunked_bodies() {
        assert_eq!(decode_all(b"5\r\nhelloXX0\r\n\r\n", BODY_LIMIT), Err(400));
        assert_eq!(decode_all(b"g\r\n", BODY_LIMIT), Err(400));
        assert_eq!(decode_all(b"\r\n", BODY_LIMIT), Err(400));
        assert_eq!(decode_all(b"-1\r\n", BODY_LIMIT), Err(400));
        assert_eq!(decode_all(b"123456789\r\n", BODY_LIMIT), Err(413));
        assert_eq!(decode_all(b"ffffffff\r\n", BODY_LIMIT), Err(413));
        assert_eq!(decode_all(b"ffffffffffffffff\r\n", BODY_LIMIT), Err(413));
        // What httparse alone would let through: each a way to read the body differently.
        for bad in [
            &b"1ffffffffffffffff\r\n"[..], // overflows 64 bits
            b"0000000000000000005\r\n",    // more than 16 digits
            b"5\nhello\r\n0\r\n\r\n",      // bare LF after the size
            b" 5\r\nhello\r\n0\r\n\r\n",   // leading space
            b"5 \r\nhello\r\n0\r\n\r\n",   // trailing space without an extension
            b"\t5\r\nhello\r\n0\r\n\r\n",
            b"5;a\rb\r\nhello\r\n0\r\n\r\n", // bare CR in an extension
            b"5;a\nb\r\nhello\r\n0\r\n\r\n", // bare LF in an extension
            b"5;a\x00\r\nhello\r\n0\r\n\r\n", // NUL in an extension
            b" \r\n\r\n",                    // no digits (httparse: size 0)
            b"\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n", // chunk data not ended by CRLF
            b"0\r\nX: a\x00\r\n\r\n", // NUL in a trailer
            b"0\r\nno colon\r\n\r\n", // colon-less trailer line
            b"0\r\nX: a\n\r\n",       // bare LF in trailers
            b"0\r\nX: a\r\n\n",
            b"0\r\n\n",
            b"0\r\nX : a\r\n\r\n",
            b"0\r\nX: a\r\n folded\r\n\r\n",
        ] {
            assert_eq!(
                decode_all(bad, BODY_LIMIT),
                Err(400),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(decode_all(b"6\r\nhello!\r\n5\r\n", 10), Err(413));
        let long_ext = format!("5;{}", "x".repeat(2000));
        assert_eq!(decode_all(long_ext.as_bytes(), BODY_LIMIT), Err(400));
        let long_trailer = format!("0\r\nX: {}", "x".repeat(HEAD_LIMIT + 1));
        assert_eq!(decode_all(long_trailer.as_bytes(), BODY_LIMIT), Err(431));
        assert_eq!(decode_all(b"5\r\nhel", BODY_LIMIT), Err(0));
    }

    /// Hostile input through every parser: nothing may panic.
    #[test]
    fn random_input_never_panics() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"GET POST/ HTTP/1.01\r\n:;,0123456789abcdefxXHost Content-Length Transfer-Encoding chunked\x00\x7f\xff\t ";
        for _ in 0..20_000 {
            let len = (next() % 200) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let from = (next() % (len as u64 + 1)) as usize;
            if let Some(end) = head_end(&input, from)
                && let Ok(h) = parse_head(&input[..end])
            {
                let _ = analyse(&h, BODY_LIMIT);
            }
            let _ = ChunkedDecoder::default().step(&input, 100);
        }
    }
}
