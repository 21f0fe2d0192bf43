//! Between the faces, both backends: a connection a Node-face server accepted handed to the
//! async face (`Socket::into_stream`) and an async-face connection given Node's events
//! (`Socket::from_stream`). Node has no such bridge; the nearest behaviours are
//! test-net-socket-constructor / `new net.Socket({ handle })` (a socket made from an open
//! handle emits no 'connect' and reads on) and the stream rule that no received byte is lost
//! when a consumer changes.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::{echo_roundtrip, on_core0, secs};
use corenet::net::{self, Address, ServerOptions, Socket, SocketOptions};
use corenet::{Backend, Chunk, SocketStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

backend_tests! {
    into_stream_from_data_listener_keeps_every_byte(secs(60));
    into_stream_leaves_the_server_and_emits_nothing(secs(30));
    into_stream_refused_states(secs(30));
    into_stream_sends_corked_bytes(secs(30));
    from_stream_emits_unread_bytes_first(secs(30));
    into_stream_ends_the_pipes(secs(30));
}

fn tcp(address: Option<Address>) -> SocketAddr {
    match address {
        Some(Address::Tcp(a)) => a,
        other => panic!("not a TCP address: {other:?}"),
    }
}

/// Echoes `stream` with tokio's traits until EOF, then shuts down.
async fn echo(stream: SocketStream) {
    let (mut r, mut w) = tokio::io::split(stream);
    tokio::io::copy(&mut r, &mut w).await.expect("copy");
    w.shutdown().await.expect("shutdown");
}

/// The first 'data' chooses the async face: that chunk is given back in front of the
/// stream, and everything after it (already received, or not yet) follows in order.
fn into_stream_from_data_listener_keeps_every_byte(backend: Backend) {
    let rt = start(backend, builder(2));
    let addr = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                socket.once_data(|s, first| {
                    let stream = s.into_stream().expect("a fresh connection converts");
                    let (io, rest) = stream.into_parts();
                    assert!(rest.is_none(), "nothing read from the new stream yet");
                    let first = Chunk::from(first.to_vec());
                    let stream = SocketStream::from_parts(io, Some(first));
                    corenet::spawn_local(echo(stream)).detach();
                });
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = tx.send(server.address());
    });
    let addr = tcp(addr);
    for (i, size) in [1, 4097, 300_000, 2 << 20].into_iter().enumerate() {
        echo_roundtrip(addr, size, i as u64).unwrap_or_else(|e| panic!("size {size}: {e}"));
    }
}

/// After `into_stream` the Node socket emits nothing more (its listeners are gone, no
/// 'close'), the server no longer counts it, and `close()` does not wait for it.
fn into_stream_leaves_the_server_and_emits_nothing(backend: Backend) {
    let rt = start(backend, builder(1));
    let (report_tx, report_rx) = mpsc::channel::<String>();
    let addr = on_core0(&rt, move |tx| {
        let server = net::create_server(ServerOptions::default(), move || {
            let report_tx = report_tx.clone();
            move |socket: &Socket| {
                let log = Rc::new(RefCell::new(Vec::<&str>::new()));
                for (name, kind) in [("data", 0), ("end", 1), ("close", 2)] {
                    let log = log.clone();
                    match kind {
                        0 => socket.on_data(move |_, _| log.borrow_mut().push(name)),
                        1 => socket.on_end(move |_| log.borrow_mut().push(name)),
                        _ => socket.on_close(move |_, _| log.borrow_mut().push(name)),
                    };
                }
                let server = socket.server().expect("accepted by a server");
                let before = server.connections();
                let stream = socket.into_stream().expect("converts");
                let after = server.connections();
                let again = socket.into_stream().map(|_| ()).unwrap_err();
                let report_tx = report_tx.clone();
                corenet::spawn_local(async move {
                    echo(stream).await;
                    // Let a stray driver turn run before reading the log.
                    corenet::sleep(Duration::from_millis(20)).await;
                    let _ = report_tx.send(format!(
                        "before={before} after={after} again={} log={:?}",
                        again.code(),
                        log.borrow()
                    ));
                    server.close();
                })
                .detach();
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = tx.send(server.address());
    });
    let addr = tcp(addr);
    echo_roundtrip(addr, 100_000, 7).unwrap_or_else(|e| panic!("{e}"));
    let report = report_rx
        .recv_timeout(secs(10))
        .expect("the handler reported");
    assert_eq!(
        report, "before=1 after=0 again=ERR_SOCKET_CLOSED log=[]",
        "no event after into_stream, the count drops, a second call is refused"
    );
}

/// Connecting, ending, owed write callbacks: refused with `ERR_INVALID_STATE`, and the
/// socket goes on as before (here: it connects, writes, ends).
fn into_stream_refused_states(backend: Backend) {
    let rt = start(backend, builder(1));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let codes = on_core0(&rt, move |tx| {
        let socket = net::connect((addr.port(), "127.0.0.1"));
        let mut codes = vec![socket.into_stream().map(|_| ()).unwrap_err().code()];
        socket.once_connect(move |s| {
            s.write_with(b"owed", |_, _| {});
            codes.push(s.into_stream().map(|_| ()).unwrap_err().code());
            s.end(Some(b"!"));
            codes.push(s.into_stream().map(|_| ()).unwrap_err().code());
            let _ = tx.send(codes);
        });
    });
    assert_eq!(
        codes,
        [
            "ERR_INVALID_STATE",
            "ERR_INVALID_STATE",
            "ERR_INVALID_STATE"
        ]
    );
    let (mut peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(secs(10))).unwrap();
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"owed!", "the refused socket kept working");
}

/// Bytes held back by `cork()` go out through the stream, before what it writes.
fn into_stream_sends_corked_bytes(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                socket.cork();
                socket.write(b"corked ");
                let mut stream = socket.into_stream().expect("converts");
                corenet::spawn_local(async move {
                    stream.write_all(b"then streamed").await.unwrap();
                    stream.shutdown().await.unwrap();
                })
                .detach();
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = tx.send(server.address());
    });
    let mut c = TcpStream::connect(tcp(addr)).unwrap();
    c.set_read_timeout(Some(secs(10))).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"corked then streamed");
}

/// An async-face connection whose first bytes were read through the stream: the rest of
/// that chunk is the first 'data', then later bytes, 'end', and our reply; no 'connect'.
fn from_stream_emits_unread_bytes_first(backend: Backend) {
    let rt = start(backend, builder(1));
    let (log_tx, log_rx) = mpsc::channel::<Vec<String>>();
    let server = corenet::Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr();
    server.serve(move |socket| {
        let log_tx = log_tx.clone();
        async move {
            let mut stream = SocketStream::new(socket);
            let mut magic = [0u8; 4];
            stream.read_exact(&mut magic).await.unwrap();
            assert_eq!(&magic, b"NODE");
            let socket = Socket::from_stream(stream, SocketOptions::default());
            let log = Rc::new(RefCell::new(Vec::new()));
            let data = Rc::new(RefCell::new(Vec::new()));
            {
                let log = log.clone();
                socket.on_connect(move |_| log.borrow_mut().push("connect".to_string()));
            }
            {
                let data = data.clone();
                socket.on_data(move |_, chunk| data.borrow_mut().extend_from_slice(chunk));
            }
            {
                let (log, data) = (log.clone(), data.clone());
                socket.on_end(move |s| {
                    let text = String::from_utf8(data.borrow().clone()).unwrap();
                    log.borrow_mut().push(format!("data {text}"));
                    log.borrow_mut().push("end".to_string());
                    s.write(b"got it");
                });
            }
            socket.on_close(move |_, had_error| {
                log.borrow_mut().push(format!("close {had_error}"));
                let _ = log_tx.send(log.borrow().clone());
            });
        }
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(secs(10))).unwrap();
    c.write_all(b"NODE hello").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b" world").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"got it");
    let log = log_rx.recv_timeout(secs(10)).expect("'close' came");
    assert_eq!(log, ["data  hello world", "end", "close false"]);
}

/// A socket piped into itself (`c.pipe(c)`) that goes to the async face in its first 'data':
/// the pipe ends (the chunk is not written twice), and the stream echoes from there.
fn into_stream_ends_the_pipes(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = on_core0(&rt, |tx| {
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                socket.pipe(socket);
                socket.once_data(|s, first| {
                    let stream = s.into_stream().expect("converts");
                    assert_eq!(s.pipe_count(), 0, "the pipe into itself is gone");
                    let (io, _) = stream.into_parts();
                    let first = Chunk::from(first.to_vec());
                    corenet::spawn_local(echo(SocketStream::from_parts(io, Some(first)))).detach();
                });
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let _ = tx.send(server.address());
    });
    let addr = tcp(addr);
    for (i, size) in [3, 200_000].into_iter().enumerate() {
        echo_roundtrip(addr, size, 40 + i as u64).unwrap_or_else(|e| panic!("size {size}: {e}"));
    }
}
