//! The backup file format: a readable header and a body sealed under DATA_KEY.
//!
//! ```text
//! authportal-backup\n
//! {"format":1,"created_at":...,"sha256":"...",...}\n
//! v1:<base64url(AES-SIV nonce || ciphertext)>\n
//! ```
//! The body is the SQLite snapshot, sealed with the magic line and the exact header
//! line as associated data: changing one byte of the header, the body or the length
//! makes the body refuse to open. `key_check` (a tiny value sealed under the same key)
//! tells a wrong DATA_KEY apart from a damaged file.

use serde::{Deserialize, Serialize};

use crate::crypto::seal::Sealer;
use crate::crypto::{hex, sha256};

pub const MAGIC: &str = "authportal-backup";
/// The format this code writes and the only one it reads.
pub const FORMAT: u32 = 1;
const KEY_CHECK_PURPOSE: &str = "backup-key-check";

/// What a backup says about itself, readable without the key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub format: u32,
    /// Unix seconds (UTC), and the same as RFC 3339 for people reading the file.
    pub created_at: i64,
    pub created_at_utc: String,
    /// The admin's username, "cli", or "schedule".
    pub created_by: String,
    /// manual, scheduled, safety (taken before a restore).
    pub kind: String,
    pub portal_version: String,
    pub schema_version: i64,
    /// Row count of every table in the snapshot.
    pub tables: std::collections::BTreeMap<String, i64>,
    /// The settings sections saved in the snapshot.
    pub sections: Vec<String>,
    /// Size and SHA-256 (hex) of the plaintext snapshot.
    pub size: u64,
    pub sha256: String,
    /// "authportal" sealed under DATA_KEY: opens only with the key the body was sealed with.
    pub key_check: String,
}

/// Why a file does not open; each says what the owner can do.
#[derive(Debug, PartialEq, Eq)]
pub enum FormatError {
    NotABackup,
    Truncated,
    BadHeader(String),
    UnknownFormat(u32),
    WrongKey,
    Damaged,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormatError::NotABackup => write!(f, "this is not an authportal backup file"),
            FormatError::Truncated => write!(
                f,
                "this backup file is incomplete (truncated): copy it again from where it was kept"
            ),
            FormatError::BadHeader(e) => {
                write!(f, "the header of this backup file is damaged ({e})")
            }
            FormatError::UnknownFormat(v) => write!(
                f,
                "this backup has format version {v}; this authportal reads version {FORMAT}: restore it with a newer release"
            ),
            FormatError::WrongKey => write!(
                f,
                "this backup was sealed under another DATA_KEY: restore it on a portal that runs with the key it was made with"
            ),
            FormatError::Damaged => write!(
                f,
                "this backup file was changed or damaged after it was written (its seal does not verify); nothing was restored"
            ),
        }
    }
}

fn body_purpose(header_line: &str) -> String {
    format!("{MAGIC}\n{header_line}")
}

pub fn key_check(sealer: &Sealer) -> String {
    sealer.seal(KEY_CHECK_PURPOSE, b"authportal")
}

/// The whole file for `plaintext` described by `header` (sha256, size and key_check are filled in here).
pub fn seal(sealer: &Sealer, mut header: Header, plaintext: &[u8]) -> Vec<u8> {
    header.format = FORMAT;
    header.size = plaintext.len() as u64;
    header.sha256 = hex(&sha256(plaintext));
    header.key_check = key_check(sealer);
    let line = serde_json::to_string(&header).expect("header serializes");
    let body = sealer.seal(&body_purpose(&line), plaintext);
    let mut out = Vec::with_capacity(MAGIC.len() + line.len() + body.len() + 3);
    for part in [MAGIC, &line, &body] {
        out.extend_from_slice(part.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The header line and the rest, without checking the seal (for listing).
fn split(file: &[u8]) -> Result<(&str, &[u8]), FormatError> {
    let magic_end = file.iter().position(|&b| b == b'\n').ok_or(
        if MAGIC.as_bytes().starts_with(file) && !file.is_empty() {
            FormatError::Truncated
        } else {
            FormatError::NotABackup
        },
    )?;
    if &file[..magic_end] != MAGIC.as_bytes() {
        return Err(FormatError::NotABackup);
    }
    let rest = &file[magic_end + 1..];
    let header_end = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(FormatError::Truncated)?;
    let line = std::str::from_utf8(&rest[..header_end])
        .map_err(|_| FormatError::BadHeader("not text".into()))?;
    Ok((line, &rest[header_end + 1..]))
}

/// The header, read without the key (listing, and the first step of opening).
pub fn header(file: &[u8]) -> Result<Header, FormatError> {
    let (line, _) = split(file)?;
    // The format version first, so a newer file gets the right message even if its
    // header has fields this code does not know.
    let raw: serde_json::Value =
        serde_json::from_str(line).map_err(|e| FormatError::BadHeader(e.to_string()))?;
    let format = raw["format"]
        .as_u64()
        .ok_or_else(|| FormatError::BadHeader("no format version".into()))?;
    if format != u64::from(FORMAT) {
        return Err(FormatError::UnknownFormat(
            u32::try_from(format).unwrap_or(u32::MAX),
        ));
    }
    serde_json::from_value(raw).map_err(|e| FormatError::BadHeader(e.to_string()))
}

/// The header and the plaintext, after every check: magic, format, key, seal, digest.
pub fn open(sealer: &Sealer, file: &[u8]) -> Result<(Header, Vec<u8>), FormatError> {
    let header = header(file)?;
    let (line, rest) = split(file)?;
    if sealer.open(KEY_CHECK_PURPOSE, &header.key_check).is_err() {
        // A header edited to carry another key_check still fails the body's seal below,
        // so this answer cannot be used to slip a changed file through.
        return Err(FormatError::WrongKey);
    }
    let Some(body_end) = rest.iter().position(|&b| b == b'\n') else {
        return Err(FormatError::Truncated);
    };
    if body_end + 1 != rest.len() {
        return Err(FormatError::Damaged);
    }
    let body = std::str::from_utf8(&rest[..body_end]).map_err(|_| FormatError::Damaged)?;
    let plaintext = sealer
        .open(&body_purpose(line), body)
        .map_err(|_| FormatError::Damaged)?;
    if plaintext.len() as u64 != header.size
        || !crate::crypto::ct_eq(
            hex(&sha256(&plaintext)).as_bytes(),
            header.sha256.as_bytes(),
        )
    {
        return Err(FormatError::Damaged);
    }
    Ok((header, plaintext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            format: 0,
            created_at: 1_700_000_000,
            created_at_utc: "2023-11-14T22:13:20Z".into(),
            created_by: "test".into(),
            kind: "manual".into(),
            portal_version: "0.1.0".into(),
            schema_version: 6,
            tables: [("users".to_string(), 2)].into_iter().collect(),
            sections: vec!["mfa".into()],
            size: 0,
            sha256: String::new(),
            key_check: String::new(),
        }
    }

    #[test]
    fn round_trip_and_every_kind_of_damage() {
        let s = Sealer::new(&[1u8; 32]);
        let file = seal(&s, sample(), b"SQLite format 3\0 pretend");
        let (h, plain) = open(&s, &file).unwrap();
        assert_eq!(plain, b"SQLite format 3\0 pretend");
        assert_eq!(h.format, FORMAT);
        assert_eq!(header(&file).unwrap(), h);

        assert_eq!(
            open(&Sealer::new(&[2u8; 32]), &file),
            Err(FormatError::WrongKey)
        );
        for cut in [1, 10, 40, file.len() / 2, file.len() - 1] {
            let e = open(&s, &file[..file.len() - cut]).unwrap_err();
            assert!(
                matches!(
                    e,
                    FormatError::Truncated | FormatError::Damaged | FormatError::BadHeader(_)
                ),
                "cut {cut}: {e:?}"
            );
        }
        let text = String::from_utf8(file.clone()).unwrap();
        let edited = text.replace("\"created_by\":\"test\"", "\"created_by\":\"evil\"");
        assert_ne!(edited, text);
        assert_eq!(open(&s, edited.as_bytes()), Err(FormatError::Damaged));
        let mut body = file.clone();
        let at = body.len() - 10;
        body[at] = if body[at] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&s, &body), Err(FormatError::Damaged));
        let newer = text.replace("\"format\":1", "\"format\":2");
        assert_eq!(
            open(&s, newer.as_bytes()),
            Err(FormatError::UnknownFormat(2))
        );
        assert_eq!(open(&s, b"hello\nworld\n"), Err(FormatError::NotABackup));
        assert_eq!(open(&s, b""), Err(FormatError::NotABackup));
    }
}
