//! Per-core counters, readable from any thread through `RuntimeHandle::stats`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters one core writes (single writer: plain load + store, no locked instruction) and
/// any thread may read.
#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub(crate) turns: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) ops: AtomicU64,
    pub(crate) completions: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) recv_starved: AtomicU64,
    pub(crate) recv_paused: AtomicU64,
    pub(crate) recv_streaming: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) sends: AtomicU64,
    pub(crate) efaults: AtomicU64,
    pub(crate) ring_wakes: AtomicU64,
    pub(crate) connections_opened: AtomicU64,
    pub(crate) connections_closed: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
}

/// Adds `n` to a counter owned by the current core.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self, core: usize) -> CoreStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CoreStats {
            core,
            turns: get(&self.turns),
            parks: get(&self.parks),
            ops: get(&self.ops),
            completions: get(&self.completions),
            accepted: get(&self.accepted),
            recv_starved: get(&self.recv_starved),
            recv_paused: get(&self.recv_paused),
            recv_streaming: get(&self.recv_streaming),
            compactions: get(&self.compactions),
            sends: get(&self.sends),
            efaults: get(&self.efaults),
            ring_wakes: get(&self.ring_wakes),
            connections_open: get(&self.connections_opened)
                .saturating_sub(get(&self.connections_closed)),
            connections_total: get(&self.connections_opened),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
        }
    }
}

/// A snapshot of one core's counters since the runtime started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoreStats {
    /// The core's index.
    pub core: usize,
    /// Loop turns.
    pub turns: u64,
    /// Calls into the driver to submit and wait: `io_uring_enter` calls on io_uring (one per
    /// park, more only when a turn queued more SQEs than the ring holds), `epoll_wait`/
    /// `kevent`/IOCP waits on the compat backend.
    pub parks: u64,
    /// Operations submitted (SQEs on io_uring).
    pub ops: u64,
    /// Completions handled (CQEs on io_uring).
    pub completions: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Receives that ended because they found no buffer (ENOBUFS), later re-armed: the pool
    /// ran dry, or (io_uring) the ring, which offers only the buffers recent load needs, ran
    /// short before the next refill. A few hundred a second under streaming load is normal.
    pub recv_starved: u64,
    /// Receives stopped because a connection's queue reached its cap (in chunks or bytes):
    /// cancelled, or ended by their byte limit and left unarmed until the reader catches up.
    /// Also counts multishot receives ended while the buffer pool is under pressure (they
    /// continue one buffer at a time).
    pub recv_paused: u64,
    /// Receives armed for a connection that streams (its last receive filled a pool buffer
    /// at once): on io_uring they take the larger stream buffers while those last
    /// ([`Builder::stream_buffers`](crate::Builder::stream_buffers)).
    pub recv_streaming: u64,
    /// Reads that handed over a compacted copy instead of ring buffers.
    pub compactions: u64,
    /// Send operations (one per socket per turn at most).
    pub sends: u64,
    /// Completions that failed with EFAULT: the kernel found memory gone that an op still
    /// pointed at. Always 0 unless there is a lifetime bug.
    pub efaults: u64,
    /// Sibling cores woken by this core with a MSG_RING (instead of an eventfd write).
    pub ring_wakes: u64,
    /// Connections on this core now (accepted or connected, descriptor not yet closed).
    pub connections_open: u64,
    /// Connections this core has had (accepted or connected) since it started.
    pub connections_total: u64,
    /// Bytes received on this core's connections.
    pub bytes_in: u64,
    /// Bytes the kernel took from this core's sends.
    pub bytes_out: u64,
}
