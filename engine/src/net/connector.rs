//! `TcpConnector`: a client socket bound to a chosen local address before it connects.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr};

use super::socket::{Socket, stream_socket};

/// A TCP socket bound to a local address and not yet connected: how a client picks its
/// source address or port (Node's `localAddress` / `localPort`).
///
/// # Examples
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use corenet_engine::TcpConnector;
///
/// let connector = TcpConnector::bind("127.0.0.2:0".parse().unwrap())?;
/// let socket = connector.connect("127.0.0.1:7000".parse().unwrap()).await?;
/// assert_eq!(socket.local_addr()?.ip().to_string(), "127.0.0.2");
/// # Ok(()) }
/// ```
pub struct TcpConnector {
    socket: socket2::Socket,
}

impl TcpConnector {
    /// Creates a socket of `local`'s family and binds it to `local` (port 0: the kernel
    /// picks one).
    ///
    /// # Errors
    ///
    /// The bind error: `EADDRINUSE`, `EADDRNOTAVAIL` for an address this host does not
    /// have, `EACCES` for a privileged port; or the socket-creation error.
    pub fn bind(local: SocketAddr) -> io::Result<TcpConnector> {
        let socket = stream_socket(Domain::for_address(local), Some(Protocol::TCP))?;
        socket.bind(&SockAddr::from(local))?;
        Ok(TcpConnector { socket })
    }

    /// The address the socket is bound to (with the port the kernel picked).
    ///
    /// # Errors
    ///
    /// The `getsockname` error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket address"))
    }

    /// Connects to `addr` from the bound address, on the current core.
    ///
    /// # Errors
    ///
    /// As [`Socket::connect`]; `EAFNOSUPPORT`/`EINVAL` when `addr`'s family differs from
    /// the bound address's.
    ///
    /// # Panics
    ///
    /// When called from a thread that is not a corenet core.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<Socket> {
        Socket::connect_socket(self.socket, SockAddr::from(addr)).await
    }
}

impl fmt::Debug for TcpConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpConnector")
            .field("local", &self.local_addr().ok())
            .finish()
    }
}
