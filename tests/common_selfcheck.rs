//! Self-check of the client helpers in `tests/common` against a tiny
//! thread-per-connection std echo server (plus faulty variants of it, to
//! prove that the checkers catch corruption, truncation and stalls).

mod common;

use common::pattern::{Checksum, fill_pattern, pattern};
use common::{
    Progress, StressConfig, connect_many, echo_roundtrip, half_close_check, millis,
    reset_mid_stream, secs, stress, watchdog, watchdog_progress,
};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the test server does with each connection's byte stream.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Echo everything until EOF, then shutdown(Write).
    Echo,
    /// Echo, but flip the byte at this stream offset.
    CorruptAt(u64),
    /// Echo only this many bytes, then shutdown(Write) and discard the rest.
    TruncateAt(u64),
    /// Never read nor answer; hold the connection open for a few seconds.
    Stall,
}

#[derive(Debug, Default)]
struct Stats {
    accepted: AtomicUsize,
    clean: AtomicUsize,
    errors: AtomicUsize,
}

/// A std echo server on a loopback port; stops accepting when dropped.
#[derive(Debug)]
struct EchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    acceptor: Option<JoinHandle<()>>,
}

impl EchoServer {
    fn start(mode: Mode) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), mode).expect("bind 127.0.0.1")
    }

    fn start_on(bind: SocketAddr, mode: Mode) -> io::Result<Self> {
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(bind),
            socket2::Type::STREAM,
            None,
        )?;
        sock.set_reuse_address(true)?;
        sock.bind(&bind.into())?;
        sock.listen(1024)?;
        let listener: TcpListener = sock.into();
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let acceptor = {
            let (stop, stats) = (stop.clone(), stats.clone());
            thread::Builder::new()
                .name("echo-accept".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        stats.accepted.fetch_add(1, Ordering::SeqCst);
                        let conn_stats = stats.clone();
                        let spawned = thread::Builder::new()
                            .name("echo-conn".into())
                            .stack_size(256 * 1024)
                            .spawn(move || {
                                let counter = match serve(conn, mode) {
                                    Ok(()) => &conn_stats.clean,
                                    Err(_) => &conn_stats.errors,
                                };
                                counter.fetch_add(1, Ordering::SeqCst);
                            });
                        if spawned.is_err() {
                            stats.errors.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })?
        };
        Ok(EchoServer {
            addr,
            stop,
            stats,
            acceptor: Some(acceptor),
        })
    }

    /// Waits until `pred(stats)` holds, up to `limit`.
    fn wait_for(&self, limit: Duration, pred: impl Fn(&Stats) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if pred(&self.stats) {
                return true;
            }
            thread::sleep(millis(10));
        }
        pred(&self.stats)
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

/// Serves one connection; connection threads always end (EOF, error or a
/// 30 s idle timeout).
fn serve(mut conn: TcpStream, mode: Mode) -> io::Result<()> {
    conn.set_read_timeout(Some(secs(30)))?;
    conn.set_write_timeout(Some(secs(30)))?;
    if let Mode::Stall = mode {
        thread::sleep(secs(3));
        return Ok(());
    }
    let mut buf = vec![0u8; 32 * 1024];
    let mut off: u64 = 0;
    let mut write_open = true;
    loop {
        let n = match conn.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        let chunk = &mut buf[..n];
        let start = off;
        off += n as u64;
        match mode {
            Mode::Echo => conn.write_all(chunk)?,
            Mode::CorruptAt(at) => {
                if (start..off).contains(&at) {
                    chunk[(at - start) as usize] ^= 0x5A;
                }
                conn.write_all(chunk)?;
            }
            Mode::TruncateAt(at) => {
                if write_open {
                    let keep = at.saturating_sub(start).min(n as u64) as usize;
                    conn.write_all(&chunk[..keep])?;
                    if off >= at {
                        conn.shutdown(Shutdown::Write)?;
                        write_open = false;
                    }
                }
            }
            Mode::Stall => unreachable!(),
        }
    }
    if write_open {
        conn.shutdown(Shutdown::Write)?;
    }
    Ok(())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "<non-string panic>".to_owned()
    }
}

#[test]
fn pattern_and_checksum() {
    let whole = pattern(7, 1000);
    for start in [0usize, 1, 3, 8, 13, 500, 999, 1000] {
        for len in [0usize, 1, 5, 8, 9, 17, 64] {
            let end = (start + len).min(whole.len());
            let mut part = vec![0u8; end - start];
            fill_pattern(7, start as u64, &mut part);
            assert_eq!(part, &whole[start..end], "start {start} len {len}");
        }
    }
    assert_ne!(pattern(7, 64), pattern(8, 64));

    let data = pattern(1, 100_000);
    let mut one = Checksum::new();
    one.update(&data);
    let mut many = Checksum::new();
    for c in data.chunks(7) {
        many.update(c);
    }
    assert_eq!(one, many);
    let mut swapped = data.clone();
    let i = (0..data.len() - 1)
        .find(|&i| data[i] != data[i + 1])
        .unwrap();
    swapped.swap(i, i + 1);
    let mut s = Checksum::new();
    s.update(&swapped);
    assert_ne!(
        s.value(),
        one.value(),
        "reordered bytes must change the checksum"
    );
}

#[test]
fn watchdog_returns_value() {
    assert_eq!(watchdog("watchdog_returns_value", secs(10), || 6 * 7), 42);
    let v = watchdog_progress("watchdog_progress_value", secs(10), |p: &Progress| {
        p.set("working");
        p.add(3);
        p.count()
    });
    assert_eq!(v, 3);
}

#[test]
fn watchdog_times_out_with_progress() {
    let started = Instant::now();
    let caught = std::panic::catch_unwind(|| {
        watchdog_progress("sleepy_body", millis(200), |p: &Progress| {
            p.set("stuck in phase two");
            p.add(5);
            thread::sleep(secs(3));
        })
    });
    let msg = panic_message(&*caught.expect_err("must time out"));
    assert!(started.elapsed() < secs(2), "took {:?}", started.elapsed());
    assert!(msg.contains("sleepy_body"), "{msg}");
    assert!(msg.contains("timed out"), "{msg}");
    assert!(msg.contains("stuck in phase two"), "{msg}");
    assert!(msg.contains("counter = 5"), "{msg}");
}

#[test]
fn watchdog_propagates_panic() {
    let caught = std::panic::catch_unwind(|| {
        watchdog("panicky_body", secs(10), || panic!("boom from body"))
    });
    let msg = panic_message(&*caught.expect_err("must panic"));
    assert_eq!(msg, "boom from body");
}

#[test]
fn echo_roundtrip_sizes() {
    let server = EchoServer::start(Mode::Echo);
    let addr = server.addr;
    watchdog("echo_roundtrip_sizes", secs(60), move || {
        for (i, size) in [0usize, 1, 7, 1000, 65_536, 65_543, 1 << 20, 8 << 20]
            .into_iter()
            .enumerate()
        {
            echo_roundtrip(addr, size, i as u64).unwrap();
        }
    });
    assert!(server.wait_for(secs(5), |s| s.clean.load(Ordering::SeqCst) == 8));
}

#[test]
fn echo_roundtrip_ipv6() {
    let Ok(server) = EchoServer::start_on("[::1]:0".parse().unwrap(), Mode::Echo) else {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    };
    let addr = server.addr;
    watchdog("echo_roundtrip_ipv6", secs(30), move || {
        echo_roundtrip(addr, 300_000, 99).unwrap();
        half_close_check(addr, b"over ipv6").unwrap();
    });
}

#[test]
fn echo_roundtrip_detects_corruption_and_truncation() {
    let corrupt = EchoServer::start(Mode::CorruptAt(12_345));
    let truncate = EchoServer::start(Mode::TruncateAt(5_000));
    let (ca, ta) = (corrupt.addr, truncate.addr);
    watchdog("echo_roundtrip_detects", secs(30), move || {
        let e = echo_roundtrip(ca, 100_000, 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains("offset 12345"), "{e}");
        // A stream shorter than the corrupted offset is intact.
        echo_roundtrip(ca, 12_345, 1).unwrap();

        let e = echo_roundtrip(ta, 100_000, 2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        assert!(e.to_string().contains("after 5000 of 100000"), "{e}");

        let e = half_close_check(ca, &[7u8; 20_000]).unwrap_err();
        assert!(e.to_string().contains("offset 12345"), "{e}");
    });
}

#[test]
fn half_close_payloads() {
    let server = EchoServer::start(Mode::Echo);
    let addr = server.addr;
    watchdog("half_close_payloads", secs(30), move || {
        half_close_check(addr, b"").unwrap();
        half_close_check(addr, b"hello, half-closed world").unwrap();
        half_close_check(addr, &pattern(3, 3 << 20)).unwrap();
    });
}

#[test]
fn reset_mid_stream_leaves_server_healthy() {
    let server = EchoServer::start(Mode::Echo);
    let addr = server.addr;
    watchdog("reset_mid_stream", secs(30), move || {
        for _ in 0..5 {
            reset_mid_stream(addr).unwrap();
        }
        echo_roundtrip(addr, 100_000, 5).unwrap();
    });
    // The server saw the resets as errors on those connections.
    assert!(
        server.wait_for(secs(5), |s| s.errors.load(Ordering::SeqCst) >= 1
            && s.errors.load(Ordering::SeqCst) + s.clean.load(Ordering::SeqCst) == 6),
        "{:?}",
        server.stats
    );
}

#[test]
fn connect_many_connects() {
    let server = EchoServer::start(Mode::Echo);
    let addr = server.addr;
    watchdog("connect_many", secs(30), move || {
        let mut socks = connect_many(addr, 64);
        assert_eq!(socks.len(), 64);
        for (i, s) in socks.iter_mut().enumerate() {
            s.set_read_timeout(Some(secs(10))).unwrap();
            s.write_all(&[i as u8]).unwrap();
        }
        for (i, s) in socks.iter_mut().enumerate() {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            assert_eq!(b[0], i as u8);
        }
    });
    assert!(server.wait_for(secs(5), |s| s.clean.load(Ordering::SeqCst) == 64));
}

fn small_stress() -> StressConfig {
    StressConfig {
        conns: 200,
        min_bytes: 0,
        max_bytes: 32 * 1024,
        max_write: 4 * 1024,
        timeout: secs(30),
        ..StressConfig::default()
    }
}

#[test]
fn stress_small() {
    let server = EchoServer::start(Mode::Echo);
    let addr = server.addr;
    let report = watchdog("stress_small", secs(60), move || {
        stress(addr, small_stress()).unwrap()
    });
    assert_eq!(report.conns_completed, 200);
    assert!(report.total_bytes > 0);
    eprintln!("stress_small: {report:?}");
}

#[test]
fn stress_slow_reader() {
    let server = EchoServer::start(Mode::Echo);
    let addr = server.addr;
    let cfg = StressConfig {
        conns: 50,
        min_bytes: 64 * 1024,
        max_bytes: 160 * 1024,
        max_write: 16 * 1024,
        slow_reader: true,
        seed: 11,
        ..small_stress()
    };
    let report = watchdog("stress_slow_reader", secs(60), move || {
        stress(addr, cfg).unwrap()
    });
    assert_eq!(report.conns_completed, 50);
    eprintln!("stress_slow_reader: {report:?}");
}

#[test]
fn stress_detects_corruption_truncation_and_stall() {
    let corrupt = EchoServer::start(Mode::CorruptAt(1_000));
    let truncate = EchoServer::start(Mode::TruncateAt(2_000));
    let stall = EchoServer::start(Mode::Stall);
    let (ca, ta, sa) = (corrupt.addr, truncate.addr, stall.addr);
    watchdog("stress_detects", secs(60), move || {
        let cfg = StressConfig {
            conns: 20,
            min_bytes: 3_000,
            max_bytes: 20_000,
            ..small_stress()
        };
        let e = stress(ca, cfg.clone()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        let msg = e.to_string();
        eprintln!("expected failure: {msg}");
        assert!(msg.contains("connection #"), "{msg}");
        assert!(msg.contains("offset 1000"), "{msg}");

        let e = stress(ta, cfg.clone()).unwrap_err();
        eprintln!("expected failure: {e}");
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        assert!(
            e.to_string().contains("EOF too early: after 2000 of"),
            "{e}"
        );

        let started = Instant::now();
        let e = stress(
            sa,
            StressConfig {
                timeout: secs(1),
                ..cfg
            },
        )
        .unwrap_err();
        eprintln!("expected failure: {e}");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(
            e.to_string().contains("0 of 20 connections completed"),
            "{e}"
        );
        assert!(started.elapsed() < secs(10), "took {:?}", started.elapsed());
    });
}

/// Starts an echo server on a currently free port after `delay`; the
/// returned handle yields the server (keep it alive until done).
fn delayed_server(delay: Duration) -> (SocketAddr, JoinHandle<EchoServer>) {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let h = thread::spawn(move || {
        thread::sleep(delay);
        EchoServer::start_on(addr, Mode::Echo).expect("rebind the reserved port")
    });
    (addr, h)
}

#[test]
fn connects_retry_until_listener_is_up() {
    watchdog("connects_retry", secs(30), || {
        let (addr, h) = delayed_server(millis(300));
        let started = Instant::now();
        echo_roundtrip(addr, 10_000, 3).unwrap();
        assert!(started.elapsed() >= millis(250), "{:?}", started.elapsed());
        drop(h.join().unwrap());

        let (addr, h) = delayed_server(millis(300));
        let report = stress(
            addr,
            StressConfig {
                conns: 20,
                ..small_stress()
            },
        )
        .unwrap();
        assert_eq!(report.conns_completed, 20);
        assert!(report.connect_retries >= 20, "{report:?}");
        drop(h.join().unwrap());
    });
}

/// The full default run (1000 connections, up to 256 KiB each) against the
/// std server: `cargo test --test common_selfcheck -- --ignored`.
#[test]
#[ignore = "full-size run; a few seconds of CPU"]
fn stress_default_full_size() {
    let server = EchoServer::start(Mode::Echo);
    let addr = server.addr;
    let report = watchdog("stress_default_full_size", secs(120), move || {
        stress(addr, StressConfig::default()).unwrap()
    });
    assert_eq!(report.conns_completed, 1000);
    eprintln!("stress_default_full_size: {report:?}");
}
