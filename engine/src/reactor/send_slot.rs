//! The memory a send in flight points at: its iovecs and msghdr, pooled per core.

/// Most buffers one sendmsg carries; the rest go in the next turn's send.
pub(crate) const MAX_IOV: usize = 64;

/// iovecs and msghdr of one in-flight send. Boxed so its address is stable while the kernel
/// may read it, and pooled so steady-state sends don't allocate.
pub(crate) struct SendSlot {
    pub(crate) msg: libc::msghdr,
    pub(crate) iov: [libc::iovec; MAX_IOV],
}

impl SendSlot {
    pub(crate) fn new_boxed() -> Box<SendSlot> {
        Box::new(SendSlot {
            // SAFETY: msghdr and iovec are plain C structs for which all-zero is valid.
            msg: unsafe { std::mem::zeroed() },
            // SAFETY: as above.
            iov: unsafe { std::mem::zeroed() },
        })
    }
}
