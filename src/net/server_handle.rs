//! A handle on a Node-face server for any thread or core: what Node's connection handlers do
//! with `server` (`server.close()`, `server.getConnections()`, `server.address()`).

use std::fmt;
use std::sync::Arc;

use super::server::{Address, Shared};

/// A `Send + Sync` handle on a [`Server`](super::Server), from
/// [`Server::handle`](super::Server::handle) or, in a connection handler on any core,
/// [`Socket::server`](super::Socket::server).
///
/// # Examples
///
/// ```no_run
/// use corenet::net;
///
/// let rt = corenet::Runtime::new()?;
/// rt.block_on(0, || async {
///     // Node's test-net-server-close.js shape: the first connection closes the server.
///     let server = net::create_server(net::ServerOptions::default(), || {
///         |socket: &net::Socket| {
///             if let Some(server) = socket.server() {
///                 println!("{} open", server.connections());
///                 server.close();
///             }
///             socket.end(None);
///         }
///     });
///     server.listen(7000).unwrap();
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl ServerHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> ServerHandle {
        ServerHandle { shared }
    }

    /// Node's `server.close()`: stops accepting on every core, `'close'` once the last
    /// connection has ended. The server's own core does it, later in its turn (at once when
    /// called there, before the next accept).
    pub fn close(&self) {
        self.shared.close_from_anywhere();
    }

    /// Open connections over every core (Node's `getConnections`, without the callback).
    pub fn connections(&self) -> usize {
        self.shared.connections()
    }

    /// The bound address while listening (Node's `server.address()`).
    pub fn address(&self) -> Option<Address> {
        self.shared.address().clone()
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("address", &self.address())
            .field("connections", &self.connections())
            .finish()
    }
}
