//! The backend contract's suite (`corenet_engine::contract_tests!`) on this OS's driver, and
//! what the per-OS compat-only tests (`unix/tests.rs`, `windows/tests.rs`) share.

use std::io;
use std::net::TcpStream;

pub(crate) use corenet_engine::driver::contract::{LIMIT, has_final, park_until};
use corenet_engine::driver::{BufPool, OpKind, Token};

use super::Readiness;
use crate::CompatDriver;

/// A driver taking up to 256 events per poll, over a new pool of `count` buffers of `size`
/// bytes.
pub(crate) fn driver(count: u16, size: u32) -> io::Result<CompatDriver> {
    Readiness::with_events(256, BufPool::new(count, size)?, None).map(CompatDriver)
}

/// As [`driver`], with a second pool of `stream.0` buffers of `stream.1` bytes for
/// connections that stream (used where `Platform::STREAM_BUFFERS`).
#[cfg(unix)]
pub(crate) fn driver_with_stream(
    count: u16,
    size: u32,
    stream: (u16, u32),
) -> io::Result<CompatDriver> {
    let stream = BufPool::new(stream.0, stream.1)?;
    Readiness::with_events(256, BufPool::new(count, size)?, Some(stream)).map(CompatDriver)
}

/// The contract suite, on this OS's compat driver.
mod contract {
    corenet_engine::contract_tests!(super::driver);
}

/// A connected loopback pair: (the peer, with read and write timeouts of [`LIMIT`]; the
/// nonblocking socket the driver works on).
pub(crate) fn pair() -> (TcpStream, TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    client.set_write_timeout(Some(LIMIT)).unwrap();
    server.set_nonblocking(true).unwrap();
    (client, server)
}

/// The token of the receive of connection `slot`.
pub(crate) fn recv_token(slot: usize) -> Token {
    Token::new(OpKind::Recv, slot)
}
