//! Windows named pipes on the compat backend (run under Wine by scripts/test-windows.sh):
//! echo over `\\.\pipe\` and `\\?\pipe\` names to std and corenet clients at once, a missing
//! pipe, a taken name, and a closed server's name going away.
#![cfg(windows)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::net::{self, Address, ConnectArgs, ListenArgs, ServerOptions};
use corenet::{Backend, Server, Socket};

backend_tests! {
    pipe_echo_to_std_and_corenet_clients(secs(60));
    pipe_missing_is_not_found(secs(30));
    pipe_name_taken_is_eaddrinuse(secs(30));
    node_face_pipe_echo(secs(30));
}

fn pipe_name(backend: Backend, what: &str) -> String {
    format!(
        r"\\.\pipe\corenet-{}-{backend:?}-{what}",
        std::process::id()
    )
}

async fn echo(socket: Socket) {
    while let Ok(Some(chunk)) = socket.read().await {
        if socket.write_owned(chunk).await.is_err() {
            return;
        }
    }
}

/// A std client: writes `n` bytes (under the pipe's 64 KiB buffer, so a synchronous handle
/// never blocks its own read), reads them back.
fn std_roundtrip(name: &str, n: usize, seed: u8) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut pipe = loop {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name)
        {
            Ok(p) => break p,
            // ERROR_PIPE_BUSY: every instance has a client; the server makes another.
            Err(e) if e.raw_os_error() == Some(231) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("open {name}: {e}"),
        }
    };
    let data: Vec<u8> = (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    pipe.write_all(&data).unwrap();
    let mut back = vec![0u8; n];
    pipe.read_exact(&mut back).unwrap();
    assert_eq!(back, data);
}

fn pipe_echo_to_std_and_corenet_clients(backend: Backend) {
    let rt = start(backend, builder(2));
    let name = pipe_name(backend, "echo");
    let server = Server::bind_unix(&rt.handle(), &name).unwrap();
    assert_eq!(server.unix_path(), Some(std::path::Path::new(&name)));
    server.serve(echo);
    // Two std clients at once (two server instances), three times over.
    for round in 0..3u8 {
        let clients: Vec<_> = (0..2u8)
            .map(|i| {
                let name = name.clone();
                std::thread::spawn(move || std_roundtrip(&name, 32 * 1024, round * 2 + i))
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    }
    // A corenet client on the other core, through the `\\?\pipe\` spelling, 1 MiB.
    let other = name.replacen(r"\\.\", r"\\?\", 1);
    let n = 1 << 20;
    let got = rt.block_on(1, move || async move {
        let socket = Socket::connect_unix(&other).await.expect("connect");
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let mut back = Vec::with_capacity(n);
        let writer = async {
            socket.write(&data).await.unwrap();
            socket.flush().await.unwrap();
        };
        let reader = async {
            while back.len() < n {
                match socket.read().await.unwrap() {
                    Some(chunk) => back.extend_from_slice(&chunk),
                    None => break,
                }
            }
        };
        futures_lite::future::zip(writer, reader).await;
        back == data
    });
    assert!(got, "the corenet client's bytes came back changed");
    server.close();
    // The name goes away with its last instance.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&name)
        {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            _ if std::time::Instant::now() > deadline => panic!("{name} still open after close"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn pipe_missing_is_not_found(backend: Backend) {
    let rt = start(backend, builder(1));
    let name = pipe_name(backend, "missing");
    let err = rt.block_on(0, move || async move {
        Socket::connect_unix(&name).await.map(|_| ()).unwrap_err()
    });
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
}

fn pipe_name_taken_is_eaddrinuse(backend: Backend) {
    if common::wine::running_under_wine() {
        eprintln!(
            "skipped under Wine: it does not enforce FILE_FLAG_FIRST_PIPE_INSTANCE, so a taken \
             pipe name cannot fail there"
        );
        return;
    }
    let rt = start(backend, builder(1));
    let name = pipe_name(backend, "taken");
    let _server = Server::bind_unix(&rt.handle(), &name).unwrap();
    let err = Server::bind_unix(&rt.handle(), &name).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(10048), "WSAEADDRINUSE: {err}");
}

/// The Node face over a pipe: `listen(path)`, `address()`, `net::connect(path)`, data both
/// ways, `destroy`, `close`.
fn node_face_pipe_echo(backend: Backend) {
    let rt = start(backend, builder(1));
    let name = pipe_name(backend, "node");
    let (tx, rx) = std::sync::mpsc::channel();
    let path = name.clone();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), || {
            |s: &net::Socket| {
                s.on_data(|s, d| {
                    s.write(d);
                });
            }
        });
        server.listen(ListenArgs::path(&path)).unwrap();
        let address = server.address();
        let client = net::connect(ConnectArgs::path(&path));
        client.on_connect(|s| {
            s.write(b"hello, pipe");
        });
        let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let g = got.clone();
        client.on_data(move |s, d| {
            g.borrow_mut().extend_from_slice(d);
            if g.borrow().len() >= 11 {
                s.destroy(None);
            }
        });
        client.on_close(move |_, had_error| {
            server.close();
            let text = String::from_utf8_lossy(&got.borrow()).into_owned();
            let _ = tx.send((address.clone(), text, had_error));
        });
    });
    let (address, text, had_error) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(address, Some(Address::Pipe(name.into())));
    assert_eq!((text.as_str(), had_error), ("hello, pipe", false));
}
