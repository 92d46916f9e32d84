//! One connection's thread: read a request within its deadlines, run the handler,
//! write the answer at the least write rate, keep alive or close.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rouille::{Request, Response};

use super::limits::{
    PHASE_BODY, PHASE_BUSY, PHASE_HEAD, PHASE_IDLE, PHASE_WRITE, Tracker, client_key,
};
use super::parse::{
    Chunked, ChunkedDecoder, Framing, Head, Meta, analyse, bare_lf_from, has_token, head_end,
    header, parse_head,
};
use super::response::{error_response, write_head};
use super::{BODY_LIMIT, HEAD_LIMIT, POLL, SINGLE_WRITE_MAX, Shared, SlowClose, count_slow_close};
use crate::pacing::WriteDebt;

/// The most one read takes in.
const READ_SIZE: usize = 8192;
/// The most one write hands the kernel. A write that waits on the client is seen
/// behind the least rate once it has waited longer than this many bytes earn (1 s at
/// the default 16 KiB/s), so the accept loop can close it when room is needed.
const WRITE_PIECE: usize = 16 * 1024;
/// How much of a streamed response body (one too large for a single write) is read
/// from its source at a time.
const COPY_SIZE: usize = 64 * 1024;

/// Why a connection ends early.
#[derive(Debug, PartialEq, Eq)]
enum Fail {
    /// Close without a word: the client left, went idle, or we are stopping.
    Quiet,
    /// Answer with this status, then close.
    Answer(u16),
    /// An answer went out already (the body was not read): close.
    Answered,
}

/// What a read waits for, and until when.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// The next request: closes quietly at `until`, or at once when crowded.
    Idle { until: Instant },
    /// More of a head or body begun at `since`: answered `status` once it falls below
    /// the data rate or passes `cap` (see [`Limits::min_rate`](super::Limits::min_rate)).
    Part {
        since: Instant,
        cap: Duration,
        status: u16,
    },
}

struct Conn<'a, F> {
    shared: &'a Shared<F>,
    tracker: &'a Tracker,
    peer: SocketAddr,
    /// Bytes read and not yet consumed (the start of the next, pipelined request).
    buf: Vec<u8>,
    /// What each read lands in, zeroed once per connection: growing `buf` by a zeroed
    /// 8 KiB before every read cost more than the rest of reading a request.
    scratch: Box<[u8; READ_SIZE]>,
    /// Bytes received in the current phase (for the data rate).
    received: usize,
    /// Answers are written at [`Limits::min_write_rate`](super::Limits::min_write_rate).
    debt: WriteDebt,
    /// The socket's write timeout as last set (zero: not yet), so the usual answer, with
    /// the whole grace left, costs no system call to set it again.
    write_timeout: Duration,
}

pub(super) fn serve_connection<F>(shared: &Shared<F>, tracker: &Tracker, peer: SocketAddr)
where
    F: Fn(&Request) -> Response,
{
    let stream = &tracker.stream;
    let setup = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(POLL)));
    if setup.is_err() {
        return;
    }
    let mut conn = Conn {
        shared,
        tracker,
        peer,
        buf: Vec::with_capacity(4096),
        scratch: Box::new([0; READ_SIZE]),
        received: 0,
        debt: WriteDebt::new(shared.limits.min_write_rate, shared.limits.write_grace),
        write_timeout: Duration::ZERO,
    };
    loop {
        match conn.exchange() {
            Ok(true) => {}
            Ok(false) | Err(Fail::Quiet) => break,
            Err(Fail::Answer(status)) => {
                let _ = conn.send(&error_response(status));
                linger_close(conn.stream());
                return;
            }
            Err(Fail::Answered) => {
                linger_close(conn.stream());
                return;
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

impl<F> Conn<'_, F>
where
    F: Fn(&Request) -> Response,
{
    fn stream(&self) -> &TcpStream {
        &self.tracker.stream
    }

    /// Tells the accept loop what this connection does now, from `received` bytes on.
    fn enter(&mut self, phase: u8, received: usize) {
        self.received = received;
        let t = self.tracker;
        t.received.store(received as u64, Ordering::Relaxed);
        t.since_ms.store(self.shared.now_ms(), Ordering::Relaxed);
        t.phase.store(phase, Ordering::Relaxed);
    }

    /// One request and its response; Ok(true) to keep the connection for another.
    fn exchange(&mut self) -> Result<bool, Fail> {
        let Some(head) = self.read_head()? else {
            return Ok(false);
        };
        let limits = &self.shared.limits;
        let limit = limits.body_limit(&head.target);
        let meta = analyse(&head, limit).map_err(Fail::Answer)?;
        let upload = limit > BODY_LIMIT && meta.framing != Framing::None;
        if upload {
            self.check_upload(&head, &meta)?;
        }
        let large = upload
            && match meta.framing {
                Framing::None => false,
                Framing::Length(n) => n > BODY_LIMIT,
                Framing::Chunked => true,
            };
        let slot = match large {
            true => {
                let forwarded = header(&head, "X-Forwarded-For");
                let client =
                    crate::net::client_ip(self.peer.ip(), forwarded, &limits.trusted_proxies);
                let slot = self.shared.uploads.take(client_key(client));
                Some(slot.ok_or(Fail::Answer(503))?)
            }
            false => None,
        };
        if meta.expect_continue && meta.framing != Framing::None && self.buf.is_empty() {
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = self.read_body(meta.framing, limit)?;
        self.enter(PHASE_BUSY, 0);
        let request =
            Request::fake_http_from(self.peer, head.method, head.target, head.headers, body);
        let response = {
            let _pass = self.shared.gate.enter();
            // Handlers never panic on input, but a bug must cost one request, not the connection.
            catch_unwind(AssertUnwindSafe(|| (self.shared.handler)(&request))).unwrap_or_else(
                |_| {
                    crate::log_error!(
                        "handler panicked on {} {}",
                        request.method(),
                        crate::log::clean(&request.url())
                    );
                    Response::text("internal error").with_status_code(500)
                },
            )
        };
        let handler_close = response
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("Connection") && has_token(v, "close"));
        let keep_alive = meta.keep_alive
            && !handler_close
            && !self.shared.stopping()
            && !self.shared.crowded.load(Ordering::Relaxed);
        let head_only = request.method() == "HEAD";
        // The large body is done with: its slot is free before the client hears back.
        drop(request);
        drop(slot);
        self.write_response(response, head_only, keep_alive, meta.http10)?;
        Ok(keep_alive)
    }

    /// Asks [`Limits::upload_check`](super::Limits::upload_check) whether this upload's body may be read at all; a
    /// refusal is answered at once, the body unread.
    fn check_upload(&mut self, head: &Head, meta: &Meta) -> Result<(), Fail> {
        let Some(check) = &self.shared.limits.upload_check else {
            return Ok(());
        };
        let probe = Request::fake_http_from(
            self.peer,
            head.method.clone(),
            head.target.clone(),
            head.headers.clone(),
            Vec::new(),
        );
        let verdict = {
            // It reads the database: it counts as handler work.
            let _pass = self.shared.gate.enter();
            catch_unwind(AssertUnwindSafe(|| (check.0)(&probe)))
        };
        match verdict {
            Ok(Ok(())) => Ok(()),
            Ok(Err(response)) => {
                let head_only = head.method == "HEAD";
                self.write_response(response, head_only, false, meta.http10)?;
                Err(Fail::Answered)
            }
            Err(_) => {
                crate::log_error!("the upload check panicked on {}", head.method);
                Err(Fail::Answer(500))
            }
        }
    }

    /// Reads more input. Ok(false) at end of stream (or when closed to make room).
    fn fill(&mut self, wait: Wait) -> Result<bool, Fail> {
        let mut stream = &self.tracker.stream;
        loop {
            let read = stream.read(&mut self.scratch[..]);
            match read {
                Ok(n) => {
                    self.buf.extend_from_slice(&self.scratch[..n]);
                    self.received += n;
                    let total = self.received as u64;
                    self.tracker.received.store(total, Ordering::Relaxed);
                    // A client sending a byte now and then never lets a read time out:
                    // a partial request's deadline is checked here too.
                    if let Wait::Part { .. } = wait {
                        self.check_deadline(wait)?;
                    }
                    return Ok(n > 0);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    self.check_deadline(wait)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Fail::Quiet),
            }
        }
    }

    /// Whether the connection may keep waiting: not when stopping, past its deadline,
    /// or idle while others wait for a slot.
    fn check_deadline(&self, wait: Wait) -> Result<(), Fail> {
        if self.shared.stopping() {
            return Err(Fail::Quiet);
        }
        let now = Instant::now();
        match wait {
            Wait::Idle { until } => {
                if now >= until || self.shared.crowded.load(Ordering::Relaxed) {
                    return Err(Fail::Quiet);
                }
            }
            Wait::Part { since, cap, status } => {
                let limits = &self.shared.limits;
                if now >= limits.part_deadline(since, self.received, cap) {
                    count_slow_close(SlowClose::Request);
                    return Err(Fail::Answer(status));
                }
            }
        }
        Ok(())
    }

    /// The next request's head, None when the client closed (or idled out) between requests.
    fn read_head(&mut self) -> Result<Option<Head>, Fail> {
        let limits = &self.shared.limits;
        let idle = Wait::Idle {
            until: Instant::now() + limits.idle_timeout,
        };
        self.enter(PHASE_IDLE, 0);
        let mut part: Option<Wait> = None;
        let mut scanned = 0;
        loop {
            // Empty lines (CRLF) before a request line are ignored (RFC 9112, 2.2).
            let blank = self.buf.chunks(2).take_while(|&l| l == b"\r\n").count() * 2;
            if blank > 0 {
                self.buf.drain(..blank);
                scanned = 0;
            }
            if !self.buf.is_empty() {
                // A complete head is the server's turn, never a partial request the
                // accept loop may close to make room (a head that came in one read is
                // never shown as partial at all).
                if let Some(end) = head_end(&self.buf, scanned) {
                    self.enter(PHASE_BUSY, 0);
                    if end > HEAD_LIMIT {
                        return Err(Fail::Answer(431));
                    }
                    let head = parse_head(&self.buf[..end]).map_err(Fail::Answer)?;
                    self.buf.drain(..end);
                    return Ok(Some(head));
                }
                if part.is_none() {
                    self.enter(PHASE_HEAD, self.buf.len());
                    part = Some(Wait::Part {
                        since: Instant::now(),
                        cap: limits.head_timeout,
                        status: 408,
                    });
                }
                // All of it is head so far. A bare LF is refused as soon as it shows,
                // not when the head ends (it may never).
                if bare_lf_from(&self.buf, scanned) {
                    return Err(Fail::Answer(400));
                }
                if self.buf.len() > HEAD_LIMIT {
                    return Err(Fail::Answer(431));
                }
                scanned = self.buf.len().saturating_sub(2);
            }
            match (self.fill(part.unwrap_or(idle)), part) {
                (Ok(true), _) => {}
                (Ok(false), None) => return Ok(None),
                (Ok(false), Some(_)) => return Err(Fail::Quiet),
                (Err(fail), _) => return Err(fail),
            }
        }
    }

    fn read_body(&mut self, framing: Framing, limit: usize) -> Result<Vec<u8>, Fail> {
        if framing == Framing::None {
            return Ok(Vec::new());
        }
        self.enter(PHASE_BODY, self.buf.len());
        let wait = Wait::Part {
            since: Instant::now(),
            cap: self.shared.limits.body_timeout,
            status: 408,
        };
        match framing {
            Framing::None => Ok(Vec::new()),
            Framing::Length(n) => {
                while self.buf.len() < n {
                    if !self.fill(wait)? {
                        return Err(Fail::Quiet);
                    }
                }
                let rest = self.buf.split_off(n);
                Ok(std::mem::replace(&mut self.buf, rest))
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                loop {
                    match decoder.step(&self.buf, limit) {
                        Chunked::Done(used) => {
                            self.buf.drain(..used);
                            return Ok(decoder.body);
                        }
                        Chunked::Invalid(status) => return Err(Fail::Answer(status)),
                        Chunked::Partial => {
                            if !self.fill(wait)? {
                                return Err(Fail::Quiet);
                            }
                        }
                    }
                }
            }
        }
    }

    fn write_response(
        &mut self,
        response: Response,
        head_only: bool,
        keep_alive: bool,
        http10: bool,
    ) -> Result<(), Fail> {
        let status = response.status_code;
        let body_allowed = !(100..200).contains(&status) && status != 204 && status != 304;
        let send_body = body_allowed && !head_only;
        let (mut reader, size) = response.data.into_reader_and_size();
        // Room for the portal's usual head (security headers and forward-auth's identity
        // headers take ~700 bytes) without growing the buffer.
        let mut out = Vec::with_capacity(1024 + size.unwrap_or(0).min(SINGLE_WRITE_MAX));
        write_head(&mut out, status, &response.headers, keep_alive, http10);
        self.enter(PHASE_WRITE, 0);
        match size {
            // Known size and nothing to send, or too big for one buffer: head first.
            Some(n) if !send_body || n > SINGLE_WRITE_MAX => {
                if body_allowed {
                    out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                self.send(&out)?;
                if send_body {
                    self.copy_body(&mut reader, n)?;
                }
            }
            _ => {
                let mut body = Vec::with_capacity(size.unwrap_or(0));
                if reader.read_to_end(&mut body).is_err() {
                    crate::log_error!("http: cannot read a response body");
                    return Err(Fail::Answer(500));
                }
                if body_allowed {
                    out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                if send_body {
                    out.extend_from_slice(&body);
                }
                // Head and body in one write: one segment for small answers.
                self.send(&out)?;
            }
        }
        Ok(())
    }

    /// Streams `n` bytes of a body too large for one buffer (a backup download).
    fn copy_body(&mut self, reader: &mut impl Read, n: usize) -> Result<(), Fail> {
        let mut buf = vec![0u8; COPY_SIZE.min(n)];
        let mut left = n;
        while left > 0 {
            let got = match reader.read(&mut buf[..left.min(COPY_SIZE)]) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(Fail::Quiet),
            };
            if got == 0 {
                // Fewer bytes than announced: the connection is out of step.
                return Err(Fail::Quiet);
            }
            self.send(&buf[..got])?;
            left -= got;
        }
        Ok(())
    }

    /// Writes all of `bytes`, held to the least write rate: each write may block only
    /// for what is left of the write grace (at most [`POLL`], to see the stop flag), and
    /// the connection closes once the grace is spent.
    fn send(&mut self, mut bytes: &[u8]) -> Result<(), Fail> {
        while !bytes.is_empty() {
            let piece = &bytes[..bytes.len().min(WRITE_PIECE)];
            let n = self.write_piece(piece)?;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// One write() of at most [`WRITE_PIECE`] bytes; how many went out.
    fn write_piece(&mut self, piece: &[u8]) -> Result<usize, Fail> {
        let mut stream = &self.tracker.stream;
        loop {
            let started = Instant::now();
            let Some(left) = self.debt.allowance(started) else {
                count_slow_close(SlowClose::Reader);
                return Err(Fail::Quiet);
            };
            let timeout = left.min(POLL);
            if timeout != self.write_timeout {
                stream
                    .set_write_timeout(Some(timeout))
                    .map_err(|_| Fail::Quiet)?;
                self.write_timeout = timeout;
            }
            self.mark_behind_at(piece.len());
            let written = stream.write(piece);
            let bytes = written.as_ref().map_or(0, |n| *n);
            self.debt.wrote(started, Instant::now(), bytes);
            self.tracker.behind_at_ms.store(u64::MAX, Ordering::Relaxed);
            match written {
                Ok(0) => return Err(Fail::Quiet),
                Ok(n) => {
                    self.tracker.received.fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(n);
                }
                // Nothing taken within POLL: a client still reading keeps its answer
                // coming while stopping; one that is not is closed now.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.shared.stopping() {
                        return Err(Fail::Quiet);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Fail::Quiet),
            }
        }
    }

    /// Tells the accept loop from when a write of `bytes` beginning now leaves the
    /// connection behind the least write rate, if it is still waiting then.
    fn mark_behind_at(&self, bytes: usize) {
        let credit = self.debt.earned(bytes).saturating_sub(self.debt.debt());
        let at = u128::from(self.shared.now_ms()).saturating_add(credit.as_millis());
        self.tracker
            .behind_at_ms
            .store(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// After an error answer: stop sending, then drain what the client is still sending for
/// a moment, so closing with unread data does not reset the connection before the
/// client has read the answer.
fn linger_close(mut stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 8192];
    let mut drained = 0usize;
    while Instant::now() < until && drained < 256 * 1024 {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
}
