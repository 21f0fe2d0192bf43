//! `Socket`: one connection on the current core, read as zero-copy chunks.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::rc::Rc;

use socket2::{Domain, Protocol, SockAddr, SockRef};

use crate::buf::{Chunk, OwnedBuf};
use crate::executor::context::{self, CoreCtx};

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

    /// Connects to `addr` from the current core.
    ///
    /// # Errors
    ///
    /// `ECONNREFUSED` when nothing listens there, `ENETUNREACH`/`EHOSTUNREACH`,
    /// `ETIMEDOUT`, or the socket-creation error.
    ///
    /// # Panics
    ///
    /// When called from a thread that is not a corenet core.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the connect and closes the socket.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let socket = corenet_engine::Socket::connect("127.0.0.1:7000".parse().unwrap()).await?;
    /// socket.write(b"hello").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(addr: SocketAddr) -> io::Result<Socket> {
        let socket = stream_socket(Domain::for_address(addr), Some(Protocol::TCP))?;
        Self::connect_socket(socket, SockAddr::from(addr)).await
    }

    /// Resolves `host` (off the core, on a small blocking pool) and connects to the first
    /// address that accepts.
    ///
    /// # Errors
    ///
    /// The lookup error (`ErrorKind::NotFound`-like `ENOTFOUND` semantics come from the
    /// system resolver), or the last connect error.
    ///
    /// # Panics
    ///
    /// When called from a thread that is not a corenet core.
    pub async fn connect_host(host: &str, port: u16) -> io::Result<Socket> {
        let host = host.to_owned();
        let addrs: Vec<SocketAddr> = blocking::unblock(move || {
            (host.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect)
        })
        .await?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address");
        for addr in addrs {
            match Self::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connects to a Unix domain socket at `path` (a leading NUL byte names a Linux abstract
    /// socket); on Windows, to the named pipe `\\.\pipe\NAME` or `\\?\pipe\NAME`.
    ///
    /// # Errors
    ///
    /// `ENOENT` when there is no such socket, `ECONNREFUSED` when nobody listens on it,
    /// `EINVAL` for a path longer than the platform allows (never truncated).
    ///
    /// # Panics
    ///
    /// When called from a thread that is not a corenet core.
    pub async fn connect_unix(path: impl AsRef<Path>) -> io::Result<Socket> {
        #[cfg(windows)]
        if super::create::is_pipe_path(path.as_ref()) {
            return super::pipe::connect(path.as_ref()).await;
        }
        let addr = super::create::unix_addr(path.as_ref())?;
        let socket = stream_socket(Domain::UNIX, None)?;
        Self::connect_socket(socket, addr).await
    }

    /// Makes a connected TCP or Unix stream socket made elsewhere (by `std`, a parent
    /// process) a connection on the current core, registered with that core's backend: Node's
    /// `new net.Socket({ fd })`. The socket is made nonblocking and owned from now on
    /// (dropping the `Socket` closes it).
    ///
    /// # Errors
    ///
    /// `ENOTSOCK` for a descriptor that is no socket; `EINVAL` for one that is not a stream
    /// socket or is listening; `ENOTCONN` for one that is not connected; `EAFNOSUPPORT` for
    /// another family (and for Unix sockets on Windows). The socket is closed on error.
    ///
    /// # Panics
    ///
    /// When called from a thread that is not a corenet core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f() -> std::io::Result<()> {
    /// let stream = std::net::TcpStream::connect("127.0.0.1:7000")?;
    /// let socket = corenet_engine::Socket::from_std(stream)?;
    /// socket.write(b"hello").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Platform behaviour
    ///
    /// Unix: a `std::net::TcpStream`, `std::os::unix::net::UnixStream` or `OwnedFd`.
    /// Windows: a `TcpStream` or `OwnedSocket` (AF_UNIX sockets are refused).
    #[doc(alias = "adopt")]
    pub fn from_std(stream: impl Into<crate::sys::OwnedSock>) -> io::Result<Socket> {
        let ctx = context::current();
        let stream = stream.into();
        let transport = super::adopt::stream(&stream)?;
        let slot = ctx
            .reactor
            .borrow_mut()
            .add_conn(crate::sys::into_raw(stream), transport);
        Ok(Socket::new(ctx, slot))
    }

    pub(super) async fn connect_socket(
        socket: socket2::Socket,
        addr: SockAddr,
    ) -> io::Result<Socket> {
        let ctx = context::current();
        let slot = ctx
            .reactor
            .borrow_mut()
            .start_connect(crate::sys::into_raw(socket), addr);
        // From here the reactor owns the fd; dropping `socket` (on error or cancel) cancels
        // the connect and closes it once the op has completed.
        let socket = Socket::new(ctx, slot);
        poll_fn(|cx| socket.ctx.reactor.borrow_mut().poll_connect(slot, cx)).await?;
        Ok(socket)
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

    /// Poll form of [`read`](Socket::read), for hand-written futures (the event face).
    pub fn poll_read(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<Option<Chunk>>> {
        self.ctx.reactor.borrow_mut().poll_read(self.slot, cx)
    }

    /// Poll form of [`writable`](Socket::writable).
    pub fn poll_writable(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.ctx.reactor.borrow_mut().poll_write_room(self.slot, cx)
    }

    /// Poll form of [`flush`](Socket::flush) (after [`shutdown_later`](Socket::shutdown_later):
    /// ready once the FIN is sent).
    pub fn poll_flush(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        self.ctx.reactor.borrow_mut().poll_flush(self.slot, cx)
    }

    /// Ready once at most `level` bytes are still queued, every earlier byte having reached
    /// the kernel (how the event face runs each write's callback when its own bytes are
    /// sent, not when the whole queue is).
    ///
    /// # Errors
    ///
    /// The send error, once a send failed.
    pub fn poll_sent_to(
        &self,
        level: usize,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        self.ctx
            .reactor
            .borrow_mut()
            .poll_sent_to(self.slot, level, cx)
    }

    /// Queues a copy of `data` without waiting (the event face's `write`): it is sent with
    /// the core's next flush. Check [`queued`](Socket::queued) against your high-water mark
    /// and await [`writable`](Socket::writable) to apply backpressure.
    ///
    /// # Errors
    ///
    /// As [`write`](Socket::write).
    pub fn enqueue(&self, data: &[u8]) -> io::Result<()> {
        self.ctx.reactor.borrow_mut().queue_copy(self.slot, data)
    }

    /// Moves `buf` into the send queue without copying or waiting.
    ///
    /// # Errors
    ///
    /// As [`write`](Socket::write).
    pub fn enqueue_owned(&self, buf: impl Into<OwnedBuf>) -> io::Result<()> {
        self.ctx
            .reactor
            .borrow_mut()
            .queue_owned(self.slot, buf.into())
    }

    /// Bytes queued and not yet handed to the kernel.
    pub fn queued(&self) -> usize {
        self.ctx.reactor.borrow().queued_bytes(self.slot)
    }

    /// Waits until the queue is below the runtime's high-water mark.
    ///
    /// # Errors
    ///
    /// The send error, if a send failed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.ctx.reactor.borrow_mut().poll_write_room(self.slot, cx)).await
    }

    /// Requests the half-close without waiting: the FIN follows the queued bytes.
    ///
    /// # Errors
    ///
    /// The send error, if a send failed.
    pub fn shutdown_later(&self) -> io::Result<()> {
        self.ctx.reactor.borrow_mut().shutdown_write(self.slot)
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
        let fd = unsafe { crate::sys::borrow(fd) };
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

    /// Whether Nagle's algorithm is off (`getsockopt(TCP_NODELAY)`).
    ///
    /// # Errors
    ///
    /// The `getsockopt` error (e.g. `EOPNOTSUPP` on a Unix socket).
    pub fn nodelay(&self) -> io::Result<bool> {
        self.with_sock(|s| s.tcp_nodelay())
    }

    /// Whether keep-alive probes are on (`getsockopt(SO_KEEPALIVE)`).
    ///
    /// # Errors
    ///
    /// The `getsockopt` error.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.with_sock(|s| s.keepalive())
    }

    /// TCP keep-alive probes on (`Some(idle time before the first probe)`; a zero time keeps
    /// the system's) or off (`None`), as Node's `setKeepAlive` (libuv also sets 10 probes 1 s
    /// apart where the platform allows).
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    pub fn set_keepalive(&self, idle: Option<std::time::Duration>) -> io::Result<()> {
        self.with_sock(|s| match idle {
            None => s.set_keepalive(false),
            Some(d) if d.is_zero() => s.set_keepalive(true),
            Some(d) => {
                let ka = socket2::TcpKeepalive::new().with_time(d);
                #[cfg(any(target_os = "linux", target_os = "macos"))]
                let ka = ka
                    .with_interval(std::time::Duration::from_secs(1))
                    .with_retries(10);
                s.set_tcp_keepalive(&ka)
            }
        })
    }

    /// SO_LINGER: `Some(Duration::ZERO)` makes the close send a reset (RST) instead of a FIN.
    ///
    /// # Errors
    ///
    /// The `setsockopt` error.
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        self.with_sock(|s| s.set_linger(linger))
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

/// A nonblocking, close-on-exec stream socket.
pub(super) fn stream_socket(
    domain: Domain,
    protocol: Option<Protocol>,
) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(domain, super::create::stream_type(), protocol)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}
