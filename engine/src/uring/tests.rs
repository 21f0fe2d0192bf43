//! The backend contract's suite ([`crate::driver::contract`]) on the io_uring driver. Where
//! io_uring is missing or forbidden, each test says so and passes.

use std::io;
use std::rc::Rc;

use super::UringDriver;
use crate::buf::BufPool;

/// An io_uring driver of 64 SQEs over a new pool of `count` buffers of `size` bytes, with
/// no receive limit.
fn uring(count: u16, size: u32) -> io::Result<UringDriver> {
    let pool: Rc<BufPool> = BufPool::new(count, size)?;
    UringDriver::new(64, 0, pool)
}

crate::contract_tests!(uring);
