//! The backup file format: a readable header and a body sealed under DATA_KEY.
//!
//! Format 2 (written now) streams, so a backup or restore holds a chunk in memory, not
//! the database:
//! ```text
//! authportal-backup\n
//! {"format":2,"created_at":...,"size":...,"sha256":"...","file_id":"...",...}\n
//! record*    record = flag (0 more | 1 last) || u32 BE length || AES-SIV(nonce || ct)
//! ```
//! The body is the SQLite snapshot, deflate-compressed, cut into chunks of
//! `chunk_size` bytes; each chunk is sealed with the magic line, the exact header line,
//! its index and its flag as associated data. So a changed header, a changed, dropped,
//! repeated or reordered chunk, a chunk from another backup (another header: `file_id`
//! is random), a missing last chunk or bytes after it all refuse to open. `size` and
//! `sha256` describe the snapshot and are checked once it is rebuilt.
//!
//! Format 1 (still read): one line `v1:<base64url(AES-SIV nonce || ciphertext)>\n` after
//! the header, the whole snapshot sealed at once with the magic and header lines as
//! associated data. `key_check` (a tiny value sealed under the same key) tells a wrong
//! DATA_KEY apart from a damaged file in both.

use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::crypto::seal::Sealer;
use crate::crypto::{hex, random_bytes, sha256};

pub const MAGIC: &str = "authportal-backup";
/// The format this code writes.
pub const FORMAT: u32 = 2;
/// The older, whole-in-memory format this code still reads (and can write, for tests
/// of backups an older release made).
pub const FORMAT_V1: u32 = 1;
/// Plaintext bytes per sealed chunk: what a backup or restore holds in memory at once.
pub const CHUNK_SIZE: usize = 1 << 20;
/// The largest chunk a file may declare (a bound on what one record can make us allocate).
const MAX_CHUNK_SIZE: u64 = 16 << 20;
/// The longest header line read (a foreign file must not make us read it all).
const MAX_HEADER_LINE: u64 = 1 << 20;
const COMPRESSION: &str = "deflate";
const KEY_CHECK_PURPOSE: &str = "backup-key-check";

/// What a backup says about itself, readable without the key.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
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
    /// Format 2: how the snapshot was compressed before sealing ("deflate").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// Format 2: plaintext bytes per sealed chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u64>,
    /// Format 2: random, so no two files share a header (and so chunks cannot be spliced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
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
    /// Reading the file or writing the rebuilt snapshot failed (disk full...).
    Io(String),
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
                "this backup has format version {v}; this authportal reads versions {FORMAT_V1} and {FORMAT}: restore it with a newer release"
            ),
            FormatError::WrongKey => write!(
                f,
                "this backup was sealed under another DATA_KEY: restore it on a portal that runs with the key it was made with"
            ),
            FormatError::Damaged => write!(
                f,
                "this backup file was changed or damaged after it was written (its seal does not verify); nothing was restored"
            ),
            FormatError::Io(e) => write!(f, "cannot read the backup: {e}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// Carries a FormatError through io::Read (the chunk reader) and back out.
fn to_io(e: FormatError) -> io::Error {
    io::Error::other(e)
}

fn from_io(e: io::Error) -> FormatError {
    if e.get_ref().is_some_and(|inner| inner.is::<FormatError>()) {
        match e.into_inner().map(|inner| inner.downcast::<FormatError>()) {
            Some(Ok(fe)) => *fe,
            _ => FormatError::Damaged,
        }
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        FormatError::Truncated
    } else {
        FormatError::Io(e.to_string())
    }
}

fn body_purpose(header_line: &str) -> String {
    format!("{MAGIC}\n{header_line}")
}

pub fn key_check(sealer: &Sealer) -> String {
    sealer.seal(KEY_CHECK_PURPOSE, b"authportal")
}

/// A format 1 file (the whole snapshot sealed at once), as releases before format 2
/// wrote them. Kept so the tests can make one; the portal itself writes format 2.
pub fn seal_v1(sealer: &Sealer, mut header: Header, plaintext: &[u8]) -> Vec<u8> {
    header.format = FORMAT_V1;
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

/// One line (without its newline) of at most `max` bytes; None at a clean end of file.
fn read_line(r: &mut impl BufRead, max: u64) -> Result<Option<Vec<u8>>, FormatError> {
    let mut line = Vec::new();
    r.take(max + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| FormatError::Io(e.to_string()))?;
    match line.pop() {
        None => Ok(None),
        Some(b'\n') => Ok(Some(line)),
        Some(last) => {
            line.push(last);
            Err(if line.len() as u64 > max {
                FormatError::BadHeader("the header line is too long".into())
            } else {
                FormatError::Truncated
            })
        }
    }
}

/// The magic line and the header line; the header parsed, and its exact text (what the
/// seal binds).
fn read_header(r: &mut impl BufRead) -> Result<(Header, String), FormatError> {
    let mut magic = Vec::new();
    r.take(MAGIC.len() as u64 + 1)
        .read_until(b'\n', &mut magic)
        .map_err(|e| FormatError::Io(e.to_string()))?;
    if magic.last() != Some(&b'\n') {
        // A cut inside the magic line is a truncated backup if what is left reads as one.
        let partial = !magic.is_empty() && MAGIC.as_bytes().starts_with(&magic);
        return Err(if partial {
            FormatError::Truncated
        } else {
            FormatError::NotABackup
        });
    }
    if magic[..magic.len() - 1] != *MAGIC.as_bytes() {
        return Err(FormatError::NotABackup);
    }
    let line = read_line(r, MAX_HEADER_LINE)?.ok_or(FormatError::Truncated)?;
    let line = String::from_utf8(line).map_err(|_| FormatError::BadHeader("not text".into()))?;
    Ok((parse_header(&line)?, line))
}

fn parse_header(line: &str) -> Result<Header, FormatError> {
    // The format version first, so a newer file gets the right message even if its
    // header has fields this code does not know.
    let raw: serde_json::Value =
        serde_json::from_str(line).map_err(|e| FormatError::BadHeader(e.to_string()))?;
    let format = raw["format"]
        .as_u64()
        .ok_or_else(|| FormatError::BadHeader("no format version".into()))?;
    if format != u64::from(FORMAT) && format != u64::from(FORMAT_V1) {
        return Err(FormatError::UnknownFormat(
            u32::try_from(format).unwrap_or(u32::MAX),
        ));
    }
    serde_json::from_value(raw).map_err(|e| FormatError::BadHeader(e.to_string()))
}

/// The header, read without the key (listing), from the file's first bytes.
pub fn header(mut file: &[u8]) -> Result<Header, FormatError> {
    read_header(&mut file).map(|(h, _)| h)
}

/// Writes a format 2 file: the header (format, key check, chunking and a random file id
/// filled in here; `size` and `sha256` of the snapshot are the caller's), then
/// `snapshot` compressed and sealed chunk by chunk. Returns `out`, flushed.
pub fn seal_to<W: Write>(
    sealer: &Sealer,
    mut header: Header,
    snapshot: impl Read,
    out: W,
) -> io::Result<W> {
    seal_chunked(sealer, &mut header, snapshot, out, CHUNK_SIZE)
}

fn seal_chunked<W: Write>(
    sealer: &Sealer,
    header: &mut Header,
    mut snapshot: impl Read,
    mut out: W,
    chunk_size: usize,
) -> io::Result<W> {
    header.format = FORMAT;
    header.key_check = key_check(sealer);
    header.compression = Some(COMPRESSION.into());
    header.chunk_size = Some(chunk_size as u64);
    header.file_id = Some(hex(&random_bytes::<16>()));
    let line = serde_json::to_string(&header).expect("header serializes");
    for part in [MAGIC, &line] {
        out.write_all(part.as_bytes())?;
        out.write_all(b"\n")?;
    }
    let chunks = ChunkWriter {
        sealer,
        line: &line,
        out,
        buf: Vec::with_capacity(chunk_size),
        chunk_size,
        index: 0,
    };
    // Fast deflate: a NAS's CPU matters more than the last percent of size.
    let mut deflate = flate2::write::DeflateEncoder::new(chunks, flate2::Compression::new(3));
    io::copy(&mut snapshot, &mut deflate)?;
    let mut out = deflate.finish()?.finish()?;
    out.flush()?;
    Ok(out)
}

/// What each chunk's seal binds: the file (magic and header line), the chunk's place,
/// and whether it is the last.
fn chunk_aad(line: &str, index: u64, last: bool) -> Vec<u8> {
    format!(
        "{MAGIC}\n{line}\nchunk {index} {}",
        if last { "last" } else { "more" }
    )
    .into_bytes()
}

const MORE: u8 = 0;
const LAST: u8 = 1;

/// Buffers plaintext into chunks and writes each sealed as a record.
struct ChunkWriter<'a, W: Write> {
    sealer: &'a Sealer,
    line: &'a str,
    out: W,
    buf: Vec<u8>,
    chunk_size: usize,
    index: u64,
}

impl<W: Write> ChunkWriter<'_, W> {
    fn emit(&mut self, last: bool) -> io::Result<()> {
        let sealed = self
            .sealer
            .seal_bytes(&chunk_aad(self.line, self.index, last), &self.buf);
        let len = u32::try_from(sealed.len()).map_err(io::Error::other)?;
        self.out.write_all(&[if last { LAST } else { MORE }])?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(&sealed)?;
        self.buf.clear();
        self.index += 1;
        Ok(())
    }

    /// Seals what is left as the last chunk (possibly empty: every file ends with one).
    fn finish(mut self) -> io::Result<W> {
        self.emit(true)?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ChunkWriter<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() == self.chunk_size {
            self.emit(false)?;
        }
        let n = data.len().min(self.chunk_size - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads the records back, yielding each chunk's plaintext once its seal verified, in
/// order; fails on anything out of place (see the module doc) with a FormatError.
struct ChunkReader<'a, R: Read> {
    sealer: &'a Sealer,
    line: &'a str,
    input: R,
    max_record: u64,
    index: u64,
    done: bool,
    chunk: Vec<u8>,
    at: usize,
}

impl<R: Read> ChunkReader<'_, R> {
    fn next_chunk(&mut self) -> Result<(), FormatError> {
        let mut flag = [0u8; 1];
        if self.input.read(&mut flag).map_err(from_io)? == 0 {
            return Err(FormatError::Truncated);
        }
        let last = match flag[0] {
            MORE => false,
            LAST => true,
            _ => return Err(FormatError::Damaged),
        };
        let mut len = [0u8; 4];
        self.input.read_exact(&mut len).map_err(from_io)?;
        let len = u64::from(u32::from_be_bytes(len));
        if len > self.max_record {
            return Err(FormatError::Damaged);
        }
        let mut sealed = Vec::with_capacity(len as usize);
        (&mut self.input)
            .take(len)
            .read_to_end(&mut sealed)
            .map_err(from_io)?;
        if (sealed.len() as u64) < len {
            return Err(FormatError::Truncated);
        }
        self.chunk = self
            .sealer
            .open_bytes(&chunk_aad(self.line, self.index, last), &sealed)
            .map_err(|_| FormatError::Damaged)?;
        self.at = 0;
        self.index += 1;
        if last {
            self.done = true;
            // Nothing may follow the last chunk.
            if self.input.read(&mut flag).map_err(from_io)? != 0 {
                return Err(FormatError::Damaged);
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for ChunkReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            self.next_chunk().map_err(to_io)?;
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Counts and hashes what passes through on its way to `out`.
struct Digesting<W> {
    out: W,
    size: u64,
    hash: sha2::Sha256,
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.out.write(data)?;
        self.size += n as u64;
        self.hash.update(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Opens a backup from `file` (either format) and writes the snapshot to `out`, after
/// every check: magic, format, key, each seal, order and end, size and digest. When this
/// fails, what reached `out` must be thrown away.
pub fn unseal_to(sealer: &Sealer, file: impl Read, out: impl Write) -> Result<Header, FormatError> {
    let mut file = io::BufReader::new(file);
    let (header, line) = read_header(&mut file)?;
    if sealer.open(KEY_CHECK_PURPOSE, &header.key_check).is_err() {
        // A header edited to carry another key_check still fails the body's seal,
        // so this answer cannot be used to slip a changed file through.
        return Err(FormatError::WrongKey);
    }
    let mut sink = Digesting {
        out,
        size: 0,
        hash: sha2::Sha256::new(),
    };
    if header.format == FORMAT_V1 {
        let mut rest = Vec::new();
        file.read_to_end(&mut rest).map_err(from_io)?;
        let snapshot = open_v1(sealer, &line, &rest)?;
        sink.write_all(&snapshot)
            .map_err(|e| FormatError::Io(e.to_string()))?;
    } else {
        if header.compression.as_deref() != Some(COMPRESSION) {
            return Err(FormatError::BadHeader("unknown compression".into()));
        }
        let chunk_size = header
            .chunk_size
            .filter(|n| (1..=MAX_CHUNK_SIZE).contains(n))
            .ok_or_else(|| FormatError::BadHeader("bad chunk size".into()))?;
        let chunks = ChunkReader {
            sealer,
            line: &line,
            input: file,
            max_record: chunk_size + 64,
            index: 0,
            done: false,
            chunk: Vec::new(),
            at: 0,
        };
        // Never more than the header promised (a sealed file cannot be forged without
        // the key, but a bound costs nothing).
        let mut snapshot = flate2::read::DeflateDecoder::new(chunks).take(header.size + 1);
        io::copy(&mut snapshot, &mut sink).map_err(from_io)?;
        // The compressed stream may end before the last chunk was read: read it (and
        // what follows) too, so a file cut or padded after the data is still refused.
        let mut chunks = snapshot.into_inner().into_inner();
        io::copy(&mut chunks, &mut io::sink()).map_err(from_io)?;
    }
    sink.flush().map_err(|e| FormatError::Io(e.to_string()))?;
    let digest = hex(&sink.hash.finalize());
    if sink.size != header.size
        || !crate::crypto::ct_eq(digest.as_bytes(), header.sha256.as_bytes())
    {
        return Err(FormatError::Damaged);
    }
    Ok(header)
}

/// A format 1 body: one sealed line, nothing after it.
fn open_v1(sealer: &Sealer, line: &str, rest: &[u8]) -> Result<Vec<u8>, FormatError> {
    let Some(body_end) = rest.iter().position(|&b| b == b'\n') else {
        return Err(FormatError::Truncated);
    };
    if body_end + 1 != rest.len() {
        return Err(FormatError::Damaged);
    }
    let body = std::str::from_utf8(&rest[..body_end]).map_err(|_| FormatError::Damaged)?;
    sealer
        .open(&body_purpose(line), body)
        .map_err(|_| FormatError::Damaged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            created_at: 1_700_000_000,
            created_at_utc: "2023-11-14T22:13:20Z".into(),
            created_by: "test".into(),
            kind: "manual".into(),
            portal_version: "0.1.0".into(),
            schema_version: 6,
            tables: [("users".to_string(), 2)].into_iter().collect(),
            sections: vec!["mfa".into()],
            ..Header::default()
        }
    }

    /// Something that compresses to several 64-byte chunks.
    fn snapshot() -> Vec<u8> {
        (0..1000u32)
            .flat_map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes())
            .collect()
    }

    fn sealed(s: &Sealer, plain: &[u8]) -> Vec<u8> {
        let mut h = sample();
        h.size = plain.len() as u64;
        h.sha256 = hex(&sha256(plain));
        seal_chunked(s, &mut h, plain, Vec::new(), 64).unwrap()
    }

    fn open(s: &Sealer, file: &[u8]) -> Result<(Header, Vec<u8>), FormatError> {
        let mut out = Vec::new();
        unseal_to(s, file, &mut out).map(|h| (h, out))
    }

    /// The file cut into its header and its records.
    fn records(file: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut nl = file.iter().enumerate().filter(|(_, b)| **b == b'\n');
        let body = nl.nth(1).unwrap().0 + 1;
        let mut out = Vec::new();
        let mut at = body;
        while at < file.len() {
            let len = u32::from_be_bytes(file[at + 1..at + 5].try_into().unwrap()) as usize;
            out.push(file[at..at + 5 + len].to_vec());
            at += 5 + len;
        }
        (file[..body].to_vec(), out)
    }

    fn join(head: &[u8], records: &[Vec<u8>]) -> Vec<u8> {
        let mut out = head.to_vec();
        for r in records {
            out.extend_from_slice(r);
        }
        out
    }

    #[test]
    fn chunked_round_trip() {
        let s = Sealer::new(&[1u8; 32]);
        let plain = snapshot();
        let file = sealed(&s, &plain);
        let (head, recs) = records(&file);
        assert!(recs.len() >= 4, "{} chunks", recs.len());
        assert_eq!(recs.last().unwrap()[0], LAST);
        assert!(recs[..recs.len() - 1].iter().all(|r| r[0] == MORE));
        let (h, out) = open(&s, &file).unwrap();
        assert_eq!(out, plain);
        assert_eq!(h.format, FORMAT);
        assert_eq!(header(&file).unwrap(), h);
        assert_eq!(header(&head).unwrap(), h, "the header alone is readable");
        // An empty snapshot is one empty last chunk.
        let (_, out) = open(&s, &sealed(&s, b"")).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn truncated_reordered_spliced_or_changed_chunks_are_refused() {
        let s = Sealer::new(&[1u8; 32]);
        let plain = snapshot();
        let file = sealed(&s, &plain);
        let (head, recs) = records(&file);
        let n = recs.len();
        assert_eq!(
            open(&Sealer::new(&[2u8; 32]), &file).unwrap_err(),
            FormatError::WrongKey
        );
        for cut in (1..file.len()).step_by(7) {
            let e = open(&s, &file[..file.len() - cut]).unwrap_err();
            assert!(
                matches!(
                    e,
                    FormatError::Truncated | FormatError::Damaged | FormatError::BadHeader(_)
                ),
                "cut {cut}: {e:?}"
            );
        }
        let without_last = join(&head, &recs[..n - 1]);
        assert_eq!(open(&s, &without_last).unwrap_err(), FormatError::Truncated);
        let mut swapped = recs.clone();
        swapped.swap(1, 2);
        assert_eq!(
            open(&s, &join(&head, &swapped)).unwrap_err(),
            FormatError::Damaged
        );
        let mut dropped = recs.clone();
        dropped.remove(1);
        assert_eq!(
            open(&s, &join(&head, &dropped)).unwrap_err(),
            FormatError::Damaged
        );
        let mut repeated = recs.clone();
        repeated.insert(1, recs[1].clone());
        assert_eq!(
            open(&s, &join(&head, &repeated)).unwrap_err(),
            FormatError::Damaged
        );
        let mut early_end = recs.clone();
        early_end[1][0] = LAST;
        assert_eq!(
            open(&s, &join(&head, &early_end)).unwrap_err(),
            FormatError::Damaged
        );
        let mut padded = file.clone();
        padded.push(0);
        assert_eq!(open(&s, &padded).unwrap_err(), FormatError::Damaged);
        let mut twice_last = recs.clone();
        twice_last.push(recs[n - 1].clone());
        assert_eq!(
            open(&s, &join(&head, &twice_last)).unwrap_err(),
            FormatError::Damaged
        );

        // The same data backed up again (same key, same content): its chunks do not fit.
        let other = sealed(&s, &plain);
        let (other_head, other_recs) = records(&other);
        assert_eq!(other_recs.len(), n);
        let mut spliced = recs.clone();
        spliced[1] = other_recs[1].clone();
        assert_eq!(
            open(&s, &join(&head, &spliced)).unwrap_err(),
            FormatError::Damaged
        );
        assert_eq!(
            open(&s, &join(&other_head, &recs)).unwrap_err(),
            FormatError::Damaged
        );

        for at in (head.len()..file.len()).step_by(5) {
            let mut flipped = file.clone();
            flipped[at] ^= 0x20;
            assert!(open(&s, &flipped).is_err(), "byte {at} flipped");
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let edited = text.replace("\"created_by\":\"test\"", "\"created_by\":\"evil\"");
        assert_ne!(edited, text);
        assert_eq!(
            open(&s, &join(edited.as_bytes(), &recs)).unwrap_err(),
            FormatError::Damaged
        );
        let newer = text.replace("\"format\":2", "\"format\":7");
        assert_eq!(
            open(&s, &join(newer.as_bytes(), &recs)).unwrap_err(),
            FormatError::UnknownFormat(7)
        );
        let huge = text.replace("\"chunk_size\":64", "\"chunk_size\":999999999999");
        assert!(matches!(
            open(&s, &join(huge.as_bytes(), &recs)).unwrap_err(),
            FormatError::BadHeader(_)
        ));
        assert_eq!(
            open(&s, b"hello\nworld\n").unwrap_err(),
            FormatError::NotABackup
        );
        assert_eq!(open(&s, b"").unwrap_err(), FormatError::NotABackup);
    }

    #[test]
    fn format_1_files_still_open_and_refuse_damage() {
        let s = Sealer::new(&[1u8; 32]);
        let file = seal_v1(&s, sample(), b"SQLite format 3\0 pretend");
        let (h, plain) = open(&s, &file).unwrap();
        assert_eq!(plain, b"SQLite format 3\0 pretend");
        assert_eq!(h.format, FORMAT_V1);
        assert_eq!(header(&file).unwrap(), h);
        assert_eq!(
            open(&Sealer::new(&[2u8; 32]), &file).unwrap_err(),
            FormatError::WrongKey
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
        assert_eq!(
            open(&s, edited.as_bytes()).unwrap_err(),
            FormatError::Damaged
        );
        let mut body = file.clone();
        let at = body.len() - 10;
        body[at] = if body[at] == b'A' { b'B' } else { b'A' };
        assert_eq!(open(&s, &body).unwrap_err(), FormatError::Damaged);
    }
}
