//! The socket under an LDAP connection's codec and rustls: every read ends by the
//! connection's current deadline. rustls reads until it has a whole TLS record (or the
//! whole handshake), so without this a client that drips a record a byte at a time
//! would never let a read return; here the read timeout is re-armed before each read
//! from the time left, and a read past the deadline fails at once. Writes are held to
//! a least rate, so a client that reads its answers a trickle at a time cannot hold
//! its thread either.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::conn::Limits;
use crate::pacing::WriteDebt;

/// The least rate, in bytes a second, at which a client must take what is written to
/// it, once its grace ([`Limits::write_grace`]) is spent: far below any real link, far
/// above a trickle that would hold a thread for hours.
const MIN_WRITE_RATE: u64 = 16 * 1024;

/// A TCP stream whose reads end by a deadline: the idle deadline while nothing is
/// pending, else the deadline of what has begun to arrive (a message from its first
/// byte, a TLS handshake from its start).
pub struct Timed {
    tcp: TcpStream,
    /// The longest one read waits, so the caller looks at its stop flag this often.
    poll: Duration,
    /// How long a message may take from its first byte.
    message_time: Duration,
    /// The deadline while nothing is pending.
    idle_until: Instant,
    /// The deadline of what has begun to arrive, if anything has.
    due: Option<Instant>,
    /// Writes held to [`MIN_WRITE_RATE`] within [`Limits::write_grace`].
    write_debt: WriteDebt,
}

impl Timed {
    /// A freshly accepted stream: its first byte is due within the message time.
    pub fn new(tcp: TcpStream, poll: Duration, limits: &Limits) -> Timed {
        Timed {
            tcp,
            poll,
            message_time: limits.message_time,
            idle_until: Instant::now() + limits.message_time,
            due: None,
            write_debt: WriteDebt::new(MIN_WRITE_RATE, limits.write_grace),
        }
    }

    fn deadline(&self) -> Instant {
        self.due.unwrap_or(self.idle_until)
    }

    /// Whether the current deadline has passed: the connection must close.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline()
    }

    /// Something must be in whole within `limit` from now (a TLS handshake).
    pub fn expect_within(&mut self, limit: Duration) {
        self.due = Some(Instant::now() + limit);
    }

    /// What was pending is in. With `partial` (the next message has begun) it is due
    /// within the message time from now; else the connection may idle for `idle`.
    pub fn received(&mut self, partial: bool, idle: Duration) {
        let now = Instant::now();
        self.idle_until = now + idle;
        self.due = partial.then(|| now + self.message_time);
    }

    /// Sets the read timeout to what is left of the deadline (at most `poll`); an
    /// error (TimedOut) when nothing is left.
    fn arm(&self) -> io::Result<()> {
        let left = self.deadline().saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        self.tcp.set_read_timeout(Some(left.min(self.poll)))
    }

    /// Looks at the next byte without taking it (LDAPS or plain LDAP?).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp.peek(buf)
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        let n = self.tcp.read(buf)?;
        if n > 0 && self.due.is_none() {
            self.due = Some(Instant::now() + self.message_time);
        }
        Ok(n)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let started = Instant::now();
        let Some(left) = self.write_debt.allowance(started) else {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        };
        self.tcp.set_write_timeout(Some(left))?;
        let written = self.tcp.write(buf);
        let bytes = written.as_ref().map_or(0, |n| *n);
        self.write_debt.wrote(started, Instant::now(), bytes);
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}
