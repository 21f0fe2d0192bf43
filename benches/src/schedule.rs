//! Open-loop scheduling: when each message is due.
//!
//! Messages are numbered globally, n = 0, 1, 2, …; message n is due `n / rate` seconds after
//! the start and goes on connection `n % conns` as that connection's message number
//! `n / conns`. The whole stream is therefore evenly spaced at the total rate, and each
//! connection sees every `conns`-th message, staggered against the others. Integer nanosecond
//! arithmetic keeps the schedule free of drift however long the run.

use std::time::{Duration, Instant};

/// Nanoseconds in a second.
const NS: u128 = 1_000_000_000;

/// A fixed-rate schedule spread round-robin over `conns` connections.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    start: Instant,
    rate: u64,
    conns: u64,
}

impl Schedule {
    /// `rate` messages per second in total from `start`, over `conns` connections.
    pub fn new(start: Instant, rate: u64, conns: u32) -> Self {
        assert!(rate > 0 && conns > 0, "rate and conns must be positive");
        Self {
            start,
            rate,
            conns: u64::from(conns),
        }
    }

    /// Offset from the start at which global message `n` is due: ⌈n·10⁹ / rate⌉ ns.
    pub fn offset_of(&self, n: u64) -> Duration {
        let ns = (u128::from(n) * NS).div_ceil(u128::from(self.rate));
        duration_from_ns(ns)
    }

    /// When global message `n` is due.
    pub fn due_at(&self, n: u64) -> Instant {
        self.start + self.offset_of(n)
    }

    /// How many messages are due at `now` (so messages `0..due_by(now)` are): the n with
    /// ⌈n·10⁹ / rate⌉ ≤ elapsed ns, which is ⌊elapsed·rate / 10⁹⌋ + 1 of them.
    pub fn due_by(&self, now: Instant) -> u64 {
        let Some(elapsed) = now.checked_duration_since(self.start) else {
            return 0;
        };
        let n = elapsed.as_nanos() * u128::from(self.rate) / NS + 1;
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// Number of connections the schedule spreads over.
    pub fn conns(&self) -> u64 {
        self.conns
    }

    /// The connection global message `n` goes on.
    pub fn conn_of(&self, n: u64) -> u32 {
        (n % self.conns) as u32
    }

    /// Global number of message `k` of connection `conn`.
    pub fn global(&self, conn: u32, k: u64) -> u64 {
        k * self.conns + u64::from(conn)
    }

    /// When message `k` of connection `conn` is due.
    pub fn conn_due_at(&self, conn: u32, k: u64) -> Instant {
        self.due_at(self.global(conn, k))
    }

    /// How many of connection `conn`'s messages are among the first `due` global ones: the k
    /// with k·conns + conn < due.
    pub fn conn_due_count(&self, conn: u32, due: u64) -> u64 {
        let c = u64::from(conn);
        if due > c {
            (due - c - 1) / self.conns + 1
        } else {
            0
        }
    }
}

/// Which of the run's connections one load thread drives: of `count` threads, thread `index`
/// drives every connection whose number is `index` modulo `count`, and knows them by local
/// numbers 0, 1, 2, … in that order. With the global [`Schedule`] this splits the open-loop
/// rate over the threads without changing when any message is due: each thread sends exactly
/// the messages of its own connections (so about `rate × its connections / all connections`
/// per second), at the times the one-thread run would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// This thread's number.
    pub index: u32,
    /// Number of threads.
    pub count: u32,
}

impl Share {
    /// The whole run on one thread.
    #[cfg(test)]
    pub const ALL: Self = Self { index: 0, count: 1 };

    /// How many of `conns` connections this thread drives.
    pub fn len(&self, conns: u32) -> u32 {
        conns / self.count + u32::from(self.index < conns % self.count)
    }

    /// The global number of local connection `local`.
    pub fn global(&self, local: u32) -> u32 {
        local * self.count + self.index
    }

    /// The local number of global connection `conn`, if this thread drives it.
    pub fn local(&self, conn: u32) -> Option<u32> {
        (conn % self.count == self.index).then_some(conn / self.count)
    }
}

/// Saturating conversion of nanoseconds to a `Duration`.
fn duration_from_ns(ns: u128) -> Duration {
    let secs = u64::try_from(ns / NS).unwrap_or(u64::MAX);
    Duration::new(secs, (ns % NS) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_evenly_spaced_at_the_total_rate() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 4, 2);
        assert_eq!(s.offset_of(0), Duration::ZERO);
        assert_eq!(s.offset_of(1), Duration::from_millis(250));
        assert_eq!(s.offset_of(4), Duration::from_secs(1));
        // A rate that does not divide a second: offsets round up, without drift.
        let s = Schedule::new(t0, 3, 1);
        assert_eq!(s.offset_of(1), Duration::from_nanos(333_333_334));
        assert_eq!(s.offset_of(3), Duration::from_secs(1));
        assert_eq!(s.offset_of(3_000_000), Duration::from_secs(1_000_000));
    }

    #[test]
    fn due_by_counts_exactly_the_messages_whose_time_has_come() {
        let t0 = Instant::now();
        for (rate, conns) in [(1, 1), (3, 2), (1000, 50), (123_457, 7), (1_000_000_000, 1)] {
            let s = Schedule::new(t0, rate, conns);
            assert_eq!(s.due_by(t0), 1, "message 0 is due at the start");
            for n in [1u64, 2, 5, 17, 1000, 99_999] {
                let at = s.due_at(n);
                // At its own due time message n is due; a nanosecond earlier it is not.
                assert_eq!(s.due_by(at), n + 1, "rate {rate} n {n}");
                assert_eq!(
                    s.due_by(at - Duration::from_nanos(1)),
                    n,
                    "rate {rate} n {n}"
                );
            }
        }
        // Before the start nothing is due.
        let s = Schedule::new(t0 + Duration::from_secs(1), 10, 1);
        assert_eq!(s.due_by(t0), 0);
    }

    #[test]
    fn connections_take_turns() {
        let t0 = Instant::now();
        let s = Schedule::new(t0, 1000, 3);
        let conns: Vec<u32> = (0..7).map(|n| s.conn_of(n)).collect();
        assert_eq!(conns, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(s.global(1, 2), 7);
        assert_eq!(s.conn_of(7), 1);
        // Each connection's own messages are conns / rate apart, staggered by 1 / rate.
        assert_eq!(
            s.conn_due_at(0, 1) - s.conn_due_at(0, 0),
            Duration::from_millis(3)
        );
        assert_eq!(s.conn_due_at(2, 0) - t0, Duration::from_millis(2));
    }

    #[test]
    fn per_connection_due_counts_add_up() {
        let s = Schedule::new(Instant::now(), 1000, 3);
        for due in 0..20u64 {
            let counts: Vec<u64> = (0..3).map(|c| s.conn_due_count(c, due)).collect();
            assert_eq!(counts.iter().sum::<u64>(), due, "due {due}: {counts:?}");
            for c in 0..3u32 {
                // Exactly the messages below `due` that belong to c.
                let brute = (0..due).filter(|&n| s.conn_of(n) == c).count() as u64;
                assert_eq!(counts[c as usize], brute);
            }
        }
    }

    #[test]
    fn shares_cover_every_connection_once() {
        for (conns, count) in [(1, 1), (7, 1), (7, 2), (7, 3), (50, 4), (5, 5)] {
            let mut seen = vec![0; conns as usize];
            let mut total = 0;
            for index in 0..count {
                let sh = Share { index, count };
                total += sh.len(conns);
                for local in 0..sh.len(conns) {
                    let g = sh.global(local);
                    assert_eq!(sh.local(g), Some(local));
                    seen[g as usize] += 1;
                }
            }
            assert_eq!(total, conns);
            assert!(
                seen.iter().all(|&n| n == 1),
                "{conns} over {count}: {seen:?}"
            );
        }
        assert_eq!(Share { index: 1, count: 2 }.local(4), None);
    }
}
