//! The RSA signing key: generated on first start, loaded from PEM, at least 2048 bits.
//! (JWKS and RS256 signing arrive with the OpenID Connect provider.)

use rsa::PrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;

pub const DEFAULT_BITS: usize = 2048;

pub struct SigningKey {
    pub key: PrivateKey,
    /// Key id for the JWKS: base64url of the first 16 bytes of SHA-256(modulus).
    pub kid: String,
}

impl SigningKey {
    pub fn generate(bits: usize) -> Result<SigningKey, String> {
        let key = PrivateKey::new(&mut getrandom::SysRng, bits)
            .map_err(|e| format!("RSA key generation failed: {e}"))?;
        Ok(Self::wrap(key))
    }

    /// Reads PKCS#8 ("BEGIN PRIVATE KEY") or PKCS#1 ("BEGIN RSA PRIVATE KEY") PEM.
    pub fn from_pem(pem: &str) -> Result<SigningKey, String> {
        let key = PrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| PrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| "not an RSA private key in PEM form (PKCS#8 or PKCS#1)".to_string())?;
        let bits = key.n().bit_width() as usize;
        if bits < DEFAULT_BITS {
            return Err(format!(
                "RSA key has {bits} bits; at least {DEFAULT_BITS} are required"
            ));
        }
        Ok(Self::wrap(key))
    }

    pub fn to_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("encoding an in-memory RSA key")
            .to_string()
    }

    pub fn bits(&self) -> usize {
        self.key.n().bit_width() as usize
    }

    fn wrap(key: PrivateKey) -> SigningKey {
        let n = key.n_bytes();
        let kid = super::b64url(&super::sha256(&n)[..16]);
        SigningKey { key, kid }
    }
}
