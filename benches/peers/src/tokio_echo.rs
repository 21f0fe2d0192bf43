//! tokio-echo: a single-threaded tokio echo server, the reference peer for corenet's echo
//! benchmarks.
//!
//! `tokio-echo --addr 127.0.0.1:PORT` prints `listening on <addr>` once bound, then echoes
//! every byte of every connection (`TCP_NODELAY` on, one 64 KiB read buffer per connection).

#[path = "args.rs"]
mod args;

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Read buffer size per connection.
const BUF: usize = 64 * 1024;
/// Listen backlog.
const BACKLOG: u32 = 4096;

fn main() -> ExitCode {
    let addr = match args::addr("tokio-echo") {
        Ok(a) => a,
        Err(code) => return code,
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

/// Accepts connections forever, one echo task each.
async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    // A deep backlog, like the other peers: tokio's `TcpListener::bind` listens with 128,
    // which overflows while thousands of connections arrive at once.
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(BACKLOG)?;
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
