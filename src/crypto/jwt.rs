//! RSA signing keys and RS256 JSON Web Tokens: generated or loaded from PEM (at least
//! 2048 bits, checked on the modulus), published as JWKs, used to sign and verify.

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, pkcs1v15};
use serde_json::{Value, json};

use super::{b64url, b64url_decode, sha256};

pub const DEFAULT_BITS: usize = 2048;

pub struct SigningKey {
    pub key: PrivateKey,
    /// Key id for the JWKS: base64url of the first 16 bytes of SHA-256(modulus).
    pub kid: String,
    signer: pkcs1v15::SigningKey<Sha256>,
    verifier: pkcs1v15::VerifyingKey<Sha256>,
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
        let kid = b64url(&sha256(&key.n_bytes())[..16]);
        let signer = pkcs1v15::SigningKey::<Sha256>::new(key.clone());
        let verifier = pkcs1v15::VerifyingKey::<Sha256>::new(key.to_public_key());
        SigningKey {
            key,
            kid,
            signer,
            verifier,
        }
    }

    /// The public half as a JWK (RFC 7517/7518).
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": b64url(&self.key.n_bytes()),
            "e": b64url(&self.key.e_bytes()),
        })
    }

    /// A compact JWS: header {alg: RS256, typ: JWT, kid} and these claims.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature = self.signer.sign(input.as_bytes());
        format!("{input}.{}", b64url(&signature.to_vec()))
    }

    /// The claims of a token this key signed (RS256 only); None for anything else.
    pub fn verify(&self, token: &str) -> Option<Value> {
        let (input, sig) = token.rsplit_once('.')?;
        let (header, claims) = input.split_once('.')?;
        let header: Value = serde_json::from_slice(&b64url_decode(header)?).ok()?;
        if header["alg"] != "RS256" || header["kid"].as_str().is_some_and(|k| k != self.kid) {
            return None;
        }
        let sig = pkcs1v15::Signature::try_from(b64url_decode(sig)?.as_slice()).ok()?;
        self.verifier.verify(input.as_bytes(), &sig).ok()?;
        serde_json::from_slice(&b64url_decode(claims)?).ok()
    }
}

/// The `kid` in a token's header, to pick the key that verifies it.
pub fn kid_of(token: &str) -> Option<String> {
    let header: Value = serde_json::from_slice(&b64url_decode(token.split('.').next()?)?).ok()?;
    header["kid"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_verifies_and_refuses_tampering() {
        let k = SigningKey::generate(2048).unwrap();
        let t = k.sign(&json!({"sub": "u1", "n": 1}));
        assert_eq!(kid_of(&t).as_deref(), Some(k.kid.as_str()));
        assert_eq!(k.verify(&t).unwrap()["sub"], "u1");
        let parts: Vec<&str> = t.split('.').collect();
        let forged_claims = b64url(json!({"sub": "admin", "n": 1}).to_string().as_bytes());
        assert!(
            k.verify(&format!("{}.{}.{}", parts[0], forged_claims, parts[2]))
                .is_none()
        );
        let none_alg = b64url(br#"{"alg":"none"}"#);
        assert!(k.verify(&format!("{none_alg}.{}.", parts[1])).is_none());
        assert!(SigningKey::generate(2048).unwrap().verify(&t).is_none());
        assert_eq!(k.jwk()["kty"], "RSA");
        let again = SigningKey::from_pem(&k.to_pem()).unwrap();
        assert_eq!(again.kid, k.kid);
    }

    #[test]
    fn small_keys_are_refused_by_modulus_size() {
        let small = PrivateKey::new(&mut getrandom::SysRng, 1024).unwrap();
        let pem = small.to_pkcs8_pem(LineEnding::LF).unwrap();
        let err = SigningKey::from_pem(&pem).err().expect("refused");
        assert!(err.contains("1024 bits"), "{err}");
    }
}
