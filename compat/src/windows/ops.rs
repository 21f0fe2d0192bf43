//! The ops as readiness emulates them on Windows, through mio's types: each attempt makes
//! its calls until one would block (which re-arms mio's poll), the op ends, or its share of
//! this park is used up. Unlike on Unix a short read does not end an attempt: only
//! `WouldBlock` re-arms the poll, so every wait follows one.

use std::io::{self, Read, Write};
use std::os::windows::io::{AsRawSocket, IntoRawSocket, RawSocket};

use corenet_engine::driver::{Completion, SendSlot, Token};
use mio::Interest;

use super::sources::Source;
use crate::readiness::platform::{RecvCtx, Step};

/// Receives one op makes per park before the others get their turn.
const READS_PER_PARK: usize = 16;
/// Accepts one listener makes per park.
const ACCEPTS_PER_PARK: usize = 64;

/// `WSAENOBUFS`: the pool ran dry (the engine's `ENOBUFS` on Windows).
const ENOBUFS: i32 = 10055;
/// `WSAEBADF`-like fallback when an error carries no OS code.
const EIO: i32 = 10009;
/// `WSAEMFILE`: an accepted handle that a completion cannot carry.
const EMFILE: i32 = 10024;

/// The OS code of `e` (a Winsock or Win32 error), as completions carry it.
pub(crate) fn code(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(EIO)
}

/// The step after a failed call: wait for `interest` if it would block, else end.
fn failed(e: &io::Error, interest: Interest) -> Step {
    if e.kind() == io::ErrorKind::WouldBlock {
        Step::Wait(interest)
    } else {
        Step::Final(-code(e))
    }
}

/// Accepts until `WouldBlock` (or the per-park share); each socket is a completion whose
/// result is its handle. Windows keeps handle values within 32 bits (they may be truncated
/// and sign-extended for 32-bit processes), so a non-negative `i32` carries them.
pub(crate) fn accept(source: &Source, token: Token, out: &mut Vec<Completion>) -> Step {
    let Source::Listener(listener) = source else {
        return Step::Final(-10038); // WSAENOTSOCK: not a listener
    };
    for _ in 0..ACCEPTS_PER_PARK {
        match listener.accept() {
            Ok((stream, _)) => {
                // Inherits the listener's nonblocking mode (Windows' accept does).
                let result = match i32::try_from(stream.as_raw_socket()) {
                    Ok(r) => {
                        let _: RawSocket = stream.into_raw_socket();
                        r
                    }
                    // Dropping the stream closes it: no completion could carry it.
                    Err(_) => -EMFILE,
                };
                out.push(Completion {
                    token,
                    result,
                    more: true,
                    chunk: None,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The connection went away before we took it: try the next one.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) => return failed(&e, Interest::READABLE),
        }
    }
    Step::Again
}

/// Receives into free pool buffers until `WouldBlock`, end of stream, error, an empty pool or
/// the per-park share; each run of bytes is a completion with its chunk.
pub(crate) fn recv(
    source: &Source,
    token: Token,
    cx: RecvCtx<'_>,
    out: &mut Vec<Completion>,
) -> Step {
    // Windows reads into the pool's buffers only (`Platform::STREAM_BUFFERS` is off).
    debug_assert!(cx.stream.is_none());
    let bufs = cx.bufs;
    let size = (bufs.pool().size() as usize).min(i32::MAX as usize);
    let stream = match source {
        Source::Stream(s) => Some(s),
        Source::Pipe(_) => None,
        _ => return Step::Final(-10038),
    };
    for _ in 0..READS_PER_PARK {
        if bufs.spent() {
            return Step::Again;
        }
        let Some(bid) = bufs.take() else {
            // A pipe cannot be peeked through mio: end with ENOBUFS; the reactor re-arms the
            // receive when buffers come back.
            return stream.map_or(Step::Final(-ENOBUFS), starved);
        };
        // SAFETY: `bid` was free, so no chunk views it and nothing else writes into it; the
        // buffer is `size` bytes (or more) long.
        let buf = unsafe { std::slice::from_raw_parts_mut(bufs.pool().buf_ptr(bid), size) };
        let read = match (stream, source) {
            (Some(s), _) => (&*s).read(buf),
            (None, Source::Pipe(p)) => (&*p).read(buf),
            (None, _) => unreachable!("checked above"),
        };
        match read {
            Ok(0) => {
                bufs.give_back(&[bid]);
                return Step::Final(0);
            }
            Ok(n) => out.push(Completion {
                token,
                result: n as i32,
                more: true,
                // SAFETY: `bid` was free (no chunk views it) and the read into it is over; it
                // is lent out now, off the free list until it comes back. `n` is at most the
                // buffer's size.
                chunk: Some(unsafe { bufs.pool().chunk(bid, n as u32) }),
            }),
            Err(e) => {
                bufs.give_back(&[bid]);
                if e.kind() != io::ErrorKind::Interrupted {
                    return failed(&e, Interest::READABLE);
                }
            }
        }
    }
    Step::Again
}

/// No free buffer: end with ENOBUFS only when there is something to receive (nothing is
/// read, so nothing is lost); an idle socket keeps waiting.
fn starved(stream: &mio::net::TcpStream) -> Step {
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte) {
        Ok(0) => Step::Final(0),
        Ok(_) => Step::Final(-ENOBUFS),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Step::Again,
        Err(e) => failed(&e, Interest::READABLE),
    }
}

/// One vectored write; a partial send is a result like any other (the reactor resumes it).
///
/// # Safety
///
/// `msg` must be valid, its buffers readable (contract guarantee 2).
pub(crate) unsafe fn send(source: &Source, msg: *const SendSlot) -> Step {
    // SAFETY: the caller guarantees the slot and its buffers are valid.
    let bufs = unsafe { &*msg }.bufs();
    loop {
        let written = match source {
            Source::Stream(s) => (&*s).write_vectored(bufs),
            // mio copies the bytes and writes them in the background: all are taken.
            Source::Pipe(p) => (&*p).write_vectored(bufs),
            _ => return Step::Final(-10038),
        };
        match written {
            Ok(n) => return Step::Final(n.min(i32::MAX as usize) as i32),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return failed(&e, Interest::WRITABLE),
        }
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionRefused
    )
}

/// Starts a connect, or (once started) reads its outcome after the socket turned writable.
///
/// # Safety
///
/// `addr` must point at a valid socket address (contract guarantee 2).
pub(crate) unsafe fn connect(
    source: &Source,
    addr: *const socket2::SockAddr,
    started: &mut bool,
) -> Step {
    let Source::Stream(stream) = source else {
        return Step::Final(-10038);
    };
    if *started {
        // mio's recipe: an error, or connected (a peer address), or still in progress.
        return match stream.take_error() {
            Ok(Some(e)) | Err(e) => Step::Final(-code(&e)),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => Step::Final(0),
                // Still connecting, or connected and already gone (a listener that closed
                // with us in its backlog; Wine then has no peer address): a peek tells them
                // apart, and a socket that is gone raises no further event to wait for.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => match stream.peek(&mut [0]) {
                    // Connected, and the peer already closed: the receive will see the end.
                    Ok(_) => Step::Final(0),
                    Err(e) if is_reset(&e) => Step::Final(-code(&e)),
                    _ => Step::Wait(Interest::WRITABLE),
                },
                Err(e) => Step::Final(-code(&e)),
            },
        };
    }
    // SAFETY: the caller guarantees addr.
    let addr = unsafe { &*addr };
    match socket2::SockRef::from(stream).connect(addr) {
        Ok(()) => Step::Final(0),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            *started = true;
            Step::Wait(Interest::WRITABLE)
        }
        Err(e) => Step::Final(-code(&e)),
    }
}
