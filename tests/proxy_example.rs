//! The proxy example (`examples/proxy.rs`, `socket.pipe` both ways) as a user runs it, on each
//! backend: 64 MiB each way between a client and an echo upstream, every byte checked, a
//! slow reader for part of the stream, the client's half-close passed through while the
//! echo keeps flowing back, the proxy's peak memory bounded, and a clean exit on SIGTERM.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::child::status_kib;
use common::pattern::{fill_pattern, first_mismatch, mismatch_error};
use common::secs;
use corenet::Backend;

backend_tests! {
    proxy_carries_64_mib_each_way_in_bounded_memory(secs(120));
}

/// Bytes each way.
const TOTAL: usize = 64 << 20;
/// The client reads this much slowly (4 KiB per 2 ms at most: 4 s or more), so the echo
/// backs up through the proxy into the upstream and the client's own writes. (Long enough
/// that a proxy without backpressure takes in most of the stream meanwhile, on either
/// backend: 69 MiB peak on io_uring, 66 on compat, when the pipe's pause was taken out.)
const SLOW: usize = 8 << 20;
/// The proxy's peak resident memory may not pass this. Its queues are bounded (per socket:
/// the receive queue's 16 chunks, about 64 KiB queued for sending, one chunk more), so what
/// it holds is its program, its threads' stacks and one core's receive pool (2,048 x 4 KiB,
/// touched as it is used): about 16 MiB measured. A proxy that buffered a stalled direction
/// would hold tens of MiB more of the 64 MiB stream.
const PEAK_RSS_KIB: u64 = 32 * 1024;
/// The stream's pattern seed.
const SEED: u64 = 0x9e0c;

/// The example process, killed if the test fails before it exits.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Checks `buf` against the pattern at stream offset `at`.
fn check(what: &str, at: usize, buf: &[u8], expected: &mut Vec<u8>) -> std::io::Result<()> {
    expected.resize(buf.len(), 0);
    fill_pattern(SEED, at as u64, expected);
    match first_mismatch(buf, expected) {
        Some(i) => Err(mismatch_error(what, at as u64, expected, buf, i)),
        None => Ok(()),
    }
}

/// A one-connection echo upstream that checks what it receives; returns the byte count it
/// read before the FIN (then it half-closes after echoing everything).
fn upstream(l: TcpListener) -> std::io::Result<usize> {
    let (mut s, _) = l.accept()?;
    s.set_read_timeout(Some(secs(60)))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut expected = Vec::new();
    let mut got = 0;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            s.shutdown(Shutdown::Write)?;
            return Ok(got);
        }
        check("upstream", got, &buf[..n], &mut expected)?;
        got += n;
        s.write_all(&buf[..n])?;
    }
}

fn proxy_carries_64_mib_each_way_in_bounded_memory(backend: Backend) {
    let Some(bin) = common::example("proxy") else {
        eprintln!("skipped: the proxy example is not built (run `cargo test --all-targets`)");
        return;
    };
    let backend = match backend {
        Backend::IoUring => "uring",
        Backend::Compat => "compat",
    };
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = l.local_addr().unwrap();
    let upstream = std::thread::spawn(move || upstream(l));

    let child = Command::new(bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--cores",
            "1",
            "--backend",
            backend,
        ])
        .args(["--upstream", &upstream_addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the proxy example");
    let mut proxy = Proxy(child);
    let mut stdout = BufReader::new(proxy.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let started = Instant::now();
    let mut client = TcpStream::connect(&addr).unwrap();
    client.set_read_timeout(Some(secs(60))).unwrap();
    let mut writer = client.try_clone().unwrap();
    let sent = std::thread::spawn(move || -> std::io::Result<()> {
        let mut piece = vec![0u8; 256 * 1024];
        let mut at = 0;
        while at < TOTAL {
            fill_pattern(SEED, at as u64, &mut piece);
            writer.write_all(&piece)?;
            at += piece.len();
        }
        // Our FIN: it must reach the upstream as a FIN while its echo still flows back.
        writer.shutdown(Shutdown::Write)
    });

    let mut buf = vec![0u8; 256 * 1024];
    let mut expected = Vec::new();
    let mut got = 0;
    loop {
        let slow = got < SLOW;
        let want = if slow { 4 * 1024 } else { buf.len() };
        let n = client.read(&mut buf[..want]).unwrap();
        if n == 0 {
            break;
        }
        check("client", got, &buf[..n], &mut expected).unwrap();
        got += n;
        if slow {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let elapsed = started.elapsed();
    sent.join().unwrap().unwrap();
    assert_eq!(got, TOTAL, "the client's echo");
    assert_eq!(
        upstream.join().unwrap().unwrap(),
        TOTAL,
        "the upstream's read"
    );

    let peak = status_kib(&format!("/proc/{}/status", proxy.0.id()), "VmHWM");
    eprintln!(
        "proxy ({backend}): 2 x {} MiB in {elapsed:?}, peak RSS {peak} KiB",
        TOTAL >> 20
    );
    assert!(
        peak <= PEAK_RSS_KIB,
        "the proxy's peak RSS {peak} KiB is over {PEAK_RSS_KIB} KiB"
    );

    // SIGTERM: a graceful exit, 0.
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(proxy.0.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + secs(8);
    let status = loop {
        if let Some(s) = proxy.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "still running 8 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
    drop(stdout);
}
