//! monoio-echo: a monoio echo server on its io_uring driver, one thread.
//!
//! `monoio-echo --addr 127.0.0.1:PORT` prints `listening on <addr>` once bound, then echoes
//! every byte of every connection (`TCP_NODELAY` on, one 64 KiB owned buffer per connection:
//! read into it, write it back whole).

#[path = "args.rs"]
mod args;

use std::net::SocketAddr;
use std::process::ExitCode;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};

/// Read buffer size per connection.
const BUF: usize = 64 * 1024;

fn main() -> ExitCode {
    let addr = match args::addr("monoio-echo") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut rt = match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("monoio-echo: cannot start the io_uring runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("monoio-echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Accepts connections forever, one echo task each.
async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind_with_config(addr, &ListenerOpts::new().backlog(4096))?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        monoio::spawn(async move {
            // A peer that resets the connection is no error for an echo server.
            let _ = echo(stream).await;
        });
    }
}

/// Echoes every byte until the peer closes.
async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(BUF);
    loop {
        let (res, b) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            return Ok(());
        }
        // `read` set the length to `n`: `write_all` sends exactly what arrived.
        let (res, mut b) = stream.write_all(b).await;
        res?;
        b.clear();
        buf = b;
    }
}
