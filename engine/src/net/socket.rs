//! `Socket`: one connection on the current core, read as zero-copy chunks.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::rc::Rc;

use socket2::SockRef;

use crate::buf::{Chunk, OwnedBuf};
use crate::executor::context::CoreCtx;

/// A connected TCP socket living on one core (`!Send`).
///
/// Reads hand over received bytes as [`Chunk`]s without copying. Writes are queued and sent
/// by the core once per loop turn, all queued buffers in one `sendmsg`. Methods take `&self`:
/// one task may read while another writes (share the socket with an `Rc`), but at most one
/// task should wait in each of `read`, `write`/`write_owned` and `flush`/`shutdown` at a time.
///
/// Dropping the socket stops receiving, sends what is still queued, then closes it (Node's
/// `end()` followed by close); [`destroy`](Socket::destroy) discards the queue instead.
pub struct Socket {
    ctx: Rc<CoreCtx>,
    slot: usize,
}

impl Socket {
    pub(crate) fn new(ctx: Rc<CoreCtx>, slot: usize) -> Socket {
        Socket { ctx, slot }
    }

    /// The next received bytes; `Ok(None)` at end of stream (the peer half-closed).
    ///
    /// # Errors
    ///
    /// The receive error, e.g. `ECONNRESET` when the peer reset the connection.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped `read` loses no bytes; they stay queued for the next one.
    pub async fn read(&self) -> io::Result<Option<Chunk>> {
        poll_fn(|cx| self.ctx.reactor.borrow_mut().poll_read(self.slot, cx)).await
    }

    /// Copies `data` into the send queue, then waits while the queue is above the high-water
    /// mark.
    ///
    /// # Errors
    ///
    /// `EPIPE`/`ECONNRESET` once a send failed; `BrokenPipe` after `shutdown`.
    ///
    /// # Cancel safety
    ///
    /// The bytes are queued on the first poll; dropping the future afterwards only skips the
    /// wait.
    pub async fn write(&self, data: &[u8]) -> io::Result<()> {
        self.ctx.reactor.borrow_mut().queue_copy(self.slot, data)?;
        poll_fn(|cx| self.ctx.reactor.borrow_mut().poll_write_room(self.slot, cx)).await
    }

    /// Moves `buf` into the send queue without copying (a received [`Chunk`] is sent straight
    /// back), then waits while the queue is above the high-water mark.
    ///
    /// # Errors
    ///
    /// As [`write`](Socket::write).
    ///
    /// # Cancel safety
    ///
    /// As [`write`](Socket::write).
    pub async fn write_owned(&self, buf: impl Into<OwnedBuf>) -> io::Result<()> {
        self.ctx
            .reactor
            .borrow_mut()
            .queue_owned(self.slot, buf.into())?;
        poll_fn(|cx| self.ctx.reactor.borrow_mut().poll_write_room(self.slot, cx)).await
    }

    /// Waits until the kernel has every queued byte.
    ///
    /// # Errors
    ///
    /// The send error, if a send failed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the queue is sent whether or not anyone waits.
    pub async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.ctx.reactor.borrow_mut().poll_flush(self.slot, cx)).await
    }

    /// Half-closes: sends everything queued, then a FIN. Reading still works.
    ///
    /// # Errors
    ///
    /// The send error, if a send failed.
    ///
    /// # Cancel safety
    ///
    /// The half-close is requested on the first poll and happens even if the future is
    /// dropped.
    pub async fn shutdown(&self) -> io::Result<()> {
        self.ctx.reactor.borrow_mut().shutdown_write(self.slot)?;
        poll_fn(|cx| self.ctx.reactor.borrow_mut().poll_flush(self.slot, cx)).await
    }

    /// Flushes, then closes.
    ///
    /// # Errors
    ///
    /// The send error, if a send failed (the socket is closed anyway).
    pub async fn close(self) -> io::Result<()> {
        self.flush().await
    }

    /// Closes at once, discarding unsent bytes.
    pub fn destroy(self) {
        self.ctx.reactor.borrow_mut().destroy(self.slot);
        std::mem::forget(self);
    }

    fn with_sock<R>(&self, f: impl FnOnce(SockRef<'_>) -> R) -> R {
        let fd = self.ctx.reactor.borrow().conn_fd(self.slot);
        // SAFETY: the reactor keeps fd open while this Socket exists.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        f(SockRef::from(&fd))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.with_sock(|s| s.local_addr())?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The `getpeername` error (`ENOTCONN` once the peer is gone).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.with_sock(|s| s.peer_addr())?
            .as_socket()
            .ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.with_sock(|s| s.set_tcp_nodelay(nodelay))
    }

    /// The index of the core this socket lives on.
    pub fn core(&self) -> usize {
        self.ctx.id
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ctx.reactor.borrow_mut().release(self.slot);
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("core", &self.ctx.id)
            .field("slot", &self.slot)
            .finish()
    }
}
