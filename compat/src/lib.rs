//! corenet-compat: corenet's portable backend, readiness emulating completions on mio.
//!
//! | platform | poller | status |
//! |---|---|---|
//! | Linux (io_uring missing or forbidden, or forced) | epoll | [`CompatDriver`] |
//! | macOS | kqueue | [`CompatDriver`] (checked with `cargo check --target`) |
//! | Windows | IOCP (AFD; overlapped I/O for named pipes) | [`CompatDriver`]: TCP and named pipes (tested under Wine) |
//!
//! The driver implements the engine's backend contract (`corenet_engine::driver`): a
//! readable socket is read into a buffer of the core's pool and handed over as a `Chunk`, the
//! same way io_uring's multishot receive hands over its ring buffers, so the executor,
//! reactor, `Server` and `Socket` above it are the same on both backends.
//!
//! # Examples
//!
//! ```no_run
//! # #[cfg(any(unix, windows))] {
//! let rt = corenet_engine::Runtime::builder()
//!     .driver_factory(corenet_compat::CompatDriver::factory())
//!     .build()?;
//! assert_eq!(rt.backend(), corenet_engine::Backend::Compat);
//! # }
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(clippy::missing_errors_doc, clippy::missing_panics_doc)]

/// The crates.io README's examples, compiled by `cargo test --doc` (not part of the docs).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(unix)]
mod budget;
#[cfg(unix)]
mod driver;
#[cfg(unix)]
mod ops;
#[cfg(unix)]
mod registry;
#[cfg(unix)]
mod sys;
mod unpark;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
pub use driver::CompatDriver;
#[cfg(windows)]
pub use windows::CompatDriver;
