//! Windows: sockets are `SOCKET`s; errors are Winsock (100xx) or Win32 codes, so that
//! `io::Error::from_raw_os_error` describes them; pool memory comes from the heap (no kernel
//! ever writes into it behind our back: the compat driver reads into it itself).

use std::alloc::Layout;
use std::io;
use std::os::windows::io::{
    AsRawSocket, BorrowedSocket, FromRawSocket, IntoRawSocket, OwnedSocket, RawSocket,
};
use std::ptr::NonNull;

/// A socket handle as the reactor and the drivers pass it around.
pub type RawSock = RawSocket;
/// An owned socket handle.
pub(crate) type OwnedSock = OwnedSocket;

/// The op was cancelled (`ERROR_OPERATION_ABORTED`).
pub(crate) const ECANCELED: i32 = 995;
/// An invalid argument (`WSAEINVAL`).
pub(crate) const EINVAL: i32 = 10022;
/// The receive pool ran dry (`WSAENOBUFS`).
pub(crate) const ENOBUFS: i32 = 10055;
/// Bad memory in a call (`WSAEFAULT`).
pub(crate) const EFAULT: i32 = 10014;

/// Pool memory alignment: a page, as the mapping gives on Unix.
const PAGE: usize = 4096;

/// Takes ownership of a raw handle.
///
/// # Safety
///
/// `sock` must be open and owned by nobody else.
pub(crate) unsafe fn owned(sock: RawSock) -> OwnedSock {
    // SAFETY: the caller's guarantee.
    unsafe { OwnedSocket::from_raw_socket(sock) }
}

/// Borrows a raw handle.
///
/// # Safety
///
/// `sock` must stay open while the borrow lives.
pub(crate) unsafe fn borrow<'a>(sock: RawSock) -> BorrowedSocket<'a> {
    // SAFETY: the caller's guarantee.
    unsafe { BorrowedSocket::borrow_raw(sock) }
}

/// Gives up ownership of a socket, returning its raw handle.
pub(crate) fn into_raw(sock: impl Into<OwnedSock>) -> RawSock {
    sock.into().into_raw_socket()
}

fn layout(len: usize) -> io::Result<Layout> {
    Layout::from_size_align(len, PAGE).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))
}

/// The raw handle of an owned socket (still owned by it).
pub(crate) fn as_raw(sock: &OwnedSock) -> RawSock {
    sock.as_raw_socket()
}

/// `len` (> 0) zeroed, page-aligned bytes from the heap.
pub(crate) fn map(len: usize) -> io::Result<NonNull<u8>> {
    let layout = layout(len)?;
    // SAFETY: `layout` has a non-zero size (callers ask for at least one byte).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    NonNull::new(ptr).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
}

/// Releases memory from [`map`].
///
/// # Safety
///
/// `ptr`/`len` must come from one `map` call and not have been released since.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    let layout = layout(len).expect("the layout map() accepted");
    // SAFETY: allocated by `map` with this same layout (the caller's guarantee).
    unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
}
