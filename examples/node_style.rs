//! Node's `net` documentation examples, written with corenet's Node face: the echo server,
//! the "goodbye" server, and a client that talks to both, then everything closes.
//!
//! ```sh
//! cargo run --example node_style
//! ```

use std::sync::mpsc;
use std::time::Duration;

use corenet::Runtime;
use corenet::net::{self, Address, ServerOptions, Socket};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().cores(2).build()?;
    let (done_tx, done_rx) = mpsc::channel::<String>();

    rt.block_on(0, move || async move {
        // const server = net.createServer((c) => { c.write('hello\r\n'); c.pipe(c); });
        let echo = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                println!("server: client connected on core {}", socket.core());
                socket.on_end(|_| println!("server: client disconnected"));
                socket.write(b"hello\r\n");
                // Every received chunk is written back (the chunk itself, no copy); the
                // client's end ends our side.
                socket.pipe(socket);
            }
        });
        echo.on_error(|_, err| eprintln!("server error: {err}"));
        echo.listen((0, "127.0.0.1")).expect("not listening yet");

        // The "goodbye" server: answers and ends every connection.
        let goodbye = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                socket.end(Some(b"goodbye\n"));
            }
        });
        goodbye.listen((0, "127.0.0.1")).expect("not listening yet");

        let Some(Address::Tcp(echo_addr)) = echo.address() else {
            unreachable!()
        };
        let Some(Address::Tcp(goodbye_addr)) = goodbye.address() else {
            unreachable!()
        };

        // const client = net.createConnection({ port }, () => { client.write('world!\r\n'); });
        let client = net::connect((echo_addr.port(), "127.0.0.1"));
        client.on_connect(|c| {
            println!("client: connected to server!");
            c.write(b"world!\r\n");
        });
        let mut received = Vec::new();
        client.on_data(move |c, data| {
            received.extend_from_slice(data);
            for line in String::from_utf8_lossy(data).lines() {
                println!("client: {line}");
            }
            if received.ends_with(b"world!\r\n") {
                c.end(None);
            }
        });
        let tx = done_tx.clone();
        client.on_end(move |_| {
            println!("client: disconnected from server");
            let _ = tx.send("echo".into());
        });

        let bye = net::connect((goodbye_addr.port(), "127.0.0.1"));
        let tx = done_tx;
        bye.on_data(move |_, data| {
            for line in String::from_utf8_lossy(data).lines() {
                println!("client: {line}");
            }
            let _ = tx.send("goodbye".into());
        });

        // The servers stay alive while listening (as in Node); the graceful shutdown below
        // closes them.
    });

    for _ in 0..2 {
        let which = done_rx.recv_timeout(Duration::from_secs(10))?;
        println!("done: {which}");
    }
    // Stop accepting everywhere, let open connections finish (1 s at most), stop the cores.
    rt.shutdown_graceful(Duration::from_secs(1));
    Ok(())
}
