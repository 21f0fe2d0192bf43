//! `SocketStream`: a [`Socket`] as a byte stream, for crates written against the standard
//! async I/O traits (hyper, rustls, codecs).
//!
//! `tokio::io::{AsyncRead, AsyncWrite, AsyncBufRead}` come with the `tokio-io` feature and
//! `futures_io::{AsyncRead, AsyncWrite, AsyncBufRead}` with `futures-io`. Both are thin
//! wrappers over the poll methods here:
//!
//! - Reads copy from the current received [`Chunk`] into the caller's buffer. A chunk larger
//!   than the buffer is kept, and the next read goes on from where this one stopped: no byte
//!   is lost. `AsyncBufRead` hands out the chunk itself, without a copy.
//! - Writes copy into the socket's send queue (sent once per loop turn) and are accepted
//!   while the queue is below the runtime's high-water mark; past it, `poll_write` is
//!   pending until the core has sent enough (backpressure).
//! - Flush waits until the kernel has every queued byte; shutdown (`poll_shutdown`,
//!   futures' `poll_close`) sends the queue, then a FIN, and reading still works after it.

use std::io;
use std::task::{Context, Poll, ready};

use super::Socket;
use crate::buf::Chunk;

/// A [`Socket`] with a read cursor: implements the tokio (feature `tokio-io`) and futures
/// (feature `futures-io`) `AsyncRead`, `AsyncBufRead` and `AsyncWrite` traits.
///
/// Like the socket, it lives on its core (`!Send`); spawn its users with `spawn_local` or
/// [`Server::serve`](crate::Server::serve).
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "tokio-io")]
/// # async fn f(socket: corenet_engine::Socket) -> std::io::Result<()> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let mut stream = corenet_engine::SocketStream::new(socket);
/// let mut header = [0u8; 4];
/// stream.read_exact(&mut header).await?; // the rest of the chunk stays for the next read
/// stream.write_all(b"ok").await?;
/// stream.shutdown().await?; // FIN after the queued bytes
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SocketStream {
    socket: Socket,
    /// The unread rest of the last received chunk (never empty).
    pending: Option<Chunk>,
}

impl SocketStream {
    /// Wraps `socket`.
    pub fn new(socket: Socket) -> SocketStream {
        SocketStream {
            socket,
            pending: None,
        }
    }

    /// Wraps `socket` with `unread` bytes in front: they are read before anything the
    /// socket receives next (the inverse of [`into_parts`](SocketStream::into_parts), e.g.
    /// to give back bytes read to choose a protocol).
    pub fn from_parts(socket: Socket, unread: Option<Chunk>) -> SocketStream {
        SocketStream {
            socket,
            pending: unread.filter(|chunk| !chunk.is_empty()),
        }
    }

    /// The socket, for its options and addresses.
    pub fn get_ref(&self) -> &Socket {
        &self.socket
    }

    /// The socket and the received bytes not read yet (the rest of a chunk that was larger
    /// than a read's buffer), which would otherwise be lost.
    pub fn into_parts(self) -> (Socket, Option<Chunk>) {
        (self.socket, self.pending)
    }

    /// Received bytes without a copy: the unread rest of the current chunk, or the next
    /// chunk; empty at end of stream. Mark what was used with
    /// [`consume`](SocketStream::consume).
    ///
    /// # Errors
    ///
    /// The receive error, e.g. `ECONNRESET`.
    pub fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        while self.pending.is_none() {
            match ready!(self.socket.poll_read(cx))? {
                // An empty chunk would read as end of stream: skip it.
                Some(chunk) if chunk.is_empty() => {}
                Some(chunk) => self.pending = Some(chunk),
                None => return Poll::Ready(Ok(&[])),
            }
        }
        Poll::Ready(Ok(self.pending.as_deref().unwrap_or(&[])))
    }

    /// Marks `n` bytes of what [`poll_fill_buf`](SocketStream::poll_fill_buf) returned as
    /// read.
    ///
    /// # Panics
    ///
    /// If `n` is more than `poll_fill_buf` returned.
    pub fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let chunk = self
            .pending
            .as_mut()
            .expect("consume without bytes from poll_fill_buf");
        chunk.advance(n);
        if chunk.is_empty() {
            // Returns the receive buffer to the ring at once.
            self.pending = None;
        }
    }

    /// Copies received bytes into `buf`; `Ok(0)` at end of stream (or for an empty `buf`).
    ///
    /// # Errors
    ///
    /// The receive error, e.g. `ECONNRESET`.
    pub fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let available = ready!(self.poll_fill_buf(cx))?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// Queues a copy of `bufs` (all of them) once the send queue is below the high-water
    /// mark, returning the number of bytes queued (short only when a send failed meanwhile).
    ///
    /// # Errors
    ///
    /// `EPIPE`/`ECONNRESET` once a send failed; `BrokenPipe` after a shutdown.
    pub fn poll_write_from(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        ready!(self.socket.poll_writable(cx))?;
        let mut queued = 0;
        for buf in bufs.iter().filter(|b| !b.is_empty()) {
            match self.socket.enqueue(buf) {
                Ok(()) => queued += buf.len(),
                // What was queued counts; the error comes back on the next write.
                Err(_) if queued > 0 => break,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(queued))
    }

    /// Waits until the kernel has every queued byte.
    ///
    /// # Errors
    ///
    /// The send error, if a send failed.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.socket.poll_flush(cx)
    }

    /// Half-closes: sends the queue, then a FIN; ready once the FIN is sent. Reading goes on
    /// working. Idempotent.
    ///
    /// # Errors
    ///
    /// The send error, if a send failed.
    pub fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.socket.shutdown_later()?;
        self.socket.poll_flush(cx)
    }
}

impl From<Socket> for SocketStream {
    fn from(socket: Socket) -> SocketStream {
        SocketStream::new(socket)
    }
}

#[cfg(feature = "tokio-io")]
mod tokio_impls {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll, ready};

    use tokio::io::ReadBuf;

    use super::SocketStream;

    impl tokio::io::AsyncRead for SocketStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let available = ready!(this.poll_fill_buf(cx))?;
            let n = available.len().min(buf.remaining());
            buf.put_slice(&available[..n]);
            this.consume(n);
            Poll::Ready(Ok(()))
        }
    }

    impl tokio::io::AsyncBufRead for SocketStream {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_fill_buf(cx)
        }

        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().consume(amt);
        }
    }

    impl tokio::io::AsyncWrite for SocketStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_from(cx, &[io::IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_from(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_shutdown(cx)
        }
    }
}

#[cfg(feature = "futures-io")]
mod futures_impls {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::SocketStream;

    impl futures_io::AsyncRead for SocketStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_read_into(cx, buf)
        }
    }

    impl futures_io::AsyncBufRead for SocketStream {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_fill_buf(cx)
        }

        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().consume(amt);
        }
    }

    impl futures_io::AsyncWrite for SocketStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_from(cx, &[io::IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_from(cx, bufs)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush(cx)
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_shutdown(cx)
        }
    }
}
