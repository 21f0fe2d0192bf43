//! The per-core context: what the current thread's core owns, reachable from tasks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use async_task::Runnable;
use slab::Slab;

use super::remote::{Message, Remote};
use crate::reactor::Reactor;

/// Everything one core owns. Lives on its thread only (`!Send`).
pub(crate) struct CoreCtx {
    /// The core's index in its runtime.
    pub(crate) id: usize,
    pub(crate) reactor: RefCell<Reactor>,
    pub(crate) run_queue: RefCell<VecDeque<Runnable>>,
    pub(crate) remote: Arc<Remote>,
    /// Every live task's waker, so shutdown can cancel them all.
    pub(crate) tasks: RefCell<Slab<Waker>>,
    /// Set once the core is tearing down: spawns and accepts are refused.
    pub(crate) closing: Cell<bool>,
    /// Draining for a graceful shutdown: stop once no connection is left, or at this time.
    pub(crate) drain_deadline: Cell<Option<std::time::Instant>>,
    /// The core's timers.
    pub(crate) timers: RefCell<crate::time::Timers>,
    /// The runtime's cores' mailboxes, this one's included, indexed by core.
    pub(crate) siblings: Vec<Arc<Remote>>,
    /// Sibling cores to wake with a MSG_RING at this core's next flush.
    pub(crate) ring_wakes: RefCell<Vec<usize>>,
    /// MSG_RING wakes work on this core's driver.
    pub(crate) ring_wakes_enabled: Cell<bool>,
    /// Counters other threads can read.
    pub(crate) counters: Arc<crate::stats::Counters>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<CoreCtx>>> = const { RefCell::new(None) };
}

/// Makes `ctx` the current thread's core (or clears it).
pub(crate) fn set_current(ctx: Option<Rc<CoreCtx>>) {
    CURRENT.with(|c| *c.borrow_mut() = ctx);
}

/// The current thread's core, if it is one.
pub(crate) fn try_current() -> Option<Rc<CoreCtx>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The current thread's core.
///
/// # Panics
///
/// On a thread that is not a corenet core.
pub(crate) fn current() -> Rc<CoreCtx> {
    try_current().expect("not on a corenet core: call this from a task spawned on a Runtime")
}

/// The index of the core the current thread runs, if it is one.
pub fn current_core() -> Option<usize> {
    CURRENT.with(|c| c.borrow().as_ref().map(|ctx| ctx.id))
}

/// Queues a MSG_RING wake of `target` if the current thread is a sibling core that can send
/// one; false means the caller must use the unparker.
pub(crate) fn wake_via_sibling_ring(target: &Remote) -> bool {
    CURRENT.with(|c| match &*c.borrow() {
        Some(ctx)
            if ctx.ring_wakes_enabled.get()
                && target.ring_fd().is_some()
                && ctx
                    .siblings
                    .get(target.core)
                    .is_some_and(|r| std::ptr::eq(Arc::as_ptr(r), target)) =>
        {
            ctx.ring_wakes.borrow_mut().push(target.core);
            true
        }
        _ => false,
    })
}

/// A task's schedule function: local queue on its own core, mailbox from anywhere else.
pub(crate) fn schedule(runnable: Runnable, remote: &Arc<Remote>) {
    let runnable = CURRENT.with(|c| match &*c.borrow() {
        Some(ctx) if Arc::ptr_eq(&ctx.remote, remote) => {
            ctx.run_queue.borrow_mut().push_back(runnable);
            None
        }
        _ => Some(runnable),
    });
    if let Some(runnable) = runnable {
        // A closed mailbox means the core is gone; dropping the runnable is then all we can do
        // (its task was already cancelled on the core during shutdown).
        if let Err(Message::Run(r)) = remote.send(Message::Run(runnable)) {
            std::mem::forget(r);
        }
    }
}
