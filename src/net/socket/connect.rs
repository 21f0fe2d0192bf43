//! Client sockets: `net::connect` / `net::create_connection`.

use std::future::{Future, poll_fn};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use corenet_engine as engine;

use super::{Socket, SocketOptions};
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
/// The setters that Node validates synchronously ([`local_address`](Self::local_address),
/// [`family`](Self::family)) return the error instead of throwing.
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
/// let e = ConnectArgs::port(80)
///     .host("127.0.0.1")
///     .local_address("127.0.0.2")?
///     .local_port(0);
/// assert_eq!(
///     ConnectArgs::port(80).local_address("foobar").unwrap_err().code(),
///     "ERR_INVALID_IP_ADDRESS"
/// );
/// # let _ = (a, b, c, d, e);
/// # Ok::<(), corenet::Error>(())
/// ```
#[non_exhaustive]
pub struct ConnectArgs {
    target: Target,
    /// Keep our side open when the peer half-closes (default false). Read by
    /// [`connect`] (it creates the socket); [`Socket::connect`] keeps the socket's own.
    pub allow_half_open: bool,
    /// `createConnection`'s `timeout`: `set_timeout` before connecting.
    pub timeout: Option<Duration>,
    onread: Option<OnRead>,
    local_address: Option<IpAddr>,
    local_port: Option<u16>,
    family: u8,
    lookup: Option<LookupFn>,
}

/// Node's `onread`: a buffer of the caller's, refilled on every read, and the callback that
/// sees it (returning false pauses the socket, as in Node).
pub(super) struct OnRead {
    pub(super) buffer: Vec<u8>,
    pub(super) callback: OnReadCallback,
}

type OnReadCallback = Box<dyn FnMut(&Socket, &mut [u8]) -> bool>;

/// A custom `lookup`: the host name and the wanted family (0, 4 or 6) to one address.
type LookupFn = Box<dyn FnMut(&str, u8) -> Result<IpAddr, Error>>;

impl std::fmt::Debug for ConnectArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectArgs")
            .field("target", &self.target)
            .field("allow_half_open", &self.allow_half_open)
            .field("timeout", &self.timeout)
            .field("onread", &self.onread.as_ref().map(|o| o.buffer.len()))
            .field("local_address", &self.local_address)
            .field("local_port", &self.local_port)
            .field("family", &self.family)
            .field("lookup", &self.lookup.is_some())
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Tcp { port: Port, host: String },
    Path(PathBuf),
}

/// The TCP options that shape one connect attempt.
struct TcpOptions {
    local_address: Option<IpAddr>,
    local_port: Option<u16>,
    family: u8,
    lookup: Option<LookupFn>,
}

impl ConnectArgs {
    fn with_target(target: Target) -> Self {
        ConnectArgs {
            target,
            allow_half_open: false,
            timeout: None,
            onread: None,
            local_address: None,
            local_port: None,
            family: 0,
            lookup: None,
        }
    }

    /// A TCP port on `localhost` (Node's default host) unless [`host`](Self::host) says.
    pub fn port(port: impl Into<Port>) -> Self {
        ConnectArgs::with_target(Target::Tcp {
            port: port.into(),
            host: "localhost".into(),
        })
    }

    /// A Unix socket path (leading NUL byte: Linux abstract name).
    pub fn path(path: impl AsRef<Path>) -> Self {
        ConnectArgs::with_target(Target::Path(path.as_ref().to_owned()))
    }

    /// The host: an IP address (connects at once) or a name (looked up first, off the core;
    /// `'lookup'` reports it). Empty means `localhost`, as in Node.
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

    /// Node's `localAddress`: the source address, bound before connecting (a bind failure
    /// is an `'error'` with syscall `bind`).
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_IP_ADDRESS` when `address` is not an IP address.
    pub fn local_address(mut self, address: &str) -> Result<Self, Error> {
        let ip = address
            .parse::<IpAddr>()
            .map_err(|_| Error::invalid_ip_address(address))?;
        self.local_address = Some(ip);
        Ok(self)
    }

    /// Node's `localPort`: the source port, bound before connecting (with
    /// [`local_address`](Self::local_address), or the wildcard address of the target's
    /// family).
    pub fn local_port(mut self, port: u16) -> Self {
        self.local_port = Some(port);
        self
    }

    /// Node's `family`: which addresses a host name may resolve to: 4, 6, or 0 (either).
    ///
    /// # Errors
    ///
    /// `ERR_INVALID_ARG_VALUE` for any other number.
    pub fn family(mut self, family: u8) -> Result<Self, Error> {
        if ![0, 4, 6].contains(&family) {
            return Err(Error::invalid_arg_value(
                "options.family",
                &family.to_string(),
                "must be one of: 0, 4, 6",
            ));
        }
        self.family = family;
        Ok(self)
    }

    /// Node's `lookup`: resolves host names instead of the system resolver. It runs on the
    /// socket's core, so it must not block; it gets the name and the wanted
    /// [`family`](Self::family) and answers one address (or the error to report, such as
    /// [`Error::lookup`]).
    pub fn lookup(
        mut self,
        lookup: impl FnMut(&str, u8) -> Result<IpAddr, Error> + 'static,
    ) -> Self {
        self.lookup = Some(Box::new(lookup));
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

/// Opens a client socket on the current core (Node's `net.connect`: `new Socket(options)`
/// then [`Socket::connect`]). Register listeners on the returned socket right away:
/// `'lookup'`, `'connect'` and `'ready'` (or `'error'` and `'close'`) come later in the turn
/// or after. Writes made before `'connect'` are sent on connect.
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
    let args = args.into();
    let socket = Socket::new(SocketOptions::default().allow_half_open(args.allow_half_open));
    socket.connect(args);
    socket
}

/// Node's alias of [`connect`].
pub fn create_connection(args: impl Into<ConnectArgs>) -> Socket {
    connect(args)
}

impl Socket {
    /// Node's `socket.connect(...)`: opens a connection on a new socket, or a new one on a
    /// socket after its `'close'` (called from a `'close'` listener, the listeners stay;
    /// byte counts start over). `args.allow_half_open` is ignored: the socket keeps the
    /// one it was created with.
    ///
    /// On a socket that is connecting or connected the call fails like Node's: the socket
    /// is destroyed with `EALREADY` or `EISCONN` (`'error'`, then `'close'`).
    ///
    /// # Panics
    ///
    /// When called from a thread that is not a corenet core.
    pub fn connect(&self, args: impl Into<ConnectArgs>) -> &Socket {
        let mut args = args.into();
        let busy = {
            let st = self.inner.state.borrow();
            if st.connecting {
                Some(libc::EALREADY)
            } else if self.inner.io.borrow().is_some() && !st.destroyed {
                Some(libc::EISCONN)
            } else {
                None
            }
        };
        if let Some(errno) = busy {
            let err = std::io::Error::from_raw_os_error(errno);
            self.destroy(Some(Error::from_io(err, "connect")));
            return self;
        }
        let generation = self.inner.state.borrow_mut().restart();
        if let Some(onread) = args.onread.take() {
            *self.inner.onread.borrow_mut() = Some(onread);
        }
        if let Some(idle) = args.timeout {
            self.set_timeout(idle);
        }
        let options = TcpOptions {
            local_address: args.local_address,
            local_port: args.local_port,
            family: args.family,
            lookup: args.lookup,
        };
        let task = self.clone();
        corenet_engine::spawn_local(async move {
            task.run_connect(args.target, options, generation).await
        })
        .detach();
        self
    }

    async fn run_connect(&self, target: Target, options: TcpOptions, generation: u64) {
        let attempt = async {
            match target {
                Target::Path(path) => engine::Socket::connect_unix(&path)
                    .await
                    .map_err(|e| Error::from_io(e, "connect").with_path(&path)),
                Target::Tcp { port, host } => self.connect_tcp(port.get(), host, options).await,
            }
        };
        let Some(result) = self.while_connecting(attempt, generation).await else {
            // Destroyed or reconnected: the attempt (lookup or connect) was dropped, which
            // cancels it and closes its socket.
            return;
        };
        {
            let mut st = self.inner.state.borrow_mut();
            if st.generation != generation || st.destroyed {
                // Destroyed (its 'close' is on its way) or reconnected while connecting:
                // this attempt's connection, if any, is dropped.
                return;
            }
            st.connecting = false;
        }
        let io = match result {
            Ok(io) => io,
            Err(e) => {
                self.destroy(Some(e));
                return;
            }
        };
        let (ending, corked) = {
            let mut st = self.inner.state.borrow_mut();
            st.remote = io.peer_addr().ok();
            st.local = io.local_addr().ok();
            (st.ending, st.corked > 0)
        };
        // Connecting is activity: the idle timer starts over (and re-arms after a 'timeout'
        // while connecting).
        self.touch();
        self.apply_options(&io);
        *self.inner.io.borrow_mut() = Some(io);
        self.start_task();
        if !corked {
            self.flush_pending();
        }
        if ending {
            if let Some(io) = self.inner.io.borrow().as_ref() {
                let _ = io.shutdown_later();
            }
        }
        if !self.inner.state.borrow().destroyed {
            self.inner.events.connect.emit(self, &());
            self.inner.events.ready.emit(self, &());
        }
    }

    /// Runs a connect `attempt` (lookup and connect) while emitting `'timeout'` when the
    /// socket stays idle for its `set_timeout`, as Node does for a connecting socket. `None`
    /// when the socket is destroyed or reconnected first: the attempt is dropped then.
    async fn while_connecting<T>(
        &self,
        attempt: impl Future<Output = T>,
        generation: u64,
    ) -> Option<T> {
        let mut attempt = pin!(attempt);
        poll_fn(|cx| {
            loop {
                {
                    let st = self.inner.state.borrow();
                    if st.generation != generation || st.destroyed {
                        return Poll::Ready(None);
                    }
                }
                // Until the socket task starts, `set_timeout` and `destroy` wake this task.
                self.inner.task_waker.set(Some(cx.waker().clone()));
                if let Poll::Ready(result) = attempt.as_mut().poll(cx) {
                    // The socket task (started by the caller) registers its own waker. (Only
                    // here: after a reconnect the slot holds the newer attempt's waker.)
                    drop(self.inner.task_waker.take());
                    return Poll::Ready(Some(result));
                }
                // After the attempt: a lookup that finished is activity, which moves the
                // deadline this arms.
                if !self.poll_timeout(cx) {
                    return Poll::Pending;
                }
                self.inner.events.timeout.emit(self, &());
            }
        })
        .await
    }

    async fn connect_tcp(
        &self,
        port: u16,
        host: String,
        mut options: TcpOptions,
    ) -> Result<engine::Socket, Error> {
        // Node: `host || 'localhost'`.
        let host = if host.is_empty() {
            "localhost".to_string()
        } else {
            host
        };
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                let lookup = self.resolve(&host, &mut options).await;
                let event = Lookup {
                    error: lookup.as_ref().err().cloned(),
                    address: lookup.as_ref().ok().copied(),
                    family: lookup
                        .as_ref()
                        .ok()
                        .map(|ip| if ip.is_ipv4() { 4 } else { 6 }),
                    host: host.clone(),
                };
                // Destroyed while looking up: Node ignores the result.
                if !self.inner.state.borrow().destroyed {
                    self.inner.events.lookup.emit(self, &event);
                }
                let ip = lookup?;
                // Node: a successful lookup restarts the idle timer.
                self.touch();
                ip
            }
        };
        let addr = SocketAddr::new(ip, port);
        let connect_error = |e| {
            Error::from_io(e, "connect")
                .with_address(ip.to_string())
                .with_port(port)
        };
        if options.local_address.is_none() && options.local_port.is_none() {
            return engine::Socket::connect(addr).await.map_err(connect_error);
        }
        let local_ip = options.local_address.unwrap_or(match ip {
            IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        });
        let local = SocketAddr::new(local_ip, options.local_port.unwrap_or(0));
        let connector = engine::TcpConnector::bind(local).map_err(|e| {
            Error::from_io(e, "bind")
                .with_address(local_ip.to_string())
                .with_port(local.port())
        })?;
        let bound = connector.local_addr().unwrap_or(local);
        connector
            .connect(addr)
            .await
            .map_err(|e| connect_error(e).with_local(bound.ip().to_string(), bound.port()))
    }

    /// The host name to one address: the custom lookup, or the system resolver off the
    /// core ([`resolve::lookup`]: IPv4 first unless a family is asked for).
    async fn resolve(&self, host: &str, options: &mut TcpOptions) -> Result<IpAddr, Error> {
        let family = options.family;
        if let Some(lookup) = options.lookup.as_mut() {
            return lookup(host, family);
        }
        crate::net::resolve::lookup(host, family).await
    }
}
