//! The ops a driver starts and the completions it reports: declared once, encoded by each
//! backend in its own files.

#[cfg(doc)]
use super::{Capabilities, OwnsHandles};
use super::{RawSock, SendSlot};
use crate::Chunk;

/// What an op's completions are routed to: a kind and a slot in the reactor's tables.
/// Drivers treat it as opaque and hand it back in each [`Completion`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Token(pub u64);

/// The kinds of ops, stored in a token's low byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum OpKind {
    /// A multishot accept.
    Accept = 1,
    /// A multishot receive.
    Recv = 2,
    /// A send.
    Send = 3,
    /// A connect.
    Connect = 5,
    /// A hang-up watch ([`Op::PollHangup`]).
    Hangup = 6,
    /// The driver's own ops (its wake-up read); never reported.
    Internal = 4,
}

impl Token {
    /// A token for op `kind` of table slot `slot`.
    pub fn new(kind: OpKind, slot: usize) -> Token {
        Token(((slot as u64) << 8) | kind as u64)
    }

    /// The op kind, if the token is one of the reactor's.
    pub fn kind(self) -> Option<OpKind> {
        match self.0 & 0xff {
            1 => Some(OpKind::Accept),
            2 => Some(OpKind::Recv),
            3 => Some(OpKind::Send),
            4 => Some(OpKind::Internal),
            5 => Some(OpKind::Connect),
            6 => Some(OpKind::Hangup),
            _ => None,
        }
    }

    /// The table slot.
    pub fn slot(self) -> usize {
        (self.0 >> 8) as usize
    }
}

/// An operation for the driver to start.
///
/// Some variants carry raw pointers (a send's slot, a connect's address, a pipe's name) and
/// every one names a descriptor: [`Driver::push`](super::Driver::push) is `unsafe` because the
/// caller promises they stay valid until the op's final completion.
#[derive(Debug)]
pub enum Op {
    /// Accept connections on a listening socket until cancelled or failed; each completion's
    /// `result` is a new descriptor or `-errno`.
    AcceptMulti {
        /// The listening socket.
        fd: RawSock,
        /// Routes the completions.
        token: Token,
    },
    /// Receive into pool buffers until cancelled, ended or failed.
    RecvMulti {
        /// The connected socket.
        fd: RawSock,
        /// Routes the completions.
        token: Token,
        /// The connection streams (its last receive filled a pool buffer at once): a driver
        /// with larger buffers for such connections may receive into those. A hint; drivers
        /// without them ignore it.
        streaming: bool,
    },
    /// Receive once into one pool buffer: one completion, `more` false. For streams on which
    /// a multishot receive can miss the end of the stream (AF_UNIX once its peer has shut
    /// down, see `Hangup`). A driver whose receives are not the kernel's multishot
    /// may serve it as [`Op::RecvMulti`]: the reactor follows each completion's `more`.
    RecvOnce {
        /// The connected socket.
        fd: RawSock,
        /// Routes the completion.
        token: Token,
    },
    /// Complete once the peer has shut down its sending side, or the connection hung up or
    /// failed (POLLRDHUP | POLLHUP | POLLERR); `result` is the poll mask or `-errno`. Pushed
    /// only to a driver whose [`Capabilities::watches_hangup`] is true; others complete it at once
    /// with an error.
    PollHangup {
        /// The connected socket.
        fd: RawSock,
        /// Routes the completion.
        token: Token,
    },
    /// Connect a (nonblocking) stream socket; the one completion's `result` is 0 or
    /// `-errno` (e.g. `-ECONNREFUSED`).
    Connect {
        /// The socket.
        fd: RawSock,
        /// The peer address, valid until the completion (guarantee 2).
        addr: *const socket2::SockAddr,
        /// Routes the completion.
        token: Token,
    },
    /// Send the buffers of `msg` ([`SendSlot::bufs`]; on Unix also as one msghdr,
    /// [`SendSlot::msghdr`]) in one call without raising SIGPIPE (MSG_NOSIGNAL, or
    /// SO_NOSIGPIPE where the platform has no such flag); `result` is the bytes sent. The slot
    /// and the buffers stay valid and unchanged until the final completion (guarantee 2).
    Send {
        /// The connected socket.
        fd: RawSock,
        /// The reactor's buffer list for this send.
        msg: *const SendSlot,
        /// Routes the completion.
        token: Token,
    },
    /// Accept clients on a Windows named pipe server until cancelled or failed. Each
    /// completion's `result` is a connected instance, a tagged pipe handle (see
    /// `sys::is_pipe`) that the driver owns: the reactor closes it with [`OwnsHandles::close`].
    #[cfg(windows)]
    AcceptPipe {
        /// The server's key (its first instance's tagged handle), as later ops name it.
        key: RawSock,
        /// The first instance, handed to the driver by the server's first accept.
        first: Option<RawSock>,
        /// The pipe's NUL-terminated UTF-16 name, valid until the final completion
        /// (guarantee 2): later instances are created under it.
        name: *const u16,
        /// Routes the completions.
        token: Token,
    },
    /// Ask the op with this token to end early. It still delivers its final completion.
    Cancel {
        /// The token of the op to cancel.
        target: Token,
    },
}

/// One result of an op.
#[derive(Debug)]
pub struct Completion {
    /// The op's token.
    pub token: Token,
    /// Non-negative result, or `-errno`.
    pub result: i32,
    /// More completions follow for this op.
    pub more: bool,
    /// Received bytes (receives only).
    pub chunk: Option<Chunk>,
}

/// The token of a failed MSG_RING wake's completion.
pub const WAKE_FAILED: Token = Token(((1u64) << 8) | OpKind::Internal as u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips() {
        let t = Token::new(OpKind::Send, 123_456);
        assert_eq!(t.kind(), Some(OpKind::Send));
        assert_eq!(t.slot(), 123_456);
        assert_eq!(Token(0).kind(), None);
    }
}
