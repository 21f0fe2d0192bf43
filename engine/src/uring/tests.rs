//! The backend contract's suite ([`crate::driver::contract`]) on the io_uring driver, and what
//! only this driver does: the stream buffers, waits not counted as iowait. Where io_uring is
//! missing or forbidden, each test says so and passes.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;

use super::UringDriver;
use crate::buf::BufPool;

/// An io_uring driver of 64 SQEs over a new pool of `count` buffers of `size` bytes, with
/// no receive limit.
fn uring(count: u16, size: u32) -> io::Result<UringDriver> {
    let pool: Rc<BufPool> = BufPool::new(count, size)?;
    UringDriver::new(64, 0, pool, None)
}

crate::contract_tests!(uring);

/// A connected loopback pair: the peer and the nonblocking socket the driver reads.
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (sock, _) = l.accept().unwrap();
    sock.set_nonblocking(true).unwrap();
    (peer, sock)
}

mod stream_buffers {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    use super::*;
    use crate::backend::contract::{bytes, has_final, make, park_until};
    use crate::backend::{Completion, Driver, Op, OpKind, Token};

    /// Receives `len` bytes the peer sends at once on a new connection, with the streaming
    /// hint `streaming`; returns the completions (their chunks alive) once all arrived.
    fn receive(d: &mut UringDriver, slot: usize, len: usize, streaming: bool) -> Vec<Completion> {
        let (mut peer, sock) = pair();
        let sent: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        peer.write_all(&sent).unwrap();
        let token = Token::new(OpKind::Recv, slot);
        let op = Op::RecvMulti {
            fd: sock.as_raw_fd(),
            token,
            streaming,
        };
        // SAFETY: no pointer; `sock` stays open until the receive's final completion below.
        unsafe { d.push(op) };
        let mut out = Vec::new();
        park_until(d, &mut out, |o| bytes(o).len() >= len);
        assert_eq!(bytes(&out), sent, "the bytes, in order");
        // SAFETY: a cancel carries no pointer and no descriptor.
        unsafe { d.push(Op::Cancel { target: token }) };
        park_until(d, &mut out, has_final(token));
        out
    }

    fn largest_chunk(out: &[Completion]) -> usize {
        out.iter()
            .filter_map(|c| c.chunk.as_ref())
            .map(|c| c.len())
            .max()
            .unwrap_or(0)
    }

    /// A driver over a pool of 64 x 1 KiB and a stream pool of `count` x 8 KiB, or `None`
    /// where io_uring is missing.
    fn with_stream_pool(count: u16) -> Option<UringDriver> {
        let new = |_, _| {
            let stream = BufPool::new(count, 8192)?;
            UringDriver::new(64, 0, BufPool::new(64, 1024)?, Some(stream))
        };
        make(new, 0, 0)
    }

    /// A receive with the streaming hint takes the larger buffers while they last, one
    /// without takes the pool's, and a streaming receive goes back to the pool's once the
    /// larger ones are short: no chunk from the pool is ever larger than its buffers.
    #[test]
    fn a_streaming_receive_takes_the_larger_buffers_while_they_last() {
        let Some(mut d) = with_stream_pool(4) else {
            return;
        };
        let plain = receive(&mut d, 1, 16 * 1024, false);
        assert!(largest_chunk(&plain) <= 1024, "{plain:?}");
        let streamed = receive(&mut d, 2, 16 * 1024, true);
        assert!(largest_chunk(&streamed) > 1024, "{streamed:?}");
        // Four 8 KiB chunks held: more than three quarters, the stream pool is short.
        let more = receive(&mut d, 3, 16 * 1024, true);
        assert!(largest_chunk(&more) > 1024, "{more:?}");
        let _held = (streamed, more);
        let fallback = receive(&mut d, 4, 16 * 1024, true);
        assert!(largest_chunk(&fallback) <= 1024, "{fallback:?}");
        drop(plain);
        // Each chunk went back to its own pool: the rings take them again.
        assert!(d.recycle(false) > 0);
    }

    /// A stream pool of one buffer, held by a reader: streaming receives use the pool's
    /// buffers (with the one buffer taken they would end with ENOBUFS, however often armed).
    #[test]
    fn a_streaming_receive_skips_a_stream_pool_with_no_free_buffer() {
        let Some(mut d) = with_stream_pool(1) else {
            return;
        };
        let held = receive(&mut d, 1, 8 * 1024, true);
        assert_eq!(largest_chunk(&held), 8 * 1024, "{held:?}");
        let next = receive(&mut d, 2, 8 * 1024, true);
        assert!(largest_chunk(&next) <= 1024, "{next:?}");
        drop(held);
    }
}

mod idle_wait {
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::backend::contract::{has_final, make, park_until};
    use crate::backend::{Driver, Op, OpKind, Token, Wait};

    /// Ticks CPU `cpu` has spent idle with a task waiting on I/O (`/proc/stat`, 5th field).
    fn iowait_ticks(cpu: usize) -> u64 {
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        let line = stat
            .lines()
            .find(|l| l.starts_with(&format!("cpu{cpu} ")))
            .unwrap();
        line.split_whitespace().nth(5).unwrap().parse().unwrap()
    }

    /// Pins the calling thread to the CPU it runs on; returns that CPU.
    fn pin_here() -> usize {
        // SAFETY: sched_getcpu has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        assert!(cpu >= 0, "sched_getcpu: {}", io::Error::last_os_error());
        // SAFETY: an all-zero cpu_set_t is a valid empty set; CPU_SET writes inside it.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut set);
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
        };
        assert_eq!(rc, 0, "sched_setaffinity: {}", io::Error::last_os_error());
        cpu as usize
    }

    /// A core parked with a receive armed on an idle connection is not waiting on I/O: its CPU
    /// shows no iowait (an idle server would otherwise look I/O-bound to every monitor, and
    /// each sleep pays the scheduler's iowait accounting). Needs IORING_ENTER_NO_IOWAIT (6.15);
    /// elsewhere the test says so and passes.
    #[test]
    fn a_core_parked_with_a_receive_armed_is_not_in_iowait() {
        let Some(mut d) = make(uring, 16, 1024) else {
            return;
        };
        if !d.ring.params().is_feature_no_iowait() {
            eprintln!("skipped: this kernel has no IORING_ENTER_NO_IOWAIT (6.15)");
            return;
        }
        let (_peer, sock) = pair();
        let token = Token::new(OpKind::Recv, 1);
        let op = Op::RecvMulti {
            fd: sock.as_raw_fd(),
            token,
            streaming: false,
        };
        // SAFETY: no pointer; `sock` stays open until the receive's final completion below.
        unsafe { d.push(op) };
        let cpu = pin_here();
        let mut out = Vec::new();
        let before = iowait_ticks(cpu);
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(500) {
            d.park(Wait::Timeout(Duration::from_millis(100)), &mut out)
                .unwrap();
        }
        let ticks = iowait_ticks(cpu) - before;
        assert!(out.is_empty(), "nothing arrived: {out:?}");
        // 500 ms is ~50 ticks (USER_HZ 100) when the wait counts as iowait; other tasks on
        // this CPU may add a few of their own.
        assert!(ticks <= 10, "{ticks} iowait ticks on cpu{cpu} in 500 ms");
        // SAFETY: a cancel carries no pointer and no descriptor.
        unsafe { d.push(Op::Cancel { target: token }) };
        park_until(&mut d, &mut out, has_final(token));
    }
}
