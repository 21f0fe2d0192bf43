//! The command line every peer shares: `NAME --addr HOST:PORT` (or `--addr=HOST:PORT`).

use std::net::SocketAddr;
use std::process::ExitCode;

/// Reads `--addr` from the command line, or prints the usage of `name` and gives the exit
/// code to leave with.
pub fn addr(name: &str) -> Result<SocketAddr, ExitCode> {
    parse(std::env::args().skip(1)).map_err(|e| {
        eprintln!("{name}: {e}\nusage: {name} --addr HOST:PORT");
        ExitCode::from(2)
    })
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
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
