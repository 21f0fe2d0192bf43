//! `CompatDriver` on Windows: the backend contract emulated with readiness over IOCP, through
//! mio's own socket types (see [`sources`]).
//!
//! The same shape as the Unix driver: a pushed op waits in `pushed` until the next park,
//! which tries it at once; an attempt that would block waits for the socket's next event; an
//! attempt that used up its share of the park is carried to the next park.

mod ops;
mod pipes;
mod sources;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::os::windows::io::RawSocket;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use corenet_engine::driver::{BufPool, Completion, Driver, DriverConfig, Op, Token, Unpark, Wait};
use corenet_engine::{Backend, DriverFactory};
use mio::{Events, Poll};
use slab::Slab;

use crate::unpark::{WAKE, WakerUnpark};
use ops::{Kind, RecvCtx, Step};
use sources::{Role, Sources};

/// A pending op.
#[derive(Debug)]
struct OpState {
    token: Token,
    sock: RawSocket,
    kind: Kind,
    /// A cancel arrived: end with `ECANCELED` at the next attempt.
    cancelled: bool,
    /// In the ready list (or carried over); otherwise waiting for an event.
    queued: bool,
}

impl OpState {
    fn role(&self) -> Role {
        match self.kind {
            Kind::Accept | Kind::AcceptPipe | Kind::Recv => Role::Reader,
            Kind::Send { .. } | Kind::Connect { .. } => Role::Writer,
        }
    }
}

/// The readiness driver of one core: one `mio::Poll` (IOCP with AFD polls), a `mio::Waker`
/// for wake-ups from other threads, and the core's receive buffers, read into by the driver.
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
    /// Ids of the pool buffers not lent out as chunks.
    free: Vec<u16>,
    ops: Slab<OpState>,
    /// Pending ops by token, for cancels.
    by_token: HashMap<u64, usize>,
    // After `ops`' users and before `poll`: sources deregister from the poll.
    socks: Sources,
    pushed: Vec<Op>,
    ready: VecDeque<usize>,
    carry: Vec<usize>,
}

impl CompatDriver {
    /// A driver for the core `config` describes, over that core's receive buffers.
    ///
    /// # Errors
    ///
    /// The poller's or the waker's creation error.
    pub fn new(config: &DriverConfig, pool: Rc<BufPool>) -> io::Result<CompatDriver> {
        Self::with_events(config.ring_entries as usize, pool)
    }

    /// A driver taking up to `events` events per poll.
    fn with_events(events: usize, pool: Rc<BufPool>) -> io::Result<CompatDriver> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE)?;
        Ok(CompatDriver {
            poll,
            events: Events::with_capacity(events.max(1)),
            unpark: Arc::new(WakerUnpark(waker)),
            free: (0..pool.count()).rev().collect(),
            pool,
            ops: Slab::new(),
            by_token: HashMap::new(),
            socks: Sources::default(),
            pushed: Vec::new(),
            ready: VecDeque::new(),
            carry: Vec::new(),
        })
    }

    /// A factory for `Builder::driver_factory` that gives every core a `CompatDriver`.
    pub fn factory() -> DriverFactory {
        Arc::new(
            |config: &DriverConfig, pool: Rc<BufPool>| -> io::Result<Box<dyn Driver>> {
                Ok(Box::new(CompatDriver::new(config, pool)?))
            },
        )
    }

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
                    out.push(final_completion(token, -50)); // ERROR_NOT_SUPPORTED
                }
                Op::Connect { fd, addr, token } => {
                    let kind = Kind::Connect {
                        addr,
                        started: false,
                    };
                    self.start(fd, token, kind, out);
                }
                Op::AcceptPipe {
                    key,
                    first,
                    name,
                    token,
                } => {
                    if let Err(e) =
                        pipes::open_server(&mut self.socks, self.poll.registry(), key, first, name)
                    {
                        out.push(final_completion(token, -ops::code(&e)));
                        continue;
                    }
                    if !self.socks.contains(key) {
                        // Its first instance failed to register earlier: the server is gone.
                        out.push(final_completion(token, -6)); // ERROR_INVALID_HANDLE
                        continue;
                    }
                    self.start(key, token, Kind::AcceptPipe, out);
                }
                Op::Cancel { target } => self.cancel(target),
            }
        }
        self.pushed = pushed;
    }

    fn start(&mut self, sock: RawSocket, token: Token, kind: Kind, out: &mut Vec<Completion>) {
        let listener = matches!(kind, Kind::Accept);
        let op = OpState {
            token,
            sock,
            kind,
            cancelled: false,
            queued: true,
        };
        let role = op.role();
        let id = self.ops.insert(op);
        let registry = self.poll.registry();
        if self
            .socks
            .attach(registry, sock, listener, role, id)
            .is_err()
        {
            let op = self.ops.remove(id);
            tracing::warn!(sock, ?token, ?role, "compat op refused: place taken");
            out.push(final_completion(op.token, -170)); // ERROR_BUSY, as EBUSY on Unix
            return;
        }
        self.by_token.insert(token.0, id);
        self.ready.push_back(id);
    }

    fn cancel(&mut self, target: Token) {
        let Some(&id) = self.by_token.get(&target.0) else {
            return;
        };
        let op = &mut self.ops[id];
        op.cancelled = true;
        if !op.queued {
            op.queued = true;
            self.ready.push_back(id);
        }
    }

    /// Ends op `id`: forgets it, deregisters and unwraps its socket if no op is left on it
    /// (before the reactor, seeing the final completion, may close it), and reports `result`.
    fn finish(&mut self, id: usize, result: i32, out: &mut Vec<Completion>) {
        let op = self.ops.remove(id);
        if self.by_token.get(&op.token.0) == Some(&id) {
            self.by_token.remove(&op.token.0);
        }
        self.socks.detach(self.poll.registry(), op.sock, op.role());
        out.push(final_completion(op.token, result));
    }

    fn run_ready(&mut self, out: &mut Vec<Completion>) {
        let mut ready = std::mem::take(&mut self.ready);
        while let Some(id) = ready.pop_front() {
            let op = &mut self.ops[id];
            op.queued = false;
            let (sock, token) = (op.sock, op.token);
            let step = if op.cancelled {
                Step::Final(-ops::ECANCELED)
            } else if matches!(op.kind, Kind::AcceptPipe) {
                pipes::accept(&mut self.socks, self.poll.registry(), sock, token, out)
            } else {
                let source = self.socks.get(sock);
                match op.kind {
                    Kind::Accept => ops::accept(source, token, out),
                    Kind::AcceptPipe => unreachable!("handled above"),
                    Kind::Recv => {
                        let cx = RecvCtx {
                            pool: &self.pool,
                            free: &mut self.free,
                        };
                        ops::recv(source, token, cx, out)
                    }
                    // SAFETY: the reactor keeps the slot and its buffers valid until this
                    // op's final completion (contract guarantee 2), which has not come yet.
                    Kind::Send { msg } => unsafe { ops::send(source, msg) },
                    Kind::Connect {
                        addr,
                        ref mut started,
                    } => {
                        // SAFETY: as for sends, for the address.
                        unsafe { ops::connect(source, addr, started) }
                    }
                }
            };
            match step {
                Step::Final(result) => self.finish(id, result, out),
                Step::Wait => {
                    if let Err(e) = self.socks.wait(self.poll.registry(), sock) {
                        tracing::warn!(sock, "compat registration failed: {e}");
                        self.finish(id, -ops::code(&e), out);
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

    fn take_events(&mut self) {
        for event in self.events.iter() {
            if event.token() == WAKE {
                continue;
            }
            for id in self.socks.on_event(event).into_iter().flatten() {
                let op = &mut self.ops[id];
                if !op.queued {
                    op.queued = true;
                    self.ready.push_back(id);
                }
            }
        }
    }
}

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
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.run_ready(out);
        Ok(())
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        self.unpark.clone()
    }

    fn close(&mut self, fd: RawSocket) -> bool {
        self.socks.close(self.poll.registry(), fd)
    }
}

impl fmt::Debug for CompatDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompatDriver")
            .field("pending_ops", &self.ops.len())
            .field("sockets", &self.socks.len())
            .field("free_buffers", &self.free.len())
            .field("ready", &self.ready.len())
            .finish()
    }
}
