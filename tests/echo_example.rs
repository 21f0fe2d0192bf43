//! The echo example as a user runs it: `listening on <addr>`, echo, and on SIGTERM it stops
//! accepting, lets the open connection finish, and exits 0 within its 5 s deadline.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{example, secs, watchdog};

fn run(backend: &str) {
    let Some(bin) = example("echo") else {
        eprintln!("skipped: the echo example is not built (run `cargo test --all-targets`)");
        return;
    };
    let mut child = Command::new(bin)
        .args([
            "--addr",
            "127.0.0.1:0",
            "--cores",
            "2",
            "--backend",
            backend,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the echo example");
    let mut line = String::new();
    // Keep the pipe open until the child exits: it may still print.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let mut open = TcpStream::connect(addr).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    open.write_all(b"hello").unwrap();
    let mut b = [0u8; 5];
    open.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"hello");
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let signalled = Instant::now();
    // The open connection is still served...
    std::thread::sleep(Duration::from_millis(200));
    open.write_all(b"again").unwrap();
    open.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"again");
    // ...and when it ends, the process exits 0 well before the deadline.
    drop(open);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(8),
            "still running 8 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    drop(stdout);
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "took {:?}",
        signalled.elapsed()
    );
}

#[test]
fn uring_echo_example_graceful_on_sigterm() {
    watchdog("uring_echo_example_graceful_on_sigterm", secs(30), || {
        run("uring")
    });
}

#[test]
fn compat_echo_example_graceful_on_sigterm() {
    watchdog("compat_echo_example_graceful_on_sigterm", secs(30), || {
        run("compat")
    });
}

#[test]
fn node_style_example_runs_and_exits() {
    watchdog("node_style_example_runs_and_exits", secs(30), || {
        let Some(bin) = example("node_style") else {
            eprintln!(
                "skipped: the node_style example is not built (run `cargo test --all-targets`)"
            );
            return;
        };
        let out = Command::new(bin)
            .output()
            .expect("run the node_style example");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "exit {}: {stdout}", out.status);
        for line in [
            "client: connected to server!",
            "client: hello",
            "client: world!",
            "client: goodbye",
            "client: disconnected from server",
        ] {
            assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
        }
    });
}
