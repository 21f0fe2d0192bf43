//! Buffers: the per-core receive pool, the `Chunk` view handed to users, owned send buffers
//! and the pool that recycles copies made by `write(&[u8])`.

mod chunk;
mod owned;
mod pool;
mod write_pool;

pub use chunk::Chunk;
pub use owned::OwnedBuf;
pub(crate) use owned::TxBuf;
pub use pool::BufPool;
pub(crate) use write_pool::WritePool;
