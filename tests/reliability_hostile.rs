//! Hostile and broken peers, on both backends: resets while the server is blocked writing,
//! closes and resets mid-read, half-closes (both directions) with data still flowing, clients
//! that connect and send nothing (closed by a `set_timeout` handler), and slowloris-style
//! one-byte writes. After each, nothing hangs and the server keeps serving.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::pattern::{fill_pattern, pattern};
use common::{connect_retry, secs};
use corenet::net::{self, Address, ServerOptions, Socket as NodeSocket};
use corenet::{Backend, Runtime, Server, Socket};

backend_tests! {
    reset_while_server_is_blocked_writing(secs(120));
    close_and_reset_mid_read(secs(60));
    peer_half_closes_and_server_keeps_sending(secs(60));
    server_half_closes_and_peer_keeps_sending(secs(60));
    silent_connections_closed_by_timeout_handler(secs(60));
    slowloris_one_byte_writes(secs(120));
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = connect_retry(addr, secs(10)).unwrap();
    s.set_read_timeout(Some(secs(30))).unwrap();
    s.set_write_timeout(Some(secs(30))).unwrap();
    s
}

fn rst(s: TcpStream) {
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
}

/// An async-face server whose handler reports one line per connection on `tx`.
fn async_server<F, Fut>(rt: &Runtime, handler: F) -> (Server, mpsc::Receiver<String>)
where
    F: Fn(Socket, mpsc::Sender<String>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(move |socket| {
        let tx = tx.lock().unwrap().clone();
        handler(socket, tx)
    });
    (server, rx)
}

/// A Node-face server on core 0 of `rt`; `setup` is each connection's handler.
fn node_server(
    rt: &Runtime,
    options: ServerOptions,
    setup: impl Fn(&NodeSocket, &mpsc::Sender<String>) + Send + Sync + Clone + 'static,
) -> (SocketAddr, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel::<String>();
    let tx = std::sync::Mutex::new(tx);
    let (atx, arx) = mpsc::channel();
    let tx = std::sync::Arc::new(tx);
    rt.block_on(0, move || async move {
        let server = net::create_server(options, move || {
            let tx = tx.lock().unwrap().clone();
            let setup = setup.clone();
            move |socket: &NodeSocket| setup(socket, &tx)
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!("no TCP address")
        };
        atx.send(a).unwrap();
        // The server lives as long as the runtime.
        std::mem::forget(server);
    });
    (arx.recv().unwrap(), rx)
}

/// An async echo handler for the "still serving" checks.
async fn echo(socket: Socket) {
    while let Ok(Some(c)) = socket.read().await {
        if socket.write_owned(c).await.is_err() {
            return;
        }
    }
    let _ = socket.shutdown().await;
}

/// The server pushes 8 MiB at each client; clients read a little, then reset. Every server
/// write ends in an error (not a hang), and a fresh client is served.
fn reset_while_server_is_blocked_writing(backend: Backend) {
    let rt = start(backend, builder(1));
    let (server, results) = async_server(&rt, |socket, tx| async move {
        let first = match socket.read().await {
            Ok(Some(c)) => c,
            _ => return,
        };
        if first[0] == b'e' {
            if socket.write_owned(first).await.is_err() {
                return;
            }
            return echo(socket).await;
        }
        let big = pattern(1, 1 << 20);
        for _ in 0..8 {
            if let Err(e) = socket.write(&big).await {
                let _ = tx.send(format!("write error {:?}", e.kind()));
                return;
            }
        }
        let r = socket.flush().await;
        let _ = tx.send(format!("flushed {r:?}"));
    });
    let addr = server.local_addr();
    let clients: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                s.write_all(b"w").unwrap();
                let mut buf = vec![0u8; 100_000];
                s.read_exact(&mut buf).unwrap();
                rst(s);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    for i in 0..20 {
        let r = results
            .recv_timeout(secs(30))
            .unwrap_or_else(|_| panic!("{backend:?}: server writer {i} hung after the reset"));
        assert!(r.starts_with("write error"), "{backend:?}: {r}");
    }
    let mut s = connect(addr);
    s.write_all(b"e").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"e");
    drop(s);
    echo_roundtrip_via(addr);
}

/// A full echo round trip through an 'e' connection of the server above.
fn echo_roundtrip_via(addr: SocketAddr) {
    let mut s = connect(addr);
    let data = pattern(9, 300_000);
    s.write_all(b"e").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
    s.write_all(&data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert!(got == data, "echo after the resets corrupted");
}

/// Clients announce 1 MiB, send half, then close (FIN) or reset (RST). The server's read loop
/// sees an early EOF or ECONNRESET; nothing hangs.
fn close_and_reset_mid_read(backend: Backend) {
    let rt = start(backend, builder(1));
    let (server, results) = async_server(&rt, |socket, tx| async move {
        let mut got = 0usize;
        let outcome = loop {
            match socket.read().await {
                Ok(Some(c)) => got += c.len(),
                Ok(None) => break "eof".to_string(),
                Err(e) => break format!("error {:?}", e.kind()),
            }
            if got >= 1 << 20 {
                break "complete".into();
            }
        };
        let _ = tx.send(format!("{outcome} after {got}"));
    });
    let addr = server.local_addr();
    let half = pattern(2, 512 * 1024);
    for reset in [false, true] {
        for _ in 0..10 {
            let mut s = connect(addr);
            s.write_all(&half).unwrap();
            if reset {
                std::thread::sleep(Duration::from_millis(5));
                rst(s);
            } else {
                drop(s);
            }
        }
        for _ in 0..10 {
            let r = results
                .recv_timeout(secs(30))
                .expect("a server reader hung after the peer went");
            if reset {
                // The reset may land before or after the data was read.
                assert!(
                    r.starts_with("error ConnectionReset") || r.starts_with("eof"),
                    "{backend:?}: {r}"
                );
            } else {
                assert_eq!(r, "eof after 524288", "{backend:?}");
            }
        }
    }
}

/// The peer sends a request and half-closes; the server (allowHalfOpen) answers with 1 MiB
/// after 'end', then ends. The peer reads all of it, then EOF. Async face too.
fn peer_half_closes_and_server_keeps_sending(backend: Backend) {
    let rt = start(backend, builder(1));
    let (node_addr, node_results) = node_server(
        &rt,
        ServerOptions::default().allow_half_open(true),
        |socket, tx| {
            let tx = tx.clone();
            socket.on_end(move |s| {
                let mut off = 0u64;
                let mut buf = vec![0u8; 64 * 1024];
                while off < 1 << 20 {
                    fill_pattern(3, off, &mut buf);
                    s.write(&buf);
                    off += buf.len() as u64;
                }
                s.end(None);
                let _ = tx.send(format!("answered after end, read {}", s.bytes_read()));
            });
        },
    );
    let (server, _) = async_server(&rt, |socket, _tx| async move {
        while let Ok(Some(_)) = socket.read().await {}
        let mut off = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        while off < 1 << 20 {
            fill_pattern(3, off, &mut buf);
            if socket.write(&buf).await.is_err() {
                return;
            }
            off += buf.len() as u64;
        }
        let _ = socket.shutdown().await;
    });
    for addr in [node_addr, server.local_addr()] {
        let mut s = connect(addr);
        s.write_all(b"request").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), 1 << 20, "{backend:?}");
        assert!(got == pattern(3, 1 << 20), "{backend:?}: answer corrupted");
    }
    assert_eq!(
        node_results.recv_timeout(secs(10)).unwrap(),
        "answered after end, read 7"
    );
}

/// The server ends its side at once (allowHalfOpen); the peer keeps sending 1 MiB, which the
/// server still reads in full.
fn server_half_closes_and_peer_keeps_sending(backend: Backend) {
    let rt = start(backend, builder(1));
    let (addr, results) = node_server(
        &rt,
        ServerOptions::default().allow_half_open(true),
        |socket, tx| {
            socket.end(Some(b"bye"));
            let tx = tx.clone();
            socket.on_end(move |s| {
                let _ = tx.send(format!("read {}", s.bytes_read()));
            });
        },
    );
    let mut s = connect(addr);
    let mut bye = Vec::new();
    s.read_to_end(&mut bye).unwrap();
    assert_eq!(bye, b"bye");
    let data = pattern(4, 1 << 20);
    s.write_all(&data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        results.recv_timeout(secs(30)).unwrap(),
        format!("read {}", 1 << 20),
        "{backend:?}"
    );
}

/// 50 clients connect and send nothing: a 'timeout' handler (set_timeout 300 ms) destroys
/// them. A client that keeps talking is not timed out.
fn silent_connections_closed_by_timeout_handler(backend: Backend) {
    let rt = start(backend, builder(1));
    let (addr, results) = node_server(&rt, ServerOptions::default(), |socket, tx| {
        socket.set_timeout(Duration::from_millis(300));
        let tx = tx.clone();
        socket.on_timeout(move |s| {
            let _ = tx.send("timeout".into());
            s.destroy(None);
        });
        socket.on_data(|s, d| {
            s.write(d);
        });
    });
    let silent: Vec<TcpStream> = (0..50).map(|_| connect(addr)).collect();
    // The talker: a byte every 100 ms for 1.5 s, each echoed.
    let talker = std::thread::spawn(move || {
        let mut s = connect(addr);
        for i in 0..15u8 {
            s.write_all(&[i]).unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            assert_eq!(b[0], i);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    for (i, mut s) in silent.into_iter().enumerate() {
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("{backend:?}: silent client {i} not closed: {other:?}"),
        }
    }
    talker.join().expect("the talking client was timed out");
    for _ in 0..50 {
        assert_eq!(results.recv_timeout(secs(10)).unwrap(), "timeout");
    }
}

/// 40 clients send 100-byte lines one byte at a time; a line server answers each with its
/// length. A normal client is served meanwhile, and every slow line arrives whole.
fn slowloris_one_byte_writes(backend: Backend) {
    let rt = start(backend, builder(1));
    let (addr, _) = node_server(&rt, ServerOptions::default(), |socket, _| {
        let line = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        socket.on_data(move |s, d| {
            let mut l = line.borrow_mut();
            for &b in d.iter() {
                if b == b'\n' {
                    let sum: u32 = l.iter().map(|&x| x as u32).sum();
                    s.write(format!("{} {sum}\n", l.len()).as_bytes());
                    l.clear();
                } else {
                    l.push(b);
                }
            }
        });
    });
    let slow: Vec<_> = (0..40u8)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = connect(addr);
                s.set_nodelay(true).unwrap();
                let line: Vec<u8> = (0..100u32)
                    .map(|k| b'a' + ((k + i as u32) % 26) as u8)
                    .collect();
                for b in &line {
                    s.write_all(&[*b]).unwrap();
                    std::thread::sleep(Duration::from_millis(5));
                }
                s.write_all(b"\n").unwrap();
                let sum: u32 = line.iter().map(|&x| x as u32).sum();
                let want = format!("100 {sum}\n");
                let mut got = vec![0u8; want.len()];
                s.read_exact(&mut got).unwrap();
                assert_eq!(String::from_utf8_lossy(&got), want);
            })
        })
        .collect();
    // A normal client, served while the slow ones trickle.
    let mut s = connect(addr);
    for n in 1..50usize {
        let line = vec![b'z'; n];
        s.write_all(&line).unwrap();
        s.write_all(b"\n").unwrap();
        let want = format!("{n} {}\n", n as u32 * b'z' as u32);
        let mut got = vec![0u8; want.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), want);
    }
    for (i, t) in slow.into_iter().enumerate() {
        t.join()
            .unwrap_or_else(|_| panic!("{backend:?}: slowloris client {i} failed"));
    }
}
