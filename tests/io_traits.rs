//! `SocketStream`'s tokio and futures I/O trait adapters, on both backends: echo through
//! `tokio::io::copy` and `futures_lite::io::copy`, reads much smaller than a received chunk
//! (no byte lost or reordered), `AsyncBufRead` lines spanning chunks, backpressure through
//! `write_all` with a tiny high-water mark, shutdown (FIN, reading goes on, writing fails),
//! and the client side (`Socket::connect` wrapped in a stream).

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::pattern::pattern;
use common::{echo_roundtrip, secs};
use corenet::{Backend, Runtime, Server, Socket, SocketStream};

backend_tests! {
    tokio_copy_echo(secs(60));
    futures_copy_echo(secs(60));
    tokio_small_reads_of_big_chunks(secs(60));
    futures_small_reads_of_big_chunks(secs(60));
    tokio_buf_read_lines_across_chunks(secs(60));
    tokio_write_all_with_backpressure(secs(60));
    tokio_shutdown_sends_fin_and_reading_goes_on(secs(30));
    futures_close_sends_fin(secs(30));
    tokio_client_side_stream(secs(30));
}

/// Binds on 127.0.0.1:0 and serves `handler` with every accepted socket wrapped in a
/// `SocketStream`.
fn serve_streams<F, Fut>(rt: &Runtime, handler: F) -> SocketAddr
where
    F: Fn(SocketStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).expect("bind");
    server.serve(move |socket| handler(SocketStream::new(socket)));
    server.local_addr()
}

/// A blocking client with timeouts.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(secs(20))).unwrap();
    s.set_write_timeout(Some(secs(20))).unwrap();
    s
}

/// Writes `data` from a second thread (so a large echo cannot deadlock), half-closes, and
/// returns everything read until EOF.
fn send_and_read_all(addr: SocketAddr, data: Vec<u8>) -> Vec<u8> {
    let mut s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read to EOF");
    writer.join().unwrap();
    got
}

fn tokio_copy_echo(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = serve_streams(&rt, |stream| async move {
        use tokio::io::AsyncWriteExt;
        let (mut r, mut w) = tokio::io::split(stream);
        tokio::io::copy(&mut r, &mut w).await.expect("copy");
        w.shutdown().await.expect("shutdown");
    });
    for (i, size) in [0, 1, 4097, 100_000, 1 << 20].into_iter().enumerate() {
        echo_roundtrip(addr, size, i as u64).unwrap_or_else(|e| panic!("size {size}: {e}"));
    }
}

fn futures_copy_echo(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = serve_streams(&rt, |stream| async move {
        use futures_lite::AsyncWriteExt;
        let (r, mut w) = futures_lite::io::split(stream);
        futures_lite::io::copy(r, &mut w).await.expect("copy");
        w.close().await.expect("close");
    });
    for (i, size) in [0, 1, 4097, 100_000, 1 << 20].into_iter().enumerate() {
        echo_roundtrip(addr, size, 10 + i as u64).unwrap_or_else(|e| panic!("size {size}: {e}"));
    }
}

/// 7-byte `read_exact`s of a 300 KB stream: every received chunk is split across reads, and
/// its unread rest must come out of the next read.
fn tokio_small_reads_of_big_chunks(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = serve_streams(&rt, |mut stream| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut piece = [0u8; 7];
        loop {
            match stream.read_exact(&mut piece).await {
                Ok(_) => stream.write_all(&piece).await.expect("write"),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        stream.shutdown().await.expect("shutdown");
    });
    let data = pattern(0x7E57, 7 * 43_000);
    let got = send_and_read_all(addr, data.clone());
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the echo differs from what was sent");
}

fn futures_small_reads_of_big_chunks(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = serve_streams(&rt, |mut stream| async move {
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        let mut piece = [0u8; 13];
        loop {
            match stream.read_exact(&mut piece).await {
                Ok(()) => stream.write_all(&piece).await.expect("write"),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        stream.close().await.expect("close");
    });
    let data = pattern(0xF17E, 13 * 23_000);
    let got = send_and_read_all(addr, data.clone());
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the echo differs from what was sent");
}

/// `AsyncBufRead::read_line` over 20,000 lines that straddle received chunks; the server
/// answers with the line count and the sum of the numbers it parsed.
fn tokio_buf_read_lines_across_chunks(backend: Backend) {
    let rt = start(backend, builder(1).buffer_size(1024));
    let addr = serve_streams(&rt, |mut stream| async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let (mut lines, mut sum) = (0u64, 0u64);
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await.expect("read_line") == 0 {
                break;
            }
            let n: u64 = line
                .trim_end()
                .strip_prefix("line ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad line {line:?}"));
            lines += 1;
            sum += n;
        }
        let reply = format!("{lines} {sum}\n");
        stream.write_all(reply.as_bytes()).await.expect("write");
        stream.shutdown().await.expect("shutdown");
    });
    let text: String = (0..20_000u64).map(|i| format!("line {i}\n")).collect();
    let got = send_and_read_all(addr, text.into_bytes());
    let want = format!("20000 {}\n", (0..20_000u64).sum::<u64>());
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

/// With a 1 KiB high-water mark, `write_all` of 4 MiB waits for room again and again while
/// a client reads slowly; every byte arrives in order.
fn tokio_write_all_with_backpressure(backend: Backend) {
    let rt = start(backend, builder(1).write_high_water(1024));
    let data = pattern(0xB0B, 4 << 20);
    let sent = data.clone();
    let sent = std::sync::Arc::new(sent);
    let addr = serve_streams(&rt, move |mut stream| {
        let sent = sent.clone();
        async move {
            use tokio::io::AsyncWriteExt;
            for piece in sent.chunks(100_000) {
                stream.write_all(piece).await.expect("write_all");
            }
            stream.flush().await.expect("flush");
            stream.shutdown().await.expect("shutdown");
        }
    });
    let mut s = connect(addr);
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.len() < 256 * 1024 {
            // Read slowly at first, so the server's queue fills up.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the stream differs from what was written");
}

/// `shutdown` sends the queued bytes then a FIN; the stream still reads what the client
/// sends afterwards; writing after it fails with `BrokenPipe`.
fn tokio_shutdown_sends_fin_and_reading_goes_on(backend: Backend) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let addr = serve_streams(&rt, move |mut stream| {
        let tx = tx.lock().unwrap().clone();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            stream.write_all(b"hello").await.unwrap();
            stream.shutdown().await.unwrap();
            stream
                .shutdown()
                .await
                .expect("a second shutdown is a no-op");
            let err = stream.write_all(b"more").await.unwrap_err();
            let mut after = Vec::new();
            stream.read_to_end(&mut after).await.unwrap();
            tx.send((err.kind(), after)).unwrap();
        }
    });
    let mut s = connect(addr);
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read to the server's FIN");
    assert_eq!(got, b"hello");
    s.write_all(b"after the FIN").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let (kind, after) = rx.recv_timeout(secs(10)).expect("the server's report");
    assert_eq!(kind, std::io::ErrorKind::BrokenPipe);
    assert_eq!(after, b"after the FIN");
}

fn futures_close_sends_fin(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = serve_streams(&rt, |mut stream| async move {
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        let mut name = String::new();
        stream.read_to_string(&mut name).await.unwrap();
        stream
            .write_all(format!("hello, {name}").as_bytes())
            .await
            .unwrap();
        stream.close().await.unwrap();
    });
    let got = send_and_read_all(addr, b"futures".to_vec());
    assert_eq!(got, b"hello, futures");
}

/// A corenet client: `Socket::connect` on a core, wrapped, against an echo served the same
/// way; `into_parts` hands back bytes a read left over.
fn tokio_client_side_stream(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = serve_streams(&rt, |stream| async move {
        use tokio::io::AsyncWriteExt;
        let (mut r, mut w) = tokio::io::split(stream);
        tokio::io::copy(&mut r, &mut w).await.expect("copy");
        w.shutdown().await.expect("shutdown");
    });
    let (head, rest) = rt.block_on(0, move || async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = Socket::connect(addr).await.expect("connect");
        let mut stream = SocketStream::from(socket);
        stream.write_all(b"0123456789").await.unwrap();
        stream.flush().await.unwrap();
        let mut head = [0u8; 4];
        stream.read_exact(&mut head).await.unwrap();
        // The echo may arrive in one chunk or several: read until all ten bytes were seen.
        let mut rest = Vec::new();
        let (socket, left) = stream.into_parts();
        if let Some(chunk) = left {
            rest.extend_from_slice(&chunk);
        }
        while rest.len() < 6 {
            let chunk = socket.read().await.unwrap().expect("more echo");
            rest.extend_from_slice(&chunk);
        }
        (head, rest)
    });
    assert_eq!(&head, b"0123");
    assert_eq!(rest, b"456789");
}
