//! corenet-bench: a load generator for TCP and Unix-socket echo servers, and the report
//! builder of `scripts/bench.sh`.
//!
//! `--threads N` event-loop threads (one by default) drive the connections through mio, so
//! the client is cheap and can be pinned (`--pin`, or `taskset`); their latencies are merged
//! into one histogram. Each message carries a deterministic per-connection, per-sequence
//! pattern and every echoed byte is checked. Closed loop by default, open loop with `--rate`.
//! See `--help`.

mod cli;
mod conn;
mod cpu;
mod driver;
mod hgrm;
mod merge;
mod pattern;
mod progress;
mod report;
mod schedule;
mod stats;
mod timer;
mod worker;

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use mio::event::Source;

use crate::cli::{Args, Cli, Command};
use crate::conn::{Conn, connect_tcp, connect_unix};
use crate::driver::{Mode, Timing};
use crate::progress::Progress;
use crate::stats::Summary;
use crate::worker::{Plan, Report};

/// Slack after warm-up plus duration before the whole run is stopped regardless.
const GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    if let Some(Command::Report(r)) = &cli.command {
        return match report::run(r) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("corenet-bench report: {e}");
                ExitCode::from(2)
            }
        };
    }
    let args = &cli.run;
    let hard_deadline = started + args.warmup + args.duration + GRACE;
    let outcome = match (&args.addr, &args.unix) {
        (_, Some(path)) => run(args, path.display().to_string(), hard_deadline, |_| {
            connect_unix(path)
        }),
        (Some(addr), None) => match resolve(addr) {
            Ok(sa) => run(args, sa.to_string(), hard_deadline, |left| {
                connect_tcp(sa, args.connect_timeout.min(left))
            }),
            Err(e) => Err(e),
        },
        (None, None) => Err("--addr or --unix is required".to_string()),
    };
    match outcome {
        Ok((target, summary)) => {
            if args.json {
                println!("{}", summary.to_json());
            } else {
                let mode = match args.rate {
                    Some(r) => format!(
                        "open loop at {r} req/s, at most {} in flight",
                        args.pipeline
                    ),
                    None => format!("pipeline={}", args.pipeline),
                };
                let threads = match args.threads {
                    1 => String::new(),
                    n => format!(" threads={n}"),
                };
                println!(
                    "{target}  conns={}{threads} msg={}B {mode} warmup={:.1}s duration={:.1}s",
                    args.conns,
                    args.msg,
                    args.warmup.as_secs_f64(),
                    args.duration.as_secs_f64()
                );
                println!("{summary}");
            }
            if summary.messages == 0 {
                eprintln!("corenet-bench: no message completed in the measured window");
            }
            if summary.errors > 0 || summary.messages == 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("corenet-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Connects `args.conns` streams with `connect` (given the time left), runs the load on
/// `args.threads` threads and summarises it over all of them; writes the .hgrm file if asked.
/// Returns the target's name and the summary.
fn run<S, F>(
    args: &Args,
    target: String,
    hard_deadline: Instant,
    mut connect: F,
) -> Result<(String, Summary), String>
where
    S: Read + Write + Source + Send,
    F: FnMut(Duration) -> std::io::Result<S>,
{
    if args.threads > args.conns {
        return Err(format!(
            "--threads {} needs at least as many connections (--conns is {})",
            args.threads, args.conns
        ));
    }
    let mut conns = Vec::with_capacity(args.conns as usize);
    for id in 0..args.conns {
        let left = hard_deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("out of time after {id} connections"));
        }
        let stream =
            connect(left).map_err(|e| format!("connect {target} (connection {id}): {e}"))?;
        conns.push(Conn::new(id, stream, args.msg as usize));
    }
    eprintln!(
        "corenet-bench: {} connections to {target}; warming up for {:.1} s",
        args.conns,
        args.warmup.as_secs_f64()
    );

    let timing = Timing {
        warmup: args.warmup,
        duration: args.duration,
        hard_deadline,
    };
    let mode = match args.rate {
        Some(rate) => Mode::Open {
            rate,
            max_in_flight: args.pipeline,
        },
        None => Mode::Closed {
            pipeline: args.pipeline,
        },
    };
    let plan = Plan {
        mode,
        timing,
        threads: args.threads,
        pin: args.pin.as_ref(),
    };
    let mut progress = Progress::new(&args.progress);
    let reports = worker::run(conns, plan, &mut progress)?;
    if reports.len() > 1 {
        for r in &reports {
            eprintln!("corenet-bench: {}", thread_line(r));
        }
    }
    let run = merge::merge(&reports)?;
    if run.cut_short {
        eprintln!(
            "corenet-bench: warning: measured window cut short at {:.2} s",
            run.wall.as_secs_f64()
        );
    }
    let summary = run.rec.summary(run.wall, run.cpu);
    let behind = args
        .rate
        .filter(|&rate| !run.cut_short && summary.rps < rate as f64 * 0.97);
    if let Some(rate) = behind {
        eprintln!(
            "corenet-bench: warning: {:.0} req/s completed, below the {rate} req/s asked: \
             the server (or the client) cannot keep up, and latency counts the backlog",
            summary.rps
        );
    }
    if let Some(path) = &args.hgrm {
        let write = || -> std::io::Result<()> {
            let mut out = BufWriter::new(File::create(path)?);
            hgrm::write(run.rec.histogram(), 1000.0, &mut out)?;
            out.flush()
        };
        write().map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    Ok((target, summary))
}

/// One thread's figures, for stderr: `thread 0 (CPU 2): 25 conns, 123456 messages, 0 errors,
/// 97.1% CPU` (its own window and CPU time; the summary merges them).
fn thread_line(r: &Report) -> String {
    let pinned = r.cpu.map_or_else(String::new, |c| format!(" (CPU {c})"));
    let wall = r.window.wall().as_secs_f64();
    let cpu = if wall > 0.0 {
        r.window.cpu.as_secs_f64() / wall * 100.0
    } else {
        0.0
    };
    format!(
        "thread {}{pinned}: {} conns, {} messages, {} errors, {cpu:.1}% CPU",
        r.index,
        r.conns,
        r.rec.messages(),
        r.rec.errors()
    )
}

/// Resolves HOST:PORT to its first address.
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("bad address {addr:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr:?} resolves to no address"))
}
