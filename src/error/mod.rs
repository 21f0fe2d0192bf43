//! One error type for the Node face: [`Error`] carries Node's `code` (`EADDRINUSE`,
//! `ERR_SERVER_ALREADY_LISTEN`, ...), the OS errno of a system error, the syscall, and the
//! address, port, path or host name where Node has them, and it displays Node's message.
//!
//! Node builds its `net` errors with four helpers, and [`Error`]'s `Display` follows them:
//!
//! | Node helper | used for | message |
//! |---|---|---|
//! | `uvExceptionWithHostPort` | `listen` | `listen EADDRINUSE: address already in use :::8080` |
//! | `exceptionWithHostPort` | `connect`, `bind` | `connect ECONNREFUSED 127.0.0.1:9`, `connect ENOENT /tmp/x` |
//! | `errnoException` | `read`, `write`, `accept`, `shutdown`, ... | `read ECONNRESET`, `write EBADF` |
//! | `dnsException` | `getaddrinfo` | `getaddrinfo ENOTFOUND example.invalid` |
//!
//! Errors with a Node code of their own (`ERR_*`) display their message.

mod node_codes;
#[cfg(test)]
mod tests;
mod uv;

use std::fmt;
use std::io;
use std::path::Path;

use uv::{code_for_kind, sys, uv_description};

/// An error of Node's `net` module: a system error (`code` from the errno, plus syscall and
/// address) or one of Node's own `ERR_*` errors.
///
/// It is one pointer wide, so `Result<T, Error>` stays small, and it is `Clone`: a system
/// error keeps the errno, not the [`io::Error`].
///
/// # Examples
///
/// ```
/// use std::io;
/// use corenet::Error;
///
/// let err = Error::from_io(io::Error::from_raw_os_error(libc::EADDRINUSE), "listen")
///     .with_address("::")
///     .with_port(8080);
/// assert_eq!(err.code(), "EADDRINUSE");
/// assert_eq!(err.syscall(), Some("listen"));
/// assert_eq!(err.to_string(), "listen EADDRINUSE: address already in use :::8080");
///
/// let err = Error::server_already_listen();
/// assert_eq!(err.code(), "ERR_SERVER_ALREADY_LISTEN");
/// assert_eq!(err.errno(), None);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    code: &'static str,
    errno: Option<i32>,
    kind: io::ErrorKind,
    syscall: Option<&'static str>,
    /// `ERR_*` errors: the whole message. System errors: the text that replaces libuv's
    /// description (only for `UNKNOWN`, where it says what actually happened).
    message: Option<Box<str>>,
    address: Option<Box<str>>,
    /// Never `Some(0)`: Node sets `err.port` only for a non-zero port.
    port: Option<u16>,
    local: Option<(Box<str>, u16)>,
    hostname: Option<Box<str>>,
}

impl Error {
    fn new(code: &'static str, kind: io::ErrorKind) -> Error {
        Error(Box::new(Inner {
            code,
            errno: None,
            kind,
            syscall: None,
            message: None,
            address: None,
            port: None,
            local: None,
            hostname: None,
        }))
    }

    /// A Node `ERR_*` error with its message.
    fn node(code: &'static str, kind: io::ErrorKind, message: impl Into<Box<str>>) -> Error {
        let mut err = Error::new(code, kind);
        err.0.message = Some(message.into());
        err
    }

    /// A system error from a failed `syscall`, with Node's code for the errno (`EADDRINUSE`,
    /// `ECONNREFUSED`, ...). Add the address with [`with_address`](Self::with_address) /
    /// [`with_port`](Self::with_port) or [`with_path`](Self::with_path).
    ///
    /// An errno with no libuv name gets the code `UNKNOWN` (the errno is kept). An
    /// [`io::Error`] without an errno (one the engine made, such as a timeout) gets the code
    /// of its [`kind`](io::Error::kind) (`TimedOut` gives `ETIMEDOUT`) and no errno; one
    /// whose kind has no code gets `UNKNOWN` and displays its own text in place of libuv's
    /// "unknown error". An [`io::Error`] that wraps an [`Error`] gives that error back.
    ///
    /// # Platform behaviour
    ///
    /// The errno is [`io::Error::raw_os_error`]: an `errno` value on Unix, a Winsock or Win32
    /// error code on Windows, each mapped to the name libuv gives it on that platform.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use corenet::Error;
    ///
    /// let err = Error::from_io(io::Error::from_raw_os_error(libc::ECONNREFUSED), "connect")
    ///     .with_address("127.0.0.1")
    ///     .with_port(9);
    /// assert_eq!(err.code(), "ECONNREFUSED");
    /// assert_eq!(err.errno(), Some(libc::ECONNREFUSED));
    /// assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    /// assert_eq!(err.to_string(), "connect ECONNREFUSED 127.0.0.1:9");
    /// ```
    pub fn from_io(err: io::Error, syscall: &'static str) -> Error {
        if let Some(inner) = err.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
            return inner.clone();
        }
        let kind = err.kind();
        let mut out = match err.raw_os_error() {
            Some(errno) => {
                let mut out = Error::new(sys::code(errno).unwrap_or("UNKNOWN"), kind);
                out.0.errno = Some(errno);
                if out.0.code == "UNKNOWN" {
                    out.0.message = Some(err.to_string().into());
                }
                out
            }
            None => {
                // The system resolver's failures reach us without an errno.
                let code = if syscall == "getaddrinfo" {
                    "ENOTFOUND"
                } else {
                    code_for_kind(kind)
                };
                let mut out = Error::new(code, kind);
                if out.0.code == "UNKNOWN" {
                    out.0.message = Some(err.to_string().into());
                }
                out
            }
        };
        out.0.syscall = Some(syscall);
        out
    }

    /// A failed host-name lookup: code `ENOTFOUND`, syscall `getaddrinfo`, message
    /// `getaddrinfo ENOTFOUND <host>`. Like Node, it carries [`hostname`](Self::hostname) and
    /// no address or port.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::lookup("something.invalid");
    /// assert_eq!(err.code(), "ENOTFOUND");
    /// assert_eq!(err.syscall(), Some("getaddrinfo"));
    /// assert_eq!(err.hostname(), Some("something.invalid"));
    /// assert_eq!(err.to_string(), "getaddrinfo ENOTFOUND something.invalid");
    /// ```
    pub fn lookup(host: &str) -> Error {
        Error::dns("ENOTFOUND", io::ErrorKind::NotFound, host)
    }

    /// A lookup that failed for now (`EAI_AGAIN`, "temporary failure"): message
    /// `getaddrinfo EAI_AGAIN <host>`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::lookup_again("example.com");
    /// assert_eq!(err.to_string(), "getaddrinfo EAI_AGAIN example.com");
    /// ```
    pub fn lookup_again(host: &str) -> Error {
        Error::dns("EAI_AGAIN", io::ErrorKind::Other, host)
    }

    /// A lookup that failed for good (`EAI_FAIL`, "permanent failure"): message
    /// `getaddrinfo EAI_FAIL <host>`.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::lookup_fail("example.com");
    /// assert_eq!(err.code(), "EAI_FAIL");
    /// ```
    pub fn lookup_fail(host: &str) -> Error {
        Error::dns("EAI_FAIL", io::ErrorKind::Other, host)
    }

    /// A failed lookup with the resolver's own code (`EAI_AGAIN`, `EAI_FAIL`, ...).
    pub(crate) fn lookup_code(code: &'static str, host: &str) -> Error {
        Error::dns(code, io::ErrorKind::Other, host)
    }

    /// Sets the host name a lookup error reports.
    pub(crate) fn with_hostname(mut self, host: &str) -> Error {
        self.0.hostname = Some(host.into());
        self
    }

    fn dns(code: &'static str, kind: io::ErrorKind, host: &str) -> Error {
        let mut err = Error::new(code, kind);
        err.0.syscall = Some("getaddrinfo");
        err.0.hostname = Some(host.into());
        err
    }

    /// Sets the address (an IP, or a path for pipes) Node reports as `err.address`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use corenet::Error;
    ///
    /// let err = Error::from_io(io::Error::from_raw_os_error(libc::EADDRNOTAVAIL), "listen")
    ///     .with_address("1.1.1.1");
    /// assert_eq!(err.address(), Some("1.1.1.1"));
    /// assert_eq!(err.to_string(), "listen EADDRNOTAVAIL: address not available 1.1.1.1");
    /// ```
    #[must_use]
    pub fn with_address(mut self, address: impl Into<String>) -> Error {
        self.0.address = Some(address.into().into_boxed_str());
        self
    }

    /// Sets a pipe's path as the address, as Node does (`connect ENOENT /tmp/x`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use corenet::Error;
    ///
    /// let err = Error::from_io(io::Error::from_raw_os_error(libc::ENOENT), "connect")
    ///     .with_path("/tmp/x");
    /// assert_eq!(err.to_string(), "connect ENOENT /tmp/x");
    /// ```
    #[must_use]
    pub fn with_path(self, path: impl AsRef<Path>) -> Error {
        let address = path.as_ref().to_string_lossy().into_owned();
        self.with_address(address)
    }

    /// Sets the port Node reports as `err.port`. Like Node, port 0 is not recorded (Node sets
    /// `err.port` only when it is non-zero), so [`port`](Self::port) stays `None` and the
    /// message shows the address alone.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use corenet::Error;
    ///
    /// let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
    /// let err = Error::from_io(refused, "connect").with_address("::1").with_port(80);
    /// assert_eq!(err.port(), Some(80));
    /// assert_eq!(err.to_string(), "connect ECONNREFUSED ::1:80");
    /// ```
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Error {
        self.0.port = (port != 0).then_some(port);
        self
    }

    /// Sets the local address a failed connect was bound to (Node's `localAddress` and
    /// `localPort`), shown as `- Local (address:port)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use corenet::Error;
    ///
    /// let err = Error::from_io(io::Error::from_raw_os_error(libc::ECONNREFUSED), "connect")
    ///     .with_address("127.0.0.1")
    ///     .with_port(9)
    ///     .with_local("127.0.0.1", 5000);
    /// assert_eq!(err.to_string(), "connect ECONNREFUSED 127.0.0.1:9 - Local (127.0.0.1:5000)");
    /// ```
    #[must_use]
    pub fn with_local(mut self, address: impl Into<String>, port: u16) -> Error {
        self.0.local = Some((address.into().into_boxed_str(), port));
        self
    }

    /// Node's `err.code`: `"EADDRINUSE"`, `"ECONNREFUSED"`, `"ERR_SERVER_ALREADY_LISTEN"`, ...
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corenet::Error::socket_closed().code(), "ERR_SOCKET_CLOSED");
    /// ```
    pub fn code(&self) -> &'static str {
        self.0.code
    }

    /// The OS error number of a system error, positive (Node's `err.errno` is libuv's
    /// negative number). `None` for `ERR_*` errors, lookups, and system errors the engine
    /// made without an errno.
    ///
    /// # Platform behaviour
    ///
    /// Unix: an `errno` value. Windows: the Winsock or Win32 error code.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use corenet::Error;
    ///
    /// let err = Error::from_io(io::Error::from_raw_os_error(libc::EPIPE), "write");
    /// assert_eq!(err.errno(), Some(libc::EPIPE));
    /// assert_eq!(Error::stream_write_after_end().errno(), None);
    /// ```
    pub fn errno(&self) -> Option<i32> {
        self.0.errno
    }

    /// The failed syscall (`"listen"`, `"connect"`, `"read"`, `"write"`, `"accept"`,
    /// `"bind"`, `"getaddrinfo"`, ...). `None` for `ERR_*` errors.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corenet::Error::lookup("x.invalid").syscall(), Some("getaddrinfo"));
    /// ```
    pub fn syscall(&self) -> Option<&'static str> {
        self.0.syscall
    }

    /// Node's `err.address`: the IP address, or the path of a pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = corenet::Error::lookup("x.invalid");
    /// assert_eq!(err.address(), None); // lookups carry `hostname` instead
    /// ```
    pub fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }

    /// Node's `err.port`: never `Some(0)` (see [`with_port`](Self::with_port)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use corenet::Error;
    ///
    /// let err = Error::from_io(io::Error::from_raw_os_error(libc::EACCES), "listen")
    ///     .with_address("0.0.0.0")
    ///     .with_port(80);
    /// assert_eq!(err.port(), Some(80));
    /// ```
    pub fn port(&self) -> Option<u16> {
        self.0.port
    }

    /// Node's `err.localAddress` after a failed bound connect.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use corenet::Error;
    ///
    /// let err = Error::from_io(io::Error::from_raw_os_error(libc::ETIMEDOUT), "connect")
    ///     .with_local("10.0.0.2", 4000);
    /// assert_eq!(err.local_address(), Some("10.0.0.2"));
    /// ```
    pub fn local_address(&self) -> Option<&str> {
        self.0.local.as_ref().map(|(a, _)| &**a)
    }

    /// Node's `err.localPort` after a failed bound connect.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use corenet::Error;
    ///
    /// let err = Error::from_io(io::Error::from_raw_os_error(libc::ETIMEDOUT), "connect")
    ///     .with_local("10.0.0.2", 4000);
    /// assert_eq!(err.local_port(), Some(4000));
    /// ```
    pub fn local_port(&self) -> Option<u16> {
        self.0.local.as_ref().map(|&(_, p)| p)
    }

    /// Node's `err.hostname` of a failed lookup.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(corenet::Error::lookup("db.local").hostname(), Some("db.local"));
    /// ```
    pub fn hostname(&self) -> Option<&str> {
        self.0.hostname.as_deref()
    }

    /// The [`io::ErrorKind`]: the errno's kind for system errors, and for `ERR_*` errors a
    /// close fit (`InvalidInput` for bad arguments and ports, `NotConnected` for closed or
    /// destroyed sockets, `BrokenPipe` for writes after `end()`, `TimedOut`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use corenet::Error;
    ///
    /// assert_eq!(Error::socket_bad_port("-1").kind(), ErrorKind::InvalidInput);
    /// assert_eq!(Error::lookup("x.invalid").kind(), ErrorKind::NotFound);
    /// ```
    pub fn kind(&self) -> io::ErrorKind {
        self.0.kind
    }

    // ---- Node's own codes (lib/internal/errors.js), in node-net-api.md section 6 order ----
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &*self.0;
        let Some(syscall) = e.syscall else {
            return f.write_str(e.message.as_deref().unwrap_or(e.code));
        };
        write!(f, "{syscall} {}", e.code)?;
        // dnsException: `getaddrinfo ENOTFOUND host`, nothing else.
        if let Some(host) = &e.hostname {
            return write!(f, " {host}");
        }
        // uvExceptionWithHostPort (listen) adds libuv's description; the others do not.
        // An UNKNOWN error always says what it was, since its code tells nothing.
        if let Some(text) = &e.message {
            write!(f, ": {text}")?;
        } else if syscall == "listen" {
            write!(f, ": {}", uv_description(e.code))?;
        }
        // Node: `port > 0` gives ` address:port`, else an address gives ` address`.
        match (&e.address, e.port) {
            (address, Some(port)) => write!(f, " {}:{port}", address.as_deref().unwrap_or(""))?,
            (Some(address), None) => write!(f, " {address}")?,
            (None, None) => {}
        }
        if let Some((address, port)) = &e.local {
            write!(f, " - Local ({address}:{port})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &*self.0;
        let mut d = f.debug_struct("Error");
        d.field("code", &e.code);
        if let Some(errno) = e.errno {
            d.field("errno", &errno);
        }
        if let Some(syscall) = e.syscall {
            d.field("syscall", &syscall);
        }
        if let Some(address) = &e.address {
            d.field("address", address);
        }
        if let Some(port) = e.port {
            d.field("port", &port);
        }
        if let Some(hostname) = &e.hostname {
            d.field("hostname", hostname);
        }
        d.field("kind", &e.kind)
            .field("message", &self.to_string())
            .finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    /// A system error with an errno becomes [`io::Error::from_raw_os_error`], so
    /// `raw_os_error()` and `kind()` survive (the syscall and address do not). Any other
    /// error is wrapped with its [`kind`](Error::kind) and can be taken back with
    /// [`io::Error::get_ref`] and `downcast_ref::<Error>()`, or [`Error::from_io`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use corenet::Error;
    ///
    /// let reset = io::Error::from_raw_os_error(libc::ECONNRESET);
    /// let io_err: io::Error = Error::from_io(reset, "read").into();
    /// assert_eq!(io_err.raw_os_error(), Some(libc::ECONNRESET));
    ///
    /// let io_err: io::Error = Error::socket_bad_port("-1").into();
    /// assert_eq!(io_err.kind(), io::ErrorKind::InvalidInput);
    /// assert_eq!(Error::from_io(io_err, "listen").code(), "ERR_SOCKET_BAD_PORT");
    /// ```
    fn from(err: Error) -> io::Error {
        match err.0.errno {
            Some(errno) => io::Error::from_raw_os_error(errno),
            None => io::Error::new(err.kind(), err),
        }
    }
}
