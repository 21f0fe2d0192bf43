//! A TCP proxy written with the Node face: each connection is piped to an upstream connection
//! and back.
//!
//! ```sh
//! cargo run --release --example proxy -- --listen 127.0.0.1:8000 --upstream 127.0.0.1:7000 [--cores N] [--backend auto|uring|compat]
//! ```
//!
//! Prints `listening on <addr>` (`--listen` defaults to `127.0.0.1:0`, a free port). For each
//! client it connects to `--upstream` (`host:port`; a name is looked up) and pipes both ways
//! (`client.pipe(upstream); upstream.pipe(client)`), so backpressure holds each direction to
//! the sockets' high-water marks whatever the two peers' speeds. Half-closes pass through:
//! both sides allow half-open, so a client's FIN reaches the upstream as a FIN while the
//! upstream's answer keeps flowing back, and the reverse. An error on either side destroys
//! the other. SIGINT or SIGTERM stops accepting, lets open connections finish for up to
//! 5 s, and exits 0.
//!
//! In Node:
//!
//! ```js
//! net.createServer({ allowHalfOpen: true }, (client) => {
//!   const upstream = net.connect({ port, host, allowHalfOpen: true });
//!   client.pipe(upstream).pipe(client);
//!   client.on('error', () => upstream.destroy());
//!   upstream.on('error', () => client.destroy());
//! }).listen(8000, '127.0.0.1');
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use corenet::Runtime;
use corenet::net::{self, Address, ConnectArgs, ServerOptions, Socket};

#[derive(Parser, Debug)]
#[command(about = "corenet TCP proxy (Node face: socket.pipe)")]
struct Args {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to connect for each client: `host:port`.
    #[arg(long)]
    upstream: String,
    /// Cores (executor threads); default: every CPU in the affinity mask.
    #[arg(long)]
    cores: Option<usize>,
    /// Backend: auto (io_uring where it can start, else compat, with the reason on
    /// stderr), uring or compat.
    #[arg(long, default_value = "auto")]
    backend: String,
}

/// The upstream's host and port (`--upstream`).
#[derive(Clone, Debug)]
struct Upstream {
    host: String,
    port: u16,
}

impl Upstream {
    /// `host:port`, `[v6]:port`.
    fn parse(s: &str) -> Result<Upstream, String> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("{s:?}: expected host:port"))?;
        let port = port
            .parse()
            .map_err(|_| format!("{s:?}: bad port {port:?}"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(Upstream {
            host: host.to_owned(),
            port,
        })
    }
}

/// One client: connect upstream, pipe both ways, and let an error on one side end the other.
fn proxy(client: &Socket, upstream: &Upstream) {
    client.set_no_delay(true);
    let up = net::connect(
        ConnectArgs::port(upstream.port)
            .host(upstream.host.clone())
            .allow_half_open(true),
    );
    // Applied once connected.
    up.set_no_delay(true);
    client.pipe(&up).pipe(client);
    // The pipes unpipe on an error but leave the other side open (Node's semantics): a
    // proxy closes it. (Each listener holds the other socket until its own 'close'.)
    let other = up.clone();
    client.on_error(move |_, e| {
        eprintln!("proxy: client: {e}");
        other.destroy(None);
    });
    let other = client.clone();
    up.on_error(move |_, e| {
        eprintln!("proxy: upstream: {e}");
        other.destroy(None);
    });
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let upstream = match Upstream::parse(&args.upstream) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("proxy: --upstream: {e}");
            return ExitCode::from(2);
        }
    };
    let mut builder = match Runtime::builder().backend_named(&args.backend) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("proxy: --backend: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(n) = args.cores {
        builder = builder.cores(n);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("proxy: running on the {} backend", rt.backend());
    if let Err(e) = rt.handle().shutdown_on_signals(Duration::from_secs(5)) {
        eprintln!("proxy: cannot watch signals: {e}");
        return ExitCode::FAILURE;
    }

    // 'listening' or 'error', from core 0.
    let (tx, rx) = mpsc::channel::<Result<SocketAddr, String>>();
    let listen = args.listen;
    rt.block_on(0, move || async move {
        let options = ServerOptions::default().allow_half_open(true);
        let server = net::create_server(options, move || {
            let upstream = upstream.clone();
            move |client: &Socket| proxy(client, &upstream)
        });
        let failed = tx.clone();
        server.on_error(move |_, e| {
            let _ = failed.send(Err(e.to_string()));
        });
        server.on_listening(move |s| {
            if let Some(Address::Tcp(addr)) = s.address() {
                let _ = tx.send(Ok(addr));
            }
        });
        let host = listen.ip().to_string();
        if let Err(e) = server.listen((listen.port(), host.as_str())) {
            eprintln!("proxy: listen: {e}");
        }
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(addr)) => println!("listening on {addr}"),
        Ok(Err(e)) => {
            eprintln!("proxy: {e}");
            return ExitCode::FAILURE;
        }
        Err(_) => {
            eprintln!("proxy: neither 'listening' nor 'error' within 10 s");
            return ExitCode::FAILURE;
        }
    }
    // Serve until a signal drains the runtime.
    rt.wait();
    ExitCode::SUCCESS
}
