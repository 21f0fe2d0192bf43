//! Node's connect-error and connect-option tests (catalogue section D: refused connections,
//! port validation, local address and port, lookups, pipe paths), ported to the Node face
//! and run on both backends. Each test names the Node test it follows.

mod common;
mod node_support;

use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::net::{self, ConnectArgs, Port, ServerOptions, Socket, SocketOptions};
use corenet::{Backend, Error};
use node_support::{closed_port, push, server_on_core0, with_log};

backend_tests! {
    refused_error_carries_address_and_port(secs(30));
    connect_port_validation_and_forms(secs(30));
    local_address_and_port(secs(30));
    mocked_lookup_failure_with_immediate_end(secs(30));
    custom_lookup_gets_the_family(secs(30));
    family_filters_the_system_lookup(secs(30));
    missing_path_is_enoent_with_the_path(secs(30));
    pipe_connect_errors(secs(30));
}

/// Collects `'error'` (code, syscall, address, port, message) and whether `'connect'` came.
fn error_report(s: &Socket, log: node_support::Log, done: node_support::Done) {
    let l = log.clone();
    s.on_connect(move |_| push(&l, "connect"));
    let l = log.clone();
    s.on_error(move |_, e| {
        push(
            &l,
            format!(
                "{} {:?} {:?} {:?} {}",
                e.code(),
                e.syscall(),
                e.address(),
                e.port(),
                e
            ),
        )
    });
    s.on_close(move |_, had_error| {
        push(&log, format!("close {had_error}"));
        done();
    });
}

/// test-net-better-error-messages-port.js (catalogue #41): connecting to an unused port is
/// an `'error'` ECONNREFUSED whose `address` and `port` are the target's; no `'connect'`.
fn refused_error_carries_address_and_port(backend: Backend) {
    let rt = start(backend, builder(1));
    let port = closed_port();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((port, "127.0.0.1"));
        error_report(&s, log, done);
    });
    assert_eq!(
        log,
        [
            format!(
                "ECONNREFUSED Some(\"connect\") Some(\"127.0.0.1\") Some({port}) connect ECONNREFUSED 127.0.0.1:{port}"
            ),
            "close true".into()
        ]
    );
}

/// test-net-connect-options-port.js (catalogue #43): ports that are not integers in
/// 0..=65535 (`''`, `' '`, `'0x'`, `'-0x1'`, `'NaN'`, `'Infinity'`, `-1`, `65536`) are
/// `ERR_SOCKET_BAD_PORT` before anything connects (the type system rules out `true`,
/// `null`, `[]`, `{}`); a number, its decimal string and its hex string all connect,
/// through `connect`, `create_connection` and `Socket::connect`.
fn connect_port_validation_and_forms(backend: Backend) {
    for bad in ["", " ", "0x", "-0x1", "NaN", "Infinity", "-1", "65536"] {
        let err = bad.parse::<Port>().unwrap_err();
        assert_eq!(err.code(), "ERR_SOCKET_BAD_PORT", "{bad:?}");
    }
    for bad in [-1i64, 65536] {
        assert_eq!(
            Port::try_from(bad).unwrap_err().code(),
            "ERR_SOCKET_BAD_PORT"
        );
    }
    assert_eq!(
        Port::try_from(f64::NAN).unwrap_err().code(),
        "ERR_SOCKET_BAD_PORT"
    );
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<()>();
    let addr = server_on_core0(&rt, ServerOptions::default(), move |s| {
        let _ = tx.send(());
        s.end(None);
    });
    let port = addr.port();
    let forms: Vec<Port> = vec![
        Port::new(port),
        port.to_string().parse().unwrap(),
        format!("0x{port:x}").parse().unwrap(),
    ];
    let log = with_log(&rt, move |log, done| {
        let done = Rc::new(done);
        let connected = Rc::new(Cell::new(0));
        for form in forms {
            for api in 0..3 {
                let args = ConnectArgs::port(form).host("127.0.0.1");
                let s = match api {
                    0 => net::connect(args),
                    1 => net::create_connection(args),
                    _ => {
                        let s = Socket::new(SocketOptions::default());
                        s.connect(args);
                        s
                    }
                };
                let l = log.clone();
                s.on_error(move |_, e| push(&l, format!("error {e}")));
                let (connected, done) = (connected.clone(), done.clone());
                s.on_connect(move |s| {
                    connected.set(connected.get() + 1);
                    s.destroy(None);
                    if connected.get() == 9 {
                        done();
                    }
                });
            }
        }
    });
    assert!(log.is_empty(), "{log:?}");
    for _ in 0..9 {
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    }
}

/// test-net-localerror.js (catalogue #44) and node-net-api.md's `localAddress` /
/// `localPort`: a local address that is not an IP is `ERR_INVALID_IP_ADDRESS` at once; a
/// valid one (and a chosen port) is where the connection comes from; a bind failure is an
/// `'error'` with syscall `bind` and the local address and port.
fn local_address_and_port(backend: Backend) {
    let err = ConnectArgs::port(80).local_address("foobar").unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_IP_ADDRESS");
    assert_eq!(err.to_string(), "Invalid IP address: foobar");
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<String>();
    let addr = server_on_core0(&rt, ServerOptions::default(), move |s| {
        let _ = tx.send(s.remote_address().unwrap().to_string());
        s.end(None);
    });
    let free_port = closed_port();
    let log = with_log(&rt, move |log, done| {
        let args = ConnectArgs::port(addr.port())
            .host("127.0.0.1")
            .local_address("127.0.0.2")
            .unwrap()
            .local_port(free_port);
        let s = net::connect(args);
        let l = log.clone();
        s.on_connect(move |s| push(&l, format!("local {}", s.local_address().unwrap())));
        s.on_close(move |_, _| {
            // Now a second socket on the server's own port: the bind fails.
            let args = ConnectArgs::port(addr.port())
                .host("127.0.0.1")
                .local_port(addr.port());
            let s = net::connect(args);
            let l = log.clone();
            s.on_error(move |_, e| {
                push(
                    &l,
                    format!(
                        "{} {:?} {:?} {:?}",
                        e.code(),
                        e.syscall(),
                        e.address(),
                        e.port()
                    ),
                )
            });
            let l = log.clone();
            // The last expected event ends the test (the watchdog bounds it).
            let done = done.clone();
            s.on_close(move |_, _| {
                push(&l, "bind close");
                done();
            });
        });
    });
    assert_eq!(
        log,
        [
            format!("local 127.0.0.2:{free_port}"),
            format!(
                "EADDRINUSE Some(\"bind\") Some(\"0.0.0.0\") Some({})",
                addr.port()
            ),
            "bind close".into()
        ]
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        format!("127.0.0.2:{free_port}")
    );
}

/// test-net-connect-immediate-finish.js (catalogue #46): a lookup that fails (mocked)
/// with an immediate `end()`: `'error'` ENOTFOUND with syscall `getaddrinfo`, the host
/// name, message "getaddrinfo ENOTFOUND something.invalid" and no address or port; the
/// connect callback never runs.
fn mocked_lookup_failure_with_immediate_end(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let args = ConnectArgs::port(80)
            .host("something.invalid")
            .lookup(|host, _family| Err(Error::lookup(host)));
        let s = net::connect(args);
        s.end(None);
        let l = log.clone();
        s.on_error(move |_, e| {
            push(
                &l,
                format!("hostname {:?} errno-code {}", e.hostname(), e.code()),
            )
        });
        error_report(&s, log, done);
    });
    assert_eq!(
        log,
        [
            "hostname Some(\"something.invalid\") errno-code ENOTFOUND",
            "ENOTFOUND Some(\"getaddrinfo\") None None getaddrinfo ENOTFOUND something.invalid",
            "close true"
        ]
    );
}

/// test-net-connect-options-ipv6.js (catalogue #48): `{host: 'dummy', family: 6, lookup}`:
/// the lookup is called with the name and family 6 and answers `::1`; the connection works,
/// half-open: 10 ms after `'end'` the socket is still writable.
fn custom_lookup_gets_the_family(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = node_support::on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), || {
            |s: &Socket| {
                s.end(None);
            }
        });
        server.listen((0, "::1")).unwrap();
        let _ = tx.send(server.address());
    });
    let Some(net::Address::Tcp(addr)) = addr else {
        panic!("{addr:?}")
    };
    let log = with_log(&rt, move |log, done| {
        let l = log.clone();
        let args = ConnectArgs::port(addr.port())
            .host("dummy")
            .family(6)
            .unwrap()
            .allow_half_open(true)
            .lookup(move |host, family| {
                push(&l, format!("lookup {host} {family}"));
                Ok("::1".parse::<IpAddr>().unwrap())
            });
        let s = net::connect(args);
        let l = log.clone();
        s.on_lookup(move |_, e| push(&l, format!("'lookup' {:?} {:?}", e.address, e.family)));
        let l = log.clone();
        s.on_connect(move |s| push(&l, format!("connect {}", s.remote_family().unwrap())));
        s.on_end(move |s| {
            let (s, log) = (s.clone(), log.clone());
            corenet::spawn_local(async move {
                corenet::sleep(Duration::from_millis(10)).await;
                push(&log, format!("writable {}", s.writable()));
                s.end(None);
            })
            .detach();
        });
        // 'close' (after the last expected event, "writable true") ends the test.
        s.on_close(move |_, _| done());
    });
    assert_eq!(
        log,
        [
            "lookup dummy 6",
            "'lookup' Some(::1) Some(6)",
            "connect IPv6",
            "writable true"
        ]
    );
}

/// node-net-api.md `family` (the option of #48): `family(4)` keeps the system resolver's
/// IPv4 answer for "localhost"; a family other than 0, 4, 6 is `ERR_INVALID_ARG_VALUE`.
fn family_filters_the_system_lookup(backend: Backend) {
    let err = ConnectArgs::port(80).family(5).unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG_VALUE");
    let rt = start(backend, builder(1));
    let addr = server_on_core0(&rt, ServerOptions::default(), |s| s.end(None));
    let log = with_log(&rt, move |log, done| {
        let args = ConnectArgs::port(addr.port())
            .host("localhost")
            .family(4)
            .unwrap();
        let s = net::connect(args);
        let l = log.clone();
        s.on_lookup(move |_, e| push(&l, format!("lookup {:?} {:?}", e.address, e.family)));
        let l = log.clone();
        s.on_connect(move |s| push(&l, format!("connect {}", s.remote_address().unwrap())));
        s.on_close(move |_, _| done());
    });
    assert_eq!(
        log,
        [
            "lookup Some(127.0.0.1) Some(4)".to_string(),
            format!("connect {addr}")
        ]
    );
}

/// test-net-better-error-messages-path.js (catalogue #49): connecting to a missing path is
/// ENOENT with message "connect ENOENT <path>" and the path as `address`.
fn missing_path_is_enoent_with_the_path(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let s = net::connect(ConnectArgs::path("/tmp/fadagagsdfgsdf"));
        error_report(&s, log, done);
    });
    assert_eq!(
        log,
        [
            "ENOENT Some(\"connect\") Some(\"/tmp/fadagagsdfgsdf\") None connect ENOENT /tmp/fadagagsdfgsdf",
            "close true"
        ]
    );
}

/// test-net-pipe-connect-errors.js (catalogue #50): a path that is a regular file gives
/// ENOTSOCK or ECONNREFUSED; a missing one ENOENT. (The `chmod 0` → EACCES case needs a
/// non-root user; these tests run as root, so it is not ported.)
fn pipe_connect_errors(backend: Backend) {
    let rt = start(backend, builder(1));
    let file = node_support::temp_sock("regular-file");
    std::fs::write(&file, b"not a socket").unwrap();
    let missing = node_support::temp_sock("no-ent-file");
    let log = with_log(&rt, move |log, done| {
        let done = Rc::new(done);
        let closed = Rc::new(Cell::new(0));
        for (name, path) in [("file", file), ("missing", missing)] {
            let s = net::connect(ConnectArgs::path(&path));
            let l = log.clone();
            s.on_error(move |_, e| push(&l, format!("{name} {}", e.code())));
            let (closed, done) = (closed.clone(), done.clone());
            s.on_close(move |_, _| {
                closed.set(closed.get() + 1);
                if closed.get() == 2 {
                    done();
                }
            });
        }
    });
    let mut log = log;
    log.sort();
    assert!(
        log[0] == "file ENOTSOCK" || log[0] == "file ECONNREFUSED",
        "{log:?}"
    );
    assert_eq!(log[1], "missing ENOENT");
}
