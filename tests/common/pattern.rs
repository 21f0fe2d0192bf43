//! Deterministic, seekable pseudo-random byte streams and a running checksum.
//!
//! The byte at stream offset `o` depends only on `(seed, o)`, so a reader can
//! regenerate exactly what the writer sent at any offset without buffering it.

use std::fmt::Write as _;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64 finalizer: a cheap, well-mixing bijection on `u64`.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of connection `index` of a run seeded with `run_seed`.
pub fn conn_seed(run_seed: u64, index: u64) -> u64 {
    mix64(run_seed ^ mix64(index.wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// The 8-byte word number `word` of the stream `seed`.
fn word(key: u64, word: u64) -> u64 {
    mix64(key.wrapping_add(word.wrapping_mul(GOLDEN)))
}

/// Fills `buf` with the bytes of stream `seed` starting at stream offset `offset`.
pub fn fill_pattern(seed: u64, offset: u64, buf: &mut [u8]) {
    let key = mix64(seed);
    let mut pos = offset;
    let mut rest: &mut [u8] = buf;
    // Unaligned head.
    while !rest.is_empty() && pos % 8 != 0 {
        rest[0] = word(key, pos / 8).to_le_bytes()[(pos % 8) as usize];
        rest = &mut rest[1..];
        pos += 1;
    }
    // Whole words.
    let mut chunks = rest.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&word(key, pos / 8).to_le_bytes());
        pos += 8;
    }
    // Tail (pos is word-aligned here).
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let bytes = word(key, pos / 8).to_le_bytes();
        let n = tail.len();
        tail.copy_from_slice(&bytes[..n]);
    }
}

/// Returns `len` bytes of stream `seed` starting at offset 0.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill_pattern(seed, 0, &mut v);
    v
}

/// Index of the first differing byte of two equally long slices, if any.
pub fn first_mismatch(a: &[u8], b: &[u8]) -> Option<usize> {
    if a == b {
        return None;
    }
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or(Some(a.len().min(b.len())))
}

/// Builds the error for received bytes that differ from the expected ones:
/// names the absolute stream offset and shows the bytes around it.
pub fn mismatch_error(
    what: &str,
    base: u64,
    expected: &[u8],
    got: &[u8],
    index: usize,
) -> std::io::Error {
    let lo = index.saturating_sub(4);
    let hi = (index + 5).min(expected.len()).min(got.len());
    let mut ctx = String::new();
    let _ = write!(ctx, "expected[{}..{}]=", base + lo as u64, base + hi as u64);
    for b in &expected[lo..hi] {
        let _ = write!(ctx, "{b:02x}");
    }
    ctx.push_str(" got=");
    for b in &got[lo..hi] {
        let _ = write!(ctx, "{b:02x}");
    }
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "{what}: data mismatch at offset {}: expected byte 0x{:02x}, got 0x{:02x} ({ctx})",
            base + index as u64,
            expected[index],
            got[index]
        ),
    )
}

/// Position-sensitive running checksum (Fletcher-style, two sums modulo a prime),
/// so lost, duplicated or reordered bytes change the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum {
    a: u64,
    b: u64,
    len: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Self::new()
    }
}

impl Checksum {
    const P: u64 = 4_294_967_291; // largest prime below 2^32
    const BLOCK: usize = 4096; // sums stay far below 2^64 within a block

    /// An empty checksum.
    pub fn new() -> Self {
        Checksum { a: 1, b: 0, len: 0 }
    }

    /// Feeds `data` (in stream order).
    pub fn update(&mut self, data: &[u8]) {
        for block in data.chunks(Self::BLOCK) {
            let (mut a, mut b) = (self.a, self.b);
            for &byte in block {
                a += byte as u64;
                b += a;
            }
            self.a = a % Self::P;
            self.b = b % Self::P;
        }
        self.len += data.len() as u64;
    }

    /// The checksum value of everything fed so far.
    pub fn value(&self) -> u64 {
        (self.b << 32) | self.a
    }

    /// Number of bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
