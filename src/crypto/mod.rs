//! Cryptographic building blocks: randomness, digests, encodings and constant-time comparison.

pub mod jwt;
pub mod seal;
pub mod tokens;
pub mod totp;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Fills a buffer from the operating system's CSPRNG. Failure here means the box
/// cannot produce secrets at all, so it is fatal rather than an error to handle.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("operating system random source failed");
    buf
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key size");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// An HMAC-SHA256 key whose inner and outer pads are hashed once, so each MAC under it
/// costs only its message's blocks (the session cookie is checked on every request).
#[derive(Clone)]
pub struct HmacKey(Hmac<Sha256>);

impl HmacKey {
    pub fn new(key: &[u8]) -> HmacKey {
        HmacKey(<Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key size"))
    }

    /// The same as `hmac_sha256(key, parts)`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes standard or URL-safe base64, padded or not (what people paste as keys).
pub fn b64_decode_any(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    let normalized: String = s.replace('-', "+").replace('_', "/");
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(normalized)
        .ok()
}

pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn base64_variants_decode_alike() {
        let raw = [0xfbu8, 0xff, 0x01, 0x02];
        assert_eq!(b64_decode_any(&b64(&raw)).unwrap(), raw);
        assert_eq!(b64_decode_any(&b64url(&raw)).unwrap(), raw);
        assert!(b64_decode_any("***").is_none());
    }

    #[test]
    fn a_kept_hmac_key_macs_as_hmac_sha256_does() {
        let key = HmacKey::new(b"Jefe");
        for _ in 0..2 {
            let parts: [&[u8]; 2] = [b"what do ya want ", b"for nothing?"];
            assert_eq!(key.mac(&parts), hmac_sha256(b"Jefe", &parts));
        }
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
