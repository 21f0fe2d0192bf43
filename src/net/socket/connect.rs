//! Client sockets: `net::connect` / `net::create_connection`.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use corenet_engine as engine;

use super::Socket;
use crate::Error;
use crate::net::Port;

/// What `'lookup'` reports: the host name, and the address it resolved to or the error.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// The lookup error (`ENOTFOUND`, ...), if it failed.
    pub error: Option<Error>,
    /// The address chosen.
    pub address: Option<IpAddr>,
    /// 4 or 6.
    pub family: Option<u8>,
    /// The name looked up.
    pub host: String,
}

/// Where and how to connect (Node's `net.connect(options)`).
///
/// # Examples
///
/// ```
/// use corenet::net::ConnectArgs;
///
/// let a: ConnectArgs = 8080.into(); // connect(8080): localhost
/// let b: ConnectArgs = (8080, "127.0.0.1").into(); // connect(8080, '127.0.0.1')
/// let c = ConnectArgs::path("/tmp/app.sock"); // connect('/tmp/app.sock')
/// let d = ConnectArgs::port(80).host("example.invalid").allow_half_open(true);
/// # let _ = (a, b, c, d);
/// ```
#[non_exhaustive]
pub struct ConnectArgs {
    target: Target,
    /// Keep our side open when the peer half-closes (default false).
    pub allow_half_open: bool,
    /// `createConnection`'s `timeout`: `set_timeout` before connecting.
    pub timeout: Option<Duration>,
    onread: Option<OnRead>,
}

/// Node's `onread`: a buffer of the caller's, refilled on every read, and the callback that
/// sees it (returning false pauses the socket, as in Node).
pub(super) struct OnRead {
    pub(super) buffer: Vec<u8>,
    pub(super) callback: OnReadCallback,
}

type OnReadCallback = Box<dyn FnMut(&Socket, &mut [u8]) -> bool>;

impl std::fmt::Debug for ConnectArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectArgs")
            .field("target", &self.target)
            .field("allow_half_open", &self.allow_half_open)
            .field("timeout", &self.timeout)
            .field("onread", &self.onread.as_ref().map(|o| o.buffer.len()))
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Tcp { port: Port, host: String },
    Path(PathBuf),
}

impl ConnectArgs {
    /// A TCP port on `localhost` (Node's default host) unless [`host`](Self::host) says.
    pub fn port(port: impl Into<Port>) -> Self {
        ConnectArgs {
            target: Target::Tcp {
                port: port.into(),
                host: "localhost".into(),
            },
            allow_half_open: false,
            timeout: None,
            onread: None,
        }
    }

    /// A Unix socket path (leading NUL byte: Linux abstract name).
    pub fn path(path: impl AsRef<Path>) -> Self {
        ConnectArgs {
            target: Target::Path(path.as_ref().to_owned()),
            allow_half_open: false,
            timeout: None,
            onread: None,
        }
    }

    /// The host: an IP address (connects at once) or a name (looked up first, off the core;
    /// `'lookup'` reports it).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        if let Target::Tcp { host: h, .. } = &mut self.target {
            *h = host.into();
        }
        self
    }

    /// With `allowHalfOpen`.
    pub fn allow_half_open(mut self, on: bool) -> Self {
        self.allow_half_open = on;
        self
    }

    /// Node's `onread`: instead of `'data'`, each read is copied into a buffer of
    /// `buffer_len` bytes (reused for every read) and `callback` sees the filled part;
    /// returning false pauses the socket until `resume()`. With io_uring's buffer ring this
    /// costs one copy per read, which `'data'` (a view of the ring buffer) does not.
    pub fn onread(
        mut self,
        buffer_len: usize,
        callback: impl FnMut(&Socket, &mut [u8]) -> bool + 'static,
    ) -> Self {
        self.onread = Some(OnRead {
            buffer: vec![0; buffer_len.max(1)],
            callback: Box::new(callback),
        });
        self
    }

    /// With an idle timeout (`'timeout'` events), set before connecting.
    pub fn timeout(mut self, idle: Duration) -> Self {
        self.timeout = Some(idle);
        self
    }
}

impl From<u16> for ConnectArgs {
    fn from(port: u16) -> Self {
        ConnectArgs::port(port)
    }
}

impl From<(u16, &str)> for ConnectArgs {
    fn from((port, host): (u16, &str)) -> Self {
        ConnectArgs::port(port).host(host)
    }
}

impl From<&Path> for ConnectArgs {
    fn from(path: &Path) -> Self {
        ConnectArgs::path(path)
    }
}

/// Opens a client socket on the current core (Node's `net.connect`). Register listeners on
/// the returned socket right away: `'lookup'`, `'connect'` and `'ready'` (or `'error'` and
/// `'close'`) come later in the turn or after. Writes made before `'connect'` are sent on
/// connect.
///
/// # Panics
///
/// When called from a thread that is not a corenet core.
///
/// # Examples
///
/// ```no_run
/// # fn f(rt: &corenet::Runtime) {
/// rt.block_on(0, || async {
///     let socket = corenet::net::connect((7000, "127.0.0.1"));
///     socket.on_connect(|s| {
///         s.write(b"hello");
///     });
///     socket.on_data(|s, data| {
///         println!("{} bytes", data.len());
///         s.end(None);
///     });
/// });
/// # }
/// ```
pub fn connect(args: impl Into<ConnectArgs>) -> Socket {
    let mut args = args.into();
    let socket = Socket::with_inner(None, None, args.allow_half_open, false);
    *socket.inner.onread.borrow_mut() = args.onread.take();
    if let Some(idle) = args.timeout {
        socket.set_timeout(idle);
    }
    let task = socket.clone();
    corenet_engine::spawn_local(async move { task.run_connect(args.target).await }).detach();
    socket
}

/// Node's alias of [`connect`].
pub fn create_connection(args: impl Into<ConnectArgs>) -> Socket {
    connect(args)
}

impl Socket {
    async fn run_connect(&self, target: Target) {
        let result = match target {
            Target::Path(path) => engine::Socket::connect_unix(&path)
                .await
                .map_err(|e| Error::from_io(e, "connect").with_path(&path)),
            Target::Tcp { port, host } => self.connect_tcp(port.get(), host).await,
        };
        {
            let mut st = self.inner.state.borrow_mut();
            st.connecting = false;
            if st.destroyed {
                // Destroyed while connecting: drop the connection, report 'close'.
                drop(st);
                drop(result);
                self.start_driver();
                return;
            }
        }
        match result {
            Ok(io) => {
                let pending = {
                    let mut st = self.inner.state.borrow_mut();
                    st.remote = io.peer_addr().ok();
                    st.local = io.local_addr().ok();
                    st.last_activity = std::time::Instant::now();
                    std::mem::take(&mut st.pending)
                };
                let ending = self.inner.state.borrow().ending;
                let queued = if pending.is_empty() {
                    Ok(())
                } else {
                    io.enqueue(&pending)
                };
                if ending {
                    let _ = io.shutdown_later();
                }
                *self.inner.io.borrow_mut() = Some(io);
                if let Err(e) = queued {
                    self.destroy(Some(Error::from_io(e, "write")));
                } else {
                    self.inner.events.connect.emit(self, &());
                    self.inner.events.ready.emit(self, &());
                }
            }
            Err(e) => self.destroy(Some(e)),
        }
        self.start_driver();
    }

    async fn connect_tcp(&self, port: u16, host: String) -> Result<engine::Socket, Error> {
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                let name = host.clone();
                let found = blocking::unblock(move || {
                    (name.as_str(), port)
                        .to_socket_addrs()
                        .map(|mut a| a.next())
                })
                .await;
                let lookup = match found {
                    Ok(Some(addr)) => Ok(addr.ip()),
                    _ => Err(Error::lookup(&host)),
                };
                let event = Lookup {
                    error: lookup.as_ref().err().cloned(),
                    address: lookup.as_ref().ok().copied(),
                    family: lookup
                        .as_ref()
                        .ok()
                        .map(|ip| if ip.is_ipv4() { 4 } else { 6 }),
                    host: host.clone(),
                };
                self.inner.events.lookup.emit(self, &event);
                lookup?
            }
        };
        let addr = SocketAddr::new(ip, port);
        engine::Socket::connect(addr).await.map_err(|e| {
            Error::from_io(e, "connect")
                .with_address(ip.to_string())
                .with_port(port)
        })
    }
}
