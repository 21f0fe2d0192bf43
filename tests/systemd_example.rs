//! The systemd example socket-activated as systemd starts a service: a listening TCP socket
//! on descriptor 3, `LISTEN_FDS=1`, `LISTEN_FDNAMES` and `LISTEN_PID` set to the service's own
//! pid. It must echo on that socket; with `LISTEN_PID` naming another process it must leave
//! descriptor 3 alone and bind its port instead.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{example, secs, watchdog};

/// `sh` sets `LISTEN_PID` to its own pid, then `exec`s the example, which keeps that pid:
/// the environment has to be ready before `exec`, and only the shell knows the pid then
/// (`setenv` in a `pre_exec` hook is not async-signal-safe, and std has built the new
/// environment before forking anyway).
const WRAPPER: &str = r#"export LISTEN_PID=$$; exec "$0" "$@""#;

/// Starts the example through [`WRAPPER`] with `listener` as descriptor 3, `LISTEN_FDS=1`
/// and `LISTEN_FDNAMES=echo`; `wrong_pid` makes the wrapper name its parent instead.
fn spawn(bin: &Path, backend: &str, listener: &TcpListener, wrong_pid: bool) -> Child {
    let fd: RawFd = listener.as_raw_fd();
    let wrapper = if wrong_pid {
        r#"export LISTEN_PID=$PPID; exec "$0" "$@""#
    } else {
        WRAPPER
    };
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", wrapper])
        .arg(bin)
        .args(["--cores", "2", "--backend", backend, "--port", "0"])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "echo")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // SAFETY: the hook runs in the forked child before exec and calls only dup2 and fcntl,
    // which are async-signal-safe; it touches no memory but the integers it captured. If fd 3
    // happened to be std's exec-error pipe in the child, only the report of a failed exec
    // would be lost (the test then fails on the missing line).
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                // dup2 onto itself would keep close-on-exec: clear it instead.
                if libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) != 3 {
                // dup2's copy has close-on-exec clear, so it survives both execs.
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawn the systemd example")
}

/// The example's first line: `listening on <addr> (<how>)`.
fn listening_line(stdout: &mut BufReader<ChildStdout>) -> (SocketAddr, String) {
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let rest = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let (addr, how) = rest.split_once(' ').expect("an address and how");
    (addr.parse().expect("a TCP address"), how.to_owned())
}

fn echo(addr: SocketAddr, msg: &[u8]) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(msg).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, msg);
}

/// SIGTERM, then the exit status within 8 s.
fn stop(mut child: Child) {
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(8);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "still running 8 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
}

fn activated(backend: &str) {
    let Some(bin) = example("systemd") else {
        eprintln!("skipped: the systemd example is not built (run `cargo test --all-targets`)");
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut child = spawn(&bin, backend, &listener, false);
    // The child has its own copy: from now on only it listens there.
    drop(listener);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (said, how) = listening_line(&mut stdout);
    assert_eq!(said, addr);
    assert_eq!(how, "(activated echo)");
    // Several connections: the adopted socket is served by both cores in turn.
    for i in 0..4 {
        echo(addr, format!("activated {i}").as_bytes());
    }
    stop(child);
}

fn wrong_pid_binds_the_port(backend: &str) {
    let Some(bin) = example("systemd") else {
        eprintln!("skipped: the systemd example is not built (run `cargo test --all-targets`)");
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut child = spawn(&bin, backend, &listener, true);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (said, how) = listening_line(&mut stdout);
    assert_eq!(how, "(bound)");
    assert_ne!(said, listener.local_addr().unwrap());
    // `--port 0` on every interface: reachable on loopback.
    echo(SocketAddr::from(([127, 0, 0, 1], said.port())), b"bound");
    stop(child);
}

#[cfg(target_os = "linux")]
#[test]
fn uring_systemd_example_serves_the_activated_socket() {
    watchdog(
        "uring_systemd_example_serves_the_activated_socket",
        secs(30),
        || activated("uring"),
    );
}

#[test]
fn compat_systemd_example_serves_the_activated_socket() {
    watchdog(
        "compat_systemd_example_serves_the_activated_socket",
        secs(30),
        || activated("compat"),
    );
}

#[test]
fn systemd_example_with_another_process_listen_pid_binds_its_port() {
    watchdog(
        "systemd_example_with_another_process_listen_pid_binds_its_port",
        secs(30),
        || wrong_pid_binds_the_port("compat"),
    );
}
