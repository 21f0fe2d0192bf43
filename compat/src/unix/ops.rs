//! The ops as readiness emulates them: each attempt makes its syscalls until the descriptor
//! would block, the op ends, or its share of this park is used up, appending completions as
//! it goes.

use std::os::fd::RawFd;

use corenet_engine::driver::{Completion, SendSlot, Token};
use mio::Interest;

use super::syscalls;
use crate::readiness::lender::Lender;
use crate::readiness::platform::{RecvCtx, Step};

/// Pool buffers' worth of bytes one receive reads per park before the others get their turn
/// (fairness: a fast sender must not keep the core from its other sockets); also the most
/// buffers one read offers.
const READS_PER_PARK: usize = 16;
/// Accepts one listener makes per park, for the same reason.
const ACCEPTS_PER_PARK: usize = 64;

/// Accepts until EAGAIN (or the per-park share); each descriptor is a completion.
pub(crate) fn accept(fd: RawFd, token: Token, out: &mut Vec<Completion>) -> Step {
    for _ in 0..ACCEPTS_PER_PARK {
        match syscalls::accept(fd) {
            Ok(conn) => out.push(Completion {
                token,
                result: conn,
                more: true,
                chunk: None,
            }),
            Err(e) if syscalls::would_block(e) => return Step::Wait(Interest::READABLE),
            // The connection went away before we took it, or a signal: try the next one.
            Err(libc::ECONNABORTED | libc::EPROTO | libc::EINTR) => {}
            Err(e) => return Step::Final(-e),
        }
    }
    Step::Again
}

/// What a receive knows of its socket from earlier events and reads.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReadHint {
    /// An event reported the read side closed or in error: a short read no longer proves
    /// the socket drained (the end of stream or the error is still to be read).
    pub(crate) read_closed: bool,
    /// Bytes the last read delivered (0: none yet). It picks the next read's buffers: the
    /// streaming buffers once a read took more than a pool buffer, and how many
    /// ([`offer`]).
    pub(crate) last: u32,
}

impl ReadHint {
    /// Whether the peer streams: the last read took more than a buffer of `size` bytes. Not
    /// one that filled exactly one: a peer whose messages are one buffer long, one at a time,
    /// keeps the pool's buffers, which are packed closer (measured: 16 KiB buffers a quarter
    /// used cost ~5% at 50 connections x 4 KiB x 1).
    fn streams(&self, size: usize) -> bool {
        self.last as usize > size
    }
}

/// Receives into free pool buffers until EAGAIN, end of stream, error, an empty pool or the
/// per-park share; each run of bytes is a completion with its chunk. A peer that streams
/// ([`ReadHint`]) is read into the streaming buffers while they are usable, otherwise into
/// the pool's.
pub(crate) fn recv(
    fd: RawFd,
    token: Token,
    cx: RecvCtx<'_>,
    hint: &mut ReadHint,
    out: &mut Vec<Completion>,
) -> Step {
    let RecvCtx { bufs, mut stream } = cx;
    let pool_size = buf_len(bufs);
    // The park's share in bytes (fairness: a fast sender must not keep the core from its
    // other sockets), whichever buffers carry it.
    let share = READS_PER_PARK * pool_size;
    let mut filled = 0;
    // The last read filled every buffer it offered: more is likely waiting.
    let mut full = false;
    while filled < share {
        // The larger buffers while a whole one fits in what is left of the share.
        let lender: &mut Lender = match stream.as_deref_mut() {
            Some(s) if hint.streams(pool_size) && s.usable() && share - filled >= buf_len(s) => s,
            _ => {
                if bufs.spent() {
                    return Step::Again;
                }
                if bufs.free() == 0 {
                    return starved(fd);
                }
                &mut *bufs
            }
        };
        let size = buf_len(lender);
        // After a full read, the rest of the park's share in one call: a peer streaming
        // faster than we read is then read in two calls per park, not one per offer step.
        let wanted = if full {
            READS_PER_PARK
        } else {
            offer(hint.last as usize, size)
        };
        let offer = wanted
            .min((share - filled) / size)
            .min(lender.lendable())
            .max(1);
        let mut bids = [0u16; READS_PER_PARK];
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; READS_PER_PARK];
        let mut taken = 0;
        while taken < offer {
            let Some(bid) = lender.take() else { break };
            bids[taken] = bid;
            iov[taken] = libc::iovec {
                iov_base: lender.pool().buf_ptr(bid).cast(),
                iov_len: size,
            };
            taken += 1;
        }
        let result = if taken == 1 {
            // SAFETY: `bids[0]` was free, so no chunk views it and nothing else writes into
            // it; the buffer is `size` bytes (or more) long.
            unsafe { syscalls::recv(fd, lender.pool().buf_ptr(bids[0]), size) }
        } else {
            // SAFETY: as above, for each of the `taken` buffers the iovecs point at.
            unsafe { syscalls::recv_vectored(fd, &mut iov[..taken]) }
        };
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                lender.give_back(&bids[..taken]);
                if syscalls::would_block(e) {
                    return Step::Wait(Interest::READABLE);
                }
                if e != libc::EINTR {
                    return Step::Final(-e);
                }
                continue;
            }
        };
        if n == 0 {
            lender.give_back(&bids[..taken]);
            return Step::Final(0);
        }
        let used = n.div_ceil(size);
        for (i, &bid) in bids[..used].iter().enumerate() {
            let len = (n - i * size).min(size);
            out.push(Completion {
                token,
                result: len as i32,
                more: true,
                // SAFETY: `bid` was free (no chunk views it) and the read into it is over;
                // it is lent out now, off the free list until it comes back. `len` is at
                // most `size`, the buffer's size.
                chunk: Some(unsafe { lender.pool().chunk(bid, len as u32) }),
            });
        }
        lender.give_back(&bids[used..taken]);
        filled += n;
        hint.last = n.try_into().unwrap_or(u32::MAX);
        // A short read emptied the socket: any later byte raises a new edge. Unless the read
        // side closed, whose end or error no new edge would announce.
        if n < taken * size && !hint.read_closed {
            return Step::Wait(Interest::READABLE);
        }
        full = n == taken * size;
    }
    Step::Again
}

/// The size of `lender`'s buffers as a read may use them: results are i32, so a buffer larger
/// than that could not report its length.
fn buf_len(lender: &Lender) -> usize {
    (lender.pool().size() as usize).min(i32::MAX as usize)
}

/// The buffers of `size` bytes to offer after a read of `last` bytes: one after a read that
/// filled less than a buffer (small messages keep the plain `recv`), otherwise one more than
/// that read would have filled, up to [`READS_PER_PARK`] (a `recvmsg` over them), so a
/// streaming peer is read in one call per park and a message of exactly one buffer is read
/// without a second call to find the socket empty.
fn offer(last: usize, size: usize) -> usize {
    if last < size {
        1
    } else {
        (last / size + 1).min(READS_PER_PARK)
    }
}

/// No free buffer. As with io_uring, the receive ends with ENOBUFS only when there is
/// something to receive (nothing is read, so nothing is lost); an idle socket keeps waiting.
fn starved(fd: RawFd) -> Step {
    match syscalls::peek(fd) {
        Ok(0) => Step::Final(0),
        Ok(_) => Step::Final(-libc::ENOBUFS),
        Err(e) if syscalls::would_block(e) => Step::Wait(Interest::READABLE),
        Err(libc::EINTR) => Step::Again,
        Err(e) => Step::Final(-e),
    }
}

/// One `send` (one buffer) or `sendmsg` (several); a partial send is a result like any other
/// (the reactor resumes it).
///
/// # Safety
///
/// `msg` must be valid, its buffers readable (contract guarantee 2).
pub(crate) unsafe fn send(fd: RawFd, msg: *const SendSlot) -> Step {
    // SAFETY: the caller guarantees the slot is valid.
    let slot = unsafe { &*msg };
    loop {
        // One buffer is the common case (a small write): send(2) skips copying in a msghdr
        // and an iovec array, ~2% of a core on a loopback echo at 500 connections.
        let sent = match slot.bufs() {
            [one] => syscalls::send(fd, one),
            // SAFETY: the caller guarantees the slot's msghdr and its buffers are valid.
            _ => unsafe { syscalls::sendmsg(fd, slot.msghdr()) },
        };
        match sent {
            // sendmsg returns at most INT_MAX bytes on Linux (MAX_RW_COUNT) and macOS.
            Ok(n) => return Step::Final(n as i32),
            Err(e) if syscalls::would_block(e) => return Step::Wait(Interest::WRITABLE),
            Err(libc::EINTR) => {}
            Err(e) => return Step::Final(-e),
        }
    }
}

/// Starts a connect, or (once started) reads its outcome after the socket turned writable.
///
/// # Safety
///
/// `addr` must point at a valid socket address (contract guarantee 2).
pub(crate) unsafe fn connect(
    fd: RawFd,
    addr: *const socket2::SockAddr,
    started: &mut bool,
) -> Step {
    if *started {
        return match syscalls::take_socket_error(fd) {
            Ok(0) => Step::Final(0),
            Ok(e) if e == libc::EINPROGRESS || e == libc::EALREADY => {
                Step::Wait(Interest::WRITABLE)
            }
            Ok(e) | Err(e) => Step::Final(-e),
        };
    }
    // SAFETY: the caller guarantees addr.
    let addr = unsafe { &*addr };
    // SAFETY: a valid address of its own length.
    match unsafe { syscalls::connect(fd, addr.as_ptr().cast(), addr.len()) } {
        Ok(()) => Step::Final(0),
        Err(libc::EINPROGRESS | libc::EINTR) => {
            *started = true;
            Step::Wait(Interest::WRITABLE)
        }
        Err(e) => Step::Final(-e),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;

    use corenet_engine::driver::contract::bytes;
    use corenet_engine::driver::{BufPool, Completion};

    use super::{READS_PER_PARK, ReadHint, offer, recv};
    use crate::readiness::lender::Lender;
    use crate::readiness::platform::{RecvCtx, Step};
    use crate::readiness::testing::{pair, recv_token};
    use crate::unix::tests::wait_queued;

    /// A lender of a new pool of `count` buffers of `size` bytes.
    fn lender(count: u16, size: u32) -> Lender {
        Lender::new(BufPool::new(count, size).unwrap()).unwrap()
    }

    /// A connected pair whose driver side has `sent` queued to be read.
    fn queued(sent: &[u8]) -> TcpStream {
        let (mut peer, sock) = pair();
        peer.write_all(sent).unwrap();
        wait_queued(&sock, sent.len());
        // The peer may go: what it wrote stays queued on `sock`.
        sock
    }

    /// The hint of a socket whose last read took `last` bytes.
    fn after(last: u32) -> ReadHint {
        ReadHint {
            read_closed: false,
            last,
        }
    }

    /// One receive attempt on `sock` into `bufs` (and `stream`, if any) with `hint`; the step
    /// and the chunks' lengths.
    fn read(
        sock: &TcpStream,
        bufs: &mut Lender,
        stream: Option<&mut Lender>,
        hint: &mut ReadHint,
        out: &mut Vec<Completion>,
    ) -> (Step, Vec<i32>) {
        let cx = RecvCtx { bufs, stream };
        let step = recv(sock.as_raw_fd(), recv_token(1), cx, hint, out);
        (step, out.iter().map(|c| c.result).collect())
    }

    #[test]
    fn a_full_read_offers_the_rest_of_the_share_next() {
        // 10.5 buffers wait; the hint offers 2. The first read fills both, so the second
        // offers the other 14 and takes everything left in one call: the hint after it
        // reflects that read of 8.5 buffers (9 + 1 = 10 would mean a stepwise 3, 4, 5...).
        let sent: Vec<u8> = (0..168u8).collect();
        let sock = queued(&sent);
        let mut bufs = lender(32, 16);
        let mut hint = after(16);
        let mut out = Vec::new();
        let (step, _) = read(&sock, &mut bufs, None, &mut hint, &mut out);
        assert!(matches!(step, Step::Wait(_)), "the socket is drained");
        assert_eq!(bytes(&out), sent);
        assert_eq!(out.len(), 11);
        assert_eq!(hint.last, 136, "the second read took 8.5 buffers at once");
        assert_eq!(
            bufs.free(),
            32 - 11,
            "the unfilled offers went back to the free list"
        );
    }

    #[test]
    fn a_streaming_peer_reads_into_the_larger_buffers() {
        // The last read took more than a pool buffer: the peer streams, so its bytes go to the
        // 64-byte buffers, one offered, then (that one full) the rest of the share.
        let sent: Vec<u8> = (0..168u8).collect();
        let sock = queued(&sent);
        let (mut bufs, mut stream) = (lender(32, 16), lender(8, 64));
        let mut hint = after(32);
        let mut out = Vec::new();
        let (step, lens) = read(&sock, &mut bufs, Some(&mut stream), &mut hint, &mut out);
        assert!(matches!(step, Step::Wait(_)), "the socket is drained");
        assert_eq!(bytes(&out), sent);
        assert_eq!(lens, [64, 64, 40]);
        assert!(out.iter().all(|c| c.chunk.as_ref().unwrap().len() <= 64));
        assert_eq!((bufs.free(), stream.free()), (32, 8 - 3));
    }

    #[test]
    fn small_reads_and_a_drained_stream_pool_keep_to_the_pool() {
        // A peer that sent less than a buffer last time reads into the pool's buffers.
        let sock = queued(&[7; 12]);
        let (mut bufs, mut stream) = (lender(32, 16), lender(4, 64));
        let mut hint = after(15);
        let mut out = Vec::new();
        let (_, lens) = read(&sock, &mut bufs, Some(&mut stream), &mut hint, &mut out);
        assert_eq!(lens, [12]);
        assert_eq!((bufs.free(), stream.free()), (32 - 1, 4));
        drop(out);

        // A streaming peer whose larger buffers are down to their reserve (a pool of 4 keeps
        // 1) falls back to the pool's, where the reactor would not copy the hand-overs.
        let sock = queued(&[9; 40]);
        let held: Vec<u16> = (0..3).map(|_| stream.take().unwrap()).collect();
        assert!(!stream.usable());
        let mut hint = after(64);
        let mut out = Vec::new();
        let (step, lens) = read(&sock, &mut bufs, Some(&mut stream), &mut hint, &mut out);
        assert!(matches!(step, Step::Wait(_)));
        assert_eq!(lens, [16, 16, 8]);
        assert_eq!(stream.free(), 1);
        stream.give_back(&held);
    }

    #[test]
    fn offers_grow_with_full_reads_and_fall_back_after_a_short_one() {
        assert_eq!(offer(0, 4096), 1, "no read yet");
        assert_eq!(offer(64, 4096), 1);
        assert_eq!(offer(4096, 4096), 2, "one whole buffer: offer a second");
        assert_eq!(offer(3 * 4096 + 5, 4096), 4);
        assert_eq!(offer(64 * 4096, 4096), READS_PER_PARK);
        assert_eq!(
            offer(4096, 16384),
            1,
            "a pool buffer's worth of larger buffers"
        );
    }
}
