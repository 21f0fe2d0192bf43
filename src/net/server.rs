//! `net::Server`: Node's server over the engine's per-core listeners.
//!
//! The server object lives on the core that called [`create_server`]; its events
//! (`listening`, `error`, `close`) fire there. Connections are accepted on every core, each
//! handed to that core's connection handler, made once per core by the factory given to
//! [`create_server`] (so per-core state needs no lock). Counts that span cores — for
//! `get_connections`, `max_connections` and the final `close` — are atomics.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use corenet_engine as engine;

use super::events::{ListenerId, Listeners, next_tick};
use super::listen::{ListenArgs, Target};
use super::socket::Socket;
use crate::Error;

/// Options of [`create_server`] (Node's `net.createServer(options)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerOptions {
    /// Keep our side open when the peer half-closes (default false: we end too).
    pub allow_half_open: bool,
    /// Accepted sockets start paused: nothing is read until `resume()` (default false).
    pub pause_on_connect: bool,
}

impl ServerOptions {
    /// With `allow_half_open`.
    pub fn allow_half_open(mut self, on: bool) -> Self {
        self.allow_half_open = on;
        self
    }

    /// With `pause_on_connect`.
    pub fn pause_on_connect(mut self, on: bool) -> Self {
        self.pause_on_connect = on;
        self
    }
}

/// What `address()` returns: a TCP address or a pipe path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `{ port, family, address }` in Node.
    Tcp(SocketAddr),
    /// A Unix socket path (or abstract name).
    Pipe(PathBuf),
}

impl Address {
    /// Node's `family` string: "IPv4" or "IPv6" (None for pipes).
    pub fn family(&self) -> Option<&'static str> {
        match self {
            Address::Tcp(SocketAddr::V4(_)) => Some("IPv4"),
            Address::Tcp(SocketAddr::V6(_)) => Some("IPv6"),
            Address::Pipe(_) => None,
        }
    }
}

thread_local! {
    /// This core's Node-face servers by id, for [`ServerHandle`]s to reach.
    static REGISTRY: RefCell<std::collections::HashMap<u64, std::rc::Weak<Inner>>> =
        RefCell::default();
}

type Handler = Box<dyn FnMut(&Socket)>;
type CloseCallback = Box<dyn FnOnce(&Server, Option<Error>)>;
type Factory = Box<dyn Fn() -> Handler + Send + Sync>;

/// Server-wide state shared by the cores.
pub(crate) struct Shared {
    pub(crate) options: ServerOptions,
    factory: Factory,
    connections: AtomicUsize,
    /// 0: no limit (Node v14).
    max_connections: AtomicUsize,
    /// close() was called: 'close' is due when `connections` reaches 0.
    closing: AtomicBool,
    /// Woken when the count reaches 0 while closing.
    zero: (async_channel::Sender<()>, async_channel::Receiver<()>),
    /// Accept errors from every core, emitted as 'error' on the server's core; `None` tells
    /// the forwarding task that the server closed.
    accept_errors: (
        async_channel::Sender<Option<Error>>,
        async_channel::Receiver<Option<Error>>,
    ),
    /// The runtime and the core the server lives on, and its key in that core's registry
    /// (how a [`ServerHandle`] reaches it).
    runtime: engine::RuntimeHandle,
    core: usize,
    id: u64,
    /// The bound address while listening.
    address: std::sync::Mutex<Option<Address>>,
}

impl Shared {
    /// The bound address (poison-tolerant: a panicking holder leaves a valid value).
    pub(crate) fn address(&self) -> std::sync::MutexGuard<'_, Option<Address>> {
        self.address.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open connections over every core.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Closes the server on its own core, from any thread or core (a task there does it).
    pub(crate) fn close_from_anywhere(&self) {
        let id = self.id;
        drop(self.runtime.spawn_on(self.core, move || async move {
            let inner = REGISTRY.with(|r| r.borrow().get(&id).and_then(std::rc::Weak::upgrade));
            if let Some(inner) = inner {
                Server { inner }.close();
            }
        }));
    }

    /// A connection's socket closed.
    pub(crate) fn connection_closed(&self) {
        let before = self.connections.fetch_sub(1, Ordering::SeqCst);
        if before == 1 && self.closing.load(Ordering::SeqCst) {
            let _ = self.zero.0.try_send(());
        }
    }
}

/// Node's `net.Server`. Create it on a core with [`create_server`].
#[derive(Clone)]
pub struct Server {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Events {
    listening: Listeners<Server, ()>,
    error: Listeners<Server, Error>,
    close: Listeners<Server, ()>,
}

struct Inner {
    shared: Arc<Shared>,
    runtime: engine::RuntimeHandle,
    events: Events,
    /// The engine listener while listening.
    listener: RefCell<Option<engine::Server>>,
    /// Bumped by every listen/close, so a deferred 'listening' of an older listen is dropped.
    generation: Cell<u64>,
    refed: Cell<bool>,
    /// The accept-error forwarding task is running.
    forwarding_errors: Cell<bool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // During the core thread's exit the registry may already be gone.
        let _ = REGISTRY.try_with(|r| r.borrow_mut().remove(&self.shared.id));
    }
}

/// Creates a server whose connections are handled, on each core, by the handler `factory`
/// returns when first called on that core (Node's `net.createServer(options, listener)`).
///
/// # Panics
///
/// When called from a thread that is not a corenet core.
///
/// # Examples
///
/// ```no_run
/// use corenet::net;
///
/// let rt = corenet::Runtime::new()?;
/// rt.block_on(0, || async {
///     let server = net::create_server(net::ServerOptions::default(), || {
///         |socket: &net::Socket| {
///             socket.on_data(|s, chunk| {
///                 s.write(chunk);
///             });
///         }
///     });
///     server.on_listening(|s| println!("listening on {:?}", s.address()));
///     server.listen(7000);
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn create_server<F, H>(options: ServerOptions, factory: F) -> Server
where
    F: Fn() -> H + Send + Sync + 'static,
    H: FnMut(&Socket) + 'static,
{
    let runtime =
        engine::RuntimeHandle::current().expect("create_server called outside a corenet core");
    let core = corenet_engine::current_core().expect("create_server called outside a corenet core");
    let factory: Factory = Box::new(move || Box::new(factory()) as Handler);
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let server = Server {
        inner: Rc::new(Inner {
            shared: Arc::new(Shared {
                options,
                factory,
                connections: AtomicUsize::new(0),
                max_connections: AtomicUsize::new(0),
                closing: AtomicBool::new(false),
                zero: async_channel::bounded(1),
                accept_errors: async_channel::bounded(64),
                runtime: runtime.clone(),
                core,
                id,
                address: std::sync::Mutex::new(None),
            }),
            runtime,
            events: Events::default(),
            listener: RefCell::new(None),
            generation: Cell::new(0),
            refed: Cell::new(true),
            forwarding_errors: Cell::new(false),
        }),
    };
    REGISTRY.with(|r| r.borrow_mut().insert(id, Rc::downgrade(&server.inner)));
    server
}

impl Server {
    // ---- events --------------------------------------------------------------------------

    /// `'listening'`: emitted later in the turn after a successful `listen`.
    pub fn on_listening(&self, f: impl FnMut(&Server) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.listening.on(move |s, ()| f(s))
    }

    /// `'error'`: listen errors (EADDRINUSE, EACCES, ...), once per failed `listen`.
    pub fn on_error(&self, f: impl FnMut(&Server, &Error) + 'static) -> ListenerId {
        self.inner.events.error.on(f)
    }

    /// `'close'`: after `close()`, once the last connection on any core has ended.
    pub fn on_close(&self, f: impl FnMut(&Server) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.close.on(move |s, ()| f(s))
    }

    /// `'listening'`, once (Node's `listen(.., cb)` callback).
    pub fn once_listening(&self, f: impl FnOnce(&Server) + 'static) -> ListenerId {
        self.inner.events.listening.once_fn(move |s, ()| f(s))
    }

    /// `'error'`, once.
    pub fn once_error(&self, f: impl FnOnce(&Server, &Error) + 'static) -> ListenerId {
        self.inner.events.error.once_fn(f)
    }

    /// `'close'`, once.
    pub fn once_close(&self, f: impl FnOnce(&Server) + 'static) -> ListenerId {
        self.inner.events.close.once_fn(move |s, ()| f(s))
    }

    /// Removes a listener; true if it was found.
    pub fn off(&self, id: ListenerId) -> bool {
        let e = &self.inner.events;
        e.listening.off(id) || e.error.off(id) || e.close.off(id)
    }

    // ---- listen --------------------------------------------------------------------------

    /// Starts listening on every core: `listen(port)`, `listen((port, host))`,
    /// `listen(ListenArgs::path(p))`, `listen(handle)` with a listening socket made elsewhere
    /// ([`ListenArgs::handle`], or a `std` listener itself), or a [`ListenArgs`] with the
    /// options object's fields.
    /// `'listening'` or `'error'` follows later in the turn.
    ///
    /// # Errors
    ///
    /// `ERR_SERVER_ALREADY_LISTEN` (thrown in Node) when already listening. Bind errors are
    /// not returned: they are emitted as `'error'`, as in Node.
    pub fn listen(&self, args: impl Into<ListenArgs>) -> Result<&Server, Error> {
        if self.inner.listener.borrow().is_some() {
            return Err(Error::server_already_listen());
        }
        let args = args.into();
        let generation = self.inner.generation.get() + 1;
        self.inner.generation.set(generation);
        self.inner.shared.closing.store(false, Ordering::SeqCst);
        match &args.target {
            Target::Tcp {
                host: Some(host), ..
            } if host.parse::<IpAddr>().is_err() => {
                // A host name: look it up off the core, then bind (Node: dns.lookup first).
                let server = self.clone();
                let host = host.clone();
                corenet_engine::spawn_local(async move {
                    let found = crate::net::resolve::lookup(&host, 0).await;
                    // Closed, or listening again, while the name was looked up: this listen
                    // is over (binding now would listen after close, or replace the newer
                    // listener).
                    if server.inner.generation.get() != generation {
                        return;
                    }
                    match found {
                        Ok(ip) => server.bind_now(&args, Some(ip), generation),
                        Err(e) => server.fail_later(e, generation),
                    }
                })
                .detach();
            }
            _ => self.bind_now(&args, None, generation),
        }
        Ok(self)
    }

    fn bind_now(&self, args: &ListenArgs, resolved: Option<IpAddr>, generation: u64) {
        match self.bind(args, resolved) {
            Ok((listener, address)) => {
                *self.inner.listener.borrow_mut() = Some(listener.clone());
                *self.inner.shared.address() = Some(address);
                self.start_accepting(listener);
                let server = self.clone();
                next_tick(move || {
                    // Closed (or re-listened) in the meantime: Node emits nothing.
                    if server.inner.generation.get() == generation && server.listening() {
                        server.inner.events.listening.emit(&server, &());
                    }
                });
            }
            Err(e) => self.fail_later(e, generation),
        }
    }

    fn fail_later(&self, err: Error, generation: u64) {
        let server = self.clone();
        next_tick(move || {
            if server.inner.generation.get() == generation
                && !server.inner.events.error.emit(&server, &err)
            {
                tracing::error!("unhandled 'error' on a server: {err}");
            }
        });
    }

    fn bind(
        &self,
        args: &ListenArgs,
        resolved: Option<IpAddr>,
    ) -> Result<(engine::Server, Address), Error> {
        let options = engine::ListenOptions::default().backlog(args.backlog);
        match &args.target {
            Target::Path(path) => {
                let listener = engine::Server::bind_unix_with(&self.inner.runtime, path, options)
                    .map_err(|e| {
                    Error::from_io(e, "listen").with_address(path.display().to_string())
                })?;
                super::listen::apply_pipe_mode(path, args)?;
                Ok((listener, Address::Pipe(path.clone())))
            }
            Target::Handle(handle) => {
                // Already listened on (by a clone of these arguments): a closed handle to us.
                let socket = handle.take().ok_or_else(|| {
                    Error::from_io(std::io::ErrorKind::InvalidInput.into(), "listen")
                })?;
                let listener = engine::Server::from_std(&self.inner.runtime, socket)
                    .map_err(|e| Error::from_io(e, "listen"))?;
                let address = match listener.unix_path() {
                    Some(path) => {
                        if !path.as_os_str().is_empty() {
                            super::listen::apply_pipe_mode(path, args)?;
                        }
                        Address::Pipe(path.to_owned())
                    }
                    None => Address::Tcp(listener.local_addr()),
                };
                Ok((listener, address))
            }
            Target::Tcp { port, host } => {
                let port = port.map_or(0, |p| p.get());
                let ip = match (resolved, host) {
                    (Some(ip), _) => Some(ip),
                    (None, Some(h)) => Some(h.parse::<IpAddr>().expect("checked by listen")),
                    (None, None) => None,
                };
                let options = options.ipv6_only(args.ipv6_only).exclusive(args.exclusive);
                let bind = |ip: IpAddr| {
                    engine::Server::bind_with(
                        &self.inner.runtime,
                        SocketAddr::new(ip, port),
                        options,
                    )
                };
                let result = match ip {
                    Some(ip) => bind(ip).map_err(|e| (e, ip)),
                    // No host: dual-stack '::', else 0.0.0.0 (Node/libuv).
                    None => bind(IpAddr::V6(Ipv6Addr::UNSPECIFIED)).or_else(|e| {
                        match e.raw_os_error() {
                            Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) => {
                                bind(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
                                    .map_err(|e| (e, IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)))
                            }
                            _ => Err((e, IpAddr::V6(Ipv6Addr::UNSPECIFIED))),
                        }
                    }),
                };
                let listener = result.map_err(|(e, ip)| {
                    Error::from_io(e, "listen")
                        .with_address(ip.to_string())
                        .with_port(port)
                })?;
                let address = Address::Tcp(listener.local_addr());
                Ok((listener, address))
            }
        }
    }

    /// Runs an accept loop on every core, each with that core's handler, and forwards their
    /// accept errors to this core's 'error' event.
    fn start_accepting(&self, listener: engine::Server) {
        if !self.inner.forwarding_errors.replace(true) {
            self.forward_accept_errors();
        }
        self.spawn_accept_loops(listener);
    }

    /// While listening, a task on this core turns accept errors into 'error' events. It also
    /// holds the server: like Node's, a listening server stays alive (and its listeners
    /// with it) until `close()`, even if the program dropped every handle.
    fn forward_accept_errors(&self) {
        let server = self.clone();
        let errors = self.inner.shared.accept_errors.1.clone();
        corenet_engine::spawn_local(async move {
            while let Ok(Some(err)) = errors.recv().await {
                if !server.inner.events.error.emit(&server, &err) {
                    tracing::warn!("unhandled 'error' on a server: {err}");
                }
            }
            server.inner.forwarding_errors.set(false);
        })
        .detach();
    }

    fn spawn_accept_loops(&self, listener: engine::Server) {
        for core in 0..self.inner.runtime.cores() {
            let listener = listener.clone();
            let shared = self.inner.shared.clone();
            self.inner
                .runtime
                .spawn_on(core, move || async move {
                    let mut handler = (shared.factory)();
                    loop {
                        let io = match listener.accept().await {
                            Ok(io) => io,
                            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return,
                            Err(e) => {
                                let out_of_fds =
                                    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                                // A full channel drops the report, never the accept loop.
                                let _ = shared
                                    .accept_errors
                                    .0
                                    .try_send(Some(Error::from_io(e, "accept")));
                                if out_of_fds {
                                    // Back off instead of spinning on a listener that stays
                                    // readable while no descriptor is free.
                                    corenet_engine::sleep(std::time::Duration::from_millis(10))
                                        .await;
                                }
                                continue;
                            }
                        };
                        let max = shared.max_connections.load(Ordering::SeqCst);
                        let count = shared.connections.fetch_add(1, Ordering::SeqCst);
                        if max > 0 && count >= max {
                            // Over the limit: accepted and closed at once, no 'connection'.
                            shared.connections.fetch_sub(1, Ordering::SeqCst);
                            io.destroy();
                            continue;
                        }
                        let socket = Socket::accepted(io, shared.clone());
                        handler(&socket);
                    }
                })
                .detach();
        }
    }

    // ---- close and the rest --------------------------------------------------------------

    /// Stops accepting on every core at once (a pipe file is unlinked). `'close'` follows once
    /// the last connection on any core has ended (and is emitted even if the server was not
    /// listening).
    pub fn close(&self) -> &Server {
        self.close_inner(None)
    }

    /// [`close`](Server::close) with Node's callback: called at `'close'` with `None`, or
    /// with `ERR_SERVER_NOT_RUNNING` if the server was not listening.
    pub fn close_with(&self, cb: impl FnOnce(&Server, Option<Error>) + 'static) -> &Server {
        self.close_inner(Some(Box::new(cb)))
    }

    fn close_inner(&self, cb: Option<CloseCallback>) -> &Server {
        let listener = self.inner.listener.borrow_mut().take();
        self.inner.generation.set(self.inner.generation.get() + 1);
        *self.inner.shared.address() = None;
        let was_listening = listener.is_some();
        if let Some(l) = listener {
            l.close();
        }
        if self.inner.forwarding_errors.get() {
            // Ends the forwarding task, and with it the reference keeping the server alive.
            let _ = self.inner.shared.accept_errors.0.try_send(None);
        }
        if let Some(cb) = cb {
            if was_listening {
                self.inner.events.close.once_fn(move |s, ()| cb(s, None));
            } else {
                let server = self.clone();
                next_tick(move || cb(&server, Some(Error::server_not_running())));
            }
        }
        let shared = &self.inner.shared;
        shared.closing.store(true, Ordering::SeqCst);
        let server = self.clone();
        corenet_engine::spawn_local(async move {
            let shared = &server.inner.shared;
            while shared.connections.load(Ordering::SeqCst) > 0 {
                if shared.zero.1.recv().await.is_err() {
                    return;
                }
            }
            server.inner.events.close.emit(&server, &());
        })
        .detach();
        self
    }

    /// Whether the server is listening.
    pub fn listening(&self) -> bool {
        self.inner.listener.borrow().is_some()
    }

    /// The bound address: `Address::Tcp` or `Address::Pipe`; `None` before listening and
    /// after close.
    pub fn address(&self) -> Option<Address> {
        self.inner.shared.address().clone()
    }

    /// A handle on this server that any thread or core may hold and use
    /// ([`Socket::server`](super::Socket::server) gives one to connection handlers).
    pub fn handle(&self) -> super::ServerHandle {
        super::ServerHandle::new(self.inner.shared.clone())
    }

    /// Calls `cb` later in the turn with the number of open connections over all cores.
    pub fn get_connections(
        &self,
        cb: impl FnOnce(&Server, Result<usize, Error>) + 'static,
    ) -> &Server {
        let server = self.clone();
        next_tick(move || {
            let n = server.inner.shared.connections.load(Ordering::SeqCst);
            cb(&server, Ok(n))
        });
        self
    }

    /// Open connections over all cores, now.
    pub fn connections(&self) -> usize {
        self.inner.shared.connections.load(Ordering::SeqCst)
    }

    /// Node's `maxConnections`: above it, new connections are accepted and closed at once
    /// (no `'connection'`). 0: no limit (Node v14). Enforced over all cores together.
    pub fn set_max_connections(&self, max: usize) -> &Server {
        self.inner
            .shared
            .max_connections
            .store(max, Ordering::SeqCst);
        self
    }

    /// The current `maxConnections` (0: none).
    pub fn max_connections(&self) -> usize {
        self.inner.shared.max_connections.load(Ordering::SeqCst)
    }

    /// Node's `ref()`: remembered, and reported by [`is_refed`](Server::is_refed). corenet
    /// runtimes run until shut down, so it does not decide when a process exits.
    pub fn ref_(&self) -> &Server {
        self.inner.refed.set(true);
        self
    }

    /// Node's `unref()`: see [`ref_`](Server::ref_).
    pub fn unref(&self) -> &Server {
        self.inner.refed.set(false);
        self
    }

    /// Whether the server is ref'd.
    pub fn is_refed(&self) -> bool {
        self.inner.refed.get()
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("address", &self.address())
            .field("connections", &self.connections())
            .finish()
    }
}
