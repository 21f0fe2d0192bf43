//! corenet: Node.js `net`-style TCP servers and clients on a thread-per-core io_uring engine.
//!
//! | platform | backend |
//! |---|---|
//! | Linux 6.0+ | io_uring: multishot accept, buffer-ring multishot receive, one batched `sendmsg` per socket per loop turn |
//! | macOS, Windows, Linux without io_uring | the compat backend (in progress) |
//!
//! Each core runs its own executor thread with its own ring, buffers and connections; a
//! [`Server`] listens on every core (SO_REUSEPORT) and each connection lives on the core that
//! accepted it. Received bytes arrive as [`Chunk`]s, views of the kernel-filled buffer.
//!
//! # Examples
//!
//! An echo server on every core (`examples/echo.rs` is the full program):
//!
//! ```no_run
//! use corenet::{Runtime, Server};
//!
//! let rt = Runtime::new()?;
//! let server = Server::bind(&rt.handle(), "127.0.0.1:7000".parse().unwrap())?;
//! server.serve(|socket| async move {
//!     while let Ok(Some(chunk)) = socket.read().await {
//!         // Send the received buffer straight back: no copy.
//!         if socket.write_owned(chunk).await.is_err() {
//!             return;
//!         }
//!     }
//!     let _ = socket.shutdown().await; // the peer half-closed: finish, then close our side
//! });
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

mod backend_choice;
pub mod error;
pub mod net;
mod runtime;

pub use corenet_engine::{
    Backend, Chunk, CoreStats, Elapsed, JoinError, JoinHandle, ListenOptions, OwnedBuf,
    RemoteHandle, RuntimeHandle, Server, Sleep, Socket, SocketStream, TcpConnector, current_core,
    sleep, sleep_until, spawn_local, timeout,
};
pub use error::Error;
pub use runtime::{Builder, Runtime};
