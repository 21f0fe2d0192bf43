//! The writable side: `write`, `write_with`, `end`, `cork`/`uncork`, and the errors of
//! writes that come too late.

use corenet_engine::OwnedBuf;

use super::Socket;
use crate::Error;
use crate::net::events::next_tick;

/// What a write queues: borrowed bytes (copied into the send queue) or an owned buffer
/// (moved there).
enum Data<'a> {
    Borrowed(&'a [u8]),
    Owned(OwnedBuf),
}

impl Data<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Data::Borrowed(d) => d,
            Data::Owned(b) => b.as_slice(),
        }
    }

    /// Into the engine's send queue: a copy, or the buffer itself.
    fn enqueue(self, io: &corenet_engine::Socket) -> std::io::Result<()> {
        match self {
            Data::Borrowed(d) => io.enqueue(d),
            Data::Owned(b) => io.enqueue_owned(b),
        }
    }
}

impl Socket {
    /// Queues `data`; false when the queue is at or above the high-water mark (`'drain'`
    /// follows). While connecting or corked, bytes wait and go out on connect or `uncork`.
    ///
    /// A write the socket can no longer take is refused (false) and reported as `'error'`
    /// (then `'close'`): after `end()`, `ERR_STREAM_WRITE_AFTER_END` (`EPIPE` "This socket
    /// has been ended by the other party" when the peer's FIN already ended a socket without
    /// `allow_half_open`); on a socket that never connected, `ERR_SOCKET_CLOSED`. After
    /// `destroy` the write is dropped silently (a [`write_with`](Socket::write_with)
    /// callback gets `ERR_STREAM_DESTROYED`).
    pub fn write(&self, data: &[u8]) -> bool {
        self.write_data(Data::Borrowed(data))
    }

    /// [`write`](Socket::write) without the copy: `buf` itself goes into the send queue (a
    /// received [`Chunk`](corenet_engine::Chunk) is sent straight from its receive buffer).
    /// Backpressure, refusals and errors are [`write`](Socket::write)'s. While connecting or
    /// corked the bytes are copied into the held-back buffer, as `write`'s are.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(socket: &corenet::net::Socket) {
    /// socket.write_owned(b"static bytes, never copied".as_slice());
    /// socket.write_owned(vec![0u8; 4096]);
    /// # }
    /// ```
    pub fn write_owned(&self, buf: impl Into<OwnedBuf>) -> bool {
        self.write_data(Data::Owned(buf.into()))
    }

    /// `write` and `write_owned`: queue, count, and say whether the queue is below the mark.
    fn write_data(&self, data: Data<'_>) -> bool {
        if let Some(err) = self.write_refusal() {
            self.refuse_write(err);
            return false;
        }
        let len = data.as_slice().len();
        // Node: a write waiting for the connection is not activity (nothing reaches the
        // kernel yet); the connection coming up is.
        if !self.inner.state.borrow().connecting {
            self.touch();
        }
        {
            let mut st = self.inner.state.borrow_mut();
            if st.connecting || st.corked > 0 {
                st.pending.extend_from_slice(data.as_slice());
                st.bytes_written += len as u64;
                let below = st.pending.len() + self.io_queued() < self.inner.high_water_mark;
                st.need_drain |= !below;
                return below;
            }
        }
        let queued = match self.inner.io.borrow().as_ref() {
            Some(io) => match data.enqueue(io) {
                Ok(()) => Ok(io.queued()),
                Err(e) => Err(Error::from_io(e, "write")),
            },
            // (Not reached: a socket that is neither connecting nor destroyed has its io.)
            None => Err(Error::socket_closed()),
        };
        match queued {
            Ok(queued) => {
                let mut st = self.inner.state.borrow_mut();
                st.bytes_written += len as u64;
                st.enqueued += len as u64;
                if queued >= self.inner.high_water_mark {
                    st.need_drain = true;
                    drop(st);
                    self.wake_task();
                    false
                } else {
                    true
                }
            }
            Err(e) => {
                self.destroy(Some(e));
                false
            }
        }
    }

    /// [`write`](Socket::write) with Node's callback: called (in order) once the kernel has
    /// these bytes, or with the error if the socket fails or is destroyed first (a refused
    /// write's callback gets the refusal, later in the turn).
    pub fn write_with(
        &self,
        data: &[u8],
        cb: impl FnOnce(&Socket, Option<&Error>) + 'static,
    ) -> bool {
        if let Some(err) = self.write_refusal() {
            if self.inner.state.borrow().destroyed {
                let socket = self.clone();
                next_tick(move || cb(&socket, Some(&err)));
            } else {
                // Called before the 'error' the refusal causes, as in Node.
                self.inner
                    .state
                    .borrow_mut()
                    .refused
                    .push((Box::new(cb), err.clone()));
                self.refuse_write(err);
            }
            return false;
        }
        let below = self.write(data);
        let mut st = self.inner.state.borrow_mut();
        let end = st.enqueued + st.pending.len() as u64;
        st.write_callbacks.push_back((end, Box::new(cb)));
        drop(st);
        self.wake_task();
        below
    }

    /// Why a write can't be taken now, if it can't.
    fn write_refusal(&self) -> Option<Error> {
        let st = self.inner.state.borrow();
        if st.destroyed {
            Some(Error::stream_destroyed("write"))
        } else if st.ending {
            if st.read_ended && !self.inner.allow_half_open {
                Some(Error::write_after_fin())
            } else {
                Some(Error::stream_write_after_end())
            }
        } else if !st.connecting && self.inner.io.borrow().is_none() {
            Some(Error::socket_closed())
        } else {
            None
        }
    }

    /// Node's `errorOrDestroy`: a destroyed socket stays quiet; any other is destroyed with
    /// the error (`'error'`, then `'close'`).
    fn refuse_write(&self, err: Error) {
        if !self.inner.state.borrow().destroyed {
            self.destroy(Some(err));
        }
    }

    /// Bytes in the engine's send queue.
    fn io_queued(&self) -> usize {
        self.inner.io.borrow().as_ref().map_or(0, |io| io.queued())
    }

    /// Ends our side: the FIN follows the queued bytes (`'finish'` when sent). `data`, if
    /// given, is written first. While connecting, the end waits for the connection; on a
    /// socket that never connected, `'finish'` and `'close'` follow at once.
    pub fn end(&self, data: Option<&[u8]>) {
        if let Some(d) = data {
            self.write(d);
        }
        let mut st = self.inner.state.borrow_mut();
        if st.ending || st.destroyed {
            return;
        }
        st.ending = true;
        st.corked = 0;
        let connecting = st.connecting;
        drop(st);
        if connecting {
            return;
        }
        if self.inner.io.borrow().is_none() {
            // `new Socket().end()`: nothing to flush; finish, then close.
            let socket = self.clone();
            next_tick(move || {
                socket.inner.state.borrow_mut().finished = true;
                socket.emit_finish();
                socket.destroy(None);
            });
            return;
        }
        self.flush_pending();
        if let Some(io) = self.inner.io.borrow().as_ref() {
            let _ = io.shutdown_later();
        }
        self.wake_task();
    }

    /// Node's `end(data, cb)`: [`end`](Socket::end), and `cb` once `'finish'` has fired, or
    /// with the error if the socket is destroyed first.
    pub fn end_with(
        &self,
        data: Option<&[u8]>,
        cb: impl FnOnce(&Socket, Option<&Error>) + 'static,
    ) {
        let finished = self.inner.state.borrow().finished;
        if finished {
            let socket = self.clone();
            next_tick(move || cb(&socket, None));
        } else {
            self.inner
                .state
                .borrow_mut()
                .end_callbacks
                .push(Box::new(cb));
        }
        self.end(data);
    }

    /// Node's `cork()`: writes wait until the matching [`uncork`](Socket::uncork), then go
    /// to the kernel together. (The engine already sends one turn's writes in one
    /// `sendmsg`; corking spans turns.)
    pub fn cork(&self) {
        self.inner.state.borrow_mut().corked += 1;
    }

    /// Node's `uncork()`: undoes one [`cork`](Socket::cork); the last one sends the writes.
    pub fn uncork(&self) {
        let mut st = self.inner.state.borrow_mut();
        if st.corked == 0 {
            return;
        }
        st.corked -= 1;
        let release = st.corked == 0 && !st.connecting;
        drop(st);
        if release {
            self.flush_pending();
        }
    }

    /// Node's `writableCorked`: the cork depth.
    pub fn writable_corked(&self) -> u32 {
        self.inner.state.borrow().corked
    }

    /// Hands bytes held back (while connecting or corked) to the engine's send queue.
    pub(super) fn flush_pending(&self) {
        let pending = std::mem::take(&mut self.inner.state.borrow_mut().pending);
        if pending.is_empty() {
            return;
        }
        let queued = match self.inner.io.borrow().as_ref() {
            Some(io) => io.enqueue(&pending),
            None => return,
        };
        match queued {
            Ok(()) => {
                self.inner.state.borrow_mut().enqueued += pending.len() as u64;
                self.wake_task();
            }
            Err(e) => self.destroy(Some(Error::from_io(e, "write"))),
        }
    }
}
