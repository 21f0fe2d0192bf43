//! `CompatDriver`: the backend contract (`corenet_engine::driver`) emulated with readiness.
//!
//! A pushed op waits in `pushed` until the next park, which starts it by putting it in the
//! ready list: an op is tried at once, because on an edge-triggered poller a descriptor that
//! is already readable raises no new event. An attempt that would block registers the
//! descriptor for the readiness it needs and waits for the event; an attempt that used up its
//! share of the park is carried to the next park, which then polls without blocking.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use corenet_engine::driver::{BufPool, Completion, Driver, DriverConfig, Op, Token, Unpark, Wait};
use corenet_engine::{Backend, DriverFactory};
use mio::{Events, Poll};
use slab::Slab;

use crate::budget::RecvBudget;
use crate::ops::{self, Kind, OpState, RecvCtx, Step};
use crate::registry::Registrations;
use crate::sys;
use crate::unpark::{WAKE, WakerUnpark};

#[cfg(test)]
mod tests;

/// Readiness events one park takes. Small batches keep receives and the sends that answer them
/// interleaved: a park that reads from hundreds of sockets in a row, with no send in between,
/// leaves the peer's CPU idle meanwhile, so the socket buffers the reads free queue up for it
/// and the kernel kicks it with an inter-processor interrupt every 32 of them (2.5% of the
/// core at 500 connections, the costliest single item). Measured on loopback at 64 B, 1 in
/// flight: 1024 events a park gave 260k req/s at 500 connections and 144k at 5000; 64 gave
/// 280k and 178k; 32 was no better; at 50 connections the size makes no difference.
const EVENTS_PER_PARK: usize = 64;

/// The readiness driver of one core: one `mio::Poll` (epoll, kqueue), a `mio::Waker` for
/// wake-ups from other threads, and the core's receive buffers, read into by the driver
/// itself.
///
/// Not `Send`: created, driven and dropped on its core's thread, like every driver.
///
/// # Examples
///
/// ```no_run
/// let rt = corenet_engine::Runtime::builder()
///     .driver_factory(corenet_compat::CompatDriver::factory())
///     .build()?;
/// assert_eq!(rt.backend(), corenet_engine::Backend::Compat);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct CompatDriver {
    poll: Poll,
    events: Events,
    unpark: Arc<WakerUnpark>,
    pool: Rc<BufPool>,
    /// Ids of the pool buffers not lent out as chunks (used last-in first-out: warm caches).
    free: Vec<u16>,
    ops: Slab<OpState>,
    /// Pending ops by token, for cancels.
    by_token: HashMap<u64, usize>,
    fds: Registrations,
    /// Ops pushed since the last park, in order.
    pushed: Vec<Op>,
    /// Ops to try in this park.
    ready: VecDeque<usize>,
    /// Ops to try again in the next park (their share of this one is used up).
    carry: Vec<usize>,
}

impl CompatDriver {
    /// A driver for the core `config` describes, over that core's receive buffers. Each poll
    /// takes up to 64 events (fewer if `config.ring_entries` is smaller): small batches keep
    /// receives and the sends that answer them interleaved.
    ///
    /// # Errors
    ///
    /// The poller's or the waker's creation error (descriptor limits).
    pub fn new(config: &DriverConfig, pool: Rc<BufPool>) -> io::Result<CompatDriver> {
        Self::with_events((config.ring_entries as usize).min(EVENTS_PER_PARK), pool)
    }

    /// A driver taking up to `events` events per poll.
    fn with_events(events: usize, pool: Rc<BufPool>) -> io::Result<CompatDriver> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE)?;
        Ok(CompatDriver {
            poll,
            events: Events::with_capacity(events.max(1)),
            unpark: Arc::new(WakerUnpark(waker)),
            // Reversed so that buffer 0 goes out first.
            free: (0..pool.count()).rev().collect(),
            pool,
            ops: Slab::new(),
            by_token: HashMap::new(),
            fds: Registrations::default(),
            pushed: Vec::new(),
            ready: VecDeque::new(),
            carry: Vec::new(),
        })
    }

    /// A factory for `Builder::driver_factory` that gives every core a `CompatDriver`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let rt = corenet_engine::Runtime::builder()
    ///     .cores(2)
    ///     .driver_factory(corenet_compat::CompatDriver::factory())
    ///     .build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn factory() -> DriverFactory {
        Arc::new(
            |config: &DriverConfig, pool: Rc<BufPool>| -> io::Result<Box<dyn Driver>> {
                Ok(Box::new(CompatDriver::new(config, pool)?))
            },
        )
    }

    /// Turns the ops pushed since the last park into pending ops (or applies the cancels),
    /// in push order.
    fn start_pushed(&mut self, out: &mut Vec<Completion>) {
        let mut pushed = std::mem::take(&mut self.pushed);
        for op in pushed.drain(..) {
            match op {
                Op::AcceptMulti { fd, token } => self.start(fd, token, Kind::Accept, out),
                // Readiness-driven receives cannot miss an EOF: a one-shot is served as
                // a multishot (the reactor follows `more`).
                Op::RecvMulti { fd, token } | Op::RecvOnce { fd, token } => {
                    self.start(fd, token, Kind::Recv, out)
                }
                Op::Send { fd, msg, token } => self.start(fd, token, Kind::Send { msg }, out),
                // Not served (`watches_hangup` is false): the reactor never pushes it.
                Op::PollHangup { token, .. } => {
                    out.push(final_completion(token, -libc::EOPNOTSUPP));
                }
                Op::Connect { fd, addr, token } => self.start(
                    fd,
                    token,
                    Kind::Connect {
                        addr,
                        started: false,
                    },
                    out,
                ),
                Op::Cancel { target } => self.cancel(target),
            }
        }
        self.pushed = pushed;
    }

    fn start(&mut self, fd: RawFd, token: Token, kind: Kind, out: &mut Vec<Completion>) {
        let op = OpState {
            token,
            fd,
            kind,
            cancelled: false,
            queued: true,
        };
        let role = op.role();
        let id = self.ops.insert(op);
        let fresh = match self.fds.attach(fd, role, id) {
            Ok(fresh) => fresh,
            Err(e) => {
                // The place is another op's: report without touching its registration.
                let op = self.ops.remove(id);
                tracing::warn!(fd, ?token, ?role, "compat op refused: place taken");
                out.push(final_completion(op.token, -e));
                return;
            }
        };
        let prepared = match (&self.ops[id].kind, fresh) {
            // accept(2) has no "don't wait" flag: a blocking listener would block the core.
            (Kind::Accept, _) => sys::set_nonblocking(fd),
            // A stream socket new to us may come from elsewhere than our accept.
            (Kind::Recv | Kind::Send { .. } | Kind::Connect { .. }, true) => {
                sys::prepare_stream(fd)
            }
            _ => Ok(()),
        };
        match prepared {
            Ok(()) => {
                self.by_token.insert(token.0, id);
                self.ready.push_back(id);
            }
            Err(e) => {
                tracing::warn!(fd, ?token, "compat op refused: errno {e}");
                self.finish(id, -e, out);
            }
        }
    }

    fn cancel(&mut self, target: Token) {
        let Some(&id) = self.by_token.get(&target.0) else {
            return; // already ended; its final completion is on its way or delivered
        };
        let op = &mut self.ops[id];
        op.cancelled = true;
        if !op.queued {
            op.queued = true;
            self.ready.push_back(id);
        }
    }

    /// Ends op `id`: forgets it, deregisters its descriptor if no op is left on it (before
    /// the reactor, seeing the final completion, may close it), and reports `result`.
    fn finish(&mut self, id: usize, result: i32, out: &mut Vec<Completion>) {
        let op = self.ops.remove(id);
        if self.by_token.get(&op.token.0) == Some(&id) {
            self.by_token.remove(&op.token.0);
        }
        self.fds.detach(self.poll.registry(), op.fd, op.role());
        out.push(final_completion(op.token, result));
    }

    /// Tries every op in the ready list once.
    fn run_ready(&mut self, out: &mut Vec<Completion>) {
        let budget = RecvBudget::new(self.free.len(), usize::from(self.pool.reserve()));
        let mut ready = std::mem::take(&mut self.ready);
        while let Some(id) = ready.pop_front() {
            let op = &mut self.ops[id];
            op.queued = false;
            let (fd, token) = (op.fd, op.token);
            let step = if op.cancelled {
                Step::Final(-libc::ECANCELED)
            } else {
                match op.kind {
                    Kind::Accept => ops::accept(fd, token, out),
                    Kind::Recv => {
                        let cx = RecvCtx {
                            pool: &self.pool,
                            free: &mut self.free,
                            read_closed: self.fds.read_closed(fd),
                            budget,
                        };
                        ops::recv(fd, token, cx, out)
                    }
                    // SAFETY: the reactor keeps the msghdr and its iovecs valid until this
                    // op's final completion (contract guarantee 2), which has not come yet.
                    Kind::Send { msg } => unsafe { ops::send(fd, msg) },
                    Kind::Connect {
                        addr,
                        ref mut started,
                    } => {
                        // SAFETY: as for sends: the reactor keeps the address valid until the
                        // final completion.
                        unsafe { ops::connect(fd, addr, started) }
                    }
                }
            };
            match step {
                Step::Final(result) => self.finish(id, result, out),
                Step::Wait(interest) => {
                    if let Err(e) = self.fds.wait(self.poll.registry(), fd, interest) {
                        tracing::warn!(fd, "compat registration failed: errno {e}");
                        self.finish(id, -e, out);
                    }
                }
                Step::Again => {
                    self.ops[id].queued = true;
                    self.carry.push(id);
                }
            }
        }
        ready.extend(self.carry.drain(..));
        self.ready = ready;
    }

    /// Moves the ops the polled events concern into the ready list.
    fn take_events(&mut self) {
        for event in self.events.iter() {
            if event.token() == WAKE {
                continue;
            }
            for id in self.fds.on_event(event).into_iter().flatten() {
                let op = &mut self.ops[id];
                if !op.queued {
                    op.queued = true;
                    self.ready.push_back(id);
                }
            }
        }
    }
}

/// The last completion of an op, carrying no bytes.
fn final_completion(token: Token, result: i32) -> Completion {
    Completion {
        token,
        result,
        more: false,
        chunk: None,
    }
}

impl Driver for CompatDriver {
    fn backend(&self) -> Backend {
        Backend::Compat
    }

    fn push(&mut self, op: Op) {
        self.pushed.push(op);
    }

    fn recycle(&mut self, pool: &BufPool, _starving: bool) -> usize {
        let free = &mut self.free;
        pool.drain_returned(|bid| free.push(bid))
    }

    fn park(&mut self, wait: Wait, out: &mut Vec<Completion>) -> io::Result<()> {
        self.start_pushed(out);
        let timeout = if !out.is_empty() || !self.ready.is_empty() {
            Some(Duration::ZERO)
        } else {
            match wait {
                Wait::Poll => Some(Duration::ZERO),
                Wait::Forever => None,
                Wait::Timeout(d) => Some(d),
            }
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => self.take_events(),
            // A signal: report what is ready; the executor parks again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.run_ready(out);
        Ok(())
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        self.unpark.clone()
    }
}

impl fmt::Debug for CompatDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompatDriver")
            .field("pending_ops", &self.ops.len())
            .field("descriptors", &self.fds.len())
            .field("free_buffers", &self.free.len())
            .field("ready", &self.ready.len())
            .finish()
    }
}
