//! Slow and stalled readers. Clients that never read while the server writes: an app that
//! respects write()'s answer (async face: `write().await` waits at the high-water mark; Node
//! face: `write()` returns false, then 'drain') keeps the server's memory bounded, and every
//! byte still arrives, in order, once the clients read. `pause()` on one socket stops it
//! taking receive buffers from a tiny pool without starving the others. In its own test
//! binary: it reads the whole process's resident memory.
#![cfg(target_os = "linux")]

mod common;

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::{echo_roundtrip, secs};
use corenet::net::{self, Address, ServerOptions, Socket as NodeSocket};
use corenet::{Backend, Server};

backend_tests! {
    stalled_readers_keep_memory_bounded_async_face(secs(180));
    stalled_readers_keep_memory_bounded_node_face(secs(180));
    pause_one_socket_does_not_starve_the_others(secs(120));
}

/// Stalled clients.
const CLIENTS: usize = 32;
/// What the server means to send each of them: 512 MiB in all, far above what the kernel's
/// socket buffers absorb (a few MiB per connection on loopback) and the bound below.
const PER_CLIENT: u64 = 16 << 20;
/// The server's writes.
const WRITE: usize = 64 * 1024;
/// The client's receive buffer, so the kernel itself holds little of the backlog.
const CLIENT_RCVBUF: usize = 16 * 1024;

/// Byte `off` of every stream: a period (251) that no write or buffer size divides, so a
/// lost, repeated or reordered piece shows.
fn byte_at(off: u64) -> u8 {
    (off % 251) as u8
}

/// The stream's bytes from any offset, as slices of one table (memcpy and memcmp speed, even
/// in a debug build).
fn stream_at(off: u64, len: usize) -> &'static [u8] {
    static TABLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| (0..251 + 64 * 1024).map(byte_at).collect());
    let start = (off % 251) as usize;
    &table[start..start + len]
}

fn fill(off: u64, buf: &mut [u8]) {
    buf.copy_from_slice(stream_at(off, buf.len()));
}

/// Connects `CLIENTS` clients with a small receive buffer that send one byte and never read.
fn stalled_clients(addr: SocketAddr) -> Vec<TcpStream> {
    (0..CLIENTS)
        .map(|_| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.set_recv_buffer_size(CLIENT_RCVBUF).unwrap();
            s.connect(&addr.into()).unwrap();
            let s: TcpStream = s.into();
            s.set_read_timeout(Some(secs(30))).unwrap();
            std::io::Write::write_all(&mut &s, b"g").unwrap();
            s
        })
        .collect()
}

/// Waits until `sent` stops growing for a while (the writers are all blocked); returns it.
fn wait_for_stall(sent: &AtomicU64) -> u64 {
    let mut last = sent.load(Ordering::SeqCst);
    let mut still = 0;
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(100));
        let now = sent.load(Ordering::SeqCst);
        if now == last && now > 0 {
            still += 1;
            if still >= 10 {
                return now;
            }
        } else {
            still = 0;
        }
        last = now;
    }
    panic!("the server's writes never stalled: {last} bytes queued so far");
}

/// The common check: RSS grows by far less than what the server means to send, then every
/// client reads its whole stream, verified.
fn check_bounded(what: &str, sent: &AtomicU64, clients: Vec<TcpStream>, rss_before: u64) {
    let stalled_at = wait_for_stall(sent);
    let rss = common::rss_kib();
    let grew = rss.saturating_sub(rss_before);
    let intended_kib = CLIENTS as u64 * PER_CLIENT / 1024;
    eprintln!(
        "{what}: {CLIENTS} stalled readers; the server queued {} KiB of {intended_kib} KiB \
         and stalled; RSS {rss_before} KiB -> {rss} KiB (+{grew} KiB, {} KiB per client)",
        stalled_at / 1024,
        grew / CLIENTS as u64
    );
    assert!(
        stalled_at < CLIENTS as u64 * PER_CLIENT,
        "{what}: nothing held the writers back"
    );
    // High-water mark (64 KiB) plus one write in flight per client, and slack for the
    // allocator and the runtime: 4 MiB + 16 MiB, against ~400 MiB if writes were unbounded.
    let bound = CLIENTS as u64 * 2 * WRITE as u64 / 1024 + 16 * 1024;
    assert!(
        grew < bound,
        "{what}: RSS grew by {grew} KiB with stalled readers (bound {bound} KiB)"
    );
    // Now read: every byte arrives, in order.
    std::thread::scope(|scope| {
        for (i, mut c) in clients.into_iter().enumerate() {
            scope.spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut off = 0u64;
                while off < PER_CLIENT {
                    let n = c
                        .read(&mut buf)
                        .unwrap_or_else(|e| panic!("{what}: client {i} at {off}: {e}"));
                    assert!(n > 0, "{what}: client {i}: EOF at {off} of {PER_CLIENT}");
                    if buf[..n] != *stream_at(off, n) {
                        let k = (0..n).find(|&k| buf[k] != byte_at(off + k as u64)).unwrap();
                        panic!("{what}: client {i}: wrong byte at {}", off + k as u64);
                    }
                    off += n as u64;
                }
            });
        }
    });
    // The server counts a write once it returns, which may be after the client read it.
    let total = CLIENTS as u64 * PER_CLIENT;
    for _ in 0..500 {
        if sent.load(Ordering::SeqCst) == total {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(sent.load(Ordering::SeqCst), total);
}

fn stalled_readers_keep_memory_bounded_async_face(backend: Backend) {
    let _serial = common::serial();
    let rt = start(backend, builder(1));
    let sent = Arc::new(AtomicU64::new(0));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let counter = sent.clone();
    server.serve(move |socket| {
        let sent = counter.clone();
        async move {
            if !matches!(socket.read().await, Ok(Some(_))) {
                return;
            }
            let mut buf = vec![0u8; WRITE];
            let mut off = 0u64;
            while off < PER_CLIENT {
                let n = (PER_CLIENT - off).min(WRITE as u64) as usize;
                fill(off, &mut buf[..n]);
                // Resolves once the queue is below the high-water mark: the backpressure.
                if socket.write(&buf[..n]).await.is_err() {
                    return;
                }
                off += n as u64;
                sent.fetch_add(n as u64, Ordering::SeqCst);
            }
            let _ = socket.flush().await;
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let rss_before = common::rss_kib();
    let clients = stalled_clients(server.local_addr());
    check_bounded(&format!("{backend:?}/async"), &sent, clients, rss_before);
}

fn stalled_readers_keep_memory_bounded_node_face(backend: Backend) {
    let _serial = common::serial();
    let rt = start(backend, builder(1));
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), move || {
            let sent = counter.clone();
            move |socket: &NodeSocket| {
                let sent = sent.clone();
                let off = Rc::new(Cell::new(0u64));
                let buf = Rc::new(RefCell::new(vec![0u8; WRITE]));
                // Writes until write() says "full", then waits for 'drain'.
                let pump = move |s: &NodeSocket| {
                    while off.get() < PER_CLIENT {
                        let n = (PER_CLIENT - off.get()).min(WRITE as u64) as usize;
                        let mut b = buf.borrow_mut();
                        fill(off.get(), &mut b[..n]);
                        let more = s.write(&b[..n]);
                        off.set(off.get() + n as u64);
                        sent.fetch_add(n as u64, Ordering::SeqCst);
                        if !more {
                            return;
                        }
                    }
                    s.end(None);
                };
                let pump = Rc::new(pump);
                let p = pump.clone();
                socket.once_data(move |s, _| p(s));
                socket.on_drain(move |s| pump(s));
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!("no TCP address")
        };
        tx.send(a).unwrap();
    });
    let addr = rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let rss_before = common::rss_kib();
    let clients = stalled_clients(addr);
    check_bounded(&format!("{backend:?}/node"), &sent, clients, rss_before);
}

thread_local! {
    /// Core 0's paused socket, kept for the test to resume.
    static PAUSED: RefCell<Option<NodeSocket>> = const { RefCell::new(None) };
    /// Pause the next connection that sends data.
    static PAUSE_NEXT: Cell<bool> = const { Cell::new(false) };
}

fn pause_one_socket_does_not_starve_the_others(backend: Backend) {
    let _serial = common::serial();
    // 8 receive buffers of 1 KiB for everyone: a paused socket that kept taking buffers
    // would leave none for the others.
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
            |socket: &NodeSocket| {
                socket.on_data(|s, chunk| {
                    if PAUSE_NEXT.with(|p| p.replace(false)) {
                        s.pause();
                        PAUSED.with(|p| *p.borrow_mut() = Some(s.clone()));
                    }
                    s.write(chunk);
                });
                socket.on_end(|s| s.end(None));
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!("no TCP address")
        };
        tx.send(a).unwrap();
    });
    let addr = rx.recv().unwrap();
    rt.block_on(0, || async { PAUSE_NEXT.with(|p| p.set(true)) });
    // The paused client sends 2 MiB (it blocks once the kernel's buffers fill) and verifies
    // the echo once resumed.
    let paused = std::thread::spawn(move || echo_roundtrip(addr, 2 << 20, 0xAB));
    let mut waited = 0;
    while !rt.block_on(0, || async { PAUSED.with(|p| p.borrow().is_some()) }) {
        waited += 1;
        assert!(waited < 500, "the first connection was never paused");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Meanwhile 16 others echo 256 KiB each through the same 8 buffers.
    let others: Vec<_> = (0..16)
        .map(|i| std::thread::spawn(move || echo_roundtrip(addr, 256 * 1024, i)))
        .collect();
    for (i, o) in others.into_iter().enumerate() {
        o.join().unwrap().unwrap_or_else(|e| {
            panic!(
                "{backend:?}: client {i} starved by a paused socket: {e}; {:?}",
                rt.stats()
            )
        });
    }
    assert!(!paused.is_finished(), "the paused socket was echoed anyway");
    let read_while_paused = rt.block_on(0, || async {
        PAUSED.with(|p| p.borrow().as_ref().unwrap().bytes_read())
    });
    rt.block_on(0, || async {
        PAUSED.with(|p| {
            let s = p.borrow_mut().take().unwrap();
            s.resume();
        });
    });
    paused
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("{backend:?}: the resumed socket lost data: {e}"));
    eprintln!(
        "{backend:?}: paused socket had read {read_while_paused} bytes of 2 MiB while 16 others \
         echoed 4 MiB through 8 x 1 KiB buffers; stats {:?}",
        rt.stats()
    );
}
