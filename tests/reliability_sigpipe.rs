//! SIGPIPE never kills the process: a child process first restores SIGPIPE to its default
//! action (Rust's runtime ignores it, which would hide the bug), then writes to a peer that has
//! gone, over TCP and a Unix socket, through the async face and the Node face. The child must
//! report the write error (EPIPE or ECONNRESET) and exit normally. A control child that writes
//! with plain write(2) shows the setup can fail: it dies of SIGPIPE.
#![cfg(target_os = "linux")]

mod common;

use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::child::{self, Child};
use common::secs;
use corenet::net::{self, ConnectArgs};
use corenet::{Backend, Socket};

backend_tests! {
    sigpipe_never_kills_the_process(secs(120));
}

/// The child side of every test in this binary (a no-op in a normal run).
#[test]
fn child_entry() {
    let Some(role) = child::role() else { return };
    // SAFETY: setting a signal's disposition to SIG_DFL has no memory-safety preconditions;
    // nothing else in this fresh process handles SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let target = std::env::var("CORENET_SIGPIPE_TARGET").unwrap();
    let parts: Vec<&str> = role.split(':').collect();
    let (face, transport) = (parts[2], parts[3]);
    if face == "raw" {
        child::say(format!("result={}", raw_write_until_error(&target)));
        return;
    }
    let backend = match parts[1] {
        "uring" => Backend::IoUring,
        _ => Backend::Compat,
    };
    let rt = start(backend, builder(1));
    let result = match face {
        "async" => {
            let unix = transport == "unix";
            rt.block_on(0, move || async move { async_face(&target, unix).await })
        }
        _ => node_face(&rt, target, transport == "unix"),
    };
    child::say(format!("result={result}"));
    drop(rt);
}

/// Writes with write(2), no MSG_NOSIGNAL, after the peer closed: SIGPIPE kills us.
fn raw_write_until_error(path: &str) -> String {
    use std::os::fd::AsRawFd;
    let s = std::os::unix::net::UnixStream::connect(path).unwrap();
    let mut b = [0u8; 1];
    // Wait for the peer's close (EOF).
    let _ = std::io::Read::read(&mut &s, &mut b);
    for _ in 0..100 {
        // SAFETY: writes from a live buffer to a descriptor this function owns.
        let n = unsafe { libc::write(s.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        if n < 0 {
            return format!("{}", std::io::Error::last_os_error());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    "no error".into()
}

/// Waits for the peer's EOF, then writes until the write fails; returns the error's errno name.
async fn async_face(target: &str, unix: bool) -> String {
    let s = if unix {
        Socket::connect_unix(target).await
    } else {
        Socket::connect(target.parse().unwrap()).await
    }
    .unwrap();
    while let Ok(Some(_)) = s.read().await {}
    let data = vec![7u8; 16 * 1024];
    for _ in 0..1000 {
        let r = match s.write(&data).await {
            Ok(()) => s.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            return errno_name(e.raw_os_error());
        }
        corenet::sleep(Duration::from_millis(2)).await;
    }
    "no error".into()
}

fn errno_name(errno: Option<i32>) -> String {
    match errno {
        Some(libc::EPIPE) => "EPIPE".into(),
        Some(libc::ECONNRESET) => "ECONNRESET".into(),
        other => format!("errno {other:?}"),
    }
}

/// The Node face: allowHalfOpen, so that after 'end' our writes go on until 'error'.
fn node_face(rt: &corenet::Runtime, target: String, unix: bool) -> String {
    let (tx, rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let args = if unix {
            ConnectArgs::path(&target)
        } else {
            let addr: std::net::SocketAddr = target.parse().unwrap();
            ConnectArgs::port(addr.port()).host(addr.ip().to_string())
        };
        let s = net::connect(args.allow_half_open(true));
        let tx2 = tx.clone();
        s.on_error(move |_, e| {
            let _ = tx2.send(e.code().to_string());
        });
        s.on_end(|s| {
            let s = s.clone();
            corenet::spawn_local(async move {
                let data = vec![7u8; 16 * 1024];
                for _ in 0..1000 {
                    if s.destroyed() {
                        return;
                    }
                    s.write(&data);
                    corenet::sleep(Duration::from_millis(2)).await;
                }
            })
            .detach();
        });
        s.on_close(move |_, _| {
            let _ = tx.send("closed".into());
        });
    });
    match rx.recv_timeout(secs(30)) {
        Ok(code) => code,
        Err(_) => "no error".into(),
    }
}

fn tag(backend: Backend) -> &'static str {
    match backend {
        Backend::IoUring => "uring",
        _ => "compat",
    }
}

/// Runs one child writing to a peer that accepts, then closes at once; returns what it said and
/// how it exited.
fn run_child(role: &str, transport: &str) -> (String, std::process::ExitStatus) {
    let path = std::env::temp_dir().join(format!(
        "corenet-sigpipe-{}-{}",
        std::process::id(),
        role.replace(':', "-")
    ));
    let _ = std::fs::remove_file(&path);
    let (target, closer): (String, Box<dyn FnOnce() + Send>) = if transport == "unix" {
        let l = UnixListener::bind(&path).unwrap();
        (
            path.to_str().unwrap().to_owned(),
            Box::new(move || drop(l.accept().unwrap())),
        )
    } else {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        (
            l.local_addr().unwrap().to_string(),
            Box::new(move || drop(l.accept().unwrap())),
        )
    };
    let closer = std::thread::spawn(closer);
    let child = Child::spawn(
        "child_entry",
        role,
        &[("CORENET_SIGPIPE_TARGET", target.clone())],
    );
    closer.join().unwrap();
    let said = child
        .lines_until_exit(secs(30))
        .into_iter()
        .find_map(|l| l.strip_prefix("result=").map(String::from))
        .unwrap_or_default();
    let status = child.finish(secs(30));
    let _ = std::fs::remove_file(&path);
    (said, status)
}

fn sigpipe_never_kills_the_process(backend: Backend) {
    for face in ["async", "node"] {
        for transport in ["tcp", "unix"] {
            let role = format!("sigpipe:{}:{face}:{transport}", tag(backend));
            let (said, status) = run_child(&role, transport);
            eprintln!("{role}: said {said:?}, exited {status}");
            assert_eq!(
                status.signal(),
                None,
                "{role}: killed by a signal ({status})"
            );
            assert!(status.success(), "{role}: exited {status}");
            assert!(
                ["EPIPE", "ECONNRESET"].contains(&said.as_str()),
                "{role}: expected the write to fail with EPIPE or ECONNRESET, got {said:?}"
            );
        }
    }
}

/// The control: the same child with a plain write(2) dies of SIGPIPE, so the test above can
/// fail.
#[test]
fn control_plain_write_dies_of_sigpipe() {
    common::watchdog("control_plain_write_dies_of_sigpipe", secs(60), || {
        let (said, status) = run_child("sigpipe:none:raw:unix", "unix");
        assert_eq!(
            status.signal(),
            Some(libc::SIGPIPE),
            "control child said {said:?} and exited {status}"
        );
    });
}
