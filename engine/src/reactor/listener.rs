//! A listening socket registered on one core: its multishot accept and the accepted queue.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;

use crate::sys::{self, ListenSock, RawSock};

/// Per-core state of one listening socket.
pub(crate) struct Listener {
    /// Tells this registration apart from a later one that reuses the slot.
    pub(crate) id: u64,
    pub(crate) fd: RawSock,
    /// Keeps the socket open while this core may still accept on it. A socket shared by
    /// several cores (Unix) closes when the last of them lets go.
    pub(crate) socket: Arc<ListenSock>,
    /// Accepted descriptors (or `errno`s) not yet taken by `accept()`.
    pub(crate) queue: VecDeque<Result<RawSock, i32>>,
    /// The multishot accept is in flight.
    pub(crate) armed: bool,
    /// A cancel was requested for the accept.
    pub(crate) cancelling: bool,
    /// The handle is gone: close once the accept has completed.
    pub(crate) closed: bool,
    pub(crate) waker: Option<Waker>,
}

impl Listener {
    pub(crate) fn new(id: u64, socket: Arc<ListenSock>) -> Self {
        Listener {
            id,
            fd: sys::listener_raw(&socket),
            socket,
            queue: VecDeque::new(),
            armed: false,
            cancelling: false,
            closed: false,
            waker: None,
        }
    }
}
