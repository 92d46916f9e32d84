//! Random identifiers, their stored digests, and HMAC-signed cookie values.
//!
//! A cookie carries `kind.id.mac`: `id` is 32 random bytes whose SHA-256 digest is the
//! database key, `mac` binds the id to its kind so a cookie of one kind (a pending-MFA
//! reference, a sign-in flow) is never accepted as another (a session).

use super::{HmacKey, b64url, b64url_decode, ct_eq, hmac_sha256, random_bytes, sha256};

/// A fresh random 256-bit identifier.
pub fn new_id() -> [u8; 32] {
    random_bytes::<32>()
}

/// A random token as text (43 URL-safe characters).
pub fn random_token() -> String {
    b64url(&new_id())
}

/// What the database stores instead of an id or token.
pub fn digest(id: &[u8]) -> Vec<u8> {
    sha256(id).to_vec()
}

pub struct CookieSigner {
    key: HmacKey,
}

impl CookieSigner {
    pub fn new(session_secret: &[u8]) -> CookieSigner {
        CookieSigner {
            key: HmacKey::new(&hmac_sha256(
                session_secret,
                &[b"authportal cookie signing"],
            )),
        }
    }

    fn mac(&self, kind: &str, id_text: &str) -> [u8; 32] {
        self.key.mac(&[kind.as_bytes(), b".", id_text.as_bytes()])
    }

    pub fn sign(&self, kind: &str, id: &[u8]) -> String {
        let id_text = b64url(id);
        let mac = self.mac(kind, &id_text);
        format!("{kind}.{id_text}.{}", b64url(&mac))
    }

    /// A MAC of `text` for URLs that must not be guessable from what they name (an
    /// avatar URL from a user's UUID): 128 bits, base64url.
    pub fn tag(&self, kind: &str, text: &str) -> String {
        b64url(&self.mac(kind, text)[..16])
    }

    /// Whether `tag` is [`Self::tag`] of `text` (constant time).
    pub fn tag_matches(&self, kind: &str, text: &str, tag: &str) -> bool {
        ct_eq(self.tag(kind, text).as_bytes(), tag.as_bytes())
    }

    /// Returns the id when the value is well-formed, of this kind, and its MAC verifies.
    pub fn verify(&self, kind: &str, value: &str) -> Option<Vec<u8>> {
        let mut parts = value.split('.');
        let (k, id_text, mac_text) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || k != kind {
            return None;
        }
        let mac = b64url_decode(mac_text)?;
        if !ct_eq(&mac, &self.mac(kind, id_text)) {
            return None;
        }
        let id = b64url_decode(id_text)?;
        (id.len() == 32).then_some(id)
    }
}

/// A random (version 4) UUID in its usual text form.
pub fn new_uuid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = super::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_values_verify_only_as_their_kind() {
        let s = CookieSigner::new(b"0123456789abcdef0123456789abcdef");
        let id = new_id();
        let v = s.sign("s", &id);
        assert_eq!(s.verify("s", &v).unwrap(), id);
        assert!(s.verify("m", &v).is_none());
        let forged = v.replacen("s.", "m.", 1);
        assert!(s.verify("m", &forged).is_none());
        assert!(
            CookieSigner::new(b"another secret, also 32 bytes lo")
                .verify("s", &v)
                .is_none()
        );
        for junk in ["", "s", "s..", "s.a.b", "s.a.b.c", &format!("{v}.x")] {
            assert!(s.verify("s", junk).is_none(), "{junk}");
        }
    }
}
