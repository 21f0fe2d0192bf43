//! corenet: Node.js `net`-style TCP and IPC servers and clients on a thread-per-core io_uring
//! engine, with a portable backend elsewhere.
//!
//! | platform | backend | listeners | IPC |
//! |---|---|---|---|
//! | Linux 6.0+ (6.1+ for DEFER_TASKRUN) | io_uring: multishot accept, buffer-ring multishot receive, one batched `sendmsg` per socket per loop turn | one per core (SO_REUSEPORT) | Unix sockets, abstract names |
//! | Linux without a usable io_uring (old kernel, seccomp, `kernel.io_uring_disabled`) | compat (mio: epoll), chosen automatically and logged | one per core (SO_REUSEPORT) | Unix sockets, abstract names |
//! | macOS | compat (mio: kqueue) | one, connections spread over the cores | Unix sockets |
//! | Windows | compat (mio: IOCP) | one, connections spread over the cores | named pipes (`\\.\pipe\…`, `\\?\pipe\…`) through `bind_unix` / `connect_unix` |
//!
//! [`Builder::backend`] or `CORENET_BACKEND=uring|compat` force a choice;
//! [`Runtime::backend`](corenet_engine::Runtime::backend) says which runs.
//!
//! Each core runs its own executor thread with its own ring, buffers, timers and connections;
//! a [`Server`] listens on every core and each connection lives on the core that accepted it.
//! Received bytes arrive as [`Chunk`]s, views of the kernel-filled buffer. Two faces share
//! the engine: the async one ([`Server`], [`Socket`]) and Node's event API ([`net`]).
//! Per-core counters are readable from any thread ([`RuntimeHandle::stats`]); operator events
//! (backend chosen, listen and close, accept errors, caught panics) go to `tracing`.
//!
//! # Examples
//!
//! An echo server on every core, and a client talking to it (`examples/echo.rs` is the full
//! program):
//!
//! ```
//! use std::io::{Read, Write};
//! use corenet::{Runtime, Server};
//!
//! let rt = Runtime::new()?;
//! let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap())?;
//! server.serve(|socket| async move {
//!     while let Ok(Some(chunk)) = socket.read().await {
//!         // Send the received buffer straight back: no copy.
//!         if socket.write_owned(chunk).await.is_err() {
//!             return;
//!         }
//!     }
//!     let _ = socket.shutdown().await; // the peer half-closed: finish, then close our side
//! });
//!
//! let mut client = std::net::TcpStream::connect(server.local_addr())?;
//! client.write_all(b"hello")?;
//! client.shutdown(std::net::Shutdown::Write)?;
//! let mut echoed = String::new();
//! client.read_to_string(&mut echoed)?;
//! assert_eq!(echoed, "hello");
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

/// The crates.io README's examples, compiled by `cargo test --doc` (not part of the docs).
#[cfg(doctest)]
#[doc = include_str!("../README.crate.md")]
struct ReadmeDoctests;

mod backend_choice;
pub mod error;
pub mod net;
mod runtime;
#[cfg(unix)]
pub mod systemd;

pub use corenet_engine::{
    Backend, Chunk, CoreStats, Elapsed, JoinError, JoinHandle, ListenOptions, OwnedBuf, OwnedSock,
    RemoteHandle, RuntimeHandle, Server, Sleep, Socket, SocketStream, TcpConnector, current_core,
    sleep, sleep_until, spawn_local, timeout,
};
pub use error::Error;
pub use runtime::{Builder, Runtime};
