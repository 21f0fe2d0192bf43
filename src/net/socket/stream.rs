//! Between the faces: a Node-face socket becomes the async face's [`SocketStream`] (for
//! hyper, rustls, codecs) and back.
//!
//! What crosses over: the connection, every received byte not yet emitted (the engine holds
//! them), every queued byte (sent as before), and the options set on the descriptor. What
//! stays behind, either way, is the event state: listeners, the idle timeout, an encoding's
//! partial character, `write_with`/`end_with` bookkeeping, and a server's count of the
//! connection (see [`Socket::into_stream`]).

use corenet_engine as engine;
use corenet_engine::SocketStream;

use super::{Socket, SocketOptions};
use crate::Error;

impl Socket {
    /// Hands the connection to the async face as a [`SocketStream`] (tokio / futures I/O
    /// traits with the `tokio-io` / `futures-io` features), e.g. to run hyper or rustls on a
    /// connection a Node-face server accepted. Bytes held by `cork` are queued first; bytes
    /// received and not yet emitted as `'data'` are read from the stream, so none is lost.
    /// A chunk a `'data'` listener already has can be put back in front with
    /// [`SocketStream::from_parts`].
    ///
    /// This socket is then detached: its pipes are removed both ways (`'unpipe'` on their
    /// destinations), no more events follow (not even `'close'`), its listeners are dropped, and further calls act as on a destroyed socket. A server stops counting it
    /// (`connections()`, `max_connections`, and `close()`'s wait for `'close'` no longer
    /// include it): the stream's owner decides when it ends.
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_STATE` while connecting, after `end()` or `'end'`, or while
    /// `write_with`/`end_with` callbacks are still owed (they could no longer be called);
    /// `ERR_SOCKET_CLOSED` when there is no connection (never connected, destroyed, closed).
    /// The socket is unchanged then.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "tokio-io")]
    /// # fn f() {
    /// use corenet::net::{self, ServerOptions, Socket};
    /// use tokio::io::AsyncWriteExt;
    ///
    /// let server = net::create_server(ServerOptions::default(), || {
    ///     |socket: &Socket| {
    ///         let mut stream = socket.into_stream().expect("a fresh connection");
    ///         corenet::spawn_local(async move {
    ///             let _ = stream.write_all(b"hello from the async face\n").await;
    ///             let _ = stream.shutdown().await;
    ///         })
    ///         .detach();
    ///     }
    /// });
    /// # let _ = server;
    /// # }
    /// ```
    pub fn into_stream(&self) -> Result<SocketStream, Error> {
        {
            let st = self.inner.state.borrow();
            if st.connecting {
                return Err(Error::invalid_state("the socket is still connecting"));
            }
            if st.destroyed || st.closed || self.inner.io.borrow().is_none() {
                return Err(Error::socket_closed());
            }
            if st.ending || st.read_ended {
                return Err(Error::invalid_state("the socket is ending"));
            }
            if !st.write_callbacks.is_empty() || !st.end_callbacks.is_empty() {
                return Err(Error::invalid_state("write callbacks are pending"));
            }
        }
        // Pipes end here, both ways (the stream's owner moves the bytes from now on).
        self.unpipe(None);
        self.unpipe_sources();
        self.inner.state.borrow_mut().corked = 0;
        self.flush_pending();
        let Some(io) = self.inner.io.borrow_mut().take() else {
            // `flush_pending` failed and destroyed the socket.
            return Err(Error::socket_closed());
        };
        {
            let mut st = self.inner.state.borrow_mut();
            // Closed without 'close': the socket task stops at its next turn and finds nothing
            // to emit.
            st.destroyed = true;
            st.closed = true;
            st.timer = None;
            st.need_drain = false;
        }
        self.wake_task();
        if let Some(server) = &self.inner.server {
            server.connection_closed();
        }
        self.drop_listeners();
        Ok(SocketStream::new(io))
    }

    /// The other way: a Node-face socket on a connection of the async face, with Node's
    /// events from now on (Node's `new net.Socket({ handle })`). The stream's unread bytes
    /// come first, as the first `'data'`. It is connected: no `'connect'` follows; register
    /// listeners in this turn (the first events come later in it).
    ///
    /// # Panics
    ///
    /// When called on a thread that is not a corenet core (the stream is on this core).
    pub fn from_stream(stream: SocketStream, options: SocketOptions) -> Socket {
        let (io, unread) = stream.into_parts();
        let socket = Socket::from_engine(io, options);
        socket.inner.state.borrow_mut().unread = unread;
        socket
    }

    /// [`from_stream`](Socket::from_stream) for an [`engine::Socket`] (the async face's
    /// `corenet::Socket`).
    pub fn from_engine(io: engine::Socket, options: SocketOptions) -> Socket {
        let socket = Socket::with_inner(Some(io), None, options, false);
        socket.start_task();
        socket
    }
}
