//! The async face: `Server` (listening on every core) and `Socket` (one connection).

mod adopt;
mod connector;
mod create;
mod io_traits;
#[cfg(windows)]
mod pipe;
mod server;
mod socket;

pub use connector::TcpConnector;
pub use io_traits::SocketStream;
pub use server::{ListenOptions, Server};
pub use socket::Socket;
