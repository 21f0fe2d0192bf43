//! Socket creation with socket2: the per-core SO_REUSEPORT listener group (one listener
//! where the platform has no SO_REUSEPORT), Unix socket addresses.

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::sys::{ListenSock, OwnedSock};

/// Whether several sockets can listen on one port with the kernel spreading connections
/// (SO_REUSEPORT). Windows has no such option: one socket listens there.
pub(crate) const HAS_REUSEPORT: bool = cfg!(unix);

/// Node's default listen backlog.
pub(crate) const DEFAULT_BACKLOG: i32 = 511;

/// SOCK_STREAM, close-on-exec where the platform takes it as a flag (Apple platforms have no
/// SOCK_CLOEXEC; socket2 sets FD_CLOEXEC there itself).
pub(crate) fn stream_type() -> Type {
    // Windows sockets are created non-inheritable by socket2 (WSA_FLAG_NO_HANDLE_INHERIT).
    #[cfg(any(target_os = "macos", target_os = "ios", windows))]
    {
        Type::STREAM
    }
    #[cfg(not(any(target_os = "macos", target_os = "ios", windows)))]
    {
        Type::STREAM.cloexec()
    }
}

fn listener_socket(addr: &SocketAddr, ipv6_only: bool) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        stream_type(),
        Some(Protocol::TCP),
    )?;
    // Like libuv: rebinding over TIME_WAIT connections after a restart must work. Never on
    // Windows, where SO_REUSEADDR allows binding over a live listener (and TIME_WAIT does not
    // block a bind anyway).
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    if addr.is_ipv6() {
        // Set explicitly either way: the system default (bindv6only) may differ.
        socket.set_only_v6(ipv6_only)?;
    }
    Ok(socket)
}

/// Binds `n` listening sockets on `addr`, one per core, that the kernel balances new
/// connections over (SO_REUSEPORT), or one exclusive socket. Without SO_REUSEPORT ([`HAS_REUSEPORT`]) `n` must be 1.
///
/// The first socket binds *without* SO_REUSEPORT and sets it only afterwards: the bind then
/// fails with EADDRINUSE if anyone holds the port (even a reuseport group), so a second server
/// never silently shares it, while our other sockets (which bind with SO_REUSEPORT while the
/// first has it set) join. Port 0 is resolved by the first bind. Any failure closes them all.
///
/// `reuse_port` false (exclusive, `n` 1): the socket never gets SO_REUSEPORT, so nobody else
/// can join the port while it listens.
pub(crate) fn bind_listeners(
    addr: SocketAddr,
    n: usize,
    reuse_port: bool,
    backlog: i32,
    ipv6_only: bool,
) -> io::Result<Vec<OwnedSock>> {
    debug_assert!(
        reuse_port || n == 1,
        "only a reuseport group has several sockets"
    );
    let first = listener_socket(&addr, ipv6_only)?;
    first.bind(&addr.into())?;
    #[cfg(unix)]
    if reuse_port {
        first.set_reuse_port(true)?;
    }
    first.listen(backlog)?;
    let bound = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound address is not IP"))?;
    let mut fds = Vec::with_capacity(n);
    fds.push(OwnedSock::from(first));
    #[cfg(unix)]
    for _ in 1..n {
        let s = listener_socket(&bound, ipv6_only)?;
        s.set_reuse_port(true)?;
        s.bind(&bound.into())?;
        s.listen(backlog)?;
        fds.push(OwnedSock::from(s));
    }
    #[cfg(not(unix))]
    debug_assert_eq!(n, 1, "no SO_REUSEPORT: one listener");
    let _ = bound;
    Ok(fds)
}

/// Whether `path` is a Linux abstract socket name (its first byte is NUL).
pub(crate) fn is_abstract(path: &Path) -> bool {
    path.as_os_str().as_encoded_bytes().first() == Some(&0)
}

/// The socket address for a Unix path or abstract name, refusing over-long paths with EINVAL
/// (never truncating them).
pub(crate) fn unix_addr(path: &Path) -> io::Result<SockAddr> {
    let bytes = path.as_os_str().as_encoded_bytes();
    // sun_path is 108 bytes on Linux; a path needs its NUL terminator, an abstract name not.
    let max = 108 - usize::from(!is_abstract(path));
    if bytes.len() > max || bytes.is_empty() {
        return Err(io::Error::from_raw_os_error(crate::sys::EINVAL));
    }
    // socket2 treats a leading NUL as an abstract name (no terminator, exact length).
    SockAddr::unix(path)
}

/// A listening Unix stream socket at `path`.
pub(crate) fn bind_unix(path: &Path, backlog: i32) -> io::Result<OwnedSock> {
    let addr = unix_addr(path)?;
    let socket = Socket::new(Domain::UNIX, stream_type(), None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr)?;
    socket.listen(backlog)?;
    Ok(OwnedSock::from(socket))
}

/// What a "Unix path" server listens on here, and whether only core 0 may serve it: a Unix
/// domain socket (every core), or on Windows a named pipe for `\\.\pipe\` and
/// `\\?\pipe\` names (core 0).
pub(crate) fn bind_ipc(path: &Path, backlog: i32) -> io::Result<(ListenSock, bool)> {
    #[cfg(windows)]
    if crate::sys::is_pipe_path(path) {
        return Ok((crate::sys::bind_pipe(path)?, true));
    }
    Ok((ListenSock::from(bind_unix(path, backlog)?), false))
}

/// Whether `path` names a Windows named pipe (never on Unix).
pub(crate) fn is_pipe_path(path: &Path) -> bool {
    #[cfg(windows)]
    return crate::sys::is_pipe_path(path);
    #[cfg(not(windows))]
    {
        let _ = path;
        false
    }
}
