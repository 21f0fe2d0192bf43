//! The backend contract: what a driver (io_uring, or the compat readiness loop) must provide
//! to the per-core executor and reactor, and what it must guarantee. The contract owns the
//! types it speaks in: the [`Op`]s and [`Completion`]s ([`op`]), the memory a send points at
//! ([`SendSlot`]), the socket handle ([`RawSock`]) and the [`Backend`] names.
//!
//! The reactor speaks in completions: it pushes [`Op`]s, calls [`Driver::park`] once per loop
//! turn, and receives a [`Completion`] for every result. A readiness backend emulates this by
//! performing the syscall when the descriptor is ready and reporting the result the same way.
//!
//! A driver must guarantee:
//!
//! 1. **Every op completes.** Each pushed op yields completions until one arrives with
//!    `more == false` (its *final* completion), even when cancelled (`-ECANCELED`) or when the
//!    descriptor errors. `Op::Cancel` itself produces no completion.
//! 2. **Memory stays put.** Memory an op points at (a send's [`SendSlot`], a connect's
//!    address) is owned by the caller and stays valid and unmoved until that op's final
//!    completion; the driver never touches it after that. This is the `# Safety` contract of
//!    [`Driver::push`], which is `unsafe`: safe code cannot hand a driver a dangling pointer.
//! 3. **Receives come as chunks.** A multishot receive hands each run of bytes over as a
//!    [`Chunk`] in `Completion::chunk`, from the core's [`BufPool`]; `result == 0` means end of
//!    stream; `-ENOBUFS` means the pool ran dry (the op has ended; no byte was lost).
//! 4. **Order.** Completions of one op arrive in the order its results happened; no byte of a
//!    stream is reordered or dropped.
//! 5. **Wake from anywhere.** [`Unpark::unpark`] from any thread makes a parked (or the next)
//!    `park` return promptly.
//! 6. **Teardown.** A driver is dropped only after every op it accepted has had its final
//!    completion (the reactor waits for that), and drops its kernel registrations before the
//!    memory they point into. If the reactor gives up waiting, it never drops the driver:
//!    the driver, its kernel registrations and the memory ops point into are leaked.
//! 7. **Descriptors are the reactor's.** The reactor may close an fd as soon as the final
//!    completion of the last op on it has been reported, so a driver that registers fds with
//!    a poller (readiness backends) deregisters before reporting that completion. The one
//!    exception is a handle the driver owns (Windows named pipes, whose overlapped I/O mio
//!    finishes on its own): such a driver offers [`Driver::handles`], the reactor closes every
//!    fd through [`OwnsHandles::close`] first, and the driver closes its own there. Accepted
//!    fds are close-on-exec; whether they are blocking is the driver's choice, so the reactor
//!    makes no blocking syscall on them.
//!
//! What only some backends do sits behind [`Driver::capabilities`] (facts the reactor reads
//! once) and two optional extensions, [`Driver::ring`] and [`Driver::handles`]. The per-op
//! path stays one call through the reactor's `Box<dyn Driver>`, as before.
//!
//! [`contract`] (feature `contract-tests`) walks every guarantee on any driver; each backend's
//! tests run it.
//!
//! [`Chunk`]: crate::Chunk
//! [`BufPool`]: crate::buf::BufPool

#[cfg(any(test, feature = "contract-tests"))]
pub mod contract;
pub mod op;
mod send_slot;

use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use op::{Completion, Op, OpKind, Token, WAKE_FAILED};
pub use send_slot::SendSlot;

/// A socket handle as the reactor and the drivers pass it around: a `RawFd` on Unix, a
/// `RawSocket` (a `SOCKET`, or a tagged named pipe handle) on Windows.
#[cfg(unix)]
pub type RawSock = std::os::fd::RawFd;
/// A socket handle as the reactor and the drivers pass it around: a `RawFd` on Unix, a
/// `RawSocket` (a `SOCKET`, or a tagged named pipe handle) on Windows.
#[cfg(windows)]
pub type RawSock = std::os::windows::io::RawSocket;

/// A ring's file descriptor (Linux), as sibling cores address MSG_RING wakes to it.
pub type RingFd = i32;

/// Which backend a runtime's cores run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// io_uring (Linux).
    IoUring,
    /// The portable readiness backend (mio: epoll, kqueue, IOCP).
    Compat,
}

impl Backend {
    /// The backend's name as `CORENET_BACKEND` and the examples' `--backend` spell it:
    /// `"io_uring"` or `"compat"`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::IoUring => "io_uring",
            Backend::Compat => "compat",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How long `park` may block.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// Submit and reap what is ready; don't block.
    Poll,
    /// Block until at least one completion or an unpark.
    Forever,
    /// Block at most this long.
    Timeout(Duration),
}

/// Wakes a parked driver; shared with other threads.
pub trait Unpark: Send + Sync {
    /// Make the driver's current or next `park` return promptly.
    fn unpark(&self);
}

/// What a driver does beyond what every driver must: facts the reactor reads once, when the
/// core starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The driver serves [`Op::PollHangup`]. The reactor then receives from AF_UNIX streams
    /// with a multishot receive while it watches for the peer's hang-up (and with one-shot
    /// receives after it); otherwise always with one-shot receives.
    pub watches_hangup: bool,
}

/// A per-core I/O driver. Not `Send`: created, driven and dropped on its core's thread.
pub trait Driver {
    /// Which backend this is, as `Runtime::backend` reports it.
    fn backend(&self) -> Backend;
    /// What this driver does beyond the contract's core.
    fn capabilities(&self) -> Capabilities;
    /// Queues an op; it is started no later than the next `park`.
    ///
    /// # Safety
    ///
    /// Until the op's final completion has been reported by `park` (guarantee 2), or for as
    /// long as the driver lives if that never comes:
    ///
    /// - every pointer in `op` (a send's [`SendSlot`] and the buffers it lists, a connect's
    ///   address, a pipe's name) is valid for reads and does not move;
    /// - every descriptor in `op` is an open socket (or pipe) of the caller's, which it closes
    ///   only after that final completion (through [`OwnsHandles::close`] where the driver
    ///   offers it).
    ///
    /// [`Op::Cancel`] carries neither and is always sound to push.
    unsafe fn push(&mut self, op: Op);
    /// Gives buffers returned by dropped chunks back to the receive path (the driver's own
    /// pool, the one it was created over); returns how many. `starving`: a receive ended for
    /// want of buffers (ENOBUFS) and waits for them, so every free buffer must be offered to
    /// the kernel now (a driver may hold some back otherwise).
    fn recycle(&mut self, starving: bool) -> usize;
    /// Starts queued ops, waits as `wait` says, and appends completions to `out`.
    ///
    /// # Errors
    ///
    /// A failure of the wait itself (not of an op: those are completions), after which the
    /// core stops.
    fn park(&mut self, wait: Wait, out: &mut Vec<Completion>) -> io::Result<()>;
    /// The handle other threads use to wake this driver.
    fn unparker(&self) -> Arc<dyn Unpark>;
    /// The ring sibling cores may wake with a MSG_RING, if this driver has one (io_uring).
    fn ring(&mut self) -> Option<&mut dyn RingWakes> {
        None
    }
    /// The driver's handle closing, if it owns some of the handles its ops report (Windows
    /// named pipes). The reactor then closes every fd through it.
    fn handles(&mut self) -> Option<&mut dyn OwnsHandles> {
        None
    }
}

/// A driver with a ring that sibling cores wake by MSG_RING instead of its unparker.
pub trait RingWakes {
    /// This driver's ring fd, as siblings address their wakes to it.
    fn ring_fd(&self) -> RingFd;
    /// Queues a MSG_RING that wakes the ring `target` (a sibling's `ring_fd`). A wake that
    /// fails later is reported as a completion with [`WAKE_FAILED`].
    fn push_wake(&mut self, target: RingFd);
}

/// A driver that owns some of the handles it reports (Windows named pipes, whose mio wrapper
/// closes them once their overlapped I/O has finished).
pub trait OwnsHandles {
    /// Closes `fd` if this driver owns its handle and returns true; false means the reactor
    /// closes it. Called once no op on `fd` is in flight.
    fn close(&mut self, fd: RawSock) -> bool;
}
