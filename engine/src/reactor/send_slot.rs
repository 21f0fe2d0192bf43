//! The memory a send in flight points at: its buffer list (and, on Unix, the msghdr that
//! io_uring's SENDMSG and the compat driver's `sendmsg` take), pooled per core.

use std::io::IoSlice;

/// Most buffers one send carries; the rest go in the next turn's send.
pub(crate) const MAX_IOV: usize = 64;

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

    /// Points the slot at `bufs` (at most [`MAX_IOV`] of them are taken); returns how many.
    ///
    /// # Safety
    ///
    /// Every buffer must stay valid and unmoved until the send's final completion, and the
    /// slot must not be read after that until it is set again.
    pub unsafe fn set<'a>(&mut self, bufs: impl Iterator<Item = &'a [u8]>) -> usize {
        let mut n = 0;
        for bytes in bufs.take(MAX_IOV) {
            // SAFETY: the caller keeps `bytes` alive and unmoved for as long as the slot is
            // read; the `'static` never escapes the slot's accessors, which borrow the slot.
            let bytes: &'static [u8] =
                unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) };
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
