//! The per-core receive buffer pool: `count` buffers of `size` bytes in one mapping.
//!
//! The io_uring backend registers these buffers as a provided-buffer ring and the kernel picks
//! one per receive; the compat backend reads into them itself. Either way a received buffer is
//! handed out as a [`Chunk`] and comes back here when the chunk drops. Returned buffer ids wait
//! in `returned` until the backend recycles them at the end of the loop turn, so a turn that
//! frees many buffers publishes them with one store.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use super::Chunk;
use crate::mmap::Mmap;

/// Fixed-size receive buffers owned by one core.
pub struct BufPool {
    mem: Mmap,
    size: u32,
    count: u16,
    /// Buffer ids dropped since the backend last recycled.
    returned: RefCell<Vec<u16>>,
    /// Chunks alive: handed out by the backend and not yet dropped.
    alive: Cell<u32>,
    /// Past this many live chunks, hand-overs copy instead of pinning ring buffers.
    budget: u32,
    /// A driver reads into these buffers ([`claim`](Self::claim)).
    claimed: Cell<bool>,
}

impl BufPool {
    /// A pool of `count` buffers of `size` bytes each. `count` must be a power of two (the
    /// buffer ring's requirement) between 1 and 32768.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad count or size; the `mmap` error.
    pub fn new(count: u16, size: u32) -> io::Result<Rc<Self>> {
        if count == 0 || !count.is_power_of_two() || count > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer count must be a power of two between 1 and 32768",
            ));
        }
        if size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer size must be > 0",
            ));
        }
        let mem = Mmap::new(count as usize * size as usize)?;
        // Three quarters of the ring may be pinned by chunks; beyond that, hand-overs copy so
        // that receives elsewhere on the core keep finding buffers.
        let budget = (u32::from(count) * 3 / 4).max(1);
        Ok(Rc::new(BufPool {
            mem,
            size,
            count,
            returned: RefCell::new(Vec::with_capacity(count as usize)),
            alive: Cell::new(0),
            budget,
            claimed: Cell::new(false),
        }))
    }

    /// Claims the buffers for one driver, which then reads (or has the kernel read) into
    /// them and lends them out as chunks: two drivers over one pool would write into each
    /// other's lent buffers. A claim lasts as long as the pool.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if a driver has claimed the pool already.
    pub fn claim(&self) -> io::Result<()> {
        if self.claimed.replace(true) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a driver reads into this buffer pool already",
            ));
        }
        Ok(())
    }

    /// Number of buffers.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Size of each buffer in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Address of buffer `bid`.
    ///
    /// # Panics
    ///
    /// If `bid` is out of range.
    pub fn buf_ptr(&self, bid: u16) -> *mut u8 {
        assert!(bid < self.count, "buffer id out of range");
        // SAFETY: bid < count, so the offset stays inside the mapping of count * size bytes.
        unsafe { self.mem.as_ptr().add(bid as usize * self.size as usize) }
    }

    /// Wraps buffer `bid`, holding `len` received bytes, as a chunk that returns it on drop.
    ///
    /// # Safety
    ///
    /// The chunk reads buffer `bid` for as long as it lives, so the caller (a backend)
    /// guarantees that:
    ///
    /// - nothing writes into `bid` from now until it comes back through
    ///   [`drain_returned`](Self::drain_returned): the kernel has finished writing into it
    ///   and is not offered it again before then;
    /// - `bid` is not wrapped again until then (one chunk per buffer);
    /// - `len` is at most [`size`](Self::size) and its first `len` bytes are initialised
    ///   (the pool's memory starts zeroed, so this holds for any `len <= size`).
    ///
    /// # Panics
    ///
    /// If `bid` is out of range or `len` exceeds the buffer size.
    pub unsafe fn chunk(self: &Rc<Self>, bid: u16, len: u32) -> Chunk {
        assert!(bid < self.count, "buffer id out of range");
        assert!(len <= self.size, "chunk longer than its buffer");
        self.alive.set(self.alive.get() + 1);
        Chunk::from_pool(self.clone(), bid, len)
    }

    /// Called by a dropping chunk.
    pub(crate) fn release(&self, bid: u16) {
        self.alive.set(self.alive.get() - 1);
        self.returned.borrow_mut().push(bid);
    }

    /// Hands every returned buffer id to `f` and forgets them; returns how many there were.
    pub fn drain_returned(&self, mut f: impl FnMut(u16)) -> usize {
        let mut returned = self.returned.borrow_mut();
        let n = returned.len();
        for &bid in returned.iter() {
            f(bid);
        }
        returned.clear();
        n
    }

    /// Buffers no chunk holds: in the ring, or returned and about to go back to it.
    pub(crate) fn free(&self) -> u32 {
        u32::from(self.count).saturating_sub(self.alive.get())
    }

    /// Buffers a readiness driver should leave free when it can: once more than
    /// `count() - reserve()` chunks are alive the reactor copies hand-overs out of the pool, so
    /// one batch of receives that dips into the reserve costs a copy per message.
    pub fn reserve(&self) -> u16 {
        // `budget` is at most `count` (three quarters of it), so this fits a u16.
        (u32::from(self.count) - self.budget) as u16
    }

    /// Whether so many chunks are alive that new hand-overs should copy: more than three
    /// quarters of the buffers, or all of them (a pool of one buffer has a budget of one).
    pub(crate) fn under_pressure(&self) -> bool {
        let alive = self.alive.get();
        alive > self.budget || alive >= u32::from(self.count)
    }

    /// Chunks alive now.
    #[cfg(test)]
    pub(crate) fn alive(&self) -> u32 {
        self.alive.get()
    }
}

impl std::fmt::Debug for BufPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufPool")
            .field("size", &self.size)
            .field("count", &self.count)
            .field("alive", &self.alive.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_return_their_buffer_on_drop() {
        let pool = BufPool::new(4, 64).unwrap();
        // SAFETY: nothing else uses buffer 2; the pool is not registered with any ring.
        unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), pool.buf_ptr(2), 5) };
        // SAFETY: as above; buffer 2 is wrapped once.
        let chunk = unsafe { pool.chunk(2, 5) };
        assert_eq!(&chunk[..], b"hello");
        assert_eq!(pool.alive(), 1);
        drop(chunk);
        assert_eq!(pool.alive(), 0);
        let mut got = Vec::new();
        assert_eq!(pool.drain_returned(|b| got.push(b)), 1);
        assert_eq!(got, [2]);
    }

    #[test]
    fn one_driver_per_pool() {
        let pool = BufPool::new(4, 64).unwrap();
        pool.claim().unwrap();
        assert!(pool.claim().is_err());
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(BufPool::new(3, 64).is_err());
        assert!(BufPool::new(0, 64).is_err());
        assert!(BufPool::new(4, 0).is_err());
    }

    #[test]
    fn pressure_past_three_quarters() {
        let pool = BufPool::new(8, 16).unwrap();
        // SAFETY: no kernel writes into this pool; each buffer is wrapped once.
        let held: Vec<_> = (0..6).map(|b| unsafe { pool.chunk(b, 0) }).collect();
        assert!(!pool.under_pressure());
        // SAFETY: as above.
        let more = unsafe { pool.chunk(6, 0) };
        assert!(pool.under_pressure());
        drop((held, more));
        assert!(!pool.under_pressure());
    }

    #[test]
    fn a_pool_of_one_buffer_is_under_pressure_while_it_is_held() {
        let pool = BufPool::new(1, 16).unwrap();
        // SAFETY: no kernel writes into this pool; the buffer is wrapped once.
        let held = unsafe { pool.chunk(0, 0) };
        assert!(pool.under_pressure());
        drop(held);
        assert!(!pool.under_pressure());
    }
}
