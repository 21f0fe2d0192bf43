//! corenet-compat: corenet's portable backend, readiness emulating completions on mio.
//!
//! | platform | poller | status |
//! |---|---|---|
//! | Linux (io_uring missing or forbidden, or forced) | epoll | [`CompatDriver`] |
//! | macOS | kqueue | [`CompatDriver`] (checked with `cargo check --target`) |
//! | Windows | IOCP (AFD; overlapped I/O for named pipes) | [`CompatDriver`]: TCP and named pipes (tested under Wine) |
//!
//! One op loop (`readiness`) serves every OS, generic over a small per-OS trait
//! (`readiness::platform::Platform`) that `unix` (raw descriptors) and `windows` (mio's socket
//! and pipe types) implement; this root picks the OS.
//!
//! The driver implements the engine's backend contract (`corenet_engine::driver`): a
//! readable socket is read into a buffer of the core's pool and handed over as a `Chunk`, the
//! same way io_uring's multishot receive hands over its ring buffers, so the executor,
//! reactor, `Server` and `Socket` above it are the same on both backends.
//!
//! # Examples
//!
//! ```no_run
//! # #[cfg(any(unix, windows))] {
//! let rt = corenet_engine::Runtime::builder()
//!     .driver_factory(corenet_compat::CompatDriver::factory())
//!     .build()?;
//! assert_eq!(rt.backend(), corenet_engine::Backend::Compat);
//! # }
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

/// The crates.io README's examples, compiled by `cargo test --doc` (not part of the docs).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod readiness;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;

use corenet_engine::driver::{
    BufPool, Capabilities, Completion, Driver, DriverConfig, Op, OwnsHandles, RawSock, Unpark, Wait,
};
use corenet_engine::{Backend, DriverFactory};

use readiness::platform::Platform;
use readiness::{EVENTS_PER_PARK, Readiness};
/// This OS's half of the driver (`readiness::platform::Platform`).
#[cfg(unix)]
use unix::Unix as Os;
#[cfg(windows)]
use windows::Windows as Os;

/// The readiness driver of one core: one `mio::Poll` (epoll, kqueue, IOCP), a `mio::Waker`
/// for wake-ups from other threads, and the core's receive buffers, read into by the driver
/// itself.
///
/// Not `Send`: created, driven and dropped on its core's thread, like every driver.
///
/// # Examples
///
/// ```no_run
/// let rt = corenet_engine::Runtime::builder()
///     .driver_factory(corenet_compat::CompatDriver::factory())
///     .build()?;
/// assert_eq!(rt.backend(), corenet_engine::Backend::Compat);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct CompatDriver(Readiness<Os>);

impl CompatDriver {
    /// A driver for the core `config` describes, over that core's receive buffers and, on
    /// Unix, the larger buffers of `config.stream_buffers` for connections that stream (a
    /// receive that took more than a pool buffer reads into them next). Each poll takes up
    /// to 64 events (fewer if `config.ring_entries` is smaller): small batches keep receives
    /// and the sends that answer them interleaved.
    ///
    /// # Errors
    ///
    /// The poller's or the waker's creation error (descriptor limits), the streaming buffers'
    /// allocation error; `InvalidInput` if another driver has claimed `pool`
    /// ([`BufPool::claim`]).
    pub fn new(config: &DriverConfig, pool: Rc<BufPool>) -> io::Result<CompatDriver> {
        let events = (config.ring_entries as usize).min(EVENTS_PER_PARK);
        let stream = match config.stream_buffers {
            Some((count, size)) if <Os as Platform>::STREAM_BUFFERS => {
                Some(BufPool::new(count, size)?)
            }
            _ => None,
        };
        Readiness::with_events(events, pool, stream).map(CompatDriver)
    }

    /// A factory for `Builder::driver_factory` that gives every core a `CompatDriver`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let rt = corenet_engine::Runtime::builder()
    ///     .cores(2)
    ///     .driver_factory(corenet_compat::CompatDriver::factory())
    ///     .build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn factory() -> DriverFactory {
        Arc::new(
            |config: &DriverConfig, pool: Rc<BufPool>| -> io::Result<Box<dyn Driver>> {
                Ok(Box::new(CompatDriver::new(config, pool)?))
            },
        )
    }
}

impl Driver for CompatDriver {
    fn backend(&self) -> Backend {
        Backend::Compat
    }

    fn capabilities(&self) -> Capabilities {
        // No hang-up watch: AF_UNIX streams are received one-shot.
        Capabilities::default()
    }

    unsafe fn push(&mut self, op: Op) {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.0.push(op) };
    }

    fn recycle(&mut self, _starving: bool) -> usize {
        // Every free buffer is offered at once: a readiness driver holds none back.
        self.0.recycle()
    }

    fn park(&mut self, wait: Wait, out: &mut Vec<Completion>) -> io::Result<()> {
        self.0.park(wait, out)
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        self.0.unparker()
    }

    fn handles(&mut self) -> Option<&mut dyn OwnsHandles> {
        // Windows named pipes: the driver owns their handles (mio closes them once their
        // overlapped I/O has finished).
        if <Os as Platform>::OWNS_HANDLES {
            Some(self)
        } else {
            None
        }
    }
}

impl OwnsHandles for CompatDriver {
    fn close(&mut self, fd: RawSock) -> bool {
        self.0.close(fd)
    }
}

impl fmt::Debug for CompatDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
