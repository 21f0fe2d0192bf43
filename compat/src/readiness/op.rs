//! A pending op as the readiness loop keeps it: what it does, on which descriptor, and where
//! it stands in the loop's queues.

use corenet_engine::driver::{RawSock, SendSlot, Token};

use super::platform::Role;

/// What an op does.
#[derive(Debug)]
pub(crate) enum Kind {
    /// Accept connections (on Windows also named pipe clients) until cancelled or failed.
    Accept,
    /// Receive into pool buffers until cancelled, ended or failed.
    Recv,
    /// One send of the reactor's send slot.
    Send {
        /// The reactor's send slot, valid until the final completion (contract guarantee 2).
        msg: *const SendSlot,
    },
    /// A nonblocking connect: started once, then finished when the socket turns writable.
    Connect {
        /// The peer address, valid until the final completion (contract guarantee 2).
        addr: *const socket2::SockAddr,
        /// The connect has been started and would block.
        started: bool,
    },
}

/// A pending op.
#[derive(Debug)]
pub(crate) struct OpState {
    /// Routes its completions.
    pub(crate) token: Token,
    /// The descriptor it works on.
    pub(crate) sock: RawSock,
    /// What it does.
    pub(crate) kind: Kind,
    /// A cancel arrived: end with `ECANCELED` at the next attempt.
    pub(crate) cancelled: bool,
    /// In the ready list (or carried over to the next park); otherwise waiting for an event.
    pub(crate) queued: bool,
}

impl OpState {
    /// The place it takes on its descriptor.
    pub(crate) fn role(&self) -> Role {
        match self.kind {
            Kind::Accept | Kind::Recv => Role::Reader,
            Kind::Send { .. } | Kind::Connect { .. } => Role::Writer,
        }
    }
}
