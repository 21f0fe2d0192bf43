//! The backend contract: what a driver (io_uring, or the compat readiness loop) must provide
//! to the per-core executor and reactor, and what it must guarantee.
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
//! 2. **Memory stays put.** Memory an op points at (a send's [`SendSlot`], a connect's address) is owned by the
//!    reactor and stays valid and unmoved until that op's final completion; the driver never
//!    touches it after that.
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
//!    finishes on its own): the reactor closes every fd through [`Driver::close`] first, and
//!    such a driver closes it there. Accepted
//!    fds are close-on-exec; whether they are blocking is the driver's choice, so the reactor
//!    makes no blocking syscall on them.
//!
//! [`Chunk`]: crate::Chunk
//! [`BufPool`]: crate::buf::BufPool

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::Backend;
use crate::Chunk;
use crate::buf::BufPool;
pub use crate::reactor::SendSlot;
pub use crate::sys::RawSock;

/// A ring's file descriptor (Linux), as sibling cores address MSG_RING wakes to it.
pub type RingFd = i32;

/// What an op's completions are routed to: a kind and a slot in the reactor's tables.
/// Drivers treat it as opaque and hand it back in each [`Completion`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Token(pub u64);

/// The kinds of ops, stored in a token's low byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum OpKind {
    /// A multishot accept.
    Accept = 1,
    /// A multishot receive.
    Recv = 2,
    /// A send.
    Send = 3,
    /// A connect.
    Connect = 5,
    /// A hang-up watch ([`Op::PollHangup`]).
    Hangup = 6,
    /// The driver's own ops (its wake-up read); never reported.
    Internal = 4,
}

impl Token {
    /// A token for op `kind` of table slot `slot`.
    pub fn new(kind: OpKind, slot: usize) -> Token {
        Token(((slot as u64) << 8) | kind as u64)
    }

    /// The op kind, if the token is one of the reactor's.
    pub fn kind(self) -> Option<OpKind> {
        match self.0 & 0xff {
            1 => Some(OpKind::Accept),
            2 => Some(OpKind::Recv),
            3 => Some(OpKind::Send),
            4 => Some(OpKind::Internal),
            5 => Some(OpKind::Connect),
            6 => Some(OpKind::Hangup),
            _ => None,
        }
    }

    /// The table slot.
    pub fn slot(self) -> usize {
        (self.0 >> 8) as usize
    }
}

/// An operation for the driver to start.
#[derive(Debug)]
pub enum Op {
    /// Accept connections on a listening socket until cancelled or failed; each completion's
    /// `result` is a new descriptor or `-errno`.
    AcceptMulti {
        /// The listening socket.
        fd: RawSock,
        /// Routes the completions.
        token: Token,
    },
    /// Receive into pool buffers until cancelled, ended or failed.
    RecvMulti {
        /// The connected socket.
        fd: RawSock,
        /// Routes the completions.
        token: Token,
    },
    /// Receive once into one pool buffer: one completion, `more` false. For streams on which
    /// a multishot receive can miss the end of the stream (AF_UNIX once its peer has shut
    /// down, see `Hangup`). A driver whose receives are not the kernel's multishot
    /// may serve it as [`Op::RecvMulti`]: the reactor follows each completion's `more`.
    RecvOnce {
        /// The connected socket.
        fd: RawSock,
        /// Routes the completion.
        token: Token,
    },
    /// Complete once the peer has shut down its sending side, or the connection hung up or
    /// failed (POLLRDHUP | POLLHUP | POLLERR); `result` is the poll mask or `-errno`. Pushed
    /// only to a driver whose [`Driver::watches_hangup`] is true; others complete it at once
    /// with an error.
    PollHangup {
        /// The connected socket.
        fd: RawSock,
        /// Routes the completion.
        token: Token,
    },
    /// Connect a (nonblocking) stream socket; the one completion's `result` is 0 or
    /// `-errno` (e.g. `-ECONNREFUSED`).
    Connect {
        /// The socket.
        fd: RawSock,
        /// The peer address, valid until the completion (guarantee 2).
        addr: *const socket2::SockAddr,
        /// Routes the completion.
        token: Token,
    },
    /// Send the buffers of `msg` ([`SendSlot::bufs`]; on Unix also as one msghdr,
    /// [`SendSlot::msghdr`]) in one call without raising SIGPIPE (MSG_NOSIGNAL, or
    /// SO_NOSIGPIPE where the platform has no such flag); `result` is the bytes sent. The slot
    /// and the buffers stay valid and unchanged until the final completion (guarantee 2).
    Send {
        /// The connected socket.
        fd: RawSock,
        /// The reactor's buffer list for this send.
        msg: *const SendSlot,
        /// Routes the completion.
        token: Token,
    },
    /// Accept clients on a Windows named pipe server until cancelled or failed. Each
    /// completion's `result` is a connected instance, a tagged pipe handle (see
    /// `sys::is_pipe`) that the driver owns: the reactor closes it with [`Driver::close`].
    #[cfg(windows)]
    AcceptPipe {
        /// The server's key (its first instance's tagged handle), as later ops name it.
        key: RawSock,
        /// The first instance, handed to the driver by the server's first accept.
        first: Option<RawSock>,
        /// The pipe's NUL-terminated UTF-16 name, valid until the final completion
        /// (guarantee 2): later instances are created under it.
        name: *const u16,
        /// Routes the completions.
        token: Token,
    },
    /// Ask the op with this token to end early. It still delivers its final completion.
    Cancel {
        /// The token of the op to cancel.
        target: Token,
    },
}

/// One result of an op.
#[derive(Debug)]
pub struct Completion {
    /// The op's token.
    pub token: Token,
    /// Non-negative result, or `-errno`.
    pub result: i32,
    /// More completions follow for this op.
    pub more: bool,
    /// Received bytes (receives only).
    pub chunk: Option<Chunk>,
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

/// A per-core I/O driver. Not `Send`: created, driven and dropped on its core's thread.
pub trait Driver {
    /// Which backend this is, as `Runtime::backend` reports it.
    fn backend(&self) -> Backend;
    /// Queues an op; it is started no later than the next `park`.
    fn push(&mut self, op: Op);
    /// Whether this driver serves [`Op::PollHangup`]. The reactor then receives from AF_UNIX
    /// streams with a multishot receive while it watches for the peer's hang-up (and with
    /// one-shot receives after it); otherwise always with one-shot receives.
    fn watches_hangup(&self) -> bool {
        false
    }
    /// Gives buffers returned by dropped chunks back to the receive path; returns how many.
    /// `starving`: a receive ended for want of buffers (ENOBUFS) and waits for them, so every
    /// free buffer must be offered to the kernel now (a driver may hold some back otherwise).
    fn recycle(&mut self, pool: &BufPool, starving: bool) -> usize;
    /// Starts queued ops, waits as `wait` says, and appends completions to `out`.
    ///
    /// # Errors
    ///
    /// A failure of the wait itself (not of an op: those are completions), after which the
    /// core stops.
    fn park(&mut self, wait: Wait, out: &mut Vec<Completion>) -> io::Result<()>;
    /// The handle other threads use to wake this driver.
    fn unparker(&self) -> Arc<dyn Unpark>;
    /// Closes `fd` if this driver owns its handle (Windows named pipes, whose mio wrapper
    /// closes them once their overlapped I/O has finished) and returns true; false means the
    /// reactor closes it. Called once no op on `fd` is in flight.
    fn close(&mut self, fd: RawSock) -> bool {
        let _ = fd;
        false
    }
    /// This driver's ring fd, if sibling cores may wake it with a MSG_RING.
    fn ring_fd(&self) -> Option<RingFd> {
        None
    }
    /// Queues a MSG_RING that wakes the ring `target` (a sibling's `ring_fd`). A wake that
    /// fails later is reported as a completion with [`WAKE_FAILED`]. Drivers without rings
    /// return false and the caller uses the sibling's unparker.
    fn push_ring_wake(&mut self, target: RingFd) -> bool {
        let _ = target;
        false
    }
}

/// The token of a failed MSG_RING wake's completion.
pub const WAKE_FAILED: Token = Token(((1u64) << 8) | OpKind::Internal as u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips() {
        let t = Token::new(OpKind::Send, 123_456);
        assert_eq!(t.kind(), Some(OpKind::Send));
        assert_eq!(t.slot(), 123_456);
        assert_eq!(Token(0).kind(), None);
    }
}
