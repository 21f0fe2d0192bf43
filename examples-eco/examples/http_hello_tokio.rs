//! The same hyper service as `http_hello`, on tokio's current-thread runtime: the peer that
//! `http_hello` is measured against (one core each).
//!
//! ```sh
//! cargo run --release --example http_hello_tokio -- --addr 127.0.0.1:8081
//! ```
//!
//! Prints `listening on <addr>`; SIGINT or SIGTERM exits 0 (open connections are dropped).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser, Debug)]
#[command(about = "hyper hello-world on tokio's current-thread runtime")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    addr: SocketAddr,
}

/// The service: the same plaintext answer to every request (as in `http_hello`).
async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"Hello, World!")));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("http_hello_tokio: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = match TcpListener::bind(args.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("http_hello_tokio: listen {}: {e}", args.addr);
                return ExitCode::FAILURE;
            }
        };
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            eprintln!("http_hello_tokio: cannot watch signals");
            return ExitCode::FAILURE;
        };
        match listener.local_addr() {
            Ok(addr) => println!("listening on {addr}"),
            Err(e) => {
                eprintln!("http_hello_tokio: {e}");
                return ExitCode::FAILURE;
            }
        }
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = int.recv() => return ExitCode::SUCCESS,
                _ = term.recv() => return ExitCode::SUCCESS,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("http_hello_tokio: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::task::spawn_local(async move {
                let _ = http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    })
}
