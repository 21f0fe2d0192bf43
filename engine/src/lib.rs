//! corenet-engine: the per-core executor, the backend contract and the io_uring backend.
#![deny(missing_docs)]
