//! corenet with the Rust ecosystem: runnable examples, no library code.
//!
//! | example | what it shows |
//! |---|---|
//! | `http_hello` | hyper 1.x (HTTP/1.1, keep-alive, pipelining) on every core through `SocketStream` |
//! | `http_hello_tokio` | the same hyper service on tokio's current-thread runtime (a benchmark peer) |
//! | `tls_echo` | a rustls echo server with a self-signed certificate made at start (rcgen) |
//! | `tokio_bridge` | calling tokio-based code from a corenet task through a tokio runtime handle |
//!
//! Run them from the repository root, e.g.
//! `cargo run --release --example http_hello -- --addr 127.0.0.1:8080`.
//! `scripts/test-examples.sh` runs each against real clients (curl, openssl s_client), and
//! `tests/ecosystem.rs` runs hyper and rustls at both ends (server and client on corenet
//! cores) on both backends.
//!
//! They live in a crate of their own because their dependencies include C code (ring), which
//! cross-target checks and the Windows run leave out.
