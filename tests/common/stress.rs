//! Many concurrent echo clients on a small tokio runtime, every byte verified.

use super::pattern::{Checksum, conn_seed, fill_pattern, first_mismatch, mismatch_error};
use super::{is_transient_connect_error, raise_fd_limit, with_context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinSet;

/// Parameters of a [`stress`] run. `Default` is the full-size run:
/// 1000 connections, 0..=256 KiB each in 1..=64 KiB writes, 60 s overall.
#[derive(Clone, Debug)]
pub struct StressConfig {
    /// Number of concurrent connections.
    pub conns: usize,
    /// Smallest number of bytes one connection sends (inclusive).
    pub min_bytes: usize,
    /// Largest number of bytes one connection sends (inclusive).
    pub max_bytes: usize,
    /// Largest single write; write sizes are drawn from `1..=max_write`.
    pub max_write: usize,
    /// Bound on the whole run, connects included.
    pub timeout: Duration,
    /// Readers sleep ~1-2 ms between small reads, so the server sees backpressure.
    pub slow_reader: bool,
    /// Run seed: the sizes and bytes of every connection derive from it.
    pub seed: u64,
    /// How long one connection keeps retrying transient connect errors.
    pub connect_retry: Duration,
}

impl Default for StressConfig {
    fn default() -> Self {
        StressConfig {
            conns: 1000,
            min_bytes: 0,
            max_bytes: 256 * 1024,
            max_write: 64 * 1024,
            timeout: Duration::from_secs(60),
            slow_reader: false,
            seed: 0x5EED_C0DE,
            connect_retry: Duration::from_secs(10),
        }
    }
}

/// Outcome of a successful [`stress`] run.
#[derive(Clone, Debug)]
pub struct StressReport {
    /// Connections that echoed everything and saw EOF.
    pub conns_completed: usize,
    /// Bytes sent (and the same number received back), all connections.
    pub total_bytes: u64,
    /// Connect attempts that failed transiently and were retried.
    pub connect_retries: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

const PHASE_CONNECTING: u8 = 0;
const PHASE_STREAMING: u8 = 1;
const PHASE_DONE: u8 = 2;

/// Live per-connection counters, for the timeout report.
#[derive(Debug, Default)]
struct ConnProgress {
    phase: AtomicU8,
    total: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    write_closed: AtomicU8,
}

#[derive(Debug)]
struct Shared {
    addr: SocketAddr,
    cfg: StressConfig,
    conns: Vec<ConnProgress>,
    connect_retries: AtomicU64,
}

/// Opens `cfg.conns` connections to the echo server at `addr` concurrently
/// (tokio, 2 worker threads). Each sends a pseudo-random number of bytes in
/// `cfg.min_bytes..=cfg.max_bytes` in random-sized writes, half-closes, and
/// its reader task checks every echoed byte (regenerated from the
/// connection's seed) plus a running checksum, then expects EOF. Fails with
/// the connection index, offset and expected/got bytes on the first loss,
/// corruption, reorder, early EOF or extra data, or with a list of the
/// unfinished connections if `cfg.timeout` passes. Must not be called from
/// inside a tokio runtime.
pub fn stress(addr: SocketAddr, cfg: StressConfig) -> io::Result<StressReport> {
    if cfg.min_bytes > cfg.max_bytes || cfg.max_write == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("stress: bad config {cfg:?}"),
        ));
    }
    // Client and (in-process) server sockets, plus slack.
    raise_fd_limit(2 * cfg.conns as u64 + 256);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("stress-client")
        .enable_all()
        .build()?;
    let timeout = cfg.timeout;
    let shared = Arc::new(Shared {
        addr,
        conns: (0..cfg.conns).map(|_| ConnProgress::default()).collect(),
        cfg,
        connect_retries: AtomicU64::new(0),
    });
    let start = Instant::now();
    let result = rt.block_on(run_all(shared.clone(), timeout));
    // Tasks still running after an error or timeout are dropped here.
    rt.shutdown_timeout(Duration::from_secs(2));
    let (conns_completed, total_bytes) = result?;
    Ok(StressReport {
        conns_completed,
        total_bytes,
        connect_retries: shared.connect_retries.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    })
}

async fn run_all(shared: Arc<Shared>, timeout: Duration) -> io::Result<(usize, u64)> {
    let mut set = JoinSet::new();
    for i in 0..shared.conns.len() {
        set.spawn(run_conn(shared.clone(), i));
    }
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let (mut done, mut bytes) = (0usize, 0u64);
    loop {
        tokio::select! {
            next = set.join_next() => match next {
                None => return Ok((done, bytes)),
                Some(Ok(Ok(n))) => {
                    done += 1;
                    bytes += n;
                }
                Some(Ok(Err(e))) => {
                    return Err(with_context(e, format_args!(
                        "stress({}): failed with {done} of {} connections completed",
                        shared.addr, shared.conns.len()
                    )));
                }
                Some(Err(join)) => {
                    return Err(io::Error::other(format!("stress: a connection task died: {join}")));
                }
            },
            _ = &mut deadline => return Err(timeout_error(&shared, timeout, done)),
        }
    }
}

fn timeout_error(shared: &Shared, timeout: Duration, done: usize) -> io::Error {
    let stuck: Vec<usize> = (0..shared.conns.len())
        .filter(|&i| shared.conns[i].phase.load(Ordering::Relaxed) != PHASE_DONE)
        .collect();
    let mut msg = format!(
        "stress({}): timed out after {timeout:?}: {done} of {} connections completed, {} unfinished:",
        shared.addr,
        shared.conns.len(),
        stuck.len()
    );
    for &i in stuck.iter().take(10) {
        let c = &shared.conns[i];
        let phase = match c.phase.load(Ordering::Relaxed) {
            PHASE_CONNECTING => "connecting",
            _ => "streaming",
        };
        let total = c.total.load(Ordering::Relaxed);
        let _ = write!(
            msg,
            " [conn #{i}: {phase}, sent {}/{total}{}, received {}/{total}]",
            c.sent.load(Ordering::Relaxed),
            if c.write_closed.load(Ordering::Relaxed) != 0 {
                " + FIN"
            } else {
                ""
            },
            c.received.load(Ordering::Relaxed),
        );
    }
    if stuck.len() > 10 {
        msg.push_str(" ...");
    }
    io::Error::new(io::ErrorKind::TimedOut, msg)
}

async fn connect(shared: &Shared) -> io::Result<TcpStream> {
    let deadline = tokio::time::Instant::now() + shared.cfg.connect_retry;
    let mut backoff = Duration::from_millis(5);
    loop {
        let attempt = tokio::time::timeout_at(deadline, TcpStream::connect(shared.addr)).await;
        match attempt {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e))
                if is_transient_connect_error(&e) && tokio::time::Instant::now() < deadline =>
            {
                shared.connect_retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("could not connect within {:?}", shared.cfg.connect_retry),
                ));
            }
        }
    }
}

/// One connection: returns the number of bytes echoed.
async fn run_conn(shared: Arc<Shared>, i: usize) -> io::Result<u64> {
    let seed = conn_seed(shared.cfg.seed, i as u64);
    let mut rng = StdRng::seed_from_u64(seed);
    let total = rng.random_range(shared.cfg.min_bytes..=shared.cfg.max_bytes) as u64;
    let what = format!("connection #{i} (seed {seed:#x}, {total} bytes)");
    let progress = &shared.conns[i];
    progress.total.store(total, Ordering::Relaxed);

    let stream = connect(&shared)
        .await
        .map_err(|e| with_context(e, format_args!("{what}: connect")))?;
    progress.phase.store(PHASE_STREAMING, Ordering::Relaxed);
    let (rd, wr) = stream.into_split();
    let writer = tokio::spawn(write_side(shared.clone(), i, wr, seed, total, rng));
    let slow_rng = shared
        .cfg
        .slow_reader
        .then(|| StdRng::seed_from_u64(seed ^ 0x51_0E));
    let read = read_side(&shared.conns[i], rd, seed, total, slow_rng, &what).await;
    let read_sum = match read {
        Ok(sum) => sum,
        Err(e) => {
            let msg = if writer.is_finished() {
                match writer.await {
                    Ok(Err(w)) => format!("{e} (writer: {w})"),
                    _ => e.to_string(),
                }
            } else {
                writer.abort();
                e.to_string()
            };
            return Err(io::Error::new(e.kind(), msg));
        }
    };
    let sent_sum = writer
        .await
        .map_err(|j| io::Error::other(format!("{what}: writer task died: {j}")))?
        .map_err(|e| with_context(e, &what))?;
    if sent_sum != read_sum {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{what}: checksum mismatch: sent {:#x} over {} bytes, received {:#x} over {} bytes",
                sent_sum.value(),
                sent_sum.len(),
                read_sum.value(),
                read_sum.len()
            ),
        ));
    }
    progress.phase.store(PHASE_DONE, Ordering::Relaxed);
    Ok(total)
}

async fn write_side(
    shared: Arc<Shared>,
    i: usize,
    mut wr: OwnedWriteHalf,
    seed: u64,
    total: u64,
    mut rng: StdRng,
) -> io::Result<Checksum> {
    let progress = &shared.conns[i];
    let max_write = shared.cfg.max_write;
    let mut buf = vec![0u8; max_write.min(total as usize)];
    let mut sum = Checksum::new();
    let mut off: u64 = 0;
    while off < total {
        let n = (rng.random_range(1..=max_write) as u64).min(total - off) as usize;
        fill_pattern(seed, off, &mut buf[..n]);
        wr.write_all(&buf[..n])
            .await
            .map_err(|e| with_context(e, format_args!("write at offset {off} of {total}")))?;
        sum.update(&buf[..n]);
        off += n as u64;
        progress.sent.store(off, Ordering::Relaxed);
    }
    wr.shutdown()
        .await
        .map_err(|e| with_context(e, "shutdown(Write)"))?;
    progress.write_closed.store(1, Ordering::Relaxed);
    Ok(sum)
}

async fn read_side(
    progress: &ConnProgress,
    mut rd: OwnedReadHalf,
    seed: u64,
    total: u64,
    mut slow: Option<StdRng>,
    what: &str,
) -> io::Result<Checksum> {
    const BUF: usize = 16 * 1024;
    let mut buf = vec![0u8; BUF];
    let mut want = vec![0u8; BUF];
    let mut sum = Checksum::new();
    let mut off: u64 = 0;
    loop {
        let len = match slow.as_mut() {
            Some(rng) => {
                let pause = Duration::from_micros(rng.random_range(200..=2000));
                tokio::time::sleep(pause).await;
                rng.random_range(1..=4096)
            }
            None => BUF,
        };
        let n = rd.read(&mut buf[..len]).await.map_err(|e| {
            with_context(
                e,
                format_args!("{what}: read failed after {off} of {total} bytes"),
            )
        })?;
        if n == 0 {
            if off < total {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{what}: EOF too early: after {off} of {total} bytes"),
                ));
            }
            return Ok(sum);
        }
        let in_range = (total - off).min(n as u64) as usize;
        let got = &buf[..in_range];
        let want = &mut want[..in_range];
        fill_pattern(seed, off, want);
        if let Some(k) = first_mismatch(want, got) {
            return Err(mismatch_error(what, off, want, got, k));
        }
        sum.update(got);
        off += in_range as u64;
        progress.received.store(off, Ordering::Relaxed);
        if in_range < n {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{what}: received more than was sent: {} extra byte(s) after all {total} bytes (first extra: 0x{:02x})",
                    n - in_range,
                    buf[in_range]
                ),
            ));
        }
    }
}
