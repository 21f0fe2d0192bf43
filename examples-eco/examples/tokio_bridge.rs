//! Calling tokio-based code (a client library such as reqwest or sqlx) from a corenet task.
//!
//! ```sh
//! cargo run --example tokio_bridge
//! ```
//!
//! **The pitfall.** tokio's I/O types (`tokio::net::TcpStream`, and every client built on
//! them) and its timers register with *tokio's* reactor, which only runs inside a tokio
//! runtime. A corenet core is not one: creating or polling them in a corenet task panics
//! ("there is no reactor running, must be called from the context of a Tokio 1.x runtime")
//! or never wakes up. Don't enter a tokio runtime on a corenet core either (blocking on one
//! stalls every connection of that core).
//!
//! **The bridge.** Keep a tokio runtime beside corenet's, and from the corenet task *spawn*
//! the tokio-based work onto it through its `Handle`; the returned `JoinHandle` is an
//! ordinary future, and awaiting it on the corenet core is fine: the core goes on serving
//! its other connections meanwhile, and tokio's worker wakes the corenet task when the result
//! is ready. Only `Send` values cross (the request in, the result out).
//!
//! Here a corenet server (an upper-casing echo, on corenet's core) is called by a tokio
//! `TcpStream` client that a corenet task starts on the tokio runtime. Prints
//! `listening on <addr>`, then `tokio client got: <reply>`, and exits 0.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use corenet::{Runtime, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The tokio-based client: runs on the tokio runtime, never on a corenet core.
async fn tokio_client(addr: SocketAddr, message: &'static str) -> io::Result<String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(message.as_bytes()).await?;
        stream.shutdown().await?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await?;
        Ok(reply)
    };
    // tokio's timer works here: this future runs on the tokio runtime.
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the server did not answer"))?
}

fn main() -> ExitCode {
    // The tokio runtime: one worker thread is plenty for calls made now and then.
    let tokio_rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio_bridge: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match Runtime::builder().cores(1).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio_bridge: cannot start corenet: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A corenet server for the tokio client to call: it answers in upper case.
    let server = match Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tokio_bridge: listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    server.serve(|socket| async move {
        while let Ok(Some(chunk)) = socket.read().await {
            if socket.write(&chunk.to_ascii_uppercase()).await.is_err() {
                return;
            }
        }
        let _ = socket.shutdown().await;
    });
    let addr = server.local_addr();
    println!("listening on {addr}");

    let tokio = tokio_rt.handle().clone();
    // A corenet task (on core 0, which also serves the connection the client makes).
    let reply = rt.block_on(0, move || async move {
        // Spawn onto tokio, then await the JoinHandle here: an ordinary future.
        let call = tokio.spawn(tokio_client(addr, "hello from a corenet task"));
        match call.await {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(format!("the tokio task failed: {e}"))),
        }
    });
    drop(server);
    match reply {
        Ok(reply) => {
            println!("tokio client got: {reply}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tokio_bridge: {e}");
            ExitCode::FAILURE
        }
    }
}
