//! Per-core counters read from another thread: connections open and total, bytes in and out,
//! accepts, driver waits — on both backends.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::backends::{builder, start};
use common::secs;
use corenet::{Backend, CoreStats, Server};

backend_tests! {
    counters_track_connections_and_bytes(secs(30));
}

/// The sum of every core's counters.
fn total(rt: &corenet::Runtime) -> CoreStats {
    rt.stats()
        .into_iter()
        .fold(CoreStats::default(), |mut t, c| {
            t.accepted += c.accepted;
            t.connections_open += c.connections_open;
            t.connections_total += c.connections_total;
            t.bytes_in += c.bytes_in;
            t.bytes_out += c.bytes_out;
            t.turns += c.turns;
            t.parks += c.parks;
            t
        })
}

/// Polls `rt`'s totals until `ok` holds (5 s at most); returns the last totals.
fn until(rt: &corenet::Runtime, ok: impl Fn(&CoreStats) -> bool) -> CoreStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let t = total(rt);
        if ok(&t) || Instant::now() > deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Three echo connections of 10,000 bytes each: 3 open, 3 in total, 30,000 bytes in and
/// out, 3 accepts; after the clients close, 0 open and still 3 in total. A client socket
/// connected from a core counts on that core too.
fn counters_track_connections_and_bytes(backend: Backend) {
    let rt = start(backend, builder(2));
    let before = total(&rt);
    assert_eq!(before.connections_total, 0);
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(|socket| async move {
        while let Ok(Some(chunk)) = socket.read().await {
            if socket.write_owned(chunk).await.is_err() {
                return;
            }
        }
        let _ = socket.shutdown().await;
    });
    let addr = server.local_addr();
    let data: Vec<u8> = (0..10_000).map(|i| (i % 251) as u8).collect();
    let mut clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for c in &mut clients {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(&data).unwrap();
        let mut back = vec![0; data.len()];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, data);
    }
    let t = until(&rt, |t| t.bytes_out == 30_000 && t.connections_open == 3);
    assert_eq!(
        (
            t.accepted,
            t.connections_open,
            t.connections_total,
            t.bytes_in,
            t.bytes_out
        ),
        (3, 3, 3, 30_000, 30_000),
        "{t:?}"
    );
    assert!(t.turns > 0 && t.parks > 0, "{t:?}");
    drop(clients);
    let t = until(&rt, |t| t.connections_open == 0);
    assert_eq!((t.connections_open, t.connections_total), (0, 3), "{t:?}");
    // A connection made from core 1 counts there (its peer, accepted, on whichever core).
    rt.block_on(1, move || async move {
        let s = corenet::Socket::connect(addr).await.unwrap();
        s.write(b"ping").await.unwrap();
        let _ = s.read().await.unwrap();
    });
    let core1 = rt.stats()[1];
    assert!(core1.connections_total >= 1, "{core1:?}");
    let t = until(&rt, |t| t.connections_open == 0 && t.connections_total == 5);
    assert_eq!((t.connections_open, t.connections_total), (0, 5), "{t:?}");
}
