//! Node's tests of listen-port validation, maxConnections, timeouts, keep-alive, local
//! addresses, scale, pausing, `isIP` and `resetAndDestroy` (catalogue sections E–K), ported
//! to the Node face and run on both backends. Each test names the Node test it follows.

mod common;
mod node_support;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::backends::{builder, start};
use common::secs;
use corenet::Backend;
use corenet::net::{self, Address, ListenArgs, Port, ServerOptions, Socket, SocketOptions};
use node_support::{on_core0, push, server_on_core0, with_log};

backend_tests! {
    listen_port_validation(secs(30));
    max_connections_one_frees_up_on_close(secs(30));
    set_timeout_can_be_reset_by_a_write(secs(30));
    set_timeout_while_connecting_and_after_destroy(secs(30));
    keep_alive_keeps_the_socket_open(secs(30));
    accepted_socket_local_address_and_port(secs(30));
    many_clients_reconnecting(secs(120));
    pause_holds_back_data(secs(30));
    is_ip_table(secs(10));
    reset_and_destroy_without_a_connection(secs(30));
}

/// test-net-server-listen-options.js and test-net-listen-invalid-port.js (catalogue #51,
/// #52): listen ports -1, NaN, 123.456, 65536, ±Infinity and 4294967295 are
/// `ERR_SOCKET_BAD_PORT` (so is the string form); port 0 as a number and as `'0'`, and no
/// port at all, listen on a free port. (`{}`/`true`/`{port: true}` cannot be written in
/// Rust: the types rule them out.)
fn listen_port_validation(backend: Backend) {
    for bad in [
        -1.0,
        f64::NAN,
        123.456,
        65536.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        4294967295.0,
    ] {
        let err = Port::try_from(bad).unwrap_err();
        assert_eq!(err.code(), "ERR_SOCKET_BAD_PORT", "{bad}");
        assert!(
            err.to_string()
                .starts_with("Port should be >= 0 and < 65536"),
            "{err}"
        );
    }
    assert_eq!(
        "4294967295".parse::<Port>().unwrap_err().code(),
        "ERR_SOCKET_BAD_PORT"
    );
    let rt = start(backend, builder(1));
    let ports = on_core0(&rt, |tx| {
        let mut ports = Vec::new();
        let zero: Port = "0".parse().unwrap();
        for args in [
            ListenArgs::port(0),
            ListenArgs::port(zero),
            ListenArgs::any_port(),
        ] {
            let server = net::create_server(ServerOptions::default(), || |_: &Socket| {});
            server.listen(args).unwrap();
            match server.address() {
                Some(Address::Tcp(a)) => ports.push(a.port()),
                other => panic!("{other:?}"),
            }
            server.close();
        }
        let _ = tx.send(ports);
    });
    assert!(ports.iter().all(|&p| p != 0), "{ports:?}");
}

/// test-net-server-max-connections-close-makes-more-available.js (catalogue #67): with
/// `maxConnections = 1`, conn0 is served and conn1 closed without being served; once conn0
/// has closed, conn2 is served and conn3 is not. The server receives "0" and "2".
fn max_connections_one_frees_up_on_close(backend: Backend) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<String>();
    let addr = on_core0(&rt, move |ready| {
        let server = net::create_server(ServerOptions::default(), move || {
            let tx = tx.clone();
            move |s: &Socket| {
                let tx1 = tx.clone();
                s.on_data(move |_, d| {
                    let _ = tx1.send(format!("data {}", String::from_utf8_lossy(d)));
                });
                let tx2 = tx.clone();
                s.on_close(move |_, _| {
                    let _ = tx2.send("closed".into());
                });
            }
        });
        server.set_max_connections(1);
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = ready.send(server.address());
    });
    let Some(Address::Tcp(addr)) = addr else {
        panic!()
    };
    let recv = || rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // A rejected connection is closed by the server: reading gives EOF or a reset, never data.
    let rejected = |i: u8| {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = c.write_all(&[b'0' + i]);
        let mut buf = [0u8; 8];
        assert!(matches!(c.read(&mut buf), Ok(0) | Err(_)));
    };
    let mut c0 = TcpStream::connect(addr).unwrap();
    c0.write_all(b"0").unwrap();
    assert_eq!(recv(), "data 0");
    rejected(1);
    c0.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(recv(), "closed");
    let mut c2 = TcpStream::connect(addr).unwrap();
    c2.write_all(b"2").unwrap();
    assert_eq!(recv(), "data 2");
    rejected(3);
    drop(c2);
    assert_eq!(recv(), "closed");
    assert!(
        rx.try_recv().is_err(),
        "nothing from the rejected connections"
    );
}

/// test-net-can-reset-timeout.js (catalogue #74): the server sets a 100 ms timeout; on
/// 'timeout' it writes "WHAT." (which re-arms the timer); the client ends on 'data'; both
/// sides end cleanly, the timeout having fired once.
fn set_timeout_can_be_reset_by_a_write(backend: Backend) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<String>();
    let addr = server_on_core0(&rt, ServerOptions::default(), move |s| {
        s.set_timeout(Duration::from_millis(100));
        let fired = Rc::new(Cell::new(0));
        let f = fired.clone();
        s.once_timeout(move |s| {
            f.set(f.get() + 1);
            s.write(b"WHAT.");
        });
        let tx = tx.clone();
        s.on_close(move |_, had_error| {
            let _ = tx.send(format!("server close {had_error} timeouts={}", fired.get()));
        });
    });
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        let l = log.clone();
        s.on_data(move |s, d| {
            push(&l, String::from_utf8_lossy(d));
            s.end(None);
        });
        s.on_close(move |_, had_error| {
            push(&log, format!("close {had_error}"));
            done();
        });
    });
    assert_eq!(log, ["WHAT.", "close false"]);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "server close false timeouts=1"
    );
}

/// test-net-socket-timeout.js (catalogue #73, the parts Rust's types leave): `set_timeout`
/// on a connecting socket fires and returns the socket; after `destroy()` a timeout is
/// accepted and never fires. (Negative or non-numeric values cannot be written: `Duration`.)
fn set_timeout_while_connecting_and_after_destroy(backend: Backend) {
    let rt = start(backend, builder(1));
    // A listener that never accepts keeps the connection idle (it completes in the backlog).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((port, "127.0.0.1"));
        let same = std::ptr::eq(s.set_timeout(Duration::from_millis(1)), &s);
        push(&log, format!("returns the socket: {same}"));
        let l = log.clone();
        s.once_timeout(move |s| {
            push(&l, "timeout");
            s.destroy(None);
        });
        let l = log.clone();
        s.on_close(move |_, _| {
            let d = Socket::new(SocketOptions::default());
            d.destroy(None);
            d.set_timeout(Duration::from_millis(1));
            let l2 = l.clone();
            d.on_timeout(move |_| push(&l2, "destroyed socket timed out"));
            push(&l, "close");
            // The last expected event: a window from here for the destroyed socket's timer
            // (1 ms) to fire, which it must not.
            let done = done.clone();
            corenet::spawn_local(async move {
                corenet::sleep(Duration::from_millis(100)).await;
                done();
            })
            .detach();
        });
    });
    drop(listener);
    assert_eq!(log, ["returns the socket: true", "timeout", "close"]);
}

/// test-net-keepalive.js (catalogue #75): with `set_keep_alive(true, 50 ms)` and the idle
/// timeout off, both sockets are still "open" 100 ms later.
fn keep_alive_keeps_the_socket_open(backend: Backend) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<String>();
    let addr = server_on_core0(&rt, ServerOptions::default(), move |s| {
        s.set_keep_alive(true, Duration::from_millis(50));
        s.set_timeout(Duration::ZERO);
        let (s, tx) = (s.clone(), tx.clone());
        corenet::spawn_local(async move {
            corenet::sleep(Duration::from_millis(100)).await;
            let _ = tx.send(s.ready_state().to_string());
            s.destroy(None);
        })
        .detach();
    });
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        s.once_connect(move |s| {
            let s = s.clone();
            corenet::spawn_local(async move {
                corenet::sleep(Duration::from_millis(100)).await;
                push(&log, s.ready_state());
                s.destroy(None);
                done();
            })
            .detach();
        });
    });
    assert_eq!(log, ["open"]);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "open");
}

/// test-net-local-address-port.js (catalogue #79): on a server listening on 127.0.0.1 the
/// accepted socket's local address is 127.0.0.1, its local port the server's, and its local
/// family the server's.
fn accepted_socket_local_address_and_port(backend: Backend) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<String>();
    let addr = server_on_core0(&rt, ServerOptions::default(), move |s| {
        let _ = tx.send(format!(
            "{} {} {}",
            s.local_address().unwrap().ip(),
            s.local_port().unwrap(),
            s.local_family().unwrap()
        ));
        s.end(None);
    });
    let _c = TcpStream::connect(addr).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        format!("127.0.0.1 {} IPv4", addr.port())
    );
}

/// test-net-many-clients.js (catalogue #81): 100 concurrent clients, each reconnecting until
/// it has made 5 connections, each connection receiving 40960 bytes; no 'close' has an
/// error; the server saw 500 connections (on two cores).
fn many_clients_reconnecting(backend: Backend) {
    const CLIENTS: usize = 100;
    const CONNECTIONS: usize = 5;
    const BYTES: usize = 40960;
    let rt = start(backend, builder(2));
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = served.clone();
    let addr = on_core0(&rt, move |tx| {
        let server = net::create_server(ServerOptions::default(), move || {
            let counted = counted.clone();
            move |s: &Socket| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                s.end(Some(&[b'x'; BYTES]));
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = tx.send(server.address());
    });
    let Some(Address::Tcp(addr)) = addr else {
        panic!()
    };
    let log = with_log(&rt, move |log, done| {
        let done = Rc::new(done);
        let finished = Rc::new(Cell::new(0usize));
        for _ in 0..CLIENTS {
            let s = Socket::new(SocketOptions::default());
            let received = Rc::new(Cell::new(0usize));
            let connections = Rc::new(Cell::new(0usize));
            let r = received.clone();
            s.on_data(move |_, d| r.set(r.get() + d.len()));
            let (l, finished, done) = (log.clone(), finished.clone(), done.clone());
            s.on_close(move |s, had_error| {
                if had_error || received.get() != BYTES {
                    push(&l, format!("bad close {had_error} {}", received.get()));
                }
                received.set(0);
                connections.set(connections.get() + 1);
                if connections.get() < CONNECTIONS {
                    s.connect((addr.port(), "127.0.0.1"));
                } else {
                    finished.set(finished.get() + 1);
                    if finished.get() == CLIENTS {
                        done();
                    }
                }
            });
            s.connect((addr.port(), "127.0.0.1"));
        }
    });
    assert!(log.is_empty(), "{log:?}");
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        CLIENTS * CONNECTIONS
    );
}

/// test-net-pause.js (catalogue #82, shorter): the server writes one byte every 5 ms, 100
/// times; the client pauses twice for 200 ms, and nothing arrives while it is paused;
/// all 100 bytes arrive.
fn pause_holds_back_data(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = server_on_core0(&rt, ServerOptions::default(), |s| {
        let s = s.clone();
        corenet::spawn_local(async move {
            for _ in 0..100 {
                s.write(b"a");
                corenet::sleep(Duration::from_millis(5)).await;
            }
            s.end(None);
        })
        .detach();
    });
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        let received = Rc::new(Cell::new(0usize));
        let r = received.clone();
        s.on_data(move |_, d| r.set(r.get() + d.len()));
        let l = log.clone();
        let r = received.clone();
        s.on_connect(move |s| {
            let (s, l, r) = (s.clone(), l.clone(), r.clone());
            corenet::spawn_local(async move {
                for _ in 0..2 {
                    corenet::sleep(Duration::from_millis(50)).await;
                    s.pause();
                    let before = r.get();
                    let paused_at = Instant::now();
                    corenet::sleep(Duration::from_millis(200)).await;
                    if r.get() != before {
                        push(&l, format!("data while paused ({:?})", paused_at.elapsed()));
                    }
                    s.resume();
                }
            })
            .detach();
        });
        s.on_end(move |_| {
            push(&log, format!("end {}", received.get()));
            done();
        });
    });
    assert_eq!(log, ["end 100"]);
}

/// test-net-isip.js (catalogue #83): `is_ip` gives 4, 6 or 0 for Node's table;
/// `is_ipv4`/`is_ipv6` agree.
fn is_ip_table(_backend: Backend) {
    assert_eq!(net::is_ip("127.0.0.1"), 4);
    for v6 in [
        "0000:0000:0000:0000:0000:0000:0000:0000",
        "1050:0:0:0:5:600:300c:326b",
        "2001::",
        "::2001:252:1:255.255.255.255",
        "fe80::2008%eth0",
        "fe80::2008%eth0.0",
        "::1",
        "::",
    ] {
        assert_eq!(net::is_ip(v6), 6, "{v6}");
        assert!(net::is_ipv6(v6) && !net::is_ipv4(v6), "{v6}");
    }
    for not in [
        "x127.0.0.1",
        "example.com",
        "0000:0000:0000:0000:0000:0000:0000:0000:0000",
        ":2001:252:0:1::2008:6:",
        "2001:252::1::2008:6",
        "::2001:252:1:255.255.255.255.76",
        "fe80::2008%eth0@1",
        "::anything",
        "1050:0:0:0:5:600:300c:12345",
        "0",
        "",
    ] {
        assert_eq!(net::is_ip(not), 0, "{not}");
        assert!(!net::is_ipv4(not) && !net::is_ipv6(not), "{not}");
    }
    assert!(net::is_ipv4("127.0.0.1") && !net::is_ipv6("127.0.0.1"));
}

/// test-net-connect-reset.js (catalogue #86): `reset_and_destroy()` on a socket with no
/// connection emits 'error' ERR_SOCKET_CLOSED, then 'close'.
fn reset_and_destroy_without_a_connection(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let s = Socket::new(SocketOptions::default());
        let l = log.clone();
        s.on_error(move |_, e| push(&l, e.code()));
        s.on_close(move |_, had_error| {
            push(&log, format!("close {had_error}"));
            done();
        });
        s.reset_and_destroy();
    });
    assert_eq!(log, ["ERR_SOCKET_CLOSED", "close true"]);
}
