//! A TLS echo server on every core: rustls (the ring provider) over corenet's tokio I/O
//! adapters, with a self-signed certificate made at start by rcgen.
//!
//! ```sh
//! cargo run --release --example tls_echo -- --addr 127.0.0.1:8443 [--cores N] [--cert-out cert.pem]
//! openssl s_client -connect 127.0.0.1:8443 -CAfile cert.pem -quiet
//! ```
//!
//! The certificate names `localhost` and `127.0.0.1`; `--cert-out` writes it (PEM) for
//! clients to trust. Prints `listening on <addr>` once every core listens. Each connection
//! does the TLS handshake (TLS 1.2 or 1.3), echoes every byte it decrypts, and when the peer
//! ends the stream sends close_notify and a FIN. SIGINT or SIGTERM stops accepting at once,
//! lets open connections finish for up to 5 s, and exits 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use corenet::{Runtime, Server, SocketStream};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

#[derive(Parser, Debug)]
#[command(about = "TLS echo server on corenet (rustls)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    addr: SocketAddr,
    /// Cores (executor threads); default: every CPU in the affinity mask.
    #[arg(long)]
    cores: Option<usize>,
    /// Backend: auto (io_uring where it can start, else compat, with the reason on
    /// stderr), uring or compat.
    #[arg(long, default_value = "auto")]
    backend: String,
    /// Write the self-signed certificate (PEM) here, for clients to trust.
    #[arg(long)]
    cert_out: Option<PathBuf>,
}

/// A server configuration with a fresh self-signed certificate for `localhost` and
/// `127.0.0.1`, and that certificate in PEM.
fn tls_config() -> Result<(rustls::ServerConfig, String), Box<dyn std::error::Error>> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)?;
    Ok((config, certified.cert.pem()))
}

/// Handshakes, then echoes until the peer ends the stream.
async fn serve_tls(acceptor: TlsAcceptor, stream: SocketStream) -> std::io::Result<()> {
    let mut tls = acceptor.accept(stream).await?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n]).await?;
        tls.flush().await?;
    }
    // close_notify, then our FIN.
    tls.shutdown().await
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
            eprintln!("tls_echo: --backend: {e}");
            return ExitCode::from(2);
        }
    };
    let (config, cert_pem) = match tls_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tls_echo: cannot make the certificate: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.cert_out {
        if let Err(e) = std::fs::write(path, &cert_pem) {
            eprintln!("tls_echo: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let acceptor = TlsAcceptor::from(Arc::new(config));
    if let Some(n) = args.cores {
        builder = builder.cores(n);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tls_echo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("tls_echo: running on the {} backend", rt.backend());
    if let Err(e) = rt.handle().shutdown_on_signals(Duration::from_secs(5)) {
        eprintln!("tls_echo: cannot watch signals: {e}");
        return ExitCode::FAILURE;
    }
    let server = match Server::bind(&rt.handle(), args.addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tls_echo: listen {}: {e}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    server.serve(move |socket| {
        let acceptor = acceptor.clone();
        async move {
            let _ = socket.set_nodelay(true);
            if let Err(e) = serve_tls(acceptor, SocketStream::new(socket)).await {
                tracing::debug!("tls_echo: connection: {e}");
            }
        }
    });
    println!("listening on {}", server.local_addr());
    rt.wait();
    drop(server);
    ExitCode::SUCCESS
}
