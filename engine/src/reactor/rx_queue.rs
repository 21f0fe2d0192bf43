//! A connection's receive queue: chunks the reader has not taken yet, and their byte count,
//! on which flow control decides.

use std::collections::VecDeque;

use crate::buf::Chunk;

/// Received chunks waiting for the reader.
///
/// The cap is decided on bytes as well as chunks: compaction (copying ring chunks onto the
/// heap while the pool is short of buffers) merges many chunks into few, and a queue that
/// counted only chunks would stop looking full and keep receiving without limit.
#[derive(Default)]
pub(crate) struct RxQueue {
    chunks: VecDeque<Chunk>,
    bytes: usize,
}

impl RxQueue {
    /// Queues a chunk at the back.
    pub(crate) fn push(&mut self, chunk: Chunk) {
        self.bytes += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Takes the chunk at the front.
    pub(crate) fn pop(&mut self) -> Option<Chunk> {
        let chunk = self.chunks.pop_front()?;
        self.bytes -= chunk.len();
        Some(chunk)
    }

    /// Drops everything queued.
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.bytes = 0;
    }

    /// Chunks queued.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.chunks.len()
    }

    /// Bytes queued.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the queue holds `cap` chunks or `cap_bytes` bytes: its receive should stop.
    pub(crate) fn is_full(&self, cap: usize, cap_bytes: usize) -> bool {
        self.chunks.len() >= cap || self.bytes >= cap_bytes
    }

    /// Whether the front chunk pins a buffer of a pool short of buffers.
    pub(crate) fn front_pins_scarce_buffer(&self) -> bool {
        self.chunks.front().is_some_and(Chunk::pins_scarce_buffer)
    }

    /// Whether any queued chunk pins a receive buffer.
    pub(crate) fn holds_ring_buffers(&self) -> bool {
        self.chunks.iter().any(Chunk::is_ring_buffer)
    }

    /// Copies every chunk that pins a receive buffer onto the heap, returning the buffers to
    /// the pool. Copies are appended to the heap chunk before them while it holds less than
    /// `max_chunk` bytes, so a queue compacted again and again copies each byte once
    /// (amortised), not once per compaction, and no chunk a reader takes is larger than
    /// `max_chunk` plus one buffer.
    pub(crate) fn compact(&mut self, max_chunk: usize) {
        let mut out: VecDeque<Chunk> = VecDeque::with_capacity(self.chunks.len());
        for chunk in self.chunks.drain(..) {
            if !chunk.is_ring_buffer() {
                out.push_back(chunk);
                continue;
            }
            let appended = out
                .back_mut()
                .is_some_and(|last| last.len() < max_chunk && last.try_append(&chunk));
            if !appended {
                out.push_back(Chunk::from_vec(chunk.to_vec()));
            }
        }
        self.chunks = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::BufPool;

    /// A pool chunk of `len` bytes of `fill` (the pool is not registered with any kernel).
    fn ring_chunk(pool: &std::rc::Rc<BufPool>, bid: u16, fill: u8, len: u32) -> Chunk {
        // SAFETY: nothing else uses buffer `bid`, and len <= the pool's buffer size.
        unsafe { std::ptr::write_bytes(pool.buf_ptr(bid), fill, len as usize) };
        // SAFETY: as above; each test wraps a buffer id once until it comes back.
        unsafe { pool.chunk(bid, len) }
    }

    #[test]
    fn counts_bytes_through_push_pop_and_clear() {
        let mut q = RxQueue::default();
        q.push(Chunk::from_vec(vec![1; 10]));
        q.push(Chunk::from_vec(vec![2; 5]));
        assert_eq!((q.len(), q.bytes()), (2, 15));
        assert_eq!(q.pop().map(|c| c.len()), Some(10));
        assert_eq!(q.bytes(), 5);
        q.clear();
        assert_eq!((q.len(), q.bytes()), (0, 0));
    }

    #[test]
    fn compaction_keeps_the_bytes_and_the_queue_stays_full_on_bytes() {
        // A reader that never reads, the pool under pressure: every time 16 chunks are
        // queued they are compacted. The chunk count drops, the byte count must not, so
        // the queue still counts as full and its receive stops.
        let pool = BufPool::new(32, 64).unwrap();
        let (cap, cap_bytes) = (16, 16 * 64);
        let mut q = RxQueue::default();
        let mut expect = Vec::new();
        for round in 0..3u8 {
            for i in 0..16u16 {
                let fill = round * 16 + i as u8;
                q.push(ring_chunk(&pool, i, fill, 64));
                expect.extend(std::iter::repeat_n(fill, 64));
            }
            assert!(q.is_full(cap, cap_bytes));
            q.compact(usize::MAX);
            assert!(!q.holds_ring_buffers());
            assert!(q.len() < cap, "compaction merges chunks ({})", q.len());
            assert!(q.is_full(cap, cap_bytes), "full on bytes after compaction");
            assert_eq!(q.bytes(), expect.len());
            assert_eq!(pool.alive(), 0, "ring buffers given back");
        }
        // One heap chunk, appended to in place: the bytes in order.
        assert_eq!(q.len(), 1);
        let got = q.pop().unwrap();
        assert_eq!(&got[..], &expect[..]);
    }

    #[test]
    fn compaction_leaves_heap_chunks_and_copies_ring_chunks() {
        let pool = BufPool::new(4, 8).unwrap();
        let mut q = RxQueue::default();
        let mut read = Chunk::from_vec(b"xxhead".to_vec());
        read.advance(2); // a view that does not end at its vec's end is never appended to
        read.truncate(3);
        q.push(read);
        q.push(ring_chunk(&pool, 0, b'a', 3));
        q.push(ring_chunk(&pool, 1, b'b', 2));
        q.compact(usize::MAX);
        assert_eq!(pool.alive(), 0);
        let all: Vec<u8> = std::iter::from_fn(|| q.pop())
            .flat_map(|c| c.to_vec())
            .collect();
        assert_eq!(all, b"heaaaabb");
    }

    #[test]
    fn compacted_chunks_stay_near_the_limit() {
        let pool = BufPool::new(16, 64).unwrap();
        let mut q = RxQueue::default();
        for bid in 0..16 {
            q.push(ring_chunk(&pool, bid, bid as u8, 64));
        }
        q.compact(200);
        // 64-byte pieces appended while a chunk is under 200 bytes: 256, 256, 256, 256.
        let sizes: Vec<usize> = std::iter::from_fn(|| q.pop()).map(|c| c.len()).collect();
        assert_eq!(sizes, [256; 4]);
    }
}
