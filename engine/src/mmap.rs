//! Page-aligned, zeroed buffer memory that a kernel may read and write (an anonymous mapping
//! on Unix; the heap on Windows, where only the compat driver writes into it).

use std::io;
use std::ptr::NonNull;

use crate::sys;

/// `len` zeroed, page-aligned bytes, released on drop.
///
/// The kernel may write into this memory (provided buffers) only while it is registered with a
/// ring; the owners make sure every such registration ends before the mapping drops.
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mmap {
    /// Maps `len` bytes (rounded up to whole pages by the kernel).
    pub(crate) fn new(len: usize) -> io::Result<Self> {
        let len = len.max(1);
        Ok(Mmap {
            ptr: sys::map(len)?,
            len,
        })
    }

    /// Start of the mapping.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: ptr/len describe memory from `sys::map` not released since; owners end
        // every kernel registration that points into it before dropping it.
        unsafe { sys::unmap(self.ptr, self.len) }
    }
}
