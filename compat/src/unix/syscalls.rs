//! The socket syscalls the ops make, and where Unix flavours differ: `accept4` or
//! `accept` + `fcntl`, `MSG_NOSIGNAL` or `SO_NOSIGPIPE`.
//!
//! Every call returns `Err(errno)` on failure, the form completions carry. Receives and sends
//! pass `MSG_DONTWAIT`, so they never block whatever the descriptor's own mode is.

use std::os::fd::RawFd;

/// The errno of the last failed call on this thread.
fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `-1` → `Err(errno)`, else the value.
fn check(r: isize) -> Result<usize, i32> {
    if r < 0 { Err(errno()) } else { Ok(r as usize) }
}

/// Flags for every send: never block; never raise SIGPIPE where the flag exists (Apple
/// systems get `SO_NOSIGPIPE` on the socket instead, see [`prepare_stream`]).
#[cfg(not(target_vendor = "apple"))]
const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
#[cfg(target_vendor = "apple")]
const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT;

/// Accepts one connection on `listener`: nonblocking, close-on-exec, SIGPIPE-free.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos",
    target_os = "solaris",
))]
pub(crate) fn accept(listener: RawFd) -> Result<RawFd, i32> {
    // SAFETY: null address pointers are allowed (the peer address is not wanted).
    let fd = unsafe {
        libc::accept4(
            listener,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    check(fd as isize).map(|_| fd)
}

/// Accepts one connection on `listener`: nonblocking, close-on-exec, SIGPIPE-free.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos",
    target_os = "solaris",
)))]
pub(crate) fn accept(listener: RawFd) -> Result<RawFd, i32> {
    // SAFETY: null address pointers are allowed (the peer address is not wanted).
    let fd = unsafe { libc::accept(listener, std::ptr::null_mut(), std::ptr::null_mut()) };
    let fd = check(fd as isize)? as RawFd;
    // No accept4 here: set the flags right after. A fork+exec on another thread in between
    // would inherit fd; std's `TcpListener::accept` has the same window on these systems.
    let flagged = set_cloexec(fd).and_then(|()| set_nonblocking(fd));
    let flagged = flagged.and_then(|()| prepare_stream(fd));
    if let Err(e) = flagged {
        // SAFETY: fd was just accepted and is owned here.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    Ok(fd)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos",
    target_os = "solaris",
)))]
fn set_cloexec(fd: RawFd) -> Result<(), i32> {
    // SAFETY: F_SETFD on a descriptor we own; no pointers involved.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } as isize).map(|_| ())
}

/// Sets `O_NONBLOCK` on `fd` unless it is already set.
pub(crate) fn set_nonblocking(fd: RawFd) -> Result<(), i32> {
    // SAFETY: F_GETFL on an open descriptor; no pointers involved.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) } as isize)? as libc::c_int;
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: F_SETFL on an open descriptor; no pointers involved.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } as isize).map(|_| ())
}

/// Makes a stream socket safe to send on: on Apple systems, which have no usable
/// `MSG_NOSIGNAL`, sets `SO_NOSIGPIPE` so a send to a reset peer returns EPIPE instead of
/// killing the process. Elsewhere the send flag does it and this does nothing.
#[cfg(target_vendor = "apple")]
pub(crate) fn prepare_stream(fd: RawFd) -> Result<(), i32> {
    let one: libc::c_int = 1;
    // SAFETY: `one` outlives the call and its size is passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_NOSIGPIPE,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(r as isize).map(|_| ())
}

/// Makes a stream socket safe to send on (nothing to do: sends pass `MSG_NOSIGNAL`).
#[cfg(not(target_vendor = "apple"))]
pub(crate) fn prepare_stream(_fd: RawFd) -> Result<(), i32> {
    Ok(())
}

/// Receives at most `len` bytes into `buf` without blocking; `Ok(0)` is end of stream.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes.
pub(crate) unsafe fn recv(fd: RawFd, buf: *mut u8, len: usize) -> Result<usize, i32> {
    // SAFETY: the caller guarantees `buf` is writable for `len` bytes.
    check(unsafe { libc::recv(fd, buf.cast(), len, libc::MSG_DONTWAIT) })
}

/// Receives into the buffers `iov` describes, in order, without blocking (one `recvmsg`);
/// `Ok(0)` is end of stream.
///
/// # Safety
///
/// Every iovec must describe memory valid for writes of its length.
pub(crate) unsafe fn recv_vectored(fd: RawFd, iov: &mut [libc::iovec]) -> Result<usize, i32> {
    // SAFETY: all-zero is a valid msghdr (no address, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    // SAFETY: `msg` points at `iov`, whose buffers the caller guarantees writable; both
    // outlive the call.
    check(unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) })
}

/// Whether a receive would find something (data, end of stream or an error) without taking
/// it: `Ok(0)` end of stream, `Ok(1)` data, `Err(EAGAIN)` nothing yet.
pub(crate) fn peek(fd: RawFd) -> Result<usize, i32> {
    let mut byte = 0u8;
    // SAFETY: `byte` is a writable 1-byte buffer that outlives the call.
    check(unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_DONTWAIT | libc::MSG_PEEK,
        )
    })
}

/// Sends the iovecs that `msg` points at, without blocking or raising SIGPIPE.
///
/// # Safety
///
/// `msg` must point at a valid msghdr whose iovecs point at readable memory.
pub(crate) unsafe fn sendmsg(fd: RawFd, msg: *const libc::msghdr) -> Result<usize, i32> {
    // SAFETY: the caller guarantees `msg` and its iovecs are valid.
    check(unsafe { libc::sendmsg(fd, msg, SEND_FLAGS) })
}

/// Sends `buf` without blocking or raising SIGPIPE.
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> Result<usize, i32> {
    // SAFETY: `buf` is valid for reads of its length for the duration of the call.
    check(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), SEND_FLAGS) })
}

/// Whether `errno` means "not now, wait for readiness".
pub(crate) fn would_block(errno: i32) -> bool {
    // EAGAIN and EWOULDBLOCK are the same value on Linux and macOS, not on every Unix.
    errno == libc::EAGAIN || errno == libc::EWOULDBLOCK
}

/// `connect(2)` on a nonblocking socket.
///
/// # Safety
///
/// `addr` must point at a valid socket address of `len` bytes.
pub(crate) unsafe fn connect(
    fd: RawFd,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> Result<(), i32> {
    // SAFETY: the caller guarantees addr/len; fd is the reactor's open socket.
    if unsafe { libc::connect(fd, addr, len) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// Reads and clears the socket's pending error (`SO_ERROR`): a finished connect's outcome.
pub(crate) fn take_socket_error(fd: RawFd) -> Result<i32, i32> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: err/len are valid out-parameters of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r == 0 { Ok(err) } else { Err(errno()) }
}
