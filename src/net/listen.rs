//! The forms of `server.listen(...)`: port, (port, host), path, and the options object.

use std::path::{Path, PathBuf};

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
/// # let _ = (a, b, c, d);
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
