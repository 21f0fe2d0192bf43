//! The backend contract, walked step by step on one driver over loopback TCP: chunks then
//! end of stream, ENOBUFS without loss, the per-park buffer budget, cancels, the per-park read
//! share, partial sends and waiting for writability, accepts, unpark from another thread.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use corenet_engine::driver::{BufPool, Op, OpKind, SendSlot, Wait};

use super::*;
use crate::readiness::Readiness;
use crate::readiness::testing::{self, LIMIT, bytes, has_final, pair, park_until, recv_token};

/// The driver under test: the readiness loop over this platform.
type CompatDriver = Readiness<Unix>;

fn driver(count: u16, size: u32) -> CompatDriver {
    let pool = BufPool::new(count, size).unwrap();
    CompatDriver::with_events(256, pool).unwrap()
}

/// The descriptor the driver works on.
fn raw(sock: &TcpStream) -> RawFd {
    sock.as_raw_fd()
}

testing::shared_contract_tests!(libc::ENOBUFS);

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
    let mut d = driver(4, 16);
    assert_eq!(d.pool().reserve(), 1);
    let pairs: Vec<_> = (0..4).map(|_| pair()).collect();
    for (i, (peer, sock)) in pairs.iter().enumerate() {
        (&*peer).write_all(&[i as u8; 8]).unwrap();
        d.push(Op::RecvMulti {
            fd: sock.as_raw_fd(),
            token: recv_token(i),
        });
    }
    // Let every byte arrive before the park that reads them.
    std::thread::sleep(Duration::from_millis(50));
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert_chunks_and_nothing_ends(&out, 3);
    drop(out);
    let pool = d.pool().clone();
    assert_eq!(d.recycle(&pool), 3);
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert_chunks_and_nothing_ends(&out, 1);
}

#[test]
fn idle_socket_with_an_empty_pool_keeps_waiting() {
    let mut d = driver(1, 16);
    let (mut busy_peer, busy) = pair();
    let (mut idle_peer, idle) = pair();
    busy_peer.write_all(b"x").unwrap();
    let mut out = Vec::new();
    d.push(Op::RecvMulti {
        fd: busy.as_raw_fd(),
        token: recv_token(1),
    });
    park_until(&mut d, &mut out, |o| o.iter().any(|c| c.chunk.is_some()));
    // The only buffer is held in `out`. An idle socket's receive must not end with ENOBUFS.
    let t = recv_token(2);
    d.push(Op::RecvMulti {
        fd: idle.as_raw_fd(),
        token: t,
    });
    let mut idle_out = Vec::new();
    d.park(Wait::Timeout(Duration::from_millis(50)), &mut idle_out)
        .unwrap();
    assert!(idle_out.is_empty(), "{idle_out:?}");
    idle_peer.write_all(b"y").unwrap();
    park_until(&mut d, &mut idle_out, has_final(t));
    assert_eq!(idle_out.last().unwrap().result, -libc::ENOBUFS);
    d.push(Op::Cancel {
        target: recv_token(1),
    });
    park_until(&mut d, &mut out, has_final(recv_token(1)));
}

#[test]
fn cancel_ends_an_op_once_and_stale_cancels_do_nothing() {
    let mut d = driver(8, 64);
    let (_peer, sock) = pair();
    let t = recv_token(3);
    d.push(Op::RecvMulti {
        fd: sock.as_raw_fd(),
        token: t,
    });
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    assert!(out.is_empty());
    d.push(Op::Cancel { target: t });
    d.park(Wait::Poll, &mut out).unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].token, out[0].result, out[0].more),
        (t, -libc::ECANCELED, false)
    );
    out.clear();
    d.push(Op::Cancel { target: t });
    d.park(Wait::Poll, &mut out).unwrap();
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(d.descriptors(), 0);
}

#[test]
fn reads_per_park_are_capped_and_the_rest_does_not_block() {
    let mut d = driver(64, 16);
    let (mut peer, sock) = pair();
    peer.write_all(&[7u8; 1024]).unwrap();
    let t = recv_token(4);
    d.push(Op::RecvMulti {
        fd: sock.as_raw_fd(),
        token: t,
    });
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
    d.push(Op::Cancel { target: t });
    park_until(&mut d, &mut out, has_final(t));
}

#[test]
fn unpark_from_another_thread_wakes_a_forever_park() {
    let mut d = driver(8, 64);
    let unpark = d.unparker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        unpark.unpark();
    });
    let start = Instant::now();
    let mut out = Vec::new();
    d.park(Wait::Forever, &mut out).unwrap();
    assert!(out.is_empty());
    assert!(start.elapsed() < LIMIT);
    t.join().unwrap();
    // An unpark before the park makes the next park return too.
    d.unparker().unpark();
    let unpark = d.unparker();
    let _guard = std::thread::spawn(move || {
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

/// A send's slot, kept at a fixed address until its final completion.
type SendMem = SendSlot;

fn push_send(d: &mut CompatDriver, fd: RawFd, data: &[u8], mem: &mut Box<SendMem>, token: Token) {
    // SAFETY: every caller keeps `data` alive and unmoved until the send's final completion.
    unsafe { mem.set(std::iter::once(data)) };
    d.push(Op::Send {
        fd,
        msg: &**mem,
        token,
    });
}

fn send_mem() -> Box<SendMem> {
    SendSlot::new_boxed()
}

#[test]
fn sends_are_partial_then_wait_for_writability_beside_a_receive() {
    let mut d = driver(8, 64);
    let (mut peer, sock) = pair();
    let fd = sock.as_raw_fd();
    let data = vec![0x5au8; 32 << 20];
    let mut mem = send_mem();
    let st = Token::new(OpKind::Send, 5);
    let rt = recv_token(5);
    d.push(Op::RecvMulti { fd, token: rt });
    push_send(&mut d, fd, &data, &mut mem, st);
    let mut out = Vec::new();
    park_until(&mut d, &mut out, has_final(st));
    let first = out.pop().unwrap().result;
    assert!(
        first > 0 && (first as usize) < data.len(),
        "partial: {first}"
    );
    // The socket buffers are full: the rest waits for writability, the receive beside it.
    let rest = &data[first as usize..];
    push_send(&mut d, fd, rest, &mut mem, st);
    d.park(Wait::Timeout(Duration::from_millis(50)), &mut out)
        .unwrap();
    assert!(out.is_empty(), "{out:?}");
    peer.write_all(b"ping").unwrap();
    park_until(&mut d, &mut out, |o| !o.is_empty());
    assert_eq!(bytes(&out), b"ping");
    assert!(out.iter().all(|c| c.token == rt));
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
    assert!(out.last().unwrap().result > 0);
    d.push(Op::Cancel { target: rt });
    park_until(&mut d, &mut out, has_final(rt));
    drop(sock);
    let (_peer, total) = reader.join().unwrap();
    assert!(total >= first as usize);
}

#[test]
fn send_to_a_reset_peer_fails_with_an_errno() {
    let mut d = driver(8, 64);
    let (peer, sock) = pair();
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    std::thread::sleep(Duration::from_millis(20));
    let data = [1u8; 1000];
    let mut mem = send_mem();
    let st = Token::new(OpKind::Send, 6);
    let mut results = Vec::new();
    for _ in 0..3 {
        push_send(&mut d, sock.as_raw_fd(), &data, &mut mem, st);
        let mut out = Vec::new();
        park_until(&mut d, &mut out, has_final(st));
        results.push(out[0].result);
    }
    assert!(
        results
            .iter()
            .any(|&r| r == -libc::EPIPE || r == -libc::ECONNRESET),
        "{results:?}"
    );
}

#[test]
fn accept_multi_reports_each_connection_nonblocking_and_cloexec() {
    let mut d = driver(8, 64);
    // A blocking listener: the driver must not block the core on it.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = Token::new(OpKind::Accept, 7);
    d.push(Op::AcceptMulti {
        fd: l.as_raw_fd(),
        token: at,
    });
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
        // SAFETY: F_GETFL/F_GETFD on an open descriptor.
        let (fl, fdfl) = unsafe {
            (
                libc::fcntl(fd.as_raw_fd(), libc::F_GETFL),
                libc::fcntl(fd.as_raw_fd(), libc::F_GETFD),
            )
        };
        assert_ne!(fl & libc::O_NONBLOCK, 0);
        assert_ne!(fdfl & libc::FD_CLOEXEC, 0);
    }
    out.clear();
    d.push(Op::Cancel { target: at });
    park_until(&mut d, &mut out, has_final(at));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].result, -libc::ECANCELED);
    drop(clients);
}

#[test]
fn a_second_reader_on_one_descriptor_is_refused_without_harm() {
    let mut d = driver(8, 64);
    let (mut peer, sock) = pair();
    let (a, b) = (recv_token(8), recv_token(9));
    d.push(Op::RecvMulti {
        fd: sock.as_raw_fd(),
        token: a,
    });
    d.push(Op::RecvMulti {
        fd: sock.as_raw_fd(),
        token: b,
    });
    let mut out = Vec::new();
    park_until(&mut d, &mut out, has_final(b));
    assert_eq!(out[0].result, -libc::EBUSY);
    out.clear();
    peer.write_all(b"still here").unwrap();
    park_until(&mut d, &mut out, |o| !o.is_empty());
    assert_eq!(bytes(&out), b"still here");
    assert!(out.iter().all(|c| c.token == a));
    d.push(Op::Cancel { target: a });
    park_until(&mut d, &mut out, has_final(a));
}

#[test]
fn bytes_and_end_of_stream_in_one_event_both_arrive() {
    let mut d = driver(8, 64);
    let (mut peer, sock) = pair();
    let t = recv_token(10);
    d.push(Op::RecvMulti {
        fd: sock.as_raw_fd(),
        token: t,
    });
    let mut out = Vec::new();
    // Registered and waiting; then data and FIN land before the next poll: one edge for both.
    d.park(Wait::Poll, &mut out).unwrap();
    peer.write_all(b"bye").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    // A short read alone would wait for an edge that never comes; the closed read side says
    // to read on to the end of stream.
    park_until(&mut d, &mut out, has_final(t));
    assert_eq!(bytes(&out), b"bye");
    assert_eq!(out.last().unwrap().result, 0);
}
