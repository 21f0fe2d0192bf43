//! One connection's state on its core: the receive queue and its flow control, the send
//! queue, and what keeps the descriptor open.

use std::collections::VecDeque;
use std::task::Waker;

use super::rx_queue::RxQueue;
use crate::backend::SendSlot;
use crate::buf::TxBuf;
use crate::sys::RawSock;

/// Where the multishot receive stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RxState {
    /// No receive in flight.
    Idle,
    /// A multishot receive is in flight.
    Armed,
    /// A cancel was pushed; the final completion is still to come.
    Cancelling,
    /// The receive ended with ENOBUFS; re-armed when buffers come back.
    Starved,
}

/// What a connection runs over; it decides how the reactor receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// TCP.
    Tcp,
    /// An AF_UNIX stream socket, or a Windows named pipe.
    Unix,
}

/// The watch for an AF_UNIX stream's hang-up, which decides how it receives.
///
/// A multishot receive on a unix stream can miss the end of the stream: the socket reports
/// the bytes left queued (`msg_inq`) without counting a pending EOF, and a multishot receive
/// that the kernel requeued (after 32 back-to-back receives), or that data and the shutdown
/// woke back to back, drains the queue and then waits for a wake-up that already came; the
/// reader hangs. Reproduced on Linux 6.18 with 34 queued buffers and the peer closed first
/// (upstream: "io_uring/poll: fix multishot recv missing EOF on wakeup race"; TCP reports a
/// pending FIN as a byte queued and is not affected). So a unix stream receives with a
/// multishot receive only while a poll for the peer's hang-up is in flight; once it fires,
/// the multishot receive is cancelled and one-shot receives, which always see the EOF, read
/// the rest. Drivers without the watch ([`Capabilities::watches_hangup`]) receive one-shot.
///
/// [`Capabilities::watches_hangup`]: crate::backend::Capabilities::watches_hangup
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hangup {
    /// No watch yet (TCP never has one).
    Unwatched,
    /// The poll is in flight: a multishot receive is safe.
    Watching,
    /// The poll completed (the peer hung up, or the watch failed): receive one-shot.
    Ended,
}

/// Where an outgoing connect stands.
pub(crate) enum ConnectState {
    /// Not connecting (accepted, or connected).
    Done,
    /// In flight; the op points at the boxed address, kept here until its completion.
    InFlight { _addr: Box<socket2::SockAddr> },
    /// Failed with this errno.
    Failed(i32),
}

/// How the write side stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WrState {
    Open,
    /// `shutdown()` asked for: half-close once the queue is flushed.
    ShutdownPending,
    /// Half-closed (or failed): no more writes.
    Closed,
}

/// Per-connection state. Owned by the reactor's slab; `Socket` holds its slot.
pub(crate) struct Conn {
    pub(crate) fd: RawSock,
    pub(crate) transport: Transport,
    pub(crate) hangup: Hangup,
    pub(crate) rx: RxQueue,
    pub(crate) rx_state: RxState,
    /// The receive in flight (if any) is a multishot one.
    pub(crate) rx_multishot: bool,
    /// The largest chunk received since the receive was last armed.
    pub(crate) rx_peak: usize,
    /// The peer streams: a receive armed since the last that delivered bytes filled a
    /// buffer's worth at once ([`Op::RecvMulti`]'s hint).
    ///
    /// [`Op::RecvMulti`]: crate::backend::Op::RecvMulti
    pub(crate) rx_streaming: bool,
    /// Listed for this turn's flush to decide whether to pause the receive.
    pub(crate) pause_noted: bool,
    /// End of the stream: `Some(0)` EOF, `Some(errno)` error.
    pub(crate) rx_end: Option<i32>,
    pub(crate) read_waker: Option<Waker>,

    pub(crate) tx: VecDeque<TxBuf>,
    /// Bytes of `tx[0]` already sent.
    pub(crate) tx_offset: usize,
    /// Unsent bytes in `tx`.
    pub(crate) tx_bytes: usize,
    /// Entries of `tx` covered by the send in flight (0: none in flight).
    pub(crate) tx_in_flight: usize,
    pub(crate) send_slot: Option<Box<SendSlot>>,
    /// Queued in the reactor's dirty list for this turn's flush.
    pub(crate) tx_dirty: bool,
    /// The send side failed with this errno; the queue was dropped.
    pub(crate) tx_error: Option<i32>,
    pub(crate) wr_state: WrState,
    pub(crate) write_waker: Option<Waker>,
    pub(crate) flush_waker: Option<Waker>,
    /// Waits until at most `sent_level` bytes are queued (`poll_sent_to`).
    pub(crate) sent_waker: Option<Waker>,
    pub(crate) sent_level: usize,

    /// The user's `Socket` is gone: close once every op has completed.
    pub(crate) released: bool,
    /// Destroyed: unsent bytes are discarded, never sent.
    pub(crate) discard: bool,
    pub(crate) connect: ConnectState,
}

impl Conn {
    pub(crate) fn new(fd: RawSock, transport: Transport) -> Self {
        Conn {
            fd,
            transport,
            hangup: Hangup::Unwatched,
            rx: RxQueue::default(),
            rx_state: RxState::Idle,
            rx_multishot: false,
            rx_peak: 0,
            rx_streaming: false,
            pause_noted: false,
            rx_end: None,
            read_waker: None,
            tx: VecDeque::new(),
            tx_offset: 0,
            tx_bytes: 0,
            tx_in_flight: 0,
            send_slot: None,
            tx_dirty: false,
            tx_error: None,
            wr_state: WrState::Open,
            write_waker: None,
            flush_waker: None,
            sent_waker: None,
            sent_level: 0,
            released: false,
            discard: false,
            connect: ConnectState::Done,
        }
    }

    /// Whether a receive armed now may be a multishot one (see [`Hangup`]).
    pub(crate) fn multishot_recv(&self) -> bool {
        match self.transport {
            Transport::Tcp => true,
            Transport::Unix => self.hangup == Hangup::Watching,
        }
    }

    /// An op of this connection is still in flight.
    pub(crate) fn ops_in_flight(&self) -> bool {
        matches!(self.rx_state, RxState::Armed | RxState::Cancelling)
            || self.hangup == Hangup::Watching
            || self.tx_in_flight > 0
            || matches!(self.connect, ConnectState::InFlight { .. })
    }

    /// Everything queued has reached the kernel (or the send side failed).
    pub(crate) fn flushed(&self) -> bool {
        (self.tx.is_empty() && self.tx_in_flight == 0)
            || self.tx_error.is_some()
            || (self.discard && self.tx_in_flight == 0)
    }

    /// Released and quiet: the descriptor can be closed and the slot freed.
    pub(crate) fn can_close(&self) -> bool {
        self.released && !self.ops_in_flight() && self.flushed()
    }

    /// Whether a receive should be (re-)armed now: the queue is under its cap both in chunks
    /// and in bytes (`cap_bytes`; a queue compacted under pressure holds few chunks but many
    /// bytes, and must not grow past what `cap` ring buffers would hold).
    pub(crate) fn wants_recv(&self, cap: usize, cap_bytes: usize) -> bool {
        !self.released
            && self.rx_state == RxState::Idle
            && self.rx_end.is_none()
            && !self.rx.is_full(cap, cap_bytes)
    }

    pub(crate) fn wake_reader(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
    }

    pub(crate) fn wake_writers(&mut self, high_water: usize) {
        if self.tx_bytes < high_water || self.tx_error.is_some() {
            if let Some(w) = self.write_waker.take() {
                w.wake();
            }
        }
        if self.flushed() {
            if let Some(w) = self.flush_waker.take() {
                w.wake();
            }
        }
        if self.tx_bytes <= self.sent_level || self.tx_error.is_some() {
            if let Some(w) = self.sent_waker.take() {
                w.wake();
            }
        }
    }
}

/// Stores `waker` in `slot` unless it already holds one that wakes the same task.
pub(crate) fn set_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
