//! Adopting sockets made elsewhere, on both backends: a listening socket served on every core
//! (the async face's `Server::from_std`, the Node face's `server.listen(handle)`), and a
//! connected stream as a socket (`Socket::from_std`, Node's `new net.Socket({ fd })`). Each
//! Node-face test names the Node test it follows.

mod common;

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::backends::{builder, start};
use common::{half_close_check, secs};
use corenet::net::{self, Address, ListenArgs, ServerOptions, Socket, SocketOptions};
use corenet::{Backend, OwnedSock, Runtime, Server};

backend_tests! {
    engine_from_std_serves_every_core_then_closes(secs(60));
    engine_from_std_refuses_a_socket_that_does_not_listen(secs(30));
    engine_socket_from_std_reads_and_writes(secs(30));
    listen_handle_tcp_serves_every_core_then_closes(secs(60));
    listen_handle_that_does_not_listen_is_an_error_event(secs(30));
    socket_from_connected_tcp_stream_has_events_both_ways(secs(30));
    socket_from_a_socket_that_is_not_connected_is_an_error(secs(30));
}

#[cfg(unix)]
backend_tests! {
    listen_handle_unix_serves_every_core_and_leaves_the_file(secs(60));
    socket_from_unix_stream_has_events_both_ways(secs(30));
}

const CORES: usize = 2;

/// What the test waits for at most for one event.
const EVENT: Duration = Duration::from_secs(10);

/// A listening TCP socket on loopback, made by `std`.
fn std_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A connected pair: (the client end, made by `std`; the accepted peer end).
fn std_pair() -> (TcpStream, TcpStream) {
    let (l, addr) = std_listener();
    let client = TcpStream::connect(addr).unwrap();
    let (peer, _) = l.accept().unwrap();
    peer.set_read_timeout(Some(EVENT)).unwrap();
    (client, peer)
}

/// Connects until refused: the listening socket is closed (a close reaches the accepting core
/// through its mailbox, so it lands shortly after `close` returns). Panics after 5 s.
fn wait_refused(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return,
            other => assert!(
                Instant::now() < deadline,
                "{addr} still accepts 5 s after close: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An echo connection handler for the Node face that reports the core it runs on.
fn echo_reporting_cores(
    cores: mpsc::Sender<usize>,
) -> impl Fn() -> Box<dyn FnMut(&Socket)> + Send + Sync + 'static {
    move || {
        let cores = cores.clone();
        Box::new(move |socket: &Socket| {
            let _ = cores.send(corenet::current_core().expect("on a core"));
            socket.on_data(|s, chunk| {
                s.write(chunk);
            });
        })
    }
}

/// The cores of `n` connections reported on `rx`.
fn cores_of(rx: &mpsc::Receiver<usize>, n: usize) -> BTreeSet<usize> {
    (0..n)
        .map(|_| rx.recv_timeout(EVENT).expect("a connection was handled"))
        .collect()
}

/// `Server::from_std` on a std listener: every core serves connections (one core accepts and
/// hands them out in turn, so 2 × cores sequential connections reach each core); after
/// `close` the socket is closed and `closed()` resolves.
fn engine_from_std_serves_every_core_then_closes(backend: Backend) {
    let rt = start(backend, builder(CORES));
    let (l, addr) = std_listener();
    let server = Server::from_std(&rt.handle(), l).unwrap();
    assert_eq!(server.local_addr(), addr);
    let (tx, rx) = mpsc::channel();
    server.serve(move |socket| {
        let _ = tx.send(corenet::current_core().expect("on a core"));
        async move {
            while let Ok(Some(chunk)) = socket.read().await {
                if socket.write_owned(chunk).await.is_err() {
                    return;
                }
            }
            let _ = socket.shutdown().await;
        }
    });
    for i in 0..2 * CORES {
        half_close_check(addr, format!("adopted {i}").as_bytes()).unwrap();
    }
    assert_eq!(
        cores_of(&rx, 2 * CORES),
        (0..CORES).collect::<BTreeSet<_>>()
    );
    let closed = server.clone();
    server.close();
    rt.block_on(1, move || async move { closed.closed().await });
    wait_refused(addr);
}

/// A connected stream, a bound socket that never listened, and a datagram socket are no
/// listeners: EINVAL, as `listen(2)` says of the first.
fn engine_from_std_refuses_a_socket_that_does_not_listen(backend: Backend) {
    let rt = start(backend, builder(CORES));
    let (client, _peer) = std_pair();
    let bound = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    bound
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for (what, sock) in [
        ("connected", OwnedSock::from(client)),
        ("bound", OwnedSock::from(bound)),
        ("udp", OwnedSock::from(udp)),
    ] {
        let err = Server::from_std(&rt.handle(), sock).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{what}: {err}");
    }
    #[cfg(unix)]
    {
        let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        let err = Server::from_std(&rt.handle(), std::os::fd::OwnedFd::from(file)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTSOCK), "{err}");
    }
}

/// `Socket::from_std` on a connected std stream: it writes, reads, half-closes, and sees the
/// peer's FIN.
fn engine_socket_from_std_reads_and_writes(backend: Backend) {
    let rt = start(backend, builder(1));
    let (client, mut peer) = std_pair();
    let peer_addr = peer.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let task = std::thread::spawn(move || {
        rt.block_on(0, move || async move {
            let socket = corenet::Socket::from_std(client).unwrap();
            assert_eq!(socket.peer_addr().unwrap(), peer_addr);
            socket.write(b"ping").await.unwrap();
            socket.shutdown().await.unwrap();
            let mut got = Vec::new();
            while let Some(chunk) = socket.read().await.unwrap() {
                got.extend_from_slice(&chunk);
            }
            let _ = tx.send(got);
        });
    });
    let mut b = Vec::new();
    peer.read_to_end(&mut b).unwrap();
    assert_eq!(b, b"ping");
    peer.write_all(b"pong").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    assert_eq!(rx.recv_timeout(EVENT).unwrap(), b"pong");
    task.join().unwrap();
}

/// test-net-server-listen-handle.js: `listen(handle)` with a listening TCP socket made
/// elsewhere: 'listening', address() is the socket's, every core serves connections, and
/// close() closes the socket ('close', then connections are refused).
fn listen_handle_tcp_serves_every_core_then_closes(backend: Backend) {
    let rt = start(backend, builder(CORES));
    let (l, addr) = std_listener();
    let (core_tx, core_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), echo_reporting_cores(core_tx));
        let closed = tx.clone();
        server.on_close(move |_| {
            let _ = closed.send(None);
        });
        server.on_listening(move |s| {
            let _ = tx.send(Some((s.address(), s.handle())));
        });
        // A std listener converts into ListenArgs: listen(handle).
        server.listen(l).unwrap();
    });
    let (address, handle) = rx.recv_timeout(EVENT).unwrap().expect("'listening'");
    assert_eq!(address, Some(Address::Tcp(addr)));
    for i in 0..2 * CORES {
        half_close_check(addr, format!("handle {i}").as_bytes()).unwrap();
    }
    assert_eq!(
        cores_of(&core_rx, 2 * CORES),
        (0..CORES).collect::<BTreeSet<_>>()
    );
    handle.close();
    assert!(rx.recv_timeout(EVENT).unwrap().is_none(), "'close'");
    assert_eq!(handle.address(), None);
    wait_refused(addr);
}

/// test-net-server-listen-handle.js with a pipe: a std UnixListener served on every core;
/// after close the socket is closed but its file, not the server's, stays.
#[cfg(unix)]
fn listen_handle_unix_serves_every_core_and_leaves_the_file(backend: Backend) {
    use std::os::unix::net::{UnixListener, UnixStream};
    let rt = start(backend, builder(CORES));
    let path = std::env::temp_dir().join(format!(
        "corenet-adopt-{}-{backend:?}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let l = UnixListener::bind(&path).unwrap();
    let (core_tx, core_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), echo_reporting_cores(core_tx));
        let closed = tx.clone();
        server.on_close(move |_| {
            let _ = closed.send(None);
        });
        server.on_listening(move |s| {
            let _ = tx.send(Some((s.address(), s.handle())));
        });
        server.listen(ListenArgs::handle(l)).unwrap();
    });
    let (address, handle) = rx.recv_timeout(EVENT).unwrap().expect("'listening'");
    assert_eq!(address, Some(Address::Pipe(path.clone())));
    for i in 0..2 * CORES {
        let mut c = UnixStream::connect(&path).unwrap();
        c.set_read_timeout(Some(EVENT)).unwrap();
        let msg = format!("pipe {i}");
        c.write_all(msg.as_bytes()).unwrap();
        let mut b = vec![0; msg.len()];
        c.read_exact(&mut b).unwrap();
        assert_eq!(b, msg.as_bytes());
    }
    assert_eq!(
        cores_of(&core_rx, 2 * CORES),
        (0..CORES).collect::<BTreeSet<_>>()
    );
    handle.close();
    assert!(rx.recv_timeout(EVENT).unwrap().is_none(), "'close'");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match UnixStream::connect(&path) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => break,
            other => assert!(
                Instant::now() < deadline,
                "still accepting 5 s after close: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(path.exists(), "an adopted socket's file is left in place");
    std::fs::remove_file(&path).unwrap();
}

/// test-net-listen-fd0.js: `listen({ fd })` on what is no listening socket is one 'error'
/// (EINVAL, or ENOTSOCK for no socket at all; Node's test takes either), never 'listening'.
fn listen_handle_that_does_not_listen_is_an_error_event(backend: Backend) {
    let rt = start(backend, builder(1));
    let (client, _peer) = std_pair();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let cases = vec![
        ("connected", OwnedSock::from(client), "EINVAL"),
        ("udp", OwnedSock::from(udp), "EINVAL"),
    ];
    #[cfg(unix)]
    let cases = {
        let mut cases = cases;
        let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
        cases.push(("file", std::os::fd::OwnedFd::from(file), "ENOTSOCK"));
        cases
    };
    for (what, sock, want) in cases {
        let (tx, rx) = mpsc::channel();
        rt.block_on(0, move || async move {
            let server = net::create_server(ServerOptions::default(), || |_: &Socket| {});
            let errors = tx.clone();
            server.on_error(move |s, e| {
                let _ = errors.send((
                    e.code().to_string(),
                    e.syscall().map(String::from),
                    s.listening(),
                ));
            });
            server.on_listening(move |_| {
                let _ = tx.send(("listening".into(), None, true));
            });
            server.listen(ListenArgs::handle(sock)).unwrap();
        });
        let (code, syscall, listening) = rx.recv_timeout(EVENT).unwrap();
        assert_eq!(code, want, "{what}");
        assert_eq!(syscall.as_deref(), Some("listen"), "{what}");
        assert!(!listening, "{what}");
    }
}

/// The Node-face events of a socket adopted from `stream` whose other end is `peer`: it
/// writes "hello"; the peer answers "world" and half-closes; 'data', 'end', our FIN
/// (allowHalfOpen false), 'close(false)'.
fn events_both_ways<P: Read + Write + Send + 'static>(
    rt: &Runtime,
    stream: OwnedSock,
    remote: Option<SocketAddr>,
    mut peer: P,
    shutdown_peer: impl FnOnce(&P),
) {
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let socket = Socket::from_std(stream, SocketOptions::default()).unwrap();
        // Open at once: no 'connect' to wait for.
        assert!(!socket.pending());
        assert_eq!(socket.ready_state(), "open");
        assert_eq!(socket.remote_address(), remote);
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
        let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
        socket.on_data(move |_, chunk| {
            l1.borrow_mut()
                .push(format!("data {}", String::from_utf8_lossy(chunk)));
        });
        socket.on_end(move |_| l2.borrow_mut().push("end".into()));
        socket.on_finish(move |_| l3.borrow_mut().push("finish".into()));
        socket.on_close(move |_, had_error| {
            log.borrow_mut().push(format!("close {had_error}"));
            let _ = tx.send(log.borrow().clone());
        });
        socket.write(b"hello");
    });
    let mut b = [0u8; 5];
    peer.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"hello");
    peer.write_all(b"world").unwrap();
    shutdown_peer(&peer);
    // Our FIN follows theirs: the peer reads to the end.
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    let log = rx.recv_timeout(EVENT).expect("'close'");
    assert_eq!(log, ["data world", "end", "finish", "close false"]);
}

/// test-net-socket-constructor.js, test-net-connect-options-fd.js: `new net.Socket({ fd })`
/// on a connected TCP socket: open at once, the remote address is the peer's, and events and
/// writes flow both ways.
fn socket_from_connected_tcp_stream_has_events_both_ways(backend: Backend) {
    let rt = start(backend, builder(1));
    let (client, peer) = std_pair();
    let peer_addr = peer.local_addr().unwrap();
    events_both_ways(&rt, OwnedSock::from(client), Some(peer_addr), peer, |p| {
        p.shutdown(Shutdown::Write).unwrap()
    });
}

/// test-net-connect-options-fd.js with a pipe: a connected Unix stream (one end of a pair).
#[cfg(unix)]
fn socket_from_unix_stream_has_events_both_ways(backend: Backend) {
    use std::os::unix::net::UnixStream;
    let rt = start(backend, builder(1));
    let (ours, peer) = UnixStream::pair().unwrap();
    peer.set_read_timeout(Some(EVENT)).unwrap();
    events_both_ways(&rt, OwnedSock::from(ours), None, peer, |p| {
        p.shutdown(Shutdown::Write).unwrap()
    });
}

/// A listening socket and a socket that never connected are no connections: ENOTCONN or
/// EINVAL with syscall `open` (Node: `new net.Socket({ fd })` throws the `open` error).
fn socket_from_a_socket_that_is_not_connected_is_an_error(backend: Backend) {
    let rt = start(backend, builder(1));
    let (l, _) = std_listener();
    let fresh = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let codes = rt.block_on(0, move || async move {
        [OwnedSock::from(l), OwnedSock::from(fresh)].map(|sock| {
            let err = Socket::from_std(sock, SocketOptions::default()).unwrap_err();
            (err.code(), err.syscall())
        })
    });
    assert_eq!(
        codes,
        [("EINVAL", Some("open")), ("ENOTCONN", Some("open"))]
    );
}
