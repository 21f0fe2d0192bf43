//! Command-line options of `corenet-bench`.

use std::time::Duration;

use clap::Parser;

/// Closed-loop load generator for TCP echo servers: every echoed byte is verified and every
/// message's round-trip latency goes into a histogram.
#[derive(Debug, Parser)]
#[command(name = "corenet-bench", version, about)]
pub struct Args {
    /// Server address, HOST:PORT.
    #[arg(long)]
    pub addr: String,

    /// Number of connections.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub conns: u32,

    /// Message size in bytes.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=(16 << 20)))]
    pub msg: u32,

    /// Messages kept in flight on each connection.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub pipeline: u32,

    /// Warm-up time in seconds (load runs, nothing is measured; echoes are still verified).
    #[arg(long, default_value = "1", value_parser = parse_secs)]
    pub warmup: Duration,

    /// Measured time in seconds.
    #[arg(long, default_value = "5", value_parser = parse_positive_secs)]
    pub duration: Duration,

    /// Timeout for each connection attempt, in seconds.
    #[arg(long, default_value = "3", value_parser = parse_positive_secs)]
    pub connect_timeout: Duration,

    /// Print exactly one JSON line on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Parses a non-negative, finite number of seconds (fractions allowed).
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

/// Like [`parse_secs`], but zero is refused.
fn parse_positive_secs(s: &str) -> Result<Duration, String> {
    let d = parse_secs(s)?;
    if d.is_zero() {
        return Err(format!("{s:?}: must be greater than zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_secs("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_secs("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("inf").is_err());
        assert!(parse_positive_secs("0").is_err());
    }
}
