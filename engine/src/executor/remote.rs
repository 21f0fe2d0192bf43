//! The cross-thread side of a core: a queue other threads push to, and the driver's unparker.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};

use async_task::Runnable;
use concurrent_queue::ConcurrentQueue;

use crate::backend::Unpark;

/// Work handed to a core from another thread.
pub(crate) enum Message {
    /// A task of this core woken elsewhere.
    Run(Runnable),
    /// A closure to run on the core (spawn_on, listener hand-over, shutdown steps).
    Job(Box<dyn FnOnce() + Send>),
}

/// A core's mailbox. `Send + Sync`; shared by the runtime, handles and task wakers.
pub(crate) struct Remote {
    pub(crate) core: usize,
    queue: ConcurrentQueue<Message>,
    unparker: OnceLock<Arc<dyn Unpark>>,
    shutdown: AtomicBool,
    /// A wake-up is on its way and the core has not started its next turn yet: further
    /// senders need not wake it again.
    wake_pending: AtomicBool,
    /// The core's io_uring fd, for MSG_RING wakes from sibling cores; -1 when it has none.
    ring_fd: AtomicI32,
    /// The runtime this core belongs to (set once every core is up).
    runtime: OnceLock<std::sync::Weak<crate::runtime::Shared>>,
}

impl Remote {
    pub(crate) fn new(core: usize) -> Self {
        Remote {
            core,
            queue: ConcurrentQueue::unbounded(),
            unparker: OnceLock::new(),
            shutdown: AtomicBool::new(false),
            wake_pending: AtomicBool::new(false),
            ring_fd: AtomicI32::new(-1),
            runtime: OnceLock::new(),
        }
    }

    pub(crate) fn set_runtime(&self, runtime: std::sync::Weak<crate::runtime::Shared>) {
        let _ = self.runtime.set(runtime);
    }

    pub(crate) fn runtime(&self) -> Option<&std::sync::Weak<crate::runtime::Shared>> {
        self.runtime.get()
    }

    /// Installed once by the core after its driver is up.
    pub(crate) fn set_unparker(&self, unparker: Arc<dyn Unpark>) {
        let _ = self.unparker.set(unparker);
        // Messages may have arrived before the unparker existed.
        self.unpark();
    }

    /// Queues a message and wakes the core. Returns the message if the core is gone.
    pub(crate) fn send(&self, msg: Message) -> Result<(), Message> {
        self.queue.push(msg).map_err(|e| e.into_inner())?;
        self.wake();
        Ok(())
    }

    /// Wakes the core unless a wake-up is already on its way: from a sibling core with a ring,
    /// by a MSG_RING sent with that core's next submission; from anywhere else, through the
    /// driver's unparker (an eventfd write on io_uring).
    pub(crate) fn wake(&self) {
        if self.wake_pending.swap(true, Ordering::SeqCst) {
            return;
        }
        if !super::context::wake_via_sibling_ring(self) {
            self.unpark();
        }
    }

    /// Called by the core at the start of every turn, before it drains the mailbox: a message
    /// queued after this store wakes it again.
    pub(crate) fn clear_wake_pending(&self) {
        self.wake_pending.store(false, Ordering::SeqCst);
    }

    /// Publishes (or, with -1, withdraws) the core's ring fd for MSG_RING wakes.
    pub(crate) fn set_ring_fd(&self, fd: crate::backend::RingFd) {
        self.ring_fd.store(fd, Ordering::SeqCst);
    }

    /// The core's ring fd, if it takes MSG_RING wakes.
    pub(crate) fn ring_fd(&self) -> Option<crate::backend::RingFd> {
        let fd = self.ring_fd.load(Ordering::SeqCst);
        (fd >= 0).then_some(fd)
    }

    /// Wakes the core through its driver's unparker, unconditionally.
    pub(crate) fn unpark(&self) {
        if let Some(u) = self.unparker.get() {
            u.unpark();
        }
    }

    pub(crate) fn try_recv(&self) -> Option<Message> {
        self.queue.pop().ok()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Asks the core to stop; it wakes and tears down.
    pub(crate) fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.unpark();
    }

    pub(crate) fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// Refuses further messages and returns those still queued (dropped by the caller on
    /// the core thread).
    pub(crate) fn close(&self) -> Vec<Message> {
        self.queue.close();
        std::iter::from_fn(|| self.queue.pop().ok()).collect()
    }
}
