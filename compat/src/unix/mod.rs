//! The Unix half of the readiness driver (epoll, kqueue): readiness registrations over the
//! reactor's raw descriptors (`registry`), and the socket calls of each attempt (`ops`, over
//! `syscalls`).

mod ops;
mod registry;
mod syscalls;
#[cfg(test)]
mod tests;

use std::os::fd::RawFd;

use corenet_engine::driver::{Completion, SendSlot, Token};
use mio::event::Event;
use mio::{Interest, Registry};

use crate::readiness::platform::{Platform, RecvCtx, Role, Step};
use registry::Registrations;

/// What the Unix driver knows of the descriptors with pending ops.
#[derive(Debug, Default)]
pub(crate) struct Unix {
    fds: Registrations,
}

impl Platform for Unix {
    const ECANCELED: i32 = libc::ECANCELED;
    const ENOTSUP: i32 = libc::EOPNOTSUPP;
    const RECV_BUDGET: bool = true;
    const STREAM_BUFFERS: bool = true;

    fn attach(
        &mut self,
        registry: &Registry,
        fd: RawFd,
        role: Role,
        accept: bool,
        id: usize,
    ) -> Result<(), i32> {
        let fresh = self.fds.attach(fd, role, id)?;
        let prepared = if accept {
            // accept(2) has no "don't wait" flag: a blocking listener would block the core.
            syscalls::set_nonblocking(fd)
        } else if fresh {
            // A stream socket new to us may come from elsewhere than our accept.
            syscalls::prepare_stream(fd)
        } else {
            Ok(())
        };
        if prepared.is_err() {
            // Undone as the op's end would undo it (nothing was registered for it yet).
            self.fds.detach(registry, fd, role);
        }
        prepared
    }

    fn detach(&mut self, registry: &Registry, fd: RawFd, role: Role) {
        self.fds.detach(registry, fd, role);
    }

    fn wait(&mut self, registry: &Registry, fd: RawFd, interest: Interest) -> Result<(), i32> {
        self.fds.wait(registry, fd, interest)
    }

    fn on_event(&mut self, event: &Event) -> [Option<usize>; 2] {
        self.fds.on_event(event)
    }

    fn len(&self) -> usize {
        self.fds.len()
    }

    fn accept(
        &mut self,
        _registry: &Registry,
        fd: RawFd,
        token: Token,
        out: &mut Vec<Completion>,
    ) -> Step {
        ops::accept(fd, token, out)
    }

    fn recv(
        &mut self,
        fd: RawFd,
        token: Token,
        cx: RecvCtx<'_>,
        out: &mut Vec<Completion>,
    ) -> Step {
        let mut unattached = ops::ReadHint::default();
        let hint = self.fds.read_hint(fd).unwrap_or(&mut unattached);
        ops::recv(fd, token, cx, hint, out)
    }

    unsafe fn send(&mut self, fd: RawFd, msg: *const SendSlot) -> Step {
        // SAFETY: the caller guarantees the slot (this method's contract).
        unsafe { ops::send(fd, msg) }
    }

    unsafe fn send_now(&mut self, fd: RawFd, msg: *const SendSlot) -> Option<i32> {
        // A descriptor with a pending op has been prepared (`attach`), and with no pending
        // writer this send cannot overtake another.
        if !self.fds.writer_free(fd) {
            return None;
        }
        // SAFETY: the caller guarantees the slot (this method's contract).
        match unsafe { ops::send(fd, msg) } {
            Step::Final(result) => Some(result),
            Step::Wait(_) | Step::Again => None,
        }
    }

    unsafe fn connect(
        &mut self,
        fd: RawFd,
        addr: *const socket2::SockAddr,
        started: &mut bool,
    ) -> Step {
        // SAFETY: the caller guarantees the address (this method's contract).
        unsafe { ops::connect(fd, addr, started) }
    }
}
