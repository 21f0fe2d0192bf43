//! The forms of `server.listen(...)`: port, (port, host), path, a handle, and the options
//! object.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use corenet_engine::OwnedSock;

use super::Port;
use crate::Error;

/// What to listen on, with the options object's fields (Node's `server.listen(options)`).
///
/// # Examples
///
/// ```
/// use corenet::net::ListenArgs;
///
/// let a: ListenArgs = 8080.into(); // listen(8080): every interface, dual-stack
/// let b: ListenArgs = (8080, "127.0.0.1").into(); // listen(8080, '127.0.0.1')
/// let c = ListenArgs::path("/tmp/app.sock").readable_all(true); // listen({ path, readableAll })
/// let d = ListenArgs::port(0).host("::1").ipv6_only(true).backlog(128);
/// // listen(handle): a listening socket made elsewhere.
/// let e: ListenArgs = std::net::TcpListener::bind("127.0.0.1:0")?.into();
/// # let _ = (a, b, c, d, e);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenArgs {
    pub(crate) target: Target,
    /// Listen backlog (default 511).
    pub backlog: i32,
    /// Node's `exclusive` (a handle no other process shares): one listening socket without
    /// SO_REUSEPORT, which one core accepts on for every core, so no other socket, of this
    /// process or another, can bind the port while it listens. By default each core has its
    /// own SO_REUSEPORT socket, and another process of the same user may bind the port too
    /// (and take a share of its connections). TCP only.
    pub exclusive: bool,
    /// Accept IPv6 only on `::` (no IPv4-mapped connections).
    pub ipv6_only: bool,
    /// Make a Unix socket file readable by everyone.
    pub readable_all: bool,
    /// Make a Unix socket file writable by everyone.
    pub writable_all: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Tcp {
        port: Option<Port>,
        host: Option<String>,
    },
    Path(PathBuf),
    /// A listening socket to adopt (`listen(handle)`, `listen({ fd })`).
    Handle(Handle),
}

/// A listening socket inside [`ListenArgs`]: clones share it, and the first `listen` takes
/// it (a second finds it gone: `EINVAL`, as listening on a closed handle does in Node).
#[derive(Clone)]
pub(crate) struct Handle(Arc<Mutex<Option<OwnedSock>>>);

impl Handle {
    /// Takes the socket out; `None` if a `listen` took it before.
    pub(crate) fn take(&self) -> Option<OwnedSock> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl PartialEq for Handle {
    fn eq(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Handle {}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sock = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_tuple("Handle").field(&*sock).finish()
    }
}

impl ListenArgs {
    fn with_target(target: Target) -> Self {
        ListenArgs {
            target,
            backlog: 511,
            exclusive: false,
            ipv6_only: false,
            readable_all: false,
            writable_all: false,
        }
    }

    /// A TCP port (0: an ephemeral port), on every interface unless [`host`](Self::host).
    pub fn port(port: impl Into<Port>) -> Self {
        Self::with_target(Target::Tcp {
            port: Some(port.into()),
            host: None,
        })
    }

    /// An ephemeral TCP port (Node's `listen()` with no port).
    pub fn any_port() -> Self {
        Self::with_target(Target::Tcp {
            port: None,
            host: None,
        })
    }

    /// A Unix socket path (a leading NUL byte: a Linux abstract name).
    pub fn path(path: impl AsRef<Path>) -> Self {
        Self::with_target(Target::Path(path.as_ref().to_owned()))
    }

    /// A listening socket made elsewhere: Node's `server.listen(handle)`, and
    /// `listen({ fd })` as `ListenArgs::handle(unsafe { OwnedFd::from_raw_fd(fd) })`. A
    /// `std::net::TcpListener` (or a `UnixListener` on Unix) converts into `ListenArgs` too,
    /// so `server.listen(listener)` works as well.
    ///
    /// The server takes the socket: it accepts on it from one core for every core (see
    /// [`engine::Server::from_std`](corenet_engine::Server::from_std)) and `close()` closes
    /// it. [`backlog`](Self::backlog), [`exclusive`](Self::exclusive) and
    /// [`ipv6_only`](Self::ipv6_only) do not apply: the socket keeps its own. A Unix socket's
    /// file is not unlinked at close (Node leaves a handle's file alone too); `readable_all`
    /// and `writable_all` still change its mode.
    ///
    /// A socket that is not a listening stream socket is the server's `'error'`: `EINVAL`
    /// (connected, only bound, datagram), or `ENOTSOCK` (no socket at all: Node says
    /// `EINVAL` there).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use corenet::net::{self, ListenArgs};
    ///
    /// # fn f(server: &net::Server) -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// server.listen(ListenArgs::handle(listener))?;
    /// # Ok(()) }
    /// ```
    pub fn handle(listener: impl Into<OwnedSock>) -> Self {
        Self::with_target(Target::Handle(Handle(Arc::new(Mutex::new(Some(
            listener.into(),
        ))))))
    }

    /// The host to bind: an IP address, or a name looked up first (a lookup failure is the
    /// server's `'error'`). Ignored for paths.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        if let Target::Tcp { host: h, .. } = &mut self.target {
            *h = Some(host.into());
        }
        self
    }

    /// With this backlog (negative values mean the default, as in Node).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = if backlog >= 0 { backlog } else { 511 };
        self
    }

    /// With `exclusive` (see the field).
    pub fn exclusive(mut self, on: bool) -> Self {
        self.exclusive = on;
        self
    }

    /// With `ipv6Only`.
    pub fn ipv6_only(mut self, on: bool) -> Self {
        self.ipv6_only = on;
        self
    }

    /// With `readableAll`.
    pub fn readable_all(mut self, on: bool) -> Self {
        self.readable_all = on;
        self
    }

    /// With `writableAll`.
    pub fn writable_all(mut self, on: bool) -> Self {
        self.writable_all = on;
        self
    }
}

impl From<u16> for ListenArgs {
    fn from(port: u16) -> Self {
        ListenArgs::port(port)
    }
}

impl From<Port> for ListenArgs {
    fn from(port: Port) -> Self {
        ListenArgs::port(port)
    }
}

impl From<(u16, &str)> for ListenArgs {
    fn from((port, host): (u16, &str)) -> Self {
        ListenArgs::port(port).host(host)
    }
}

impl From<std::net::TcpListener> for ListenArgs {
    fn from(listener: std::net::TcpListener) -> Self {
        ListenArgs::handle(listener)
    }
}

#[cfg(unix)]
impl From<std::os::unix::net::UnixListener> for ListenArgs {
    fn from(listener: std::os::unix::net::UnixListener) -> Self {
        ListenArgs::handle(listener)
    }
}

impl From<&Path> for ListenArgs {
    fn from(path: &Path) -> Self {
        ListenArgs::path(path)
    }
}

impl From<PathBuf> for ListenArgs {
    fn from(path: PathBuf) -> Self {
        ListenArgs::path(path)
    }
}

/// `readableAll`/`writableAll`: chmod the socket file (Node throws if that fails; we return
/// the error from `listen`'s bind step, which becomes the `'error'` event).
pub(crate) fn apply_pipe_mode(path: &Path, args: &ListenArgs) -> Result<(), Error> {
    if !(args.readable_all || args.writable_all)
        || path.as_os_str().as_encoded_bytes().first() == Some(&0)
    {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| Error::from_io(e, "uv_pipe_chmod"))?;
        let mut mode = meta.permissions().mode();
        if args.readable_all {
            mode |= 0o444;
        }
        if args.writable_all {
            mode |= 0o222;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::from_io(e, "uv_pipe_chmod"))?;
    }
    Ok(())
}
