//! Client connect on the current core, on both backends: refused → ECONNREFUSED; echo over
//! IPv4, IPv6, a Unix path and an abstract name; host names resolved off the core; a connect
//! dropped in flight; a long Unix stream queued with its EOF before the first read.

mod common;

use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::{Backend, Runtime, Server, Socket, TcpConnector};

backend_tests! {
    connect_refused_is_econnrefused(secs(30));
    connect_and_echo_ipv4_ipv6(secs(30));
    connect_by_host_name(secs(30));
    connect_dropped_in_flight_leaves_nothing_behind(secs(30));
    connect_from_a_chosen_local_address(secs(30));
}

// Unix domain sockets (Windows' IPC is named pipes).
#[cfg(unix)]
backend_tests! {
    connect_and_echo_unix_path_and_abstract(secs(30));
    unix_eof_after_a_long_stream_queued_before_the_first_read(secs(30));
    unix_eof_after_thousands_of_small_receives(secs(30));
}

async fn echo(socket: Socket) {
    while let Ok(Some(chunk)) = socket.read().await {
        if socket.write_owned(chunk).await.is_err() {
            return;
        }
    }
    let _ = socket.shutdown().await;
}

/// From a core: connect with `connect`, send `n` bytes, half-close, read them all back.
fn client_roundtrip<F, Fut>(rt: &Runtime, core: usize, n: usize, connect: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<Socket>> + 'static,
{
    let got = rt.block_on(core, move || async move {
        let socket = connect().await.expect("connect");
        let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
        socket.write(&data).await.unwrap();
        socket.shutdown().await.unwrap();
        let mut back = Vec::new();
        while let Some(c) = socket.read().await.unwrap() {
            back.extend_from_slice(&c);
        }
        back == data
    });
    assert!(got, "echoed bytes differ");
}

/// `TcpConnector`: the connection leaves from the bound address and port; binding a taken
/// port fails at bind time with EADDRINUSE, before any connect.
fn connect_from_a_chosen_local_address(backend: Backend) {
    let rt = start(backend, builder(1));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(echo);
    let addr = server.local_addr();
    client_roundtrip(&rt, 0, 70_000, move || async move {
        TcpConnector::bind("127.0.0.2:0".parse().unwrap())?
            .connect(addr)
            .await
    });
    let (bound, local, peer) = rt.block_on(0, move || async move {
        let connector = TcpConnector::bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let bound = connector.local_addr().unwrap();
        let s = connector.connect(addr).await.unwrap();
        (bound, s.local_addr().unwrap(), s.peer_addr().unwrap())
    });
    assert_eq!(bound, local);
    assert_eq!(local.ip().to_string(), "127.0.0.2");
    assert_ne!(local.port(), 0);
    assert_eq!(peer, addr);
    // The port the server listens on is taken: bind says so.
    let taken = TcpConnector::bind(addr).unwrap_err();
    assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
}

fn connect_refused_is_econnrefused(backend: Backend) {
    let rt = start(backend, builder(1));
    // A port that was just free: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = rt.block_on(0, move || async move {
        Socket::connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .map(|_| ())
            .unwrap_err()
    });
    // ECONNREFUSED on Unix, WSAECONNREFUSED on Windows.
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    #[cfg(unix)]
    {
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
        let err = rt.block_on(0, || async {
            Socket::connect_unix("/nonexistent/corenet.sock")
                .await
                .map(|_| ())
                .unwrap_err()
        });
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    }
}

fn connect_and_echo_ipv4_ipv6(backend: Backend) {
    let rt = start(backend, builder(2));
    for host in ["127.0.0.1:0", "[::1]:0"] {
        let server = Server::bind(&rt.handle(), host.parse().unwrap()).unwrap();
        server.serve(echo);
        let addr = server.local_addr();
        for core in 0..2 {
            client_roundtrip(&rt, core, 300_000, move || Socket::connect(addr));
        }
        // Addresses as seen from the client.
        let (local, peer) = rt.block_on(0, move || async move {
            let s = Socket::connect(addr).await.unwrap();
            (s.local_addr().unwrap(), s.peer_addr().unwrap())
        });
        assert_eq!(peer, addr);
        assert_eq!(local.ip(), addr.ip());
    }
}

#[cfg(unix)]
fn connect_and_echo_unix_path_and_abstract(backend: Backend) {
    let rt = start(backend, builder(2));
    let dir = std::env::temp_dir().join(format!(
        "corenet-connect-{}-{backend:?}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let _ = std::fs::remove_file(&path);
    let server = Server::bind_unix(&rt.handle(), &path).unwrap();
    server.serve(echo);
    let p = path.clone();
    client_roundtrip(&rt, 1, 200_000, move || Socket::connect_unix(p));
    #[cfg(target_os = "linux")]
    {
        let name = format!("\0corenet-connect-{}-{backend:?}", std::process::id());
        let abstract_server = Server::bind_unix(&rt.handle(), &name).unwrap();
        abstract_server.serve(echo);
        client_roundtrip(&rt, 0, 50_000, move || Socket::connect_unix(name));
    }
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

/// A Unix stream whose peer wrote 40 receive buffers' worth and closed before the first read:
/// every byte arrives, then the end of the stream. (On Linux 6.18 a multishot receive drains
/// such a queue and then waits forever for the EOF; see `Hangup` in the reactor.)
#[cfg(unix)]
fn unix_eof_after_a_long_stream_queued_before_the_first_read(backend: Backend) {
    queued_unix_stream_then_eof(backend, builder(1), 40 * 4096);
}

/// The same with 8-byte receive buffers: the stream takes far more than the 32 back-to-back
/// receives after which the kernel requeues a multishot receive (a bundle fills at most 256
/// buffers), the case in which a multishot receive on Linux 6.18 misses the EOF. Hangs with
/// a plain multishot receive, and with the hang-up watch if the watch does not cancel it.
#[cfg(unix)]
fn unix_eof_after_thousands_of_small_receives(backend: Backend) {
    let b = builder(1).buffer_size(8).buffer_count(32768);
    queued_unix_stream_then_eof(backend, b, 150 * 1024);
}

/// A peer writes `len` bytes to a Unix stream and closes before the first read; the reader
/// gets every byte, then the end of the stream.
#[cfg(unix)]
fn queued_unix_stream_then_eof(backend: Backend, b: corenet::Builder, len: usize) {
    use std::io::Write;
    let rt = start(backend, b);
    let dir = std::env::temp_dir().join(format!(
        "corenet-queued-eof-{}-{backend:?}-{len}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let server = Server::bind_unix(&rt.handle(), &path).unwrap();
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let (closed_tx, closed_rx) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut peer = std::os::unix::net::UnixStream::connect(&path).unwrap();
        peer.write_all(&sent).unwrap();
        drop(peer);
        closed_tx.send(()).unwrap();
    });
    let back = rt.block_on(0, move || async move {
        let socket = server.accept().await.unwrap();
        // The first read comes after the peer has written everything and closed.
        while closed_rx.try_recv().is_err() {
            corenet::sleep(Duration::from_millis(2)).await;
        }
        let mut back = Vec::new();
        while let Some(chunk) = socket.read().await.unwrap() {
            back.extend_from_slice(&chunk);
        }
        back
    });
    writer.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "received bytes differ");
    std::fs::remove_dir_all(&dir).ok();
}

fn connect_by_host_name(backend: Backend) {
    let rt = start(backend, builder(1));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(echo);
    let port = server.local_addr().port();
    client_roundtrip(&rt, 0, 1000, move || async move {
        Socket::connect_host("localhost", port).await
    });
    let err = rt.block_on(0, || async {
        Socket::connect_host("no-such-host.invalid", 80)
            .await
            .map(|_| ())
            .unwrap_err()
    });
    assert_ne!(
        err.raw_os_error(),
        Some(libc::ECONNREFUSED),
        "lookup failure reported as refusal: {err}"
    );
}

fn connect_dropped_in_flight_leaves_nothing_behind(backend: Backend) {
    let rt = start(backend, builder(1));
    // A listener whose backlog is full never completes further connects quickly; dropping
    // the connect future must cancel it and close the socket.
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let outcome = rt.block_on(0, move || async move {
        let mut results = Vec::new();
        for _ in 0..8 {
            results.push(
                corenet::timeout(Duration::from_millis(50), Socket::connect(addr))
                    .await
                    .is_ok(),
            );
        }
        results
    });
    // Whatever completed or timed out, the core is healthy and nothing hangs.
    assert_eq!(outcome.len(), 8);
    assert_eq!(rt.block_on(0, || async { 1 }), 1);
    drop(listener);
}
