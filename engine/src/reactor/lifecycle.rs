//! Connections' lives: connect, register, release (flush then close), destroy, close.

use std::io;
use std::task::{Context, Poll};

use super::Reactor;
use super::conn::{Conn, ConnectState, Hangup, RxState, Transport, WrState, set_waker};
use crate::backend::{Completion, Op, OpKind, Token};
use crate::buf::TxBuf;
use crate::stats;
use crate::sys::{self, RawSock};

impl Reactor {
    /// Registers a new socket and starts connecting it to `addr`; the reactor now owns `fd`.
    pub(crate) fn start_connect(&mut self, fd: RawSock, addr: socket2::SockAddr) -> usize {
        let transport = if addr.is_unix() {
            Transport::Unix
        } else {
            Transport::Tcp
        };
        let slot = self.conns.insert(Conn::new(fd, transport));
        let addr = Box::new(addr);
        let ptr: *const socket2::SockAddr = &*addr;
        self.conns[slot].connect = ConnectState::InFlight { _addr: addr };
        let op = Op::Connect {
            fd,
            addr: ptr,
            token: Token::new(OpKind::Connect, slot),
        };
        // SAFETY: the address is boxed in `ConnectState::InFlight` until the connect's final
        // completion; the reactor owns `fd` and closes it only once no op on it is in flight.
        unsafe { self.push(op) };
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

    pub(super) fn on_connect(&mut self, c: Completion) {
        let slot = c.token.slot();
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        // The address box may go now: the op is complete.
        conn.connect = if c.result == 0 {
            stats::add(&self.counters.connections_opened, 1);
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
    pub(crate) fn add_conn(&mut self, fd: RawSock, transport: Transport) -> usize {
        stats::add(&self.counters.connections_opened, 1);
        self.conns.insert(Conn::new(fd, transport))
    }

    pub(crate) fn queued_bytes(&self, slot: usize) -> usize {
        self.conns[slot].tx_bytes
    }

    pub(crate) fn conn_fd(&self, slot: usize) -> RawSock {
        self.conns[slot].fd
    }

    /// The socket handle is gone: stop receiving, flush what is queued, then close.
    ///
    /// A handle can outlive its core's teardown (one kept in a thread-local is dropped when
    /// the core's thread exits, after `shutdown` closed every
    /// connection): then its slot is gone and there is nothing left to do.
    pub(crate) fn release(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.released = true;
        conn.read_waker = None;
        conn.write_waker = None;
        conn.flush_waker = None;
        conn.sent_waker = None;
        conn.rx.clear();
        let connecting = matches!(conn.connect, ConnectState::InFlight { .. });
        let watching = conn.hangup == Hangup::Watching;
        match conn.rx_state {
            RxState::Armed => {
                conn.rx_state = RxState::Cancelling;
                self.cancel(Token::new(OpKind::Recv, slot));
            }
            RxState::Starved => conn.rx_state = RxState::Idle,
            RxState::Idle | RxState::Cancelling => {}
        }
        if connecting {
            self.cancel(Token::new(OpKind::Connect, slot));
        }
        if watching {
            self.cancel(Token::new(OpKind::Hangup, slot));
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
            unsafe { sys::shutdown(conn.fd, std::net::Shutdown::Both) };
        }
        if in_flight == 0 {
            conn.tx_bytes = 0;
        }
        self.release(slot);
    }

    pub(super) fn maybe_close(&mut self, slot: usize) {
        if self.conns.get(slot).is_some_and(Conn::can_close) {
            let conn = self.conns.remove(slot);
            if matches!(conn.connect, ConnectState::Done) {
                // Accepted, or connected: it was counted as opened.
                stats::add(&self.counters.connections_closed, 1);
            }
            if let Some(ss) = conn.send_slot {
                self.send_slots.push(ss);
            }
            for buf in conn.tx {
                if let TxBuf::Pooled(v) = buf {
                    self.write_pool.give(v);
                }
            }
            // Every op on fd has completed (can_close), so no op can run on a reused
            // descriptor number.
            self.close_sock(conn.fd);
        }
    }
}
