//! SIGINT/SIGTERM turned into a graceful shutdown, through a signalfd (Linux).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread;
use std::time::Duration;

use super::RuntimeHandle;

/// The signal set we turn into shutdowns.
fn shutdown_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread. Core threads do this at start, so that a
/// process-directed signal goes to a thread that either handles it by default (terminating
/// the process) or reads it from a signalfd.
pub(crate) fn block_in_this_thread() {
    let set = shutdown_signals();
    // SAFETY: set is a valid sigset_t; the old mask is not requested.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// See [`RuntimeHandle::shutdown_on_signals`].
pub(crate) fn watch(handle: RuntimeHandle, grace: Duration) -> io::Result<()> {
    block_in_this_thread();
    let set = shutdown_signals();
    // SAFETY: set is valid; the result is checked.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    thread::Builder::new()
        .name("corenet-signals".into())
        .spawn(move || {
            let mut info = [0u8; std::mem::size_of::<libc::signalfd_siginfo>()];
            loop {
                // SAFETY: reads into a local buffer of the size signalfd writes.
                let n = unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr().cast(), info.len()) };
                if n > 0 {
                    break;
                }
                if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    return;
                }
            }
            tracing::info!("shutdown signal received; draining for up to {grace:?}");
            handle.shutdown_graceful(grace);
        })?;
    Ok(())
}
