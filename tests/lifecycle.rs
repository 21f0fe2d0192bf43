//! Lifecycle, on both backends: Unix sockets (path and abstract), graceful shutdown with a deadline,
//! Server::close, panicking handlers, tasks spawned across cores and threads.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::backends::{builder, start};
use common::{echo_roundtrip, secs};
use corenet::{Backend, ListenOptions, Server, Socket};

backend_tests! {
    single_acceptor_hands_connections_round_robin(secs(30));
    server_close_stops_accepting(secs(30));
    runtimes_start_and_stop_promptly(secs(60));
    graceful_shutdown_drains_then_destroys_within_deadline(secs(60));
    graceful_shutdown_ends_early_when_connections_finish(secs(60));
    graceful_shutdown_ends_connections_that_watch_for_it(secs(60));
    closed_resolves_on_close_on_every_core(secs(30));
    panicking_handler_leaves_core_serving(secs(30));
    spawn_on_from_core_and_from_plain_thread(secs(30));
}

// Unix domain sockets (Windows' IPC is named pipes).
#[cfg(unix)]
backend_tests! {
    unix_path_echo_and_unlink_on_close(secs(30));
    unix_path_too_long_is_einval(secs(10));
    unix_abstract_name_echo(secs(30));
}

async fn echo(socket: Socket) {
    while let Ok(Some(chunk)) = socket.read().await {
        if socket.write_owned(chunk).await.is_err() {
            return;
        }
    }
    let _ = socket.shutdown().await;
}

/// Connects to `addr` until refused (the cores have closed their listeners), at most 2 s.
fn assert_refused_soon(addr: std::net::SocketAddr, after: &str) {
    for _ in 0..200 {
        if TcpStream::connect(addr).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let ss = std::process::Command::new("ss")
        .args(["-ltnpe", &format!("sport = :{}", addr.port())])
        .output();
    let ss = ss
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    panic!("still accepting 2 s after {after}:\n{ss}");
}

#[cfg(unix)]
fn unix_roundtrip(mut s: UnixStream, payload: &[u8]) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(payload).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert_eq!(back, payload);
}

#[cfg(unix)]
fn unix_path_echo_and_unlink_on_close(backend: Backend) {
    let rt = start(backend, builder(2));
    let dir = std::env::temp_dir().join(format!("corenet-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    let server = Server::bind_unix(&rt.handle(), &path).unwrap();
    server.serve(echo);
    assert_eq!(server.unix_path(), Some(path.as_path()));
    // Taken path: EADDRINUSE.
    let err = Server::bind_unix(&rt.handle(), &path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    for i in 0..20 {
        unix_roundtrip(UnixStream::connect(&path).unwrap(), &vec![i as u8; 100_000]);
    }
    server.close();
    assert!(!path.exists(), "the socket file was not unlinked on close");
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(unix)]
fn unix_abstract_name_echo(backend: Backend) {
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        let rt = start(backend, builder(1));
        let name = format!("corenet-test-{}-abstract", std::process::id());
        let server = Server::bind_unix(&rt.handle(), format!("\0{name}")).unwrap();
        server.serve(echo);
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        unix_roundtrip(UnixStream::connect_addr(&addr).unwrap(), b"abstract hello");
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("skipped on {backend:?}: abstract socket names are Linux-only");
}

#[cfg(unix)]
fn unix_path_too_long_is_einval(backend: Backend) {
    let rt = start(backend, builder(1));
    let long = std::env::temp_dir().join("x".repeat(200));
    let err = Server::bind_unix(&rt.handle(), &long).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
}

fn graceful_shutdown_drains_then_destroys_within_deadline(backend: Backend) {
    let rt = start(backend, builder(2));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(echo);
    let addr = server.local_addr();
    // Idle connections on both cores (none of them will ever finish by itself)...
    let idle: Vec<TcpStream> = (0..16).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // ...and one that is mid-conversation.
    let mut busy = TcpStream::connect(addr).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    busy.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    busy.read_exact(&mut b).unwrap();
    let started = Instant::now();
    let handle = rt.handle();
    let shutdown = std::thread::spawn(move || rt.shutdown_graceful(Duration::from_secs(2)));
    // Accepting stops at once (within the time the cores take to see the request)...
    assert_refused_soon(addr, "shutdown_graceful");
    // ...while open connections keep being served until the deadline.
    busy.write_all(b"pong").unwrap();
    busy.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"pong");
    shutdown.join().unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) - Duration::from_millis(50),
        "returned before the deadline: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "graceful shutdown took {took:?}"
    );
    // The connections still open at the deadline were destroyed: reads see EOF or reset.
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1];
        match s.read(&mut buf) {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("read {n} bytes from a destroyed connection"),
        }
    }
    drop(handle);
}

fn graceful_shutdown_ends_early_when_connections_finish(backend: Backend) {
    let rt = start(backend, builder(2));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(echo);
    echo_roundtrip(server.local_addr(), 10_000, 1).unwrap();
    let started = Instant::now();
    rt.shutdown_graceful(Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited for a deadline with no connection open"
    );
}

/// A handler that ends its connection once the server closes (as hyper's graceful shutdown
/// ends an idle keep-alive connection): a graceful shutdown with a long grace period ends as
/// soon as they are gone, not at its deadline.
fn graceful_shutdown_ends_connections_that_watch_for_it(backend: Backend) {
    let rt = start(backend, builder(2));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let watched = server.clone();
    server.serve(move |socket: Socket| {
        let server = watched.clone();
        async move {
            // An idle connection: nothing comes, nothing is sent until the server closes.
            server.closed().await;
            let _ = socket.write(b"bye").await;
            let _ = socket.shutdown().await;
        }
    });
    let mut idle = TcpStream::connect(server.local_addr()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Accepted, and its handler waiting (the server counts it).
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.stats().iter().map(|s| s.connections_open).sum::<u64>() == 0 {
        assert!(Instant::now() < deadline, "never accepted");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(server);
    let started = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        idle.read_to_end(&mut got).map(|_| got)
    });
    rt.shutdown_graceful(Duration::from_secs(30));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the shutdown waited for its deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(reader.join().unwrap().unwrap(), b"bye");
}

/// `closed()` resolves on every core once the server closes, and at once when it already is.
fn closed_resolves_on_close_on_every_core(backend: Backend) {
    let rt = start(backend, builder(2));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|core| {
            let s = server.clone();
            rt.spawn_on(core, move || async move { s.closed().await })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!server.is_closed());
    server.close();
    for w in waiters {
        w.join().unwrap();
    }
    let s = server.clone();
    rt.block_on(1, move || async move { s.closed().await });
}

fn server_close_stops_accepting(backend: Backend) {
    let rt = start(backend, builder(2));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(echo);
    let addr = server.local_addr();
    let mut open = TcpStream::connect(addr).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A round trip makes sure it was accepted (one still in the backlog is reset by close).
    let mut b = [0u8; 3];
    open.write_all(b"xyz").unwrap();
    open.read_exact(&mut b).unwrap();
    server.close();
    assert!(server.is_closed());
    assert_refused_soon(addr, "close");
    // The connection accepted before close is still served.
    open.write_all(b"abc").unwrap();
    open.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"abc");
    // accept() on a closed server is an error, not a hang.
    let s2 = server.clone();
    let err = rt.block_on(0, move || async move {
        s2.accept().await.map(|_| ()).unwrap_err().kind()
    });
    assert_eq!(err, std::io::ErrorKind::NotConnected);
    // The port can be bound again.
    let again = Server::bind(&rt.handle(), addr).unwrap();
    again.serve(echo);
    echo_roundtrip(addr, 1000, 2).unwrap();
}

fn panicking_handler_leaves_core_serving(backend: Backend) {
    let rt = start(backend, builder(1));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(|socket| async move {
        while let Ok(Some(chunk)) = socket.read().await {
            if &chunk[..] == b"panic" {
                panic!("handler asked to panic");
            }
            if socket.write_owned(chunk).await.is_err() {
                return;
            }
        }
    });
    let addr = server.local_addr();
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"panic").unwrap();
        // Its connection is destroyed: EOF or reset, not a hang.
        let mut buf = [0u8; 16];
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    }
    echo_roundtrip(addr, 100_000, 5).unwrap();
}

fn spawn_on_from_core_and_from_plain_thread(backend: Backend) {
    let rt = start(backend, builder(2));
    // From a plain thread.
    let h = rt.handle();
    let from_thread = std::thread::spawn(move || {
        h.spawn_on(1, || async { corenet::current_core() })
            .join()
            .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(from_thread, Some(1));
    // From core 0, awaited there.
    let h = rt.handle();
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let there = h
            .spawn_on(1, || async { corenet::current_core() })
            .await
            .unwrap();
        tx.send((corenet::current_core(), there)).unwrap();
    });
    assert_eq!(rx.recv().unwrap(), (Some(0), Some(1)));
    if backend == Backend::IoUring {
        // Core 0 woke core 1 through its ring (MSG_RING), not an eventfd write.
        assert!(rt.stats()[0].ring_wakes > 0, "{:?}", rt.stats());
    }
    // A panicking task reports a JoinError, and the core lives on.
    let joined = rt.spawn_on(1, || async { panic!("boom") }).join();
    assert!(joined.is_err(), "a panicking task reported success");
    assert_eq!(rt.block_on(1, || async { 5 }), 5);
}

fn runtimes_start_and_stop_promptly(backend: Backend) {
    let started = Instant::now();
    for _ in 0..50 {
        drop(start(backend, builder(2)));
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "50 runtimes took {:?}",
        started.elapsed()
    );
}

fn single_acceptor_hands_connections_round_robin(backend: Backend) {
    let rt = start(backend, builder(2));
    let options = ListenOptions::default().single_acceptor(true);
    let server = Server::bind_with(&rt.handle(), "127.0.0.1:0".parse().unwrap(), options).unwrap();
    // "?" asks which core the connection is on; anything else is echoed.
    server.serve(|socket| async move {
        while let Ok(Some(chunk)) = socket.read().await {
            let r = if &chunk[..] == b"?" {
                socket.write(&[socket.core() as u8]).await
            } else {
                socket.write_owned(chunk).await
            };
            if r.is_err() {
                return;
            }
        }
        let _ = socket.shutdown().await;
    });
    let addr = server.local_addr();
    let mut cores = Vec::new();
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"?").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        cores.push(b[0]);
        held.push(s);
    }
    // Strict alternation: one acceptor, handing out in turn.
    assert_eq!(cores, [0, 1, 0, 1, 0, 1, 0, 1], "not round-robin");
    echo_roundtrip(addr, 200_000, 9).unwrap_or_else(|e| panic!("{e}"));
    drop(held);
    // Unix sockets too.
    #[cfg(unix)]
    single_acceptor_unix(backend, &rt, options);
    server.close();
    assert_refused_soon(addr, "close");
}

#[cfg(unix)]
fn single_acceptor_unix(backend: Backend, rt: &corenet::Runtime, options: ListenOptions) {
    let path = std::env::temp_dir().join(format!(
        "corenet-single-{}-{backend:?}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let unix = Server::bind_unix_with(&rt.handle(), &path, options).unwrap();
    unix.serve(echo);
    for i in 0..4 {
        unix_roundtrip(UnixStream::connect(&path).unwrap(), &[i; 1000]);
    }
    unix.close();
}
