//! corenet-engine: the per-core executor, the backend contract and the io_uring backend.
//!
//! | platform | backend |
//! |---|---|
//! | Linux 6.0+ | io_uring: multishot accept, buffer-ring multishot receive, batched sendmsg |
//! | macOS, Windows, Linux without io_uring | the compat backend (corenet-compat, readiness on mio) |
//!
//! The public API is re-exported by the `corenet` crate; see its docs for examples.
//!
//! Per-core types stay on their core: they are `!Send` (checked at compile time below),
//! while the handles that cross threads are `Send + Sync`.
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corenet_engine::Socket>(); // a connection lives on one core
//! ```
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corenet_engine::Chunk>(); // a view of one core's receive buffer
//! ```
//!
//! ```compile_fail
//! fn is_send<T: Send>() {}
//! is_send::<corenet_engine::Sleep>(); // one core's timer
//! ```
//!
//! ```
//! fn is_send_sync<T: Send + Sync>() {}
//! is_send_sync::<corenet_engine::RuntimeHandle>();
//! is_send_sync::<corenet_engine::Server>();
//! is_send_sync::<corenet_engine::Runtime>();
//! ```
#![deny(missing_docs)]
#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

/// The crates.io README's examples, compiled by `cargo test --doc` (not part of the docs).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub(crate) mod backend;
pub(crate) mod buf;
pub(crate) mod executor;
pub(crate) mod mmap;
mod net;
pub(crate) mod reactor;
mod runtime;
mod stats;
pub(crate) mod sys;
mod time;
#[cfg(target_os = "linux")]
pub(crate) mod uring;

pub use buf::{Chunk, OwnedBuf};

/// The backend contract, for backend crates (corenet-compat). Not a stable user API.
#[doc(hidden)]
pub mod driver {
    #[cfg(any(test, feature = "contract-tests"))]
    pub use crate::backend::contract;
    pub use crate::backend::{
        Capabilities, Completion, Driver, Op, OpKind, OwnsHandles, RawSock, RingFd, RingWakes,
        SendSlot, Token, Unpark, WAKE_FAILED, Wait,
    };
    pub use crate::buf::BufPool;
    pub use crate::runtime::DriverConfig;
    /// Windows named pipes as the reactor carries them (tagged handles).
    #[cfg(windows)]
    pub use crate::sys::{create_pipe_instance, is_pipe, tag_pipe, untag_pipe};
}
pub use executor::context::current_core;
pub use executor::task::{JoinError, JoinHandle, spawn_local};
pub use net::{ListenOptions, Server, Socket, SocketStream, TcpConnector};
pub use runtime::{Backend, Builder, DriverFactory, RemoteHandle, Runtime, RuntimeHandle};
pub use stats::CoreStats;
pub use sys::OwnedSock;
pub use time::{Elapsed, Sleep, sleep, sleep_until, timeout};
