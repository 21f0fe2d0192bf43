//! No descriptor leaks and no op completing on freed memory: thousands of connections opened
//! and closed, reads and writes abandoned mid-flight, peers resetting, runtimes dropped with
//! ops pending; and the Node face's refused connects (Node's test-net-connect-econnrefused.js).
//! In its own test binary, one test at a time: they count the whole process's descriptors.

mod common;
mod node_support;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use common::backends::{builder, start};
use common::{reset_mid_stream, secs};
use corenet::net;
use corenet::{Backend, Runtime, Server};
use node_support::{closed_port, push, with_log};

backend_tests! {
    no_fd_leak_and_no_efault(secs(240));
    many_refused_connects_leave_nothing_behind(secs(60));
}

/// Serves: connections whose first byte is b'w' get 4 MiB written at them and are dropped
/// (the flush is abandoned when the runtime goes); b'r' ones have a read abandoned by a
/// timeout, then echo; others echo.
fn serve(rt: &Runtime) -> Server {
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(|socket| async move {
        let Ok(Some(first)) = socket.read().await else {
            return;
        };
        match first[0] {
            b'w' => {
                let big = vec![7u8; 4 << 20];
                // Abandon the wait for room; the bytes stay queued and the socket is dropped.
                let _ = corenet::timeout(Duration::from_millis(20), socket.write(&big)).await;
            }
            b'r' => {
                let _ = corenet::timeout(Duration::from_millis(5), socket.read()).await;
                let _ = socket.write_owned(first).await;
                while let Ok(Some(c)) = socket.read().await {
                    if socket.write_owned(c).await.is_err() {
                        return;
                    }
                }
            }
            _ => {
                let _ = socket.write_owned(first).await;
                while let Ok(Some(c)) = socket.read().await {
                    if socket.write_owned(c).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    server
}

fn round(addr: std::net::SocketAddr, kind: u8) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[kind; 64]).unwrap();
    if kind != b'w' {
        let mut b = [0u8; 64];
        s.read_exact(&mut b).unwrap();
    }
}

fn no_fd_leak_and_no_efault(backend: Backend) {
    let _serial = common::serial();
    {
        // Warm up what the process opens once (std's and tokio's lazies).
        drop(start(backend, builder(1)));
        let before = common::open_fds();
        for cycle in 0..3 {
            // 8 receive buffers: the pool runs dry under this load (ring exhaustion).
            let rt = start(backend, builder(2).buffer_count(8).buffer_size(1024));
            let server = serve(&rt);
            let addr = server.local_addr();
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    std::thread::spawn(move || {
                        for i in 0..500 {
                            round(addr, [b'e', b'r', b'w', b'e'][(i + t) % 4]);
                        }
                        for _ in 0..10 {
                            reset_mid_stream(addr).unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            // Leave connections open, with receives armed and sends blocked, and drop the
            // runtime under them.
            let mut held: Vec<TcpStream> = (0..100)
                .map(|_| TcpStream::connect(addr).unwrap())
                .collect();
            for (i, s) in held.iter_mut().enumerate() {
                s.write_all(if i % 2 == 0 { b"w" } else { b"e" }).unwrap();
            }
            std::thread::sleep(Duration::from_millis(100));
            let stats = rt.stats();
            assert_eq!(
                stats.iter().map(|s| s.efaults).sum::<u64>(),
                0,
                "cycle {cycle}: {stats:?}"
            );
            // io_uring's receives end with ENOBUFS when the ring is empty; compat's wait a
            // park for the buffers they lent instead (its own tests cover its ENOBUFS path).
            if backend == Backend::IoUring {
                assert!(
                    stats.iter().map(|s| s.recv_starved).sum::<u64>() > 0,
                    "cycle {cycle}: the pool never ran dry: {stats:?}"
                );
            }
            drop(server);
            drop(rt);
            drop(held);
        }
        let after = common::open_fds();
        assert_eq!(before, after, "descriptors before {before}, after {after}");
    }
}

/// test-net-connect-econnrefused.js (catalogue #42): 5 rounds of 50 connections to a
/// just-closed port all fail with ECONNREFUSED, and afterwards no socket is left open
/// (the process's descriptor count is back where it was). Ported in `node_connect_errors`
/// first; here because it counts the whole process's descriptors.
fn many_refused_connects_leave_nothing_behind(backend: Backend) {
    let _serial = common::serial();
    let rt = start(backend, builder(1));
    let port = closed_port();
    let before = common::open_fds();
    for round in 0..5 {
        let log = with_log(&rt, move |log, done| {
            let done = Rc::new(done);
            let closed = Rc::new(Cell::new(0));
            for _ in 0..50 {
                let s = net::connect((port, "127.0.0.1"));
                let l = log.clone();
                s.on_error(move |_, e| push(&l, e.code()));
                let (closed, done) = (closed.clone(), done.clone());
                s.on_close(move |_, _| {
                    closed.set(closed.get() + 1);
                    if closed.get() == 50 {
                        done();
                    }
                });
            }
        });
        assert_eq!(log.len(), 50, "round {round}");
        assert!(log.iter().all(|c| c == "ECONNREFUSED"), "{log:?}");
    }
    // Descriptors close once their last op completed: allow the core a moment.
    let mut after = common::open_fds();
    for _ in 0..100 {
        if after <= before {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        after = common::open_fds();
    }
    assert!(
        after <= before,
        "descriptors before {before}, after {after}"
    );
}
