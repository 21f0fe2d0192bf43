//! Node's `net` module: [`create_server`], [`Server`], [`Socket`], their events and errors,
//! and [`is_ip()`]. See `docs/node-api.md` for the item-by-item mapping.
//!
//! Events are methods named after them (`on_data`, `on_close`, ...) whose callbacks receive
//! the emitting object first. Server events fire on the core that created the server;
//! connection and socket events on the connection's own core.

mod events;
pub mod is_ip;
mod listen;
pub mod port;
mod resolve;
mod server;
mod server_handle;
mod socket;

pub use events::ListenerId;
pub use is_ip::{is_ip, is_ipv4, is_ipv6};
pub use listen::ListenArgs;
pub use port::Port;
pub use server::{Address, Server, ServerOptions, create_server};
pub use server_handle::ServerHandle;
pub use socket::{
    ConnectArgs, DEFAULT_HIGH_WATER_MARK, Encoding, Lookup, PipeOptions, Socket, SocketOptions,
    WriteCallback, connect, create_connection,
};
