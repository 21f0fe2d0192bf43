//! Ring setup with the best flags the kernel accepts, and the opcode probe.

use std::io;

use io_uring::{IoUring, Probe, opcode};

/// Which setup flags the ring came up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetupMode {
    /// SINGLE_ISSUER | DEFER_TASKRUN (6.1): task work runs only when we enter, on our thread.
    DeferTaskrun,
    /// SINGLE_ISSUER | COOP_TASKRUN (6.0).
    CoopTaskrun,
    /// No flags: the kernel interrupts us to run task work.
    Plain,
}

/// Creates a ring with `entries` SQEs and `cq_entries` CQEs, trying DEFER_TASKRUN, then
/// COOP_TASKRUN, then no flags (a flag the kernel lacks fails setup with EINVAL).
pub(crate) fn setup(entries: u32, cq_entries: u32) -> io::Result<(IoUring, SetupMode)> {
    let defer = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_submit_all()
        .setup_cqsize(cq_entries)
        .build(entries);
    match defer {
        Ok(ring) => return Ok((ring, SetupMode::DeferTaskrun)),
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => return Err(e),
        Err(_) => {}
    }
    let coop = IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .setup_submit_all()
        .setup_cqsize(cq_entries)
        .build(entries);
    match coop {
        Ok(ring) => return Ok((ring, SetupMode::CoopTaskrun)),
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => return Err(e),
        Err(_) => {}
    }
    Ok((
        IoUring::builder().setup_cqsize(cq_entries).build(entries)?,
        SetupMode::Plain,
    ))
}

/// Checks that the kernel supports every opcode the driver needs; returns whether it also has
/// MSG_RING (used for cross-core wakes when present).
///
/// Multishot receive has no opcode of its own; it arrived in 6.0 together with
/// SINGLE_ISSUER, so a ring that only came up `Plain` is refused.
pub(crate) fn check(ring: &IoUring, mode: SetupMode) -> io::Result<bool> {
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    let needed = [
        (opcode::AcceptMulti::CODE, "ACCEPT"),
        (opcode::RecvMulti::CODE, "RECV"),
        (opcode::Send::CODE, "SEND"),
        (opcode::SendMsg::CODE, "SENDMSG"),
        (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
        (opcode::Read::CODE, "READ"),
        (opcode::Connect::CODE, "CONNECT"),
    ];
    for (code, name) in needed {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring lacks IORING_OP_{name}"),
            ));
        }
    }
    if mode == SetupMode::Plain {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring lacks SINGLE_ISSUER, so multishot receive (kernel 6.0) is missing",
        ));
    }
    Ok(probe.is_supported(opcode::MsgRingData::CODE))
}
