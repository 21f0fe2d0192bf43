//! corenet-bench: a closed-loop load generator for TCP echo servers.
//!
//! One thread drives every connection through mio, so the client is cheap and can be pinned
//! with `taskset`. Each message carries a deterministic per-connection, per-sequence pattern
//! and every echoed byte is checked. See `--help`.

mod cli;
mod closed_loop;
mod conn;
mod cpu;
mod pattern;
mod stats;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::cli::Args;
use crate::closed_loop::Timing;
use crate::conn::{Conn, connect_tcp};
use crate::stats::{Recorder, Summary};

/// Slack after warm-up plus duration before the whole run is stopped regardless.
const GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let started = Instant::now();
    let args = Args::parse();
    let hard_deadline = started + args.warmup + args.duration + GRACE;
    match run(&args, hard_deadline) {
        Ok(summary) => {
            if args.json {
                println!("{}", summary.to_json());
            } else {
                println!(
                    "{}  conns={} msg={}B pipeline={} warmup={:.1}s duration={:.1}s",
                    args.addr,
                    args.conns,
                    args.msg,
                    args.pipeline,
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

/// Connects, runs the closed loop and summarises it.
fn run(args: &Args, hard_deadline: Instant) -> Result<Summary, String> {
    let addr = resolve(&args.addr)?;
    let mut conns = Vec::with_capacity(args.conns as usize);
    for id in 0..args.conns {
        let left = hard_deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("out of time after {id} connections"));
        }
        let stream = connect_tcp(addr, args.connect_timeout.min(left))
            .map_err(|e| format!("connect {addr} (connection {id}): {e}"))?;
        conns.push(Conn::new(id, stream, args.msg as usize));
    }
    eprintln!(
        "corenet-bench: {} connections to {addr}; warming up for {:.1} s",
        args.conns,
        args.warmup.as_secs_f64()
    );

    let timing = Timing {
        warmup: args.warmup,
        duration: args.duration,
        hard_deadline,
    };
    let mut rec = Recorder::new();
    let window = closed_loop::run(&mut conns, args.pipeline, timing, &mut rec)
        .map_err(|e| format!("poll: {e}"))?;
    if window.cut_short {
        eprintln!(
            "corenet-bench: warning: measured window cut short at {:.2} s",
            window.wall.as_secs_f64()
        );
    }
    Ok(rec.summary(window.wall, window.cpu))
}

/// Resolves HOST:PORT to its first address.
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("bad address {addr:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr:?} resolves to no address"))
}
