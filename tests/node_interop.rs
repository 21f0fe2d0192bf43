//! Interop with the real Node.js on the machine (skipped, with the reason printed, where
//! `node` is absent): Node as the client of a corenet server and as the server of a corenet
//! client — echo with half-close, a slow reader, a Unix socket path, and the error codes
//! both sides report.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::Backend;
use corenet::net::{self, Address, ConnectArgs, ListenArgs, ServerOptions, Socket};

backend_tests! {
    node_client_echo_with_half_close(secs(60));
    node_slow_reader_gets_every_byte(secs(60));
    node_client_over_unix_path(secs(60));
    node_server_corenet_client(secs(60));
    error_codes_match_node(secs(60));
}

fn node() -> Option<&'static str> {
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: no `node` on PATH");
    }
    ok.then_some("node")
}

/// Runs a Node script with arguments; returns its stdout (asserting it exited 0).
fn run_node(script: &str, args: &[String]) -> String {
    let out = Command::new("node")
        .arg("-e")
        .arg(script)
        .args(args)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "node failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A corenet echo server (Node face) on `args`; returns its address.
fn corenet_echo(rt: &corenet::Runtime, args: ListenArgs) -> Address {
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                socket.on_data(|s, d| {
                    s.write(d);
                });
            }
        });
        server.listen(args).unwrap();
        tx.send(server.address().unwrap()).unwrap();
    });
    rx.recv().unwrap()
}

const NODE_ECHO_CLIENT: &str = r#"
const net = require('net');
const [target, size] = [process.argv[1], Number(process.argv[2])];
const opts = target.startsWith('/') ? { path: target } : { port: Number(target), host: '127.0.0.1' };
const data = Buffer.alloc(size); for (let i = 0; i < size; i++) data[i] = (i * 7) % 251;
const got = [];
const c = net.connect(opts, () => { c.end(data); });
c.on('data', (d) => got.push(d));
c.on('end', () => {
  const all = Buffer.concat(got);
  console.log(all.equals(data) ? 'equal ' + all.length : 'DIFFERENT ' + all.length);
});
c.on('error', (e) => { console.log('error ' + e.code); });
"#;

fn node_client_echo_with_half_close(backend: Backend) {
    if node().is_none() {
        return;
    }
    let rt = start(backend, builder(2));
    let Address::Tcp(addr) = corenet_echo(&rt, ListenArgs::port(0).host("127.0.0.1")) else {
        panic!()
    };
    for size in [0usize, 1, 100_000, 3 << 20] {
        let out = run_node(
            NODE_ECHO_CLIENT,
            &[addr.port().to_string(), size.to_string()],
        );
        assert_eq!(out.trim(), format!("equal {size}"));
    }
}

fn node_slow_reader_gets_every_byte(backend: Backend) {
    if node().is_none() {
        return;
    }
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        // Writes 8 MiB, respecting backpressure ('drain'), then ends.
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                let total = 8 << 20;
                let block = vec![0x5au8; 64 * 1024];
                let sent = std::rc::Rc::new(std::cell::Cell::new(0usize));
                let pump = move |s: &Socket| {
                    while sent.get() < total {
                        sent.set(sent.get() + block.len());
                        if !s.write(&block) {
                            return;
                        }
                    }
                    s.end(None);
                };
                pump(socket);
                socket.on_drain(pump);
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        tx.send(server.address().unwrap()).unwrap();
    });
    let Address::Tcp(addr) = rx.recv().unwrap() else {
        panic!()
    };
    let script = r#"
const net = require('net');
let n = 0;
const c = net.connect({ port: Number(process.argv[1]), host: '127.0.0.1' });
c.on('data', (d) => {
  n += d.length;
  for (const b of d) if (b !== 0x5a) { console.log('BAD BYTE'); process.exit(1); }
  c.pause(); setTimeout(() => c.resume(), 1);
});
c.on('end', () => console.log('got ' + n));
"#;
    let out = run_node(script, &[addr.port().to_string()]);
    assert_eq!(out.trim(), format!("got {}", 8 << 20));
}

fn node_client_over_unix_path(backend: Backend) {
    if node().is_none() {
        return;
    }
    let rt = start(backend, builder(2));
    let path = std::env::temp_dir().join(format!(
        "corenet-interop-{}-{backend:?}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let addr = corenet_echo(&rt, ListenArgs::path(&path));
    assert_eq!(addr, Address::Pipe(path.clone()));
    let out = run_node(
        NODE_ECHO_CLIENT,
        &[path.display().to_string(), "200000".into()],
    );
    assert_eq!(out.trim(), "equal 200000");
}

fn node_server_corenet_client(backend: Backend) {
    if node().is_none() {
        return;
    }
    let rt = start(backend, builder(1));
    // A Node echo server that half-closes after the peer does (allowHalfOpen: false).
    let mut child = Command::new("node")
        .arg("-e")
        .arg(
            r#"const s = require('net').createServer((c) => c.pipe(c));
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
setTimeout(() => process.exit(0), 20000).unref();"#,
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let s = net::connect((port, "127.0.0.1"));
        let data: Vec<u8> = (0..500_000u32).map(|i| (i % 253) as u8).collect();
        s.end(Some(&data));
        let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let g = got.clone();
        s.on_data(move |_, d| g.borrow_mut().extend_from_slice(d));
        s.on_close(move |_, had_error| {
            tx.send((had_error, *got.borrow() == data)).unwrap();
        });
    });
    let (had_error, equal) = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!had_error);
    assert!(equal, "echoed bytes differ");
}

/// The same failures give the same codes and messages in Node and in corenet.
fn error_codes_match_node(backend: Backend) {
    if node().is_none() {
        return;
    }
    let rt = start(backend, builder(1));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node_refused = run_node(
        "require('net').connect(Number(process.argv[1]), '127.0.0.1').on('error', (e) => console.log(e.code + '|' + e.message))",
        &[port.to_string()],
    );
    let node_missing = run_node(
        "require('net').connect('/nonexistent/corenet.sock').on('error', (e) => console.log(e.code + '|' + e.message))",
        &[],
    );
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        for args in [
            ConnectArgs::port(port).host("127.0.0.1"),
            ConnectArgs::path("/nonexistent/corenet.sock"),
        ] {
            let tx = tx.clone();
            net::connect(args)
                .on_error(move |_, e| tx.send(format!("{}|{}", e.code(), e)).unwrap());
        }
    });
    let mut ours = vec![
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
    ];
    ours.sort();
    let mut theirs = vec![
        node_refused.trim().to_string(),
        node_missing.trim().to_string(),
    ];
    theirs.sort();
    assert_eq!(ours, theirs);
}
