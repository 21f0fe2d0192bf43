//! What the readiness loop asks of an OS: the [`Platform`] trait (registrations, the attempts
//! that differ, the few error codes) and the types both sides speak in.
//!
//! The loop (`readiness/mod.rs`) owns the ops, their queues and the poller; a platform owns
//! what it knows of each descriptor with pending ops (its registration, on Windows the mio
//! object that does the I/O) and makes each attempt's calls. The loop is generic over it, so
//! every call below is monomorphised: no `dyn` on the per-event path.

use std::fmt;

use corenet_engine::driver::{Completion, RawSock, SendSlot, Token};
use mio::event::Event;
use mio::{Interest, Registry};

use super::lender::Lender;

/// Which of a descriptor's two op places an op takes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    /// An accept or a receive: waits for readability.
    Reader,
    /// A send or a connect: waits for writability.
    Writer,
}

/// A descriptor's two op places: the ids of its pending reader and writer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Places {
    /// The pending reader op's id.
    pub(crate) reader: Option<usize>,
    /// The pending writer op's id.
    pub(crate) writer: Option<usize>,
}

impl Places {
    /// Puts op `id` in the `role` place; false (and nothing changed) if that place is taken.
    pub(crate) fn fill(&mut self, role: Role, id: usize) -> bool {
        let place = match role {
            Role::Reader => &mut self.reader,
            Role::Writer => &mut self.writer,
        };
        if place.is_some() {
            return false;
        }
        *place = Some(id);
        true
    }

    /// Empties the `role` place; returns whether both places are empty now.
    pub(crate) fn empty(&mut self, role: Role) -> bool {
        match role {
            Role::Reader => self.reader = None,
            Role::Writer => self.writer = None,
        }
        self.reader.is_none() && self.writer.is_none()
    }

    /// The ops `event` concerns: the reader on readability, the writer on writability, both
    /// on an error or hang-up.
    pub(crate) fn woken_by(&self, event: &Event) -> [Option<usize>; 2] {
        let error = event.is_error();
        let reader = (error || event.is_readable() || event.is_read_closed())
            .then_some(self.reader)
            .flatten();
        let writer = (error || event.is_writable() || event.is_write_closed())
            .then_some(self.writer)
            .flatten();
        [reader, writer]
    }
}

/// Where an attempt left its op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The op ended with this result; its final completion is still to be reported.
    Final(i32),
    /// The descriptor would block: wait for this readiness.
    Wait(Interest),
    /// This park's share is used up and work may be left: try again next park.
    Again,
}

/// What a receive attempt needs besides its op.
pub(crate) struct RecvCtx<'a> {
    /// The core's receive buffers.
    pub(crate) bufs: &'a mut Lender,
    /// The larger buffers for connections that stream, if the core has them (only where
    /// [`Platform::STREAM_BUFFERS`]).
    pub(crate) stream: Option<&'a mut Lender>,
}

/// The OS half of the readiness driver. One value per core, beside the loop's poller.
///
/// A descriptor has at most two pending ops, a reader and a writer ([`Role`]). The loop calls
/// [`attach`](Platform::attach) when an op starts, the attempt methods whenever the op is
/// ready, [`wait`](Platform::wait) when an attempt would block, and
/// [`detach`](Platform::detach) when the op ends — before its final completion is reported,
/// because the reactor may close the descriptor right after (contract guarantee 7).
pub(crate) trait Platform: Default + fmt::Debug {
    /// The code an op ends with when cancelled (`ECANCELED`).
    const ECANCELED: i32;
    /// The code of an op this driver does not serve (`Op::PollHangup`).
    const ENOTSUP: i32;
    /// Whether a park's receives stop at the pool's reserve and wait for the next park
    /// (`budget.rs`); otherwise they read until the pool runs dry and then end with ENOBUFS.
    const RECV_BUDGET: bool;
    /// Whether receives read a streaming peer into the larger buffers of
    /// `DriverConfig::stream_buffers` when the core has them; otherwise the driver makes
    /// none.
    const STREAM_BUFFERS: bool;

    /// Records op `id` in `sock`'s `role` place and readies `sock` for it (its mode, on
    /// Windows its mio wrapper); `accept`: the op accepts connections on a listening socket.
    ///
    /// # Errors
    ///
    /// The code the op ends with at once: its place is another op's (the reactor never does
    /// that), or `sock` could not be readied. Either way nothing of `sock` has changed: its
    /// other op and its registration are as they were.
    fn attach(
        &mut self,
        registry: &Registry,
        sock: RawSock,
        role: Role,
        accept: bool,
        id: usize,
    ) -> Result<(), i32>;

    /// Empties `sock`'s `role` place; when no op is left, deregisters `sock` and forgets it.
    fn detach(&mut self, registry: &Registry, sock: RawSock, role: Role);

    /// Makes sure `sock`, which has a pending op, is registered so that the readiness
    /// `interest` raises an event.
    ///
    /// # Errors
    ///
    /// The registration's error code.
    fn wait(&mut self, registry: &Registry, sock: RawSock, interest: Interest) -> Result<(), i32>;

    /// The pending ops `event` concerns: the reader on readability, the writer on
    /// writability, both on an error or hang-up.
    fn on_event(&mut self, event: &Event) -> [Option<usize>; 2];

    /// Descriptors with pending ops.
    fn len(&self) -> usize;

    /// Accepts on the listener `sock` (on Windows also a named pipe server) until it would
    /// block or the per-park share is used up; each connection is a completion (`more`)
    /// whose result is its descriptor.
    fn accept(
        &mut self,
        registry: &Registry,
        sock: RawSock,
        token: Token,
        out: &mut Vec<Completion>,
    ) -> Step;

    /// Receives into free pool buffers until `sock` would block, ends or fails, the pool or
    /// the park's budget runs out, or the per-park share is used up; each run of bytes is a
    /// completion with its chunk.
    fn recv(
        &mut self,
        sock: RawSock,
        token: Token,
        cx: RecvCtx<'_>,
        out: &mut Vec<Completion>,
    ) -> Step;

    /// One send of the slot's buffers; a partial send is a result like any other.
    ///
    /// # Safety
    ///
    /// `msg` must be valid, its buffers readable (contract guarantee 2).
    unsafe fn send(&mut self, sock: RawSock, msg: *const SendSlot) -> Step;

    /// Sends at once, outside the op bookkeeping, when that needs nothing the op's start
    /// would do: `Some(result)` if the send ended (bytes sent, or an error), `None` to start
    /// the op the usual way (`sock` not known yet, its writer place taken, the platform
    /// needing its own object for the call, or the send would block). The default never
    /// sends.
    ///
    /// # Safety
    ///
    /// As for [`send`](Self::send).
    unsafe fn send_now(&mut self, sock: RawSock, msg: *const SendSlot) -> Option<i32> {
        let _ = (sock, msg);
        None
    }

    /// Starts a connect, or (once `started`) reads its outcome after `sock` turned writable.
    ///
    /// # Safety
    ///
    /// `addr` must point at a valid socket address (contract guarantee 2).
    unsafe fn connect(
        &mut self,
        sock: RawSock,
        addr: *const socket2::SockAddr,
        started: &mut bool,
    ) -> Step;

    /// Files the server of an `Op::AcceptPipe` (the engine declares that op on Windows
    /// only), so that the op can start as an accept on the server's key.
    ///
    /// # Errors
    ///
    /// The code the op ends with at once.
    #[cfg(windows)]
    fn open_pipe_server(
        &mut self,
        registry: &Registry,
        key: RawSock,
        first: Option<RawSock>,
        name: *const u16,
    ) -> Result<(), i32>;

    /// Whether the driver owns some of the handles it reports (Windows named pipes): the
    /// reactor then closes every handle through [`close`](Self::close).
    const OWNS_HANDLES: bool = false;

    /// Closes `sock` if the driver owns its handle (Windows named pipes) and returns true;
    /// false means the reactor closes it.
    fn close(&mut self, registry: &Registry, sock: RawSock) -> bool {
        let _ = (registry, sock);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::{Places, Role};

    #[test]
    fn places_are_exclusive_and_report_when_both_are_empty() {
        let mut p = Places::default();
        assert!(p.fill(Role::Reader, 1));
        assert!(!p.fill(Role::Reader, 2), "the reader's place is taken");
        assert!(p.fill(Role::Writer, 3));
        assert_eq!((p.reader, p.writer), (Some(1), Some(3)));
        assert!(!p.empty(Role::Reader), "the writer is left");
        assert!(p.empty(Role::Writer));
        assert_eq!(p, Places::default());
    }
}
