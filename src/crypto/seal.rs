//! Sealing secrets at rest with AES-SIV (RFC 5297) under DATA_KEY.
//!
//! A sealed value is `v1:` + base64url(nonce || ciphertext). The associated data names
//! what the value is for (e.g. "provider-token:plex:123"), so a sealed value copied
//! into another column or row does not open.

use aes_siv::Aes256SivAead;
use aes_siv::aead::{Aead, KeyInit, Payload};

use super::{b64url, b64url_decode, hmac_sha256, random_bytes};

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 16;

pub struct Sealer {
    cipher: Aes256SivAead,
}

#[derive(Debug, PartialEq, Eq)]
pub struct OpenError;

impl Sealer {
    /// Takes DATA_KEY (32 or 64 bytes). A 32-byte key is stretched to the 64 bytes
    /// AES-256-SIV needs with HMAC-SHA256 under two distinct labels.
    pub fn new(data_key: &[u8]) -> Sealer {
        let mut key = [0u8; 64];
        if data_key.len() == 64 {
            key.copy_from_slice(data_key);
        } else {
            key[..32].copy_from_slice(&hmac_sha256(data_key, &[b"authportal seal mac"]));
            key[32..].copy_from_slice(&hmac_sha256(data_key, &[b"authportal seal enc"]));
        }
        let cipher = Aes256SivAead::new_from_slice(&key).expect("64-byte key");
        Sealer { cipher }
    }

    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> String {
        format!(
            "{PREFIX}{}",
            b64url(&self.seal_bytes(purpose.as_bytes(), plaintext))
        )
    }

    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(b64url_decode)
            .ok_or(OpenError)?;
        self.open_bytes(purpose.as_bytes(), &raw)
    }

    /// nonce || ciphertext as bytes, bound to `aad` (large binary data: backup chunks).
    pub fn seal_bytes(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let ct = self
            .cipher
            .encrypt(
                (&nonce_bytes).into(),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-SIV encryption cannot fail for in-memory data");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open_bytes(&self, aad: &[u8], raw: &[u8]) -> Result<Vec<u8>, OpenError> {
        if raw.len() < NONCE_LEN + 16 {
            return Err(OpenError);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError)?;
        self.cipher
            .decrypt(nonce.into(), Payload { msg: ct, aad })
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let s = Sealer::new(&[7u8; 32]);
        let sealed = s.seal("token:plex:1", b"secret-token");
        assert!(!sealed.contains("secret"));
        assert_eq!(s.open("token:plex:1", &sealed).unwrap(), b"secret-token");
        assert_eq!(s.open("token:plex:2", &sealed), Err(OpenError));
        assert_eq!(
            Sealer::new(&[8u8; 32]).open("token:plex:1", &sealed),
            Err(OpenError)
        );
        assert_ne!(
            sealed,
            s.seal("token:plex:1", b"secret-token"),
            "random nonce"
        );
        assert_eq!(s.open("x", "v1:!!"), Err(OpenError));
        assert_eq!(s.open("x", "garbage"), Err(OpenError));
    }
}
