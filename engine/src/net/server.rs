//! `Server`: a TCP or Unix-socket listener on every core of a runtime.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::Socket;
use super::create;
use crate::executor::context::{self, CoreCtx};
use crate::executor::remote::Message;
use crate::reactor::{Transport, listener_closed};
use crate::runtime::{Closable, RuntimeHandle};
use crate::sys::{self as os, ListenSock, OwnedSock};

/// A server listening on every core of a runtime.
///
/// TCP: core 0's socket binds first (resolving port 0); each other core gets its own socket
/// on the same port with SO_REUSEPORT, so the kernel spreads new connections over the cores
/// and a connection lives its whole life on the core that accepted it. A second server on a
/// taken port still fails with `EADDRINUSE`.
///
/// Unix sockets cannot be reuseport-bound: one listening socket is shared and every core
/// arms its own accept on it. The socket file is unlinked when the server closes.
///
/// `Server` is `Send + Sync + Clone`. Call [`accept`](Server::accept) on every core (or use
/// [`serve`](Server::serve), which does): connections the kernel hands to a core that never
/// accepts wait in that core's backlog.
///
/// # Examples
///
/// ```no_run
/// use corenet_engine::{Runtime, Server};
///
/// let rt = Runtime::new()?;
/// let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap())?;
/// server.serve(|socket| async move {
///     while let Ok(Some(chunk)) = socket.read().await {
///         if socket.write_owned(chunk).await.is_err() {
///             break;
///         }
///     }
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    addr: ListenAddr,
    runtime: RuntimeHandle,
    per_core: Vec<Mutex<PerCore>>,
    /// Single-acceptor mode: core 0 accepts and hands sockets to core `i` through `handoff[i]`.
    handoff: Option<Vec<async_channel::Receiver<OwnedSock>>>,
    closed: AtomicBool,
    /// Notified once when the server closes ([`Server::closed`]).
    on_close: event_listener::Event,
    /// The Unix socket file is ours to unlink at close (not an adopted socket's).
    unlink: bool,
}

/// How a server listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenOptions {
    /// The listen backlog (Node's default: 511).
    pub backlog: i32,
    /// One core accepts and hands the sockets to the cores round-robin, instead of one
    /// SO_REUSEPORT socket per core. For few, long-lived connections, where reuseport hashing
    /// is lumpy; and on platforms where reuseport does not spread connections.
    pub single_acceptor: bool,
    /// For `::`: accept IPv6 only (IPV6_V6ONLY), not IPv4-mapped connections.
    pub ipv6_only: bool,
    /// One listening socket without SO_REUSEPORT, accepted by one core for every core
    /// (implies [`single_acceptor`](Self::single_acceptor)): no other socket, of this
    /// process or another, can bind the port while it listens. Without it, the per-core
    /// sockets (or the single acceptor's) carry SO_REUSEPORT, and another process of the
    /// same user may bind the port too and take a share of its connections.
    pub exclusive: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: create::DEFAULT_BACKLOG,
            single_acceptor: false,
            ipv6_only: false,
            exclusive: false,
        }
    }
}

impl ListenOptions {
    /// With this backlog.
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// With (or without) IPV6_V6ONLY.
    pub fn ipv6_only(mut self, on: bool) -> Self {
        self.ipv6_only = on;
        self
    }

    /// With (or without) a single acceptor.
    pub fn single_acceptor(mut self, on: bool) -> Self {
        self.single_acceptor = on;
        self
    }

    /// Exclusive (or not): one socket without SO_REUSEPORT (see the field).
    pub fn exclusive(mut self, on: bool) -> Self {
        self.exclusive = on;
        self
    }
}

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ListenAddr {
    Tcp(SocketAddr),
    /// A filesystem path (unlinked on close), or a Linux abstract name (leading NUL byte).
    Unix(PathBuf),
}

/// One core's view of the listening socket.
enum PerCore {
    /// Listening; that core has not accepted yet.
    Unclaimed(Arc<ListenSock>),
    /// Registered with the core's reactor.
    Registered { slot: usize, id: u64 },
    /// Closed.
    Closed,
}

impl Server {
    /// Binds `addr` on every core of `runtime`, with Node's default backlog of 511.
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` if the port is taken, `EACCES` for a privileged port, `EADDRNOTAVAIL` for
    /// an address not on this host.
    pub fn bind(runtime: &RuntimeHandle, addr: SocketAddr) -> io::Result<Server> {
        Self::bind_with(runtime, addr, ListenOptions::default())
    }

    /// As [`bind`](Server::bind), with an explicit listen backlog.
    ///
    /// # Errors
    ///
    /// As [`bind`](Server::bind).
    pub fn bind_with_backlog(
        runtime: &RuntimeHandle,
        addr: SocketAddr,
        backlog: i32,
    ) -> io::Result<Server> {
        Self::bind_with(runtime, addr, ListenOptions::default().backlog(backlog))
    }

    /// As [`bind`](Server::bind), with [`ListenOptions`].
    ///
    /// # Errors
    ///
    /// As [`bind`](Server::bind).
    pub fn bind_with(
        runtime: &RuntimeHandle,
        addr: SocketAddr,
        options: ListenOptions,
    ) -> io::Result<Server> {
        // Without SO_REUSEPORT (Windows) one socket listens and core 0 spreads what it accepts.
        let single = options.single_acceptor || options.exclusive || !create::HAS_REUSEPORT;
        let n = if single { 1 } else { runtime.cores() };
        let fds = create::bind_listeners(
            addr,
            n,
            !options.exclusive,
            options.backlog,
            options.ipv6_only,
        )?;
        let bound = socket2::SockRef::from(&fds[0])
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("bound address is not IP"))?;
        let per_core = fds
            .into_iter()
            .map(|fd| PerCore::Unclaimed(Arc::new(ListenSock::from(fd))))
            .collect();
        Self::new(runtime, ListenAddr::Tcp(bound), per_core, single, false)
    }

    /// Listens on a Unix domain socket at `path` on every core. A path whose first byte is
    /// NUL is a Linux abstract name (no file is created).
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` if the path exists, `EINVAL` if it is longer than the platform allows
    /// (107 bytes on Linux; never silently truncated), `EACCES`/`ENOENT` for the directory.
    ///
    /// # Platform behaviour
    ///
    /// On Windows, `\\.\pipe\NAME` and `\\?\pipe\NAME` are named pipes (`EADDRINUSE` when
    /// the name is taken), served by core 0: a pipe instance is tied to the completion port
    /// of the core that creates it. Other paths would be AF_UNIX sockets, which the compat
    /// backend does not support there.
    pub fn bind_unix(runtime: &RuntimeHandle, path: impl AsRef<Path>) -> io::Result<Server> {
        Self::bind_unix_with(runtime, path, ListenOptions::default())
    }

    /// As [`bind_unix`](Server::bind_unix), with [`ListenOptions`].
    ///
    /// # Errors
    ///
    /// As [`bind_unix`](Server::bind_unix).
    pub fn bind_unix_with(
        runtime: &RuntimeHandle,
        path: impl AsRef<Path>,
        options: ListenOptions,
    ) -> io::Result<Server> {
        let path = path.as_ref();
        let (fd, first_core_only) = create::bind_ipc(path, options.backlog)?;
        let fd = Arc::new(fd);
        if first_core_only {
            // A Windows named pipe: its instances are tied to the completion port of the
            // core that creates them, so core 0 serves them all.
            let per_core = (0..runtime.cores())
                .map(|i| match i {
                    0 => PerCore::Unclaimed(fd.clone()),
                    _ => PerCore::Closed,
                })
                .collect();
            return Self::new(
                runtime,
                ListenAddr::Unix(path.to_owned()),
                per_core,
                false,
                true,
            );
        }
        let n = if options.single_acceptor {
            1
        } else {
            runtime.cores()
        };
        let per_core = (0..n).map(|_| PerCore::Unclaimed(fd.clone())).collect();
        Self::new(
            runtime,
            ListenAddr::Unix(path.to_owned()),
            per_core,
            options.single_acceptor,
            true,
        )
    }

    /// Serves `listener`, a listening TCP or Unix stream socket made elsewhere (by `std`, a
    /// parent process, systemd's socket activation), on every core: Node's
    /// `server.listen(handle)` and `listen({ fd })`. The server owns it from now on: `close`
    /// closes it. It is made nonblocking; its backlog and options stay as they are.
    ///
    /// One core accepts on it and hands the connections to every core in turn (the
    /// [`single_acceptor`](ListenOptions::single_acceptor) mode): one socket has one accept
    /// queue, and cores all waiting on it would all be woken for each connection, with the
    /// spread left to which wakes first; round-robin from one acceptor spreads evenly, and
    /// works on every backend (a Windows socket can join one completion port only). The cost
    /// is one cross-core hand-off per connection, as with
    /// [`exclusive`](ListenOptions::exclusive).
    ///
    /// A Unix socket's file is left in place at close (it is not the server's to remove).
    ///
    /// # Errors
    ///
    /// `ENOTSOCK` for a descriptor that is no socket; `EINVAL` for a socket that is not a
    /// listening stream socket (connected, merely bound, or a datagram socket: call
    /// `listen` first); `EAFNOSUPPORT` for another family (and for Unix sockets on Windows);
    /// an error when core 0, which accepts, has stopped. The socket is closed on error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corenet_engine::{Runtime, Server};
    ///
    /// let rt = Runtime::new()?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let server = Server::from_std(&rt.handle(), listener)?;
    /// server.serve(|socket| async move {
    ///     while let Ok(Some(chunk)) = socket.read().await {
    ///         if socket.write_owned(chunk).await.is_err() {
    ///             break;
    ///         }
    ///     }
    /// });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Platform behaviour
    ///
    /// Unix: a `std::net::TcpListener`, `std::os::unix::net::UnixListener` or `OwnedFd`.
    /// Windows: a `TcpListener` or `OwnedSocket` (AF_UNIX sockets are refused).
    #[doc(alias = "adopt")]
    pub fn from_std(runtime: &RuntimeHandle, listener: impl Into<OwnedSock>) -> io::Result<Server> {
        let listener = listener.into();
        let addr = match super::adopt::listener(&listener)? {
            super::adopt::Bound::Tcp(a) => ListenAddr::Tcp(a),
            super::adopt::Bound::Unix(p) => ListenAddr::Unix(p),
        };
        let per_core = vec![PerCore::Unclaimed(Arc::new(ListenSock::from(listener)))];
        Self::new(runtime, addr, per_core, true, false)
    }

    fn new(
        runtime: &RuntimeHandle,
        addr: ListenAddr,
        per_core: Vec<PerCore>,
        single: bool,
        unlink: bool,
    ) -> io::Result<Server> {
        let per_core: Vec<Mutex<PerCore>> = per_core.into_iter().map(Mutex::new).collect();
        tracing::info!(
            addr = ?addr,
            cores = per_core.len(),
            single_acceptor = single,
            "listening"
        );
        if !single {
            let inner = Inner {
                addr,
                runtime: runtime.clone(),
                per_core,
                handoff: None,
                closed: AtomicBool::new(false),
                on_close: event_listener::Event::new(),
                unlink,
            };
            let inner = Arc::new(inner);
            runtime.register_server(Arc::downgrade(&inner) as Weak<dyn Closable>);
            return Ok(Server { inner });
        }
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..runtime.cores())
            .map(|_| async_channel::unbounded())
            .unzip();
        let inner = Arc::new(Inner {
            addr,
            runtime: runtime.clone(),
            per_core,
            handoff: Some(receivers),
            closed: AtomicBool::new(false),
            on_close: event_listener::Event::new(),
            unlink,
        });
        runtime.register_server(Arc::downgrade(&inner) as Weak<dyn Closable>);
        // Core 0 registers the listener now and runs the acceptor. The acceptor holds the
        // registration and the senders, not the server: dropping the last `Server` closes the
        // listener, which ends the acceptor.
        let (slot, id) = match context::try_current() {
            // On core 0 itself: a blocking join would wait for ourselves.
            Some(ctx) if ctx.id == 0 && runtime.owns(&ctx.remote) => inner.claim(&ctx)?,
            _ => {
                let server = inner.clone();
                runtime
                    .spawn_on(0, move || async move { server.claim(&context::current()) })
                    .join()
                    .map_err(|e| {
                        io::Error::other(format!("core 0 could not start the acceptor: {e}"))
                    })??
            }
        };
        runtime
            .spawn_on(0, move || async move {
                let ctx = context::current();
                let mut next = 0;
                let mut failing = false;
                loop {
                    match poll_fn(|cx| ctx.reactor.borrow_mut().poll_accept(slot, id, cx)).await {
                        Ok(fd) => {
                            failing = false;
                            // SAFETY: a freshly accepted descriptor that nobody else owns.
                            let fd = unsafe { os::owned(fd) };
                            // A closed channel (server gone) drops, and so closes, the socket.
                            let _ = senders[next].try_send(fd);
                            next = (next + 1) % senders.len();
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                        Err(e) => after_accept_error(&e, &mut failing).await,
                    }
                }
            })
            .detach();
        Ok(Server { inner })
    }

    /// The bound TCP address (with the port resolved).
    ///
    /// # Panics
    ///
    /// For a Unix-socket server (see [`unix_path`](Server::unix_path)).
    pub fn local_addr(&self) -> SocketAddr {
        match &self.inner.addr {
            ListenAddr::Tcp(a) => *a,
            ListenAddr::Unix(p) => panic!("local_addr() of a Unix-socket server ({})", p.display()),
        }
    }

    /// The socket path of a Unix-socket server.
    pub fn unix_path(&self) -> Option<&Path> {
        match &self.inner.addr {
            ListenAddr::Tcp(_) => None,
            ListenAddr::Unix(p) => Some(p),
        }
    }

    /// Accepts the next connection that reached the current core.
    ///
    /// # Errors
    ///
    /// The accept error (e.g. `EMFILE` when out of descriptors; later calls may succeed), or
    /// `NotConnected` once the server is closed. After `EMFILE` or `ENFILE`, wait a little
    /// before calling again: the connection stays queued, so an immediate retry fails the
    /// same way and spins the core ([`serve`](Server::serve) waits 10 ms).
    ///
    /// # Panics
    ///
    /// When called from a thread that is not a core of this server's runtime.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: connections accepted meanwhile wait for the next call.
    pub async fn accept(&self) -> io::Result<Socket> {
        let ctx = context::current();
        assert!(
            self.inner.runtime.owns(&ctx.remote),
            "Server::accept called on a core of another runtime"
        );
        let fd = match &self.inner.handoff {
            Some(handoff) => os::into_raw(
                handoff[ctx.id]
                    .recv()
                    .await
                    .map_err(|_| listener_closed())?,
            ),
            None => {
                let (slot, id) = self.inner.claim(&ctx)?;
                poll_fn(|cx| ctx.reactor.borrow_mut().poll_accept(slot, id, cx)).await?
            }
        };
        let transport = match self.inner.addr {
            ListenAddr::Tcp(_) => Transport::Tcp,
            ListenAddr::Unix(_) => Transport::Unix,
        };
        let conn = ctx.reactor.borrow_mut().add_conn(fd, transport);
        Ok(Socket::new(ctx, conn))
    }

    /// Runs an accept loop on every core, spawning `handler(socket)` as a task on the core
    /// for each connection. Transient accept errors are logged and the loop goes on; it ends
    /// when the server closes. Out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`), it waits 10 ms before the next accept instead of spinning.
    pub fn serve<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let handler = Arc::new(handler);
        for core in 0..self.inner.runtime.cores() {
            let server = self.clone();
            let handler = handler.clone();
            self.inner
                .runtime
                .spawn_on(core, move || async move {
                    // Set while accepts keep failing: one log line per run of failures.
                    let mut failing = false;
                    loop {
                        match server.accept().await {
                            Ok(socket) => {
                                failing = false;
                                crate::spawn_local(handler(socket)).detach();
                            }
                            Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                            Err(e) => after_accept_error(&e, &mut failing).await,
                        }
                    }
                })
                .detach();
        }
    }

    /// Stops accepting on every core now. Connections already accepted are not affected.
    /// A Unix socket file is unlinked. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether [`close`](Server::close) was called (or the runtime stopped accepting).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// Resolves once the server is closed: by [`close`](Server::close), or by the runtime's
    /// graceful shutdown (a signal with `shutdown_on_signals`). Connection handlers await it
    /// to end their connections early, e.g. hyper's `graceful_shutdown` for idle keep-alive
    /// connections, which would otherwise hold a shutdown for its whole grace period. Any
    /// thread, any core.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn handler(server: corenet_engine::Server) {
    /// server.closed().await;
    /// println!("no longer accepting");
    /// # }
    /// ```
    pub async fn closed(&self) {
        loop {
            if self.is_closed() {
                return;
            }
            let listener = self.inner.on_close.listen();
            // Closed between the check and the listen: the notification may be gone.
            if self.is_closed() {
                return;
            }
            listener.await;
        }
    }
}

/// How long [`Server::serve`] waits after an accept failed for want of descriptors or
/// memory: the pending connection stays queued and the listener readable, so retrying at once
/// would spin the core (libuv's accept loop likewise stops until a descriptor frees up).
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(10);

/// What an accept loop does after an accept error: logs the first of a run of failures
/// (`failing` remembers the run; a success ends it), and out of resources waits
/// [`ACCEPT_BACKOFF`] instead of retrying at once.
async fn after_accept_error(e: &io::Error, failing: &mut bool) {
    if !*failing {
        tracing::warn!("accept: {e} (retrying)");
    }
    *failing = true;
    if out_of_resources(e) {
        crate::sleep(ACCEPT_BACKOFF).await;
    }
}

/// Accept errors that retrying at once cannot fix: out of descriptors or kernel memory
/// (accept(2): EMFILE, ENFILE, ENOBUFS, ENOMEM).
fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl Inner {
    /// This core's listener registration, made on first use.
    fn claim(&self, ctx: &CoreCtx) -> io::Result<(usize, u64)> {
        let mut per_core = self.per_core[ctx.id]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match &*per_core {
            PerCore::Registered { slot, id } => Ok((*slot, *id)),
            PerCore::Closed => Err(listener_closed()),
            PerCore::Unclaimed(fd) => match ctx.reactor.borrow_mut().add_listener(fd.clone()) {
                Ok((slot, id)) => {
                    *per_core = PerCore::Registered { slot, id };
                    Ok((slot, id))
                }
                Err(e) => {
                    // The core is draining: this listener will never be served, so close it
                    // now rather than let the kernel queue connections on it.
                    *per_core = PerCore::Closed;
                    Err(e)
                }
            },
        }
    }

    fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::info!(addr = ?self.addr, "server closed");
        self.on_close.notify(usize::MAX);
        for (core, per_core) in self.per_core.iter().enumerate() {
            let mut per_core = per_core.lock().unwrap_or_else(|e| e.into_inner());
            if let PerCore::Registered { slot, id } =
                std::mem::replace(&mut *per_core, PerCore::Closed)
            {
                // The core's reactor holds the socket while its accept may be in flight: ask it
                // to cancel the accept and let go.
                let job = move || {
                    if let Some(ctx) = context::try_current() {
                        ctx.reactor.borrow_mut().release_listener(slot, id);
                    }
                };
                // A core already gone has released its listeners itself.
                let _ = self.runtime.remote(core).send(Message::Job(Box::new(job)));
            }
        }
        if let Some(handoff) = &self.handoff {
            for rx in handoff {
                rx.close();
                // Sockets handed over but never accepted close as they drop.
                while rx.try_recv().is_ok() {}
            }
        }
        if let ListenAddr::Unix(path) = &self.addr {
            if self.unlink && !create::is_abstract(path) && !create::is_pipe_path(path) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl Closable for Inner {
    fn close(&self) {
        Inner::close(self);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.inner.addr)
            .finish()
    }
}
