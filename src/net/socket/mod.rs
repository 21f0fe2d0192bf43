//! `net::Socket`: one connection with Node's events, driven by a task on its core.
//!
//! Order of events (Node's): client sockets `lookup` (host names only), `connect`, `ready`;
//! then `data`* and `end` (peer's FIN) — unless `allow_half_open`, our own FIN follows —
//! `finish` (our FIN sent), and `close(had_error)` last. An error emits `error` then
//! `close(true)`. After `close` every listener is dropped, unless a `'close'` listener
//! reconnected the socket ([`Socket::connect`]).

mod connect;
mod encoding;
mod listeners;
mod pipe;
mod props;
mod stream;
mod task;
mod write;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use corenet_engine as engine;
use corenet_engine::Chunk;

use super::events::{Listeners, next_tick};
use super::server::Shared;
use crate::Error;
pub use connect::{ConnectArgs, Lookup, connect, create_connection};
use encoding::Decoder;
pub use encoding::Encoding;
pub use pipe::PipeOptions;

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
    /// On a destination: a source was piped into it (the argument).
    pipe: Listeners<Socket, Socket>,
    /// On a destination: a source stopped piping into it.
    unpipe: Listeners<Socket, Socket>,
}

struct Inner {
    io: RefCell<Option<engine::Socket>>,
    events: Events,
    state: RefCell<State>,
    /// The socket task's waker: state changes (resume, end, destroy, timeouts) wake it.
    task_waker: Cell<Option<Waker>>,
    server: Option<Arc<Shared>>,
    allow_half_open: bool,
    high_water_mark: usize,
    /// `set_encoding`: 'data' is decoded and delivered to the text listeners.
    decoder: RefCell<Option<Decoder>>,
    /// Node's `onread` (client sockets): reads go to the caller's buffer instead of 'data'.
    onread: RefCell<Option<connect::OnRead>>,
    /// `pipe`: where this socket's data goes, and which sockets pipe into it.
    pipes: pipe::Pipes,
}

/// Options of [`Socket::new`] (Node's `new net.Socket(options)`).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SocketOptions {
    /// Keep our side open when the peer half-closes (default false: our FIN follows).
    pub allow_half_open: bool,
    /// Queued bytes at which `write` starts returning false (default 16 KiB).
    pub high_water_mark: usize,
}

impl SocketOptions {
    /// With `allowHalfOpen`.
    pub fn allow_half_open(mut self, on: bool) -> Self {
        self.allow_half_open = on;
        self
    }

    /// With `highWaterMark` (bytes).
    pub fn high_water_mark(mut self, bytes: usize) -> Self {
        self.high_water_mark = bytes;
        self
    }
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            allow_half_open: false,
            high_water_mark: DEFAULT_HIGH_WATER_MARK,
        }
    }
}

struct State {
    /// A client socket between `connect` and 'connect' (or its failure).
    connecting: bool,
    /// Which `connect` call this connection comes from: a reconnect makes an earlier,
    /// still-running connect attempt's result stale.
    generation: u64,
    /// The socket task is running (it emits 'close' when the socket ends).
    task_running: bool,
    /// Bytes written while connecting or corked, sent on connect or uncork.
    pending: Vec<u8>,
    /// `cork()` depth: writes wait in `pending` until the matching `uncork()`.
    corked: u32,
    paused: bool,
    /// The peer's FIN arrived ('end' emitted).
    read_ended: bool,
    /// `end()` was called: no more writes; our FIN follows the queue.
    ending: bool,
    /// Our FIN is sent ('finish' emitted).
    finished: bool,
    /// `write` returned false; 'drain' is due once the queue is below the mark.
    need_drain: bool,
    /// `write_with` callbacks in order, each with the stream offset its bytes end at: it
    /// runs once the kernel has every byte up to there.
    write_callbacks: VecDeque<(u64, WriteCallback)>,
    /// Bytes handed to the engine's send queue on this connection so far.
    enqueued: u64,
    /// Callbacks of refused writes, run before the refusal's 'error' (Node's order).
    refused: Vec<(WriteCallback, Error)>,
    /// `end_with` callbacks, called at 'finish' (or with the error if the socket goes first).
    end_callbacks: Vec<WriteCallback>,
    refed: bool,
    destroyed: bool,
    /// 'close' emitted.
    closed: bool,
    had_error: bool,
    /// An error to emit (from `destroy(err)` or the socket task).
    pending_error: Option<Error>,
    bytes_read: u64,
    bytes_written: u64,
    /// `set_timeout`: idle time before 'timeout' (None: off).
    timeout: Option<Duration>,
    last_activity: Instant,
    /// 'timeout' fired and no activity since.
    timed_out: bool,
    timer: Option<corenet_engine::Sleep>,
    /// `set_no_delay`'s last value, applied again to every new connection (None: never set,
    /// the system's default).
    no_delay: Option<bool>,
    /// `set_keep_alive`'s last value (`Some(None)`: off; `Some(Some(delay))`: on), applied
    /// again to every new connection.
    keep_alive: Option<Option<Duration>>,
    /// Received bytes to emit before reading more: the unread rest of a stream this socket
    /// was made from ([`Socket::from_stream`]).
    unread: Option<Chunk>,
    /// Addresses cached at connect/accept, readable after close.
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
}

impl State {
    fn new(connecting: bool, paused: bool) -> Self {
        State {
            connecting,
            generation: 0,
            task_running: false,
            pending: Vec::new(),
            corked: 0,
            paused,
            read_ended: false,
            ending: false,
            finished: false,
            need_drain: false,
            write_callbacks: VecDeque::new(),
            enqueued: 0,
            refused: Vec::new(),
            end_callbacks: Vec::new(),
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
            no_delay: None,
            keep_alive: None,
            unread: None,
            remote: None,
            local: None,
        }
    }

    /// A fresh connection's state for a reconnect: counters and flags start over; the ref,
    /// the idle timeout and the socket options carry over (Node keeps them on the socket
    /// object). The idle timer starts now: connecting is activity.
    fn restart(&mut self) -> u64 {
        let mut next = State::new(true, false);
        next.generation = self.generation + 1;
        next.refed = self.refed;
        next.timeout = self.timeout;
        next.no_delay = self.no_delay;
        next.keep_alive = self.keep_alive;
        *self = next;
        self.generation
    }
}

impl Socket {
    fn with_inner(
        io: Option<engine::Socket>,
        server: Option<Arc<Shared>>,
        options: SocketOptions,
        paused: bool,
    ) -> Socket {
        let mut state = State::new(false, paused);
        if let Some(io) = &io {
            state.remote = io.peer_addr().ok();
            state.local = io.local_addr().ok();
        }
        Socket {
            inner: Rc::new(Inner {
                io: RefCell::new(io),
                events: Events::default(),
                state: RefCell::new(state),
                task_waker: Cell::new(None),
                server,
                allow_half_open: options.allow_half_open,
                high_water_mark: options.high_water_mark,
                decoder: RefCell::new(None),
                onread: RefCell::new(None),
                pipes: pipe::Pipes::default(),
            }),
        }
    }

    /// Node's `new net.Socket(options)`: a socket with no connection yet (`pending`,
    /// `readyState` "closed"); [`connect`](Socket::connect) opens one, and reopens one after
    /// `'close'`. Usually [`net::connect`](crate::net::connect) does both at once.
    ///
    /// # Panics
    ///
    /// Never; but its methods that start work (`connect`, `destroy`, `end`) must run on a
    /// corenet core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn f(rt: &corenet::Runtime) {
    /// use corenet::net::{Socket, SocketOptions};
    ///
    /// rt.block_on(0, || async {
    ///     let socket = Socket::new(SocketOptions::default());
    ///     socket.on_close(|s, _| {
    ///         // Reconnect from 'close': the same object, fresh counters.
    ///         let _ = s;
    ///     });
    ///     socket.connect((7000, "127.0.0.1"));
    /// });
    /// # }
    /// ```
    pub fn new(options: SocketOptions) -> Socket {
        Socket::with_inner(None, None, options, false)
    }

    /// Node's `new net.Socket({ fd })`: a connected TCP or Unix stream socket made elsewhere
    /// (by `std`, a parent process), as a Node-face socket on the current core. It is open
    /// at once (`'connect'` is not emitted: it was connected before) and its socket task starts
    /// later in this turn, after the caller has added its listeners: `'data'`, `'end'`,
    /// `write`, `end` and `'close'` work as on any connection. The socket takes ownership
    /// (closing it closes the descriptor).
    ///
    /// # Errors
    ///
    /// Syscall `open`: `ENOTSOCK` for a descriptor that is no socket (Node throws
    /// `ERR_INVALID_FD_TYPE` there), `EINVAL` for one that is not a stream socket or is
    /// listening, `ENOTCONN` for one that is not connected, `EAFNOSUPPORT` for another
    /// family (and for Unix sockets on Windows).
    ///
    /// # Panics
    ///
    /// When called from a thread that is not a corenet core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corenet::net::{Socket, SocketOptions};
    ///
    /// # fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let stream = std::net::TcpStream::connect("127.0.0.1:7000")?;
    /// let socket = Socket::from_std(stream, SocketOptions::default())?;
    /// socket.on_data(|s, chunk| println!("{} bytes", chunk.len()));
    /// socket.write(b"hello");
    /// # Ok(()) }
    /// ```
    #[doc(alias = "adopt")]
    pub fn from_std(
        stream: impl Into<corenet_engine::OwnedSock>,
        options: SocketOptions,
    ) -> Result<Socket, Error> {
        let io = engine::Socket::from_std(stream).map_err(|e| Error::from_io(e, "open"))?;
        Ok(Socket::from_engine(io, options))
    }

    /// Wraps an accepted engine socket of `server` and starts its socket task (after the
    /// connection handler has registered its listeners: the task runs later in this turn).
    pub(crate) fn accepted(io: engine::Socket, server: Arc<Shared>) -> Socket {
        let options = server.options;
        let socket = Socket::with_inner(
            Some(io),
            Some(server),
            SocketOptions::default().allow_half_open(options.allow_half_open),
            options.pause_on_connect,
        );
        socket.start_task();
        socket
    }

    /// Closes at once, discarding unsent bytes; with `err`, `'error'` is emitted first. Then
    /// `'close'` (later in the turn, never from inside this call). Idempotent.
    pub fn destroy(&self, err: Option<Error>) {
        let mut st = self.inner.state.borrow_mut();
        if st.destroyed {
            return;
        }
        st.destroyed = true;
        st.timer = None;
        st.pending = Vec::new();
        if let Some(e) = err {
            st.had_error = true;
            st.pending_error = Some(e);
        }
        let task_running = st.task_running;
        drop(st);
        if let Some(io) = self.inner.io.borrow_mut().take() {
            io.destroy();
        }
        // The socket task, or the connect task (which then drops its attempt).
        self.wake_task();
        if !task_running {
            // Not connected (yet): no socket task will see it, so close from here.
            let socket = self.clone();
            next_tick(move || socket.close_now());
        }
    }

    /// Node's `resetAndDestroy()`: closes with a TCP reset (RST) instead of a FIN, discarding
    /// unsent bytes. `'close'` follows. On a socket that is not connected it is destroyed with
    /// `ERR_SOCKET_CLOSED`.
    pub fn reset_and_destroy(&self) {
        let connected = match self.inner.io.borrow().as_ref() {
            Some(io) => {
                let _ = io.set_linger(Some(Duration::ZERO));
                true
            }
            None => false,
        };
        if connected || self.inner.state.borrow().connecting {
            self.destroy(None);
        } else {
            self.destroy(Some(Error::socket_closed()));
        }
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
    pub fn pause(&self) -> &Socket {
        self.inner.state.borrow_mut().paused = true;
        self
    }

    /// Resumes reading after [`pause`](Socket::pause) or `pause_on_connect`.
    pub fn resume(&self) -> &Socket {
        self.inner.state.borrow_mut().paused = false;
        self.wake_task();
        self
    }

    /// Node's `isPaused()`.
    pub fn is_paused(&self) -> bool {
        self.inner.state.borrow().paused
    }

    /// Node's `setTimeout(msecs)`: `'timeout'` after this long without reads or writes
    /// (re-armed by later activity); `Duration::ZERO` turns it off. The socket is not closed.
    /// Node's `setTimeout(msecs, cb)` is this plus [`once_timeout`](Socket::once_timeout).
    ///
    /// It counts from the call, and works while the socket is still resolving its host or
    /// connecting (Node's way to bound a connect: destroy the socket in the `'timeout'`
    /// handler); there the activity that restarts it is `connect`, a successful lookup and
    /// the connection coming up (writes queued before `'connect'` are not, as in Node).
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
        self.wake_task();
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
