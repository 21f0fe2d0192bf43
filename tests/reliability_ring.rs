//! Buffer-ring exhaustion through the Node face (the async face's run is echo.rs'
//! `stress_1000_conns_tiny_ring`): 500 checksummed connections through 8 receive buffers of
//! 1 KiB, a cap of 2 chunks per connection, and a 'data' handler that echoes each chunk, on
//! both backends. The pool runs dry over and over (io_uring: receives end with ENOBUFS; compat:
//! receives wait a park for buffers); no byte is lost or reordered and nothing stalls once
//! buffers return. And io_uring's ring, which offers only the buffers recent load needs: a
//! burst after a quiet spell starves receives with most of the pool free, and they recover.
#![cfg(target_os = "linux")]

mod common;

use std::sync::mpsc;

use common::backends::{builder, start};
use common::{StressConfig, secs, stress};
use corenet::Backend;
use corenet::net::{self, Address, ServerOptions, Socket};

backend_tests! {
    node_face_500_conns_through_8_buffers(secs(180));
}

#[test]
fn uring_a_burst_after_a_quiet_spell_outgrows_the_ring_and_recovers() {
    common::watchdog(
        "uring_a_burst_after_a_quiet_spell_outgrows_the_ring_and_recovers",
        secs(120),
        burst_after_a_quiet_spell,
    );
}

fn node_face_500_conns_through_8_buffers(backend: Backend) {
    let rt = start(
        backend,
        builder(1)
            .buffer_count(8)
            .buffer_size(1024)
            .connection_buffer_cap(2),
    );
    let addr = node_echo(&rt);
    let report = stress(
        addr,
        StressConfig {
            conns: 500,
            max_bytes: 64 * 1024,
            timeout: secs(150),
            ..StressConfig::default()
        },
    )
    .unwrap_or_else(|e| panic!("{backend:?}: {e}; {:?}", rt.stats()));
    assert_eq!(report.conns_completed, 500);
    let stats = rt.stats();
    let starved: u64 = stats.iter().map(|s| s.recv_starved).sum();
    eprintln!(
        "{backend:?}: 500 connections, {} bytes echoed and checked through 8 x 1 KiB buffers; \
         receives starved {starved} times, compactions {}",
        report.total_bytes,
        stats.iter().map(|s| s.compactions).sum::<u64>()
    );
    // io_uring's receives end with ENOBUFS whenever the ring is empty. The compat driver
    // lends buffers itself and, having lent some in a park, lets the other sockets wait for
    // them in the next park instead (compat's own tests cover its ENOBUFS path).
    if backend == Backend::IoUring {
        assert!(
            starved > 0,
            "{backend:?}: the pool never ran dry: {stats:?}"
        );
    }
}

/// 8,192 buffers of 1 KiB, which a ring offering every free buffer never runs out of here
/// (checked: 0 starved receives before the ring offered a subset). 9,000 one-byte round trips
/// drain the buffers published at start and let the ring shrink to a few dozen; then 200
/// connections each write 8 KiB while the core is held, so the burst lands in one park: their
/// receives find the ring empty with most of the
/// pool free (ENOBUFS), are re-armed with more buffers, and every byte comes back.
fn burst_after_a_quiet_spell() {
    use std::io::{Read, Write};
    let rt = start(
        Backend::IoUring,
        builder(1).buffer_count(8192).buffer_size(1024),
    );
    let addr = node_echo(&rt);
    let mut quiet = std::net::TcpStream::connect(addr).unwrap();
    let mut byte = [0u8; 1];
    for i in 0..9000u32 {
        quiet.write_all(&[i as u8]).unwrap();
        quiet.read_exact(&mut byte).unwrap();
        assert_eq!(byte[0], i as u8);
    }
    let mut conns: Vec<_> = (0..200)
        .map(|_| {
            let c = std::net::TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(secs(30))).unwrap();
            c
        })
        .collect();
    // Every connection is accepted (and idle) before the burst.
    let deadline = std::time::Instant::now() + secs(30);
    while rt.stats()[0].connections_open < 201 {
        assert!(
            std::time::Instant::now() < deadline,
            "accepts: {:?}",
            rt.stats()
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let before: u64 = rt.stats().iter().map(|s| s.recv_starved).sum();
    // Hold the core (a task that blocks its thread) while every connection writes, so the
    // burst lands in one park.
    let (release, held) = mpsc::channel::<()>();
    let (holding, started) = mpsc::channel::<()>();
    let hold = rt.spawn_on(0, move || async move {
        holding.send(()).unwrap();
        let _ = held.recv_timeout(secs(30));
    });
    started.recv().unwrap();
    let message = |i: usize| -> Vec<u8> { (0..8192).map(|j| (i * 7 + j % 251) as u8).collect() };
    for (i, c) in conns.iter_mut().enumerate() {
        c.write_all(&message(i)).unwrap();
    }
    release.send(()).unwrap();
    drop(hold);
    for (i, c) in conns.iter_mut().enumerate() {
        let mut back = vec![0u8; 8192];
        c.read_exact(&mut back).unwrap();
        assert!(back == message(i), "connection {i}: echoed bytes differ");
    }
    let starved = rt.stats().iter().map(|s| s.recv_starved).sum::<u64>() - before;
    eprintln!("200 x 8 KiB echoed after a quiet spell; receives starved {starved} times");
    assert!(starved > 0, "the ring never ran short: {:?}", rt.stats());
}

/// Starts a Node-face echo ('data' -> `write`) on core 0; returns its address.
fn node_echo(rt: &corenet::Runtime) -> std::net::SocketAddr {
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                socket.on_data(|s, chunk| {
                    s.write(chunk);
                });
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!("no TCP address")
        };
        tx.send(a).unwrap();
        std::mem::forget(server);
    });
    rx.recv().unwrap()
}
