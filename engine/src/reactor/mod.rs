//! The per-core reactor: connection and listener tables, the send flush, and the dispatch of
//! completions. Backend-agnostic: it talks to the driver only through [`Driver`].

mod accept;
mod conn;
mod lifecycle;
mod listener;
mod recv;
mod rx_queue;
mod send;

use std::collections::VecDeque;
use std::io;
use std::mem::ManuallyDrop;
use std::rc::Rc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::backend::{Capabilities, Completion, Driver, Op, OpKind, SendSlot, Token, Wait};
use crate::buf::{BufPool, WritePool};
use crate::stats::{self, Counters};
use crate::sys;
pub(crate) use conn::Transport;
use conn::{Conn, RxState};
use listener::Listener;
use std::sync::Arc;

/// Per-connection limits, from the runtime builder.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Received chunks queued per connection before its receive is cancelled.
    pub(crate) rx_cap: usize,
    /// Queued send bytes past which `write().await` waits.
    pub(crate) high_water: usize,
}

/// How long shutdown waits for the kernel to finish cancelled ops before leaking their memory.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(10);

/// One core's I/O state.
pub(crate) struct Reactor {
    // The driver (ring) goes before the pool's memory: it is dropped first, in `Drop`, unless
    // teardown could not prove the kernel done with our memory (`leak`).
    driver: ManuallyDrop<Box<dyn Driver>>,
    /// The driver's capabilities, read once.
    caps: Capabilities,
    pool: Rc<BufPool>,
    write_pool: WritePool,
    conns: Slab<Conn>,
    listeners: Slab<Listener>,
    /// Connections written to since the last flush.
    dirty: Vec<usize>,
    /// Connections whose receive queue reached the cap in the last park (the flush pauses
    /// those whose reader is still behind).
    at_cap: Vec<usize>,
    /// Connections whose receive ended with ENOBUFS, in the order they starved.
    starved: VecDeque<usize>,
    completions: Vec<Completion>,
    /// Free send slots. Boxed: an in-flight send's iovecs must not move when this grows.
    #[expect(
        clippy::vec_box,
        reason = "the kernel reads each slot by address while a send is in flight"
    )]
    send_slots: Vec<Box<SendSlot>>,
    limits: Limits,
    counters: Arc<Counters>,
    next_listener_id: u64,
    /// Draining for shutdown: no new listener registrations.
    draining: bool,
    /// A MSG_RING wake failed: the executor switches to unparkers and re-wakes everyone.
    pub(crate) ring_wake_failed: bool,
    /// Teardown gave up waiting for final completions: the driver (the ring, and the memory
    /// its ops point into) is leaked, never dropped.
    leak: bool,
}

impl Reactor {
    pub(crate) fn new(
        driver: Box<dyn Driver>,
        pool: Rc<BufPool>,
        limits: Limits,
        counters: Arc<Counters>,
    ) -> Self {
        Reactor {
            caps: driver.capabilities(),
            driver: ManuallyDrop::new(driver),
            pool,
            write_pool: WritePool::new(16 * 1024, 256),
            conns: Slab::new(),
            listeners: Slab::new(),
            dirty: Vec::new(),
            at_cap: Vec::new(),
            starved: VecDeque::new(),
            completions: Vec::with_capacity(1024),
            send_slots: Vec::new(),
            limits,
            counters,
            next_listener_id: 0,
            draining: false,
            ring_wake_failed: false,
            leak: false,
        }
    }

    /// Pushes an op to the driver, counting it.
    ///
    /// # Safety
    ///
    /// As for [`Driver::push`]: what `op` points at stays valid and unmoved, and the
    /// descriptor it names open, until the op's final completion.
    unsafe fn push(&mut self, op: Op) {
        stats::add(&self.counters.ops, 1);
        // SAFETY: the caller's contract, passed on.
        unsafe { self.driver.push(op) };
    }

    /// Asks the op `target` to end early; it still delivers its final completion.
    fn cancel(&mut self, target: Token) {
        // SAFETY: a cancel carries no pointer and no descriptor.
        unsafe { self.push(Op::Cancel { target }) };
    }

    pub(crate) fn backend(&self) -> crate::Backend {
        self.driver.backend()
    }

    // ---- the loop turn -------------------------------------------------------------------

    /// Step 2 of a turn: receives of readers still behind paused, one send per written
    /// socket, returned buffers back to the driver, and starved receives re-armed: as many as
    /// buffers came back, or as the ring holds free.
    pub(crate) fn flush(&mut self) {
        self.pause_readers_behind();
        let dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            self.flush_conn(slot);
        }
        self.dirty = dirty;
        self.dirty.clear();
        let starving = !self.starved.is_empty();
        let returned = self.driver.recycle(starving);
        let cap_bytes = self.rx_cap_bytes();
        // A receive whose ENOBUFS is reaped after the buffers it waits for came back would
        // wait for a return that may never come (every other socket idle or starved too): so
        // re-arm as many as buffers came back, or as the ring holds free, if more.
        let rearm = returned.max(self.pool.free() as usize);
        for _ in 0..rearm {
            let Some(slot) = self.starved.pop_front() else {
                break;
            };
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.rx_state != RxState::Starved {
                continue;
            }
            conn.rx_state = RxState::Idle;
            if conn.wants_recv(self.limits.rx_cap, cap_bytes) {
                self.arm_recv(slot);
            } else {
                self.maybe_close(slot);
            }
        }
    }

    /// Queues MSG_RING wakes of sibling rings; false if this driver cannot send them.
    pub(crate) fn push_ring_wake(&mut self, target: crate::backend::RingFd) -> bool {
        match self.driver.ring() {
            Some(ring) => {
                ring.push_wake(target);
                true
            }
            None => false,
        }
    }

    /// Steps 3 and 4: submit, wait, and dispatch completions.
    pub(crate) fn park(&mut self, wait: Wait) -> io::Result<()> {
        let mut completions = std::mem::take(&mut self.completions);
        let result = self.driver.park(wait, &mut completions);
        stats::add(&self.counters.parks, 1);
        stats::add(&self.counters.completions, completions.len() as u64);
        for c in completions.drain(..) {
            self.dispatch(c);
        }
        self.completions = completions;
        result
    }

    fn dispatch(&mut self, c: Completion) {
        if c.result == -sys::EFAULT {
            stats::add(&self.counters.efaults, 1);
            tracing::error!(token = c.token.0, "an op completed with EFAULT");
        }
        if c.token == crate::backend::WAKE_FAILED {
            tracing::warn!(
                "a MSG_RING wake failed ({}); falling back to eventfd wakes",
                c.result
            );
            self.ring_wake_failed = true;
            return;
        }
        match c.token.kind() {
            Some(OpKind::Recv) => self.on_recv(c),
            Some(OpKind::Send) => self.on_send(c),
            Some(OpKind::Accept) => self.on_accept(c),
            Some(OpKind::Connect) => self.on_connect(c),
            Some(OpKind::Hangup) => self.on_hangup(c),
            Some(OpKind::Internal) | None => {}
        }
    }

    // ---- teardown ------------------------------------------------------------------------

    /// Cancels every op, waits for every final completion, closes every descriptor. If the
    /// kernel does not finish in time, the memory it might still use is leaked, never freed.
    /// Stops accepting on this core: every listener is released, new ones are refused.
    pub(crate) fn stop_accepting(&mut self) {
        self.draining = true;
        let listeners: Vec<(usize, u64)> = self.listeners.iter().map(|(k, l)| (k, l.id)).collect();
        for (slot, id) in listeners {
            self.release_listener(slot, id);
        }
    }

    /// Connections still open on this core (including released ones still flushing).
    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Closes a socket (or pipe) that has no op in flight: the driver if it owns the
    /// handle, else here.
    pub(crate) fn close_sock(&mut self, fd: sys::RawSock) {
        let closed = self.driver.handles().is_some_and(|h| h.close(fd));
        if !closed {
            // SAFETY: the reactor owns fd and no op is in flight on it (callers' contract).
            unsafe { sys::close(fd) };
        }
    }

    pub(crate) fn shutdown(&mut self) {
        self.shutdown_within(TEARDOWN_LIMIT);
    }

    /// [`shutdown`](Self::shutdown), giving the kernel `limit` to finish.
    fn shutdown_within(&mut self, limit: Duration) {
        self.stop_accepting();
        let conns: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for slot in conns {
            self.destroy(slot);
        }
        let deadline = Instant::now() + limit;
        while (self.conns.iter().any(|(_, c)| c.ops_in_flight()) || !self.listeners.is_empty())
            && Instant::now() < deadline
        {
            self.flush();
            if let Err(e) = self.park(Wait::Timeout(Duration::from_millis(50))) {
                tracing::error!("park during teardown: {e}");
                break;
            }
        }
        let stuck =
            self.conns.iter().filter(|(_, c)| c.ops_in_flight()).count() + self.listeners.len();
        if stuck > 0 {
            tracing::error!(
                "{stuck} sockets still have ops in flight after teardown; leaking them"
            );
            std::mem::forget(std::mem::take(&mut self.conns));
            std::mem::forget(std::mem::take(&mut self.listeners));
            // The kernel may still write into the pool and read the send slots and buffers
            // the forgotten connections hold: the ring stays open and the pool mapped.
            std::mem::forget(self.pool.clone());
            self.leak = true;
            return;
        }
        let fds: Vec<_> = self.conns.drain().map(|c| c.fd).collect();
        for fd in fds {
            self.close_sock(fd);
        }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        if self.leak {
            return;
        }
        // SAFETY: the driver is dropped once, here, and never used after.
        unsafe { ManuallyDrop::drop(&mut self.driver) };
    }
}

pub(crate) use accept::listener_closed;

#[cfg(all(test, unix))]
mod tests;
