//! The readiness driver: the backend contract (`corenet_engine::driver`) emulated with
//! readiness, one loop for every OS over a [`Platform`] (`crate::unix`, `crate::windows`).
//!
//! A pushed op waits in `pushed` until the next park, which starts it by putting it in the
//! ready list: an op is tried at once, because on an edge-triggered poller a descriptor that
//! is already readable raises no new event. A send on a descriptor the loop already knows is
//! tried as it starts (`Platform::send_now`), and only one that would block becomes a pending
//! op. An attempt that would block registers the descriptor for the readiness it needs and
//! waits for the event; an attempt that used up its share of the park is carried to the next
//! park, which then polls without blocking. A park that has work in hand (ops started or
//! carried) polls only if the one before it did not: on a busy core every other park polls,
//! and a reply's send costs no poll of its own.

pub(crate) mod budget;
pub(crate) mod lender;
pub(crate) mod op;
pub(crate) mod platform;
#[cfg(test)]
pub(crate) mod testing;
mod unpark;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use corenet_engine::driver::{BufPool, Completion, Op, RawSock, Token, Unpark, Wait};
use mio::{Events, Poll};
use slab::Slab;

use lender::Lender;
use op::{Kind, OpState};
use platform::{Platform, RecvCtx, Step};
use unpark::{WAKE, WakerUnpark};

/// Readiness events one park takes. Small batches keep receives and the sends that answer them
/// interleaved: a park that reads from hundreds of sockets in a row, with no send in between,
/// leaves the peer's CPU idle meanwhile, so the socket buffers the reads free queue up for it
/// and the kernel kicks it with an inter-processor interrupt every 32 of them (2.5% of the
/// core at 500 connections, the costliest single item). Measured on Linux loopback at 64 B, 1
/// in flight: 1024 events a park gave 260k req/s at 500 connections and 144k at 5000; 64 gave
/// 280k and 178k; 32 was no better; at 50 connections the size makes no difference.
pub(crate) const EVENTS_PER_PARK: usize = 64;

/// The readiness driver of one core over platform `P`: one `mio::Poll` (epoll, kqueue,
/// IOCP), a `mio::Waker` for wake-ups from other threads, and the core's receive buffers,
/// read into by the driver itself. Not `Send`: it lives on its core's thread.
pub(crate) struct Readiness<P: Platform> {
    poll: Poll,
    events: Events,
    unpark: Arc<WakerUnpark>,
    /// The core's receive buffers.
    bufs: Lender,
    /// Larger buffers for connections that stream, if any (`Platform::STREAM_BUFFERS`).
    stream: Option<Lender>,
    ops: Slab<OpState>,
    /// Pending ops by token, for cancels.
    by_token: foldhash::HashMap<u64, usize>,
    /// What the platform knows of the descriptors with pending ops.
    os: P,
    /// Ops pushed since the last park, in order.
    pushed: Vec<Op>,
    /// Ops to try in this park.
    ready: VecDeque<usize>,
    /// Ops to try again in the next park (their share of this one is used up).
    carry: Vec<usize>,
    /// The last park polled the OS for events (parks with work in hand poll every other
    /// time).
    polled_last_park: bool,
}

impl<P: Platform> Readiness<P> {
    /// A driver taking up to `events` events per poll, reading into `pool`'s buffers and,
    /// for connections that stream, `stream`'s (where the platform reads into them:
    /// `Platform::STREAM_BUFFERS`; otherwise `stream` is left alone).
    ///
    /// # Errors
    ///
    /// The poller's or the waker's creation error (descriptor limits); `InvalidInput` if
    /// another driver has claimed `pool` or `stream` (`BufPool::claim`).
    pub(crate) fn with_events(
        events: usize,
        pool: Rc<BufPool>,
        stream: Option<Rc<BufPool>>,
    ) -> io::Result<Readiness<P>> {
        let bufs = Lender::new(pool)?;
        let stream = match stream {
            Some(pool) if P::STREAM_BUFFERS => Some(Lender::new(pool)?),
            _ => None,
        };
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), WAKE)?;
        Ok(Readiness {
            poll,
            events: Events::with_capacity(events.max(1)),
            unpark: Arc::new(WakerUnpark(waker)),
            bufs,
            stream,
            ops: Slab::new(),
            by_token: foldhash::HashMap::default(),
            os: P::default(),
            pushed: Vec::new(),
            ready: VecDeque::new(),
            carry: Vec::new(),
            polled_last_park: false,
        })
    }

    /// Queues an op; it is started at the next park.
    ///
    /// # Safety
    ///
    /// As for `Driver::push`: what `op` points at stays valid and unmoved, and the descriptor
    /// it names open, until the op's final completion (or while the driver lives).
    pub(crate) unsafe fn push(&mut self, op: Op) {
        self.pushed.push(op);
    }

    /// Gives buffers returned by dropped chunks of this driver's pools back to the receive
    /// path; returns how many.
    pub(crate) fn recycle(&mut self) -> usize {
        self.bufs.recycle() + self.stream.as_mut().map_or(0, Lender::recycle)
    }

    /// Starts the pushed ops, polls as `wait` says (without blocking when anything is ready
    /// already, and not at all when the last park polled), tries the ready ops and appends
    /// completions to `out`.
    ///
    /// # Errors
    ///
    /// A failure of the poll itself.
    pub(crate) fn park(&mut self, wait: Wait, out: &mut Vec<Completion>) -> io::Result<()> {
        self.start_pushed(out);
        let busy = !out.is_empty() || !self.ready.is_empty();
        // With work in hand after a park that polled, this one only runs it: a poll now would
        // mostly find nothing (one syscall per answer on a streaming connection: the park
        // that sends the reply after the park that read the request); events that did arrive
        // wait one park, and the next park polls.
        let poll = !busy || !self.polled_last_park;
        self.polled_last_park = poll;
        if poll {
            let timeout = if busy {
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
        }
        self.run_ready(out);
        Ok(())
    }

    /// The handle other threads use to wake this driver.
    pub(crate) fn unparker(&self) -> Arc<dyn Unpark> {
        self.unpark.clone()
    }

    /// Closes `sock` if the platform owns its handle; false means the reactor closes it.
    pub(crate) fn close(&mut self, sock: RawSock) -> bool {
        self.os.close(self.poll.registry(), sock)
    }

    /// Turns the ops pushed since the last park into pending ops (or applies the cancels),
    /// in push order.
    fn start_pushed(&mut self, out: &mut Vec<Completion>) {
        let mut pushed = std::mem::take(&mut self.pushed);
        for op in pushed.drain(..) {
            match op {
                Op::AcceptMulti { fd, token } => self.start(fd, token, Kind::Accept, out),
                // Readiness-driven receives cannot miss an EOF: a one-shot is served as
                // a multishot (the reactor follows `more`). The reactor's streaming hint,
                // judged once per arming, is not used: a pending receive lives through many
                // reads, and each read picks its buffers from the one before it (Unix:
                // `unix::ops::ReadHint`).
                Op::RecvMulti { fd, token, .. } | Op::RecvOnce { fd, token } => {
                    self.start(fd, token, Kind::Recv, out)
                }
                Op::Send { fd, msg, token } => {
                    // Most sends go through at once: such a send needs no pending op (no
                    // slab entry, no token map, no ready list), only its completion.
                    // SAFETY: the reactor keeps the send slot and its buffers valid until this
                    // op's final completion (contract guarantee 2), which has not come yet.
                    match unsafe { self.os.send_now(fd, msg) } {
                        Some(result) => out.push(final_completion(token, result)),
                        None => self.start(fd, token, Kind::Send { msg }, out),
                    }
                }
                // Not served (`watches_hangup` is false): the reactor never pushes it.
                Op::PollHangup { token, .. } => out.push(final_completion(token, -P::ENOTSUP)),
                Op::Connect { fd, addr, token } => {
                    let kind = Kind::Connect {
                        addr,
                        started: false,
                    };
                    self.start(fd, token, kind, out);
                }
                Op::Cancel { target } => self.cancel(target),
                // The engine declares this op on Windows only: an accept on the server's key
                // once the platform has filed the server.
                #[cfg(windows)]
                Op::AcceptPipe {
                    key,
                    first,
                    name,
                    token,
                } => match self
                    .os
                    .open_pipe_server(self.poll.registry(), key, first, name)
                {
                    Ok(()) => self.start(key, token, Kind::Accept, out),
                    Err(code) => out.push(final_completion(token, -code)),
                },
            }
        }
        self.pushed = pushed;
    }

    fn start(&mut self, sock: RawSock, token: Token, kind: Kind, out: &mut Vec<Completion>) {
        let accept = matches!(kind, Kind::Accept);
        let op = OpState {
            token,
            sock,
            kind,
            cancelled: false,
            queued: true,
        };
        let role = op.role();
        let id = self.ops.insert(op);
        match self.os.attach(self.poll.registry(), sock, role, accept, id) {
            Ok(()) => {
                self.by_token.insert(token.0, id);
                self.ready.push_back(id);
            }
            Err(code) => {
                // Refused (its place taken, or the descriptor could not be readied): report
                // without touching the descriptor's other op or its registration.
                self.ops.remove(id);
                tracing::warn!(?sock, ?token, ?role, "compat op refused: error {code}");
                out.push(final_completion(token, -code));
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

    /// Ends op `id`: forgets it, detaches it from its descriptor (deregistering the
    /// descriptor if no op is left on it, before the reactor, seeing the final completion,
    /// may close it), and reports `result`.
    fn finish(&mut self, id: usize, result: i32, out: &mut Vec<Completion>) {
        let op = self.ops.remove(id);
        if self.by_token.get(&op.token.0) == Some(&id) {
            self.by_token.remove(&op.token.0);
        }
        self.os.detach(self.poll.registry(), op.sock, op.role());
        out.push(final_completion(op.token, result));
    }

    /// Tries every op in the ready list once.
    fn run_ready(&mut self, out: &mut Vec<Completion>) {
        self.bufs.begin_park(P::RECV_BUDGET);
        if let Some(stream) = &mut self.stream {
            stream.begin_park(P::RECV_BUDGET);
        }
        let mut ready = std::mem::take(&mut self.ready);
        while let Some(id) = ready.pop_front() {
            let op = &mut self.ops[id];
            op.queued = false;
            let (sock, token) = (op.sock, op.token);
            let step = if op.cancelled {
                Step::Final(-P::ECANCELED)
            } else {
                match op.kind {
                    Kind::Accept => self.os.accept(self.poll.registry(), sock, token, out),
                    Kind::Recv => {
                        let cx = RecvCtx {
                            bufs: &mut self.bufs,
                            stream: self.stream.as_mut(),
                        };
                        self.os.recv(sock, token, cx, out)
                    }
                    // SAFETY: the reactor keeps the send slot and its buffers valid until this
                    // op's final completion (contract guarantee 2), which has not come yet.
                    Kind::Send { msg } => unsafe { self.os.send(sock, msg) },
                    Kind::Connect {
                        addr,
                        ref mut started,
                    } => {
                        // SAFETY: as for sends: the reactor keeps the address valid until the
                        // final completion.
                        unsafe { self.os.connect(sock, addr, started) }
                    }
                }
            };
            match step {
                Step::Final(result) => self.finish(id, result, out),
                Step::Wait(interest) => {
                    if let Err(e) = self.os.wait(self.poll.registry(), sock, interest) {
                        tracing::warn!(?sock, "compat registration failed: error {e}");
                        self.finish(id, -e, out);
                    }
                }
                Step::Again => {
                    self.ops[id].queued = true;
                    self.carry.push(id);
                }
            }
        }
        if !self.carry.is_empty() {
            ready.extend(self.carry.drain(..));
        }
        self.ready = ready;
    }

    /// Moves the ops the polled events concern into the ready list.
    fn take_events(&mut self) {
        for event in self.events.iter() {
            if event.token() == WAKE {
                continue;
            }
            for id in self.os.on_event(event).into_iter().flatten() {
                let op = &mut self.ops[id];
                if !op.queued {
                    op.queued = true;
                    self.ready.push_back(id);
                }
            }
        }
    }
}

/// What the contract tests look at.
#[cfg(test)]
impl<P: Platform> Readiness<P> {
    /// Descriptors with pending ops.
    pub(crate) fn descriptors(&self) -> usize {
        self.os.len()
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

impl<P: Platform> fmt::Debug for Readiness<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompatDriver")
            .field("pending_ops", &self.ops.len())
            .field("descriptors", &self.os.len())
            .field("free_buffers", &self.bufs.free())
            .field(
                "free_stream_buffers",
                &self.stream.as_ref().map(Lender::free),
            )
            .field("ready", &self.ready.len())
            .finish()
    }
}
