//! Command-line options of `corenet-bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Parser, Subcommand};

/// Load generator for TCP and Unix-socket echo servers: every echoed byte is verified and
/// every message's round-trip latency goes into an HdrHistogram.
///
/// Closed loop (default): each connection keeps `--pipeline` messages in flight and sends a new
/// one as soon as one comes back. Open loop (`--rate R`): messages are sent on a fixed schedule
/// of R per second in total, spread evenly over the connections, and each latency is measured
/// from the message's scheduled send time, so a stalled server cannot hide its stalls
/// (coordinated-omission correction, as wrk2 does).
///
/// `--threads N` spreads the connections over N event-loop threads (optionally pinned with
/// `--pin`); each records its own histogram and they are merged at the end, so the percentiles
/// are over every message of the run. The open-loop rate is the total over all threads.
#[derive(Debug, Parser)]
#[command(
    name = "corenet-bench",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    group(ArgGroup::new("target").required(true).args(["addr", "unix"]))
)]
pub struct Cli {
    /// Something other than a load run.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The load run.
    #[command(flatten)]
    pub run: Args,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Turns a results.json written by scripts/bench.sh into report.md and SVG charts (and adds
    /// per-cell medians and spreads to the JSON).
    Report(ReportArgs),
}

/// Options of `corenet-bench report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The results file (scripts/bench.sh writes target/bench/results.json).
    pub results: PathBuf,

    /// Where report.md and the charts go (default: the results file's folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Options of a load run.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server address, HOST:PORT.
    #[arg(long)]
    pub addr: Option<String>,

    /// Server Unix-socket path (instead of --addr).
    #[arg(long)]
    pub unix: Option<PathBuf>,

    /// Number of connections.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub conns: u32,

    /// Message size in bytes.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=(16 << 20)))]
    pub msg: u32,

    /// Messages kept in flight on each connection (closed loop), or the most that may be in
    /// flight on each connection (open loop: a message due while its connection is at this
    /// limit is sent late, and its lateness counts in its latency).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65_535))]
    pub pipeline: u32,

    /// Open loop: send this many messages per second in total, on a fixed schedule.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub rate: Option<u64>,

    /// Warm-up time in seconds (load runs, nothing is measured; echoes are still verified).
    #[arg(long, default_value = "1", value_parser = parse_secs)]
    pub warmup: Duration,

    /// Measured time in seconds.
    #[arg(long, default_value = "5", value_parser = parse_positive_secs)]
    pub duration: Duration,

    /// Timeout for each connection attempt, in seconds.
    #[arg(long, default_value = "3", value_parser = parse_positive_secs)]
    pub connect_timeout: Duration,

    /// Load threads: the connections are spread over this many event-loop threads (connection
    /// i on thread i mod N), each with its own poller, and their latencies are merged into one
    /// histogram. At most `--conns`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,

    /// Pin load thread i to the i-th CPU of LIST (e.g. `2,3` or `2-3` or `0,4-6`; round robin
    /// when the list is shorter than `--threads`). Linux only.
    #[arg(long, value_name = "LIST", value_parser = parse_cpu_list)]
    pub pin: Option<CpuList>,

    /// Print exactly one JSON line on stdout instead of the table (rps, p50_us, p90_us, p99_us,
    /// p999_us, p9999_us, max_us, errors, client_cpu, messages). client_cpu is the load threads'
    /// CPU time over the measured window's wall time, in percent of one core (up to 100 per
    /// thread); with several threads, each one's own figures also go to stderr.
    #[arg(long)]
    pub json: bool,

    /// Also write the latency distribution to FILE in HdrHistogram's percentile-distribution
    /// text format (.hgrm), values in microseconds.
    #[arg(long, value_name = "FILE")]
    pub hgrm: Option<PathBuf>,

    /// Progress line on stderr: auto (when stderr is a terminal), always or never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub progress: String,
}

/// CPU numbers, in the order given, from `--pin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// The most CPUs a `--pin` range may span, to catch typos such as `2-30000`.
const MAX_CPU: usize = 4095;

/// Parses a CPU list: comma-separated CPU numbers and inclusive ranges `A-B`.
fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    if !cfg!(target_os = "linux") {
        return Err("pinning (--pin) is supported on Linux only".to_string());
    }
    let cpu = |t: &str| -> Result<usize, String> {
        let n: usize = t
            .trim()
            .parse()
            .map_err(|e| format!("{t:?} in {s:?}: {e}"))?;
        if n > MAX_CPU {
            return Err(format!("CPU {n} in {s:?} is above {MAX_CPU}"));
        }
        Ok(n)
    };
    let mut cpus = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (cpu(a)?, cpu(b)?);
                if a > b {
                    return Err(format!("range {part:?} in {s:?} runs backwards"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(cpu(part)?),
        }
    }
    Ok(CpuList(cpus))
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
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_secs("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_secs("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("inf").is_err());
        assert!(parse_positive_secs("0").is_err());
    }

    #[test]
    fn exactly_one_target_unless_reporting() {
        let p = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("corenet-bench").chain(args.iter().copied()))
        };
        assert!(p(&[]).is_err());
        assert!(p(&["--addr", "127.0.0.1:1", "--unix", "/tmp/x"]).is_err());
        let c = p(&["--unix", "/tmp/x", "--rate", "1000"]).unwrap();
        assert_eq!(c.run.rate, Some(1000));
        assert!(c.command.is_none());
        let c = p(&["--unix", "/tmp/x"]).unwrap();
        assert_eq!((c.run.threads, c.run.pin), (1, None));
        assert!(p(&["--unix", "/tmp/x", "--threads", "0"]).is_err());
        let c = p(&["report", "r.json"]).unwrap();
        assert!(matches!(c.command, Some(Command::Report(_))));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("2,3").unwrap().0, [2, 3]);
        assert_eq!(parse_cpu_list("2-3").unwrap().0, [2, 3]);
        assert_eq!(parse_cpu_list("0,4-6").unwrap().0, [0, 4, 5, 6]);
        assert_eq!(parse_cpu_list("7").unwrap().0, [7]);
        for bad in ["", "a", "3-2", "1,", "-1", "1-", "99999"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?}");
        }
    }

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn pinning_is_refused_off_linux() {
        assert!(parse_cpu_list("0").is_err());
    }
}
