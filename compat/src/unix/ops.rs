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

/// Receives into free pool buffers until EAGAIN, end of stream, error, an empty pool or the
/// per-park share; each run of bytes is a completion with its chunk. `read_closed`: an event
/// reported the read side closed or in error.
pub(crate) fn recv(
    fd: RawFd,
    token: Token,
    cx: RecvCtx<'_>,
    read_closed: bool,
    out: &mut Vec<Completion>,
) -> Step {
    // Results are i32: a buffer larger than that could not report its length.
    let size = (cx.pool.size() as usize).min(i32::MAX as usize);
    for _ in 0..READS_PER_PARK {
        if cx.budget.spent(cx.free.len()) {
            return Step::Again;
        }
        let Some(bid) = cx.free.pop() else {
            return starved(fd);
        };
        // SAFETY: `bid` was free, so no chunk views it and nothing else writes into it; the
        // buffer is `size` bytes (or more) long.
        match unsafe { syscalls::recv(fd, cx.pool.buf_ptr(bid), size) } {
            Ok(0) => {
                cx.free.push(bid);
                return Step::Final(0);
            }
            Ok(n) => {
                out.push(Completion {
                    token,
                    result: n as i32,
                    more: true,
                    // SAFETY: `bid` was free (no chunk views it) and the read into it is
                    // over; it is lent out now, off the free list until it comes back.
                    // `n` is at most `size`, the buffer's size.
                    chunk: Some(unsafe { cx.pool.chunk(bid, n as u32) }),
                });
                // A short read emptied the socket: any later byte raises a new edge. Unless
                // the read side closed, whose end or error no new edge would announce.
                if n < size && !read_closed {
                    return Step::Wait(Interest::READABLE);
                }
            }
            Err(e) => {
                cx.free.push(bid);
                if syscalls::would_block(e) {
                    return Step::Wait(Interest::READABLE);
                }
                if e != libc::EINTR {
                    return Step::Final(-e);
                }
            }
        }
    }
    Step::Again
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
