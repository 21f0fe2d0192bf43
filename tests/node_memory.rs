//! Memory stays flat over 100,000 connections accepted and closed through the event face:
//! listeners are dropped after 'close', nothing accumulates per connection. In its own test
//! binary: it reads the whole process's resident memory.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::Backend;
use corenet::net::{self, Address, ServerOptions, Socket};

backend_tests! {
    memory_flat_over_100k_connections(secs(300));
}

/// Opens, exchanges one byte on, and resets `n` connections from `threads` client threads.
fn churn(addr: SocketAddr, n: usize, threads: usize) {
    let per = n / threads;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..per {
                    let mut s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    s.write_all(b"x").unwrap();
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b).unwrap();
                    // RST instead of FIN: no TIME_WAIT left to exhaust the port range.
                    socket2::SockRef::from(&s)
                        .set_linger(Some(Duration::ZERO))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn memory_flat_over_100k_connections(backend: Backend) {
    let _serial = common::serial();
    let rt = start(backend, builder(2));
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        // Each connection registers several listeners that capture the socket-independent
        // state, plus per-connection state, all of which must go at 'close'.
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                let payload = vec![0u8; 256];
                socket.on_data(move |s, chunk| {
                    let _ = &payload;
                    s.write(chunk);
                });
                socket.on_end(|s| s.end(None));
                socket.on_error(|_, _| {});
                socket.on_close(|_, _| {});
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!()
        };
        tx.send(a).unwrap();
    });
    let addr = rx.recv().unwrap();
    churn(addr, 10_000, 4);
    std::thread::sleep(Duration::from_millis(300));
    let before = common::rss_kib();
    churn(addr, 100_000, 4);
    std::thread::sleep(Duration::from_millis(300));
    let after = common::rss_kib();
    eprintln!("{backend:?}: RSS {before} KiB -> {after} KiB over 100,000 connections");
    // A leak of even 100 bytes per connection would add ~10 MB.
    assert!(
        after < before + 4 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}
