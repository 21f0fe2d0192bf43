//! The per-core reactor: connection and listener tables, the send flush, and the dispatch of
//! completions. Backend-agnostic: it talks to the driver only through [`Driver`].

mod conn;
mod listener;
mod send_slot;

use std::collections::VecDeque;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::backend::{Completion, Driver, Op, OpKind, Token, Wait};
use crate::buf::{BufPool, Chunk, OwnedBuf, TxBuf, WritePool};
use crate::stats::{self, Counters};
use conn::{Conn, ConnectState, RxState, WrState, set_waker};
use listener::Listener;
use send_slot::{MAX_IOV, SendSlot};
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
    // Field order is drop order: the driver (ring) goes before the pool's memory.
    driver: Box<dyn Driver>,
    pool: Rc<BufPool>,
    write_pool: WritePool,
    conns: Slab<Conn>,
    listeners: Slab<Listener>,
    /// Connections written to since the last flush.
    dirty: Vec<usize>,
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
}

impl Reactor {
    pub(crate) fn new(
        driver: Box<dyn Driver>,
        pool: Rc<BufPool>,
        limits: Limits,
        counters: Arc<Counters>,
    ) -> Self {
        Reactor {
            driver,
            pool,
            write_pool: WritePool::new(16 * 1024, 256),
            conns: Slab::new(),
            listeners: Slab::new(),
            dirty: Vec::new(),
            starved: VecDeque::new(),
            completions: Vec::with_capacity(1024),
            send_slots: Vec::new(),
            limits,
            counters,
            next_listener_id: 0,
            draining: false,
            ring_wake_failed: false,
        }
    }

    /// Pushes an op to the driver, counting it.
    fn push(&mut self, op: Op) {
        stats::add(&self.counters.ops, 1);
        self.driver.push(op);
    }

    pub(crate) fn backend(&self) -> crate::Backend {
        self.driver.backend()
    }

    // ---- the loop turn -------------------------------------------------------------------

    /// Step 2 of a turn: one send per written socket, returned buffers back to the driver,
    /// and as many starved receives re-armed as buffers came back.
    pub(crate) fn flush(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            self.flush_conn(slot);
        }
        self.dirty = dirty;
        self.dirty.clear();
        let returned = self.driver.recycle(&self.pool);
        for _ in 0..returned {
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
            if conn.wants_recv(self.limits.rx_cap) {
                self.arm_recv(slot);
            } else {
                self.maybe_close(slot);
            }
        }
    }

    /// Queues MSG_RING wakes of sibling rings; false if this driver cannot send them.
    pub(crate) fn push_ring_wake(&mut self, target: RawFd) -> bool {
        self.driver.push_ring_wake(target)
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
        if c.result == -libc::EFAULT {
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
            Some(OpKind::Internal) | None => {}
        }
    }

    // ---- receive -------------------------------------------------------------------------

    fn arm_recv(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        conn.rx_state = RxState::Armed;
        let fd = conn.fd;
        self.push(Op::RecvMulti {
            fd,
            token: Token::new(OpKind::Recv, slot),
        });
    }

    fn on_recv(&mut self, c: Completion) {
        let slot = c.token.slot();
        let cap = self.limits.rx_cap;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if let Some(chunk) = c.chunk {
            if !conn.released {
                conn.rx.push_back(chunk);
                conn.wake_reader();
            }
        } else if c.result == 0 {
            conn.rx_end = Some(0);
            conn.wake_reader();
        } else if c.result < 0 && c.result != -libc::ENOBUFS && c.result != -libc::ECANCELED {
            conn.rx_end = Some(-c.result);
            conn.wake_reader();
        }
        if !c.more {
            let starved = c.result == -libc::ENOBUFS && !conn.released && conn.rx_end.is_none();
            if starved {
                stats::add(&self.counters.recv_starved, 1);
                conn.rx_state = RxState::Starved;
                self.starved.push_back(slot);
            } else {
                conn.rx_state = RxState::Idle;
                if conn.wants_recv(cap) {
                    self.arm_recv(slot);
                }
            }
        } else if conn.rx_state == RxState::Armed && conn.rx.len() >= cap {
            // Flow control: the reader is behind; stop receiving until it catches up.
            conn.rx_state = RxState::Cancelling;
            stats::add(&self.counters.recv_paused, 1);
            self.push(Op::Cancel { target: c.token });
        }
        self.maybe_close(slot);
    }

    pub(crate) fn poll_read(
        &mut self,
        slot: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Chunk>>> {
        let cap = self.limits.rx_cap;
        let conn = &mut self.conns[slot];
        if let Some(chunk) = conn.rx.pop_front() {
            let chunk = if chunk.is_ring_buffer() && self.pool.under_pressure() {
                stats::add(&self.counters.compactions, 1);
                compact(chunk, &mut conn.rx)
            } else {
                chunk
            };
            if conn.wants_recv(cap) {
                self.arm_recv(slot);
            }
            return Poll::Ready(Ok(Some(chunk)));
        }
        match conn.rx_end {
            Some(0) => return Poll::Ready(Ok(None)),
            Some(errno) => return Poll::Ready(Err(io::Error::from_raw_os_error(errno))),
            None => {}
        }
        set_waker(&mut conn.read_waker, cx.waker());
        if conn.wants_recv(cap) {
            self.arm_recv(slot);
        }
        Poll::Pending
    }

    // ---- send ----------------------------------------------------------------------------

    fn mark_dirty(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if !conn.tx_dirty {
            conn.tx_dirty = true;
            self.dirty.push(slot);
        }
    }

    fn check_writable(conn: &Conn) -> io::Result<()> {
        if let Some(errno) = conn.tx_error {
            return Err(io::Error::from_raw_os_error(errno));
        }
        if conn.wr_state != WrState::Open {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "write after end"));
        }
        Ok(())
    }

    /// Queues a copy of `data` (coalesced into the last queued copy when it has room).
    pub(crate) fn queue_copy(&mut self, slot: usize, data: &[u8]) -> io::Result<()> {
        let conn = &mut self.conns[slot];
        Self::check_writable(conn)?;
        if data.is_empty() {
            return Ok(());
        }
        conn.tx_bytes += data.len();
        // Only an entry that no send in flight points at may grow (it must not reallocate
        // under the kernel), and only within its capacity.
        if conn.tx.len() > conn.tx_in_flight {
            if let Some(TxBuf::Pooled(v)) = conn.tx.back_mut() {
                if v.capacity() - v.len() >= data.len() {
                    v.extend_from_slice(data);
                    self.mark_dirty(slot);
                    return Ok(());
                }
            }
        }
        let mut v = self.write_pool.take(data.len());
        v.extend_from_slice(data);
        self.conns[slot].tx.push_back(TxBuf::Pooled(v));
        self.mark_dirty(slot);
        Ok(())
    }

    /// Queues `buf` without copying (a ring chunk is copied instead when the core is short of
    /// receive buffers, so a slow peer can't pin them all).
    pub(crate) fn queue_owned(&mut self, slot: usize, buf: OwnedBuf) -> io::Result<()> {
        if let OwnedBuf::Chunk(chunk) = &buf {
            if chunk.is_ring_buffer()
                && self.pool.under_pressure()
                && chunk.len() <= self.write_pool.buf_capacity()
            {
                return self.queue_copy(slot, chunk);
            }
        }
        let conn = &mut self.conns[slot];
        Self::check_writable(conn)?;
        if buf.as_slice().is_empty() {
            return Ok(());
        }
        conn.tx_bytes += buf.as_slice().len();
        conn.tx.push_back(TxBuf::Owned(buf));
        self.mark_dirty(slot);
        Ok(())
    }

    pub(crate) fn poll_write_room(
        &mut self,
        slot: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let high_water = self.limits.high_water;
        let conn = &mut self.conns[slot];
        if let Some(errno) = conn.tx_error {
            return Poll::Ready(Err(io::Error::from_raw_os_error(errno)));
        }
        if conn.tx_bytes < high_water {
            return Poll::Ready(Ok(()));
        }
        set_waker(&mut conn.write_waker, cx.waker());
        Poll::Pending
    }

    pub(crate) fn poll_flush(&mut self, slot: usize, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let conn = &mut self.conns[slot];
        if let Some(errno) = conn.tx_error {
            return Poll::Ready(Err(io::Error::from_raw_os_error(errno)));
        }
        if conn.flushed() && conn.wr_state != WrState::ShutdownPending {
            return Poll::Ready(Ok(()));
        }
        set_waker(&mut conn.flush_waker, cx.waker());
        Poll::Pending
    }

    /// Half-closes the write side once everything queued is sent.
    pub(crate) fn shutdown_write(&mut self, slot: usize) -> io::Result<()> {
        let conn = &mut self.conns[slot];
        if let Some(errno) = conn.tx_error {
            return Err(io::Error::from_raw_os_error(errno));
        }
        if conn.wr_state == WrState::Open {
            conn.wr_state = WrState::ShutdownPending;
            self.mark_dirty(slot);
        }
        Ok(())
    }

    fn flush_conn(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.tx_dirty = false;
        if conn.tx_in_flight > 0 || conn.tx_error.is_some() || conn.discard {
            return;
        }
        if conn.tx.is_empty() {
            if conn.wr_state == WrState::ShutdownPending {
                // SAFETY: fd is open: it is closed only when the slot is freed.
                unsafe { libc::shutdown(conn.fd, libc::SHUT_WR) };
                conn.wr_state = WrState::Closed;
                conn.wake_writers(self.limits.high_water);
            }
            return;
        }
        let mut ss = conn
            .send_slot
            .take()
            .or_else(|| self.send_slots.pop())
            .unwrap_or_else(SendSlot::new_boxed);
        let mut n = 0;
        for (i, buf) in conn.tx.iter().take(MAX_IOV).enumerate() {
            let bytes = if i == 0 {
                &buf.as_slice()[conn.tx_offset..]
            } else {
                buf.as_slice()
            };
            ss.iov[i] = libc::iovec {
                iov_base: bytes.as_ptr() as *mut libc::c_void,
                iov_len: bytes.len(),
            };
            n += 1;
        }
        conn.tx_in_flight = n;
        let msg: *mut libc::msghdr = &mut ss.msg;
        let iov = ss.iov.as_ptr();
        let fd = conn.fd;
        conn.send_slot = Some(ss);
        stats::add(&self.counters.sends, 1);
        self.push(Op::Send {
            fd,
            msg,
            iov,
            iovcnt: n,
            token: Token::new(OpKind::Send, slot),
        });
    }

    fn on_send(&mut self, c: Completion) {
        let slot = c.token.slot();
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.tx_in_flight = 0;
        if let Some(ss) = conn.send_slot.take() {
            self.send_slots.push(ss);
        }
        if c.result < 0 {
            conn.tx_error = Some(-c.result);
            conn.wr_state = WrState::Closed;
            conn.tx_bytes = 0;
            conn.tx_offset = 0;
            for buf in conn.tx.drain(..) {
                if let TxBuf::Pooled(v) = buf {
                    self.write_pool.give(v);
                }
            }
        } else {
            let mut sent = c.result as usize;
            conn.tx_bytes -= sent;
            while sent > 0 {
                let front = conn
                    .tx
                    .front()
                    .expect("sent more than was queued")
                    .as_slice()
                    .len()
                    - conn.tx_offset;
                if sent >= front {
                    sent -= front;
                    conn.tx_offset = 0;
                    if let Some(TxBuf::Pooled(v)) = conn.tx.pop_front() {
                        self.write_pool.give(v);
                    }
                } else {
                    conn.tx_offset += sent;
                    sent = 0;
                }
            }
            if conn.discard {
                conn.tx_bytes = 0;
                for buf in conn.tx.drain(..) {
                    if let TxBuf::Pooled(v) = buf {
                        self.write_pool.give(v);
                    }
                }
            } else if !conn.tx.is_empty() || conn.wr_state == WrState::ShutdownPending {
                // Resume a partial send (or half-close) in this turn's flush.
                self.mark_dirty(slot);
            }
        }
        let high_water = self.limits.high_water;
        self.conns[slot].wake_writers(high_water);
        self.maybe_close(slot);
    }

    // ---- connections ---------------------------------------------------------------------

    /// Registers a new socket and starts connecting it to `addr`; the reactor now owns `fd`.
    pub(crate) fn start_connect(&mut self, fd: RawFd, addr: socket2::SockAddr) -> usize {
        let slot = self.conns.insert(Conn::new(fd));
        let addr = Box::new(addr);
        let (ptr, len) = (addr.as_ptr().cast::<libc::sockaddr>(), addr.len());
        self.conns[slot].connect = ConnectState::InFlight { _addr: addr };
        self.push(Op::Connect {
            fd,
            addr: ptr,
            len,
            token: Token::new(OpKind::Connect, slot),
        });
        slot
    }

    pub(crate) fn poll_connect(
        &mut self,
        slot: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let conn = &mut self.conns[slot];
        match conn.connect {
            ConnectState::Done => Poll::Ready(Ok(())),
            ConnectState::Failed(errno) => Poll::Ready(Err(io::Error::from_raw_os_error(errno))),
            ConnectState::InFlight { .. } => {
                set_waker(&mut conn.write_waker, cx.waker());
                Poll::Pending
            }
        }
    }

    fn on_connect(&mut self, c: Completion) {
        let slot = c.token.slot();
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        // The address box may go now: the op is complete.
        conn.connect = if c.result == 0 {
            ConnectState::Done
        } else {
            ConnectState::Failed(-c.result)
        };
        if let Some(w) = conn.write_waker.take() {
            w.wake();
        }
        self.maybe_close(slot);
    }

    /// Registers an open, connected socket; the reactor now owns `fd`.
    pub(crate) fn add_conn(&mut self, fd: RawFd) -> usize {
        self.conns.insert(Conn::new(fd))
    }

    pub(crate) fn queued_bytes(&self, slot: usize) -> usize {
        self.conns[slot].tx_bytes
    }

    pub(crate) fn conn_fd(&self, slot: usize) -> RawFd {
        self.conns[slot].fd
    }

    /// The socket handle is gone: stop receiving, flush what is queued, then close.
    pub(crate) fn release(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        conn.released = true;
        conn.read_waker = None;
        conn.write_waker = None;
        conn.flush_waker = None;
        conn.rx.clear();
        let connecting = matches!(conn.connect, ConnectState::InFlight { .. });
        match conn.rx_state {
            RxState::Armed => {
                conn.rx_state = RxState::Cancelling;
                self.push(Op::Cancel {
                    target: Token::new(OpKind::Recv, slot),
                });
            }
            RxState::Starved => conn.rx_state = RxState::Idle,
            RxState::Idle | RxState::Cancelling => {}
        }
        if connecting {
            self.push(Op::Cancel {
                target: Token::new(OpKind::Connect, slot),
            });
        }
        self.maybe_close(slot);
    }

    /// Discards everything queued and closes as soon as in-flight ops complete.
    pub(crate) fn destroy(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        let in_flight = conn.tx_in_flight;
        while conn.tx.len() > in_flight {
            if let Some(TxBuf::Pooled(v)) = conn.tx.pop_back() {
                self.write_pool.give(v);
            }
        }
        conn.wr_state = WrState::Closed;
        conn.discard = true;
        if in_flight > 0 {
            // Make the send in flight finish now rather than when the peer reads.
            // SAFETY: fd is open until the slot is freed.
            unsafe { libc::shutdown(conn.fd, libc::SHUT_RDWR) };
        }
        if in_flight == 0 {
            conn.tx_bytes = 0;
        }
        self.release(slot);
    }

    fn maybe_close(&mut self, slot: usize) {
        if self.conns.get(slot).is_some_and(Conn::can_close) {
            let conn = self.conns.remove(slot);
            if let Some(ss) = conn.send_slot {
                self.send_slots.push(ss);
            }
            for buf in conn.tx {
                if let TxBuf::Pooled(v) = buf {
                    self.write_pool.give(v);
                }
            }
            // SAFETY: every op on fd has completed (can_close), so no op can run on a reused
            // descriptor number; we own fd.
            unsafe { libc::close(conn.fd) };
        }
    }

    // ---- listeners -----------------------------------------------------------------------

    /// Registers a listening socket on this core; returns its slot and id.
    ///
    /// # Errors
    ///
    /// When the core is draining for shutdown.
    pub(crate) fn add_listener(&mut self, socket: Arc<OwnedFd>) -> io::Result<(usize, u64)> {
        if self.draining {
            return Err(listener_closed());
        }
        self.next_listener_id += 1;
        let id = self.next_listener_id;
        Ok((self.listeners.insert(Listener::new(id, socket)), id))
    }

    fn listener(&mut self, slot: usize, id: u64) -> Option<&mut Listener> {
        self.listeners
            .get_mut(slot)
            .filter(|l| l.id == id && !l.closed)
    }

    pub(crate) fn poll_accept(
        &mut self,
        slot: usize,
        id: u64,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<RawFd>> {
        let Some(l) = self.listener(slot, id) else {
            return Poll::Ready(Err(listener_closed()));
        };
        if let Some(r) = l.queue.pop_front() {
            return Poll::Ready(r.map_err(io::Error::from_raw_os_error));
        }
        set_waker(&mut l.waker, cx.waker());
        if !l.armed {
            l.armed = true;
            let fd = l.fd;
            self.push(Op::AcceptMulti {
                fd,
                token: Token::new(OpKind::Accept, slot),
            });
        }
        Poll::Pending
    }

    fn on_accept(&mut self, c: Completion) {
        let slot = c.token.slot();
        let Some(l) = self.listeners.get_mut(slot) else {
            if c.result >= 0 {
                // SAFETY: a descriptor accepted for a listener that no longer exists is ours.
                unsafe { libc::close(c.result) };
            }
            return;
        };
        if c.result >= 0 {
            if l.closed {
                // SAFETY: accepted after the listener was released; nobody else has it.
                unsafe { libc::close(c.result) };
            } else {
                stats::add(&self.counters.accepted, 1);
                l.queue.push_back(Ok(c.result));
            }
        } else if c.result != -libc::ECANCELED && !l.closed {
            l.queue.push_back(Err(-c.result));
        }
        if !c.more {
            l.armed = false;
            l.cancelling = false;
        }
        if let Some(w) = l.waker.take() {
            w.wake();
        }
        self.maybe_close_listener(slot);
    }

    /// The accept handle is gone: cancel the accept, close what was queued, then the socket.
    pub(crate) fn release_listener(&mut self, slot: usize, id: u64) {
        let Some(l) = self.listener(slot, id) else {
            return;
        };
        l.closed = true;
        if let Some(w) = l.waker.take() {
            // An accept() waiting on it returns the "closed" error.
            w.wake();
        }
        l.close_queued();
        if l.armed && !l.cancelling {
            l.cancelling = true;
            self.push(Op::Cancel {
                target: Token::new(OpKind::Accept, slot),
            });
        }
        self.maybe_close_listener(slot);
    }

    fn maybe_close_listener(&mut self, slot: usize) {
        if self
            .listeners
            .get(slot)
            .is_some_and(|l| l.closed && !l.armed)
        {
            let mut l = self.listeners.remove(slot);
            l.close_queued();
            // The accept on it has completed: let go of the socket (closing it if we held the
            // last reference).
            drop(l.socket);
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

    pub(crate) fn shutdown(&mut self) {
        self.stop_accepting();
        let conns: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for slot in conns {
            self.destroy(slot);
        }
        let deadline = Instant::now() + TEARDOWN_LIMIT;
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
            return;
        }
        for conn in self.conns.drain() {
            // SAFETY: no op is in flight on it (checked above) and we own it.
            unsafe { libc::close(conn.fd) };
        }
    }
}

/// The error `accept` returns once its listener is closed.
pub(crate) fn listener_closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the server is closed")
}

/// Copies `first` and every queued chunk into one heap chunk, returning their ring buffers.
fn compact(first: Chunk, rest: &mut VecDeque<Chunk>) -> Chunk {
    let total = first.len() + rest.iter().map(|c| c.len()).sum::<usize>();
    let mut v = Vec::with_capacity(total);
    v.extend_from_slice(&first);
    for c in rest.drain(..) {
        v.extend_from_slice(&c);
    }
    Chunk::from_vec(v)
}
