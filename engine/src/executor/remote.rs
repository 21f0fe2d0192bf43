//! The cross-thread side of a core: a queue other threads push to, and the driver's unparker.

use std::sync::atomic::{AtomicBool, Ordering};
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
}

impl Remote {
    pub(crate) fn new(core: usize) -> Self {
        Remote {
            core,
            queue: ConcurrentQueue::unbounded(),
            unparker: OnceLock::new(),
            shutdown: AtomicBool::new(false),
        }
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
        self.unpark();
        Ok(())
    }

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
