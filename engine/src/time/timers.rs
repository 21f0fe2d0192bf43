//! A core's timers: a slab of entries plus a min-heap of deadlines with lazy deletion.
//!
//! Insert and cancel are O(log n) and O(1); cancelled entries stay in the heap as stale keys
//! until they reach the top (or the heap is rebuilt when stale keys outnumber live ones), so
//! 100k connections with idle deadlines cost a few MB and no allocation per reset once the
//! heap and slab have grown. Idle timers that are pushed back on every message should not
//! re-insert at all: keep the deadline beside the timer and re-arm lazily when it fires.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::Instant;

use slab::Slab;

/// Identifies a timer: slab key plus a generation that tells a reused key apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerId {
    key: usize,
    generation: u64,
}

struct Entry {
    generation: u64,
    waker: Option<Waker>,
    fired: bool,
}

/// One core's timers.
#[derive(Default)]
pub(crate) struct Timers {
    entries: Slab<Entry>,
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    next_generation: u64,
}

impl Timers {
    /// Adds a timer for `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant) -> TimerId {
        self.next_generation += 1;
        let generation = self.next_generation;
        let key = self.entries.insert(Entry {
            generation,
            waker: None,
            fired: false,
        });
        self.heap.push(Reverse((deadline, key, generation)));
        TimerId { key, generation }
    }

    fn entry(&mut self, id: TimerId) -> Option<&mut Entry> {
        self.entries
            .get_mut(id.key)
            .filter(|e| e.generation == id.generation)
    }

    /// Whether the timer has fired; otherwise remembers `waker` to wake when it does.
    pub(crate) fn poll(&mut self, id: TimerId, waker: &Waker) -> bool {
        match self.entry(id) {
            Some(e) if e.fired => true,
            Some(e) => {
                match &e.waker {
                    Some(w) if w.will_wake(waker) => {}
                    _ => e.waker = Some(waker.clone()),
                }
                false
            }
            None => true,
        }
    }

    /// Removes a timer (fired or not).
    pub(crate) fn remove(&mut self, id: TimerId) {
        if self.entry(id).is_some() {
            self.entries.remove(id.key);
            // Rebuild when stale heap keys dominate, so cancel-heavy use stays bounded.
            if self.heap.len() > 64 && self.heap.len() > 4 * self.entries.len() {
                let entries = &self.entries;
                self.heap.retain(|Reverse((_, key, generation))| {
                    entries
                        .get(*key)
                        .is_some_and(|e| e.generation == *generation && !e.fired)
                });
            }
        }
    }

    /// The earliest pending deadline, dropping stale heap keys on the way.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, key, generation))) = self.heap.peek().copied() {
            match self.entries.get(key) {
                Some(e) if e.generation == generation && !e.fired => return Some(deadline),
                _ => {
                    self.heap.pop();
                }
            }
        }
        None
    }

    /// Whether no deadline is queued (then nothing can be due: a turn skips reading the
    /// clock).
    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Fires every timer due at `now`; returns how many fired.
    pub(crate) fn fire_due(&mut self, now: Instant) -> usize {
        let mut fired = 0;
        while let Some(Reverse((deadline, key, generation))) = self.heap.peek().copied() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if let Some(e) = self
                .entries
                .get_mut(key)
                .filter(|e| e.generation == generation)
            {
                e.fired = true;
                fired += 1;
                if let Some(w) = e.waker.take() {
                    w.wake();
                }
            }
        }
        fired
    }

    /// Timers not yet removed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn fires_in_deadline_order_and_skips_removed() {
        let now = Instant::now();
        let mut t = Timers::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let late = t.insert(now + Duration::from_millis(30));
        let early = t.insert(now + Duration::from_millis(10));
        let cancelled = t.insert(now + Duration::from_millis(5));
        for id in [late, early, cancelled] {
            assert!(!t.poll(id, &waker));
        }
        t.remove(cancelled);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(10)));
        assert_eq!(t.fire_due(now + Duration::from_millis(20)), 1);
        assert!(t.poll(early, &waker));
        assert!(!t.poll(late, &waker));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(t.fire_due(now + Duration::from_millis(40)), 1);
        assert!(t.poll(late, &waker));
        t.remove(early);
        t.remove(late);
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn reused_keys_are_told_apart() {
        let now = Instant::now();
        let mut t = Timers::default();
        let a = t.insert(now);
        t.remove(a);
        let b = t.insert(now + Duration::from_secs(60));
        assert_eq!(a.key, b.key);
        assert_eq!(t.fire_due(now), 0, "a's stale heap key must not fire b");
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        assert!(!t.poll(b, &waker));
        assert!(t.poll(a, &waker), "a removed timer reads as done");
    }

    #[test]
    fn cancel_heavy_use_keeps_the_heap_bounded() {
        let now = Instant::now();
        let mut t = Timers::default();
        for i in 0..10_000 {
            let id = t.insert(now + Duration::from_secs(1 + i));
            t.remove(id);
        }
        assert!(
            t.heap.len() <= 64 * 4 + 1,
            "heap holds {} stale keys",
            t.heap.len()
        );
    }
}
