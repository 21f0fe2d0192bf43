//! The soak: mixed traffic with random resets for a set time against an async-face and a
//! Node-face echo server sharing one two-core runtime with a small buffer pool; every echoed
//! byte checked. Reports bytes verified and errors; fails on any error. Run by
//! `scripts/soak.sh MINUTES` (and for 30 s in CI); ignored in the normal test run.
//!
//! `CORENET_SOAK_SECS` (default 30) sets the duration, `CORENET_SOAK_SEED` the seed.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::backends::{builder, start};
use common::pattern::mix64;
use common::{StressConfig, echo_roundtrip, reset_mid_stream, secs, stress};
use corenet::net::{self, Address, ServerOptions, Socket as NodeSocket};
use corenet::{Backend, Server};

#[test]
#[ignore = "the soak: run by scripts/soak.sh"]
fn uring_soak() {
    soak(Backend::IoUring);
}

#[test]
#[ignore = "the soak: run by scripts/soak.sh"]
fn compat_soak() {
    soak(Backend::Compat);
}

#[derive(Default)]
struct Tally {
    round_trips: AtomicU64,
    bytes_verified: AtomicU64,
    resets: AtomicU64,
    abandoned: AtomicU64,
    stress_rounds: AtomicU64,
    errors: AtomicU64,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn soak(backend: Backend) {
    let duration = Duration::from_secs(env_u64("CORENET_SOAK_SECS", 30));
    let seed = env_u64("CORENET_SOAK_SEED", 0x50A4);
    common::watchdog(
        &format!("{backend:?} soak"),
        duration + secs(180),
        move || run(backend, duration, seed),
    );
}

fn run(backend: Backend, duration: Duration, seed: u64) {
    // 64 receive buffers of 2 KiB per core: the pool runs dry under this load.
    let rt = start(
        backend,
        builder(2)
            .buffer_count(64)
            .buffer_size(2048)
            .connection_buffer_cap(4),
    );
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(|socket| async move {
        while let Ok(Some(c)) = socket.read().await {
            if socket.write_owned(c).await.is_err() {
                return;
            }
        }
        let _ = socket.shutdown().await;
    });
    let (tx, rx) = std::sync::mpsc::channel();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &NodeSocket| {
                socket.on_data(|s, chunk| {
                    s.write(chunk);
                });
                socket.on_error(|_, _| {});
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!("no TCP address")
        };
        tx.send(a).unwrap();
        std::mem::forget(server);
    });
    let node_addr: SocketAddr = rx.recv().unwrap();
    let addrs = [server.local_addr(), node_addr];
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let tally = tally.clone();
            std::thread::spawn(move || {
                let mut rng = mix64(seed ^ (w + 1));
                while Instant::now() < deadline {
                    rng = mix64(rng);
                    let addr = addrs[(rng >> 8) as usize % 2];
                    match rng % 100 {
                        0..60 => {
                            let size = (mix64(rng) % (256 * 1024)) as usize;
                            match echo_roundtrip(addr, size, rng) {
                                Ok(()) => {
                                    tally.round_trips.fetch_add(1, Ordering::Relaxed);
                                    tally
                                        .bytes_verified
                                        .fetch_add(size as u64, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    eprintln!("{backend:?} soak: {e}");
                                    tally.errors.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        60..75 => match reset_mid_stream(addr) {
                            Ok(()) => {
                                tally.resets.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                eprintln!("{backend:?} soak: reset: {e}");
                                tally.errors.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                        75..90 => {
                            // Send part of a message and leave (FIN) without reading.
                            if let Ok(mut s) = TcpStream::connect(addr) {
                                let _ = s.write_all(&[7u8; 3000]);
                                let mut b = [0u8; 10];
                                let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
                                let _ = s.read(&mut b);
                            }
                            tally.abandoned.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            let cfg = StressConfig {
                                conns: 50,
                                max_bytes: 64 * 1024,
                                timeout: secs(60),
                                seed: rng,
                                ..StressConfig::default()
                            };
                            match stress(addr, cfg) {
                                Ok(r) => {
                                    tally.stress_rounds.fetch_add(1, Ordering::Relaxed);
                                    tally
                                        .bytes_verified
                                        .fetch_add(r.total_bytes, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    eprintln!("{backend:?} soak: stress: {e}");
                                    tally.errors.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // Still serving after all that.
    for addr in addrs {
        echo_roundtrip(addr, 1 << 20, seed).unwrap();
    }
    let stats = rt.stats();
    let t = &*tally;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "soak {backend:?}: {:.0} s, seed {seed:#x}: {} bytes verified (echoed and checked), {} round \
         trips, {} stress rounds of 50 connections, {} resets mid-stream, {} abandoned \
         connections, {} errors; receives starved {} times, compactions {}",
        started.elapsed().as_secs_f64(),
        get(&t.bytes_verified),
        get(&t.round_trips),
        get(&t.stress_rounds),
        get(&t.resets),
        get(&t.abandoned),
        get(&t.errors),
        stats.iter().map(|s| s.recv_starved).sum::<u64>(),
        stats.iter().map(|s| s.compactions).sum::<u64>(),
    );
    assert_eq!(get(&t.errors), 0, "{backend:?} soak: errors (see above)");
    assert!(get(&t.bytes_verified) > 0);
}
