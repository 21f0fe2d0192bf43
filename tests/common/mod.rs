//! Client-side helpers shared by the integration tests.
//!
//! Every helper talks to a server at a given `SocketAddr` (an echo server
//! unless stated otherwise) and is bounded in time: blocking sockets carry
//! read/write timeouts, `stress` has an overall deadline, and `watchdog`
//! turns a hung test into a panic that names it.
//!
//! * [`watchdog`], [`watchdog_progress`], [`Progress`]: time limits for test bodies.
//! * [`echo_roundtrip`], [`half_close_check`], [`reset_mid_stream`],
//!   [`connect_many`], [`connect_retry`]: blocking `std::net` clients.
//! * [`stress`] with [`StressConfig`] / [`StressReport`]: many concurrent tokio clients.
//! * [`pattern`]: the seekable pseudo-random byte streams and checksum they use.
//! * [`child`]: the test binary re-run as a child process in a role, measured from `/proc`.
#![allow(dead_code)]

pub mod backends;
pub mod blocking;
#[cfg(unix)]
pub mod child;
pub mod pattern;
pub mod stress;
#[cfg(windows)]
pub mod wine;

// Each test binary uses a subset of these re-exports.
#[allow(unused_imports)]
pub use blocking::{
    connect_many, connect_retry, echo_roundtrip, half_close_check, reset_mid_stream,
};
#[allow(unused_imports)]
pub use stress::{StressConfig, StressReport, stress};

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the blocking helpers keep retrying a refused or dropped connect.
pub const CONNECT_RETRY: Duration = Duration::from_secs(5);

/// Read/write timeout the blocking helpers put on their sockets: a server
/// that stops answering turns into an error instead of a hang.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Shorthand for `Duration::from_secs`.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Shorthand for `Duration::from_millis`.
pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Last known state of a test body, printed by [`watchdog_progress`] when the
/// body times out. Cheap to clone (shared); safe to update from any thread.
#[derive(Clone, Debug)]
pub struct Progress {
    inner: Arc<ProgressInner>,
}

#[derive(Debug)]
struct ProgressInner {
    state: Mutex<(String, Instant)>,
    counter: AtomicU64,
    started: Instant,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// A fresh progress record in state "started".
    pub fn new() -> Self {
        let now = Instant::now();
        Progress {
            inner: Arc::new(ProgressInner {
                state: Mutex::new(("started".to_owned(), now)),
                counter: AtomicU64::new(0),
                started: now,
            }),
        }
    }

    /// Records the current state (e.g. "connecting conn 17").
    pub fn set(&self, state: impl Into<String>) {
        let mut g = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        *g = (state.into(), Instant::now());
    }

    /// Adds `n` to the progress counter (e.g. bytes or connections done).
    pub fn add(&self, n: u64) {
        self.inner.counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The last state set.
    pub fn state(&self) -> String {
        let g = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        g.0.clone()
    }

    /// The counter's value.
    pub fn count(&self) -> u64 {
        self.inner.counter.load(Ordering::Relaxed)
    }

    /// One line: state, how long ago it was set, the counter.
    pub fn describe(&self) -> String {
        let g = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "{:?} (set {:?} ago, {:?} after start; counter = {})",
            g.0,
            g.1.elapsed(),
            g.1.duration_since(self.inner.started),
            self.count()
        )
    }
}

/// Runs `body` on its own thread and returns its value; panics naming `name`
/// if it does not finish within `limit` (the body's thread is left behind).
/// A panic inside `body` is propagated unchanged.
pub fn watchdog<T: Send + 'static>(
    name: &str,
    limit: Duration,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    watchdog_progress(name, limit, move |_| body())
}

/// Like [`watchdog`], but hands `body` a [`Progress`] to update; on timeout
/// the panic message includes the last state the body recorded.
pub fn watchdog_progress<T: Send + 'static>(
    name: &str,
    limit: Duration,
    body: impl FnOnce(&Progress) -> T + Send + 'static,
) -> T {
    let progress = Progress::new();
    let theirs = progress.clone();
    let (tx, rx) = mpsc::sync_channel(1);
    let handle = thread::Builder::new()
        .name(format!("wd:{name}"))
        .spawn(move || {
            let value = body(&theirs);
            let _ = tx.send(value);
        })
        .expect("watchdog: cannot spawn the test body's thread");
    match rx.recv_timeout(limit) {
        Ok(value) => {
            let _ = handle.join();
            value
        }
        Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!("watchdog body exited without a value or a panic"),
        },
        Err(RecvTimeoutError::Timeout) => panic!(
            "test `{name}` timed out after {limit:?} (its thread is left running); \
             last progress: {}",
            progress.describe()
        ),
    }
}

/// True for connect errors worth retrying: refused (listener not up yet or
/// backlog full), timed out, EAGAIN, resets and ephemeral-port exhaustion.
pub fn is_transient_connect_error(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | TimedOut
            | WouldBlock
            | Interrupted
            | AddrNotAvailable
            | AddrInUse
    )
}

/// Returns an error of the same kind with `context` prepended to its message.
pub fn with_context(e: io::Error, context: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
}

/// Raises the soft open-files limit to at least `want` (capped at the hard
/// limit) and returns the resulting soft limit. `stress` calls it, since
/// client and in-process server sockets share the test process's limit.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on 64-bit Linux only
pub fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    let want = want as libc::rlim_t;
    if lim.rlim_cur >= want || lim.rlim_cur == libc::RLIM_INFINITY {
        return lim.rlim_cur as u64;
    }
    let new = libc::rlimit {
        rlim_cur: want.min(lim.rlim_max),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `new` is a valid rlimit that outlives the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
        new.rlim_cur as u64
    } else {
        lim.rlim_cur as u64
    }
}

/// Windows has no per-process descriptor limit to raise (handles are bounded by memory).
#[cfg(not(unix))]
pub fn raise_fd_limit(want: u64) -> u64 {
    want
}

/// `target/<profile>/examples/<name>`, which `cargo test --all-targets` builds beside the
/// test binaries; `None` when it is not built.
pub fn example(name: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

/// One test at a time, for a binary's tests that measure the whole process (its descriptors,
/// its resident memory, its threads) or load every CPU: each takes this guard first. (Tests of
/// one binary share a process; tests of different binaries never run in the same one.)
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// This process's open descriptors (`/proc/self/fd`; 0 where there is no such directory).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// This process's resident memory in KiB (`/proc/self/statm`, Linux).
pub fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm's resident field");
    #[cfg(unix)]
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    #[cfg(not(unix))]
    let page = 4096;
    pages * page / 1024
}

/// Runs `f` on core 0 and returns what it sends through the channel within 10 s.
pub fn on_core0<T: Send + 'static>(
    rt: &corenet::Runtime,
    f: impl FnOnce(std::sync::mpsc::Sender<T>) + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    rt.block_on(0, move || async move { f(tx) });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the callback ran")
}
