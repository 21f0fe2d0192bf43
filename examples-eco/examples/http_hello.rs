//! hyper 1.x serving "Hello, World!" on every core, through corenet's tokio I/O adapters.
//!
//! ```sh
//! cargo run --release --example http_hello -- --addr 127.0.0.1:8080 [--cores N] [--backend auto|uring|compat]
//! ```
//!
//! Prints `listening on <addr>` once every core listens. Each accepted connection is served
//! by hyper's HTTP/1.1 connection state machine (keep-alive and pipelined requests included)
//! on the core that accepted it: the socket is wrapped in a [`corenet::SocketStream`]
//! (tokio's `AsyncRead`/`AsyncWrite`, feature `tokio-io`) and then in hyper-util's `TokioIo`
//! (hyper's own I/O traits). No tokio runtime runs: hyper's HTTP/1 server needs none (only
//! `with_upgrades` would want an executor). hyper's header-read timeout stays off: its timers
//! must be `Send`, and corenet's are per-core (wrapping `serve_connection` in
//! `corenet::timeout` bounds a whole connection instead). SIGINT or SIGTERM stops accepting
//! at once, lets open connections finish for up to 5 s (idle keep-alive connections are
//! closed at that deadline), and exits 0.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::pin;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use corenet::{Runtime, Server, SocketStream};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[derive(Parser, Debug)]
#[command(about = "hyper hello-world on corenet")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Cores (executor threads); default: every CPU in the affinity mask.
    #[arg(long)]
    cores: Option<usize>,
    /// Backend: auto (io_uring where it can start, else compat, with the reason on
    /// stderr), uring or compat.
    #[arg(long, default_value = "auto")]
    backend: String,
}

/// The service: the same plaintext answer to every request.
async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
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
            eprintln!("http_hello: --backend: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(n) = args.cores {
        builder = builder.cores(n);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("http_hello: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("http_hello: running on the {} backend", rt.backend());
    // Before anything else starts threads: SIGINT/SIGTERM become a graceful shutdown.
    if let Err(e) = rt.handle().shutdown_on_signals(Duration::from_secs(5)) {
        eprintln!("http_hello: cannot watch signals: {e}");
        return ExitCode::FAILURE;
    }
    let server = match Server::bind(&rt.handle(), args.addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("http_hello: listen {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let closing = server.clone();
    server.serve(move |socket| {
        let server = closing.clone();
        async move {
            let _ = socket.set_nodelay(true);
            let io = TokioIo::new(SocketStream::new(socket));
            let conn = http1::Builder::new()
                // Answers to pipelined requests leave in one write.
                .pipeline_flush(true)
                .serve_connection(io, service_fn(hello));
            // On shutdown (a signal closes the server), an idle keep-alive connection ends at
            // once and a busy one after its response, instead of holding the grace period.
            let mut conn = pin!(conn);
            let mut closed = pin!(server.closed());
            let mut closing = false;
            let served = poll_fn(|cx| {
                if !closing && closed.as_mut().poll(cx).is_ready() {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                conn.as_mut().poll(cx)
            })
            .await;
            if let Err(e) = served {
                tracing::debug!("http_hello: connection: {e}");
            }
        }
    });
    println!("listening on {}", server.local_addr());
    // Serve until a signal drains the runtime.
    rt.wait();
    drop(server);
    ExitCode::SUCCESS
}
