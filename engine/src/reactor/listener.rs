//! A listening socket registered on one core: its multishot accept and the accepted queue.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::task::Waker;

/// Per-core state of one listening socket.
pub(crate) struct Listener {
    pub(crate) fd: RawFd,
    /// Whether the fd is ours to close (false when the socket is shared with other cores and
    /// closed by its owner once every core is done with it).
    pub(crate) owns_fd: bool,
    /// Accepted descriptors (or `errno`s) not yet taken by `accept()`.
    pub(crate) queue: VecDeque<Result<RawFd, i32>>,
    /// The multishot accept is in flight.
    pub(crate) armed: bool,
    /// A cancel was requested for the accept.
    pub(crate) cancelling: bool,
    /// The handle is gone: close once the accept has completed.
    pub(crate) closed: bool,
    pub(crate) waker: Option<Waker>,
}

impl Listener {
    pub(crate) fn new(fd: RawFd, owns_fd: bool) -> Self {
        Listener {
            fd,
            owns_fd,
            queue: VecDeque::new(),
            armed: false,
            cancelling: false,
            closed: false,
            waker: None,
        }
    }

    /// Closes every accepted descriptor nobody took.
    pub(crate) fn close_queued(&mut self) {
        for fd in self.queue.drain(..).flatten() {
            // SAFETY: fd came from accept and was never handed out, so we own it.
            unsafe { libc::close(fd) };
        }
    }
}
