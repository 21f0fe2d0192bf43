//! How a receive is kept from taking more than a connection's receive cap at once.
//!
//! A multishot receive keeps filling ring buffers for as long as its socket has data and the
//! ring has buffers: one park can move megabytes of one peer's stream into the process,
//! however far behind that connection's reader is (measured: 2–4 MiB in one park, and 400 MB
//! of server memory under 1,200 hostile clients). So every receive carries a byte limit, by
//! the best means the kernel offers ([`Mode`], probed once per ring), and the reactor arms
//! again only while the connection's queue has room.

use io_uring::{IoUring, cqueue, opcode, squeue, types::Fd};

/// How receives are limited, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mode {
    /// A multishot receive ends, with a final completion, once it has delivered the limit in
    /// all (the SQE's `optlen` on a multishot IORING_OP_RECV, added to the kernel in 2025).
    Total,
    /// A multishot receive stops after the limit per invocation and goes on in a later loop
    /// turn (the SQE's `len` on a multishot IORING_OP_RECV, which older kernels refuse).
    PerInvocation,
    /// Neither: one-shot receives of at most the limit (a bundle where the kernel has them,
    /// else one buffer), re-armed by the reactor while the queue has room. An SQE per
    /// receive: the price of a bounded server on such kernels.
    OneShot,
    /// No limit (none asked for, or `CORENET_URING_RECV_LIMIT=off`).
    Off,
}

impl Mode {
    /// The best mode the kernel of `ring` takes, or the one `CORENET_URING_RECV_LIMIT`
    /// (`total`, `invocation`, `oneshot`, `off`) names if the kernel takes it: the variable
    /// simulates an older kernel (tests, A/B runs). Call on a fresh ring, before any other
    /// op, with `bgid` registered.
    pub(crate) fn probe(ring: &mut IoUring, bgid: u16) -> Mode {
        let wanted = match std::env::var("CORENET_URING_RECV_LIMIT").as_deref() {
            Ok("off") => return Mode::Off,
            Ok("oneshot") => Mode::OneShot,
            Ok("invocation") => Mode::PerInvocation,
            _ => Mode::Total,
        };
        if wanted <= Mode::Total && understood(ring, with_u32(multishot(bgid), OPTLEN, 1)) {
            return Mode::Total;
        }
        if wanted <= Mode::PerInvocation && understood(ring, with_u32(multishot(bgid), LEN, 1)) {
            return Mode::PerInvocation;
        }
        Mode::OneShot
    }
}

/// The receive SQE for `fd` in `mode` with a `limit` in bytes (`bundle`: the kernel takes
/// receive bundles).
pub(crate) fn recv_sqe(fd: i32, bgid: u16, bundle: bool, mode: Mode, limit: u32) -> squeue::Entry {
    let sqe = match (mode, bundle) {
        (Mode::OneShot, true) => opcode::RecvBundle::new(Fd(fd), bgid).build(),
        // Buffer select: one buffer, filled up to min(limit, its length).
        (Mode::OneShot, false) => opcode::Recv::new(Fd(fd), std::ptr::null_mut(), 0)
            .buf_group(bgid)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT),
        (_, true) => opcode::RecvMultiBundle::new(Fd(fd), bgid).build(),
        (_, false) => opcode::RecvMulti::new(Fd(fd), bgid).build(),
    };
    match mode {
        Mode::Total => with_u32(sqe, OPTLEN, limit),
        Mode::PerInvocation | Mode::OneShot => with_u32(sqe, LEN, limit),
        Mode::Off => sqe,
    }
}

/// Byte offset of `len` in the kernel's 64-byte `struct io_uring_sqe` (an ABI).
const LEN: usize = 24;
/// Byte offset of `optlen` (a union with `splice_fd_in` and `file_index`).
const OPTLEN: usize = 44;

const _: () = assert!(std::mem::size_of::<squeue::Entry>() == 64);

/// Sets the `u32` field at byte `offset` of an SQE, for fields the io-uring crate's builders
/// do not expose.
fn with_u32(sqe: squeue::Entry, offset: usize, value: u32) -> squeue::Entry {
    // SAFETY: `squeue::Entry` is `#[repr(C)]` around the kernel's `io_uring_sqe` (64 bytes,
    // asserted above) and has no drop glue; every 64-byte pattern is a valid SQE value.
    let mut bytes: [u8; 64] = unsafe { std::mem::transmute(sqe) };
    bytes[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
    // SAFETY: as above; only one plain integer field changed.
    unsafe { std::mem::transmute::<[u8; 64], squeue::Entry>(bytes) }
}

/// A multishot receive on no descriptor.
fn multishot(bgid: u16) -> squeue::Entry {
    opcode::RecvMulti::new(Fd(-1), bgid).build()
}

/// Whether the kernel understands `sqe`, built on fd -1: EBADF means it was prepared and then
/// found no file; EINVAL that preparing it failed (a field the kernel does not take).
fn understood(ring: &mut IoUring, sqe: squeue::Entry) -> bool {
    const TOKEN: u64 = u64::MAX;
    let sqe = sqe.user_data(TOKEN);
    // SAFETY: the SQE points at no memory (no buffer address; buffer select).
    if unsafe { ring.submission().push(&sqe) }.is_err() {
        return false;
    }
    if ring.submit_and_wait(1).is_err() {
        return false;
    }
    let mut understood = false;
    for cqe in ring.completion() {
        if cqe.user_data() == TOKEN && !cqueue::more(cqe.flags()) {
            understood = cqe.result() == -libc::EBADF;
        }
    }
    understood
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(sqe: squeue::Entry) -> [u8; 64] {
        // SAFETY: as in `with_u32`.
        unsafe { std::mem::transmute(sqe) }
    }

    fn u32_at(b: &[u8; 64], offset: usize) -> u32 {
        u32::from_ne_bytes(b[offset..offset + 4].try_into().unwrap())
    }

    #[test]
    fn the_limit_lands_in_the_field_of_each_mode() {
        let total = bytes(recv_sqe(7, 3, true, Mode::Total, 65536));
        assert_eq!((u32_at(&total, OPTLEN), u32_at(&total, LEN)), (65536, 0));
        let each = bytes(recv_sqe(7, 3, true, Mode::PerInvocation, 65536));
        assert_eq!((u32_at(&each, OPTLEN), u32_at(&each, LEN)), (0, 65536));
        let once = bytes(recv_sqe(7, 3, false, Mode::OneShot, 65536));
        assert_eq!((u32_at(&once, OPTLEN), u32_at(&once, LEN)), (0, 65536));
        let off = bytes(recv_sqe(7, 3, true, Mode::Off, 65536));
        assert_eq!((u32_at(&off, OPTLEN), u32_at(&off, LEN)), (0, 0));
        // The rest of the SQE is the builder's: the descriptor (offset 4) is untouched.
        assert_eq!(u32_at(&total, 4), 7);
    }

    #[test]
    fn multishot_only_where_the_mode_says() {
        // ioprio (offset 2, u16) carries IORING_RECV_MULTISHOT (bit 1) for multishot receives.
        let ioprio = |sqe| u16::from_ne_bytes(bytes(sqe)[2..4].try_into().unwrap());
        assert_ne!(ioprio(recv_sqe(7, 3, true, Mode::Total, 1)) & 2, 0);
        assert_ne!(ioprio(recv_sqe(7, 3, false, Mode::PerInvocation, 1)) & 2, 0);
        assert_eq!(ioprio(recv_sqe(7, 3, true, Mode::OneShot, 1)) & 2, 0);
        assert_eq!(ioprio(recv_sqe(7, 3, false, Mode::OneShot, 1)) & 2, 0);
    }

    #[test]
    fn this_kernel_is_probed() {
        let mut ring = IoUring::new(8).expect("io_uring");
        let pool = crate::buf::BufPool::new(8, 64).unwrap();
        let buf_ring = super::super::buf_ring::BufRing::register(&ring, &pool, 0, 0).unwrap();
        let mode = Mode::probe(&mut ring, 0);
        // Whatever the kernel, a mode is chosen; Off only when asked for.
        if std::env::var_os("CORENET_URING_RECV_LIMIT").is_none() {
            assert_ne!(mode, Mode::Off);
        }
        buf_ring.unregister(&ring).unwrap();
    }
}
