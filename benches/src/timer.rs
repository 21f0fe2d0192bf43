//! A one-shot `timerfd` registered with mio, for wake-ups with microsecond precision (mio's
//! poll timeout has millisecond granularity, which would bunch open-loop sends together).
//!
//! Elsewhere than Linux the timer does nothing and [`Timer::PRECISE`] is false: the driver then
//! relies on the poll timeout alone.

use std::io;
use std::time::Instant;

use mio::{Registry, Token};

#[cfg(target_os = "linux")]
pub use linux::Timer;

#[cfg(not(target_os = "linux"))]
pub use fallback::Timer;

#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use mio::Interest;
    use mio::unix::SourceFd;

    /// A nonblocking monotonic timerfd.
    #[derive(Debug)]
    pub struct Timer {
        fd: OwnedFd,
        armed_for: Option<Instant>,
    }

    impl Timer {
        /// The timer wakes the poll at the instant asked.
        pub const PRECISE: bool = true;

        /// Creates the timer and registers it for reading under `token`.
        pub fn new(registry: &Registry, token: Token) -> io::Result<Self> {
            // SAFETY: plain syscall; the result is checked before use.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
            Ok(Self {
                fd,
                armed_for: None,
            })
        }

        /// Arms the timer to fire at `at` (now, if `at` has passed); does nothing if it is already
        /// armed for that instant.
        pub fn arm(&mut self, at: Instant, now: Instant) -> io::Result<()> {
            if self.armed_for == Some(at) {
                return Ok(());
            }
            // A zero it_value would disarm the timer: fire after a nanosecond instead.
            let left = at
                .saturating_duration_since(now)
                .max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: left.as_secs().min(i32::MAX as u64) as libc::time_t,
                    tv_nsec: libc::c_long::from(left.subsec_nanos() as i32),
                },
            };
            // SAFETY: the fd is a timerfd we own, `spec` is a valid itimerspec, and a null old
            // value is allowed.
            let rc = unsafe {
                libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut())
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            self.armed_for = Some(at);
            Ok(())
        }

        /// Notes that the poller reported the timer expired. The expiry count is not read: mio
        /// registers edge-triggered, each expiry raises a new edge, and re-arming resets the count,
        /// so one syscall per wake-up is saved.
        pub fn fired(&mut self) {
            self.armed_for = None;
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod fallback {
    use super::*;

    /// No timer: the poll timeout does the waking.
    #[derive(Debug)]
    pub struct Timer;

    impl Timer {
        /// The timer does not wake the poll.
        pub const PRECISE: bool = false;

        /// A timer that never fires.
        pub fn new(_registry: &Registry, _token: Token) -> io::Result<Self> {
            Ok(Self)
        }

        /// Does nothing.
        pub fn arm(&mut self, _at: Instant, _now: Instant) -> io::Result<()> {
            Ok(())
        }

        /// Never called: the timer never fires.
        pub fn fired(&mut self) {}
    }
}
