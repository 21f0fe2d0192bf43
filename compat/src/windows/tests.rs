//! The backend contract on Windows, walked on one driver over loopback TCP (run under Wine by
//! scripts/test-windows.sh): chunks then end of stream, ENOBUFS without loss, cancels,
//! partial sends and waiting for writability, accepts, a refused connect.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::windows::io::AsRawSocket;
use std::time::Duration;

use corenet_engine::driver::{BufPool, Op, OpKind, SendSlot, Wait};

use super::*;
use crate::readiness::Readiness;
use crate::readiness::testing::{self, has_final, park_until};

/// The driver under test: the readiness loop over this platform.
type CompatDriver = Readiness<Windows>;

fn driver(count: u16, size: u32) -> CompatDriver {
    CompatDriver::with_events(256, BufPool::new(count, size).unwrap()).unwrap()
}

/// A connected pair: (the peer, the nonblocking socket the driver works on).
fn pair() -> (TcpStream, TcpStream) {
    let (client, server) = testing::pair();
    server.set_nonblocking(true).unwrap();
    (client, server)
}

/// The handle the driver works on.
fn raw(sock: &TcpStream) -> RawSocket {
    sock.as_raw_socket()
}

testing::shared_contract_tests!(ENOBUFS_CODE);

/// `WSAENOBUFS`, the engine's ENOBUFS on Windows.
const ENOBUFS_CODE: i32 = 10055;

#[test]
fn cancel_ends_an_idle_receive() {
    let mut d = driver(8, 64);
    let (_peer, sock) = pair();
    let t = Token::new(OpKind::Recv, 3);
    d.push(Op::RecvMulti {
        fd: sock.as_raw_socket(),
        token: t,
    });
    let mut out = Vec::new();
    d.park(Wait::Poll, &mut out).unwrap();
    d.push(Op::Cancel { target: t });
    park_until(&mut d, &mut out, has_final(t));
    assert_eq!(out[0].result, -Windows::ECANCELED);
    assert_eq!(d.descriptors(), 0);
}

#[test]
fn accepts_then_partial_send_waits_for_writability() {
    let mut d = driver(8, 64);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let at = Token::new(OpKind::Accept, 4);
    d.push(Op::AcceptMulti {
        fd: l.as_raw_socket(),
        token: at,
    });
    let mut peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let mut out = Vec::new();
    park_until(&mut d, &mut out, |o| o.iter().any(|c| c.token == at));
    let accepted = out.iter().find(|c| c.token == at).unwrap().result;
    assert!(accepted >= 0, "{out:?}");
    // SAFETY: the accept handed us this socket; nobody else owns it.
    let sock = unsafe {
        <TcpStream as std::os::windows::io::FromRawSocket>::from_raw_socket(accepted as u64)
    };
    d.push(Op::Cancel { target: at });
    park_until(&mut d, &mut out, has_final(at));
    // 32 MiB fills the socket buffers: the first send is partial.
    let data = vec![0x5au8; 32 << 20];
    let mut slot = SendSlot::new_boxed();
    let st = Token::new(OpKind::Send, 4);
    let mut sent = 0;
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        while total < 32 << 20 {
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    });
    while sent < data.len() {
        // SAFETY: `data` outlives the send's final completion, awaited below.
        unsafe { slot.set(std::iter::once(&data[sent..])) };
        d.push(Op::Send {
            fd: sock.as_raw_socket(),
            msg: &*slot,
            token: st,
        });
        let mut out = Vec::new();
        park_until(&mut d, &mut out, has_final(st));
        let r = out.last().unwrap().result;
        assert!(r > 0, "send: {r}");
        sent += r as usize;
    }
    assert_eq!(reader.join().unwrap(), 32 << 20);
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let mut d = driver(8, 64);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_nonblocking(true).unwrap();
    let addr = Box::new(socket2::SockAddr::from(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        port,
    ))));
    let t = Token::new(OpKind::Connect, 5);
    d.push(Op::Connect {
        fd: socket.as_raw_socket(),
        addr: &*addr,
        token: t,
    });
    let mut out = Vec::new();
    park_until(&mut d, &mut out, has_final(t));
    assert_eq!(out[0].result, -10061, "WSAECONNREFUSED: {out:?}");
}
