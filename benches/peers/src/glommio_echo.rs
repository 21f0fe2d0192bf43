//! glommio-echo: a glommio echo server, one executor on the calling thread.
//!
//! `glommio-echo --addr 127.0.0.1:PORT` prints `listening on <addr>` once bound, then echoes
//! every byte of every connection (`TCP_NODELAY` on, one 64 KiB read buffer per connection).
//! The executor is unbound (`Placement::Unbound`): pin the process from outside.

#[path = "args.rs"]
mod args;

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::process::ExitCode;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use socket2::{Domain, Socket, Type};

/// Read buffer size per connection.
const BUF: usize = 64 * 1024;
/// Listen backlog.
const BACKLOG: i32 = 4096;

fn main() -> ExitCode {
    let addr = match args::addr("glommio-echo") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let ex = match LocalExecutorBuilder::new(Placement::Unbound)
        .name("glommio-echo")
        .make()
    {
        Ok(ex) => ex,
        Err(e) => {
            eprintln!("glommio-echo: cannot start the executor: {e}");
            return ExitCode::FAILURE;
        }
    };
    match ex.run(serve(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("glommio-echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Accepts connections forever, one echo task each.
async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    // A deep backlog, like the other peers (glommio's `bind` listens with 1024).
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    // SAFETY: the descriptor is a bound, listening TCP socket whose ownership moves to the
    // glommio listener.
    let listener = unsafe { TcpListener::from_raw_fd(socket.into_raw_fd()) };
    println!("listening on {}", listener.local_addr()?);
    loop {
        let stream = listener.accept().await?;
        glommio::spawn_local(async move {
            // A peer that resets the connection is no error for an echo server.
            let _ = echo(stream).await;
        })
        .detach();
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
