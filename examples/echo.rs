//! An echo server on every core.
//!
//! ```sh
//! cargo run --release --example echo -- --addr 127.0.0.1:7000 [--cores N] [--backend auto|uring|compat] [--unix PATH]
//!     [--buffer-count N] [--buffer-size BYTES] [--no-stream-buffers]
//! ```
//!
//! Prints `listening on <addr>` once every core listens, echoes every byte (sending each
//! received chunk straight back, no copy), and when the peer half-closes it finishes writing
//! and then closes its side. SIGINT or SIGTERM stops accepting at once, lets open
//! connections finish for up to 5 s, and exits 0.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use corenet::{Runtime, Server};

#[derive(Parser, Debug)]
#[command(about = "corenet echo server")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,
    /// Cores (executor threads); default: every CPU in the affinity mask.
    #[arg(long)]
    cores: Option<usize>,
    /// Backend: auto (io_uring where it can start, else compat, with the reason on
    /// stderr), uring or compat.
    #[arg(long, default_value = "auto")]
    backend: String,
    /// Listen on a Unix socket path instead of TCP.
    #[arg(long)]
    unix: Option<String>,
    /// Receive buffers per core (a power of two); default: the runtime's.
    #[arg(long)]
    buffer_count: Option<u16>,
    /// Bytes per receive buffer; default: the runtime's.
    #[arg(long)]
    buffer_size: Option<u32>,
    /// Receive streams into the pool's buffers too, not into larger ones (io_uring).
    #[arg(long)]
    no_stream_buffers: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Warnings by default: a fallback to compat says why.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let mut builder = match Runtime::builder().backend_named(&args.backend) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("echo: --backend: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(n) = args.cores {
        builder = builder.cores(n);
    }
    if let Some(n) = args.buffer_count {
        builder = builder.buffer_count(n);
    }
    if let Some(n) = args.buffer_size {
        builder = builder.buffer_size(n);
    }
    if args.no_stream_buffers {
        builder = builder.stream_buffers(false);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("echo: running on the {} backend", rt.backend());
    // Before anything else starts threads: SIGINT/SIGTERM become a graceful shutdown.
    if let Err(e) = rt.handle().shutdown_on_signals(Duration::from_secs(5)) {
        eprintln!("echo: cannot watch signals: {e}");
        return ExitCode::FAILURE;
    }
    let bound = match &args.unix {
        Some(path) => Server::bind_unix(&rt.handle(), path),
        None => Server::bind(&rt.handle(), args.addr),
    };
    let server = match bound {
        Ok(s) => s,
        Err(e) => {
            let target = args.unix.clone().unwrap_or_else(|| args.addr.to_string());
            eprintln!("echo: listen {target}: {e}");
            return ExitCode::FAILURE;
        }
    };
    server.serve(|socket| async move {
        // Not available on Unix sockets; nothing to do there.
        let _ = socket.set_nodelay(true);
        loop {
            match socket.read().await {
                Ok(Some(chunk)) => {
                    if socket.write_owned(chunk).await.is_err() {
                        return;
                    }
                }
                // The peer half-closed: send what is queued, then our FIN.
                Ok(None) => {
                    let _ = socket.shutdown().await;
                    return;
                }
                Err(_) => return,
            }
        }
    });
    match server.unix_path() {
        Some(path) => println!("listening on {}", path.display()),
        None => println!("listening on {}", server.local_addr()),
    }
    // Serve until a signal drains the runtime.
    let handle = rt.handle();
    rt.wait();
    drop(server);
    // What each core did (scripts/bench-echo.sh reads these lines).
    for c in handle.stats() {
        eprintln!(
            "echo: core {} stats: turns={} parks={} ops={} completions={} sends={} accepted={} \
             recv_starved={} recv_paused={} recv_streaming={} compactions={}",
            c.core,
            c.turns,
            c.parks,
            c.ops,
            c.completions,
            c.sends,
            c.accepted,
            c.recv_starved,
            c.recv_paused,
            c.recv_streaming,
            c.compactions
        );
    }
    ExitCode::SUCCESS
}
