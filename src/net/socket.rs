//! `net::Socket`: one connection with Node's events, driven by a task on its core.
//!
//! Order of events (Node's): `data`* then `end` (peer's FIN) — and, unless `allow_half_open`,
//! our own FIN follows — then `finish` (our FIN sent), then `close(had_error)`. An error emits
//! `error` then `close(true)`. After `close` every listener is dropped.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use corenet_engine as engine;
use corenet_engine::Chunk;

use super::events::{ListenerId, Listeners, next_tick};
use super::server::Shared;
use crate::Error;

/// Node's default high-water mark for a socket's writable side (16 KiB): past it `write`
/// returns false and `drain` follows.
pub const DEFAULT_HIGH_WATER_MARK: usize = 16 * 1024;

/// A connection with Node's event model (`!Send`: it lives on its core).
///
/// Clones are handles to the same socket. Every callback receives the socket as its first
/// argument, so listeners need not capture a clone (which would keep it alive until `close`).
#[derive(Clone)]
pub struct Socket {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Events {
    data: Listeners<Socket, Chunk>,
    end: Listeners<Socket, ()>,
    finish: Listeners<Socket, ()>,
    close: Listeners<Socket, bool>,
    error: Listeners<Socket, Error>,
    drain: Listeners<Socket, ()>,
}

struct Inner {
    io: RefCell<Option<engine::Socket>>,
    events: Events,
    state: RefCell<State>,
    /// The driver task's waker: state changes (resume, end, destroy) wake it.
    driver: Cell<Option<Waker>>,
    server: Option<Arc<Shared>>,
    allow_half_open: bool,
    high_water_mark: usize,
}

#[derive(Default)]
struct State {
    paused: bool,
    /// The peer's FIN arrived ('end' emitted).
    read_ended: bool,
    /// `end()` was called: no more writes; our FIN follows the queue.
    ending: bool,
    /// Our FIN is sent ('finish' emitted).
    finished: bool,
    /// `write` returned false; 'drain' is due once the queue is below the mark.
    need_drain: bool,
    destroyed: bool,
    /// 'close' emitted.
    closed: bool,
    had_error: bool,
    /// An error to emit (from `destroy(err)` or the driver).
    pending_error: Option<Error>,
    bytes_read: u64,
    bytes_written: u64,
}

impl Socket {
    /// Wraps an accepted engine socket of `server` and starts its driver task (after the
    /// connection handler has registered its listeners: the task runs later in this turn).
    pub(crate) fn accepted(io: engine::Socket, server: Arc<Shared>) -> Socket {
        let options = server.options;
        let socket = Socket {
            inner: Rc::new(Inner {
                io: RefCell::new(Some(io)),
                events: Events::default(),
                state: RefCell::new(State {
                    paused: options.pause_on_connect,
                    ..State::default()
                }),
                driver: Cell::new(None),
                server: Some(server),
                allow_half_open: options.allow_half_open,
                high_water_mark: DEFAULT_HIGH_WATER_MARK,
            }),
        };
        let driver = socket.clone();
        corenet_engine::spawn_local(async move { driver.drive().await }).detach();
        socket
    }

    // ---- events --------------------------------------------------------------------------

    /// `'data'`: received bytes, as a view of the receive buffer (no copy). Copy what you
    /// keep (`chunk.to_vec()`); the buffer returns to the ring when the listeners return.
    pub fn on_data(&self, f: impl FnMut(&Socket, &Chunk) + 'static) -> ListenerId {
        self.inner.events.data.on(f)
    }

    /// `'end'`: the peer half-closed (no more data will come).
    pub fn on_end(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.end.on(move |s, ()| f(s))
    }

    /// `'finish'`: our side ended and everything written reached the kernel.
    pub fn on_finish(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.finish.on(move |s, ()| f(s))
    }

    /// `'close'`: fully closed; the argument is `had_error`. The last event.
    pub fn on_close(&self, f: impl FnMut(&Socket, bool) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.close.on(move |s, e| f(s, *e))
    }

    /// `'data'`, once.
    pub fn once_data(&self, f: impl FnOnce(&Socket, &Chunk) + 'static) -> ListenerId {
        self.inner.events.data.once_fn(f)
    }

    /// `'end'`, once.
    pub fn once_end(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.end.once_fn(move |s, ()| f(s))
    }

    /// `'finish'`, once.
    pub fn once_finish(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.finish.once_fn(move |s, ()| f(s))
    }

    /// `'close'`, once.
    pub fn once_close(&self, f: impl FnOnce(&Socket, bool) + 'static) -> ListenerId {
        self.inner.events.close.once_fn(move |s, e| f(s, *e))
    }

    /// `'error'`, once.
    pub fn once_error(&self, f: impl FnOnce(&Socket, &Error) + 'static) -> ListenerId {
        self.inner.events.error.once_fn(f)
    }

    /// `'drain'`, once.
    pub fn once_drain(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.drain.once_fn(move |s, ()| f(s))
    }

    /// `'error'`; `'close'` follows. An error with no listener is logged and the socket
    /// destroyed — never a panic.
    pub fn on_error(&self, f: impl FnMut(&Socket, &Error) + 'static) -> ListenerId {
        self.inner.events.error.on(f)
    }

    /// `'drain'`: after a `write` returned false, the queue went below the high-water mark.
    pub fn on_drain(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.drain.on(move |s, ()| f(s))
    }

    /// Removes a listener registered with any `on_*`/`once_*`; true if it was found.
    pub fn off(&self, id: ListenerId) -> bool {
        let e = &self.inner.events;
        e.data.off(id)
            || e.end.off(id)
            || e.finish.off(id)
            || e.close.off(id)
            || e.error.off(id)
            || e.drain.off(id)
    }

    // ---- methods -------------------------------------------------------------------------

    /// Queues `data`; false when the queue is at or above the high-water mark (`'drain'`
    /// follows). After `end()` it emits `ERR_STREAM_WRITE_AFTER_END` and returns false.
    pub fn write(&self, data: &[u8]) -> bool {
        if let Some(err) = self.write_refusal() {
            self.error_later(err);
            return false;
        }
        let queued = {
            let io = self.inner.io.borrow();
            let io = io
                .as_ref()
                .expect("a socket that is not destroyed has its io");
            match io.enqueue(data) {
                Ok(()) => Ok(io.queued()),
                Err(e) => Err(Error::from_io(e, "write")),
            }
        };
        match queued {
            Ok(queued) => {
                let mut st = self.inner.state.borrow_mut();
                st.bytes_written += data.len() as u64;
                if queued >= self.inner.high_water_mark {
                    st.need_drain = true;
                    drop(st);
                    self.wake_driver();
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

    fn write_refusal(&self) -> Option<Error> {
        let st = self.inner.state.borrow();
        if st.destroyed {
            Some(Error::stream_destroyed("write"))
        } else if st.ending {
            Some(Error::stream_write_after_end())
        } else {
            None
        }
    }

    /// Ends our side: the FIN follows the queued bytes (`'finish'` when sent). `data`, if
    /// given, is written first.
    pub fn end(&self, data: Option<&[u8]>) {
        if let Some(d) = data {
            self.write(d);
        }
        let mut st = self.inner.state.borrow_mut();
        if st.ending || st.destroyed {
            return;
        }
        st.ending = true;
        drop(st);
        if let Some(io) = self.inner.io.borrow().as_ref() {
            let _ = io.shutdown_later();
        }
        self.wake_driver();
    }

    /// Closes at once, discarding unsent bytes; with `err`, `'error'` is emitted first. Then
    /// `'close'`.
    pub fn destroy(&self, err: Option<Error>) {
        let mut st = self.inner.state.borrow_mut();
        if st.destroyed {
            return;
        }
        st.destroyed = true;
        if let Some(e) = err {
            st.had_error = true;
            st.pending_error = Some(e);
        }
        drop(st);
        if let Some(io) = self.inner.io.borrow_mut().take() {
            io.destroy();
        }
        self.wake_driver();
    }

    /// Stops reading (`'data'` stops; the kernel's receive window fills and the peer waits).
    pub fn pause(&self) {
        self.inner.state.borrow_mut().paused = true;
    }

    /// Resumes reading after [`pause`](Socket::pause) or `pause_on_connect`.
    pub fn resume(&self) {
        self.inner.state.borrow_mut().paused = false;
        self.wake_driver();
    }

    /// Bytes received so far.
    pub fn bytes_read(&self) -> u64 {
        self.inner.state.borrow().bytes_read
    }

    /// Bytes accepted by `write` so far.
    pub fn bytes_written(&self) -> u64 {
        self.inner.state.borrow().bytes_written
    }

    /// Whether the socket was destroyed (or closed).
    pub fn destroyed(&self) -> bool {
        self.inner.state.borrow().destroyed
    }

    /// The remote address.
    pub fn remote_address(&self) -> Option<std::net::SocketAddr> {
        self.inner
            .io
            .borrow()
            .as_ref()
            .and_then(|io| io.peer_addr().ok())
    }

    /// The local address.
    pub fn local_address(&self) -> Option<std::net::SocketAddr> {
        self.inner
            .io
            .borrow()
            .as_ref()
            .and_then(|io| io.local_addr().ok())
    }

    /// The core this socket lives on.
    pub fn core(&self) -> usize {
        corenet_engine::current_core().unwrap_or(0)
    }

    // ---- the driver ----------------------------------------------------------------------

    fn wake_driver(&self) {
        if let Some(w) = self.inner.driver.take() {
            w.wake();
        }
    }

    fn error_later(&self, err: Error) {
        let socket = self.clone();
        next_tick(move || socket.emit_error(&err));
    }

    /// Emits 'error'; unhandled, it is logged and the socket destroyed.
    fn emit_error(&self, err: &Error) {
        if !self.inner.events.error.emit(self, err) {
            tracing::warn!("unhandled 'error' on a socket: {err}");
            self.destroy(None);
            self.inner.state.borrow_mut().had_error = true;
        }
    }

    /// Reads and emits until the socket closes.
    async fn drive(&self) {
        poll_fn(|cx| {
            self.inner.driver.set(Some(cx.waker().clone()));
            loop {
                if let Some(err) = self.inner.state.borrow_mut().pending_error.take() {
                    self.emit_error(&err);
                    continue;
                }
                if self.inner.state.borrow().destroyed {
                    return Poll::Ready(());
                }
                match self.step(cx) {
                    Poll::Ready(true) => continue,
                    Poll::Ready(false) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
        self.finish_close();
    }

    /// One step of the state machine: Ready(true) when something happened (run again),
    /// Ready(false) when the socket is done, Pending when waiting.
    fn step(&self, cx: &mut std::task::Context<'_>) -> Poll<bool> {
        let io_ref = self.inner.io.borrow();
        let Some(io) = io_ref.as_ref() else {
            return Poll::Ready(false);
        };
        // Drain.
        if self.inner.state.borrow().need_drain {
            match io.poll_writable(cx) {
                Poll::Ready(Ok(())) => {
                    self.inner.state.borrow_mut().need_drain = false;
                    drop(io_ref);
                    self.inner.events.drain.emit(self, &());
                    return Poll::Ready(true);
                }
                Poll::Ready(Err(e)) => {
                    drop(io_ref);
                    self.destroy(Some(Error::from_io(e, "write")));
                    return Poll::Ready(true);
                }
                Poll::Pending => {}
            }
        }
        // Our FIN.
        let (ending, finished) = {
            let st = self.inner.state.borrow();
            (st.ending, st.finished)
        };
        if ending && !finished {
            match io.poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.inner.state.borrow_mut().finished = true;
                    drop(io_ref);
                    self.inner.events.finish.emit(self, &());
                    return Poll::Ready(true);
                }
                Poll::Ready(Err(e)) => {
                    drop(io_ref);
                    self.destroy(Some(Error::from_io(e, "write")));
                    return Poll::Ready(true);
                }
                Poll::Pending => {}
            }
        }
        // Reading.
        let (paused, read_ended) = {
            let st = self.inner.state.borrow();
            (st.paused, st.read_ended)
        };
        if !read_ended && !paused {
            match io.poll_read(cx) {
                Poll::Ready(Ok(Some(chunk))) => {
                    drop(io_ref);
                    self.inner.state.borrow_mut().bytes_read += chunk.len() as u64;
                    self.inner.events.data.emit(self, &chunk);
                    return Poll::Ready(true);
                }
                Poll::Ready(Ok(None)) => {
                    drop(io_ref);
                    self.inner.state.borrow_mut().read_ended = true;
                    self.inner.events.end.emit(self, &());
                    if !self.inner.allow_half_open {
                        self.end(None);
                    }
                    return Poll::Ready(true);
                }
                Poll::Ready(Err(e)) => {
                    drop(io_ref);
                    self.destroy(Some(Error::from_io(e, "read")));
                    return Poll::Ready(true);
                }
                Poll::Pending => {}
            }
        }
        let st = self.inner.state.borrow();
        if st.read_ended && st.finished {
            // Both directions are done: close.
            drop(st);
            drop(io_ref);
            if let Some(io) = self.inner.io.borrow_mut().take() {
                drop(io); // flushed: a plain close
            }
            self.inner.state.borrow_mut().destroyed = true;
            return Poll::Ready(false);
        }
        Poll::Pending
    }

    /// Emits 'close', updates the server's count, drops every listener.
    fn finish_close(&self) {
        let had_error = {
            let mut st = self.inner.state.borrow_mut();
            if st.closed {
                return;
            }
            st.closed = true;
            st.had_error
        };
        if let Some(io) = self.inner.io.borrow_mut().take() {
            io.destroy();
        }
        if let Some(server) = &self.inner.server {
            server.connection_closed();
        }
        self.inner.events.close.emit(self, &had_error);
        let e = &self.inner.events;
        e.data.clear();
        e.end.clear();
        e.finish.clear();
        e.close.clear();
        e.error.clear();
        e.drain.clear();
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.borrow();
        f.debug_struct("Socket")
            .field("destroyed", &st.destroyed)
            .field("bytes_read", &st.bytes_read)
            .field("bytes_written", &st.bytes_written)
            .finish()
    }
}
