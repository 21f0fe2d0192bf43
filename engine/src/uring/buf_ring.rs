//! The provided-buffer ring (IORING_REGISTER_PBUF_RING, kernel 5.19): the kernel picks a
//! buffer from it for every receive completion, or several in ring order for a bundle.
//!
//! Memory: `entries` 16-byte descriptors in a page-aligned anonymous mapping, each pointing at
//! one buffer of the core's [`BufPool`]. The ring's 16-bit tail overlays the `resv` field of
//! entry 0 (so entry 0's `resv` is never written as data); we write descriptors at our local
//! tail and publish them with one Release store of the tail per loop turn.

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
        };
        for bid in 0..entries {
            this.push(pool, bid);
        }
        this.publish();
        Ok(this)
    }

    /// The buffer group id receives select from.
    pub(crate) fn bgid(&self) -> u16 {
        self.bgid
    }

    /// Writes buffer `bid`'s descriptor at the local tail; visible to the kernel after
    /// [`publish`](Self::publish).
    pub(crate) fn push(&mut self, pool: &BufPool, bid: u16) {
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
    pub(crate) fn publish(&self) {
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
