//! The load threads' reports merged into the run's figures: one histogram holding every
//! message's latency (HdrHistogram's `add`, so percentiles are over all messages, not an
//! average of per-thread percentiles), counts summed, and one measured window spanning every
//! thread's.

use std::time::Duration;

use crate::stats::Recorder;
use crate::worker::Report;

/// The whole run, as if one recorder had seen every message.
#[derive(Debug)]
pub struct Merged {
    /// Every thread's completions, errors and latencies.
    pub rec: Recorder,
    /// From the first thread's window start to the last one's end.
    pub wall: Duration,
    /// The threads' CPU time in their windows, summed.
    pub cpu: Duration,
    /// Some thread's window ended early.
    pub cut_short: bool,
}

/// Merges the threads' reports.
pub fn merge(reports: &[Report]) -> Result<Merged, String> {
    let mut rec = Recorder::new();
    let mut cpu = Duration::ZERO;
    let mut cut_short = false;
    let mut span = None;
    for r in reports {
        rec.merge(&r.rec)
            .map_err(|e| format!("merge thread {}'s histogram: {e:?}", r.index))?;
        cpu += r.window.cpu;
        cut_short |= r.window.cut_short;
        if let Some((a, b)) = r.window.measured {
            span = Some(match span {
                None => (a, b),
                Some((a0, b0)) => (a.min(a0), b.max(b0)),
            });
        }
    }
    Ok(Merged {
        rec,
        wall: span.map_or(Duration::ZERO, |(a, b)| b - a),
        cpu,
        cut_short: cut_short || span.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::driver::Window;
    use crate::stats::tests::done;

    /// A thread's report with the given latencies (µs), measured over `[from, to]` ms.
    fn report(index: u32, t0: Instant, us: &[u64], from: u64, to: u64) -> Report {
        let mut rec = Recorder::new();
        rec.start_measuring();
        for &u in us {
            rec.complete(&done(t0, u));
        }
        let ms = |m| t0 + Duration::from_millis(m);
        Report {
            index,
            cpu: None,
            conns: 1,
            rec,
            window: Window {
                measured: Some((ms(from), ms(to))),
                cpu: Duration::from_millis(to - from) / 2,
                cut_short: false,
            },
        }
    }

    #[test]
    fn merged_histogram_is_the_histogram_of_the_union() {
        let t0 = Instant::now();
        // Two threads with very different latencies: one fast and busy, one slow.
        let fast: Vec<u64> = (1..=900).collect();
        let slow: Vec<u64> = (1..=100).map(|i| 10_000 + 10 * i).collect();
        let m = merge(&[report(0, t0, &fast, 0, 1000), report(1, t0, &slow, 5, 1003)]).unwrap();

        let mut union = Recorder::new();
        union.start_measuring();
        for &u in fast.iter().chain(&slow) {
            union.complete(&done(t0, u));
        }
        let (h, u) = (m.rec.histogram(), union.histogram());
        assert_eq!(h.len(), 1000);
        assert_eq!(m.rec.messages(), 1000);
        assert_eq!(h, u, "bucket for bucket the same histogram");
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(h.value_at_quantile(q), u.value_at_quantile(q), "q {q}");
        }
        // The merged p50 is the fast thread's, the p99 the slow one's: neither thread's own
        // p99 (900 us and 10,990 us) nor their mean.
        assert!(h.equivalent(h.value_at_quantile(0.5), 500_000));
        assert!(h.equivalent(h.value_at_quantile(0.99), 10_900_000));
        assert!(h.equivalent(h.max(), 11_000_000));

        // One window from the first start to the last end; CPU summed.
        assert_eq!(m.wall, Duration::from_millis(1003));
        assert_eq!(m.cpu, Duration::from_millis(500 + 499));
        assert!(!m.cut_short);
        let s = m.rec.summary(m.wall, m.cpu);
        assert_eq!(s.messages, 1000);
        assert!((s.rps - 1000.0 / 1.003).abs() < 1e-6);
    }

    #[test]
    fn a_thread_that_never_measured_adds_nothing_but_cuts_the_run_short() {
        let t0 = Instant::now();
        let mut idle = report(1, t0, &[], 0, 0);
        idle.window = Window {
            measured: None,
            cpu: Duration::ZERO,
            cut_short: true,
        };
        let m = merge(&[report(0, t0, &[5, 6, 7], 10, 20), idle]).unwrap();
        assert_eq!((m.rec.messages(), m.wall), (3, Duration::from_millis(10)));
        assert!(m.cut_short);
        assert!(merge(&[]).unwrap().cut_short);
    }
}
