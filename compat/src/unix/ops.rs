//! The ops as readiness emulates them: each attempt makes its syscalls until the descriptor
//! would block, the op ends, or its share of this park is used up, appending completions as
//! it goes.

use std::os::fd::RawFd;

use corenet_engine::driver::{Completion, SendSlot, Token};
use mio::Interest;

use super::syscalls;
use crate::readiness::platform::{RecvCtx, Step};

/// Receives one op makes per park before the others get their turn (fairness: a fast sender
/// must not keep the core from its other sockets).
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
    /// Buffers the next read offers: one after a read that filled less than a buffer (small
    /// messages keep the plain `recv`), otherwise one more than the last read filled, up to
    /// [`READS_PER_PARK`] (a `recvmsg` over them), so a streaming peer is read in one call
    /// per park and a message of exactly one buffer is read without a second call to find
    /// the socket empty. 0 counts as 1.
    pub(crate) offer: u8,
}

/// Receives into free pool buffers until EAGAIN, end of stream, error, an empty pool or the
/// per-park share; each run of bytes is a completion with its chunk.
pub(crate) fn recv(
    fd: RawFd,
    token: Token,
    cx: RecvCtx<'_>,
    hint: &mut ReadHint,
    out: &mut Vec<Completion>,
) -> Step {
    // Results are i32: a buffer larger than that could not report its length.
    let size = (cx.pool.size() as usize).min(i32::MAX as usize);
    let mut filled = 0;
    // The last read filled every buffer it offered: more is likely waiting.
    let mut full = false;
    while filled < READS_PER_PARK {
        if cx.budget.spent(cx.free.len()) {
            return Step::Again;
        }
        if cx.free.is_empty() {
            return starved(fd);
        }
        // After a full read, the rest of the park's share in one call: a peer streaming
        // faster than we read is then read in two calls per park, not one per offer step.
        let wanted = if full {
            READS_PER_PARK
        } else {
            usize::from(hint.offer)
        };
        let offer = wanted
            .min(READS_PER_PARK - filled)
            .min(cx.budget.lendable(cx.free.len()))
            .max(1);
        let mut bids = [0u16; READS_PER_PARK];
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; READS_PER_PARK];
        let mut taken = 0;
        while taken < offer {
            let Some(bid) = cx.free.pop() else { break };
            bids[taken] = bid;
            iov[taken] = libc::iovec {
                iov_base: cx.pool.buf_ptr(bid).cast(),
                iov_len: size,
            };
            taken += 1;
        }
        let result = if taken == 1 {
            // SAFETY: `bids[0]` was free, so no chunk views it and nothing else writes into
            // it; the buffer is `size` bytes (or more) long.
            unsafe { syscalls::recv(fd, cx.pool.buf_ptr(bids[0]), size) }
        } else {
            // SAFETY: as above, for each of the `taken` buffers the iovecs point at.
            unsafe { syscalls::recv_vectored(fd, &mut iov[..taken]) }
        };
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                give_back(cx.free, &bids[..taken]);
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
            give_back(cx.free, &bids[..taken]);
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
                chunk: Some(unsafe { cx.pool.chunk(bid, len as u32) }),
            });
        }
        give_back(cx.free, &bids[used..taken]);
        filled += used;
        hint.offer = next_offer(n, size);
        // A short read emptied the socket: any later byte raises a new edge. Unless the read
        // side closed, whose end or error no new edge would announce.
        if n < taken * size && !hint.read_closed {
            return Step::Wait(Interest::READABLE);
        }
        full = n == taken * size;
    }
    Step::Again
}

/// The buffers to offer after a read of `n` bytes into buffers of `size` ([`ReadHint::offer`]).
fn next_offer(n: usize, size: usize) -> u8 {
    if n < size {
        1
    } else {
        (n / size + 1).min(READS_PER_PARK) as u8
    }
}

/// Returns buffers a read did not fill to the free list, the first taken on top again.
fn give_back(free: &mut Vec<u16>, bids: &[u16]) {
    free.extend(bids.iter().rev());
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
    use std::os::fd::AsRawFd;

    use corenet_engine::driver::BufPool;
    use corenet_engine::driver::contract::bytes;

    use super::{READS_PER_PARK, ReadHint, next_offer, recv};
    use crate::readiness::budget::RecvBudget;
    use crate::readiness::platform::{RecvCtx, Step};
    use crate::readiness::testing::{pair, recv_token};
    use crate::unix::tests::wait_queued;

    #[test]
    fn a_full_read_offers_the_rest_of_the_share_next() {
        // 10.5 buffers wait; the hint offers 2. The first read fills both, so the second
        // offers the other 14 and takes everything left in one call: the hint after it
        // reflects that read of 8.5 buffers (9 + 1 = 10 would mean a stepwise 3, 4, 5...).
        let (mut peer, sock) = pair();
        let sent: Vec<u8> = (0..168u8).collect();
        peer.write_all(&sent).unwrap();
        wait_queued(&sock, sent.len());
        let pool = BufPool::new(32, 16).unwrap();
        let mut free: Vec<u16> = (0..32).rev().collect();
        let mut hint = ReadHint {
            read_closed: false,
            offer: 2,
        };
        let mut out = Vec::new();
        let cx = RecvCtx {
            pool: &pool,
            free: &mut free,
            budget: RecvBudget::UNLIMITED,
        };
        let step = recv(sock.as_raw_fd(), recv_token(1), cx, &mut hint, &mut out);
        assert!(matches!(step, Step::Wait(_)), "the socket is drained");
        assert_eq!(bytes(&out), sent);
        assert_eq!(out.len(), 11);
        assert_eq!(hint.offer, 9, "the second read took 8.5 buffers at once");
        assert_eq!(
            free.len(),
            32 - 11,
            "the unfilled offers went back to the free list"
        );
    }

    #[test]
    fn offers_grow_with_full_reads_and_fall_back_after_a_short_one() {
        assert_eq!(next_offer(64, 4096), 1);
        assert_eq!(
            next_offer(4096, 4096),
            2,
            "one whole buffer: offer a second"
        );
        assert_eq!(next_offer(3 * 4096 + 5, 4096), 4);
        assert_eq!(next_offer(64 * 4096, 4096), READS_PER_PARK as u8);
    }
}
