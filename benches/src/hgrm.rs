//! HdrHistogram's percentile-distribution text format (`.hgrm`), as written by the reference
//! implementation's `outputPercentileDistribution` and by wrk2, and read by HdrHistogram's
//! plotter: a header, one row per percentile step (5 ticks per half distance), and a footer
//! with mean, standard deviation, max, count and the histogram's bucket geometry.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// Percentile steps per halving of the distance to 100%, as the reference implementation.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Writes `hist` with every value divided by `scale` (1000.0 turns nanoseconds into
/// microseconds).
pub fn write(hist: &Histogram<u64>, scale: f64, out: &mut impl Write) -> io::Result<()> {
    let digits = usize::from(hist.sigfig());
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0u64;
    if !hist.is_empty() {
        for v in hist.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let value = v.value_iterated_to() as f64 / scale;
            let q = v.quantile_iterated_to();
            if q < 1.0 {
                writeln!(
                    out,
                    "{value:12.digits$} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(out, "{value:12.digits$} {q:2.12} {total:10}")?;
            }
        }
    }
    let (mean, stdev, max) = if hist.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            hist.mean() / scale,
            hist.stdev() / scale,
            hist.max() as f64 / scale,
        )
    };
    writeln!(
        out,
        "#[Mean    = {mean:12.digits$}, StdDeviation   = {stdev:12.digits$}]"
    )?;
    writeln!(
        out,
        "#[Max     = {max:12.digits$}, Total count    = {:12}]",
        hist.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_bucket_count(hist.sigfig())
    )
}

/// Sub-buckets per bucket for `sigfig` significant digits: the power of two at or above
/// 2·10^sigfig (2048 for 3 digits), as HdrHistogram lays out its counts.
fn sub_bucket_count(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(hist: &Histogram<u64>, scale: f64) -> String {
        let mut out = Vec::new();
        write(hist, scale, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn uniform_distribution_renders_in_the_reference_layout() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for us in 1..=10_000u64 {
            h.record(us * 1000).unwrap();
        }
        let text = render(&h, 1000.0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        // First row: the smallest value at percentile 0.
        assert_eq!(
            lines[2],
            "       1.000 0.000000000000          1           1.00"
        );
        // Rows: value, percentile, running count, 1/(1-p); percentiles rise, counts too.
        let rows: Vec<Vec<&str>> = lines[2..]
            .iter()
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect())
            .collect();
        let mut last = (0.0f64, 0u64);
        for r in &rows {
            let p: f64 = r[1].parse().unwrap();
            let n: u64 = r[2].parse().unwrap();
            assert!(p >= last.0 && n >= last.1, "{r:?}");
            last = (p, n);
            if p < 1.0 {
                assert_eq!(r.len(), 4, "{r:?}");
                let inv: f64 = r[3].parse().unwrap();
                assert!((inv - 1.0 / (1.0 - p)).abs() < 0.01, "{r:?}");
            }
        }
        // The median row sits near 5000 us; the last row is 100% with every value counted and
        // no 1/(1-p) column.
        let median = rows.iter().find(|r| r[1] == "0.500000000000").unwrap();
        let v: f64 = median[0].parse().unwrap();
        assert!((4990.0..=5010.0).contains(&v), "{median:?}");
        let end = rows.last().unwrap();
        assert_eq!(end[1], "1.000000000000");
        assert_eq!(end[2], "10000");
        assert_eq!(end.len(), 3);
        // 5 ticks per half distance: steps of 10% below 50%, 5% up to 75%, and so on.
        let below_half: Vec<&str> = rows.iter().map(|r| r[1]).filter(|p| *p < "0.5").collect();
        assert_eq!(below_half.len(), 5, "{below_half:?}");
        assert!(rows.iter().any(|r| r[1] == "0.550000000000"));
        assert!(rows.iter().any(|r| r[1] == "0.775000000000"));

        let footer: Vec<&str> = lines
            .iter()
            .filter(|l| l.starts_with("#["))
            .copied()
            .collect();
        assert_eq!(footer.len(), 3);
        assert!(
            footer[0].starts_with("#[Mean    =     5000."),
            "{}",
            footer[0]
        );
        assert!(footer[0].contains(", StdDeviation   = "));
        assert!(footer[1].starts_with("#[Max     =    10"), "{}", footer[1]);
        assert!(
            footer[1].ends_with(", Total count    =        10000]"),
            "{}",
            footer[1]
        );
        assert_eq!(
            footer[2],
            format!(
                "#[Buckets = {:12}, SubBuckets     =         2048]",
                h.buckets()
            )
        );
    }

    #[test]
    fn empty_histogram_has_header_and_footer_only() {
        let h = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        let text = render(&h, 1.0);
        assert_eq!(text.lines().filter(|l| l.starts_with("#[")).count(), 3);
        assert!(text.contains("Total count    =            0]"));
        assert_eq!(text.lines().count(), 5);
    }

    #[test]
    fn sub_buckets_match_hdrhistogram() {
        assert_eq!(sub_bucket_count(1), 32);
        assert_eq!(sub_bucket_count(2), 256);
        assert_eq!(sub_bucket_count(3), 2048);
        assert_eq!(sub_bucket_count(5), 262_144);
    }
}
