//! The provided-buffer ring (IORING_REGISTER_PBUF_RING, kernel 5.19): the kernel picks a
//! buffer from it for every receive completion, or several in ring order for a bundle.
//!
//! Memory: `entries` 16-byte descriptors in a page-aligned anonymous mapping, each pointing at
//! one buffer of the core's [`BufPool`]. The ring's 16-bit tail overlays the `resv` field of
//! entry 0 (so entry 0's `resv` is never written as data); we write descriptors at our local
//! tail and publish them with one Release store of the tail per loop turn.
//!
//! Cache locality: the kernel takes buffers in ring order, so a ring holding every buffer
//! cycles the whole pool (8 MiB by default) through the cache even when a few dozen buffers
//! would serve the load. Returned buffers therefore wait in a LIFO spare stack, and each turn
//! publishes only enough of them, warmest first, to cover the recent demand ([`Demand`]). A
//! receive that finds the ring empty ends with ENOBUFS and is re-armed at the next flush, as
//! when the pool runs dry; the refill after it publishes more.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

use crate::buf::BufPool;
use crate::mmap::Mmap;

/// A registered buffer ring over a pool's buffers.
pub(crate) struct BufRing {
    mem: Mmap,
    entries: u16,
    tail: u16,
    /// Our copy of the kernel's head: the ring position of the next buffer a receive takes
    /// (receives take buffers strictly in ring order).
    head: u16,
    bgid: u16,
    /// Returned buffers not in the ring, the most recently returned last.
    spare: Vec<u16>,
    demand: Demand,
    /// `head` at the last refill: what receives took since is the last park's demand.
    head_at_refill: u16,
}

impl BufRing {
    /// Registers a ring with one entry per pool buffer under group id `bgid`, and fills it.
    pub(crate) fn register(ring: &IoUring, pool: &BufPool, bgid: u16) -> io::Result<BufRing> {
        let entries = pool.count();
        let mem = Mmap::new(entries as usize * std::mem::size_of::<BufRingEntry>())?;
        // SAFETY: `mem` is page-aligned, zeroed and large enough for `entries` descriptors,
        // and it outlives the registration: `unregister` runs before drop (see Drop below).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(mem.as_ptr() as u64, entries, bgid, 0)?;
        }
        let mut this = BufRing {
            mem,
            entries,
            tail: 0,
            head: 0,
            bgid,
            // Popped from the end: buffer 0 goes out first.
            spare: (0..entries).rev().collect(),
            demand: Demand::new(u32::from(entries)),
            head_at_refill: 0,
        };
        this.refill(pool, false);
        Ok(this)
    }

    /// Takes back the buffers returned since the last call and tops the ring up to what
    /// [`Demand`] asks for (`starving`: a receive ended with ENOBUFS and waits). Returns how
    /// many buffers came back.
    ///
    /// The head mirror is exact here: with DEFER_TASKRUN receives take buffers only inside
    /// `io_uring_enter`, and every completion has been reaped. Where it lags (COOP_TASKRUN
    /// kernels) the ring holds fewer than counted; a receive may starve, and the refill after
    /// that publishes more.
    pub(crate) fn refill(&mut self, pool: &BufPool, starving: bool) -> usize {
        let returned = pool.drain_returned(|bid| self.spare.push(bid));
        let taken = u32::from(self.head.wrapping_sub(self.head_at_refill));
        self.head_at_refill = self.head;
        let in_ring = u32::from(self.tail.wrapping_sub(self.head));
        let room = self.demand.room(taken, in_ring, starving);
        let mut pushed = false;
        for _ in 0..room {
            let Some(bid) = self.spare.pop() else {
                break;
            };
            self.push(pool, bid);
            pushed = true;
        }
        if pushed {
            self.publish();
        }
        returned
    }

    /// The buffer group id receives select from.
    pub(crate) fn bgid(&self) -> u16 {
        self.bgid
    }

    /// Writes buffer `bid`'s descriptor at the local tail; visible to the kernel after
    /// [`publish`](Self::publish).
    fn push(&mut self, pool: &BufPool, bid: u16) {
        let idx = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: idx < entries, so the descriptor lies inside the mapping; the kernel reads
        // descriptors only up to the published tail, and this one is past it.
        unsafe {
            let entry = &mut *self.mem.as_ptr().cast::<BufRingEntry>().add(idx);
            entry.set_addr(pool.buf_ptr(bid) as u64);
            entry.set_len(pool.size());
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// The id of the buffer the next receive takes, which that receive now owns: the ring's
    /// head moves past it. A bundle receive (IORING_RECVSEND_BUNDLE) reports only its first
    /// buffer; the others are the ones after it in ring order, read back from here.
    pub(crate) fn take_head(&mut self) -> u16 {
        let idx = (self.head & (self.entries - 1)) as usize;
        // SAFETY: idx < entries, so the descriptor lies inside the mapping. The kernel has
        // consumed it (a completion reported it) and we rewrite a slot only when our tail
        // comes round to it, which needs the buffer back first: the descriptor is unchanged.
        let bid = unsafe { (*self.mem.as_ptr().cast::<BufRingEntry>().add(idx)).bid() };
        self.head = self.head.wrapping_add(1);
        bid
    }

    /// Makes every pushed descriptor visible to the kernel (one Release store).
    fn publish(&self) {
        // SAFETY: the tail field lives inside the mapping (entry 0's resv) and is only ever
        // accessed atomically by us and the kernel.
        unsafe {
            let tail =
                BufRingEntry::tail(self.mem.as_ptr().cast::<BufRingEntry>()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Ends the registration; the kernel stops reading the descriptors.
    pub(crate) fn unregister(&self, ring: &IoUring) -> io::Result<()> {
        ring.submitter().unregister_buf_ring(self.bgid)
    }
}

/// How many buffers the ring should offer: the recent peak of buffers taken per park (decaying
/// by 1/64 a turn), half as much again, and a floor. It starts at the whole pool, and doubles
/// when a receive starves.
#[derive(Debug)]
struct Demand {
    peak: u32,
    entries: u32,
}

impl Demand {
    /// Buffers kept in the ring beyond the margin, and published at least while starving.
    const FLOOR: u32 = 16;

    fn new(entries: u32) -> Self {
        Demand {
            peak: entries,
            entries,
        }
    }

    /// How many buffers to publish now, given those `taken` in the last park and those
    /// `in_ring` (published, not taken). While `starving` at least [`Self::FLOOR`], so a
    /// waiting receive always finds buffers once any are free.
    fn room(&mut self, taken: u32, in_ring: u32, starving: bool) -> u32 {
        self.peak = if starving {
            (self.peak * 2).max(taken).min(self.entries)
        } else {
            taken.max(self.peak - self.peak.div_ceil(64))
        };
        let want = self.peak + self.peak / 2 + Self::FLOOR;
        let room = want.saturating_sub(in_ring);
        if starving {
            room.max(Self::FLOOR)
        } else {
            room
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Demand;

    #[test]
    fn demand_starts_with_the_whole_pool_and_settles_on_the_load() {
        let mut d = Demand::new(2048);
        assert!(d.room(0, 0, false) >= 2048);
        // 40 buffers a park, the ring topped up each turn: settles near 1.5 x 40 + 16.
        let mut in_ring = 2048;
        for _ in 0..2000 {
            in_ring -= 40;
            in_ring += d.room(40, in_ring, false);
        }
        assert!((76..=100).contains(&in_ring), "{in_ring}");
    }

    #[test]
    fn a_burst_raises_the_demand_at_once() {
        let mut d = Demand::new(2048);
        for _ in 0..2000 {
            d.room(10, 100, false);
        }
        assert!(d.room(500, 0, false) >= 750);
    }

    #[test]
    fn starving_always_publishes_and_grows() {
        let mut d = Demand::new(2048);
        for _ in 0..2000 {
            d.room(10, 1000, false);
        }
        // The count says the ring is full, but a receive starved: publish anyway.
        assert_eq!(d.room(0, 1000, true), Demand::FLOOR);
        let before = d.peak;
        d.room(0, 0, true);
        assert!(d.peak >= 2 * before.min(1024));
    }
}
