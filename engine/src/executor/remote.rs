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
    /// The core's io_uring fd, for MSG_RING wakes from sibling cores; -1 when it has none (or
    /// has withdrawn it for shutdown). It is `ring`'s number, never the driver's own fd.
    ring_fd: AtomicI32,
    /// A duplicate of the core's ring fd, closed only when the last handle on this core is
    /// gone (after every sibling has stopped). A sibling may read `ring_fd` just before the
    /// core withdraws it and submit its MSG_RING after the core's ring is closed: the number
    /// must still name that ring then, not whatever file reused it.
    #[cfg(unix)]
    ring: OnceLock<std::os::fd::OwnedFd>,
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
            #[cfg(unix)]
            ring: OnceLock::new(),
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

    /// Publishes the core's ring fd for MSG_RING wakes: siblings get a duplicate that stays
    /// open as long as this mailbox (see `ring`). Once per core; on failure (no descriptor
    /// left) siblings wake this core through its unparker instead.
    #[cfg(unix)]
    pub(crate) fn publish_ring_fd(&self, fd: crate::backend::RingFd) -> std::io::Result<()> {
        use std::os::fd::{AsRawFd, BorrowedFd};
        // SAFETY: `fd` is the core's open ring, alive for the duration of this call.
        let dup = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
        let raw = dup.as_raw_fd();
        if self.ring.set(dup).is_ok() {
            self.ring_fd.store(raw, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Withdraws the ring fd: siblings stop aiming MSG_RINGs at this core (those already
    /// queued still reach its ring, kept open by the duplicate).
    pub(crate) fn withdraw_ring_fd(&self) {
        self.ring_fd.store(-1, Ordering::SeqCst);
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn inode(fd: i32) -> Option<u64> {
        // SAFETY: an all-zero stat is a valid out-buffer; fstat only writes into it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid out-pointer for the duration of the call.
        (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st.st_ino as u64)
    }

    #[test]
    fn the_published_ring_fd_outlives_the_cores_own() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let original = inode(a.as_raw_fd()).unwrap();
        let remote = Remote::new(0);
        remote.publish_ring_fd(a.as_raw_fd()).unwrap();
        let published = remote.ring_fd().unwrap();
        assert_ne!(published, a.as_raw_fd());
        // The core closes its ring; a new file may take its number. The published number
        // still names the same file until the mailbox is gone.
        drop(a);
        let reuse = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(inode(published), Some(original));
        remote.withdraw_ring_fd();
        assert_eq!(remote.ring_fd(), None);
        assert_eq!(inode(published), Some(original));
        drop(remote);
        assert_ne!(inode(published), Some(original));
        drop(reuse);
    }
}
