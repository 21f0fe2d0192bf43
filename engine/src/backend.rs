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
//! 2. **Memory stays put.** Memory an op points at (a send's iovecs and msghdr) is owned by the
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
//!    memory they point into.
//!
//! [`Chunk`]: crate::Chunk
//! [`BufPool`]: crate::buf::BufPool

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use crate::Chunk;
use crate::buf::BufPool;

/// What an op's completions are routed to: a kind and a slot in the reactor's tables.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Token(pub(crate) u64);

/// The kinds of ops, stored in a token's low byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum OpKind {
    Accept = 1,
    Recv = 2,
    Send = 3,
    /// The driver's own ops (its wake-up read); never reported.
    Internal = 4,
}

impl Token {
    pub(crate) fn new(kind: OpKind, slot: usize) -> Token {
        Token(((slot as u64) << 8) | kind as u64)
    }

    pub(crate) fn kind(self) -> Option<OpKind> {
        match self.0 & 0xff {
            1 => Some(OpKind::Accept),
            2 => Some(OpKind::Recv),
            3 => Some(OpKind::Send),
            4 => Some(OpKind::Internal),
            _ => None,
        }
    }

    pub(crate) fn slot(self) -> usize {
        (self.0 >> 8) as usize
    }
}

/// An operation for the driver to start.
#[derive(Debug)]
pub(crate) enum Op {
    /// Accept connections on a listening socket until cancelled or failed; each completion's
    /// `result` is a new descriptor or `-errno`.
    AcceptMulti { fd: RawFd, token: Token },
    /// Receive into pool buffers until cancelled, ended or failed.
    RecvMulti { fd: RawFd, token: Token },
    /// Send `iovcnt` iovecs in one call with MSG_NOSIGNAL; `result` is the bytes sent.
    /// `msg` points at a msghdr whose iov fields the driver may set; both stay valid until
    /// the final completion (guarantee 2).
    Send {
        fd: RawFd,
        msg: *mut libc::msghdr,
        iov: *const libc::iovec,
        iovcnt: usize,
        token: Token,
    },
    /// Ask the op with this token to end early. It still delivers its final completion.
    Cancel { target: Token },
}

/// One result of an op.
#[derive(Debug)]
pub(crate) struct Completion {
    pub(crate) token: Token,
    /// Non-negative result, or `-errno`.
    pub(crate) result: i32,
    /// More completions follow for this op.
    pub(crate) more: bool,
    /// Received bytes (receives only).
    pub(crate) chunk: Option<Chunk>,
}

/// How long `park` may block.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Submit and reap what is ready; don't block.
    Poll,
    /// Block until at least one completion or an unpark.
    Forever,
    /// Block at most this long.
    Timeout(Duration),
}

/// Wakes a parked driver; shared with other threads.
pub(crate) trait Unpark: Send + Sync {
    /// Make the driver's current or next `park` return promptly.
    fn unpark(&self);
}

/// A per-core I/O driver. Not `Send`: created, driven and dropped on its core's thread.
pub(crate) trait Driver {
    /// The backend's name, as `Runtime::backend` reports it.
    fn name(&self) -> &'static str;
    /// Queues an op; it is started no later than the next `park`.
    fn push(&mut self, op: Op);
    /// Gives buffers returned by dropped chunks back to the receive path; returns how many.
    fn recycle(&mut self, pool: &BufPool) -> usize;
    /// Starts queued ops, waits as `wait` says, and appends completions to `out`.
    fn park(&mut self, wait: Wait, out: &mut Vec<Completion>) -> io::Result<()>;
    /// The handle other threads use to wake this driver.
    fn unparker(&self) -> Arc<dyn Unpark>;
}

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
