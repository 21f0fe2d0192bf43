//! Cross-thread wake-ups: a `mio::Waker` (an eventfd on Linux, `EVFILT_USER` on kqueue, a
//! posted completion on IOCP) registered with the core's poller.

use corenet_engine::driver::Unpark;

/// The poller token the waker's events carry; fds map to their own number, never this.
pub(crate) const WAKE: mio::Token = mio::Token(usize::MAX);

/// Makes the driver's current or next poll return.
#[derive(Debug)]
pub(crate) struct WakerUnpark(pub(crate) mio::Waker);

impl Unpark for WakerUnpark {
    fn unpark(&self) {
        if let Err(e) = self.0.wake() {
            // Only a broken poller fails here; the next timer or event still wakes the core.
            tracing::error!("waking a compat driver: {e}");
        }
    }
}
