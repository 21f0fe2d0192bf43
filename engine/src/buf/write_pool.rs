//! Recycled vectors for the copies `write(&[u8])` makes, so steady-state writes don't allocate.

/// A per-core free list of send buffers.
#[derive(Debug)]
pub(crate) struct WritePool {
    free: Vec<Vec<u8>>,
    buf_capacity: usize,
    max_free: usize,
}

impl WritePool {
    /// Buffers of `buf_capacity` bytes, at most `max_free` kept for reuse.
    pub(crate) fn new(buf_capacity: usize, max_free: usize) -> Self {
        WritePool {
            free: Vec::with_capacity(max_free),
            buf_capacity,
            max_free,
        }
    }

    /// An empty buffer with room for at least `len` bytes.
    pub(crate) fn take(&mut self, len: usize) -> Vec<u8> {
        if len <= self.buf_capacity {
            if let Some(v) = self.free.pop() {
                return v;
            }
            return Vec::with_capacity(self.buf_capacity);
        }
        Vec::with_capacity(len)
    }

    /// Gives a buffer back; oversized or surplus buffers are freed.
    pub(crate) fn give(&mut self, mut v: Vec<u8>) {
        if v.capacity() == self.buf_capacity && self.free.len() < self.max_free {
            v.clear();
            self.free.push(v);
        }
    }

    /// Capacity of a pooled buffer.
    pub(crate) fn buf_capacity(&self) -> usize {
        self.buf_capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycles_standard_buffers_only() {
        let mut p = WritePool::new(1024, 2);
        let mut a = p.take(10);
        a.extend_from_slice(b"abc");
        let ptr = a.as_ptr();
        p.give(a);
        let b = p.take(100);
        assert_eq!(b.as_ptr(), ptr);
        assert!(b.is_empty());
        let big = p.take(5000);
        assert!(big.capacity() >= 5000);
        p.give(big);
        assert!(p.free.is_empty());
    }
}
