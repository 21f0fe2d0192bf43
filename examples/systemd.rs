//! A socket-activated echo server (Node face): it serves the first socket systemd passed, or
//! binds a port when it was started by hand.
//!
//! ```sh
//! cargo run --example systemd -- [--port 7000] [--cores N] [--backend auto|uring|compat]
//! # socket-activated, without writing a unit file:
//! systemd-socket-activate -l 127.0.0.1:7000 target/debug/examples/systemd
//! ```
//!
//! Prints `listening on <addr> (<how>)` once it listens, where `<how>` is `activated <name>`
//! or `bound`, and echoes every byte; when the peer half-closes it ends its side too.
//! SIGINT or SIGTERM stops it (open connections get up to 5 s).
//!
//! A unit pair for it: `echo.socket` with `[Socket] ListenStream=7000`, and `echo.service`
//! with `ExecStart=/path/to/systemd`.

use std::process::ExitCode;
#[cfg(unix)]
use std::time::Duration;

use clap::Parser;
#[cfg(unix)]
use corenet::Runtime;
#[cfg(unix)]
use corenet::net::{self, Address, ListenArgs, ServerOptions, Socket};

#[derive(Parser, Debug)]
#[command(about = "corenet socket-activated echo server")]
struct Args {
    /// The TCP port to bind when not socket-activated.
    #[arg(long, default_value_t = 7000)]
    port: u16,
    /// Cores (executor threads); default: every CPU in the affinity mask.
    #[arg(long)]
    cores: Option<usize>,
    /// Backend: auto, uring or compat.
    #[arg(long, default_value = "auto")]
    backend: String,
}

fn main() -> ExitCode {
    #[cfg(unix)]
    {
        run()
    }
    #[cfg(not(unix))]
    {
        let _ = Args::parse();
        eprintln!("systemd: socket activation is a Unix protocol");
        ExitCode::FAILURE
    }
}

#[cfg(unix)]
fn run() -> ExitCode {
    // SAFETY: first thing in main, before any thread starts: nothing else reads or writes the
    // environment, and nothing else in the process has taken the passed descriptors.
    let activated = match unsafe { corenet::systemd::listen_fds() } {
        Ok(fds) => fds,
        Err(e) => {
            eprintln!("systemd: bad socket-activation environment: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args = Args::parse();
    let mut builder = match Runtime::builder().backend_named(&args.backend) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("systemd: --backend: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(n) = args.cores {
        builder = builder.cores(n);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("systemd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = rt.handle().shutdown_on_signals(Duration::from_secs(5)) {
        eprintln!("systemd: cannot watch signals: {e}");
        return ExitCode::FAILURE;
    }
    // The first passed socket (a unit may pass more: the others are closed here).
    let (listen, how) = match activated.into_iter().next() {
        Some(first) => (
            ListenArgs::handle(first.fd),
            format!("activated {}", first.name),
        ),
        None => (ListenArgs::port(args.port), "bound".to_owned()),
    };
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                socket.on_data(|s, chunk| {
                    s.write(chunk);
                });
            }
        });
        server.on_listening(move |s| match s.address() {
            Some(Address::Tcp(addr)) => println!("listening on {addr} ({how})"),
            Some(Address::Pipe(path)) => println!("listening on {} ({how})", path.display()),
            None => {}
        });
        server.on_error(|_, e| {
            eprintln!("systemd: listen: {e}");
            std::process::exit(1);
        });
        server.listen(listen).expect("a fresh server");
    });
    // Serve until a signal drains the runtime.
    rt.wait();
    ExitCode::SUCCESS
}
