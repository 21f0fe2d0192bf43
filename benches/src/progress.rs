//! The live progress line on stderr: phase, time, recent req/s, p99 so far, errors and live
//! connections, summed over the load threads and redrawn in place once a second by the main
//! thread.
//!
//! Each load thread publishes its figures in its own [`Meter`]: counters after every pass of
//! its event loop (relaxed stores, no contention), and, while the line is shown, a copy of its
//! histogram four times a second. Anything else printed on stderr during the run goes through
//! [`note`], which erases the line first, whichever thread prints.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::stats::Recorder;

/// How often the line is redrawn.
const INTERVAL: Duration = Duration::from_secs(1);

/// How often a load thread copies its histogram while the line is shown: often enough that
/// the p99 on the line is at most this stale, whatever the threads' phase against the redraw.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(250);

/// Whether the progress line is on screen now. Only changed with stderr locked.
static SHOWN: AtomicBool = AtomicBool::new(false);

/// Prints one line on stderr, erasing the progress line first if it is shown.
pub fn note(what: fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    if SHOWN.swap(false, Relaxed) {
        let _ = write!(err, "\r\x1b[K");
    }
    // Diagnostics are a courtesy: a failed write to stderr changes nothing.
    let _ = writeln!(err, "{what}");
}

/// One load thread's figures so far, for the progress line. Aligned to its own cache lines,
/// so that threads updating neighbouring meters do not contend.
#[derive(Debug)]
#[repr(align(128))]
pub struct Meter {
    completed: AtomicU64,
    errors: AtomicU64,
    live: AtomicUsize,
    /// A recent copy of the thread's histogram (only kept while the line is shown).
    hist: Mutex<Option<Histogram<u64>>>,
}

impl Meter {
    /// A meter at zero, `live` connections up.
    pub fn new(live: usize) -> Self {
        Self {
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            live: AtomicUsize::new(live),
            hist: Mutex::new(None),
        }
    }

    /// Publishes the thread's counters.
    pub fn update(&self, rec: &Recorder, live: usize) {
        self.completed.store(rec.completed(), Relaxed);
        self.errors.store(rec.errors(), Relaxed);
        self.live.store(live, Relaxed);
    }

    /// Publishes a copy of the thread's histogram.
    pub fn snapshot(&self, rec: &Recorder) {
        let copy = rec.histogram().clone();
        *self.hist.lock().unwrap_or_else(|e| e.into_inner()) = Some(copy);
    }
}

/// The figures of every load thread, summed.
#[derive(Debug, Default)]
struct Totals {
    completed: u64,
    errors: u64,
    live: usize,
    /// The merged recent histograms.
    hist: Option<Histogram<u64>>,
}

impl Totals {
    fn of(meters: &[Meter]) -> Self {
        let mut t = Self::default();
        for m in meters {
            t.completed += m.completed.load(Relaxed);
            t.errors += m.errors.load(Relaxed);
            t.live += m.live.load(Relaxed);
            let snap = m.hist.lock().unwrap_or_else(|e| e.into_inner());
            match (&mut t.hist, snap.as_ref()) {
                (_, None) => {}
                (None, Some(h)) => t.hist = Some(h.clone()),
                // Every histogram has the same bounds, so adding cannot fail.
                (Some(total), Some(h)) => total.add(h).expect("same histogram bounds"),
            }
        }
        t
    }

    fn p99_us(&self) -> Option<f64> {
        self.hist
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(0.99) as f64 / 1000.0)
    }
}

/// A progress line, or nothing when disabled.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    start: Instant,
    measure_start: Instant,
    measure_end: Instant,
    next: Instant,
    last: Instant,
    last_completed: u64,
}

impl Progress {
    /// `auto` shows the line when stderr is a terminal; `always` and `never` do what they say.
    pub fn new(when: &str) -> Self {
        let enabled = match when {
            "always" => true,
            "never" => false,
            _ => std::io::stderr().is_terminal(),
        };
        let now = Instant::now();
        Self {
            enabled,
            start: now,
            measure_start: now,
            measure_end: now,
            next: now,
            last: now,
            last_completed: 0,
        }
    }

    /// Whether the line is drawn at all (the load threads then copy their histograms).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The run starts now: warm-up until `measure_start`, measuring until `measure_end`.
    pub fn start(&mut self, start: Instant, measure_start: Instant, measure_end: Instant) {
        self.start = start;
        self.measure_start = measure_start;
        self.measure_end = measure_end;
        self.last = start;
        self.next = start + INTERVAL;
    }

    /// When the line is next due (far away when disabled).
    pub fn next_tick(&self) -> Instant {
        if self.enabled {
            self.next
        } else {
            self.measure_end + Duration::from_secs(3600)
        }
    }

    /// Redraws the line from the threads' `meters` if it is due; `conns` is the number of
    /// connections of the run.
    pub fn tick(&mut self, now: Instant, meters: &[Meter], conns: usize) {
        if !self.enabled || now < self.next {
            return;
        }
        let t = Totals::of(meters);
        let secs = (now - self.last).as_secs_f64();
        let rps = if secs > 0.0 {
            t.completed.saturating_sub(self.last_completed) as f64 / secs
        } else {
            0.0
        };
        self.last = now;
        self.last_completed = t.completed;
        self.next = now + INTERVAL;
        let (phase, el, total) = if now < self.measure_start {
            ("warm-up", now - self.start, self.measure_start - self.start)
        } else {
            (
                "measuring",
                now.saturating_duration_since(self.measure_start),
                self.measure_end - self.measure_start,
            )
        };
        let p99 = t
            .p99_us()
            .map_or_else(|| "-".to_string(), |us| format!("{us:.1}"));
        let line = format!(
            "{phase} {:.0}/{:.0} s  {rps:.0} req/s  p99 {p99} us  errors {}  conns {}/{conns}",
            el.as_secs_f64(),
            total.as_secs_f64(),
            t.errors,
            t.live,
        );
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
        SHOWN.store(true, Relaxed);
    }

    /// Erases the line, so that the result can be printed.
    pub fn clear(&mut self) {
        let mut err = std::io::stderr().lock();
        if SHOWN.swap(false, Relaxed) {
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_the_threads_and_merge_their_histograms() {
        let meters = [Meter::new(3), Meter::new(2)];
        let mut a = Recorder::new();
        a.start_measuring();
        let mut b = Recorder::new();
        b.start_measuring();
        let t0 = Instant::now();
        for us in 1..=90u64 {
            a.complete(&crate::stats::tests::done(t0, us));
        }
        for us in 991..=1000u64 {
            b.complete(&crate::stats::tests::done(t0, us));
        }
        meters[0].update(&a, 3);
        meters[1].update(&b, 1);
        meters[0].snapshot(&a);
        meters[1].snapshot(&b);
        let t = Totals::of(&meters);
        assert_eq!((t.completed, t.errors, t.live), (100, 0, 4));
        // The 99th of the 100 latencies is b's 9th, 999 us, though a's own p99 is 90 us.
        let p99 = t.p99_us().unwrap();
        assert!((998.0..=1000.0).contains(&p99), "{p99}");
    }
}
