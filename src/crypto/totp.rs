//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps) with a ±1 step window and a
//! replay rule: a step once accepted for a user is never accepted again.

use super::ct_eq;

pub const DIGITS: u32 = 6;
pub const PERIOD: u64 = 30;
/// Steps accepted either side of now (clock drift between phone and server).
const WINDOW: i64 = 1;

/// The code for one time step (for tests and the enrolment check).
pub fn code_at_step(secret: &[u8], step: u64, digits: u32) -> String {
    totp_lite::totp_custom::<totp_lite::Sha1>(1, digits, secret, step)
}

pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(PERIOD as i64)
}

/// The step `code` belongs to, if it is one of now-1, now, now+1 and later than
/// `last_step` (the replay rule). Compares every candidate in constant time.
pub fn verify(secret: &[u8], code: &str, unix_secs: i64, last_step: i64) -> Option<i64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_secs);
    let mut found = None;
    for step in (now - WINDOW)..=(now + WINDOW) {
        if step < 0 {
            continue;
        }
        let expected = code_at_step(secret, step as u64, DIGITS);
        if ct_eq(expected.as_bytes(), code.as_bytes()) && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding: how authenticator apps take secrets.
pub fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_vectors() {
        for (time, code) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at_step(RFC_SECRET, time / PERIOD, 8), code, "T={time}");
        }
    }

    #[test]
    fn window_is_one_step_each_side_and_replay_is_refused() {
        let t = 1_700_000_000i64;
        let now = step_of(t);
        let code = |s: i64| code_at_step(RFC_SECRET, s as u64, 6);
        for d in [-1, 0, 1] {
            assert_eq!(
                verify(RFC_SECRET, &code(now + d), t, 0),
                Some(now + d),
                "offset {d}"
            );
        }
        for d in [-2, 2] {
            assert_eq!(verify(RFC_SECRET, &code(now + d), t, 0), None, "offset {d}");
        }
        assert_eq!(
            verify(RFC_SECRET, &code(now), t, now),
            None,
            "same step twice"
        );
        assert_eq!(
            verify(RFC_SECRET, &code(now - 1), t, now),
            None,
            "an older step after a newer one"
        );
        assert_eq!(verify(RFC_SECRET, "12345", t, 0), None);
        assert_eq!(verify(RFC_SECRET, "12a456", t, 0), None);
    }

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }
}
