//! The io_uring driver: multishot accept, multishot receive from a provided-buffer ring,
//! send/sendmsg with MSG_NOSIGNAL, and an eventfd read kept armed for cross-thread wakes.
//! One ring per core, created, driven and dropped on that core's thread.
//!
//! Receives take buffers from one of two groups: the core's pool, and (when configured) a
//! pool of fewer, larger buffers for connections that stream ([`Op::RecvMulti`]'s hint).
//! A 64 KiB burst then lands in 4 buffers, not 16: the kernel copies it with fewer iovec
//! segments and the process hands over, queues and echoes 4 chunks, not 16 (the peers read
//! into one 16 or 64 KiB buffer). Small messages stay in small buffers, so thousands of
//! connections with a message each do not pin the large ones.

mod buf_ring;
mod probe;
mod recv_limit;
mod split;
#[cfg(test)]
mod tests;
mod wake;

use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;

use io_uring::types::{Fd, SubmitArgs, Timespec};
use io_uring::{EnterFlags, IoUring, cqueue, opcode, squeue};

use crate::backend::{
    Capabilities, Completion, Driver, Op, OpKind, RingFd, RingWakes, Token, Unpark, Wait,
};
use crate::buf::BufPool;
use buf_ring::BufRing;
pub(crate) use probe::SetupMode;
use wake::EventFd;

/// Buffer group id of the core's receive pool.
const BGID: u16 = 0;
/// Buffer group id of the pool for streaming connections.
const STREAM_BGID: u16 = 1;
/// The token of the eventfd read.
const WAKE_TOKEN: Token = Token(OpKind::Internal as u64);
/// The token of an ASYNC_CANCEL's own CQE: not reported (a cancel produces no completion,
/// guarantee 1; the op it ends reports its own).
const CANCEL_TOKEN: Token = Token(0);
/// The token of the CQE a sibling core's MSG_RING posts on our ring.
const RING_WAKE_TOKEN: Token = Token((2 << 8) | OpKind::Internal as u64);

/// io_uring implementation of [`Driver`].
pub(crate) struct UringDriver {
    // Field order is drop order: the ring (its fd) goes before the memory it may point into.
    ring: IoUring,
    /// The core's receive pool and its ring.
    group: Group,
    /// Larger buffers for streaming connections, if any.
    stream: Option<Group>,
    wake: Arc<EventFd>,
    /// The eventfd read's target; boxed so its address is stable while the read is in flight.
    wake_buf: Box<u64>,
    wake_armed: bool,
    /// The kernel has IORING_OP_MSG_RING (5.18): siblings may wake us through our ring.
    msg_ring: bool,
    /// Multishot receives take bundles: one completion for all the buffers a read filled
    /// (IORING_RECVSEND_BUNDLE, kernel 6.10).
    bundle: bool,
    /// Flags every wait carries: `NO_IOWAIT` where the kernel has it (6.15). Without it a
    /// core parked with receives armed counts as waiting on I/O: an idle server shows as
    /// iowait, and each sleep and wake-up pays the scheduler's iowait accounting.
    wait_flags: EnterFlags,
    /// How receives are kept to `recv_limit` bytes at once ([`recv_limit`]).
    recv_mode: recv_limit::Mode,
    /// The most bytes one receive arming may take (a connection's receive cap).
    recv_limit: u32,
    /// Dropping: the wake read must not be re-armed.
    closing: bool,
    /// SQEs that did not fit in the SQ this turn.
    backlog: Vec<squeue::Entry>,
    mode: SetupMode,
    /// Set if teardown could not prove the kernel is done with our memory: leak it then.
    leak: bool,
}

/// A buffer group: a pool and the registered ring that offers its buffers to receives.
struct Group {
    ring: BufRing,
    pool: Rc<BufPool>,
}

impl Group {
    /// Registers `pool` as buffer group `bgid`, its buffers published from id `first_bid`.
    fn register(ring: &IoUring, pool: Rc<BufPool>, bgid: u16, first_bid: u16) -> io::Result<Self> {
        let buf_ring = BufRing::register(ring, &pool, bgid, first_bid).map_err(|e| {
            if e.raw_os_error() == Some(libc::EINVAL) {
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    "io_uring lacks PBUF_RING (kernel 5.19)",
                )
            } else {
                e
            }
        })?;
        Ok(Group {
            ring: buf_ring,
            pool,
        })
    }
}

impl UringDriver {
    /// Sets up a ring of `entries` SQEs over `pool`'s buffers, and `stream`'s for streaming
    /// connections; multishot receives end after `recv_limit` bytes (0: no limit) where the
    /// kernel can do that.
    ///
    /// # Errors
    ///
    /// The ring's setup and probe errors; `InvalidInput` if another driver has claimed
    /// `pool` or `stream` ([`BufPool::claim`]).
    pub(crate) fn new(
        entries: u32,
        recv_limit: u32,
        pool: Rc<BufPool>,
        stream: Option<Rc<BufPool>>,
    ) -> io::Result<Self> {
        // Multishot receives produce CQEs without new SQEs: size the CQ well beyond the SQ
        // (liburing's echo server uses 8x) so bursts don't overflow it.
        let cq_entries = (entries * 8).max(u32::from(pool.count()) * 2).min(1 << 16);
        let (mut ring, mode) = probe::setup(entries, cq_entries)?;
        let msg_ring = probe::check(&ring, mode)?;
        let bundle = ring.params().is_feature_recvsend_bundle();
        let wait_flags = if ring.params().is_feature_no_iowait() {
            EnterFlags::NO_IOWAIT
        } else {
            EnterFlags::empty()
        };
        // Everything that can fail without kernel state comes before the buffer ring is
        // registered: once it is, only Drop may end the registration.
        let wake = Arc::new(EventFd::new()?);
        // The kernel reads into the pools' buffers from now on: no other driver may.
        pool.claim()?;
        if let Some(stream) = &stream {
            stream.claim()?;
        }
        let first_stream_bid = pool.count();
        let group = Group::register(&ring, pool, BGID, 0)?;
        // The large buffers are an optimisation: without them, every receive uses the pool.
        let stream = stream.and_then(|pool| {
            Group::register(&ring, pool, STREAM_BGID, first_stream_bid)
                .inspect_err(|e| tracing::warn!("no buffers for streaming connections: {e}"))
                .ok()
        });
        let recv_mode = if recv_limit > 0 {
            recv_limit::Mode::probe(&mut ring, BGID)
        } else {
            recv_limit::Mode::Off
        };
        let mut driver = UringDriver {
            ring,
            group,
            stream,
            wake,
            wake_buf: Box::new(0),
            wake_armed: false,
            msg_ring,
            wait_flags,
            bundle,
            recv_mode,
            recv_limit,
            closing: false,
            backlog: Vec::new(),
            mode,
            leak: false,
        };
        driver.arm_wake();
        Ok(driver)
    }

    /// The setup flags in use.
    pub(crate) fn mode(&self) -> SetupMode {
        self.mode
    }

    /// How receives are limited, and to how many bytes.
    pub(crate) fn recv_limit(&self) -> (recv_limit::Mode, u32) {
        (self.recv_mode, self.recv_limit)
    }

    /// The buffer group a multishot receive selects from: the streaming connections' while
    /// their pool is not under pressure (which includes having no free buffer: a receive
    /// armed on it then would end with ENOBUFS every time it is re-armed), else the pool's.
    fn recv_group(&self, streaming: bool) -> u16 {
        match &self.stream {
            Some(g) if streaming && !g.pool.under_pressure() => g.ring.bgid(),
            _ => self.group.ring.bgid(),
        }
    }

    /// The buffer groups: the pool's, then the streaming connections' if any.
    fn groups(&self) -> impl Iterator<Item = &Group> {
        std::iter::once(&self.group).chain(&self.stream)
    }

    /// Queues an SQE; when the SQ is full it waits in `backlog` for the next park.
    fn push_sqe(&mut self, sqe: &squeue::Entry) {
        if self.backlog.is_empty() {
            // SAFETY: every SQE built by this driver points only at memory that stays valid
            // until its final CQE (backend contract, guarantee 2; the wake buffer is owned here
            // and outlives the ring's ops, see Drop).
            if unsafe { self.ring.submission().push(sqe) }.is_ok() {
                return;
            }
        }
        self.backlog.push(sqe.clone());
    }

    /// Moves backlogged SQEs into the SQ while it has room; true when none are left.
    fn fill_from_backlog(&mut self) -> bool {
        if self.backlog.is_empty() {
            return true;
        }
        let mut sq = self.ring.submission();
        let room = sq.capacity() - sq.len();
        let n = room.min(self.backlog.len());
        // SAFETY: as in push_sqe: the backlogged SQEs point at memory kept valid until their
        // final CQEs.
        unsafe { sq.push_multiple(&self.backlog[..n]) }.expect("room was checked");
        drop(sq);
        self.backlog.drain(..n);
        self.backlog.is_empty()
    }

    fn arm_wake(&mut self) {
        let sqe = opcode::Read::new(
            Fd(self.wake.as_raw_fd()),
            (&mut *self.wake_buf as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(WAKE_TOKEN.0);
        self.push_sqe(&sqe);
        self.wake_armed = true;
    }

    fn enter(&mut self, wait: Wait) -> io::Result<()> {
        let result = match wait {
            Wait::Timeout(d) => {
                let ts = Timespec::new().sec(d.as_secs()).nsec(d.subsec_nanos());
                let args = SubmitArgs::new().timespec(&ts);
                self.ring
                    .submitter()
                    .submit_with_args_and_flags(1, &args, self.wait_flags)
            }
            Wait::Poll | Wait::Forever => {
                let min = if matches!(wait, Wait::Forever) { 1 } else { 0 };
                let to_submit = self.ring.submission().len() as u32;
                // SAFETY: no extended argument is passed; flags are GETEVENTS, which also runs
                // deferred task work (DEFER_TASKRUN) when min is 0, and the wait flags.
                unsafe {
                    self.ring.submitter().enter::<libc::sigset_t>(
                        to_submit,
                        min,
                        (EnterFlags::GETEVENTS | self.wait_flags).bits(),
                        None,
                    )
                }
            }
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.raw_os_error() {
                // A timeout, a signal, or a full CQ (NODROP backlog): reap and carry on.
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) => {
                    Ok(())
                }
                _ => Err(e),
            },
        }
    }

    fn reap(&mut self, out: &mut Vec<Completion>) {
        let mut rearm_wake = false;
        for cqe in self.ring.completion() {
            let token = Token(cqe.user_data());
            let flags = cqe.flags();
            let result = cqe.result();
            let more = cqueue::more(flags);
            if token == RING_WAKE_TOKEN || token == CANCEL_TOKEN {
                // A sibling's MSG_RING: its only job was to end our wait. A cancel's own
                // result: the op it ends reports its final completion itself.
                continue;
            }
            if token == WAKE_TOKEN {
                self.wake_armed = false;
                rearm_wake = result != -libc::ECANCELED && !self.closing;
                continue;
            }
            let Some(first) = cqueue::buffer_select(flags) else {
                out.push(Completion {
                    token,
                    result,
                    more,
                    chunk: None,
                });
                continue;
            };
            let receive = Receive {
                token,
                first,
                result,
                more,
            };
            // The buffer id tells the group: the groups' ids do not overlap.
            let group = match &mut self.stream {
                Some(stream) if stream.ring.holds(first) => stream,
                _ => &mut self.group,
            };
            if let Err(what) = split_receive(&mut group.ring, &group.pool, receive, out) {
                // One buffer per completion needs no bookkeeping beyond the reported id:
                // receives armed from now on take no bundles (those in flight keep theirs).
                tracing::error!(
                    lost = group.ring.lost(),
                    "io_uring buffer ring out of step with the kernel ({what}); bundles off"
                );
                self.bundle = false;
            }
        }
        if rearm_wake {
            self.arm_wake();
        }
    }
}

/// A receive completion that names a buffer from the ring.
struct Receive {
    token: Token,
    first: u16,
    result: i32,
    more: bool,
}

/// Turns a receive completion into one completion per buffer it filled (`more` on all but the
/// last), each buffer holding up to its descriptor's own length ([`split`]). A buffer
/// consumed without bytes goes straight back to the pool.
///
/// # Errors
///
/// What was out of step when the completion does not match the ring: descriptors skipped to
/// get back in step (the completion is delivered), or no way back (the receive ends with EIO
/// instead of handing out bytes that may belong to another connection).
fn split_receive(
    ring: &mut BufRing,
    pool: &Rc<BufPool>,
    r: Receive,
    out: &mut Vec<Completion>,
) -> Result<(), String> {
    let res = r.result.max(0) as usize;
    let consumed = match ring.consume(r.first, res) {
        Ok(c) => c,
        Err(e) => {
            out.push(Completion {
                token: r.token,
                result: -libc::EIO,
                more: r.more,
                chunk: None,
            });
            return Err(format!("{e:?}"));
        }
    };
    let mut left = res;
    for i in 0..consumed.buffers {
        let (bid, len) = ring.take_head();
        let bytes = split::take(&mut left, len);
        let last = i + 1 == consumed.buffers;
        // SAFETY: the CQE hands `bid` over: the kernel has finished writing into it and
        // takes it from the ring no more (it left the ring at `take_head`); it goes back only
        // through `refill`, after the chunk returns it. `bytes` is at most the buffer's size.
        let chunk = unsafe { pool.chunk(bid, bytes as u32) };
        if bytes == 0 && !last {
            // A zero-length descriptor inside a bundle: nothing to deliver.
            continue;
        }
        out.push(Completion {
            token: r.token,
            result: if consumed.buffers == 1 {
                r.result
            } else {
                bytes as i32
            },
            more: r.more || !last,
            chunk: (bytes > 0).then_some(chunk),
        });
    }
    match consumed.skipped {
        0 => Ok(()),
        n => Err(format!("{n} descriptors skipped to the reported buffer")),
    }
}

impl Driver for UringDriver {
    fn backend(&self) -> crate::Backend {
        crate::Backend::IoUring
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            watches_hangup: true,
        }
    }

    unsafe fn push(&mut self, op: Op) {
        let sqe = match op {
            Op::AcceptMulti { fd, token } => opcode::AcceptMulti::new(Fd(fd))
                .flags(libc::SOCK_CLOEXEC)
                .build()
                .user_data(token.0),
            Op::RecvMulti {
                fd,
                token,
                streaming,
            } => recv_limit::recv_sqe(
                fd,
                self.recv_group(streaming),
                self.bundle,
                self.recv_mode,
                self.recv_limit,
            )
            .user_data(token.0),
            // Buffer select: the kernel picks the buffer, `len` 0 takes its whole size.
            Op::RecvOnce { fd, token } => opcode::Recv::new(Fd(fd), std::ptr::null_mut(), 0)
                .buf_group(self.group.ring.bgid())
                .build()
                .flags(io_uring::squeue::Flags::BUFFER_SELECT)
                .user_data(token.0),
            Op::Send { fd, msg, token } => {
                // SAFETY: the caller keeps the send slot and the buffers it lists valid and
                // unmoved until the final completion (`push`'s contract, guarantee 2).
                let slot = unsafe { &*msg };
                if let [one] = slot.bufs() {
                    // One buffer: plain SEND, no msghdr for the kernel to import.
                    opcode::Send::new(Fd(fd), one.as_ptr(), one.len() as u32)
                        .flags(libc::MSG_NOSIGNAL)
                        .build()
                        .user_data(token.0)
                } else {
                    opcode::SendMsg::new(Fd(fd), slot.msghdr())
                        .flags(libc::MSG_NOSIGNAL as u32)
                        .build()
                        .user_data(token.0)
                }
            }
            Op::PollHangup { fd, token } => {
                let mask = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;
                opcode::PollAdd::new(Fd(fd), mask as u32)
                    .build()
                    .user_data(token.0)
            }
            Op::Connect { fd, addr, token } => {
                // SAFETY: the caller keeps the address valid and unmoved until the final
                // completion (`push`'s contract, guarantee 2).
                let addr = unsafe { &*addr };
                opcode::Connect::new(Fd(fd), addr.as_ptr().cast(), addr.len())
                    .build()
                    .user_data(token.0)
            }
            Op::Cancel { target } => opcode::AsyncCancel::new(target.0)
                .build()
                .user_data(CANCEL_TOKEN.0),
        };
        self.push_sqe(&sqe);
    }

    fn recycle(&mut self, starving: bool) -> usize {
        std::iter::once(&mut self.group)
            .chain(&mut self.stream)
            .map(|g| g.ring.refill(&g.pool, starving))
            .sum()
    }

    fn park(&mut self, wait: Wait, out: &mut Vec<Completion>) -> io::Result<()> {
        // A backlog (more SQEs in a turn than the SQ holds) goes in SQ-sized batches first.
        while !self.fill_from_backlog() {
            self.enter(Wait::Poll)?;
            self.reap(out);
        }
        let wait = if out.is_empty() { wait } else { Wait::Poll };
        self.enter(wait)?;
        self.reap(out);
        Ok(())
    }

    fn unparker(&self) -> Arc<dyn Unpark> {
        self.wake.clone()
    }

    fn ring(&mut self) -> Option<&mut dyn RingWakes> {
        // Only a kernel with MSG_RING (5.18) lets siblings wake us through the ring.
        if self.msg_ring { Some(self) } else { None }
    }
}

impl RingWakes for UringDriver {
    fn ring_fd(&self) -> RingFd {
        self.ring.as_raw_fd()
    }

    fn push_wake(&mut self, target: RingFd) {
        // The target sees a CQE with the (ignored) wake token; we see one only on failure.
        let sqe = opcode::MsgRingData::new(Fd(target), 0, RING_WAKE_TOKEN.0, None)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(crate::backend::WAKE_FAILED.0);
        self.push_sqe(&sqe);
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        // The wake read is the driver's own op: cancel it and wait for its final CQE before
        // the buffer it writes into (and the ring) go away. Reactor ops are already complete
        // (contract guarantee 6).
        self.closing = true;
        if self.wake_armed {
            let sqe = opcode::AsyncCancel::new(WAKE_TOKEN.0)
                .build()
                .user_data(CANCEL_TOKEN.0);
            self.push_sqe(&sqe);
            let mut sink = Vec::new();
            for _ in 0..1000 {
                if !self.wake_armed {
                    break;
                }
                self.fill_from_backlog();
                if self
                    .enter(Wait::Timeout(std::time::Duration::from_millis(10)))
                    .is_err()
                {
                    break;
                }
                self.reap(&mut sink);
            }
            if self.wake_armed {
                self.leak = true;
            }
        }
        if self.leak {
            tracing::error!("io_uring teardown: ops still in flight; leaking their memory");
            let wake_buf = std::mem::replace(&mut self.wake_buf, Box::new(0));
            std::mem::forget(wake_buf);
            // The pools' memory is kept alive by leaking one reference to each.
            for g in self.groups() {
                std::mem::forget(g.pool.clone());
            }
            return;
        }
        for g in self.groups() {
            if let Err(e) = g.ring.unregister(&self.ring) {
                tracing::warn!("unregistering a buffer ring: {e}");
            }
        }
    }
}
