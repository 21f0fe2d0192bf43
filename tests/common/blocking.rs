//! Blocking `std::net` clients: echo round trips, half-close, resets, many connections.

use super::pattern::{fill_pattern, first_mismatch, mismatch_error, mix64};
use super::{CONNECT_RETRY, IO_TIMEOUT, is_transient_connect_error, with_context};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Buffer size for the blocking readers and the largest blocking write.
const CHUNK: usize = 64 * 1024;

/// Connects to `addr`, retrying transient errors (refused, timed out, EAGAIN...)
/// with a short backoff for up to `retry_for`.
pub fn connect_retry(addr: SocketAddr, retry_for: Duration) -> io::Result<TcpStream> {
    let deadline = Instant::now() + retry_for;
    let mut backoff = Duration::from_millis(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left.clamp(Duration::from_millis(100), Duration::from_secs(5));
        match TcpStream::connect_timeout(&addr, attempt) {
            Ok(s) => return Ok(s),
            Err(e) if is_transient_connect_error(&e) && Instant::now() < deadline => {
                thread::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())));
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
            Err(e) => return Err(with_context(e, format_args!("connect to {addr}"))),
        }
    }
}

/// Connects `n` blocking sockets to `addr` (each retried briefly); panics
/// naming the failing index if one cannot connect.
pub fn connect_many(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            connect_retry(addr, CONNECT_RETRY)
                .unwrap_or_else(|e| panic!("connect_many: connection {i} of {n} failed: {e}"))
        })
        .collect()
}

/// Connects with the helpers' retry and I/O timeouts.
fn connect_timed(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = connect_retry(addr, CONNECT_RETRY)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Reads from `stream` until EOF, checking that exactly `total` bytes arrive
/// and that they equal `expected(offset, buf)`. Errors name the first bad offset.
fn verify_until_eof(
    what: &str,
    stream: &mut TcpStream,
    total: u64,
    mut expected: impl FnMut(u64, &mut [u8]),
) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut want = vec![0u8; CHUNK];
    let mut off: u64 = 0;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{what}: no data for {IO_TIMEOUT:?} after {off} of {total} bytes"),
                ));
            }
            Err(e) => {
                return Err(with_context(
                    e,
                    format_args!("{what}: read failed after {off} of {total} bytes"),
                ));
            }
        };
        if n == 0 {
            if off < total {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{what}: EOF too early: after {off} of {total} bytes"),
                ));
            }
            return Ok(());
        }
        let in_range = (total - off).min(n as u64) as usize;
        let got = &buf[..in_range];
        let want = &mut want[..in_range];
        expected(off, want);
        if let Some(i) = first_mismatch(want, got) {
            return Err(mismatch_error(what, off, want, got, i));
        }
        off += in_range as u64;
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

/// Sends `total` bytes produced by `fill(offset, buf)` from a second thread
/// while this one verifies the echo, then half-closes and expects EOF after
/// exactly the same bytes.
fn roundtrip(
    what: &str,
    addr: SocketAddr,
    total: u64,
    write_sizes_seed: u64,
    fill: impl Fn(u64, &mut [u8]) + Sync,
) -> io::Result<()> {
    let mut stream = connect_timed(addr).map_err(|e| with_context(e, what))?;
    let mut writer_stream = stream.try_clone()?;
    thread::scope(|scope| {
        let writer = thread::Builder::new()
            .name("roundtrip-writer".into())
            .spawn_scoped(scope, || -> io::Result<()> {
                let mut buf = vec![0u8; CHUNK];
                let mut rng = write_sizes_seed;
                let mut off: u64 = 0;
                while off < total {
                    rng = mix64(rng);
                    // Varied write sizes, 1 ..= CHUNK bytes.
                    let n = ((rng % CHUNK as u64) + 1).min(total - off) as usize;
                    fill(off, &mut buf[..n]);
                    writer_stream.write_all(&buf[..n]).map_err(|e| {
                        with_context(e, format_args!("{what}: write at offset {off} of {total}"))
                    })?;
                    off += n as u64;
                }
                writer_stream
                    .shutdown(Shutdown::Write)
                    .map_err(|e| with_context(e, format_args!("{what}: shutdown(Write)")))
            })?;
        let read = verify_until_eof(what, &mut stream, total, &fill);
        if read.is_err() {
            // Unblock a writer stuck on a server that stopped reading.
            let _ = stream.shutdown(Shutdown::Both);
        }
        let write = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other(format!("{what}: writer thread panicked"))));
        match (read, write) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(r), Ok(())) => Err(r),
            (Ok(()), Err(w)) => Err(w),
            (Err(r), Err(w)) => Err(io::Error::new(r.kind(), format!("{r} (writer: {w})"))),
        }
    })
}

/// Connects to the echo server at `addr`, writes `size` pseudo-random bytes
/// (stream `seed`) from one thread while reading on another, half-closes, and
/// checks that exactly the same bytes come back before EOF. The error names
/// the first mismatching offset. `size` may be 0 (expects an immediate EOF).
pub fn echo_roundtrip(addr: SocketAddr, size: usize, seed: u64) -> io::Result<()> {
    let what = format!("echo_roundtrip({addr}, size={size}, seed={seed:#x})");
    roundtrip(&what, addr, size as u64, seed ^ 0x5157, |off, buf| {
        fill_pattern(seed, off, buf)
    })
}

/// Writes `payload`, shuts down the write side, reads until EOF and checks
/// the echo equals `payload` (writing happens on a second thread so large
/// payloads cannot deadlock against the server's echo).
pub fn half_close_check(addr: SocketAddr, payload: &[u8]) -> io::Result<()> {
    let what = format!("half_close_check({addr}, {} bytes)", payload.len());
    roundtrip(&what, addr, payload.len() as u64, 0x4A1F, |off, buf| {
        let off = off as usize;
        buf.copy_from_slice(&payload[off..off + buf.len()]);
    })
}

/// Connects, writes some data (up to 128 KiB; stops early rather than block),
/// waits briefly for the echo to start, then closes with SO_LINGER = 0 so the
/// kernel sends an RST while the server may still be echoing.
pub fn reset_mid_stream(addr: SocketAddr) -> io::Result<()> {
    let mut s = connect_retry(addr, CONNECT_RETRY)?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let data = super::pattern::pattern(0xDEAD, 128 * 1024);
    let timed_out = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        )
    };
    match s.write_all(&data) {
        Ok(()) => {}
        Err(e) if timed_out(&e) => {}
        Err(e) => {
            return Err(with_context(
                e,
                format_args!("reset_mid_stream({addr}): write"),
            ));
        }
    }
    // Wait for the first echoed bytes so the server is mid-echo; leave the rest unread.
    let mut buf = [0u8; 4096];
    match s.read(&mut buf) {
        Ok(_) => {}
        Err(e) if timed_out(&e) => {}
        Err(e) => {
            return Err(with_context(
                e,
                format_args!("reset_mid_stream({addr}): read"),
            ));
        }
    }
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
    drop(s);
    Ok(())
}
