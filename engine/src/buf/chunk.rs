//! `Chunk`: received bytes, handed over without a copy.

use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use super::BufPool;

/// A run of received bytes: a view of a receive buffer, returned to its pool on drop.
///
/// A chunk normally points straight into the buffer the kernel wrote (no copy). When a core's
/// receive buffers run short, reads hand out compacted chunks that own a heap copy instead, so
/// that a reader holding many chunks never starves the other connections.
///
/// Chunks are `!Send`: they belong to the core that received them. Hold one as long as you
/// like; the buffer stays valid even after its socket or runtime is gone.
///
/// # Examples
///
/// ```no_run
/// # async fn echo(socket: corenet_engine::Socket) -> std::io::Result<()> {
/// while let Some(chunk) = socket.read().await? {
///     println!("got {} bytes", chunk.len());
///     socket.write_owned(chunk).await?; // sends the same buffer back, no copy
/// }
/// # Ok(()) }
/// ```
pub struct Chunk {
    buf: Backing,
    start: usize,
    end: usize,
}

enum Backing {
    Pool { pool: Rc<BufPool>, bid: u16 },
    Heap(Vec<u8>),
}

impl Chunk {
    pub(crate) fn from_pool(pool: Rc<BufPool>, bid: u16, len: u32) -> Chunk {
        Chunk {
            buf: Backing::Pool { pool, bid },
            start: 0,
            end: len as usize,
        }
    }

    /// A chunk that owns `bytes` (used by compaction).
    pub(crate) fn from_vec(bytes: Vec<u8>) -> Chunk {
        let end = bytes.len();
        Chunk {
            buf: Backing::Heap(bytes),
            start: 0,
            end,
        }
    }

    /// Appends `bytes` to a heap chunk whose view ends at the end of its copy; false (and
    /// nothing changes) for a ring chunk or a view truncated short of its copy.
    pub(crate) fn try_append(&mut self, bytes: &[u8]) -> bool {
        match &mut self.buf {
            Backing::Heap(v) if self.end == v.len() => {
                v.extend_from_slice(bytes);
                self.end = v.len();
                true
            }
            _ => false,
        }
    }

    /// Drops the first `n` bytes from the view.
    ///
    /// # Panics
    ///
    /// If `n` is larger than [`len`](Deref::deref).
    pub fn advance(&mut self, n: usize) {
        assert!(
            n <= self.end - self.start,
            "advance past the end of a chunk"
        );
        self.start += n;
    }

    /// Shortens the view to its first `len` bytes; longer lengths do nothing.
    pub fn truncate(&mut self, len: usize) {
        if len < self.end - self.start {
            self.end = self.start + len;
        }
    }

    /// Whether this chunk pins a receive buffer (as opposed to owning a heap copy).
    pub fn is_ring_buffer(&self) -> bool {
        matches!(self.buf, Backing::Pool { .. })
    }

    /// Whether this chunk pins a buffer of a pool that is short of buffers: holding it
    /// starves receives, so the reactor copies it out instead (a core has one pool for every
    /// connection and, on io_uring, one for streaming ones: each is judged on its own).
    pub(crate) fn pins_scarce_buffer(&self) -> bool {
        match &self.buf {
            Backing::Pool { pool, .. } => pool.under_pressure(),
            Backing::Heap(_) => false,
        }
    }
}

impl Deref for Chunk {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.buf {
            Backing::Pool { pool, bid } => {
                // SAFETY: the backend built this chunk once the kernel had finished writing
                // `end` bytes into buffer `bid`, and the buffer is not recycled (so nothing
                // writes into it) until this chunk drops. `start..end` stays within them.
                unsafe {
                    std::slice::from_raw_parts(
                        pool.buf_ptr(*bid).add(self.start),
                        self.end - self.start,
                    )
                }
            }
            Backing::Heap(v) => &v[self.start..self.end],
        }
    }
}

/// A chunk that owns `bytes` (e.g. bytes to give back with
/// [`SocketStream::from_parts`](crate::SocketStream::from_parts)).
impl From<Vec<u8>> for Chunk {
    fn from(bytes: Vec<u8>) -> Chunk {
        Chunk::from_vec(bytes)
    }
}

impl AsRef<[u8]> for Chunk {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Backing::Pool { pool, bid } = &self.buf {
            pool.release(*bid);
        }
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk")
            .field("len", &self.len())
            .field("ring_buffer", &self.is_ring_buffer())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_and_truncate() {
        let mut c = Chunk::from_vec(b"hello world".to_vec());
        c.advance(6);
        assert_eq!(&c[..], b"world");
        c.truncate(3);
        assert_eq!(&c[..], b"wor");
        c.truncate(10);
        assert_eq!(&c[..], b"wor");
    }

    #[test]
    #[should_panic(expected = "advance past the end")]
    fn advance_past_end_panics() {
        Chunk::from_vec(vec![1, 2]).advance(3);
    }
}
