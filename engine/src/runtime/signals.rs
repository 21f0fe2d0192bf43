//! SIGINT/SIGTERM turned into a graceful shutdown: the signals are blocked and a small thread
//! takes them with `sigwait` (as a signalfd would, but on every Unix).

use std::io;
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
    // The watcher inherits the blocked mask and waits for the pending signal.
    thread::Builder::new()
        .name("corenet-signals".into())
        .spawn(move || {
            let set = shutdown_signals();
            let mut signal: libc::c_int = 0;
            // SAFETY: set is a valid sigset_t whose signals are blocked in this thread; signal is a
            // valid out-parameter.
            let r = unsafe { libc::sigwait(&set, &mut signal) };
            if r != 0 {
                tracing::error!("sigwait failed: {}", io::Error::from_raw_os_error(r));
                return;
            }
            tracing::info!(
                signal,
                "shutdown signal received; draining for up to {grace:?}"
            );
            handle.shutdown_graceful(grace);
        })?;
    Ok(())
}
