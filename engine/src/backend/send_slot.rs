//! The memory a send in flight points at: its buffer list (and, on Unix, the msghdr that
//! io_uring's SENDMSG and the compat driver's `sendmsg` take), pooled per core.

use std::io::IoSlice;

/// Most buffers one send carries; the rest go in the next turn's send.
pub(crate) const MAX_IOV: usize = 64;

/// Most bytes one send carries; the rest go in the next send. A send's result is an `i32`
/// (io_uring's CQE, and what the compat drivers report), a one-buffer io_uring SEND takes a
/// `u32` length, a Windows `WSABUF` a `u32`; Linux itself sends at most this much per call
/// (`MAX_RW_COUNT`, `INT_MAX` rounded down to a page).
pub(crate) const MAX_SEND_BYTES: usize = 0x7fff_f000;

/// The buffers of one in-flight send. Boxed so its address is stable while the kernel may
/// read it, and pooled so steady-state sends don't allocate.
///
/// `IoSlice` is ABI-compatible with `iovec` on Unix and `WSABUF` on Windows, so the list can
/// be handed to the OS as it is.
pub struct SendSlot {
    /// The slices point at the connection's queued buffers, which the reactor keeps alive
    /// and unmoved until the send's final completion (hence the `'static`, which is only
    /// true for that long).
    iov: [IoSlice<'static>; MAX_IOV],
    len: usize,
    #[cfg(unix)]
    msg: libc::msghdr,
}

impl SendSlot {
    /// An empty slot, boxed (its address must not change while a send is in flight).
    pub fn new_boxed() -> Box<SendSlot> {
        Box::new(SendSlot {
            iov: [IoSlice::new(&[]); MAX_IOV],
            len: 0,
            // SAFETY: msghdr is a plain C struct for which all-zero is valid (no name, no
            // control data).
            #[cfg(unix)]
            msg: unsafe { std::mem::zeroed() },
        })
    }

    /// Points the slot at `bufs` (at most 64 of them, and at most 0x7fff_f000 bytes (Linux's
    /// `MAX_RW_COUNT`) in all: the last buffer taken may be cut short); returns how
    /// many buffers it took.
    ///
    /// # Safety
    ///
    /// Every buffer must stay valid and unmoved until the send's final completion, and the
    /// slot must not be read after that until it is set again.
    pub unsafe fn set<'a>(&mut self, bufs: impl Iterator<Item = &'a [u8]>) -> usize {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.set_within(bufs, MAX_SEND_BYTES) }
    }

    /// [`set`](Self::set) with a byte limit of `max_bytes`.
    ///
    /// # Safety
    ///
    /// As for [`set`](Self::set).
    unsafe fn set_within<'a>(
        &mut self,
        bufs: impl Iterator<Item = &'a [u8]>,
        max_bytes: usize,
    ) -> usize {
        let mut n = 0;
        let mut room = max_bytes;
        for bytes in bufs.take(MAX_IOV) {
            if room == 0 {
                break;
            }
            let len = bytes.len().min(room);
            room -= len;
            // SAFETY: the caller keeps `bytes` alive and unmoved for as long as the slot is
            // read; the `'static` never escapes the slot's accessors, which borrow the slot.
            // `len` is at most the slice's length.
            let bytes: &'static [u8] = unsafe { std::slice::from_raw_parts(bytes.as_ptr(), len) };
            self.iov[n] = IoSlice::new(bytes);
            n += 1;
        }
        self.len = n;
        #[cfg(unix)]
        {
            self.msg.msg_iov = self.iov.as_mut_ptr().cast::<libc::iovec>();
            self.msg.msg_iovlen = n as _;
        }
        n
    }

    /// The buffers to send, in order.
    pub fn bufs(&self) -> &[IoSlice<'_>] {
        &self.iov[..self.len]
    }

    /// A msghdr (no name, no control data) over [`bufs`](SendSlot::bufs), valid while the
    /// slot is.
    #[cfg(unix)]
    pub fn msghdr(&self) -> *const libc::msghdr {
        &self.msg
    }
}

impl std::fmt::Debug for SendSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendSlot").field("bufs", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(slot: &SendSlot) -> Vec<usize> {
        slot.bufs().iter().map(|b| b.len()).collect()
    }

    #[test]
    fn a_send_stops_at_its_byte_limit() {
        let data = [7u8; 100];
        let mut slot = SendSlot::new_boxed();
        // SAFETY: `data` outlives every read of the slot below.
        let n =
            unsafe { slot.set_within([&data[..60], &data[..30], &data[..50]].into_iter(), 100) };
        // Two whole buffers and 10 bytes of the third: the third stays queued (the reactor
        // counts it as one in flight and resumes it from the bytes actually sent).
        assert_eq!(n, 3);
        assert_eq!(lens(&slot), [60, 30, 10]);
        // A first buffer larger than the limit is cut.
        // SAFETY: as above.
        let n = unsafe { slot.set_within(std::iter::once(&data[..]), 40) };
        assert_eq!((n, lens(&slot)), (1, vec![40]));
        // At the limit exactly, nothing more is taken.
        // SAFETY: as above.
        let n = unsafe { slot.set_within([&data[..40], &data[..5]].into_iter(), 40) };
        assert_eq!((n, lens(&slot)), (1, vec![40]));
    }

    #[test]
    fn the_limit_fits_every_backend() {
        assert!(MAX_SEND_BYTES <= i32::MAX as usize);
        assert!(MAX_SEND_BYTES <= u32::MAX as usize);
        assert_eq!(MAX_SEND_BYTES % 4096, 0);
    }
}
