//! The send path: queues, one send per socket per flush, completions, backpressure.

use std::io;
use std::task::{Context, Poll};

use super::conn::{Conn, WrState, set_waker};
use super::{Reactor, stats};
use crate::backend::SendSlot;
use crate::backend::{Completion, Op, OpKind, Token};
use crate::buf::{OwnedBuf, TxBuf};

impl Reactor {
    pub(super) fn mark_dirty(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if !conn.tx_dirty {
            conn.tx_dirty = true;
            self.dirty.push(slot);
        }
    }

    pub(super) fn check_writable(conn: &Conn) -> io::Result<()> {
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
            if chunk.pins_scarce_buffer() && chunk.len() <= self.write_pool.buf_capacity() {
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

    /// Ready once at most `level` bytes are queued (the rest reached the kernel).
    pub(crate) fn poll_sent_to(
        &mut self,
        slot: usize,
        level: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let conn = &mut self.conns[slot];
        if let Some(errno) = conn.tx_error {
            return Poll::Ready(Err(io::Error::from_raw_os_error(errno)));
        }
        if conn.tx_bytes <= level {
            return Poll::Ready(Ok(()));
        }
        conn.sent_level = level;
        set_waker(&mut conn.sent_waker, cx.waker());
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

    pub(super) fn flush_conn(&mut self, slot: usize) {
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
                unsafe { crate::sys::shutdown(conn.fd, std::net::Shutdown::Write) };
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
        let offset = conn.tx_offset;
        let bufs = conn.tx.iter().enumerate().map(|(i, buf)| {
            if i == 0 {
                &buf.as_slice()[offset..]
            } else {
                buf.as_slice()
            }
        });
        // SAFETY: the queued buffers stay in `tx`, unmoved and unchanged, until this send's
        // completion: `tx_in_flight` keeps them from being popped, grown or dropped.
        conn.tx_in_flight = unsafe { ss.set(bufs) };
        let msg: *const SendSlot = &*ss;
        let fd = conn.fd;
        conn.send_slot = Some(ss);
        stats::add(&self.counters.sends, 1);
        let op = Op::Send {
            fd,
            msg,
            token: Token::new(OpKind::Send, slot),
        };
        // SAFETY: the slot is boxed in `conn.send_slot` and its buffers are held in `tx`
        // (see above) until `on_send` takes the final completion; `fd` is the connection's,
        // closed only once no op on it is in flight.
        unsafe { self.push(op) };
    }

    pub(super) fn on_send(&mut self, c: Completion) {
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
            stats::add(&self.counters.bytes_out, sent as u64);
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
}
