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
//!
//! Buffer ids: a core may register two rings (its pool, and larger buffers for streaming
//! connections), and a completion names only a buffer id, not its group. So each ring
//! publishes its pool's buffer `b` under id `first_bid + b`, the rings' ranges never overlap,
//! and [`BufRing::holds`] tells which ring a completion took from.
//!
//! Accounting: every buffer is in exactly one place — published in the ring (`in_ring`), in
//! the spare stack, or held by a chunk (or by the pool's returned list on its way back). A
//! buffer is never published twice, and a chunk is made only of a buffer taken from our head
//! of the ring, so nothing the kernel may still write into is ever handed out. A completion
//! that does not match the ring ([`OutOfStep`]) never becomes a chunk.

use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

use super::split::{self, OutOfStep};
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
    /// The id the pool's buffer 0 is published under.
    first_bid: u16,
    /// Returned buffers not in the ring, the most recently returned last.
    spare: Vec<u16>,
    demand: Demand,
    /// `head` at the last refill: what receives took since is the last park's demand.
    head_at_refill: u16,
    /// Per buffer id: published and not yet taken back from the head.
    in_ring: Vec<bool>,
    /// Buffers given up after the ring fell out of step with the kernel (never reused).
    lost: u32,
}

/// The buffers a completion consumed, from the head on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Consumed {
    /// How many: take them with [`BufRing::take_head`].
    pub(crate) buffers: usize,
    /// Descriptors before the reported buffer that were skipped to get back in step (and
    /// given up); 0 when the ring was in step.
    pub(crate) skipped: u16,
}

impl BufRing {
    /// Registers a ring with one entry per pool buffer under group id `bgid`, and fills it;
    /// the pool's buffer `b` is published as id `first_bid + b`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the ids would pass 65535; the registration's error.
    pub(crate) fn register(
        ring: &IoUring,
        pool: &BufPool,
        bgid: u16,
        first_bid: u16,
    ) -> io::Result<BufRing> {
        let entries = pool.count();
        if u32::from(first_bid) + u32::from(entries) > 1 << 16 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ids past 65535",
            ));
        }
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
            first_bid,
            // Popped from the end: buffer 0 goes out first.
            spare: (0..entries).rev().collect(),
            demand: Demand::new(u32::from(entries)),
            head_at_refill: 0,
            in_ring: vec![false; usize::from(entries)],
            lost: 0,
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

    /// Whether the buffer id a completion reports is one of this ring's.
    pub(crate) fn holds(&self, bid: u16) -> bool {
        bid.checked_sub(self.first_bid)
            .is_some_and(|b| b < self.entries)
    }

    /// Writes buffer `bid`'s descriptor at the local tail; visible to the kernel after
    /// [`publish`](Self::publish).
    fn push(&mut self, pool: &BufPool, bid: u16) {
        if std::mem::replace(&mut self.in_ring[usize::from(bid)], true) {
            tracing::error!(
                bid,
                "a buffer already in the ring came back; not publishing it twice"
            );
            return;
        }
        let idx = (self.tail & (self.entries - 1)) as usize;
        // SAFETY: idx < entries, so the descriptor lies inside the mapping; the kernel reads
        // descriptors only up to the published tail, and this one is past it.
        unsafe {
            let entry = &mut *self.mem.as_ptr().cast::<BufRingEntry>().add(idx);
            entry.set_addr(pool.buf_ptr(bid) as u64);
            entry.set_len(pool.size());
            entry.set_bid(self.first_bid + bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// The descriptor `offset` places after our head, as the kernel left it: `(bid, len)`.
    fn descriptor(&self, offset: u16) -> (u16, u32) {
        let idx = (self.head.wrapping_add(offset) & (self.entries - 1)) as usize;
        // SAFETY: idx < entries, so the descriptor lies inside the mapping. The kernel writes
        // a descriptor only while a receive selects it (a truncated length), before that
        // receive's completion; a volatile read takes it as it is.
        let entry = unsafe {
            std::ptr::read_volatile(
                self.mem
                    .as_ptr()
                    .cast::<BufRingEntry>()
                    .add(idx)
                    .cast_const(),
            )
        };
        (entry.bid(), entry.len())
    }

    /// The published descriptors from `offset` places after our head on, as `(bid, len)`.
    fn descriptors(&self, offset: u16) -> impl Iterator<Item = (u16, u32)> + '_ {
        (offset..self.published()).map(|i| self.descriptor(i))
    }

    /// Published descriptors the kernel has not taken (as far as our head knows).
    fn published(&self) -> u16 {
        self.tail.wrapping_sub(self.head)
    }

    /// How many buffers, from the head on, a receive completion of `res` bytes whose first
    /// buffer is `first` consumed ([`split`]): each holds up to its descriptor's own length.
    ///
    /// If the reported buffer sits further on in the ring, the descriptors before it are
    /// skipped and given up (the kernel consumed them; we never chunk or publish them again),
    /// and the completion is split from there.
    ///
    /// # Errors
    ///
    /// [`OutOfStep`] when `first` is not among the published descriptors, or they hold fewer
    /// bytes than `res`. Nothing is taken then: the caller must not make chunks.
    pub(crate) fn consume(&mut self, first: u16, res: usize) -> Result<Consumed, OutOfStep> {
        match split::split(first, res, self.descriptors(0)) {
            Ok(buffers) => Ok(Consumed {
                buffers,
                skipped: 0,
            }),
            Err(OutOfStep::Head { ours, reported }) => {
                let Some(skip) = (1..self.published()).find(|&i| self.descriptor(i).0 == first)
                else {
                    return Err(OutOfStep::Head { ours, reported });
                };
                let buffers = split::split(first, res, self.descriptors(skip))?;
                for _ in 0..skip {
                    self.take_head();
                    self.lost += 1;
                }
                Ok(Consumed {
                    buffers,
                    skipped: skip,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the descriptor at the head, which a completion consumed ([`consume`]): the
    /// buffer's id in the pool and the length the kernel filled it up to at most.
    ///
    /// [`consume`]: Self::consume
    pub(crate) fn take_head(&mut self) -> (u16, u32) {
        let (published_as, len) = self.descriptor(0);
        let bid = published_as.wrapping_sub(self.first_bid);
        self.in_ring[usize::from(bid)] = false;
        self.head = self.head.wrapping_add(1);
        (bid, len)
    }

    /// Buffers given up after the ring fell out of step with the kernel.
    pub(crate) fn lost(&self) -> u32 {
        self.lost
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
    use super::*;

    /// A registered ring over an 8-buffer pool: every buffer published, in id order.
    fn setup() -> (IoUring, std::rc::Rc<BufPool>, BufRing) {
        let ring = IoUring::new(8).expect("io_uring");
        let pool = BufPool::new(8, 64).unwrap();
        let buf_ring = BufRing::register(&ring, &pool, 0, 0).expect("PBUF_RING");
        (ring, pool, buf_ring)
    }

    /// Writes `len` into the descriptor `offset` places after the head, as a kernel that
    /// truncates a peeked buffer does.
    fn truncate(r: &BufRing, offset: u16, len: u32) {
        let idx = (r.head.wrapping_add(offset) & (r.entries - 1)) as usize;
        // SAFETY: idx < entries; no kernel op uses this ring in these tests.
        unsafe { (*r.mem.as_ptr().cast::<BufRingEntry>().add(idx)).set_len(len) };
    }

    #[test]
    fn a_bundle_is_split_by_each_descriptors_own_length() {
        let (ring, pool, mut r) = setup();
        // The head (buffer 0) was left truncated to 1 byte by an earlier peek.
        truncate(&r, 0, 1);
        let c = r.consume(0, 1 + 64 + 10).unwrap();
        assert_eq!(
            c,
            Consumed {
                buffers: 3,
                skipped: 0
            }
        );
        let taken: Vec<_> = (0..c.buffers).map(|_| r.take_head()).collect();
        assert_eq!(taken, [(0, 1), (1, 64), (2, 64)]);
        // Published again, a buffer gets its full length back.
        for (bid, _) in taken {
            // SAFETY: taken from the ring's head, so the kernel no longer owns it.
            drop(unsafe { pool.chunk(bid, 0) });
        }
        r.refill(&pool, true);
        assert_eq!(r.descriptors(0).last(), Some((0, 64)));
        r.unregister(&ring).unwrap();
    }

    #[test]
    fn a_head_out_of_step_skips_to_the_reported_buffer_and_gives_up_the_rest() {
        let (ring, pool, mut r) = setup();
        let c = r.consume(3, 10).unwrap();
        assert_eq!(
            c,
            Consumed {
                buffers: 1,
                skipped: 3
            }
        );
        assert_eq!(r.take_head(), (3, 64));
        assert_eq!(r.lost(), 3);
        // Buffers 0..3 are neither published nor handed out again.
        r.refill(&pool, true);
        assert!(
            r.descriptors(0).all(|(bid, _)| bid >= 4),
            "skipped buffers republished"
        );
        r.unregister(&ring).unwrap();
    }

    #[test]
    fn a_buffer_not_in_the_ring_is_never_taken() {
        let (ring, _pool, mut r) = setup();
        let before = r.published();
        let c0 = r.consume(0, 10).unwrap();
        assert_eq!(c0.buffers, 1);
        r.take_head();
        // The kernel names buffer 0 again: it is not in the ring (a chunk may hold it).
        assert!(matches!(r.consume(0, 10), Err(OutOfStep::Head { .. })));
        // More bytes than the published buffers hold.
        assert!(matches!(
            r.consume(1, 64 * 100),
            Err(OutOfStep::Short { .. })
        ));
        assert_eq!(r.published(), before - 1, "nothing taken on an error");
        r.unregister(&ring).unwrap();
    }

    #[test]
    fn a_second_ring_publishes_its_buffers_past_the_firsts() {
        let ring = IoUring::new(8).expect("io_uring");
        let (small, large) = (BufPool::new(8, 64).unwrap(), BufPool::new(4, 256).unwrap());
        let first = BufRing::register(&ring, &small, 0, 0).unwrap();
        let mut second = BufRing::register(&ring, &large, 1, 8).unwrap();
        assert!(
            second
                .descriptors(0)
                .all(|(bid, len)| (8..12).contains(&bid) && len == 256)
        );
        assert!((0..8).all(|b| first.holds(b) && !second.holds(b)));
        assert!((8..12).all(|b| second.holds(b) && !first.holds(b)));
        assert!(!second.holds(12));
        // A completion names the published id; the chunk is made of the pool's own buffer.
        assert_eq!(second.consume(8, 300).unwrap().buffers, 2);
        assert_eq!(
            [second.take_head(), second.take_head()],
            [(0, 256), (1, 256)]
        );
        // Ids past 65535 are refused.
        assert!(BufRing::register(&ring, &large, 2, u16::MAX - 2).is_err());
        first.unregister(&ring).unwrap();
        second.unregister(&ring).unwrap();
    }

    #[test]
    fn a_buffer_is_never_published_twice() {
        let (ring, pool, mut r) = setup();
        // A buffer still in the ring comes back from the pool (a bug elsewhere): ignored.
        // SAFETY: the chunk is empty and dropped at once: nothing reads the buffer.
        drop(unsafe { pool.chunk(5, 0) });
        r.refill(&pool, true);
        let fives = r.descriptors(0).filter(|&(bid, _)| bid == 5).count();
        assert_eq!(fives, 1);
        r.unregister(&ring).unwrap();
    }

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
