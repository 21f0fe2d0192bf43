//! Hostile clients against the echo server, and the server's peak memory. An echo server (the
//! async face, served exactly as `examples/echo.rs` serves: read a chunk, `write_owned` it
//! back) runs in a child process on 2 cores with the runtime's default limits; the parent
//! attacks it with many clients at once, a quarter each of:
//!
//! * stalled readers: send 8 MiB and never read, so the echo backs up into the server;
//! * destroy mid-write: send 1 MiB without reading, then close with the echo unread (an RST
//!   while the server is still writing);
//! * reset after sending: send 200 KB, then close with SO_LINGER 0 (an RST);
//! * idle: connect and send nothing.
//!
//! The server may hold, per connection, its receive queue up to the cap, its send queue up to
//! the high-water mark and one chunk in flight; per core, its receive and write pools. The
//! child's peak resident memory (`VmHWM`, which no sampling can miss) may grow by no more than
//! that ([`bound_kib`]): a receive cap or a high-water mark that stops holding shows up as
//! megabytes per stalled reader. Afterwards every connection closes, the child's descriptors
//! return to where they were, and the server still echoes.
//!
//! io_uring runs three times: with the best receive limit this kernel has, and as on older
//! kernels (a limit per invocation; one-shot receives), see `engine/src/uring/recv_limit.rs`.
//!
//! `CORENET_HOSTILE_CLIENTS` sets the number of clients (default 200, rounded up to a multiple
//! of 4). Every socket call has a timeout and every client thread stops by a deadline, so a
//! server that misbehaves fails the test instead of hanging it.
#![cfg(target_os = "linux")]

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use common::backends::{builder, start};
use common::child::{self, Child};
use common::{connect_retry, millis, raise_fd_limit, secs, watchdog};
use corenet::{Backend, Server};

backend_tests! {
    hostile_clients_keep_memory_bounded(secs(240));
}

/// io_uring as on a kernel without the total byte limit on multishot receives: a limit per
/// invocation (`CORENET_URING_RECV_LIMIT=invocation`, see `engine/src/uring/recv_limit.rs`).
#[test]
fn uring_hostile_clients_keep_memory_bounded_with_a_limit_per_invocation() {
    watchdog("uring_hostile_..._per_invocation", secs(240), || {
        attack(
            Backend::IoUring,
            &[("CORENET_URING_RECV_LIMIT", "invocation".into())],
        );
    });
}

/// io_uring as on a kernel without any byte limit on multishot receives: one-shot receives
/// (`CORENET_URING_RECV_LIMIT=oneshot`).
#[test]
fn uring_hostile_clients_keep_memory_bounded_with_one_shot_receives() {
    watchdog("uring_hostile_..._one_shot", secs(240), || {
        attack(
            Backend::IoUring,
            &[("CORENET_URING_RECV_LIMIT", "oneshot".into())],
        );
    });
}

/// The child's cores (the runtime's default buffer pool, receive cap and write high-water
/// mark: `builder` sets only the cores and pinning).
const CORES: u64 = 2;
/// Receive buffer size, the runtime's default.
const BUFFER_SIZE: u64 = 4096;
/// Receive buffers per core, the runtime's default.
const BUFFER_COUNT: u64 = 2048;
/// Received chunks a connection may queue before its receive pauses (`connection_buffer_cap`,
/// default 16).
const RX_CAP: u64 = 16;
/// Bytes a connection's receive queue may hold: the cap in full-size buffers (64 KiB).
const RX_CAP_BYTES: u64 = RX_CAP * BUFFER_SIZE;
/// Queued send bytes past which `write_owned().await` waits (`write_high_water`, 64 KiB).
const WRITE_HIGH_WATER: u64 = 64 * 1024;
/// One chunk in flight on top of the queues: the write that crosses the high-water mark, or a
/// receive queue compacted into one heap chunk (64 KiB).
const IN_FLIGHT: u64 = 64 * 1024;
/// What the server may hold for one connection, however hostile the peer (192 KiB).
const PER_CONN: u64 = RX_CAP_BYTES + WRITE_HIGH_WATER + IN_FLIGHT;
/// One core's receive buffer pool, touched only as used (8 MiB).
const RECV_POOL: u64 = BUFFER_COUNT * BUFFER_SIZE;
/// One core's buffers for streaming connections (io_uring, `Builder::stream_buffers`): an
/// eighth as many, four times as large (4 MiB), touched only as used.
const STREAM_POOL: u64 = (BUFFER_COUNT / 8) * (BUFFER_SIZE * 4);
/// One core's pool of recycled send buffers: 256 kept of 16 KiB each (4 MiB).
const WRITE_POOL: u64 = 256 * 16 * 1024;
/// The allocator's fragmentation and free lists, the task and connection tables (16 MiB).
const SLACK: u64 = 16 << 20;
/// What the server may hold whatever the number of connections: every core's pools, and slack.
const FIXED: u64 = CORES * (RECV_POOL + STREAM_POOL + WRITE_POOL) + SLACK;

/// Clients when `CORENET_HOSTILE_CLIENTS` is not set: enough to show a per-connection leak,
/// few enough that CI stays fast.
const DEFAULT_CLIENTS: usize = 200;
/// What a stalled reader sends: far more than the server may hold for it. Loopback's socket
/// buffers may absorb much of it (they autotune to megabytes); what the server leaves there is
/// the kernel's memory, not the server's.
const STALLED_SEND: usize = 8 << 20;
/// What a client that destroys its socket mid-write sends first.
const DESTROY_SEND: usize = 1 << 20;
/// What a client that resets sends first.
const RESET_SEND: usize = 200_000;
/// Bytes per `write` call, so a writer notices a stall (or its deadline) between calls.
const WRITE_STEP: usize = 64 * 1024;
/// A write that makes no progress for this long means the server stopped taking bytes.
const STALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Every client stops writing this long after the attack starts, stalled or not.
const ATTACK_LIMIT: Duration = Duration::from_secs(60);
/// How long a client keeps retrying its connect (the listen backlog overflows in the burst).
const CONNECT_LIMIT: Duration = Duration::from_secs(20);
/// Read and write timeout of the probe connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Client threads do little beyond blocking calls.
const CLIENT_STACK: usize = 128 * 1024;

/// The server's bound on peak RSS growth for `clients` connections, in KiB.
fn bound_kib(clients: usize) -> u64 {
    (clients as u64 * PER_CONN + FIXED) / 1024
}

/// The child side (a no-op in a normal run): the echo server of `examples/echo.rs` on the
/// backend named by the role `hostile:<uring|compat>`, until the parent closes our stdin.
#[test]
fn child_entry() {
    let Some(role) = child::role() else { return };
    let backend = match role.strip_prefix("hostile:") {
        Some("uring") => Backend::IoUring,
        Some("compat") => Backend::Compat,
        _ => panic!("unknown child role {role:?}"),
    };
    let rt = start(backend, builder(CORES as usize));
    let server = Server::bind(
        &rt.handle(),
        "127.0.0.1:0".parse().expect("loopback address"),
    )
    .unwrap_or_else(|e| panic!("bind 127.0.0.1:0: {e}"));
    server.serve(|socket| async move {
        let _ = socket.set_nodelay(true);
        loop {
            match socket.read().await {
                Ok(Some(chunk)) => {
                    if socket.write_owned(chunk).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    let _ = socket.shutdown().await;
                    return;
                }
                Err(_) => return,
            }
        }
    });
    child::say(format!("addr={}", server.local_addr()));
    child::wait_for_parent();
    // What each core did: receives paused at the cap, starved of buffers, compacted.
    for c in rt.stats() {
        eprintln!(
            "hostile {backend:?} child: core {} accepted={} recv_paused={} recv_starved={} \
             compactions={} bytes_in={} bytes_out={}",
            c.core,
            c.accepted,
            c.recv_paused,
            c.recv_starved,
            c.compactions,
            c.bytes_in,
            c.bytes_out
        );
    }
    drop(server);
    drop(rt);
}

/// The number of clients: `CORENET_HOSTILE_CLIENTS`, rounded up to a multiple of 4.
fn client_count() -> usize {
    let n = match std::env::var("CORENET_HOSTILE_CLIENTS") {
        Ok(v) => v
            .trim()
            .parse::<usize>()
            .unwrap_or_else(|e| panic!("CORENET_HOSTILE_CLIENTS={v:?}: {e}")),
        Err(_) => DEFAULT_CLIENTS,
    };
    n.max(4).next_multiple_of(4)
}

/// What one hostile client does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Sends [`STALLED_SEND`] and never reads; keeps the connection open.
    Stalled,
    /// Sends [`DESTROY_SEND`] without reading, then closes with the echo unread.
    DestroyMidWrite,
    /// Sends [`RESET_SEND`], then closes with SO_LINGER 0.
    ResetAfterSend,
    /// Connects and sends nothing; keeps the connection open.
    Idle,
}

impl Kind {
    /// Client `i`'s kind: the four interleaved, so each is spread over the connect burst.
    fn of(i: usize) -> Kind {
        [
            Kind::Stalled,
            Kind::DestroyMidWrite,
            Kind::ResetAfterSend,
            Kind::Idle,
        ][i % 4]
    }
}

/// Why a client stopped writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Everything was sent.
    Sent,
    /// A write made no progress for [`STALL_TIMEOUT`]: the server stopped taking bytes.
    Stalled,
    /// The attack's deadline passed.
    Deadline,
    /// The connection failed (the server closed or reset it).
    Failed,
}

/// One client's result: what it sent, why it stopped, and the connection if it keeps it open.
#[derive(Debug)]
struct Outcome {
    kind: Kind,
    sent: u64,
    stop: Stop,
    socket: Option<TcpStream>,
}

/// The bytes every client sends, shared (no client allocates its own).
fn payload() -> &'static [u8] {
    static PAYLOAD: OnceLock<Vec<u8>> = OnceLock::new();
    PAYLOAD.get_or_init(|| (0..STALLED_SEND).map(|i| (i % 251) as u8).collect())
}

/// Writes `len` bytes of the payload in [`WRITE_STEP`] pieces until done, stalled, failed or
/// past `deadline`; never reads.
fn send(s: &mut TcpStream, len: usize, deadline: Instant) -> (u64, Stop) {
    let data = &payload()[..len];
    let mut off = 0;
    while off < len {
        if Instant::now() >= deadline {
            return (off as u64, Stop::Deadline);
        }
        let end = (off + WRITE_STEP).min(len);
        match s.write(&data[off..end]) {
            Ok(0) => return (off as u64, Stop::Failed),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return (off as u64, Stop::Stalled);
            }
            Err(_) => return (off as u64, Stop::Failed),
        }
    }
    (off as u64, Stop::Sent)
}

/// Runs one client of `kind` against `addr`.
fn run_client(kind: Kind, addr: SocketAddr, deadline: Instant) -> io::Result<Outcome> {
    let mut s = connect_retry(addr, CONNECT_LIMIT)?;
    s.set_write_timeout(Some(STALL_TIMEOUT))?;
    s.set_read_timeout(Some(STALL_TIMEOUT))?;
    let (sent, stop, keep) = match kind {
        Kind::Stalled => {
            let (sent, stop) = send(&mut s, STALLED_SEND, deadline);
            (sent, stop, true)
        }
        Kind::DestroyMidWrite => {
            let (sent, stop) = send(&mut s, DESTROY_SEND, deadline);
            // Closed with the echo unread in our receive buffer: the kernel sends an RST.
            (sent, stop, false)
        }
        Kind::ResetAfterSend => {
            let (sent, stop) = send(&mut s, RESET_SEND, deadline);
            socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
            (sent, stop, false)
        }
        Kind::Idle => (0, Stop::Sent, true),
    };
    Ok(Outcome {
        kind,
        sent,
        stop,
        socket: keep.then_some(s),
    })
}

/// Sends `msg` on `s` and reads it back.
fn echo_check(s: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    s.write_all(msg)?;
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got)?;
    if got != msg {
        return Err(io::Error::other(format!(
            "echo mismatch: sent {:?}, got {:?}",
            String::from_utf8_lossy(msg),
            String::from_utf8_lossy(&got)
        )));
    }
    Ok(())
}

/// Connects the probe client, with its timeouts.
fn probe_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = connect_retry(addr, secs(10))?;
    s.set_read_timeout(Some(PROBE_TIMEOUT))?;
    s.set_write_timeout(Some(PROBE_TIMEOUT))?;
    Ok(s)
}

/// Polls the child's peak resident memory until it has not moved for `quiet` (the server has
/// taken in all it will) or `limit` passes; returns the last figure.
fn quiet_peak(child: &Child, quiet: Duration, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    let mut peak = child.peak_rss_kib();
    let mut since = Instant::now();
    while since.elapsed() < quiet && Instant::now() < deadline {
        thread::sleep(millis(100));
        let now = child.peak_rss_kib();
        if now != peak {
            peak = now;
            since = Instant::now();
        }
    }
    peak
}

/// Polls the child's resident memory until two samples 500 ms apart agree (within 64 KiB) or
/// `limit` passes; returns the last sample.
fn settled_rss(child: &Child, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    let mut last = child.rss_kib();
    loop {
        thread::sleep(millis(500));
        let now = child.rss_kib();
        if now.abs_diff(last) <= 64 || Instant::now() >= deadline {
            return now;
        }
        last = now;
    }
}

fn hostile_clients_keep_memory_bounded(backend: Backend) {
    attack(backend, &[]);
}

/// The attack on a child server on `backend` whose environment adds `env`.
fn attack(backend: Backend, env: &[(&str, String)]) {
    let _serial = common::serial();
    let clients = client_count();
    // Our sockets and the child's (which inherits the limit), with room to spare.
    let want_fds = clients as u64 + 256;
    let fds = raise_fd_limit(want_fds);
    assert!(
        fds >= want_fds,
        "{clients} clients need {want_fds} descriptors; the limit is {fds}"
    );
    let tag = match backend {
        Backend::IoUring => "uring",
        _ => "compat",
    };
    let child = Child::spawn("child_entry", &format!("hostile:{tag}"), env);
    let addr: SocketAddr = child
        .value("addr", secs(30))
        .parse()
        .expect("the child's address");

    // Warm up: one echo through the server, then the baseline.
    let mut probe = probe_connect(addr).unwrap_or_else(|e| panic!("probe connect: {e}"));
    echo_check(&mut probe, b"warm-up").unwrap_or_else(|e| panic!("probe warm-up: {e}"));
    thread::sleep(millis(200));
    let baseline = child.rss_kib();
    let baseline_hwm = child.peak_rss_kib();
    let idle_fds = child.open_fds();
    // Touch the shared payload before the threads start.
    let _ = payload();

    // The attack: one thread per client, each stopping by the deadline.
    let started = Instant::now();
    let deadline = started + ATTACK_LIMIT;
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let tx = tx.clone();
            thread::Builder::new()
                .name(format!("hostile-{i}"))
                .stack_size(CLIENT_STACK)
                .spawn(move || {
                    let _ = tx.send((i, run_client(Kind::of(i), addr, deadline)));
                })
                .unwrap_or_else(|e| panic!("spawning client thread {i}: {e}"))
        })
        .collect();
    drop(tx);
    // Every client has returned by then: its connect, its last write and its deadline are all
    // bounded.
    let collect_limit = ATTACK_LIMIT + CONNECT_LIMIT + STALL_TIMEOUT + secs(10);
    let mut outcomes = Vec::with_capacity(clients);
    let mut sampled_rss = baseline;
    while outcomes.len() < clients {
        match rx.recv_timeout(millis(100)) {
            Ok((_, Ok(outcome))) => outcomes.push(outcome),
            Ok((i, Err(e))) => panic!("{backend:?}: client {i} ({:?}): {e}", Kind::of(i)),
            Err(RecvTimeoutError::Timeout) => assert!(
                started.elapsed() < collect_limit,
                "{backend:?}: {} of {clients} clients still running after {collect_limit:?}",
                clients - outcomes.len()
            ),
            // A client thread panicked: its join below says why.
            Err(RecvTimeoutError::Disconnected) => break,
        }
        sampled_rss = sampled_rss.max(child.rss_kib());
    }
    // Every thread has sent its outcome (or died), so the joins are immediate.
    for (i, t) in threads.into_iter().enumerate() {
        if let Err(panic) = t.join() {
            eprintln!("{backend:?}: client thread {i} panicked");
            std::panic::resume_unwind(panic);
        }
    }
    let attack = started.elapsed();
    // The server may still be taking in what the kernel buffered for it.
    let peak = quiet_peak(&child, secs(2), secs(30)).max(sampled_rss);
    let quiet = started.elapsed();
    let growth = peak.saturating_sub(baseline);

    // What the stalled readers got into the server (and the kernel's buffers).
    let stalled: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.kind == Kind::Stalled)
        .collect();
    let stalled_in: u64 = stalled.iter().map(|o| o.sent).sum();
    let stalled_count = stalled.len();
    let count = |stop| stalled.iter().filter(|o| o.stop == stop).count();
    let stops = format!(
        "{} sent all, {} stalled, {} at the deadline, {} failed",
        count(Stop::Sent),
        count(Stop::Stalled),
        count(Stop::Deadline),
        count(Stop::Failed)
    );

    // Close everything; the child's connections go, and its memory settles.
    let held: Vec<TcpStream> = outcomes.into_iter().filter_map(|o| o.socket).collect();
    let held_open = held.len();
    drop(held);
    let closing = Instant::now();
    let fds_settled = child.wait_until(secs(30), |c| c.open_fds() <= idle_fds);
    let fds_after = child.open_fds();
    let after = settled_rss(&child, secs(10));
    let settle = closing.elapsed();
    let probe_after = echo_check(&mut probe, b"still echoing after the attack");
    let fresh_after = probe_connect(addr).and_then(|mut s| echo_check(&mut s, b"a fresh one"));

    let bound = bound_kib(clients);
    eprintln!(
        "hostile {backend:?}: clients={clients} baseline={baseline} KiB (hwm {baseline_hwm}) \
         peak={peak} KiB growth={growth} KiB ({} KiB/client) after={after} KiB \
         bound={bound} KiB; {stalled_count} stalled readers got {} KiB in ({stops}); \
         {held_open} held open to the end; clients done in {attack:.1?}, peak quiet at \
         {quiet:.1?}, settled in {settle:.1?}",
        growth / clients as u64,
        stalled_in / 1024,
    );

    // The child prints its cores' figures as it exits.
    drop(probe);
    let status = child.finish(secs(30));

    assert!(
        fds_settled,
        "{backend:?}: {fds_after} descriptors open 30 s after every client closed, \
         {idle_fds} before"
    );
    assert!(
        status.success(),
        "{backend:?}: the child exited with {status}"
    );
    probe_after.unwrap_or_else(|e| panic!("{backend:?}: the probe no longer echoes: {e}"));
    fresh_after.unwrap_or_else(|e| panic!("{backend:?}: a fresh connection does not echo: {e}"));
    assert!(
        growth <= bound,
        "{backend:?}: peak RSS grew by {growth} KiB under {clients} hostile clients \
         ({} KiB per client), bound {bound} KiB = {clients} x {} KiB + {} KiB",
        growth / clients as u64,
        PER_CONN / 1024,
        FIXED / 1024
    );
}
