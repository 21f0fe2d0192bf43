//! `net::Socket`: one connection with Node's events, driven by a task on its core.
//!
//! Order of events (Node's): client sockets `lookup` (host names only), `connect`, `ready`;
//! then `data`* and `end` (peer's FIN) — unless `allow_half_open`, our own FIN follows —
//! `finish` (our FIN sent), and `close(had_error)` last. An error emits `error` then
//! `close(true)`. After `close` every listener is dropped.

mod connect;
mod driver;
mod encoding;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use corenet_engine as engine;
use corenet_engine::Chunk;

use super::events::{ListenerId, Listeners};
use super::server::Shared;
use crate::Error;
pub use connect::{ConnectArgs, Lookup, connect, create_connection};
use encoding::Decoder;
pub use encoding::Encoding;

/// A `write_with` callback: `None` once the bytes reached the kernel, or the write error.
pub type WriteCallback = Box<dyn FnOnce(&Socket, Option<&Error>)>;

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
    lookup: Listeners<Socket, Lookup>,
    connect: Listeners<Socket, ()>,
    ready: Listeners<Socket, ()>,
    data: Listeners<Socket, Chunk>,
    text: Listeners<Socket, str>,
    end: Listeners<Socket, ()>,
    finish: Listeners<Socket, ()>,
    close: Listeners<Socket, bool>,
    error: Listeners<Socket, Error>,
    drain: Listeners<Socket, ()>,
    timeout: Listeners<Socket, ()>,
}

struct Inner {
    io: RefCell<Option<engine::Socket>>,
    events: Events,
    state: RefCell<State>,
    /// The driver task's waker: state changes (resume, end, destroy, timeouts) wake it.
    driver: Cell<Option<Waker>>,
    server: Option<Arc<Shared>>,
    allow_half_open: bool,
    high_water_mark: usize,
    /// `set_encoding`: 'data' is decoded and delivered to the text listeners.
    decoder: RefCell<Option<Decoder>>,
    /// Node's `onread` (client sockets): reads go to the caller's buffer instead of 'data'.
    onread: RefCell<Option<connect::OnRead>>,
}

struct State {
    /// A client socket between `connect` and 'connect' (or its failure).
    connecting: bool,
    /// Bytes written while connecting, sent on connect.
    pending: Vec<u8>,
    paused: bool,
    /// The peer's FIN arrived ('end' emitted).
    read_ended: bool,
    /// `end()` was called: no more writes; our FIN follows the queue.
    ending: bool,
    /// Our FIN is sent ('finish' emitted).
    finished: bool,
    /// `write` returned false; 'drain' is due once the queue is below the mark.
    need_drain: bool,
    /// `write_with` callbacks, in order, called once the kernel has every queued byte.
    write_callbacks: Vec<WriteCallback>,
    refed: bool,
    destroyed: bool,
    /// 'close' emitted.
    closed: bool,
    had_error: bool,
    /// An error to emit (from `destroy(err)` or the driver).
    pending_error: Option<Error>,
    bytes_read: u64,
    bytes_written: u64,
    /// `set_timeout`: idle time before 'timeout' (None: off).
    timeout: Option<Duration>,
    last_activity: Instant,
    /// 'timeout' fired and no activity since.
    timed_out: bool,
    timer: Option<corenet_engine::Sleep>,
    /// Addresses cached at connect/accept, readable after close.
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
}

impl State {
    fn new(connecting: bool, paused: bool) -> Self {
        State {
            connecting,
            pending: Vec::new(),
            paused,
            read_ended: false,
            ending: false,
            finished: false,
            need_drain: false,
            write_callbacks: Vec::new(),
            refed: true,
            destroyed: false,
            closed: false,
            had_error: false,
            pending_error: None,
            bytes_read: 0,
            bytes_written: 0,
            timeout: None,
            last_activity: Instant::now(),
            timed_out: false,
            timer: None,
            remote: None,
            local: None,
        }
    }
}

impl Socket {
    fn with_inner(
        io: Option<engine::Socket>,
        server: Option<Arc<Shared>>,
        allow_half_open: bool,
        paused: bool,
    ) -> Socket {
        let connecting = io.is_none();
        let mut state = State::new(connecting, paused);
        if let Some(io) = &io {
            state.remote = io.peer_addr().ok();
            state.local = io.local_addr().ok();
        }
        Socket {
            inner: Rc::new(Inner {
                io: RefCell::new(io),
                events: Events::default(),
                state: RefCell::new(state),
                driver: Cell::new(None),
                server,
                allow_half_open,
                high_water_mark: DEFAULT_HIGH_WATER_MARK,
                decoder: RefCell::new(None),
                onread: RefCell::new(None),
            }),
        }
    }

    /// Wraps an accepted engine socket of `server` and starts its driver task (after the
    /// connection handler has registered its listeners: the task runs later in this turn).
    pub(crate) fn accepted(io: engine::Socket, server: Arc<Shared>) -> Socket {
        let options = server.options;
        let socket = Socket::with_inner(
            Some(io),
            Some(server),
            options.allow_half_open,
            options.pause_on_connect,
        );
        socket.start_driver();
        socket
    }

    // ---- events --------------------------------------------------------------------------

    /// `'lookup'`: a host name was resolved (or failed to), before connecting.
    pub fn on_lookup(&self, f: impl FnMut(&Socket, &Lookup) + 'static) -> ListenerId {
        self.inner.events.lookup.on(f)
    }

    /// `'connect'`: a client socket connected.
    pub fn on_connect(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.connect.on(move |s, ()| f(s))
    }

    /// `'connect'`, once (Node's `connect(.., cb)` callback).
    pub fn once_connect(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.connect.once_fn(move |s, ()| f(s))
    }

    /// `'ready'`: right after `'connect'`.
    pub fn on_ready(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.ready.on(move |s, ()| f(s))
    }

    /// `'data'`: received bytes, as a view of the receive buffer (no copy). Copy what you
    /// keep (`chunk.to_vec()`); the buffer returns to the ring when the listeners return.
    pub fn on_data(&self, f: impl FnMut(&Socket, &Chunk) + 'static) -> ListenerId {
        self.inner.events.data.on(f)
    }

    /// `'data'`, once.
    pub fn once_data(&self, f: impl FnOnce(&Socket, &Chunk) + 'static) -> ListenerId {
        self.inner.events.data.once_fn(f)
    }

    /// `'data'` after [`set_encoding`](Socket::set_encoding): the received bytes as text.
    /// While an encoding is set, `on_data` listeners get nothing (Node's 'data' then carries
    /// strings only).
    pub fn on_text(&self, f: impl FnMut(&Socket, &str) + 'static) -> ListenerId {
        self.inner.events.text.on(f)
    }

    /// `on_text`, once.
    pub fn once_text(&self, f: impl FnOnce(&Socket, &str) + 'static) -> ListenerId {
        self.inner.events.text.once_fn(f)
    }

    /// `'end'`: the peer half-closed (no more data will come).
    pub fn on_end(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.end.on(move |s, ()| f(s))
    }

    /// `'end'`, once.
    pub fn once_end(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.end.once_fn(move |s, ()| f(s))
    }

    /// `'finish'`: our side ended and everything written reached the kernel.
    pub fn on_finish(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.finish.on(move |s, ()| f(s))
    }

    /// `'finish'`, once.
    pub fn once_finish(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.finish.once_fn(move |s, ()| f(s))
    }

    /// `'close'`: fully closed; the argument is `had_error`. The last event.
    pub fn on_close(&self, f: impl FnMut(&Socket, bool) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.close.on(move |s, e| f(s, *e))
    }

    /// `'close'`, once.
    pub fn once_close(&self, f: impl FnOnce(&Socket, bool) + 'static) -> ListenerId {
        self.inner.events.close.once_fn(move |s, e| f(s, *e))
    }

    /// `'error'`; `'close'` follows. An error with no listener is logged and the socket
    /// destroyed — never a panic.
    pub fn on_error(&self, f: impl FnMut(&Socket, &Error) + 'static) -> ListenerId {
        self.inner.events.error.on(f)
    }

    /// `'error'`, once.
    pub fn once_error(&self, f: impl FnOnce(&Socket, &Error) + 'static) -> ListenerId {
        self.inner.events.error.once_fn(f)
    }

    /// `'drain'`: after a `write` returned false, the queue went below the high-water mark.
    pub fn on_drain(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.drain.on(move |s, ()| f(s))
    }

    /// `'drain'`, once.
    pub fn once_drain(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.drain.once_fn(move |s, ()| f(s))
    }

    /// `'timeout'`: idle for the time given to [`set_timeout`](Socket::set_timeout). The
    /// socket is not closed.
    pub fn on_timeout(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.timeout.on(move |s, ()| f(s))
    }

    /// `'timeout'`, once.
    pub fn once_timeout(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.timeout.once_fn(move |s, ()| f(s))
    }

    /// Removes a listener registered with any `on_*`/`once_*`; true if it was found.
    pub fn off(&self, id: ListenerId) -> bool {
        let e = &self.inner.events;
        e.lookup.off(id)
            || e.connect.off(id)
            || e.ready.off(id)
            || e.data.off(id)
            || e.text.off(id)
            || e.end.off(id)
            || e.finish.off(id)
            || e.close.off(id)
            || e.error.off(id)
            || e.drain.off(id)
            || e.timeout.off(id)
    }

    // ---- writing -------------------------------------------------------------------------

    /// Queues `data`; false when the queue is at or above the high-water mark (`'drain'`
    /// follows). While connecting, bytes wait and go out on connect. After `end()` it emits
    /// `ERR_STREAM_WRITE_AFTER_END` and returns false.
    pub fn write(&self, data: &[u8]) -> bool {
        if let Some(err) = self.write_refusal() {
            self.error_later(err);
            return false;
        }
        self.touch();
        {
            let mut st = self.inner.state.borrow_mut();
            if st.connecting {
                st.pending.extend_from_slice(data);
                st.bytes_written += data.len() as u64;
                let below = st.pending.len() < self.inner.high_water_mark;
                st.need_drain |= !below;
                return below;
            }
        }
        let queued = {
            let io = self.inner.io.borrow();
            let io = io
                .as_ref()
                .expect("a connected socket that is not destroyed has its io");
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

    /// [`write`](Socket::write) with Node's callback: called (in order) once the kernel has
    /// these bytes, or with the error if the socket fails or is destroyed first.
    pub fn write_with(
        &self,
        data: &[u8],
        cb: impl FnOnce(&Socket, Option<&Error>) + 'static,
    ) -> bool {
        if let Some(err) = self.write_refusal() {
            let socket = self.clone();
            let e2 = err.clone();
            crate::net::events::next_tick(move || cb(&socket, Some(&e2)));
            self.error_later(err);
            return false;
        }
        let below = self.write(data);
        self.inner
            .state
            .borrow_mut()
            .write_callbacks
            .push(Box::new(cb));
        self.wake_driver();
        below
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
    /// given, is written first. While connecting, the end waits for the connection.
    pub fn end(&self, data: Option<&[u8]>) {
        if let Some(d) = data {
            self.write(d);
        }
        let mut st = self.inner.state.borrow_mut();
        if st.ending || st.destroyed {
            return;
        }
        st.ending = true;
        let connecting = st.connecting;
        drop(st);
        if !connecting {
            if let Some(io) = self.inner.io.borrow().as_ref() {
                let _ = io.shutdown_later();
            }
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
        st.timer = None;
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

    /// Node's `resetAndDestroy()`: closes with a TCP reset (RST) instead of a FIN, discarding
    /// unsent bytes. `'close'` follows.
    pub fn reset_and_destroy(&self) {
        if let Some(io) = self.inner.io.borrow().as_ref() {
            let _ = io.set_linger(Some(Duration::ZERO));
        }
        self.destroy(None);
    }

    /// Node's `destroySoon()`: `end()`, then destroy once `'finish'` has fired (at once if it
    /// already has).
    pub fn destroy_soon(&self) {
        if self.inner.state.borrow().finished {
            self.destroy(None);
            return;
        }
        self.end(None);
        self.once_finish(|s| s.destroy(None));
    }

    // ---- reading and timers --------------------------------------------------------------

    /// Node's `setEncoding`: decode received bytes to text, delivered to
    /// [`on_text`](Socket::on_text) listeners; a character split across reads is kept whole.
    /// `None` goes back to bytes (`on_data`).
    pub fn set_encoding(&self, encoding: Option<Encoding>) -> &Socket {
        *self.inner.decoder.borrow_mut() = encoding.map(Decoder::new);
        self
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

    /// Node's `setTimeout(msecs)`: `'timeout'` after this long without reads or writes
    /// (re-armed by later activity); `Duration::ZERO` turns it off. The socket is not closed.
    pub fn set_timeout(&self, idle: Duration) -> &Socket {
        let mut st = self.inner.state.borrow_mut();
        if st.destroyed {
            return self;
        }
        st.timeout = (!idle.is_zero()).then_some(idle);
        st.timer = None;
        st.timed_out = false;
        st.last_activity = Instant::now();
        drop(st);
        self.wake_driver();
        self
    }

    /// The last [`set_timeout`](Socket::set_timeout) value (None: never set, or off).
    pub fn timeout(&self) -> Option<Duration> {
        self.inner.state.borrow().timeout
    }

    /// Records activity: the idle timer starts over.
    fn touch(&self) {
        let mut st = self.inner.state.borrow_mut();
        if st.timeout.is_some() {
            st.last_activity = Instant::now();
            st.timed_out = false;
        }
    }

    // ---- options and properties ----------------------------------------------------------

    /// Node's `setNoDelay(noDelay)`: true turns Nagle's algorithm off. No-op on Unix sockets
    /// and once destroyed.
    pub fn set_no_delay(&self, no_delay: bool) -> &Socket {
        if let Some(io) = self.inner.io.borrow().as_ref() {
            let _ = io.set_nodelay(no_delay);
        }
        self
    }

    /// Node's `setKeepAlive(enable, initialDelay)`: SO_KEEPALIVE with the first probe after
    /// `initial_delay` (zero: the system's), 10 probes 1 s apart. No-op once destroyed.
    pub fn set_keep_alive(&self, enable: bool, initial_delay: Duration) -> &Socket {
        if let Some(io) = self.inner.io.borrow().as_ref() {
            let _ = io.set_keepalive(enable.then_some(initial_delay));
        }
        self
    }

    /// Node's `ref()`: recorded only (a corenet runtime runs until shut down).
    pub fn ref_(&self) -> &Socket {
        self.inner.state.borrow_mut().refed = true;
        self
    }

    /// Node's `unref()`: see [`ref_`](Socket::ref_).
    pub fn unref(&self) -> &Socket {
        self.inner.state.borrow_mut().refed = false;
        self
    }

    /// Whether the socket is ref'd.
    pub fn is_refed(&self) -> bool {
        self.inner.state.borrow().refed
    }

    /// Node's `address()`: our bound address (None before connect).
    pub fn address(&self) -> Option<SocketAddr> {
        self.local_address()
    }

    /// Bytes received so far.
    pub fn bytes_read(&self) -> u64 {
        self.inner.state.borrow().bytes_read
    }

    /// Bytes accepted by `write` so far (sent or still queued).
    pub fn bytes_written(&self) -> u64 {
        self.inner.state.borrow().bytes_written
    }

    /// Node's `writableLength` (and `bufferSize`): bytes queued and not yet handed to the
    /// kernel, including those waiting for the connection.
    pub fn writable_length(&self) -> usize {
        let pending = self.inner.state.borrow().pending.len();
        pending + self.inner.io.borrow().as_ref().map_or(0, |io| io.queued())
    }

    /// Whether the socket was destroyed (or closed).
    pub fn destroyed(&self) -> bool {
        self.inner.state.borrow().destroyed
    }

    /// True from `connect` until `'connect'` or the failure.
    pub fn connecting(&self) -> bool {
        self.inner.state.borrow().connecting
    }

    /// Node's `pending`: not connected yet, or closed.
    pub fn pending(&self) -> bool {
        let st = self.inner.state.borrow();
        st.connecting || st.destroyed
    }

    /// Node's `readyState`: "opening", "open", "readOnly", "writeOnly" or "closed".
    pub fn ready_state(&self) -> &'static str {
        let st = self.inner.state.borrow();
        if st.connecting {
            return "opening";
        }
        let readable = !st.destroyed && !st.read_ended;
        let writable = !st.destroyed && !st.ending;
        match (readable, writable) {
            (true, true) => "open",
            (true, false) => "readOnly",
            (false, true) => "writeOnly",
            (false, false) => "closed",
        }
    }

    /// The peer's address (cached at connect/accept: still readable in `'close'`).
    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.inner.state.borrow().remote
    }

    /// Node's `remoteFamily`: "IPv4" or "IPv6".
    pub fn remote_family(&self) -> Option<&'static str> {
        self.remote_address().map(|a| family(a.ip()))
    }

    /// Node's `remotePort`.
    pub fn remote_port(&self) -> Option<u16> {
        self.remote_address().map(|a| a.port())
    }

    /// Our address (Node's `address()`, `localAddress`, `localPort`).
    pub fn local_address(&self) -> Option<SocketAddr> {
        self.inner.state.borrow().local
    }

    /// Node's `localPort`.
    pub fn local_port(&self) -> Option<u16> {
        self.local_address().map(|a| a.port())
    }

    /// Node's `allowHalfOpen`.
    pub fn allow_half_open(&self) -> bool {
        self.inner.allow_half_open
    }

    /// The core this socket lives on.
    pub fn core(&self) -> usize {
        corenet_engine::current_core().unwrap_or(0)
    }
}

fn family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.borrow();
        f.debug_struct("Socket")
            .field("remote", &st.remote)
            .field("destroyed", &st.destroyed)
            .field("bytes_read", &st.bytes_read)
            .field("bytes_written", &st.bytes_written)
            .finish()
    }
}
