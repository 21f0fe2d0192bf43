//! Unix: sockets are file descriptors; errors are errno values; pool memory is `mmap`ed.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// A socket handle as the reactor and the drivers pass it around.
pub type RawSock = RawFd;
/// An owned socket handle.
pub(crate) type OwnedSock = OwnedFd;
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
/// The receive pool ran dry.
pub(crate) const ENOBUFS: i32 = libc::ENOBUFS;
/// The kernel touched memory it had no right to (a use-after-free caught).
pub(crate) const EFAULT: i32 = libc::EFAULT;

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
