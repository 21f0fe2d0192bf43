//! `Server`: a TCP listener on every core of a runtime.

use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use super::Socket;
use super::sys;
use crate::executor::context;
use crate::executor::remote::Message;
use crate::runtime::RuntimeHandle;

/// A TCP server listening on every core of a runtime.
///
/// Core 0's socket binds first (resolving port 0); each other core gets its own socket on the
/// same port with SO_REUSEPORT, so the kernel spreads new connections over the cores and a
/// connection lives its whole life on the core that accepted it. A second server on a taken
/// port still fails with `EADDRINUSE`.
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
    addr: SocketAddr,
    runtime: RuntimeHandle,
    per_core: Vec<Mutex<PerCore>>,
}

/// One core's listening socket.
enum PerCore {
    /// Bound and listening; no accept on that core yet.
    Unclaimed(OwnedFd),
    /// Registered with the core's reactor (which now owns the fd) under this slot.
    Registered(usize),
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
            .expect("bound an IP address");
        let per_core = fds
            .into_iter()
            .map(|fd| Mutex::new(PerCore::Unclaimed(fd)))
            .collect();
        Ok(Server {
            inner: Arc::new(Inner {
                addr: bound,
                runtime: runtime.clone(),
                per_core,
            }),
        })
    }

    /// The bound address (with the port resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Accepts the next connection that reached the current core.
    ///
    /// # Errors
    ///
    /// The accept error (e.g. `EMFILE` when out of descriptors); later calls may succeed.
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
        let slot = {
            let mut per_core = self.inner.per_core[ctx.id]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match &*per_core {
                PerCore::Registered(slot) => *slot,
                PerCore::Unclaimed(_) => {
                    let PerCore::Unclaimed(fd) =
                        std::mem::replace(&mut *per_core, PerCore::Registered(usize::MAX))
                    else {
                        unreachable!()
                    };
                    let slot = ctx
                        .reactor
                        .borrow_mut()
                        .add_listener(fd.into_raw_fd(), true);
                    *per_core = PerCore::Registered(slot);
                    slot
                }
            }
        };
        let fd = poll_fn(|cx| ctx.reactor.borrow_mut().poll_accept(slot, cx)).await?;
        let conn = ctx.reactor.borrow_mut().add_conn(fd);
        Ok(Socket::new(ctx, conn))
    }

    /// Runs an accept loop on every core, spawning `handler(socket)` as a task on the core
    /// for each connection. Transient accept errors are logged and the loop goes on.
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
                            Err(e) => tracing::warn!("accept: {e}"),
                        }
                    }
                })
                .detach();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for (core, per_core) in self.per_core.iter_mut().enumerate() {
            let per_core = per_core.get_mut().unwrap_or_else(|e| e.into_inner());
            if let PerCore::Registered(slot) = *per_core {
                // The core's reactor owns the fd: ask it to cancel the accept and close.
                let job = move || {
                    if let Some(ctx) = context::try_current() {
                        ctx.reactor.borrow_mut().release_listener(slot);
                    }
                };
                // A core already gone has closed its listeners itself.
                let _ = self.runtime.remote(core).send(Message::Job(Box::new(job)));
            }
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.inner.addr)
            .finish()
    }
}
