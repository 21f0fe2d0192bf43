//! How many receive buffers one park may lend.
//!
//! A readiness driver reads into pool buffers itself, so a park that finds thousands of
//! sockets readable could lend every buffer at once. Then the sockets after them would end
//! their receives with ENOBUFS (a deregistration and a re-arm each), and the reactor, seeing
//! the pool nearly empty, would copy every chunk it hands over. Buffers lent in a park come
//! back once the reactor has handled that park's completions, so the better move is to stop
//! at the pool's reserve and let the remaining sockets read in the next park.
//!
//! A platform may go without it (`Platform::RECV_BUDGET`): Windows does, see
//! `windows/mod.rs` for the measurements under Wine.

/// The receive buffers one park may lend: down to the pool's reserve while there is more than
/// that, otherwise all that are free; a receive that finds the budget spent waits for the
/// next park rather than failing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecvBudget {
    /// Free buffers when the park began.
    at_start: usize,
    /// Free buffers the park leaves for the next one.
    floor: usize,
}

impl RecvBudget {
    /// No budget: receives read until the pool runs dry, then end with ENOBUFS.
    pub(crate) const UNLIMITED: RecvBudget = RecvBudget {
        at_start: 0,
        floor: 0,
    };

    /// The budget of a park that begins with `free` buffers free, out of a pool whose reserve
    /// (`BufPool::reserve`) is `reserve`.
    pub(crate) fn new(free: usize, reserve: usize) -> RecvBudget {
        RecvBudget {
            at_start: free,
            floor: if free > reserve { reserve } else { 0 },
        }
    }

    /// Whether a receive should stop here and try again next park, with `free` buffers left:
    /// this park has lent buffers (they come back before the next one) and is down to its
    /// floor. A park that began with none free never says wait: its receives end with ENOBUFS
    /// as before, and the reactor re-arms them when buffers return.
    pub(crate) fn spent(&self, free: usize) -> bool {
        free < self.at_start && free <= self.floor
    }

    /// How many of `free` buffers one receive may take at once before the budget is spent
    /// (0 when it is). Unix reads into several buffers at once; Windows one at a time.
    #[cfg(unix)]
    pub(crate) fn lendable(&self, free: usize) -> usize {
        if self.spent(free) {
            0
        } else {
            free - self.floor.min(free)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RecvBudget;

    #[test]
    fn stops_at_the_reserve_when_the_park_began_above_it() {
        let b = RecvBudget::new(2048, 512);
        assert!(!b.spent(2048));
        assert!(!b.spent(513));
        assert!(b.spent(512));
        assert!(b.spent(0));
    }

    #[test]
    #[cfg(unix)]
    fn lendable_counts_down_to_the_floor() {
        let b = RecvBudget::new(2048, 512);
        assert_eq!(b.lendable(2048), 1536);
        assert_eq!(b.lendable(513), 1);
        assert_eq!(b.lendable(512), 0);
        let inside = RecvBudget::new(100, 512);
        assert_eq!(inside.lendable(100), 100);
        assert_eq!(inside.lendable(1), 1);
        assert_eq!(RecvBudget::UNLIMITED.lendable(7), 7);
    }

    #[test]
    fn lends_the_rest_when_the_park_began_inside_the_reserve() {
        let b = RecvBudget::new(100, 512);
        assert!(!b.spent(100));
        assert!(!b.spent(1));
        assert!(b.spent(0));
    }

    #[test]
    fn no_budget_never_waits() {
        assert!(!RecvBudget::UNLIMITED.spent(0));
        assert!(!RecvBudget::UNLIMITED.spent(2048));
    }

    #[test]
    fn an_empty_pool_at_the_start_never_waits() {
        let b = RecvBudget::new(0, 512);
        assert!(!b.spent(0));
    }
}
