//! Adopting sockets made elsewhere (`std`, a parent process, systemd): checking that they are
//! what the caller says, and what they are bound or connected to.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use socket2::{SockAddr, SockRef, Type};

use crate::reactor::Transport;
use crate::sys::{self, OwnedSock};

/// What an adopted listening socket listens on.
#[derive(Debug)]
pub(super) enum Bound {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path, a Linux abstract name (leading NUL byte), or empty when unnamed.
    Unix(PathBuf),
}

/// Checks that `sock` is a listening stream socket and makes it nonblocking.
///
/// # Errors
///
/// `ENOTSOCK` for a descriptor that is no socket; `EINVAL` for a socket that is not a
/// listening stream socket (a datagram socket, a connected or merely bound one: what
/// `listen(2)` would say of a connected one); `EAFNOSUPPORT` for a family other than IPv4,
/// IPv6 and Unix (Unix is not supported on Windows).
pub(super) fn listener(sock: &OwnedSock) -> io::Result<Bound> {
    // SO_TYPE first: it reports ENOTSOCK for anything that is not a socket.
    let socket = SockRef::from(sock);
    if socket.r#type()? != Type::STREAM {
        return Err(io::Error::from_raw_os_error(sys::EINVAL));
    }
    if !sys::is_listening(sock)? {
        return Err(io::Error::from_raw_os_error(sys::EINVAL));
    }
    let bound = match transport(&socket.local_addr()?)? {
        Transport::Tcp => Bound::Tcp(ip_addr(&socket.local_addr()?)?),
        Transport::Unix => Bound::Unix(unix_path(&socket.local_addr()?)),
    };
    // Accepting on a blocking listener would block the core (the compat backend); accepted
    // sockets are made nonblocking whatever the listener is.
    socket.set_nonblocking(true)?;
    Ok(bound)
}

/// Checks that `sock` is a connected stream socket, makes it nonblocking and says which
/// transport it is.
///
/// # Errors
///
/// `ENOTSOCK` for a descriptor that is no socket; `EINVAL` for one that is not a stream
/// socket, or is listening; `ENOTCONN` for a stream socket that is not connected;
/// `EAFNOSUPPORT` as for [`listener`].
pub(super) fn stream(sock: &OwnedSock) -> io::Result<Transport> {
    let socket = SockRef::from(sock);
    if socket.r#type()? != Type::STREAM || sys::is_listening(sock)? {
        return Err(io::Error::from_raw_os_error(sys::EINVAL));
    }
    // getpeername(2): ENOTCONN for a socket that never connected (asked first: Windows'
    // getsockname fails with EINVAL on a socket that is not even bound).
    let transport = transport(&socket.peer_addr()?)?;
    socket.set_nonblocking(true)?;
    Ok(transport)
}

/// The transport of a socket bound to `addr`.
fn transport(addr: &SockAddr) -> io::Result<Transport> {
    if addr.is_ipv4() || addr.is_ipv6() {
        return Ok(Transport::Tcp);
    }
    // The compat backend has no AF_UNIX on Windows (only named pipes).
    if cfg!(unix) && addr.is_unix() {
        return Ok(Transport::Unix);
    }
    Err(io::Error::from_raw_os_error(sys::EAFNOSUPPORT))
}

fn ip_addr(addr: &SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket()
        .ok_or_else(|| io::Error::other("bound address is not IP"))
}

/// The path (or abstract name, NUL first) a Unix socket is bound to; empty when unnamed.
#[cfg(unix)]
fn unix_path(addr: &SockAddr) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    if let Some(path) = addr.as_pathname() {
        return path.to_owned();
    }
    match addr.as_abstract_namespace() {
        Some(name) => {
            let mut bytes = vec![0u8];
            bytes.extend_from_slice(name);
            PathBuf::from(std::ffi::OsStr::from_bytes(&bytes))
        }
        None => PathBuf::new(),
    }
}

/// Never called: [`transport`] refuses AF_UNIX on Windows.
#[cfg(windows)]
fn unix_path(_addr: &SockAddr) -> PathBuf {
    PathBuf::new()
}
