//! The receive path: multishot receives, flow control at the cap, hand-over with compaction.

use std::io;
use std::task::{Context, Poll};

use super::conn::{Hangup, RxState, Transport, set_waker};
use super::{Reactor, stats};
use crate::backend::{Completion, Op, OpKind, Token};
use crate::buf::Chunk;

impl Reactor {
    pub(super) fn arm_recv(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        conn.rx_state = RxState::Armed;
        let (fd, token) = (conn.fd, Token::new(OpKind::Recv, slot));
        let unwatched = conn.transport == Transport::Unix && conn.hangup == Hangup::Unwatched;
        if unwatched && self.caps.watches_hangup {
            self.conns[slot].hangup = Hangup::Watching;
            let token = Token::new(OpKind::Hangup, slot);
            // SAFETY: no pointer; `fd` is the connection's, closed only once no op on it is
            // in flight (`maybe_close` waits for the watch's final completion).
            unsafe { self.push(Op::PollHangup { fd, token }) };
        }
        // While the pool is short a multishot receive could take every free buffer for one
        // connection in a single park (the kernel keeps filling until the socket is empty):
        // one buffer per receive then, re-armed each turn while the queue has room.
        let multishot = self.conns[slot].multishot_recv() && !self.pool.under_pressure();
        let conn = &mut self.conns[slot];
        conn.rx_multishot = multishot;
        // Streaming is judged on the last receive that delivered bytes: one that filled a
        // pool buffer at once asks for the driver's larger buffers; one that did not (or a
        // peer that now sends short messages) goes back to the pool's.
        if conn.rx_peak > 0 {
            conn.rx_streaming = conn.rx_peak >= self.pool.size() as usize;
            conn.rx_peak = 0;
        }
        if multishot && conn.rx_streaming {
            stats::add(&self.counters.recv_streaming, 1);
        }
        let op = if multishot {
            Op::RecvMulti {
                fd,
                token,
                streaming: conn.rx_streaming,
            }
        } else {
            Op::RecvOnce { fd, token }
        };
        // SAFETY: no pointer; `fd` is the connection's, closed only once no op on it is in
        // flight (`maybe_close` waits for the receive's final completion).
        unsafe { self.push(op) };
    }

    pub(super) fn on_recv(&mut self, c: Completion) {
        let slot = c.token.slot();
        let cap = self.limits.rx_cap;
        let cap_bytes = self.rx_cap_bytes();
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let mut reached_cap = false;
        if let Some(chunk) = c.chunk {
            stats::add(&self.counters.bytes_in, chunk.len() as u64);
            conn.rx_peak = conn.rx_peak.max(chunk.len());
            // Bytes after the end of the stream (an error reported while the receive stayed
            // armed) would be delivered after a gap: drop them.
            if !conn.released && conn.rx_end.is_none() {
                let was_full = conn.rx.is_full(cap, cap_bytes);
                let scarce = self.pool.under_pressure() || chunk.pins_scarce_buffer();
                conn.rx.push(chunk);
                let full = conn.rx.is_full(cap, cap_bytes);
                reached_cap = full && !was_full;
                if full && scarce && conn.rx.holds_ring_buffers() {
                    // A reader that is behind — or paused, and may stay so — must not sit on
                    // ring buffers while the pool runs dry: its multishot receive can fill
                    // many before the cancel lands, starving every other connection until it
                    // reads. Copy its queue out of the ring (under pressure only; each byte
                    // once). The queue stays full on bytes, so the receive still pauses.
                    conn.rx.compact(cap_bytes);
                    stats::add(&self.counters.compactions, 1);
                }
                conn.wake_reader();
            }
        } else if c.result == 0 {
            conn.rx_end = Some(0);
            conn.wake_reader();
        } else if c.result < 0
            && c.result != -crate::sys::ENOBUFS
            && c.result != -crate::sys::ECANCELED
        {
            conn.rx_end = Some(-c.result);
            conn.wake_reader();
            if c.more && conn.rx_state == RxState::Armed {
                // The stream has ended in error but the receive is still armed (a driver
                // that refused a completion's bytes): stop it.
                conn.rx_state = RxState::Cancelling;
                self.cancel(Token::new(OpKind::Recv, slot));
                self.maybe_close(slot);
                return;
            }
        }
        if !c.more {
            let starved =
                c.result == -crate::sys::ENOBUFS && !conn.released && conn.rx_end.is_none();
            if starved {
                stats::add(&self.counters.recv_starved, 1);
                tracing::debug!(
                    slot,
                    "receive buffers exhausted (ENOBUFS): the receive resumes as buffers return"
                );
                conn.rx_state = RxState::Starved;
                self.starved.push_back(slot);
            } else {
                conn.rx_state = RxState::Idle;
                if conn.wants_recv(cap, cap_bytes) {
                    self.arm_recv(slot);
                } else if c.result != -crate::sys::ECANCELED
                    && !conn.released
                    && conn.rx_end.is_none()
                {
                    // Ended by itself (a byte limit, or a one-shot receive) with the queue
                    // full: paused until the reader catches up, without a cancel.
                    stats::add(&self.counters.recv_paused, 1);
                }
            }
        } else if conn.rx_state == RxState::Armed
            && !conn.pause_noted
            && (reached_cap || (conn.rx_multishot && self.pool.under_pressure()))
        {
            // Flow control, decided at the flush: by then the reader's task has run, and a
            // reader that caught up keeps its receive (a pipelined stream fills the queue in
            // one park every time; cancelling and re-arming it each round costs two ops).
            // Noted as the queue reaches the cap in chunks or bytes (an armed receive starts
            // below it), or as a multishot receive fills buffers of a pool under pressure.
            conn.pause_noted = true;
            self.at_cap.push(slot);
        }
        self.maybe_close(slot);
    }

    /// The hang-up watch of a unix stream completed: the peer shut down (or the watch
    /// failed). A multishot receive in flight may now miss the EOF: cancel it; its final
    /// completion re-arms a one-shot receive, which reads the rest and the EOF.
    pub(super) fn on_hangup(&mut self, c: Completion) {
        let slot = c.token.slot();
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.hangup = Hangup::Ended;
        if conn.rx_state == RxState::Armed {
            conn.rx_state = RxState::Cancelling;
            self.cancel(Token::new(OpKind::Recv, slot));
        }
        self.maybe_close(slot);
    }

    pub(crate) fn poll_read(
        &mut self,
        slot: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Chunk>>> {
        let cap = self.limits.rx_cap;
        let cap_bytes = self.rx_cap_bytes();
        let conn = &mut self.conns[slot];
        if conn.rx.front_pins_scarce_buffer() {
            // Hand-overs copy while the pool is short: the reader may hold what it reads.
            // At most `cap_bytes` a read, so that a reader writing what it reads stops at its
            // write high-water mark with the rest still queued, and the receive pauses.
            stats::add(&self.counters.compactions, 1);
            conn.rx.compact(cap_bytes);
        }
        if let Some(chunk) = conn.rx.pop() {
            if conn.wants_recv(cap, cap_bytes) {
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
        if conn.wants_recv(cap, cap_bytes) {
            self.arm_recv(slot);
        }
        Poll::Pending
    }
}

impl Reactor {
    /// Pauses the receives of the connections whose queue reached the cap in the last park
    /// and whose reader has not caught up since: the reader is behind; stop receiving until
    /// it catches up. The cancel goes out in the same submission as it would have at once.
    /// Also ends the multishot receives that fill buffers while the pool is under pressure;
    /// they come back as one-buffer receives (`arm_recv`).
    pub(super) fn pause_readers_behind(&mut self) {
        let cap = self.limits.rx_cap;
        let cap_bytes = self.rx_cap_bytes();
        let pressure = self.pool.under_pressure();
        let mut at_cap = std::mem::take(&mut self.at_cap);
        for slot in at_cap.drain(..) {
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            conn.pause_noted = false;
            let behind = conn.rx.is_full(cap, cap_bytes);
            let greedy = conn.rx_multishot && pressure;
            if conn.rx_state == RxState::Armed && (behind || greedy) {
                conn.rx_state = RxState::Cancelling;
                stats::add(&self.counters.recv_paused, 1);
                self.cancel(Token::new(OpKind::Recv, slot));
            }
        }
        self.at_cap = at_cap;
    }

    /// The most bytes a connection's receive queue holds before its receive stops: `cap`
    /// full ring buffers.
    pub(super) fn rx_cap_bytes(&self) -> usize {
        self.limits.rx_cap.saturating_mul(self.pool.size() as usize)
    }
}
