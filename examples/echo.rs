//! An echo server on every core.
//!
//! ```sh
//! cargo run --release --example echo -- --addr 127.0.0.1:7000 [--cores N] [--backend uring|compat] [--unix PATH]
//! ```
//!
//! Prints `listening on <addr>` once every core listens, echoes every byte (sending each
//! received chunk straight back, no copy), and when the peer half-closes it finishes writing
//! and then closes its side.

use std::net::SocketAddr;
use std::process::ExitCode;

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
    /// Backend: uring or compat.
    #[arg(long, default_value = "uring")]
    backend: String,
    /// Listen on a Unix socket path instead of TCP.
    #[arg(long)]
    unix: Option<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    if args.backend != "uring" {
        eprintln!(
            "echo: --backend {} is not available yet (the compat backend is its own issue)",
            args.backend
        );
        return ExitCode::from(2);
    }
    if args.unix.is_some() {
        eprintln!(
            "echo: --unix is not available yet (Unix sockets arrive with the lifecycle issue)"
        );
        return ExitCode::from(2);
    }
    let mut builder = Runtime::builder();
    if let Some(n) = args.cores {
        builder = builder.cores(n);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("echo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = match Server::bind(&rt.handle(), args.addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo: listen {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    server.serve(|socket| async move {
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
    println!("listening on {}", server.local_addr());
    // Serve until killed.
    loop {
        std::thread::park();
    }
}
