//! The per-core executor: one loop turn runs ready tasks (with a budget), flushes sends and
//! returned buffers, parks in the driver, and dispatches completions.

pub(crate) mod context;
pub(crate) mod remote;
pub(crate) mod task;

use std::rc::Rc;
use std::time::Instant;

use crate::backend::Wait;
use context::CoreCtx;
use remote::Message;

/// Tasks run per turn before the core looks at I/O again, so one busy connection cannot
/// starve the others of completions.
pub(crate) const TASK_BUDGET: usize = 256;

/// Runs the core until shutdown is requested, then tears it down.
pub(crate) fn run(ctx: &Rc<CoreCtx>) {
    while !ctx.remote.shutdown_requested() && !drained(ctx) {
        turn(ctx);
    }
    shutdown(ctx);
}

/// During a graceful shutdown: every connection has finished, or the deadline has passed.
/// (`turn` does not park while this holds, so the loop sees it at once.)
fn drained(ctx: &CoreCtx) -> bool {
    ctx.drain_deadline.get().is_some_and(|deadline| {
        ctx.reactor.borrow().connection_count() == 0 || Instant::now() >= deadline
    })
}

/// Starts a graceful shutdown of the current core: no more accepts; the core stops once its
/// connections have ended, or at `deadline` (destroying the rest).
pub(crate) fn drain(ctx: &CoreCtx, deadline: Instant) {
    ctx.drain_deadline.set(Some(deadline));
    ctx.reactor.borrow_mut().stop_accepting();
}

/// One loop turn.
fn turn(ctx: &Rc<CoreCtx>) {
    crate::stats::add(&ctx.counters.turns, 1);
    ctx.remote.clear_wake_pending();
    drain_mailbox(ctx);
    for _ in 0..TASK_BUDGET {
        let next = ctx.run_queue.borrow_mut().pop_front();
        match next {
            Some(runnable) => {
                runnable.run();
            }
            None => break,
        }
    }
    let mut reactor = ctx.reactor.borrow_mut();
    send_ring_wakes(ctx, &mut reactor);
    reactor.flush();
    // After the flush: it may wake tasks (a half-close completing, a write error).
    let drained_now = ctx.drain_deadline.get().is_some() && reactor.connection_count() == 0;
    let busy = !ctx.run_queue.borrow().is_empty() || !ctx.remote.is_empty() || drained_now;
    let wait = if busy {
        Wait::Poll
    } else {
        let timer = ctx.timers.borrow_mut().next_deadline();
        let wake_at = match (timer, ctx.drain_deadline.get()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match wake_at {
            Some(at) => Wait::Timeout(at.saturating_duration_since(Instant::now())),
            None => Wait::Forever,
        }
    };
    if let Err(e) = reactor.park(wait) {
        // A failing enter is a bug or a broken kernel; don't spin on it silently.
        tracing::error!(core = ctx.id, "driver park failed: {e}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    if reactor.ring_wake_failed {
        reactor.ring_wake_failed = false;
        ctx.ring_wakes_enabled.set(false);
        // The failed wake's target is unknown: wake every sibling the reliable way.
        for r in &ctx.siblings {
            r.unpark();
        }
    }
    drop(reactor);
    let mut timers = ctx.timers.borrow_mut();
    if !timers.is_empty() {
        timers.fire_due(Instant::now());
    }
}

/// Sends the MSG_RING wakes queued by this turn's tasks (falling back to unparkers).
fn send_ring_wakes(ctx: &CoreCtx, reactor: &mut crate::reactor::Reactor) {
    let mut wakes = ctx.ring_wakes.borrow_mut();
    for core in wakes.drain(..) {
        let target = &ctx.siblings[core];
        let sent = target
            .ring_fd()
            .is_some_and(|fd| reactor.push_ring_wake(fd));
        if sent {
            crate::stats::add(&ctx.counters.ring_wakes, 1);
        } else {
            target.unpark();
        }
    }
}

fn drain_mailbox(ctx: &Rc<CoreCtx>) {
    // Almost every turn finds the mailbox empty, which two loads tell more cheaply than a
    // failed pop. A message queued after the check finds the wake flag cleared above, so it
    // wakes this core's park and the next turn takes it.
    while !ctx.remote.is_empty() {
        let Some(msg) = ctx.remote.try_recv() else {
            break;
        };
        match msg {
            Message::Run(r) => ctx.run_queue.borrow_mut().push_back(r),
            Message::Job(job) => {
                if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
                    tracing::error!(
                        core = ctx.id,
                        "job panicked: {}",
                        task::panic_message(p.as_ref())
                    );
                }
            }
        }
    }
}

/// Cancels every task, then lets the reactor cancel and await every op in flight, so that
/// no memory the kernel may still use is freed.
fn shutdown(ctx: &Rc<CoreCtx>) {
    ctx.closing.set(true);
    // Siblings stop aiming MSG_RINGs at a ring about to close (those already on their way
    // land on it: the published fd is a duplicate that stays open; see Remote::ring).
    ctx.remote.withdraw_ring_fd();
    ctx.ring_wakes_enabled.set(false);
    for core in ctx.ring_wakes.borrow_mut().drain(..) {
        ctx.siblings[core].unpark();
    }
    // Cancel tasks: wake each so its runnable lands in our queue, then drop the runnables
    // (dropping a runnable drops its future, here on the core's thread). Dropped futures drop
    // their sockets, which only marks them for closing.
    for _ in 0..64 {
        drain_mailbox(ctx);
        let wakers: Vec<_> = ctx.tasks.borrow().iter().map(|(_, w)| w.clone()).collect();
        if wakers.is_empty() {
            break;
        }
        for w in wakers {
            w.wake();
        }
        loop {
            let next = ctx.run_queue.borrow_mut().pop_front();
            match next {
                Some(r) => drop(r),
                None => break,
            }
        }
    }
    for msg in ctx.remote.close() {
        drop(msg);
    }
    ctx.run_queue.borrow_mut().clear();
    ctx.reactor.borrow_mut().shutdown();
}
