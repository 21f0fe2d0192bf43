//! Unix: sockets are file descriptors; errors are errno values; pool memory is `mmap`ed.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::ptr::NonNull;

pub use crate::backend::RawSock;
/// An owned socket handle: `OwnedFd` here, `OwnedSocket` on Windows. What
/// [`Server::from_std`](crate::Server::from_std) and [`Socket::from_std`](crate::Socket::from_std)
/// take (`std`'s listeners and streams convert into it).
pub type OwnedSock = OwnedFd;
/// What a server listens on: a listening socket.
pub(crate) type ListenSock = OwnedFd;

/// The raw handle a listener's ops name.
pub(crate) fn listener_raw(l: &ListenSock) -> RawSock {
    l.as_raw_fd()
}

/// The op that accepts on listener `l` (raw handle `fd`).
pub(crate) fn accept_op(
    _l: &ListenSock,
    fd: RawSock,
    token: crate::backend::Token,
) -> crate::backend::Op {
    crate::backend::Op::AcceptMulti { fd, token }
}

/// The op was cancelled.
pub(crate) const ECANCELED: i32 = libc::ECANCELED;
/// An invalid argument.
pub(crate) const EINVAL: i32 = libc::EINVAL;
/// An address family the backends do not serve.
pub(crate) const EAFNOSUPPORT: i32 = libc::EAFNOSUPPORT;
/// The receive pool ran dry.
pub(crate) const ENOBUFS: i32 = libc::ENOBUFS;
/// The peer refused a connection.
#[cfg(any(test, feature = "contract-tests"))]
pub(crate) const ECONNREFUSED: i32 = libc::ECONNREFUSED;
/// The kernel touched memory it had no right to (a use-after-free caught).
pub(crate) const EFAULT: i32 = libc::EFAULT;

/// Whether `sock` is a listening socket (`SO_ACCEPTCONN`, socket(7); `ENOTSOCK` for a
/// descriptor that is no socket).
pub(crate) fn is_listening(sock: &OwnedSock) -> io::Result<bool> {
    let mut on: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `sock` is open for the call; `on` and `len` are ours and sized as the option.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&raw mut on).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(on != 0)
}

/// Closes a descriptor the reactor owns.
///
/// # Safety
///
/// `sock` must be open and owned by the caller, and no op may be in flight on it.
pub(crate) unsafe fn close(sock: RawSock) {
    // SAFETY: the caller owns `sock`; dropping the owned handle closes it.
    drop(unsafe { owned(sock) });
}

/// Takes ownership of a raw handle.
///
/// # Safety
///
/// `sock` must be open and owned by nobody else.
pub(crate) unsafe fn owned(sock: RawSock) -> OwnedSock {
    // SAFETY: the caller's guarantee.
    unsafe { OwnedFd::from_raw_fd(sock) }
}

/// Borrows a raw handle.
///
/// # Safety
///
/// `sock` must stay open while the borrow lives.
pub(crate) unsafe fn borrow<'a>(sock: RawSock) -> BorrowedFd<'a> {
    // SAFETY: the caller's guarantee.
    unsafe { BorrowedFd::borrow_raw(sock) }
}

/// The raw handle of an owned socket, which keeps it.
#[cfg(any(test, feature = "contract-tests"))]
pub(crate) fn raw_of(sock: &OwnedSock) -> RawSock {
    sock.as_raw_fd()
}

/// Gives up ownership of a socket, returning its raw handle.
pub(crate) fn into_raw(sock: impl Into<OwnedSock>) -> RawSock {
    sock.into().into_raw_fd()
}

/// `len` zeroed, page-aligned bytes from a private anonymous mapping.
pub(crate) fn map(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: a fresh private anonymous mapping aliases nothing; the result is checked.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))
}

/// Releases memory from [`map`].
///
/// # Safety
///
/// `ptr`/`len` must come from one `map` call and not have been released since.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: the caller's guarantee.
    unsafe {
        libc::munmap(ptr.as_ptr().cast(), len);
    }
}

/// The most descriptor slots [`reserve_fd_table`] makes room for.
const FD_TABLE_RESERVE_MAX: libc::rlim_t = 1 << 16;

/// Grows this process's descriptor table once, now, to the soft `RLIMIT_NOFILE` (at most
/// 65,536 slots: 512 KiB), so that accepts never grow it later. Growing the table of a
/// multi-threaded process waits for an RCU grace period (milliseconds) with the accept
/// stalled; the listen queue fills meanwhile and a client's SYN is dropped and retried a
/// second later. Measured: 5,000 sequential connects took 4.1 s (four 1 s stalls, at the
/// 256th, 1,024th, 2,048th and 4,096th descriptor) instead of 0.04 s. Best effort: does
/// nothing when the limit cannot be read or the table is already that large.
pub(crate) fn reserve_fd_table() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    let slots = lim.rlim_cur.min(FD_TABLE_RESERVE_MAX);
    if slots < 2 {
        return;
    }
    let Ok(probe) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    // F_DUPFD takes the lowest free descriptor at or above the argument, so it never replaces
    // an open one: the table grows to hold it, and closing the duplicate leaves it grown.
    // SAFETY: `probe` is open for the call; fcntl only adds a descriptor.
    let fd = unsafe {
        libc::fcntl(
            probe.as_raw_fd(),
            libc::F_DUPFD_CLOEXEC,
            (slots - 1) as libc::c_int,
        )
    };
    if fd >= 0 {
        // SAFETY: `fd` was just created here and nothing else knows it.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}
