//! What the per-OS contract tests (`unix/tests.rs`, `windows/tests.rs`) share: parking until a
//! condition holds, reading what came, and the test bodies that read the same on every OS.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use corenet_engine::driver::{Completion, Op, OpKind, RawSock, Token, Wait};

use super::Readiness;
use super::platform::Platform;

/// How long a test waits for what it expects.
pub(crate) const LIMIT: Duration = Duration::from_secs(10);

/// A connected loopback pair: (the peer, with read and write timeouts of [`LIMIT`]; the
/// socket the driver works on).
pub(crate) fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    client.set_write_timeout(Some(LIMIT)).unwrap();
    (client, server)
}

/// The token of the receive of connection `slot`.
pub(crate) fn recv_token(slot: usize) -> Token {
    Token::new(OpKind::Recv, slot)
}

/// Parks until `done(out)` holds; panics after [`LIMIT`].
pub(crate) fn park_until<P: Platform>(
    d: &mut Readiness<P>,
    out: &mut Vec<Completion>,
    done: impl Fn(&[Completion]) -> bool,
) {
    let deadline = Instant::now() + LIMIT;
    while !done(out) {
        assert!(Instant::now() < deadline, "timed out; got {out:?}");
        d.park(Wait::Timeout(Duration::from_millis(20)), out)
            .unwrap();
    }
}

/// Whether the op `token` has had its final completion.
pub(crate) fn has_final(token: Token) -> impl Fn(&[Completion]) -> bool {
    move |out| out.iter().any(|c| c.token == token && !c.more)
}

/// The bytes of every chunk in `out`, in order.
pub(crate) fn bytes(out: &[Completion]) -> Vec<u8> {
    out.iter()
        .filter_map(|c| c.chunk.as_deref())
        .flatten()
        .copied()
        .collect()
}

/// A receive on `sock` (a driver of 8 buffers of 64 bytes, `peer` its other end) hands the
/// peer's bytes over as chunks, then its end of stream as the final completion, and its end
/// forgets the descriptor.
pub(crate) fn recv_chunks_then_end_of_stream<P: Platform>(
    d: &mut Readiness<P>,
    peer: &mut TcpStream,
    sock: RawSock,
) {
    let t = recv_token(1);
    d.push(Op::RecvMulti { fd: sock, token: t });
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert!(out.is_empty(), "nothing was sent yet: {out:?}");
    peer.write_all(b"hello").unwrap();
    park_until(d, &mut out, |o| !o.is_empty());
    assert_eq!(bytes(&out), b"hello");
    assert!(out.iter().all(|c| c.more && c.result == 5));
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    park_until(d, &mut out, has_final(t));
    let last = out.last().unwrap();
    assert_eq!(
        (last.result, last.more, last.chunk.is_none()),
        (0, false, true)
    );
    assert_eq!(
        d.descriptors(),
        0,
        "the last op's end forgets its descriptor"
    );
}

/// With one pool buffer of 16 bytes and 40 bytes waiting on `sock`, each receive hands one
/// chunk over and ends with `-enobufs` (nothing read) while more waits; re-armed after each
/// recycle, they lose nothing. Once all is read, the receive waits with its buffer free.
pub(crate) fn empty_pool_ends_with_enobufs_and_loses_nothing<P: Platform>(
    d: &mut Readiness<P>,
    peer: &mut TcpStream,
    sock: RawSock,
    enobufs: i32,
) {
    let sent: Vec<u8> = (0..40).collect();
    peer.write_all(&sent).unwrap();
    let t = recv_token(2);
    let mut got = Vec::new();
    let mut rounds = 0;
    while got.len() < sent.len() {
        rounds += 1;
        assert!(rounds < 10, "got {got:?}");
        d.push(Op::RecvMulti { fd: sock, token: t });
        let mut out = Vec::new();
        park_until(d, &mut out, |o| o.iter().any(|c| c.chunk.is_some()));
        got.extend(bytes(&out));
        if got.len() < sent.len() {
            // The one buffer is lent out and more bytes wait: the receive ends, nothing read.
            park_until(d, &mut out, has_final(t));
            assert_eq!(out.last().unwrap().result, -enobufs);
        }
        drop(out);
        let pool = d.pool().clone();
        assert_eq!(d.recycle(&pool), 1);
    }
    assert_eq!(got, sent);
    // Everything read and a buffer free: the receive waits for more.
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    d.push(Op::Cancel { target: t });
    park_until(d, &mut out, has_final(t));
}

/// The contract tests whose bodies read the same on every OS, as `#[test]`s of the calling
/// module, which provides `driver(count, size)`, `pair()` and `raw(&TcpStream)` (the handle
/// the driver works on); `$enobufs` is the OS's ENOBUFS code.
macro_rules! shared_contract_tests {
    ($enobufs:expr) => {
        #[test]
        fn recv_hands_over_chunks_then_end_of_stream() {
            let mut d = driver(8, 64);
            let (mut peer, sock) = pair();
            $crate::readiness::testing::recv_chunks_then_end_of_stream(
                &mut d,
                &mut peer,
                raw(&sock),
            );
        }

        #[test]
        fn empty_pool_ends_with_enobufs_and_loses_nothing() {
            let mut d = driver(1, 16);
            let (mut peer, sock) = pair();
            $crate::readiness::testing::empty_pool_ends_with_enobufs_and_loses_nothing(
                &mut d,
                &mut peer,
                raw(&sock),
                $enobufs,
            );
        }
    };
}
pub(crate) use shared_contract_tests;
