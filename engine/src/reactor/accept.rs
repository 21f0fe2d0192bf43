//! Listeners: multishot accepts, the accepted queue, release.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::conn::set_waker;
use super::listener::Listener;
use super::{Reactor, stats};
use crate::backend::{Completion, OpKind, Token};
use crate::sys::{self, ListenSock, RawSock};

impl Reactor {
    /// Registers a listening socket on this core; returns its slot and id.
    ///
    /// # Errors
    ///
    /// When the core is draining for shutdown.
    pub(crate) fn add_listener(&mut self, socket: Arc<ListenSock>) -> io::Result<(usize, u64)> {
        if self.draining {
            return Err(listener_closed());
        }
        self.next_listener_id += 1;
        let id = self.next_listener_id;
        Ok((self.listeners.insert(Listener::new(id, socket)), id))
    }

    pub(super) fn listener(&mut self, slot: usize, id: u64) -> Option<&mut Listener> {
        self.listeners
            .get_mut(slot)
            .filter(|l| l.id == id && !l.closed)
    }

    pub(crate) fn poll_accept(
        &mut self,
        slot: usize,
        id: u64,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<RawSock>> {
        let Some(l) = self.listener(slot, id) else {
            return Poll::Ready(Err(listener_closed()));
        };
        if let Some(r) = l.queue.pop_front() {
            return Poll::Ready(r.map_err(io::Error::from_raw_os_error));
        }
        set_waker(&mut l.waker, cx.waker());
        if !l.armed {
            l.armed = true;
            let op = sys::accept_op(&l.socket, l.fd, Token::new(OpKind::Accept, slot));
            // SAFETY: the listener keeps its socket (and, for a pipe server, the name the op
            // points at) until the accept's final completion: `maybe_close_listener` drops
            // it only once `armed` is false, which `on_accept` sets at that completion.
            unsafe { self.push(op) };
        }
        Poll::Pending
    }

    pub(super) fn on_accept(&mut self, c: Completion) {
        let slot = c.token.slot();
        let Some(l) = self.listeners.get_mut(slot) else {
            if c.result >= 0 {
                // Accepted for a listener that no longer exists: ours to close.
                self.close_sock(sys::sock_from_result(c.result));
            }
            return;
        };
        let mut unwanted = None;
        if c.result >= 0 {
            if l.closed {
                // Accepted after the listener was released; nobody else has it.
                unwanted = Some(sys::sock_from_result(c.result));
            } else {
                stats::add(&self.counters.accepted, 1);
                l.queue.push_back(Ok(sys::sock_from_result(c.result)));
            }
        } else if c.result != -sys::ECANCELED && !l.closed {
            l.queue.push_back(Err(-c.result));
        }
        if !c.more {
            l.armed = false;
            l.cancelling = false;
        }
        if let Some(w) = l.waker.take() {
            w.wake();
        }
        if let Some(fd) = unwanted {
            self.close_sock(fd);
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
        let queued: Vec<RawSock> = l.queue.drain(..).flatten().collect();
        if l.armed && !l.cancelling {
            l.cancelling = true;
            self.cancel(Token::new(OpKind::Accept, slot));
        }
        for fd in queued {
            self.close_sock(fd);
        }
        self.maybe_close_listener(slot);
    }

    pub(super) fn maybe_close_listener(&mut self, slot: usize) {
        if self
            .listeners
            .get(slot)
            .is_some_and(|l| l.closed && !l.armed)
        {
            let l = self.listeners.remove(slot);
            for fd in l.queue.into_iter().flatten() {
                self.close_sock(fd);
            }
            // The accept on it has completed: let go of the socket (closing it if we held the
            // last reference). A driver that owns the listener (a pipe server) closes it now.
            if let Some(handles) = self.driver.handles() {
                handles.close(l.fd);
            }
            drop(l.socket);
        }
    }
}

/// The error `accept` returns once its listener is closed.
pub(crate) fn listener_closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the server is closed")
}
