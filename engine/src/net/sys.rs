//! Socket creation with socket2: the per-core SO_REUSEPORT listener group.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use socket2::{Domain, Protocol, Socket, Type};

/// Node's default listen backlog.
pub(crate) const DEFAULT_BACKLOG: i32 = 511;

fn listener_socket(addr: &SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )?;
    // Like libuv: rebinding over TIME_WAIT connections after a restart must work.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Binds `n` listening sockets on `addr`, one per core, that the kernel balances new
/// connections over (SO_REUSEPORT).
///
/// The first socket binds *without* SO_REUSEPORT and sets it only afterwards: the bind then
/// fails with EADDRINUSE if anyone holds the port (even a reuseport group), so a second server
/// never silently shares it, while our other sockets (which bind with SO_REUSEPORT while the
/// first has it set) join. Port 0 is resolved by the first bind. Any failure closes them all.
pub(crate) fn bind_reuseport_group(
    addr: SocketAddr,
    n: usize,
    backlog: i32,
) -> io::Result<Vec<OwnedFd>> {
    let first = listener_socket(&addr)?;
    first.bind(&addr.into())?;
    first.set_reuse_port(true)?;
    first.listen(backlog)?;
    let bound = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound address is not IP"))?;
    let mut fds = Vec::with_capacity(n);
    fds.push(OwnedFd::from(first));
    for _ in 1..n {
        let s = listener_socket(&bound)?;
        s.set_reuse_port(true)?;
        s.bind(&bound.into())?;
        s.listen(backlog)?;
        fds.push(OwnedFd::from(s));
    }
    Ok(fds)
}
