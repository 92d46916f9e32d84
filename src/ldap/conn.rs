//! One LDAP connection on its own thread: bytes in, messages decoded by ldap3_proto's
//! codec (called synchronously, no async runtime), answered by ops, encoded back. LDAPS
//! (a first byte that opens a TLS handshake) and StartTLS share the port. Bounded: a
//! message's size and nesting (the codec), idle time, and how long the first byte, a TLS
//! handshake and one message may take to arrive, TLS or not (socket.rs); a message that
//! does not decode closes the connection.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use ldap3_proto::LdapCodec;
use ldap3_proto::proto::{LdapMsg, LdapResultCode};
use ldap3_proto::simple::DisconnectionNotice;
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use tokio_util::codec::{Decoder, Encoder};

use super::Activity;
use super::bind::Bound;
use super::directory::{self, Layout};
use super::ops::{self, Next, Session};
use super::socket::Timed;
use crate::App;

/// Largest message a client may send (a bind or search is a few hundred bytes).
pub const MAX_MESSAGE: usize = 64 * 1024;
/// BER nesting the decoder follows (filters are bounded again, tighter, in filter.rs).
const MAX_BER_DEPTH: usize = 32;
/// A connection with nothing to say for this long is closed.
pub const IDLE: Duration = Duration::from_secs(300);
/// A message must arrive whole within this time of its first byte (slow clients; a
/// bind or search is a few hundred bytes).
pub const MESSAGE_TIME: Duration = Duration::from_secs(10);
/// How often a waiting read looks at the stop flag and the clocks.
const POLL: Duration = Duration::from_millis(250);
/// How long writes may wait for a slow reader in all, beyond the least rate (socket.rs).
const WRITE_GRACE: Duration = Duration::from_secs(30);
/// Answers are written whenever this much is encoded (and at the end).
const WRITE_AT: usize = 64 * 1024;
/// A TLS record starts with this byte (handshake); an LDAP message with 0x30.
const TLS_HANDSHAKE: u8 = 0x16;

/// How long a connection may take over each step. The portal runs with `Default`;
/// tests shorten them so that a slow client is cut off in a second, not ten.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nothing to say for this long after a message: closed.
    pub idle: Duration,
    /// From a message's first byte (whatever TLS records carry it) to its last; also
    /// from the connection's start to its first byte (clients speak first in LDAP).
    pub message_time: Duration,
    /// From the start of a TLS handshake (LDAPS or StartTLS) to its end.
    pub handshake_time: Duration,
    /// How long writes may wait in all for a client that reads slower than the least
    /// rate (a client that stops reading is closed after this).
    pub write_grace: Duration,
    /// Connections open at once, in all ([`super::MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// Connections open at once from one address ([`super::MAX_PER_ADDRESS`]).
    pub per_address: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            idle: IDLE,
            message_time: MESSAGE_TIME,
            handshake_time: MESSAGE_TIME,
            write_grace: WRITE_GRACE,
            max_connections: super::MAX_CONNECTIONS,
            per_address: super::MAX_PER_ADDRESS,
        }
    }
}

/// What every connection of one listener shares.
pub struct Shared {
    pub app: Arc<App>,
    pub layout: Layout,
    pub tls: Option<Arc<ServerConfig>>,
    pub stop: Arc<AtomicBool>,
    pub limits: Limits,
}

enum Stream {
    Plain(Timed),
    Tls(Box<StreamOwned<ServerConnection, Timed>>),
    /// Only while switching to TLS.
    Closed,
}

fn closed() -> io::Error {
    io::Error::from(io::ErrorKind::NotConnected)
}

impl Stream {
    /// The socket under the stream, whose clock says when the connection is too slow.
    fn socket(&mut self) -> Option<&mut Timed> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(&mut s.sock),
            Stream::Closed => None,
        }
    }

    /// Whether the current deadline has passed (a closed stream has none left).
    fn expired(&mut self) -> bool {
        self.socket().is_none_or(|s| s.expired())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Closed => Err(closed()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Closed => Err(closed()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Closed => Err(closed()),
        }
    }
}

fn waiting(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Serves one accepted connection until the client leaves, misbehaves, idles out or the
/// server stops.
pub fn serve(shared: &Shared, tcp: TcpStream, peer: SocketAddr, activity: &Activity) {
    let socket = Timed::new(tcp, POLL, &shared.limits);
    let Some(stream) = open(shared, socket) else {
        return;
    };
    let mut c = Connection {
        shared,
        activity,
        stream,
        session: Session {
            ip: peer.ip(),
            bound: Bound::Anonymous,
            secure: false,
        },
        codec: LdapCodec::new(Some(MAX_MESSAGE), Some(MAX_BER_DEPTH)),
        buf: BytesMut::new(),
    };
    c.session.secure = matches!(c.stream, Stream::Tls(_));
    c.run();
}

/// LDAPS when TLS is configured and the client opens with a TLS handshake (which must
/// then finish in time).
fn open(shared: &Shared, socket: Timed) -> Option<Stream> {
    let Some(tls) = &shared.tls else {
        return Some(Stream::Plain(socket));
    };
    let mut first = [0u8; 1];
    loop {
        match socket.peek(&mut first) {
            Ok(0) => return None,
            Ok(_) => break,
            Err(e) if waiting(&e) => {
                if shared.stop.load(Ordering::Relaxed) || socket.expired() {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    if first[0] == TLS_HANDSHAKE {
        tls_handshake(shared, tls, socket)
    } else {
        Some(Stream::Plain(socket))
    }
}

/// Runs a TLS handshake to its end within the handshake time; None when it fails, the
/// client is too slow or the server stops.
fn tls_handshake(shared: &Shared, tls: &Arc<ServerConfig>, mut socket: Timed) -> Option<Stream> {
    let mut conn = ServerConnection::new(Arc::clone(tls)).ok()?;
    socket.expect_within(shared.limits.handshake_time);
    while conn.is_handshaking() {
        if shared.stop.load(Ordering::Relaxed) || socket.expired() {
            return None;
        }
        match conn.complete_io(&mut socket) {
            Ok(_) => {}
            Err(e) if waiting(&e) && !socket.expired() => {}
            Err(_) => return None,
        }
    }
    socket.received(false, shared.limits.idle);
    Some(Stream::Tls(Box::new(StreamOwned::new(conn, socket))))
}

struct Connection<'a> {
    shared: &'a Shared,
    activity: &'a Activity,
    stream: Stream,
    session: Session,
    codec: LdapCodec,
    buf: BytesMut,
}

impl Connection<'_> {
    fn run(&mut self) {
        let mut chunk = [0u8; 8192];
        loop {
            match self.answer_buffered() {
                Ok(true) => {
                    // What is left in the buffer is the next message begun: its clock
                    // starts now.
                    let partial = !self.buf.is_empty();
                    let idle = self.shared.limits.idle;
                    if let Some(socket) = self.stream.socket() {
                        socket.received(partial, idle);
                    }
                }
                Ok(false) => {}
                Err(()) => return,
            }
            if self.shared.stop.load(Ordering::Relaxed) {
                return;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if waiting(&e) => {}
                Err(_) => return,
            }
            // After every read, not only one that timed out: a client that drips a byte
            // at a time never lets a read time out.
            if self.stream.expired() {
                return;
            }
        }
    }

    /// Answers every whole message in the buffer. Ok(true) when any was answered;
    /// Err when the connection must close (unbind, a bad message, a failed write).
    fn answer_buffered(&mut self) -> Result<bool, ()> {
        let mut answered = false;
        loop {
            let msg = match self.codec.decode(&mut self.buf) {
                Ok(Some(msg)) => msg,
                Ok(None) => return Ok(answered),
                Err(_) => {
                    // RFC 4511 section 4.4.1: say why, then close.
                    let notice = DisconnectionNotice::gen_response(
                        LdapResultCode::ProtocolError,
                        "malformed or oversized message",
                    );
                    let _ = self.send(vec![notice]);
                    return Err(());
                }
            };
            answered = true;
            if msg.msgid <= 0 {
                // Message id 0 is reserved for unsolicited notices; negative ones do not exist.
                return Err(());
            }
            // Being answered: not a connection to close for a newcomer. One still
            // arriving is (a drip must not make a connection look busy).
            self.activity.busy();
            let next = self.answer(msg)?;
            match next {
                Next::Continue => {}
                Next::Close => return Err(()),
                Next::StartTls => self.start_tls()?,
            }
            self.activity.idle(self.session.bound != Bound::Anonymous);
        }
    }

    /// Answers one message, each response encoded as it is made and written whenever
    /// the buffer passes WRITE_AT: a search holds one entry and one buffer, not its
    /// whole answer. Err when a write fails (the search stops at once).
    fn answer(&mut self, msg: LdapMsg) -> Result<Next, ()> {
        let Connection {
            shared,
            stream,
            session,
            codec,
            ..
        } = self;
        let mut out = BytesMut::new();
        let mut failed = false;
        let next = ops::handle_into(&shared.app, &shared.layout, session, msg, &mut |m| {
            let ok = codec.encode(m, &mut out).is_ok()
                && (out.len() < WRITE_AT
                    // A slow reader is waited for without a reader's place.
                    || directory::away(|| stream.write_all(&out)).is_ok());
            if out.len() >= WRITE_AT {
                out.clear();
            }
            failed |= !ok;
            ok
        });
        if failed {
            return Err(());
        }
        write_out(stream, &out)?;
        Ok(next)
    }

    fn send(&mut self, msgs: Vec<LdapMsg>) -> Result<(), ()> {
        let mut out = BytesMut::new();
        for m in msgs {
            self.codec.encode(m, &mut out).map_err(|_| ())?;
        }
        write_out(&mut self.stream, &out)
    }

    /// Switches the plain connection to TLS (the success response is already sent).
    fn start_tls(&mut self) -> Result<(), ()> {
        // Anything the client sent after StartTLS and before the handshake is an attack
        // on the switch (plaintext injected ahead of TLS): close.
        if !self.buf.is_empty() {
            return Err(());
        }
        let tls = self.shared.tls.as_ref().ok_or(())?;
        let Stream::Plain(socket) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err(());
        };
        self.stream = tls_handshake(self.shared, tls, socket).ok_or(())?;
        self.session.secure = true;
        Ok(())
    }
}

fn write_out(stream: &mut Stream, out: &[u8]) -> Result<(), ()> {
    stream.write_all(out).map_err(|_| ())?;
    stream.flush().map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::*;

    fn encoded(msg: LdapMsg) -> Vec<u8> {
        let mut out = BytesMut::new();
        LdapCodec::default().encode(msg, &mut out).unwrap();
        out.to_vec()
    }

    /// Whatever bytes arrive, the decoder answers a message, "more please" or an error:
    /// real messages with bytes flipped, cut and lengths inflated never panic it.
    #[test]
    fn mutated_messages_never_panic_the_decoder() {
        let filter = LdapFilter::And(vec![
            LdapFilter::Equality("uid".into(), "alice".into()),
            LdapFilter::Not(Box::new(LdapFilter::Substring(
                "mail".into(),
                LdapSubstringFilter {
                    initial: Some("a".into()),
                    any: vec!["b".into()],
                    final_: Some("c".into()),
                },
            ))),
        ]);
        let seeds = [
            encoded(LdapMsg::new(
                1,
                LdapOp::BindRequest(LdapBindRequest {
                    version: 3,
                    dn: "uid=alice,ou=people,dc=authportal,dc=local".into(),
                    cred: LdapBindCred::Simple("secret".into()),
                }),
            )),
            encoded(LdapMsg::new(
                2,
                LdapOp::SearchRequest(LdapSearchRequest {
                    base: "dc=authportal,dc=local".into(),
                    scope: LdapSearchScope::Subtree,
                    aliases: LdapDerefAliases::Never,
                    sizelimit: 5,
                    timelimit: 0,
                    typesonly: false,
                    filter,
                    attrs: vec!["uid".into(), "memberOf".into()],
                }),
            )),
            encoded(LdapMsg::new(
                3,
                LdapOp::CompareRequest(LdapCompareRequest {
                    dn: "cn=admins,ou=groups,dc=authportal,dc=local".into(),
                    atype: "member".into(),
                    val: b"uid=alice".to_vec(),
                }),
            )),
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..30_000 {
            let seed = &seeds[round % seeds.len()];
            let mut bytes = seed.clone();
            for _ in 0..=(next() % 4) {
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    1 => bytes[at] = 0x84,
                    _ => bytes.truncate(at.max(1)),
                }
            }
            let mut buf = BytesMut::from(&bytes[..]);
            let mut codec = LdapCodec::new(Some(MAX_MESSAGE), Some(MAX_BER_DEPTH));
            // Decode until it wants more or refuses; each call must return.
            for _ in 0..4 {
                match codec.decode(&mut buf) {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
