//! A byte limit on multishot receives (Linux 6.16: the SQE's `optlen` on IORING_OP_RECV with
//! IORING_RECV_MULTISHOT): the receive ends, with a final completion, once it has delivered
//! that many bytes.
//!
//! Without it a multishot receive keeps filling ring buffers for as long as its socket has
//! data and the ring has buffers: one park can move megabytes of one peer's stream into the
//! process, however far behind that connection's reader is. With it, a connection takes at
//! most the limit (its receive cap) per arming, and the reactor arms again only while its
//! queue has room. Older kernels refuse the field (EINVAL); the probe finds out once.

use io_uring::{IoUring, cqueue, opcode, squeue, types::Fd};

/// Byte offset of `optlen` (a union with `splice_fd_in` and `file_index`) in the kernel's
/// 64-byte `struct io_uring_sqe`, an ABI that does not change.
const OPTLEN_OFFSET: usize = 44;

const _: () = assert!(std::mem::size_of::<squeue::Entry>() == 64);

/// Sets a multishot receive's total byte limit, a field the io-uring crate's builders do not
/// expose.
pub(crate) fn with_limit(sqe: squeue::Entry, limit: u32) -> squeue::Entry {
    // SAFETY: `squeue::Entry` is `#[repr(C)]` around the kernel's `io_uring_sqe` (64 bytes,
    // asserted above) and has no drop glue; every 64-byte pattern is a valid SQE value.
    let mut bytes: [u8; 64] = unsafe { std::mem::transmute(sqe) };
    bytes[OPTLEN_OFFSET..OPTLEN_OFFSET + 4].copy_from_slice(&limit.to_ne_bytes());
    // SAFETY: as above; only the `optlen` field changed.
    unsafe { std::mem::transmute::<[u8; 64], squeue::Entry>(bytes) }
}

/// Whether the kernel takes the limit: a limited multishot receive on no descriptor fails
/// with EBADF where the field is understood (the op is prepared, then finds no file) and
/// with EINVAL where it is not (refused while being prepared). Call on a fresh ring, before
/// any other op, with `bgid` registered.
pub(crate) fn probe(ring: &mut IoUring, bgid: u16) -> bool {
    const TOKEN: u64 = u64::MAX;
    let sqe = with_limit(
        opcode::RecvMulti::new(Fd(-1), bgid)
            .build()
            .user_data(TOKEN),
        1,
    );
    // SAFETY: the SQE points at no memory (no buffer address; buffer select).
    if unsafe { ring.submission().push(&sqe) }.is_err() {
        return false;
    }
    if ring.submit_and_wait(1).is_err() {
        return false;
    }
    let mut supported = false;
    for cqe in ring.completion() {
        if cqe.user_data() == TOKEN && !cqueue::more(cqe.flags()) {
            supported = cqe.result() == -libc::EBADF;
        }
    }
    supported
}
