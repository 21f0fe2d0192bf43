//! corenet: Node.js `net`-style servers and clients on a thread-per-core io_uring engine.
#![deny(missing_docs)]

pub use corenet_engine as engine;
