//! One line per event on stderr (journald adds the time under systemd), written by one
//! buffered writer thread. Never pass a token, secret or password to these functions.
//!
//! Why a thread: at the default level every request writes an access line, and one
//! unbuffered write per line halved forward-auth throughput. Callers only format the
//! line and put it on a bounded queue; the writer batches lines into one buffer and
//! flushes it whenever the queue is momentarily empty, so a line written just before a
//! crash does not sit in memory. When the queue is full the line is counted as dropped
//! (`authportal_log_lines_dropped_total`) instead of making a request wait for the
//! disk. `flush()` waits until every line queued before it is written: the server's
//! stop, the binary's exit and the panic hook call it, so no line is lost on a clean
//! exit.
//!
//! The writer and the level are process-wide on purpose, the one state of the portal
//! that is not in App: there is one stderr per process, and the log macros are called
//! where no App is at hand (the connection layer, providers, the panic hook). Passing
//! an App or a logger to every call would cost every signature for nothing a portal
//! needs. `crate::start` sets the level from LOG_LEVEL and the commands set warn; in a
//! test process every portal that starts sets it again, so a test that reads lines of
//! a level above warn sets it just before (tests/integration/fuzz_routes.rs).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" | "trace" => Some(Level::Debug),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Process-wide, like stderr itself (see the module's header).
pub fn set_level(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

pub fn write(level: Level, msg: std::fmt::Arguments) {
    if enabled(level) {
        let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        stderr_logger().line(format!("{ts} {} {msg}\n", level.as_str()));
    }
}

/// `text` a client chose (a decoded path) fit for a log line: control characters are
/// escaped, so a "%0A" in a URL cannot start a forged line.
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// Waits (bounded) until every line logged before this call has reached stderr.
pub fn flush() {
    stderr_logger().flush();
}

/// Lines dropped because the queue was full, since the process started.
pub fn dropped() -> u64 {
    stderr_logger().dropped()
}

/// Lines queued for the stderr writer before callers see drops: at ~100 bytes a line,
/// about 1.6 MB, several seconds of a busy portal's output if stderr stalls.
const QUEUE_LINES: usize = 16 * 1024;
/// How long `flush` waits for the stderr writer.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

fn stderr_logger() -> &'static Logger {
    static LOGGER: OnceLock<Logger> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let out = std::io::BufWriter::with_capacity(64 * 1024, Stderr);
        Logger::new(QUEUE_LINES, out)
    })
}

static TO_STDERR: AtomicBool = AtomicBool::new(true);

/// Keeps lines off stderr (they still reach taps). For test processes, where many
/// in-process servers share one writer and each test reads the lines through `tap`.
pub fn keep_off_stderr() {
    TO_STDERR.store(false, Ordering::Relaxed);
}

/// The process's stderr, unless `keep_off_stderr` was called.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if TO_STDERR.load(Ordering::Relaxed) {
            std::io::stderr().write(buf)
        } else {
            Ok(buf.len())
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

enum Msg {
    Line(String),
    Flush(SyncSender<()>),
}

type Taps = Arc<Mutex<Vec<Sender<String>>>>;

/// A bounded queue in front of one writer thread.
pub struct Logger {
    /// None when the writer thread could not be started: lines then go to stderr
    /// unbuffered, from the caller.
    queue: Option<SyncSender<Msg>>,
    dropped: AtomicU64,
    taps: Taps,
    /// How long `flush` waits for the writer (a stalled stderr must not hang a stop).
    flush_wait: Duration,
}

impl Logger {
    /// A writer thread writing to `out`, with room for `capacity` lines in its queue.
    pub fn new(capacity: usize, out: impl Write + Send + 'static) -> Logger {
        let (tx, rx) = mpsc::sync_channel(capacity);
        let taps = Taps::default();
        let writer_taps = Arc::clone(&taps);
        let spawned = std::thread::Builder::new()
            .name(WRITER_THREAD.into())
            .spawn(move || run_writer(rx, out, &writer_taps));
        Logger {
            queue: spawned.ok().map(|_| tx),
            dropped: AtomicU64::new(0),
            taps,
            flush_wait: FLUSH_WAIT,
        }
    }

    /// Queues one line (ending in '\n'); never blocks: on a full queue it is counted
    /// as dropped.
    pub fn line(&self, line: String) {
        match &self.queue {
            Some(q) => {
                if q.try_send(Msg::Line(line)).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                let _ = Stderr.write_all(line.as_bytes());
            }
        }
    }

    /// Waits (at most `flush_wait`) until every line queued before this call is written.
    pub fn flush(&self) {
        let Some(q) = &self.queue else { return };
        // Called on the writer thread itself (a panic in it), waiting would deadlock.
        if std::thread::current().name() == Some(WRITER_THREAD) {
            return;
        }
        let deadline = Instant::now() + self.flush_wait;
        let (ack, done) = mpsc::sync_channel(1);
        let mut msg = Msg::Flush(ack);
        // Unlike a line, a flush waits for room in the queue, up to the deadline.
        loop {
            match q.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return,
            }
        }
        let _ = done.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A copy of every line written from now on.
    pub fn tap(&self) -> Tap<'_> {
        let (tx, rx) = mpsc::channel();
        if let Ok(mut taps) = self.taps.lock() {
            taps.push(tx);
        }
        Tap {
            logger: self,
            rx: Mutex::new(rx),
        }
    }
}

const WRITER_THREAD: &str = "log-writer";

fn run_writer(rx: Receiver<Msg>, mut out: impl Write, taps: &Taps) {
    loop {
        let msg = match rx.try_recv() {
            Ok(m) => m,
            // Momentarily nothing queued: push out what is buffered before waiting.
            Err(TryRecvError::Empty) => {
                let _ = out.flush();
                match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        match msg {
            Msg::Line(line) => {
                let _ = out.write_all(line.as_bytes());
                copy_to_taps(taps, &line);
            }
            Msg::Flush(ack) => {
                let _ = out.flush();
                let _ = ack.send(());
            }
        }
    }
    let _ = out.flush();
}

fn copy_to_taps(taps: &Taps, line: &str) {
    if let Ok(mut taps) = taps.lock()
        && !taps.is_empty()
    {
        taps.retain(|t| t.send(line.to_string()).is_ok());
    }
}

/// A copy of every line a logger writes from its making on (tests check what the
/// portal logs with `log::tap()`; the level stays process-wide: see `set_level`).
pub struct Tap<'a> {
    logger: &'a Logger,
    rx: Mutex<Receiver<String>>,
}

impl Tap<'_> {
    /// The lines written since the last call (after a flush), each ending in '\n'.
    pub fn lines(&self) -> Vec<String> {
        self.logger.flush();
        match self.rx.lock() {
            Ok(rx) => rx.try_iter().collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A copy of every line written to stderr from now on.
pub fn tap() -> Tap<'static> {
    stderr_logger().tap()
}

/// A panic hook for the binary: the panic's place is logged, and its message only when
/// it is a fixed text. A formatted message can quote request data (a slice error prints
/// the string it cut, an `unwrap` the value it found), so it is left out. Then the log
/// is flushed: the process may be about to end.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map_or(String::from("an unknown place"), |l| {
                format!("{}:{}", l.file(), l.line())
            });
        let what = info
            .payload()
            .downcast_ref::<&'static str>()
            .copied()
            .unwrap_or("(message withheld: it may quote request data)");
        let thread = std::thread::current();
        crate::log_error!(
            "thread {} panicked at {place}: {what}",
            thread.name().unwrap_or("unnamed")
        );
        flush();
    }));
}

#[macro_export]
macro_rules! log_error { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($t)*)) } }
#[macro_export]
macro_rules! log_warn { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! log_info { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! log_debug { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($t)*)) } }

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn lines(&self) -> Vec<String> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines().map(str::to_string).collect()
        }
    }

    /// An output that stalls (a stuck journald) until the test lets it go, and says
    /// when the writer is stuck in it.
    struct Stalled {
        shared: Shared,
        stuck: SyncSender<()>,
        go: Receiver<()>,
        stalled_once: bool,
    }

    impl Write for Stalled {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if !self.stalled_once {
                self.stalled_once = true;
                let _ = self.stuck.send(());
                let _ = self.go.recv();
            }
            self.shared.write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn many_threads_drop_nothing_while_the_queue_has_room() {
        let out = Shared::default();
        let logger = Arc::new(Logger::new(20_000, out.clone()));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let logger = Arc::clone(&logger);
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        logger.line(format!("thread {t} line {i}\n"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        logger.flush();
        let lines = out.lines();
        assert_eq!(lines.len(), 16_000);
        assert_eq!(logger.dropped(), 0);
        for t in 0..8 {
            // Each thread's lines arrive whole and in its order.
            let mine: Vec<&String> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            assert_eq!(mine.len(), 2000);
            assert_eq!(*mine[1999], format!("thread {t} line 1999"));
        }
    }

    #[test]
    fn a_full_queue_counts_drops_instead_of_blocking() {
        let shared = Shared::default();
        let (stuck_tx, stuck) = mpsc::sync_channel(1);
        let (go, go_rx) = mpsc::sync_channel(1);
        let logger = Logger::new(
            4,
            Stalled {
                shared: shared.clone(),
                stuck: stuck_tx,
                go: go_rx,
                stalled_once: false,
            },
        );
        logger.line("first\n".into());
        stuck.recv().unwrap();
        // The writer is stuck on "first": four lines fit the queue, six do not.
        let started = Instant::now();
        for i in 0..10 {
            logger.line(format!("line {i}\n"));
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "logging blocked"
        );
        assert_eq!(logger.dropped(), 6);
        // A flush waits for room in the full queue, but not for ever: a stop goes on.
        let logger = Logger {
            flush_wait: Duration::from_millis(200),
            ..logger
        };
        let started = Instant::now();
        logger.flush();
        assert!(started.elapsed() < Duration::from_secs(2), "flush hung");
        go.send(()).unwrap();
        logger.flush();
        assert_eq!(
            shared.lines(),
            ["first", "line 0", "line 1", "line 2", "line 3"]
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("/a b"), "/a b");
        assert_eq!(clean("/x\nINFO forged\r\t"), "/x\\nINFO forged\\r\\t");
    }

    #[test]
    fn a_tap_sees_the_lines_written_after_it() {
        let logger = Logger::new(16, Shared::default());
        logger.line("before\n".into());
        logger.flush();
        let tap = logger.tap();
        logger.line("after\n".into());
        assert_eq!(tap.lines(), ["after\n"]);
    }
}
