//! The per-OS layer under the reactor: what a socket handle is, how it is closed and
//! half-closed, the error numbers the backend contract speaks, and the receive pool's memory.
//!
//! | | Unix | Windows |
//! |---|---|---|
//! | socket handle | `RawFd` | `RawSocket` (a `SOCKET`) |
//! | contract errors (`ECANCELED`, ...) | errno values | Winsock/Win32 codes |
//! | pool memory | anonymous `mmap` | page-aligned heap allocation |
//!
//! Everything above this module is written once against these names.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

/// Half-closes (`Shutdown::Write`) or fully shuts down (`Shutdown::Both`) a socket; errors
/// (a peer already gone) are of no use to the caller and are dropped.
///
/// # Safety
///
/// `sock` must be open for the duration of the call.
pub(crate) unsafe fn shutdown(sock: RawSock, how: std::net::Shutdown) {
    // SAFETY: the caller keeps `sock` open during the call.
    let borrowed = unsafe { borrow(sock) };
    let _ = socket2::SockRef::from(&borrowed).shutdown(how);
}

/// The descriptor an accept completion's non-negative `result` carries.
pub(crate) fn sock_from_result(result: i32) -> RawSock {
    debug_assert!(result >= 0);
    result as RawSock
}
