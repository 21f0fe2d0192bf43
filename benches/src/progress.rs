//! The live progress line on stderr: phase, time, recent req/s, p99 so far, errors and live
//! connections, redrawn in place once a second.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::stats::Recorder;

/// How often the line is redrawn.
const INTERVAL: Duration = Duration::from_secs(1);

/// A progress line, or nothing when disabled.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    /// Whether a line is on screen now.
    shown: bool,
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
            shown: false,
            start: now,
            measure_start: now,
            measure_end: now,
            next: now,
            last: now,
            last_completed: 0,
        }
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

    /// Redraws the line if it is due.
    pub fn tick(&mut self, now: Instant, rec: &Recorder, live: usize, conns: usize) {
        if !self.enabled || now < self.next {
            return;
        }
        let completed = rec.completed();
        let secs = (now - self.last).as_secs_f64();
        let rps = if secs > 0.0 {
            (completed - self.last_completed) as f64 / secs
        } else {
            0.0
        };
        self.last = now;
        self.last_completed = completed;
        self.next = now + INTERVAL;
        let (phase, t, total) = if now < self.measure_start {
            ("warm-up", now - self.start, self.measure_start - self.start)
        } else {
            (
                "measuring",
                now - self.measure_start,
                self.measure_end - self.measure_start,
            )
        };
        let p99 = rec
            .p99_us()
            .map_or_else(|| "-".to_string(), |us| format!("{us:.1}"));
        let line = format!(
            "{phase} {:.0}/{:.0} s  {rps:.0} req/s  p99 {p99} us  errors {}  conns {live}/{conns}",
            t.as_secs_f64(),
            total.as_secs_f64(),
            rec.errors(),
        );
        let mut err = std::io::stderr().lock();
        // The line is a courtesy: a failed write to the terminal changes nothing.
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
        self.shown = true;
    }

    /// Erases the line, so that a message or the result can be printed.
    pub fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}
