//! The receive path: multishot receives, flow control at the cap, hand-over with compaction.

use std::collections::VecDeque;
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
        if unwatched && self.driver.watches_hangup() {
            self.conns[slot].hangup = Hangup::Watching;
            let token = Token::new(OpKind::Hangup, slot);
            self.push(Op::PollHangup { fd, token });
        }
        let multishot = self.conns[slot].multishot_recv();
        self.push(if multishot {
            Op::RecvMulti { fd, token }
        } else {
            Op::RecvOnce { fd, token }
        });
    }

    pub(super) fn on_recv(&mut self, c: Completion) {
        let slot = c.token.slot();
        let cap = self.limits.rx_cap;
        let cap_bytes = self.rx_cap_bytes();
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if let Some(chunk) = c.chunk {
            stats::add(&self.counters.bytes_in, chunk.len() as u64);
            if !conn.released {
                conn.rx.push_back(chunk);
                if conn.rx.len() >= cap
                    && self.pool.under_pressure()
                    && conn.rx.iter().any(Chunk::is_ring_buffer)
                {
                    // A reader that is behind — or paused, and may stay so — must not sit on
                    // ring buffers while the pool runs dry: its multishot receive can fill
                    // many before the cancel lands, starving every other connection until it
                    // reads. Copy its queue out of the ring (one copy, under pressure only).
                    let first = conn.rx.pop_front().expect("a chunk was just queued");
                    let merged = compact(first, &mut conn.rx);
                    conn.rx.push_back(merged);
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
                }
            }
        } else if conn.rx_state == RxState::Armed && conn.rx.len() == cap {
            // Flow control, decided at the flush: by then the reader's task has run, and a
            // reader that caught up keeps its receive (a pipelined stream fills the queue in
            // one park every time; cancelling and re-arming it each round costs two ops).
            // Noted once, as the queue reaches the cap (an armed receive starts below it).
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
            self.push(Op::Cancel {
                target: Token::new(OpKind::Recv, slot),
            });
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
        if let Some(chunk) = conn.rx.pop_front() {
            let chunk = if chunk.is_ring_buffer() && self.pool.under_pressure() {
                stats::add(&self.counters.compactions, 1);
                compact(chunk, &mut conn.rx)
            } else {
                chunk
            };
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
    pub(super) fn pause_readers_behind(&mut self) {
        let cap = self.limits.rx_cap;
        let mut at_cap = std::mem::take(&mut self.at_cap);
        for slot in at_cap.drain(..) {
            let Some(conn) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.rx_state == RxState::Armed && conn.rx.len() >= cap {
                conn.rx_state = RxState::Cancelling;
                stats::add(&self.counters.recv_paused, 1);
                self.push(Op::Cancel {
                    target: Token::new(OpKind::Recv, slot),
                });
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

/// Copies `first` and every queued chunk into one heap chunk, returning their ring buffers.
pub(super) fn compact(first: Chunk, rest: &mut VecDeque<Chunk>) -> Chunk {
    let total = first.len() + rest.iter().map(|c| c.len()).sum::<usize>();
    let mut v = Vec::with_capacity(total);
    v.extend_from_slice(&first);
    for c in rest.drain(..) {
        v.extend_from_slice(&c);
    }
    Chunk::from_vec(v)
}
