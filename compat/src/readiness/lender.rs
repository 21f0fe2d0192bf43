//! A pool's buffers as the readiness driver lends them to its reads: the pool, the ids of the
//! buffers not lent out, and what this park may still draw ([`RecvBudget`]).
//!
//! A core has one pool for every connection and, when configured
//! (`DriverConfig::stream_buffers`), one of fewer, larger buffers for connections that stream:
//! each has its own lender, judged on its own (its budget, its pressure).

use std::io;
use std::rc::Rc;

use corenet_engine::driver::BufPool;

use super::budget::RecvBudget;

/// One pool's buffers on the driver's side.
#[derive(Debug)]
pub(crate) struct Lender {
    pool: Rc<BufPool>,
    /// Ids of the buffers not lent out as chunks (used last-in first-out: warm caches).
    free: Vec<u16>,
    /// How far the current park may draw on the pool.
    budget: RecvBudget,
}

impl Lender {
    /// The lender of `pool`'s buffers, every one free.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if another driver has claimed `pool` (`BufPool::claim`): the driver
    /// reads into the pool's buffers, so no other driver may.
    pub(crate) fn new(pool: Rc<BufPool>) -> io::Result<Lender> {
        pool.claim()?;
        Ok(Lender {
            // Reversed so that buffer 0 goes out first.
            free: (0..pool.count()).rev().collect(),
            pool,
            budget: RecvBudget::UNLIMITED,
        })
    }

    /// The pool lent from.
    pub(crate) fn pool(&self) -> &Rc<BufPool> {
        &self.pool
    }

    /// Takes back the buffers returned by dropped chunks; returns how many.
    pub(crate) fn recycle(&mut self) -> usize {
        let free = &mut self.free;
        self.pool.drain_returned(|bid| free.push(bid))
    }

    /// Sets the budget of a park that begins now: down to the pool's reserve (`budget.rs`),
    /// or, with `budgeted` false, every free buffer.
    pub(crate) fn begin_park(&mut self, budgeted: bool) {
        self.budget = if budgeted {
            RecvBudget::new(self.free.len(), usize::from(self.pool.reserve()))
        } else {
            RecvBudget::UNLIMITED
        };
    }

    /// Free buffers.
    pub(crate) fn free(&self) -> usize {
        self.free.len()
    }

    /// Whether this park's budget is spent: a receive should try again next park.
    pub(crate) fn spent(&self) -> bool {
        self.budget.spent(self.free.len())
    }

    /// How many buffers one read may take now (0 when the budget is spent).
    #[cfg(unix)]
    pub(crate) fn lendable(&self) -> usize {
        self.budget.lendable(self.free.len())
    }

    /// Whether a read may take a buffer here rather than fall back to another pool: more are
    /// free than the pool's reserve, so the reactor, which copies what it hands over once
    /// the reserve is in use, keeps the chunks as they are.
    #[cfg(unix)]
    pub(crate) fn usable(&self) -> bool {
        self.free.len() > usize::from(self.pool.reserve())
    }

    /// Takes a free buffer off the list.
    pub(crate) fn take(&mut self) -> Option<u16> {
        self.free.pop()
    }

    /// Returns buffers a read did not fill, the first taken on top again.
    pub(crate) fn give_back(&mut self, bids: &[u16]) {
        self.free.extend(bids.iter().rev());
    }
}
