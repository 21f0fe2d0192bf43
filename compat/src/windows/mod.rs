//! The Windows half of the readiness driver (IOCP with AFD polls): the sockets and named pipes
//! with pending ops, each wrapped in the mio type that does its I/O (`sources`), the calls of
//! each attempt (`ops`), and named pipe servers (`pipes`).

mod ops;
mod pipes;
mod sources;
#[cfg(test)]
mod tests;

use std::os::windows::io::RawSocket;

use corenet_engine::driver::{Completion, SendSlot, Token};
use mio::event::Event;
use mio::{Interest, Registry};

use crate::readiness::platform::{Platform, RecvCtx, Role, Step};
use sources::{Source, Sources};

/// `ERROR_BUSY`: an op's place on its socket is taken (as `EBUSY` on Unix).
const ERROR_BUSY: i32 = 170;
/// `ERROR_INVALID_HANDLE`: a pipe server whose first instance failed to register earlier.
const ERROR_INVALID_HANDLE: i32 = 6;

/// What the Windows driver knows of the sockets and pipes with pending ops.
#[derive(Debug, Default)]
pub(crate) struct Windows {
    socks: Sources,
}

impl Platform for Windows {
    /// Named pipe instances are mio `NamedPipe`s, closed by the driver.
    const OWNS_HANDLES: bool = true;
    /// `ERROR_OPERATION_ABORTED` (the engine's `ECANCELED` on Windows).
    const ECANCELED: i32 = 995;
    /// `ERROR_NOT_SUPPORTED`.
    const ENOTSUP: i32 = 50;
    /// No per-park receive budget: receives read until the pool runs dry, then end with
    /// ENOBUFS and the reactor re-arms them as buffers return.
    ///
    /// With the budget, the 1000-connection tiny-ring stress (8 buffers of 1 KiB, 2 cores)
    /// under Wine 8 finished 98 of 1000 connections in its 120 s; without it, all 1000 in
    /// 55 s. Not a lost wake-up: every stuck receive sat in the ready list and was tried each
    /// park. With the budget about 450 receives per core stay pending (carried from park to
    /// park, their sockets registered with AFD polls) while the pool idles at its reserve; a
    /// park then took 100-200 ms instead of ~15 ms, because each attempt that read took 60-100
    /// ms (the attempts the budget turned away took ~5 µs); without it almost no receive is
    /// pending between parks (each ends with ENOBUFS and its socket is deregistered).
    /// Putting the turned-away receives first in the next park changed nothing. So every
    /// socket call grows slow with the number of pending polls in Wine's single-threaded
    /// wineserver (the most likely reading; not confirmed inside Wine). Windows proper, whose
    /// AFD polls live in the kernel, has not been measured: until it is, the budget stays off.
    const RECV_BUDGET: bool = false;
    /// Off: a Windows receive reads one buffer per call, and the larger buffers have not been
    /// measured under Wine or on Windows.
    const STREAM_BUFFERS: bool = false;

    fn attach(
        &mut self,
        registry: &Registry,
        sock: RawSocket,
        role: Role,
        accept: bool,
        id: usize,
    ) -> Result<(), i32> {
        self.socks
            .attach(registry, sock, accept, role, id)
            .map_err(|()| ERROR_BUSY)
    }

    fn detach(&mut self, registry: &Registry, sock: RawSocket, role: Role) {
        self.socks.detach(registry, sock, role);
    }

    fn wait(
        &mut self,
        registry: &Registry,
        sock: RawSocket,
        _interest: Interest,
    ) -> Result<(), i32> {
        // The socket's places say what to wait for (see `Sources::wait`).
        self.socks.wait(registry, sock).map_err(|e| ops::code(&e))
    }

    fn on_event(&mut self, event: &Event) -> [Option<usize>; 2] {
        self.socks.on_event(event)
    }

    fn len(&self) -> usize {
        self.socks.len()
    }

    fn accept(
        &mut self,
        registry: &Registry,
        sock: RawSocket,
        token: Token,
        out: &mut Vec<Completion>,
    ) -> Step {
        match self.socks.get(sock) {
            Source::PipeServer { .. } => pipes::accept(&mut self.socks, registry, sock, token, out),
            source => ops::accept(source, token, out),
        }
    }

    fn recv(
        &mut self,
        sock: RawSocket,
        token: Token,
        cx: RecvCtx<'_>,
        out: &mut Vec<Completion>,
    ) -> Step {
        ops::recv(self.socks.get(sock), token, cx, out)
    }

    unsafe fn send(&mut self, sock: RawSocket, msg: *const SendSlot) -> Step {
        // SAFETY: the caller guarantees the slot (this method's contract).
        unsafe { ops::send(self.socks.get(sock), msg) }
    }

    unsafe fn connect(
        &mut self,
        sock: RawSocket,
        addr: *const socket2::SockAddr,
        started: &mut bool,
    ) -> Step {
        // SAFETY: the caller guarantees the address (this method's contract).
        unsafe { ops::connect(self.socks.get(sock), addr, started) }
    }

    fn open_pipe_server(
        &mut self,
        registry: &Registry,
        key: RawSocket,
        first: Option<RawSocket>,
        name: *const u16,
    ) -> Result<(), i32> {
        pipes::open_server(&mut self.socks, registry, key, first, name)
            .map_err(|e| ops::code(&e))?;
        if !self.socks.contains(key) {
            // Its first instance failed to register earlier: the server is gone.
            return Err(ERROR_INVALID_HANDLE);
        }
        Ok(())
    }

    fn close(&mut self, registry: &Registry, sock: RawSocket) -> bool {
        self.socks.close(registry, sock)
    }
}
