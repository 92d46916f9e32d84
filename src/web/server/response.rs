//! Writing answers: the status line and headers the server owns, error answers of this
//! layer, the Date header.

use super::parse::is_tchar;

/// Headers the server sets itself; a handler's values for them are ignored (as rouille
/// documents for `Response::headers`).
const OWN_HEADERS: [&str; 9] = [
    "Accept-Ranges",
    "Connection",
    "Content-Length",
    "Content-Range",
    "Date",
    "Keep-Alive",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
];

/// Status line and headers, without Content-Length and the final blank line.
pub(super) fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(
        std::borrow::Cow<'static, str>,
        std::borrow::Cow<'static, str>,
    )],
    keep_alive: bool,
    http10: bool,
) {
    let status = if (100..1000).contains(&status) {
        status
    } else {
        500
    };
    // Three digits, written without format!: this runs for every answer.
    let digits = [100, 10, 1].map(|d| b'0' + (status / d % 10) as u8);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&digits);
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in headers {
        let valid_name = !k.is_empty() && k.bytes().all(is_tchar);
        if !valid_name
            || !is_field_value(v)
            || OWN_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h))
        {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Date: ");
    http_date(out);
    out.extend_from_slice(b"\r\n");
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
}

/// Whether a header value may be written as is: no control byte but tab, so no CR/LF
/// from a handler can split the response. Every byte is looked at (a fold, not `all`,
/// which stops early): without a branch per byte the compiler checks many at once, and
/// every answer's long Content-Security-Policy goes through here.
fn is_field_value(v: &str) -> bool {
    let allowed = |b: u8| (b >= 0x20 && b != 0x7f) || b == b'\t';
    v.bytes().fold(true, |ok, b| ok & allowed(b))
}

/// The whole answer for a request refused by this layer; the connection closes after it.
pub(super) fn error_response(status: u16) -> Vec<u8> {
    let body = format!("{}\n", reason(status).to_ascii_lowercase());
    let mut out = Vec::with_capacity(256);
    write_head(
        &mut out,
        status,
        &[
            ("Content-Type".into(), "text/plain; charset=utf-8".into()),
            ("X-Content-Type-Options".into(), "nosniff".into()),
        ],
        false,
        false,
    );
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    out
}

/// `Date` in IMF-fixdate, formatted at most once a second per thread.
fn http_date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != now.timestamp() {
            *c = (
                now.timestamp(),
                now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            );
        }
        out.extend_from_slice(c.1.as_bytes());
    });
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads_are_clean() {
        let mut out = Vec::new();
        let headers = vec![
            ("Content-Type".into(), "text/plain".into()),
            ("Content-Length".into(), "999".into()),
            ("Connection".into(), "upgrade".into()),
            ("X-Split".into(), "a\r\nSet-Cookie: evil=1".into()),
            ("Bad Name".into(), "x".into()),
        ];
        write_head(&mut out, 200, &headers, true, false);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: "),
            "{text}"
        );
        assert!(!text.contains("999") && !text.contains("evil") && !text.contains("Bad Name"));
        assert!(!text.contains("Connection"));
        let mut out = Vec::new();
        write_head(&mut out, 200, &[], true, true);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("Connection: keep-alive\r\n")
        );
        let err = String::from_utf8(error_response(431)).unwrap();
        assert!(err.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(
            err.contains("Connection: close\r\n")
                && err.ends_with("\r\n\r\nrequest header fields too large\n")
        );
    }

    /// No control byte but tab gets into an answer, wherever it sits in a value (short
    /// values, and long ones whose bytes are checked many at a time).
    #[test]
    fn header_values_with_control_bytes_are_never_written() {
        let long = "x".repeat(100);
        for bad in ["\r", "\n", "\0", "\x7f", "\x1b"] {
            for value in [
                format!("a{bad}Set-Cookie: evil=1"),
                format!("{long}{bad}"),
                format!("{bad}{long}"),
                format!("{long}{bad}{long}"),
            ] {
                let mut out = Vec::new();
                write_head(
                    &mut out,
                    200,
                    &[("X-Test".into(), value.into())],
                    true,
                    false,
                );
                let text = String::from_utf8(out).unwrap();
                assert!(!text.contains("X-Test"), "{bad:?} written: {text:?}");
            }
        }
        let mut out = Vec::new();
        let fine = format!("a\tb {long} \u{e9}");
        write_head(
            &mut out,
            200,
            &[("X-Test".into(), fine.clone().into())],
            true,
            false,
        );
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains(&format!("X-Test: {fine}\r\n"))
        );
    }
}
