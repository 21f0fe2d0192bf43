//! tokio-echo: a single-threaded tokio echo server, the reference peer for corenet's echo
//! benchmarks.
//!
//! `tokio-echo --addr 127.0.0.1:PORT` prints `listening on <addr>` once bound, then echoes
//! every byte of every connection (`TCP_NODELAY` on, one 64 KiB read buffer per connection).

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Read buffer size per connection.
const BUF: usize = 64 * 1024;

fn main() -> ExitCode {
    let addr = match parse_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tokio-echo: {e}\nusage: tokio-echo --addr HOST:PORT");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime");
    match rt.block_on(serve(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio-echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads `--addr HOST:PORT` (or `--addr=HOST:PORT`) from the command line.
fn parse_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    while let Some(a) = args.next() {
        let value = match a.strip_prefix("--addr") {
            Some("") => args.next().ok_or("--addr needs a value")?,
            Some(v) if v.starts_with('=') => v[1..].to_string(),
            _ => return Err(format!("unknown argument {a:?}")),
        };
        addr = Some(
            value
                .parse()
                .map_err(|e| format!("bad --addr {value:?}: {e}"))?,
        );
    }
    addr.ok_or_else(|| "--addr is required".to_string())
}

/// Accepts connections forever, one echo task each.
async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            // A peer that resets the connection is no error for an echo server.
            let _ = echo(stream).await;
        });
    }
}

/// Echoes every byte until the peer closes.
async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; BUF];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}
