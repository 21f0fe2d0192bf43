//! `Server`: a TCP or Unix-socket listener on every core of a runtime.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::Socket;
use super::sys;
use crate::executor::context;
use crate::executor::remote::Message;
use crate::reactor::listener_closed;
use crate::runtime::RuntimeHandle;

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
    closed: AtomicBool,
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
    Unclaimed(Arc<OwnedFd>),
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
        Self::bind_with_backlog(runtime, addr, sys::DEFAULT_BACKLOG)
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
        let fds = sys::bind_reuseport_group(addr, runtime.cores(), backlog)?;
        let bound = socket2::SockRef::from(&fds[0])
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("bound address is not IP"))?;
        let per_core = fds
            .into_iter()
            .map(|fd| PerCore::Unclaimed(Arc::new(fd)))
            .collect();
        Ok(Self::new(runtime, ListenAddr::Tcp(bound), per_core))
    }

    /// Listens on a Unix domain socket at `path` on every core. A path whose first byte is
    /// NUL is a Linux abstract name (no file is created).
    ///
    /// # Errors
    ///
    /// `EADDRINUSE` if the path exists, `EINVAL` if it is longer than the platform allows
    /// (107 bytes on Linux; never silently truncated), `EACCES`/`ENOENT` for the directory.
    pub fn bind_unix(runtime: &RuntimeHandle, path: impl AsRef<Path>) -> io::Result<Server> {
        let path = path.as_ref();
        let fd = Arc::new(sys::bind_unix(path, sys::DEFAULT_BACKLOG)?);
        let per_core = (0..runtime.cores())
            .map(|_| PerCore::Unclaimed(fd.clone()))
            .collect();
        Ok(Self::new(
            runtime,
            ListenAddr::Unix(path.to_owned()),
            per_core,
        ))
    }

    fn new(runtime: &RuntimeHandle, addr: ListenAddr, per_core: Vec<PerCore>) -> Server {
        Server {
            inner: Arc::new(Inner {
                addr,
                runtime: runtime.clone(),
                per_core: per_core.into_iter().map(Mutex::new).collect(),
                closed: AtomicBool::new(false),
            }),
        }
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
    /// `NotConnected` once the server is closed.
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
        let (slot, id) = {
            let mut per_core = self.inner.per_core[ctx.id]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match &*per_core {
                PerCore::Registered { slot, id } => (*slot, *id),
                PerCore::Closed => return Err(listener_closed()),
                PerCore::Unclaimed(fd) => {
                    let (slot, id) = ctx.reactor.borrow_mut().add_listener(fd.clone())?;
                    *per_core = PerCore::Registered { slot, id };
                    (slot, id)
                }
            }
        };
        let fd = poll_fn(|cx| ctx.reactor.borrow_mut().poll_accept(slot, id, cx)).await?;
        let conn = ctx.reactor.borrow_mut().add_conn(fd);
        Ok(Socket::new(ctx, conn))
    }

    /// Runs an accept loop on every core, spawning `handler(socket)` as a task on the core
    /// for each connection. Transient accept errors are logged and the loop goes on; it ends
    /// when the server closes.
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
                    loop {
                        match server.accept().await {
                            Ok(socket) => crate::spawn_local(handler(socket)).detach(),
                            Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                            Err(e) => tracing::warn!("accept: {e}"),
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
}

impl Inner {
    fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
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
        if let ListenAddr::Unix(path) = &self.addr {
            if !sys::is_abstract(path) {
                let _ = std::fs::remove_file(path);
            }
        }
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
