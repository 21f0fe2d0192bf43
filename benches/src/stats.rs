//! Latency histogram, error counting and the final report (table or JSON line).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::errors::AdditionError;

use crate::conn::Completion;
use crate::progress::note;

/// How many errors are printed in full, over all load threads; the rest are only counted.
const MAX_PRINTED_ERRORS: u64 = 10;

/// Errors seen so far by every recorder of the process, for [`MAX_PRINTED_ERRORS`].
static ERRORS_SEEN: AtomicU64 = AtomicU64::new(0);

/// Highest latency the histogram tracks exactly, in nanoseconds (larger values saturate).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// Collects completions and errors during a run (one per load thread, merged at the end).
#[derive(Debug)]
pub struct Recorder {
    hist: Histogram<u64>,
    measuring: bool,
    messages: u64,
    errors: u64,
    /// Verified completions, warm-up included (for the progress line).
    completed: u64,
}

impl Recorder {
    /// An empty recorder, in warm-up (completions are verified but not recorded).
    pub fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
                .expect("static histogram bounds are valid"),
            measuring: false,
            messages: 0,
            errors: 0,
            completed: 0,
        }
    }

    /// Ends the warm-up: completions from now on are counted and their latencies recorded.
    pub fn start_measuring(&mut self) {
        self.measuring = true;
    }

    /// Records one completed message: an error if its echo was wrong, otherwise (while
    /// measuring) its round-trip latency.
    pub fn complete(&mut self, c: &Completion) {
        self.completed += 1;
        if let Some(m) = c.mismatch {
            self.error(format_args!(
                "conn {} msg {}: byte {} expected {:#04x} got {:#04x}",
                c.conn, c.seq, m.offset, m.expected, m.got
            ));
        } else if self.measuring {
            let ns = c.done.saturating_duration_since(c.sent).as_nanos();
            self.hist
                .saturating_record(u64::try_from(ns).unwrap_or(u64::MAX).max(1));
            self.messages += 1;
        }
    }

    /// Counts an error (warm-up included) and prints the first few of the process on stderr.
    pub fn error(&mut self, what: fmt::Arguments<'_>) {
        self.errors += 1;
        let seen = ERRORS_SEEN.fetch_add(1, Relaxed) + 1;
        if seen <= MAX_PRINTED_ERRORS {
            note(format_args!("corenet-bench: error: {what}"));
        } else if seen == MAX_PRINTED_ERRORS + 1 {
            note(format_args!(
                "corenet-bench: further errors are counted but not printed"
            ));
        }
    }

    /// Adds `other`'s counts and latencies to this recorder's, as if it had recorded them
    /// itself: the histogram afterwards holds every latency of both.
    pub fn merge(&mut self, other: &Recorder) -> Result<(), AdditionError> {
        self.hist.add(&other.hist)?;
        self.messages += other.messages;
        self.errors += other.errors;
        self.completed += other.completed;
        Ok(())
    }

    /// Messages completed in the measured window.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Completions so far, warm-up included.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Errors so far.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The latency histogram of the measured window, in nanoseconds.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// The figures of the measured window, which lasted `wall` and used `cpu` of the load
    /// threads' CPU time (summed over the threads).
    pub fn summary(&self, wall: Duration, cpu: Duration) -> Summary {
        let secs = wall.as_secs_f64();
        let us = |q: f64| self.hist.value_at_quantile(q) as f64 / 1000.0;
        let (rps, client_cpu) = if secs > 0.0 {
            (
                self.messages as f64 / secs,
                cpu.as_secs_f64() / secs * 100.0,
            )
        } else {
            (0.0, 0.0)
        };
        Summary {
            rps,
            p50_us: us(0.50),
            p90_us: us(0.90),
            p99_us: us(0.99),
            p999_us: us(0.999),
            p9999_us: us(0.9999),
            max_us: self.hist.max() as f64 / 1000.0,
            errors: self.errors,
            client_cpu,
            messages: self.messages,
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Completed messages per second in the measured window.
    pub rps: f64,
    /// Median round-trip latency, microseconds.
    pub p50_us: f64,
    /// 90th percentile, microseconds.
    pub p90_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// 99.9th percentile, microseconds.
    pub p999_us: f64,
    /// 99.99th percentile, microseconds.
    pub p9999_us: f64,
    /// Largest latency, microseconds.
    pub max_us: f64,
    /// Errors over the whole run (warm-up included).
    pub errors: u64,
    /// The load threads' CPU time in the measured window over its wall time, percent of one
    /// core (so up to 100 × threads).
    pub client_cpu: f64,
    /// Messages completed in the measured window.
    pub messages: u64,
}

impl Summary {
    /// The single JSON line printed by `--json`.
    pub fn to_json(self) -> String {
        let r1 = |x: f64| (x * 10.0).round() / 10.0;
        serde_json::json!({
            "rps": r1(self.rps),
            "p50_us": r1(self.p50_us),
            "p90_us": r1(self.p90_us),
            "p99_us": r1(self.p99_us),
            "p999_us": r1(self.p999_us),
            "p9999_us": r1(self.p9999_us),
            "max_us": r1(self.max_us),
            "errors": self.errors,
            "client_cpu": r1(self.client_cpu),
            "messages": self.messages,
        })
        .to_string()
    }
}

impl fmt::Display for Summary {
    /// A two-line table: header and figures.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7} {:>10} {:>12}",
            "req/s",
            "p50 us",
            "p90 us",
            "p99 us",
            "p99.9 us",
            "p99.99 us",
            "max us",
            "errors",
            "client cpu",
            "messages"
        )?;
        write!(
            f,
            "{:>12.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>7} {:>9.1}% {:>12}",
            self.rps,
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.p999_us,
            self.p9999_us,
            self.max_us,
            self.errors,
            self.client_cpu,
            self.messages
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Instant;

    use super::*;
    use crate::conn::Mismatch;

    fn done_after(us: u64, mismatch: Option<Mismatch>) -> Completion {
        let sent = Instant::now();
        Completion {
            conn: 0,
            seq: 0,
            sent,
            done: sent + Duration::from_micros(us),
            mismatch,
        }
    }

    /// A correct completion sent at `t0` that took `us` microseconds.
    pub(crate) fn done(t0: Instant, us: u64) -> Completion {
        Completion {
            conn: 0,
            seq: 0,
            sent: t0,
            done: t0 + Duration::from_micros(us),
            mismatch: None,
        }
    }

    #[test]
    fn warmup_is_not_recorded_but_errors_are() {
        let mut r = Recorder::new();
        r.complete(&done_after(5, None));
        let bad = Mismatch {
            offset: 1,
            expected: 2,
            got: 3,
        };
        r.complete(&done_after(5, Some(bad)));
        r.start_measuring();
        for us in 1..=100 {
            r.complete(&done_after(us, None));
        }
        let s = r.summary(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(s.messages, 100);
        assert_eq!(s.errors, 1);
        assert_eq!(s.rps, 50.0);
        assert_eq!(s.client_cpu, 50.0);
        assert!((49.0..=51.0).contains(&s.p50_us), "{}", s.p50_us);
        assert!((99.0..=101.0).contains(&s.max_us), "{}", s.max_us);
    }

    #[test]
    fn json_has_the_documented_keys_in_order() {
        let s = Recorder::new().summary(Duration::from_secs(1), Duration::ZERO);
        let line = s.to_json();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "rps",
                "p50_us",
                "p90_us",
                "p99_us",
                "p999_us",
                "p9999_us",
                "max_us",
                "errors",
                "client_cpu",
                "messages"
            ]
        );
    }
}
