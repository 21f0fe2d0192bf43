//! Owned send buffers: what `write_owned` takes, and what the send queue holds.

use bytes::Bytes;

use super::Chunk;

/// Bytes whose ownership moves into the send queue: sent without a copy.
#[derive(Debug)]
pub enum OwnedBuf {
    /// A received chunk (an echo sends it straight back).
    Chunk(Chunk),
    /// A vector.
    Vec(Vec<u8>),
    /// A `bytes::Bytes`.
    Bytes(Bytes),
    /// Static bytes.
    Static(&'static [u8]),
}

impl OwnedBuf {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            OwnedBuf::Chunk(c) => c,
            OwnedBuf::Vec(v) => v,
            OwnedBuf::Bytes(b) => b,
            OwnedBuf::Static(s) => s,
        }
    }
}

impl From<Chunk> for OwnedBuf {
    fn from(c: Chunk) -> Self {
        OwnedBuf::Chunk(c)
    }
}

impl From<Vec<u8>> for OwnedBuf {
    fn from(v: Vec<u8>) -> Self {
        OwnedBuf::Vec(v)
    }
}

impl From<Bytes> for OwnedBuf {
    fn from(b: Bytes) -> Self {
        OwnedBuf::Bytes(b)
    }
}

impl From<&'static [u8]> for OwnedBuf {
    fn from(s: &'static [u8]) -> Self {
        OwnedBuf::Static(s)
    }
}

impl From<&'static str> for OwnedBuf {
    fn from(s: &'static str) -> Self {
        OwnedBuf::Static(s.as_bytes())
    }
}

/// One entry of a socket's send queue. Its bytes never move while queued: a send in flight
/// points at them.
#[derive(Debug)]
pub(crate) enum TxBuf {
    /// Moved in by `write_owned`.
    Owned(OwnedBuf),
    /// A write-pool buffer holding copies made by `write(&[u8])`; goes back to the pool.
    Pooled(Vec<u8>),
}

impl TxBuf {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            TxBuf::Owned(o) => o.as_slice(),
            TxBuf::Pooled(v) => v,
        }
    }
}
