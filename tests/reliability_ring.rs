//! Buffer-ring exhaustion through the Node face (the async face's run is echo.rs'
//! `stress_1000_conns_tiny_ring`): 500 checksummed connections through 8 receive buffers of
//! 1 KiB, a cap of 2 chunks per connection, and a 'data' handler that echoes each chunk, on
//! both backends. The pool runs dry over and over (io_uring: receives end with ENOBUFS; compat:
//! receives wait a park for buffers); no byte is lost or reordered and nothing stalls once
//! buffers return.
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

fn node_face_500_conns_through_8_buffers(backend: Backend) {
    let rt = start(
        backend,
        builder(1)
            .buffer_count(8)
            .buffer_size(1024)
            .connection_buffer_cap(2),
    );
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
    let addr = rx.recv().unwrap();
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
