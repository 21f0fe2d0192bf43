//! Zero heap allocations per echoed message in steady state (the async face's two write
//! paths and the Node face's `'data'` → `write`), counted by a global allocator
//! on the runtime's core threads only. In its own test binary: the count is process-wide
//! state that other tests would disturb.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::net::{self, ServerOptions};
use corenet::{Backend, Server};

backend_tests! {
    zero_allocations_per_echoed_message(secs(120));
}

struct CountingAlloc;

static CORE_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static ON_CORE: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON_CORE.with(|c| c.get()) {
            CORE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ON_CORE.with(|c| c.get()) {
            CORE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `rounds` request/response exchanges of `msg` bytes with `depth` messages in flight on
/// each connection.
fn exchange(conns: &mut [TcpStream], msg: usize, depth: usize, rounds: usize) {
    let out = vec![0x5a_u8; msg * depth];
    let mut back = vec![0_u8; msg * depth];
    for _ in 0..rounds {
        for c in conns.iter_mut() {
            c.write_all(&out).unwrap();
        }
        for c in conns.iter_mut() {
            c.read_exact(&mut back).unwrap();
            assert_eq!(back, out);
        }
    }
}

/// Allocations on the core in each of `WINDOWS` measured windows, after a warm-up.
const WINDOWS: usize = 4;
const ROUNDS_PER_WINDOW: usize = 1500;

/// How the server echoes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Face {
    /// The async face, sending the received chunk itself (`write_owned`).
    AsyncOwned,
    /// The async face, copying (`write(&chunk)`).
    AsyncCopy,
    /// The Node face: `'data'` listener calling `write`.
    Node,
}

/// An echo server of `face` on the runtime's core 0: its address, and the async face's
/// server handle (it stops listening when dropped; the Node face's lives on its core).
fn echo_server(rt: &corenet::Runtime, face: Face) -> (SocketAddr, Option<Server>) {
    if face == Face::Node {
        let (tx, rx) = std::sync::mpsc::channel();
        rt.block_on(0, move || async move {
            let server = net::create_server(ServerOptions::default(), || {
                |socket: &net::Socket| {
                    socket.on_data(|s, chunk| {
                        s.write(chunk);
                    });
                }
            });
            server.listen((0, "127.0.0.1")).unwrap();
            let Some(net::Address::Tcp(addr)) = server.address() else {
                panic!("no TCP address")
            };
            tx.send(addr).unwrap();
        });
        return (rx.recv_timeout(Duration::from_secs(10)).unwrap(), None);
    }
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(move |socket| async move {
        while let Ok(Some(chunk)) = socket.read().await {
            let r = if face == Face::AsyncCopy {
                socket.write(&chunk).await
            } else {
                socket.write_owned(chunk).await
            };
            if r.is_err() {
                return;
            }
        }
    });
    (server.local_addr(), Some(server))
}

fn measure(backend: Backend, face: Face) -> Vec<u64> {
    let rt = start(
        backend,
        builder(1).on_thread_start(|_| ON_CORE.with(|c| c.set(true))),
    );
    let (addr, _server) = echo_server(&rt, face);
    let mut conns: Vec<TcpStream> = (0..8)
        .map(|_| {
            let s = TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        })
        .collect();
    // Warm-up: queues, slabs, pools and the completion vector reach their working sizes.
    exchange(&mut conns, 64, 4, 2000);
    let started = CORE_ALLOCS.load(Ordering::Relaxed);
    // The counter does see the core: setting it up allocated.
    assert!(
        started > 0,
        "the counting allocator saw no allocation on the core thread"
    );
    (0..WINDOWS)
        .map(|_| {
            let before = CORE_ALLOCS.load(Ordering::Relaxed);
            exchange(&mut conns, 64, 4, ROUNDS_PER_WINDOW);
            CORE_ALLOCS.load(Ordering::Relaxed) - before
        })
        .collect()
}

/// Zero per message: whole windows of 48,000 echoed messages without one allocation. A queue
/// or pool can still grow once when load reaches a new peak (a scheduling hiccup on a busy
/// machine), so a few such allocations in total are tolerated, but never in every window.
fn zero_allocations_per_echoed_message(backend: Backend) {
    let _serial = common::serial();
    let messages = ROUNDS_PER_WINDOW * 8 * 4;
    for face in [Face::AsyncOwned, Face::AsyncCopy, Face::Node] {
        let windows = measure(backend, face);
        eprintln!(
            "{backend:?} {face:?}: allocations on the core per window of {messages} messages: {windows:?}"
        );
        assert!(
            windows.contains(&0),
            "{backend:?} {face:?}: allocations in every window: {windows:?}"
        );
        assert!(
            windows.iter().sum::<u64>() < 8,
            "{backend:?} {face:?}: {windows:?}"
        );
    }
}
