//! What the compat driver does on Unix beyond the backend contract (whose suite runs in
//! `readiness::testing`), walked on one driver over loopback TCP: the per-park buffer budget,
//! idle sockets with an empty pool, the per-park read share, reads of a streaming peer (into
//! the larger buffers too), polls on a busy core, a forgotten descriptor, accepts on a
//! blocking listener, a second reader refused, sends made as they start.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use corenet_engine::driver::contract::bytes;
use corenet_engine::driver::{BufPool, Completion, Driver, Op, OpKind, SendSlot, Token, Wait};

use crate::CompatDriver;
use crate::readiness::testing::{self, LIMIT, has_final, pair, park_until, recv_token};

fn driver(count: u16, size: u32) -> CompatDriver {
    testing::driver(count, size).unwrap()
}

/// Waits until at least `n` bytes are queued to be read on `sock` (the peer's write has
/// landed), for at most [`LIMIT`].
pub(crate) fn wait_queued(sock: &TcpStream, n: usize) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int into `queued`; the descriptor is open.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::FIONREAD, &mut queued) };
        assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
        if usize::try_from(queued).is_ok_and(|q| q >= n) {
            return;
        }
        assert!(Instant::now() < deadline, "{queued} of {n} bytes arrived");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Pushes a receive on `sock`.
///
/// # Safety
///
/// `sock` stays open until the receive's final completion, or until the driver is dropped.
unsafe fn push_recv(d: &mut CompatDriver, sock: &TcpStream, token: Token) {
    let op = Op::RecvMulti {
        fd: sock.as_raw_fd(),
        token,
        streaming: false,
    };
    // SAFETY: no pointer; the caller keeps the descriptor open.
    unsafe { d.push(op) };
}

/// Pushes a cancel of `target`.
fn cancel(d: &mut CompatDriver, target: Token) {
    // SAFETY: a cancel carries no pointer and no descriptor.
    unsafe { d.push(Op::Cancel { target }) };
}

/// `out` holds `n` chunks and no final completion.
fn assert_chunks_and_nothing_ends(out: &[Completion], n: usize) {
    assert_eq!(
        out.iter().filter(|c| c.chunk.is_some()).count(),
        n,
        "{out:?}"
    );
    assert!(out.iter().all(|c| c.more), "nothing ends: {out:?}");
}

#[test]
fn a_park_lends_down_to_the_reserve_and_the_rest_read_in_the_next() {
    // 4 buffers, a reserve of 1: one park lends 3; the 4th socket waits for the next park
    // (no ENOBUFS), whose buffers came back in between.
    let pairs: Vec<_> = (0..4).map(|_| pair()).collect();
    let mut d = driver(4, 16);
    assert_eq!(BufPool::new(4, 16).unwrap().reserve(), 1);
    for (i, (peer, sock)) in pairs.iter().enumerate() {
        (&*peer).write_all(&[i as u8; 8]).unwrap();
        // SAFETY: the sockets, created before the driver, outlive it.
        unsafe { push_recv(&mut d, sock, recv_token(i)) };
    }
    // Let every byte arrive before the park that reads them.
    std::thread::sleep(Duration::from_millis(50));
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert_chunks_and_nothing_ends(&out, 3);
    drop(out);
    assert_eq!(d.recycle(false), 3);
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert_chunks_and_nothing_ends(&out, 1);
}

#[test]
fn idle_socket_with_an_empty_pool_keeps_waiting() {
    let (mut busy_peer, busy) = pair();
    let (mut idle_peer, idle) = pair();
    let mut d = driver(1, 16);
    busy_peer.write_all(b"x").unwrap();
    let mut out = Vec::new();
    // SAFETY: the sockets, created before the driver, outlive it.
    unsafe { push_recv(&mut d, &busy, recv_token(1)) };
    park_until(&mut d, &mut out, |o| o.iter().any(|c| c.chunk.is_some()));
    // The only buffer is held in `out`. An idle socket's receive must not end with ENOBUFS.
    let t = recv_token(2);
    // SAFETY: as above.
    unsafe { push_recv(&mut d, &idle, t) };
    let mut idle_out = Vec::new();
    d.park(Wait::Timeout(Duration::from_millis(50)), &mut idle_out)
        .unwrap();
    assert!(idle_out.is_empty(), "{idle_out:?}");
    idle_peer.write_all(b"y").unwrap();
    park_until(&mut d, &mut idle_out, has_final(t));
    assert_eq!(idle_out.last().unwrap().result, -libc::ENOBUFS);
    cancel(&mut d, recv_token(1));
    park_until(&mut d, &mut out, has_final(recv_token(1)));
}

#[test]
fn an_ops_end_forgets_its_descriptor() {
    let (_peer, sock) = pair();
    let mut d = driver(8, 64);
    let t = recv_token(3);
    // SAFETY: the socket, created before the driver, outlives it.
    unsafe { push_recv(&mut d, &sock, t) };
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert_eq!(d.0.descriptors(), 1);
    cancel(&mut d, t);
    park_until(&mut d, &mut out, has_final(t));
    assert_eq!(d.0.descriptors(), 0);
}

#[test]
fn reads_per_park_are_capped_and_the_rest_does_not_block() {
    let (mut peer, sock) = pair();
    let mut d = driver(64, 16);
    peer.write_all(&[7u8; 1024]).unwrap();
    let t = recv_token(4);
    // SAFETY: the socket, created before the driver, outlives it.
    unsafe { push_recv(&mut d, &sock, t) };
    let mut out = Vec::new();
    park_until(&mut d, &mut out, |o| !o.is_empty());
    assert_eq!(out.len(), 16, "one park reads at most 16 times: {out:?}");
    // Work is left over: even a `Forever` park must return at once.
    let unpark = d.unparker();
    let guard = std::thread::spawn(move || {
        std::thread::sleep(LIMIT);
        unpark.unpark();
    });
    let start = Instant::now();
    d.park(Wait::Forever, &mut out).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2), "park blocked");
    assert_eq!(out.len(), 32);
    assert!(out.iter().all(|c| c.more && c.result == 16));
    drop(guard); // detached: it only unparks, later
    cancel(&mut d, t);
    park_until(&mut d, &mut out, has_final(t));
}

#[test]
fn a_streaming_peer_is_read_into_whole_buffers_in_order() {
    // Reads offer several buffers at once once the peer streams (a `recvmsg` over them):
    // every byte arrives once and in order, and every chunk but a park's last is full.
    let (mut peer, sock) = pair();
    let mut d = driver(64, 16);
    let sent: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    peer.write_all(&sent).unwrap();
    let t = recv_token(5);
    // SAFETY: the socket, created before the driver, outlives it.
    unsafe { push_recv(&mut d, &sock, t) };
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let mut out = Vec::new();
        park_until(&mut d, &mut out, |o| !o.is_empty());
        assert!(out.len() <= 16, "at most 16 buffers a park: {}", out.len());
        let lens: Vec<_> = out.iter().map(|c| c.result).collect();
        assert!(lens[..lens.len() - 1].iter().all(|&n| n == 16), "{lens:?}");
        got.extend_from_slice(&bytes(&out));
        drop(out);
        d.recycle(false);
    }
    assert_eq!(got, sent);
    let mut out = Vec::new();
    cancel(&mut d, t);
    park_until(&mut d, &mut out, has_final(t));
}

#[test]
fn a_streaming_peer_reads_into_the_larger_buffers_within_the_share() {
    // With 64-byte buffers for streaming connections beside the pool's 16-byte ones: once a
    // read fills a pool buffer, the peer's bytes land in the larger buffers, a park still
    // reads at most 16 pool buffers' worth, and every byte arrives once and in order.
    let (mut peer, sock) = pair();
    let mut d = testing::driver_with_stream(64, 16, (8, 64)).unwrap();
    let sent: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    peer.write_all(&sent).unwrap();
    let t = recv_token(5);
    // SAFETY: the socket, created before the driver, outlives it.
    unsafe { push_recv(&mut d, &sock, t) };
    let mut got = Vec::new();
    let mut large = 0;
    while got.len() < sent.len() {
        let mut out = Vec::new();
        park_until(&mut d, &mut out, |o| !o.is_empty());
        let park = bytes(&out);
        assert!(
            park.len() <= 16 * 16,
            "a park's share: {} bytes",
            park.len()
        );
        assert!(out.iter().all(|c| (1..=64).contains(&c.result)));
        large += out.iter().filter(|c| c.result > 16).count();
        got.extend_from_slice(&park);
        drop(out);
        d.recycle(false);
    }
    assert_eq!(got, sent);
    assert!(
        large >= 3000 / 64 - 16,
        "read into the larger buffers: {large} chunks"
    );
    let mut out = Vec::new();
    cancel(&mut d, t);
    park_until(&mut d, &mut out, has_final(t));
}

#[test]
fn a_busy_core_still_polls_every_other_park() {
    // A streams far more than a park's share, so every park has work in hand (its carried
    // receive) and may skip the poll; B's bytes must still be seen within two parks.
    let (mut a_peer, a) = pair();
    let (mut b_peer, b) = pair();
    let mut d = driver(64, 16);
    a_peer.write_all(&[1u8; 4096]).unwrap();
    wait_queued(&a, 4096);
    let (ta, tb) = (recv_token(10), recv_token(11));
    // SAFETY: the sockets, created before the driver, outlive it.
    unsafe {
        push_recv(&mut d, &a, ta);
        push_recv(&mut d, &b, tb);
    }
    let mut out = Vec::new();
    park_until(&mut d, &mut out, |o| !o.is_empty());
    assert!(out.iter().all(|c| c.token == ta), "{out:?}");
    b_peer.write_all(b"b").unwrap();
    wait_queued(&b, 1);
    let mut b_seen = false;
    for _ in 0..2 {
        out.clear();
        d.recycle(false);
        d.park(Wait::Poll, &mut out).unwrap();
        assert!(
            out.iter().any(|c| c.token == ta),
            "A is still read: {out:?}"
        );
        b_seen |= out.iter().any(|c| c.token == tb && c.chunk.is_some());
    }
    assert!(b_seen, "B's byte waited more than two parks");
    out.clear();
    cancel(&mut d, ta);
    cancel(&mut d, tb);
    park_until(&mut d, &mut out, |o| has_final(ta)(o) && has_final(tb)(o));
}

#[test]
fn accept_multi_on_a_blocking_listener_reports_nonblocking_connections() {
    // A blocking listener: the driver must not block the core on it.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut d = driver(8, 64);
    let at = Token::new(OpKind::Accept, 7);
    let op = Op::AcceptMulti {
        fd: l.as_raw_fd(),
        token: at,
    };
    // SAFETY: no pointer; the listener, created before the driver, outlives it.
    unsafe { d.push(op) };
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    let clients: Vec<_> = (0..3)
        .map(|_| TcpStream::connect(l.local_addr().unwrap()).unwrap())
        .collect();
    park_until(&mut d, &mut out, |o| o.len() >= 3);
    for c in &out {
        assert!(c.more && c.result >= 0, "{c:?}");
        // SAFETY: the accepted descriptor is ours to own and close.
        let fd = unsafe { OwnedFd::from_raw_fd(c.result) };
        // SAFETY: F_GETFL on an open descriptor.
        let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        assert_ne!(fl & libc::O_NONBLOCK, 0);
    }
    out.clear();
    cancel(&mut d, at);
    park_until(&mut d, &mut out, has_final(at));
    drop(clients);
}

#[test]
fn a_second_reader_on_one_descriptor_is_refused_without_harm() {
    let (mut peer, sock) = pair();
    let mut d = driver(8, 64);
    let (a, b) = (recv_token(8), recv_token(9));
    // SAFETY: the socket, created before the driver, outlives it.
    unsafe { push_recv(&mut d, &sock, a) };
    // SAFETY: as above.
    unsafe { push_recv(&mut d, &sock, b) };
    let mut out = Vec::new();
    park_until(&mut d, &mut out, has_final(b));
    assert_eq!(out[0].result, -libc::EBUSY);
    out.clear();
    peer.write_all(b"still here").unwrap();
    park_until(&mut d, &mut out, |o| !o.is_empty());
    assert_eq!(bytes(&out), b"still here");
    assert!(out.iter().all(|c| c.token == a));
    cancel(&mut d, a);
    park_until(&mut d, &mut out, has_final(a));
}

/// Pushes a send of `data` from `slot` on `sock`, then a cancel of it, in one batch.
///
/// # Safety
///
/// `data` and `slot` stay valid and unmoved until the send's final completion.
unsafe fn push_send_and_cancel(
    d: &mut CompatDriver,
    sock: &TcpStream,
    data: &[u8],
    slot: &mut SendSlot,
    token: Token,
) {
    // SAFETY: the caller keeps `data` until the final completion.
    unsafe { slot.set(std::iter::once(data)) };
    let op = Op::Send {
        fd: sock.as_raw_fd(),
        msg: slot,
        token,
    };
    // SAFETY: the caller keeps `slot` and `data` put; `sock` outlives the send.
    unsafe { d.push(op) };
    cancel(d, token);
}

#[test]
fn a_send_beside_a_pending_receive_goes_out_as_it_starts() {
    // The receive makes the descriptor known, so the send is made as it is started: the
    // cancel pushed right behind it finds it ended, and the bytes are out.
    let (mut peer, sock) = pair();
    let mut d = driver(4, 64);
    // SAFETY: the socket, created before the driver, outlives it.
    unsafe { push_recv(&mut d, &sock, recv_token(3)) };
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    let (data, mut slot) = (*b"hello", SendSlot::new_boxed());
    let st = Token::new(OpKind::Send, 3);
    // SAFETY: `data` and `slot` outlive the park that ends the send.
    unsafe { push_send_and_cancel(&mut d, &sock, &data, &mut slot, st) };
    park_until(&mut d, &mut out, has_final(st));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].result, 5, "sent, not cancelled");
    let mut got = [0u8; 5];
    std::io::Read::read_exact(&mut peer, &mut got).unwrap();
    assert_eq!(&got, b"hello");
    cancel(&mut d, recv_token(3));
    park_until(&mut d, &mut out, has_final(recv_token(3)));
}

#[test]
fn a_send_on_a_new_descriptor_starts_as_an_op() {
    // Nothing pending on the descriptor: the send is started the usual way (the descriptor
    // prepared, the op tried in the park), so a cancel in the same batch still ends it unsent.
    let (mut peer, sock) = pair();
    let mut d = driver(4, 64);
    let (data, mut slot) = (*b"hello", SendSlot::new_boxed());
    let st = Token::new(OpKind::Send, 4);
    // SAFETY: `data` and `slot` outlive the park that ends the send.
    unsafe { push_send_and_cancel(&mut d, &sock, &data, &mut slot, st) };
    let mut out = Vec::new();
    park_until(&mut d, &mut out, has_final(st));
    assert_eq!(out[0].result, -libc::ECANCELED, "{out:?}");
    assert_eq!(d.0.descriptors(), 0, "the op's end forgot the descriptor");
    peer.set_nonblocking(true).unwrap();
    let mut got = [0u8; 5];
    let read = std::io::Read::read(&mut peer, &mut got);
    assert_eq!(
        read.unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "nothing was sent"
    );
}
