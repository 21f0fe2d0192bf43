//! Shared by the Node conformance tests: an event log collected on core 0, and servers.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use corenet::net::{self, Address, Server, ServerOptions, Socket};

/// Events in the order they came.
pub type Log = Rc<RefCell<Vec<String>>>;

/// Appends `entry` to `log`.
pub fn push(log: &Log, entry: impl Into<String>) {
    log.borrow_mut().push(entry.into());
}

/// Sends the log back to the test thread (only the first call counts).
pub type Done = Rc<dyn Fn()>;

/// Runs `f(log, done)` on core 0 and returns the log once `done` was called (20 s max).
pub fn with_log(rt: &corenet::Runtime, f: impl FnOnce(Log, Done) + Send + 'static) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let log: Log = Rc::default();
        let out = log.clone();
        f(
            log,
            Rc::new(move || {
                let _ = tx.send(out.borrow().clone());
            }),
        );
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the test's events completed")
}

/// Runs `f` on core 0 and returns what it sends through the channel within 20 s.
pub fn on_core0<T: Send + 'static>(
    rt: &corenet::Runtime,
    f: impl FnOnce(mpsc::Sender<T>) + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move { f(tx) });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the callback ran")
}

/// A std (thread-per-connection) echo server that half-closes after the peer does.
pub fn std_echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// A port nobody listens on (bound, noted, closed).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a Node-face server on 127.0.0.1 on core 0 whose connections run `handler`;
/// returns its address.
pub fn server_on_core0(
    rt: &corenet::Runtime,
    options: ServerOptions,
    handler: impl Fn(&Socket) + Clone + Send + Sync + 'static,
) -> SocketAddr {
    let addr = on_core0(rt, move |tx| {
        let server = net::create_server(options, move || {
            let handler = handler.clone();
            move |s: &Socket| handler(s)
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = tx.send(server.address());
    });
    match addr {
        Some(Address::Tcp(a)) => a,
        other => panic!("not a TCP address: {other:?}"),
    }
}

/// A fresh Unix socket path under the temp dir (removed first if it exists).
pub fn temp_sock(name: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("corenet-{}-{name}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A connection handler of [`serve`] (taken out while it runs).
type Handler = Option<Box<dyn FnMut(&Socket)>>;

thread_local! {
    /// The connection handlers of the servers [`serve`] made on this thread, by index.
    static HANDLERS: RefCell<Vec<Handler>> = const { RefCell::new(Vec::new()) };
}

/// Node's `net.createServer(handler).listen(0, '127.0.0.1')`, for a one-core runtime: unlike
/// `create_server`'s per-core factory, `handler` may share the test's `Rc` state (it is
/// kept in a thread-local of core 0, where every connection is accepted).
pub fn serve(handler: impl FnMut(&Socket) + 'static) -> (Server, u16) {
    let index = HANDLERS.with(|h| {
        let mut h = h.borrow_mut();
        h.push(Some(Box::new(handler)));
        h.len() - 1
    });
    let server = net::create_server(ServerOptions::default(), move || {
        move |socket: &Socket| {
            let taken = HANDLERS.with(|h| h.borrow_mut().get_mut(index).and_then(Option::take));
            let Some(mut handler) = taken else {
                panic!("a connection accepted off core 0 (use a one-core runtime)");
            };
            handler(socket);
            HANDLERS.with(|h| h.borrow_mut()[index] = Some(handler));
        }
    });
    server.listen((0, "127.0.0.1")).expect("listen");
    let Some(Address::Tcp(addr)) = server.address() else {
        panic!("no TCP address")
    };
    (server, addr.port())
}

/// `done` once this has been called `n` times.
pub fn countdown(n: usize, done: Done) -> Done {
    let left = Cell::new(n);
    Rc::new(move || {
        left.set(left.get().saturating_sub(1));
        if left.get() == 0 {
            done();
        }
    })
}

/// Runs `f` after `ms` milliseconds (Node's `setTimeout(f, ms)`), on this core.
pub fn after(ms: u64, f: impl FnOnce() + 'static) {
    corenet::spawn_local(async move {
        corenet::sleep(Duration::from_millis(ms)).await;
        f();
    })
    .detach();
}
