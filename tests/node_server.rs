//! The Node face's server side, ported from Node's own tests (each names the test it follows),
//! on both backends.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::{half_close_check, on_core0, secs};
use corenet::Backend;
use corenet::net::{self, Address, ListenArgs, ServerOptions, Socket};

backend_tests! {
    listen_then_address_and_listening_event(secs(30));
    server_address_families(secs(30));
    listen_twice_is_err_server_already_listen(secs(30));
    eaddrinuse_is_one_error_event_then_relisten_works(secs(30));
    listen_error_carries_address_port_syscall(secs(30));
    listen_then_close_same_tick_emits_nothing(secs(30));
    close_while_looking_up_the_host_binds_nothing(secs(30));
    listen_again_while_looking_up_keeps_the_newer_listener(secs(30));
    connection_handler_closes_the_server_through_its_socket(secs(30));
    close_waits_for_connections_on_every_core(secs(60));
    close_when_not_running_is_err_server_not_running(secs(30));
    max_connections_enforced_across_cores(secs(60));
    get_connections_sums_cores(secs(60));
    pause_on_connect_reads_nothing_until_resume(secs(30));
    pipe_listen_address_and_modes(secs(30));
    ipv6_only_refuses_ipv4(secs(30));
    echo_through_the_event_face(secs(60));
    allow_half_open_keeps_our_side_open(secs(30));
    over_long_pipe_path_is_einval(secs(30));
    unhandled_socket_error_is_logged_not_fatal(secs(30));
}

// SO_REUSEPORT (not on Windows).
#[cfg(unix)]
backend_tests! {
    exclusive_keeps_other_reuseport_sockets_out(secs(30));
}

/// An echo handler: writes back every 'data'.
fn echo_factory() -> impl Fn() -> Box<dyn FnMut(&Socket)> + Send + Sync + 'static {
    || {
        Box::new(|socket: &Socket| {
            socket.on_data(|s, chunk| {
                s.write(chunk);
            });
        })
    }
}

/// test-net-server-address.js, test-net-listening.js: address() right after listen, then
/// 'listening' with `listening == true`.
fn listen_then_address_and_listening_event(backend: Backend) {
    let rt = start(backend, builder(2));
    let (addr, listening) = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        assert!(!server.listening());
        assert_eq!(server.address(), None);
        server
            .listen(ListenArgs::port(0).host("127.0.0.1"))
            .unwrap();
        let immediate = server.address().expect("address() right after listen()");
        server.on_listening(move |s| {
            let _ = tx.send((immediate.clone(), s.listening()));
        });
    });
    assert!(listening);
    let Address::Tcp(a) = addr else {
        panic!("not TCP")
    };
    assert_eq!(a.ip().to_string(), "127.0.0.1");
    assert_ne!(a.port(), 0);
}

/// test-net-server-address.js: IPv4 and IPv6 families; no host → '::' (dual-stack).
fn server_address_families(backend: Backend) {
    let rt = start(backend, builder(1));
    let got = on_core0(&rt, |tx| {
        let v4 = net::create_server(ServerOptions::default(), echo_factory());
        v4.listen((0, "127.0.0.1")).unwrap();
        let v6 = net::create_server(ServerOptions::default(), echo_factory());
        v6.listen((0, "::1")).unwrap();
        let any = net::create_server(ServerOptions::default(), echo_factory());
        any.listen(0).unwrap();
        let fam = |s: &net::Server| s.address().unwrap();
        let _ = tx.send((fam(&v4), fam(&v6), fam(&any)));
    });
    assert_eq!(got.0.family(), Some("IPv4"));
    assert_eq!(got.1.family(), Some("IPv6"));
    assert_eq!(got.2.family(), Some("IPv6"));
    let Address::Tcp(any) = got.2 else { panic!() };
    assert_eq!(any.ip().to_string(), "::");
    // Dual-stack: IPv4 clients reach the '::' server.
    assert!(TcpStream::connect(("127.0.0.1", any.port())).is_ok());
}

/// test-net-server-call-listen-multiple-times.js: listening twice throws.
fn listen_twice_is_err_server_already_listen(backend: Backend) {
    let rt = start(backend, builder(1));
    let code = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        server.listen(0).unwrap();
        let err = server.listen(0).map(|_| ()).unwrap_err();
        let _ = tx.send(err.code().to_string());
    });
    assert_eq!(code, "ERR_SERVER_ALREADY_LISTEN");
}

/// test-net-eaddrinuse.js, test-net-server-try-ports.js: one 'error' with EADDRINUSE, then the
/// same server can listen(0).
fn eaddrinuse_is_one_error_event_then_relisten_works(backend: Backend) {
    let rt = start(backend, builder(2));
    let (errors, message, relistened) = on_core0(&rt, |tx| {
        let first = net::create_server(ServerOptions::default(), echo_factory());
        first.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(taken)) = first.address() else {
            panic!()
        };
        let second = net::create_server(ServerOptions::default(), echo_factory());
        let count = Rc::new(RefCell::new(Vec::new()));
        let tx = RefCell::new(Some(tx));
        let keep = first.clone();
        second.on_error(move |s, e| {
            count.borrow_mut().push(e.code().to_string());
            let msg = e.to_string();
            // The same object can listen again.
            s.listen((0, "127.0.0.1")).unwrap();
            let count = count.clone();
            let tx = tx.borrow_mut().take();
            let _keep = keep.clone();
            s.on_listening(move |s| {
                if let Some(tx) = &tx {
                    let _ = tx.send((count.borrow().clone(), msg.clone(), s.listening()));
                }
            });
        });
        second.listen((taken.port(), "127.0.0.1")).unwrap();
    });
    assert_eq!(errors, ["EADDRINUSE"]);
    assert!(
        message.starts_with("listen EADDRINUSE: address already in use 127.0.0.1:"),
        "{message}"
    );
    assert!(relistened);
}

/// test-net-better-error-messages-listen.js: the error carries address, port and syscall;
/// test-net-better-error-messages-listen-path.js: a path error carries the path.
fn listen_error_carries_address_port_syscall(backend: Backend) {
    let rt = start(backend, builder(1));
    let got = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        let tx2 = tx.clone();
        server.on_error(move |_, e| {
            let _ = tx2.send(Some((
                e.code().to_string(),
                e.syscall().map(String::from),
                e.address().map(String::from),
                e.port(),
            )));
        });
        server.on_listening(move |_| {
            let _ = tx.send(None);
        });
        server.listen((1, "1.1.1.1")).unwrap();
    });
    let (code, syscall, address, port) = got.expect("an 'error', not 'listening'");
    assert!(code == "EADDRNOTAVAIL" || code == "EACCES", "{code}");
    assert_eq!(syscall.as_deref(), Some("listen"));
    assert_eq!(address.as_deref(), Some("1.1.1.1"));
    assert_eq!(port, Some(1));
    let address = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        server.on_error(move |_, e| {
            let _ = tx.send(e.address().map(String::from));
        });
        server.listen(ListenArgs::path("/blah/fadfa")).unwrap();
    });
    assert_eq!(address.as_deref(), Some("/blah/fadfa"));
}

/// test-net-listen-close-server.js: listen then close in the same tick: no 'listening', no
/// 'error'; 'close' still comes.
fn listen_then_close_same_tick_emits_nothing(backend: Backend) {
    let rt = start(backend, builder(1));
    let events = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        let log = Rc::new(RefCell::new(Vec::new()));
        let (l1, l2) = (log.clone(), log.clone());
        server.on_listening(move |_| l1.borrow_mut().push("listening"));
        server.on_error(move |_, _| l2.borrow_mut().push("error"));
        server.listen(0).unwrap();
        server.close();
        server.on_close(move |_| {
            let mut l = log.borrow().clone();
            l.push("close");
            let _ = tx.send(l);
        });
    });
    assert_eq!(events, ["close"]);
}

/// test-net-server-close.js's shape (Node's handlers call `server.close()` and
/// `server.getConnections()` from 'connection'): a connection's handler, on whichever core it
/// landed, reads the server's count and address and closes it through `socket.server()`;
/// 'close' follows once that connection ends, and nothing is accepted afterwards.
fn connection_handler_closes_the_server_through_its_socket(backend: Backend) {
    let rt = start(backend, builder(2));
    let (seen_tx, seen_rx) = mpsc::channel();
    let (addr_tx, addr_rx) = mpsc::channel();
    let (close_tx, close_rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), move || {
            let seen = seen_tx.clone();
            move |socket: &Socket| {
                let handle = socket.server().expect("an accepted socket has its server");
                let _ = seen.send((handle.connections(), handle.address()));
                handle.close();
                socket.end(None);
            }
        });
        server.on_close(move |_| {
            let _ = close_tx.send("close");
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = addr_tx.send(server.address());
        // The server lives as long as the runtime.
        std::mem::forget(server);
    });
    let Some(Address::Tcp(addr)) = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap() else {
        panic!("no TCP address")
    };
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    let (count, address) = seen_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(count, 1);
    assert_eq!(address, Some(Address::Tcp(addr)));
    drop(c);
    assert_eq!(close_rx.recv_timeout(Duration::from_secs(10)), Ok("close"));
    // Every core lets go of its listening socket as its turn comes (the same after `close()`
    // on the server itself): refused soon.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).is_ok() {
        assert!(
            std::time::Instant::now() < until,
            "still accepting 5 s after close"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port that was free a moment ago (bound to 127.0.0.1:0, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Asserts for `window` that nothing accepts on 127.0.0.1:`port` (a late bind would).
fn assert_stays_refused(port: u16, window: Duration) {
    let until = std::time::Instant::now() + window;
    while std::time::Instant::now() < until {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "something listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `listen(port, "localhost")` then `close()` while the name is looked up: Node's close wins
/// (no 'listening'); the lookup finishing later must not bind the port.
fn close_while_looking_up_the_host_binds_nothing(backend: Backend) {
    let rt = start(backend, builder(1));
    let port = free_port();
    let events = on_core0(&rt, move |tx| {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        let log = Rc::new(RefCell::new(Vec::new()));
        let (l1, l2) = (log.clone(), log.clone());
        server.on_listening(move |_| l1.borrow_mut().push("listening"));
        server.on_error(move |_, _| l2.borrow_mut().push("error"));
        server.listen((port, "localhost")).unwrap();
        server.close();
        server.on_close(move |_| {
            let mut l = log.borrow().clone();
            l.push("close");
            let _ = tx.send(l);
        });
    });
    assert_eq!(events, ["close"]);
    assert_stays_refused(port, Duration::from_secs(1));
}

/// A second `listen` while the first one's host name is looked up: the newer listener stays
/// (the older lookup finishing later neither binds nor replaces it).
fn listen_again_while_looking_up_keeps_the_newer_listener(backend: Backend) {
    let rt = start(backend, builder(1));
    let port = free_port();
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        server.listen((port, "localhost")).unwrap();
        server.listen((0, "127.0.0.1")).unwrap();
        let s = server.clone();
        server.on_listening(move |_| {
            let Some(Address::Tcp(a)) = s.address() else {
                panic!("no address")
            };
            let _ = tx.send(a);
        });
        // The server lives as long as the runtime.
        std::mem::forget(server);
    });
    let newer = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_ne!(newer.port(), port);
    assert_stays_refused(port, Duration::from_secs(1));
    // Still listening where the second listen put it.
    half_close_check(newer, b"ping").unwrap();
}

/// Binds a SO_REUSEPORT socket to `addr`, as another process sharing the port would.
#[cfg(unix)]
fn reuseport_bind(addr: std::net::SocketAddr) -> std::io::Result<()> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.listen(1)
}

/// test-net-listen-exclusive-random-ports.js's intent: `exclusive: true` keeps the port to
/// this server (no SO_REUSEPORT socket can join), while it still serves on every core. The
/// default per-core SO_REUSEPORT sockets let such a socket join (documented in node-api.md).
#[cfg(unix)]
fn exclusive_keeps_other_reuseport_sockets_out(backend: Backend) {
    let rt = start(backend, builder(2));
    let listen = |exclusive: bool| {
        let (tx, rx) = mpsc::channel();
        rt.block_on(0, move || async move {
            let server = net::create_server(ServerOptions::default(), echo_factory());
            let args = ListenArgs::port(0).host("127.0.0.1").exclusive(exclusive);
            server.listen(args).unwrap();
            let Some(Address::Tcp(a)) = server.address() else {
                panic!("no address")
            };
            tx.send(a).unwrap();
            std::mem::forget(server);
        });
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    };
    let shared = listen(false);
    reuseport_bind(shared).expect("the default lets a SO_REUSEPORT socket join");
    let exclusive = listen(true);
    let err = reuseport_bind(exclusive).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE), "{err}");
    // Served, with connections handed to both cores.
    for i in 0..4u8 {
        half_close_check(exclusive, &[i]).unwrap();
    }
}

/// test-net-server-close.js: 'close' only after the last connection, on any core, has ended;
/// listening is false and address() None right away.
fn close_waits_for_connections_on_every_core(backend: Backend) {
    let rt = start(backend, builder(2));
    let (tx, rx) = mpsc::channel::<String>();
    let (addr_tx, addr_rx) = mpsc::channel();
    let tx_close = tx.clone();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!()
        };
        addr_tx.send(a).unwrap();
        // Close once told to; report the order of events.
        let s2 = server.clone();
        corenet::spawn_local(async move {
            while s2.connections() < 8 {
                corenet::sleep(Duration::from_millis(5)).await;
            }
            s2.close_with(move |s, err| {
                let _ = tx_close.send(format!(
                    "close-cb {:?} {}",
                    err.map(|e| e.code().to_string()),
                    s.listening()
                ));
            });
            let _ = tx.send(format!(
                "closing listening={} address={:?}",
                s2.listening(),
                s2.address()
            ));
        })
        .detach();
    });
    let addr = addr_rx.recv().unwrap();
    let mut clients: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in clients.iter_mut() {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
    }
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "closing listening=false address=None"
    );
    // Still open connections: no 'close' yet.
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "'close' before the connections ended"
    );
    clients.truncate(1);
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "'close' with a connection open"
    );
    drop(clients);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "close-cb None false"
    );
}

/// test-http-unix-socket.js: close() on a server that is not running gives the callback
/// ERR_SERVER_NOT_RUNNING ("Server is not running."), and 'close' is still emitted.
fn close_when_not_running_is_err_server_not_running(backend: Backend) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        let tx2 = tx.clone();
        server.on_close(move |_| {
            let _ = tx2.send(("close".to_string(), String::new()));
        });
        server.close_with(move |_, err| {
            let e = err.expect("an error");
            let _ = tx.send((e.code().to_string(), e.to_string()));
        });
    });
    let mut seen = [
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
    ];
    seen.sort();
    assert_eq!(
        seen[0],
        (
            "ERR_SERVER_NOT_RUNNING".to_string(),
            "Server is not running.".to_string()
        )
    );
    assert_eq!(seen[1].0, "close");
}

/// test-net-server-max-connections.js: with maxConnections = 10, exactly 10 'connection's;
/// the rest are closed without data — counted over both cores.
fn max_connections_enforced_across_cores(backend: Backend) {
    let rt = start(backend, builder(2));
    let (tx, rx) = mpsc::channel();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), move || {
            let counted = counted.clone();
            move |socket: &Socket| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                socket.write(b"hello");
            }
        });
        server.set_max_connections(10);
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!()
        };
        tx.send(a).unwrap();
    });
    let addr = rx.recv().unwrap();
    let mut got_hello = 0;
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 5];
        match c.read_exact(&mut b) {
            Ok(()) if &b == b"hello" => got_hello += 1,
            _ => {}
        }
        held.push(c);
    }
    assert_eq!(got_hello, 10);
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 10);
}

/// getConnections summed over the cores (test-net-server-close.js counts, with cores).
fn get_connections_sums_cores(backend: Backend) {
    let rt = start(backend, builder(2));
    let (tx, rx) = mpsc::channel();
    let (count_tx, count_rx) = mpsc::channel();
    let (ask_tx, ask_rx) = async_channel::unbounded::<()>();
    let cores_seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen = cores_seen.clone();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), move || {
            let seen = seen.clone();
            move |socket: &Socket| {
                seen.lock().unwrap().insert(socket.core());
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!()
        };
        tx.send(a).unwrap();
        corenet::spawn_local(async move {
            while ask_rx.recv().await.is_ok() {
                let count_tx = count_tx.clone();
                server.get_connections(move |_, n| {
                    let _ = count_tx.send(n.unwrap());
                });
            }
        })
        .detach();
    });
    let addr = rx.recv().unwrap();
    let mut held: Vec<TcpStream> = Vec::new();
    for _ in 0..40 {
        held.push(TcpStream::connect(addr).unwrap());
    }
    // Accepts happen asynchronously: ask until all 40 are counted.
    let mut n = 0;
    for _ in 0..200 {
        ask_tx.send_blocking(()).unwrap();
        n = count_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        if n == 40 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(n, 40);
    assert_eq!(
        cores_seen.lock().unwrap().len(),
        2,
        "connections all landed on one core"
    );
    drop(held);
    for _ in 0..200 {
        ask_tx.send_blocking(()).unwrap();
        n = count_rx.recv_timeout(Duration::from_secs(5)).unwrap();
        if n == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(n, 0, "closed connections still counted");
}

/// test-net-server-pause-on-connect.js: no 'data' until resume(); bytes_read is 0 before.
fn pause_on_connect_reads_nothing_until_resume(backend: Backend) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel();
    let (got_tx, got_rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let server =
            net::create_server(ServerOptions::default().pause_on_connect(true), move || {
                let got_tx = got_tx.clone();
                move |socket: &Socket| {
                    let got_tx = got_tx.clone();
                    socket.on_data(move |s, chunk| {
                        let _ = got_tx.send((chunk.to_vec(), s.bytes_read()));
                    });
                    let s = socket.clone();
                    corenet::spawn_local(async move {
                        corenet::sleep(Duration::from_millis(300)).await;
                        assert_eq!(s.bytes_read(), 0, "read while paused");
                        s.resume();
                    })
                    .detach();
                }
            });
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!()
        };
        tx.send(a).unwrap();
    });
    let mut c = TcpStream::connect(rx.recv().unwrap()).unwrap();
    c.write_all(b"test").unwrap();
    assert!(
        got_rx.recv_timeout(Duration::from_millis(150)).is_err(),
        "'data' while paused"
    );
    let (data, read) = got_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(data, b"test");
    assert_eq!(read, 4);
}

/// test-pipe-address.js, test-net-server-listen-path.js: address() is the path; readableAll /
/// writableAll set the mode bits; a second server on the path gets EADDRINUSE.
fn pipe_listen_address_and_modes(backend: Backend) {
    let rt = start(backend, builder(2));
    let path = std::env::temp_dir().join(format!(
        "corenet-node-pipe-{}-{backend:?}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let p = path.clone();
    let (addr, second) = on_core0(&rt, move |tx| {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        server
            .listen(ListenArgs::path(&p).readable_all(true).writable_all(true))
            .unwrap();
        let addr = server.address();
        let other = net::create_server(ServerOptions::default(), echo_factory());
        let keep = server.clone();
        other.on_error(move |_, e| {
            let _keep = &keep;
            let _ = tx.send((addr.clone(), e.to_string()));
        });
        other.listen(ListenArgs::path(&p)).unwrap();
    });
    assert_eq!(addr, Some(Address::Pipe(path.clone())));
    assert!(
        second.starts_with("listen EADDRINUSE: address already in use"),
        "{second}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o006, 0o006, "mode {mode:o}");
    }
}

/// test-net-listen-ipv6only.js: with ipv6Only, IPv4 connects are refused.
fn ipv6_only_refuses_ipv4(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        server
            .listen(ListenArgs::port(0).host("::").ipv6_only(true))
            .unwrap();
        let _ = tx.send(server.address());
    });
    let Some(Address::Tcp(a)) = addr else {
        panic!()
    };
    let err = TcpStream::connect(("127.0.0.1", a.port())).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(TcpStream::connect(("::1", a.port())).is_ok());
}

/// An echo through 'data' → write, with half-close handled as Node does (allowHalfOpen false:
/// the server ends when the client ends).
fn echo_through_the_event_face(backend: Backend) {
    let rt = start(backend, builder(2));
    let addr = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = tx.send(server.address());
    });
    let Some(Address::Tcp(a)) = addr else {
        panic!()
    };
    for i in 0..4 {
        common::echo_roundtrip(a, 300_000, i).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// test-net-allow-half-open.js: with allowHalfOpen, the peer's FIN emits 'end' and our side
/// stays writable until we end it.
fn allow_half_open_keeps_our_side_open(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default().allow_half_open(true), || {
            |socket: &Socket| {
                socket.on_end(|s| {
                    let s = s.clone();
                    corenet::spawn_local(async move {
                        corenet::sleep(Duration::from_millis(100)).await;
                        // Still writable after the peer's FIN.
                        s.write(b"late reply");
                        s.end(Some(b"!"));
                    })
                    .detach();
                });
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = tx.send(server.address());
    });
    let Some(Address::Tcp(a)) = addr else {
        panic!()
    };
    let mut c = TcpStream::connect(a).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"late reply!");
}

/// test-net-pipe-with-long-path.js (later Node): an over-long path is EINVAL, never truncated.
fn over_long_pipe_path_is_einval(backend: Backend) {
    let rt = start(backend, builder(1));
    let code = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), echo_factory());
        server.on_error(move |_, e| {
            let _ = tx.send(e.code().to_string());
        });
        server
            .listen(ListenArgs::path(std::env::temp_dir().join("x".repeat(300))))
            .unwrap();
    });
    assert_eq!(code, "EINVAL");
}

/// An 'error' without a listener is logged and the socket destroyed: no panic, the server
/// keeps serving.
fn unhandled_socket_error_is_logged_not_fatal(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                socket.end(None);
                // Write after end: ERR_STREAM_WRITE_AFTER_END, emitted with no listener.
                assert!(!socket.write(b"too late"));
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = tx.send(server.address());
    });
    let Some(Address::Tcp(a)) = addr else {
        panic!()
    };
    for _ in 0..3 {
        let mut c = TcpStream::connect(a).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        assert!(got.is_empty());
    }
}
