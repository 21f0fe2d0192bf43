//! The backend contract as tests: each guarantee of the [`Driver`] contract walked step by
//! step on one driver over loopback TCP, written once for every driver. Not a user API.
//!
//! A backend's tests call [`contract_tests!`](crate::contract_tests) with a factory,
//! `Fn(count, size) -> io::Result<D>`, that builds its driver over a new pool of `count`
//! buffers of `size` bytes; each test below becomes a `#[test]` of the calling module. A
//! factory that fails with `Unsupported` or `PermissionDenied` (no io_uring here) makes the
//! test print what it skipped and pass.
//!
//! | test | guarantees |
//! |---|---|
//! | [`recv_hands_over_chunks_then_end_of_stream`] | 1, 3, 4 |
//! | [`bytes_and_end_of_stream_in_one_event_both_arrive`] | 3, 4 |
//! | [`empty_pool_ends_with_enobufs_and_loses_nothing`] | 3, 4 |
//! | [`cancel_ends_an_op_once_and_stale_cancels_do_nothing`] | 1 |
//! | [`unpark_from_another_thread_wakes_a_forever_park`] | 5 |
//! | [`sends_are_partial_then_wait_for_writability_beside_a_receive`] | 1, 2, 4 |
//! | [`send_to_a_reset_peer_fails_with_an_error`] | 1, 2 |
//! | [`accepts_report_each_connection_close_on_exec`] | 1, 7 |
//! | [`connect_to_a_closed_port_is_refused`] | 1, 2 |
//!
//! Guarantee 6 (teardown) is walked by every test: each drops its driver once the ops it
//! pushed have had their final completions.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::{Completion, Driver, Op, OpKind, SendSlot, Token, Wait};
use crate::sys::{self, ECANCELED, ECONNREFUSED, ENOBUFS, OwnedSock};

/// How long a test waits for what it expects.
pub const LIMIT: Duration = Duration::from_secs(10);

/// The driver `new` builds over a pool of `count` buffers of `size` bytes, or `None` (and a
/// line saying why) when this machine cannot run it.
///
/// # Panics
///
/// If `new` fails for another reason than a missing or forbidden kernel feature.
///
/// # Panics
///
/// Where the driver breaks the contract.
pub fn make<D: Driver>(
    new: impl Fn(u16, u32) -> io::Result<D>,
    count: u16,
    size: u32,
) -> Option<D> {
    match new(count, size) {
        Ok(d) => Some(d),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
            ) =>
        {
            eprintln!("skipped: the driver is not available here: {e}");
            None
        }
        Err(e) => panic!("creating the driver: {e}"),
    }
}

/// A connected loopback pair: the peer (blocking, with read and write timeouts of
/// [`LIMIT`]) and the nonblocking socket the driver works on.
fn pair() -> (TcpStream, OwnedSock) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (sock, _) = l.accept().unwrap();
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    peer.set_write_timeout(Some(LIMIT)).unwrap();
    sock.set_nonblocking(true).unwrap();
    (peer, sock.into())
}

/// The token of op `kind` of slot `slot`.
fn token(kind: OpKind, slot: usize) -> Token {
    Token::new(kind, slot)
}

/// Pushes `op`.
///
/// # Safety
///
/// As for [`Driver::push`].
unsafe fn push<D: Driver>(d: &mut D, op: Op) {
    // SAFETY: the caller's contract, passed on.
    unsafe { d.push(op) }
}

/// Pushes a receive (`once` false: multishot) on `sock`.
fn push_recv<D: Driver>(d: &mut D, sock: &OwnedSock, t: Token) {
    // SAFETY: no pointer; every test keeps `sock` open until the op's final completion (or
    // drops the driver first).
    unsafe {
        push(
            d,
            Op::RecvMulti {
                fd: sys::raw_of(sock),
                token: t,
                streaming: false,
            },
        )
    };
}

/// Pushes a cancel of `target`.
fn cancel<D: Driver>(d: &mut D, target: Token) {
    // SAFETY: a cancel carries no pointer and no descriptor.
    unsafe { push(d, Op::Cancel { target }) };
}

/// Parks until `done(out)` holds.
///
/// # Panics
///
/// After [`LIMIT`], or if a park fails.
pub fn park_until<D: Driver>(
    d: &mut D,
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
pub fn has_final(token: Token) -> impl Fn(&[Completion]) -> bool {
    move |out| out.iter().any(|c| c.token == token && !c.more)
}

/// The bytes of every chunk in `out`, in order.
pub fn bytes(out: &[Completion]) -> Vec<u8> {
    out.iter()
        .filter_map(|c| c.chunk.as_deref())
        .flatten()
        .copied()
        .collect()
}

/// A receive hands the peer's bytes over as chunks, then its end of stream as the final
/// completion (result 0, no chunk).
///
/// # Panics
///
/// Where the driver breaks the contract.
pub fn recv_hands_over_chunks_then_end_of_stream<D: Driver>(
    new: impl Fn(u16, u32) -> io::Result<D>,
) {
    let Some(mut d) = make(new, 8, 64) else {
        return;
    };
    let (mut peer, sock) = pair();
    let t = token(OpKind::Recv, 1);
    push_recv(&mut d, &sock, t);
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert!(out.is_empty(), "nothing was sent yet: {out:?}");
    peer.write_all(b"hello").unwrap();
    park_until(&mut d, &mut out, |o| !o.is_empty());
    assert_eq!(bytes(&out), b"hello");
    assert!(out.iter().all(|c| c.more && c.result == 5), "{out:?}");
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    park_until(&mut d, &mut out, has_final(t));
    let last = out.last().unwrap();
    assert_eq!(
        (last.result, last.more, last.chunk.is_none()),
        (0, false, true)
    );
}

/// Bytes and the end of stream that land together (one readiness event, one CQE burst) both
/// arrive, in order.
///
/// # Panics
///
/// Where the driver breaks the contract.
pub fn bytes_and_end_of_stream_in_one_event_both_arrive<D: Driver>(
    new: impl Fn(u16, u32) -> io::Result<D>,
) {
    let Some(mut d) = make(new, 8, 64) else {
        return;
    };
    let (mut peer, sock) = pair();
    let t = token(OpKind::Recv, 10);
    push_recv(&mut d, &sock, t);
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    peer.write_all(b"bye").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    park_until(&mut d, &mut out, has_final(t));
    assert_eq!(bytes(&out), b"bye");
    assert_eq!(out.last().unwrap().result, 0);
}

/// With one pool buffer of 16 bytes and 40 bytes waiting, a receive hands one chunk over and
/// ends while more waits: with that chunk as its final completion, or with `-ENOBUFS`;
/// re-armed after each recycle, no byte is lost.
///
/// # Panics
///
/// Where the driver breaks the contract.
pub fn empty_pool_ends_with_enobufs_and_loses_nothing<D: Driver>(
    new: impl Fn(u16, u32) -> io::Result<D>,
) {
    let Some(mut d) = make(new, 1, 16) else {
        return;
    };
    let (mut peer, sock) = pair();
    let sent: Vec<u8> = (0..40).collect();
    peer.write_all(&sent).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let t = token(OpKind::Recv, 2);
    let mut got = Vec::new();
    let mut ended = true;
    let mut rounds = 0;
    while got.len() < sent.len() {
        rounds += 1;
        assert!(rounds < 10, "got {got:?}");
        if ended {
            push_recv(&mut d, &sock, t);
        }
        let mut out = Vec::new();
        park_until(&mut d, &mut out, |o| o.iter().any(|c| c.chunk.is_some()));
        got.extend(bytes(&out));
        if got.len() < sent.len() {
            // The one buffer is lent out and more bytes wait: the receive ends, with its
            // last chunk (io_uring) or with -ENOBUFS, nothing read (readiness drivers).
            park_until(&mut d, &mut out, has_final(t));
            let last = out.last().unwrap();
            assert!(last.result == -ENOBUFS || last.chunk.is_some(), "{out:?}");
        }
        ended = has_final(t)(&out);
        drop(out);
        assert_eq!(d.recycle(true), 1);
    }
    assert_eq!(got, sent);
    if !ended {
        let mut out = Vec::new();
        cancel(&mut d, t);
        park_until(&mut d, &mut out, has_final(t));
        assert!(bytes(&out).is_empty(), "{out:?}");
    }
}

/// A cancel ends an op once, with `-ECANCELED`; a cancel of an op already ended does
/// nothing.
///
/// # Panics
///
/// Where the driver breaks the contract.
pub fn cancel_ends_an_op_once_and_stale_cancels_do_nothing<D: Driver>(
    new: impl Fn(u16, u32) -> io::Result<D>,
) {
    let Some(mut d) = make(new, 8, 64) else {
        return;
    };
    let (_peer, sock) = pair();
    let t = token(OpKind::Recv, 3);
    push_recv(&mut d, &sock, t);
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    cancel(&mut d, t);
    park_until(&mut d, &mut out, has_final(t));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].token, out[0].result, out[0].more),
        (t, -ECANCELED, false)
    );
    out.clear();
    cancel(&mut d, t);
    d.park(Wait::Timeout(Duration::from_millis(20)), &mut out)
        .unwrap();
    assert!(out.is_empty(), "{out:?}");
}

/// An unpark from another thread wakes a `Forever` park; one made before the park makes it
/// return too.
///
/// # Panics
///
/// Where the driver breaks the contract.
pub fn unpark_from_another_thread_wakes_a_forever_park<D: Driver>(
    new: impl Fn(u16, u32) -> io::Result<D>,
) {
    let Some(mut d) = make(new, 8, 64) else {
        return;
    };
    let unpark = d.unparker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        unpark.unpark();
    });
    let start = Instant::now();
    let mut out = Vec::new();
    d.park(Wait::Forever, &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    assert!(start.elapsed() < LIMIT);
    t.join().unwrap();
    d.unparker().unpark();
    let unpark = d.unparker();
    let _late = std::thread::spawn(move || {
        std::thread::sleep(LIMIT);
        unpark.unpark();
    });
    let start = Instant::now();
    d.park(Wait::Forever, &mut out).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the early unpark was lost"
    );
}

/// Pushes a send of `data` from `slot`.
///
/// # Safety
///
/// `data` and `slot` stay valid and unmoved until the send's final completion.
unsafe fn push_send<D: Driver>(
    d: &mut D,
    sock: &OwnedSock,
    data: &[u8],
    slot: &mut SendSlot,
    t: Token,
) {
    // SAFETY: the caller keeps `data` until the final completion.
    unsafe { slot.set(std::iter::once(data)) };
    let op = Op::Send {
        fd: sys::raw_of(sock),
        msg: slot,
        token: t,
    };
    // SAFETY: the caller keeps `slot` and `data` put; `sock` outlives the send.
    unsafe { push(d, op) };
}

/// A send larger than the socket buffers is partial; the rest waits for writability while a
/// receive on the same socket goes on, and completes once the peer reads.
///
/// # Panics
///
/// Where the driver breaks the contract.
pub fn sends_are_partial_then_wait_for_writability_beside_a_receive<D: Driver>(
    new: impl Fn(u16, u32) -> io::Result<D>,
) {
    let Some(mut d) = make(new, 8, 64) else {
        return;
    };
    let (mut peer, sock) = pair();
    let data = vec![0x5au8; 32 << 20];
    let mut slot = SendSlot::new_boxed();
    let (st, rt) = (token(OpKind::Send, 5), token(OpKind::Recv, 5));
    push_recv(&mut d, &sock, rt);
    // SAFETY: `data` and `slot` outlive every park below, which wait for the final completion.
    unsafe { push_send(&mut d, &sock, &data, &mut slot, st) };
    let mut out = Vec::new();
    park_until(&mut d, &mut out, has_final(st));
    let first = out.pop().unwrap().result;
    assert!(
        first > 0 && (first as usize) < data.len(),
        "partial: {first}"
    );
    let rest = &data[first as usize..];
    // SAFETY: as above.
    unsafe { push_send(&mut d, &sock, rest, &mut slot, st) };
    d.park(Wait::Timeout(Duration::from_millis(50)), &mut out)
        .unwrap();
    assert!(out.is_empty(), "the socket buffers are full: {out:?}");
    peer.write_all(b"ping").unwrap();
    park_until(&mut d, &mut out, |o| !o.is_empty());
    assert_eq!(bytes(&out), b"ping");
    assert!(out.iter().all(|c| c.token == rt), "{out:?}");
    out.clear();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        while total < 32 << 20 {
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        (peer, total)
    });
    park_until(&mut d, &mut out, has_final(st));
    assert!(out.iter().any(|c| c.token == st && c.result > 0), "{out:?}");
    cancel(&mut d, rt);
    park_until(&mut d, &mut out, has_final(rt));
    drop(d);
    drop(sock);
    let (_peer, total) = reader.join().unwrap();
    assert!(total >= first as usize);
}

/// Sends to a peer that reset the connection end with an error code, not a signal (no
/// SIGPIPE) and not a hang.
///
/// # Panics
///
/// Where the driver breaks the contract.
pub fn send_to_a_reset_peer_fails_with_an_error<D: Driver>(
    new: impl Fn(u16, u32) -> io::Result<D>,
) {
    let Some(mut d) = make(new, 8, 64) else {
        return;
    };
    let (peer, sock) = pair();
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    std::thread::sleep(Duration::from_millis(20));
    let data = [1u8; 1000];
    let mut slot = SendSlot::new_boxed();
    let st = token(OpKind::Send, 6);
    let mut results = Vec::new();
    for _ in 0..3 {
        // SAFETY: `data` and `slot` outlive the send, whose final completion is awaited.
        unsafe { push_send(&mut d, &sock, &data, &mut slot, st) };
        let mut out = Vec::new();
        park_until(&mut d, &mut out, has_final(st));
        results.push(out[0].result);
    }
    assert!(results.iter().any(|&r| r < 0), "{results:?}");
}

/// A multishot accept reports each connection as a new descriptor (close-on-exec on Unix)
/// until cancelled, then ends with `-ECANCELED`.
///
/// # Panics
///
/// Where the driver breaks the contract.
pub fn accepts_report_each_connection_close_on_exec<D: Driver>(
    new: impl Fn(u16, u32) -> io::Result<D>,
) {
    let Some(mut d) = make(new, 8, 64) else {
        return;
    };
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let l = OwnedSock::from(l);
    let at = token(OpKind::Accept, 7);
    let op = Op::AcceptMulti {
        fd: sys::raw_of(&l),
        token: at,
    };
    // SAFETY: no pointer; `l` stays open until after the accept's final completion.
    unsafe { push(&mut d, op) };
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    let clients: Vec<_> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    park_until(&mut d, &mut out, |o| o.len() >= 3);
    for c in &out {
        assert!(c.more && c.result >= 0, "{c:?}");
        // SAFETY: the accept handed this descriptor over: it is ours to own and close.
        let accepted: OwnedSock = unsafe { sys::owned(sys::sock_from_result(c.result)) };
        #[cfg(unix)]
        {
            // SAFETY: F_GETFD on an open descriptor.
            let flags = unsafe { libc::fcntl(sys::raw_of(&accepted), libc::F_GETFD) };
            assert_ne!(flags & libc::FD_CLOEXEC, 0, "close-on-exec");
        }
        drop(accepted);
    }
    out.clear();
    cancel(&mut d, at);
    park_until(&mut d, &mut out, has_final(at));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].result, -ECANCELED);
    drop(clients);
}

/// A connect to a port nobody listens on ends with `-ECONNREFUSED`; the address stays the
/// caller's until then.
///
/// # Panics
///
/// Where the driver breaks the contract.
pub fn connect_to_a_closed_port_is_refused<D: Driver>(new: impl Fn(u16, u32) -> io::Result<D>) {
    let Some(mut d) = make(new, 8, 64) else {
        return;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_nonblocking(true).unwrap();
    let socket = OwnedSock::from(socket);
    let addr = Box::new(socket2::SockAddr::from(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        port,
    ))));
    let t = token(OpKind::Connect, 5);
    let op = Op::Connect {
        fd: sys::raw_of(&socket),
        addr: &*addr,
        token: t,
    };
    // SAFETY: `addr` (boxed) and `socket` outlive the connect's final completion, awaited
    // below.
    unsafe { push(&mut d, op) };
    let mut out = Vec::new();
    park_until(&mut d, &mut out, has_final(t));
    assert_eq!(out[0].result, -ECONNREFUSED, "{out:?}");
}

/// Declares the contract suite's tests in the calling module, each running on the drivers
/// `$new` (`Fn(count: u16, size: u32) -> io::Result<D>`) builds.
#[macro_export]
#[doc(hidden)]
macro_rules! contract_tests {
    ($new:expr) => {
        $crate::contract_tests!(@each $new;
            recv_hands_over_chunks_then_end_of_stream,
            bytes_and_end_of_stream_in_one_event_both_arrive,
            empty_pool_ends_with_enobufs_and_loses_nothing,
            cancel_ends_an_op_once_and_stale_cancels_do_nothing,
            unpark_from_another_thread_wakes_a_forever_park,
            sends_are_partial_then_wait_for_writability_beside_a_receive,
            send_to_a_reset_peer_fails_with_an_error,
            accepts_report_each_connection_close_on_exec,
            connect_to_a_closed_port_is_refused,
        );
    };
    (@each $new:expr; $($name:ident,)*) => {
        $(
            #[test]
            fn $name() {
                $crate::driver::contract::$name($new);
            }
        )*
    };
}
