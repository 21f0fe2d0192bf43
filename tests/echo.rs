//! The hot path under test, on both backends: echo from 0 B to 8 MiB, a checksummed 1,000-connection
//! stress with a tiny buffer ring (ENOBUFS re-arms, cancel-at-cap, compaction), half-close,
//! resets, slow readers, and connections spread over cores.

mod common;

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use common::backends::{builder, start};
use common::{StressConfig, echo_roundtrip, half_close_check, reset_mid_stream, secs, stress};
use corenet::{Backend, Chunk, Runtime, Server, Socket};

backend_tests! {
    echo_sizes_zero_to_8_mib(secs(120));
    echo_copy_path(secs(60));
    echo_ipv6(secs(30));
    stress_1000_conns_tiny_ring(secs(150));
    stress_default_ring_random_sizes(secs(150));
    slow_readers_backpressure(secs(150));
    half_close(secs(30));
    spawn_local_and_block_on(secs(30));
    write_after_shutdown_is_an_error(secs(30));
    peer_reset_mid_stream_leaves_server_serving(secs(60));
    large_frame_with_tiny_ring_compacts(secs(60));
    second_server_on_taken_port_fails_with_eaddrinuse(secs(30));
    connections_land_on_more_than_one_core(secs(60));
}

/// Echoes with zero-copy `write_owned`; on EOF half-closes after the queue is sent.
async fn echo_owned(socket: Socket) {
    loop {
        match socket.read().await {
            Ok(Some(chunk)) => {
                if socket.write_owned(chunk).await.is_err() {
                    return;
                }
            }
            Ok(None) => {
                let _ = socket.shutdown().await;
                return;
            }
            Err(_) => return,
        }
    }
}

/// Echoes through the copying `write(&[u8])` path.
async fn echo_copy(socket: Socket) {
    while let Ok(Some(chunk)) = socket.read().await {
        if socket.write(&chunk).await.is_err() {
            return;
        }
    }
    let _ = socket.shutdown().await;
}

fn serve_echo(rt: &Runtime, copy: bool) -> SocketAddr {
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).expect("bind");
    if copy {
        server.serve(echo_copy);
    } else {
        server.serve(echo_owned);
    }
    server.local_addr()
}

fn echo_sizes_zero_to_8_mib(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = serve_echo(&rt, false);
    for (i, size) in [0, 1, 100, 4095, 4096, 4097, 65_536, 1 << 20, 8 << 20]
        .into_iter()
        .enumerate()
    {
        echo_roundtrip(addr, size, i as u64).unwrap_or_else(|e| panic!("size {size}: {e}"));
    }
}

fn echo_copy_path(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = serve_echo(&rt, true);
    for (i, size) in [0, 1, 20_000, 1 << 20].into_iter().enumerate() {
        echo_roundtrip(addr, size, 100 + i as u64).unwrap_or_else(|e| panic!("size {size}: {e}"));
    }
}

fn echo_ipv6(backend: Backend) {
    let rt = start(backend, builder(1));
    let server = Server::bind(&rt.handle(), "[::1]:0".parse().unwrap()).expect("bind ::1");
    server.serve(echo_owned);
    echo_roundtrip(server.local_addr(), 100_000, 7).unwrap();
}

fn stress_1000_conns_tiny_ring(backend: Backend) {
    // 8 buffers of 1 KiB for 1,000 connections and a cap of 2 chunks per connection:
    // receives run dry (io_uring: ENOBUFS, re-armed as buffers return; compat: they wait a
    // park), and on io_uring hand-overs under pressure are compacted; every byte comes back.
    let rt = start(
        backend,
        builder(2)
            .buffer_count(8)
            .buffer_size(1024)
            .connection_buffer_cap(2),
    );
    let addr = serve_echo(&rt, false);
    let report = stress(
        addr,
        StressConfig {
            conns: 1000,
            max_bytes: 64 * 1024,
            timeout: secs(120),
            ..StressConfig::default()
        },
    )
    .unwrap_or_else(|e| panic!("stress: {e}"));
    assert_eq!(report.conns_completed, 1000);
    let stats = rt.stats();
    let sum = |f: fn(&corenet::CoreStats) -> u64| stats.iter().map(f).sum::<u64>();
    eprintln!("{stats:?}");
    // io_uring's receives end with ENOBUFS when the ring is empty, and hand-overs from a ring
    // run dry come under pressure (compacted). Compat's receives wait a park for the buffers
    // they lent instead and stop at the pool's reserve, so whether an echo's hand-over ever
    // sees pressure is timing (its sends go out as they start, returning buffers at once):
    // its own tests cover its ENOBUFS path, and `large_frame_with_tiny_ring_compacts` its
    // compaction. No cancel-at-cap here on either: an echo reader catches up within its turn,
    // so its receive is never paused (slow_readers_backpressure covers readers that stay
    // behind).
    if backend == Backend::IoUring {
        assert!(
            sum(|s| s.recv_starved) > 0,
            "ENOBUFS re-arming was not exercised: {stats:?}"
        );
        assert!(
            sum(|s| s.compactions) > 0,
            "compaction was not exercised: {stats:?}"
        );
    }
    assert_eq!(sum(|s| s.accepted), 1000);
}

fn stress_default_ring_random_sizes(backend: Backend) {
    let rt = start(backend, builder(2));
    let addr = serve_echo(&rt, true);
    let report = stress(
        addr,
        StressConfig {
            conns: 1000,
            timeout: secs(120),
            ..StressConfig::default()
        },
    )
    .unwrap_or_else(|e| panic!("stress: {e}"));
    assert_eq!(report.conns_completed, 1000);
}

fn slow_readers_backpressure(backend: Backend) {
    let rt = start(
        backend,
        builder(1)
            .buffer_count(16)
            .connection_buffer_cap(2)
            .write_high_water(16 * 1024),
    );
    let addr = serve_echo(&rt, false);
    let report = stress(
        addr,
        StressConfig {
            conns: 50,
            min_bytes: 512 * 1024,
            max_bytes: 2 << 20,
            slow_reader: true,
            timeout: secs(120),
            ..StressConfig::default()
        },
    )
    .unwrap_or_else(|e| panic!("stress: {e}"));
    assert_eq!(report.conns_completed, 50);
    // The echo tasks wait for room to write, so their readers fall behind: receives are
    // paused at the cap (cancelled, or ended by their byte limit and left unarmed) and
    // re-armed as the readers catch up, losing nothing.
    let stats = rt.stats();
    assert!(
        stats.iter().map(|s| s.recv_paused).sum::<u64>() > 0,
        "cancel-at-cap was not exercised: {stats:?}"
    );
}

fn half_close(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = serve_echo(&rt, false);
    half_close_check(addr, b"").unwrap();
    half_close_check(addr, b"hello, half-closed world").unwrap();
    half_close_check(addr, &vec![0xa5; 3 << 20]).unwrap();
}

fn peer_reset_mid_stream_leaves_server_serving(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = serve_echo(&rt, false);
    for _ in 0..20 {
        reset_mid_stream(addr).unwrap();
    }
    echo_roundtrip(addr, 1 << 20, 3).unwrap();
}

/// A handler that keeps every chunk until it holds a whole 256 KiB frame, then echoes it:
/// with 8 ring buffers of 1 KiB this only completes if hand-overs are compacted.
fn large_frame_with_tiny_ring_compacts(backend: Backend) {
    const FRAME: usize = 256 * 1024;
    let rt = start(
        backend,
        builder(1)
            .buffer_count(8)
            .buffer_size(1024)
            .connection_buffer_cap(4),
    );
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(|socket| async move {
        let mut held: Vec<Chunk> = Vec::new();
        let mut total = 0;
        while total < FRAME {
            match socket.read().await {
                Ok(Some(c)) => {
                    total += c.len();
                    held.push(c);
                }
                _ => return,
            }
        }
        assert!(
            held.iter().any(|c| !c.is_ring_buffer()),
            "nothing was compacted"
        );
        for c in held {
            socket.write_owned(c).await.unwrap();
        }
        let _ = socket.shutdown().await;
    });
    half_close_check(server.local_addr(), &common::pattern::pattern(9, FRAME)).unwrap();
}

fn second_server_on_taken_port_fails_with_eaddrinuse(backend: Backend) {
    let rt = start(backend, builder(2));
    for host in ["127.0.0.1:0", "[::1]:0"] {
        let first = Server::bind(&rt.handle(), host.parse().unwrap()).unwrap();
        let err = Server::bind(&rt.handle(), first.local_addr()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{host}: {err}");
        // A plain std listener can't share it either.
        assert!(std::net::TcpListener::bind(first.local_addr()).is_err());
    }
    // And the other way round: a port held by someone else.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = Server::bind(&rt.handle(), std_listener.local_addr().unwrap()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}

fn connections_land_on_more_than_one_core(backend: Backend) {
    let rt = start(backend, builder(2));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(|socket| async move {
        let core = [socket.core() as u8];
        let _ = socket.write(&core).await;
        let _ = socket.shutdown().await;
        // Wait for the peer to close.
        while let Ok(Some(_)) = socket.read().await {}
    });
    let mut cores = HashSet::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        cores.insert(b[0]);
        if cores.len() == 2 {
            break;
        }
    }
    assert_eq!(cores.len(), 2, "every connection landed on one core");
}

fn spawn_local_and_block_on(backend: Backend) {
    let rt = start(backend, builder(2));
    for core in 0..2 {
        let got = rt.block_on(core, move || async move {
            assert_eq!(corenet::current_core(), Some(core));
            let shared = Rc::new(RefCell::new(0));
            let s2 = shared.clone();
            let t = corenet::spawn_local(async move {
                *s2.borrow_mut() += 41;
                1
            });
            let one = t.await.unwrap();
            *shared.borrow() + one
        });
        assert_eq!(got, 42);
    }
}

fn write_after_shutdown_is_an_error(backend: Backend) {
    let rt = start(backend, builder(1));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    server.serve(move |socket| {
        let tx = tx.lock().unwrap().clone();
        async move {
            socket.write(b"bye").await.unwrap();
            socket.shutdown().await.unwrap();
            let err = socket.write(b"more").await.unwrap_err();
            tx.send(err.kind()).unwrap();
        }
    });
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        std::io::ErrorKind::BrokenPipe
    );
    s.write_all(b"x").ok();
}
