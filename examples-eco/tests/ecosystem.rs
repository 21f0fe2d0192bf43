//! hyper and rustls on corenet, both ends, both backends: a hyper HTTP/1.1 server and a hyper
//! client (keep-alive) plus raw pipelined requests, and a rustls server and client echoing
//! 256 KiB, all through `SocketStream` on corenet cores; and tokio-based work awaited from a
//! corenet task through a tokio runtime handle. Each test runs under a watchdog.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use corenet::{Backend, Runtime, Server, Socket, SocketStream};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs `body` on a thread and fails the test if it takes longer than `limit`.
fn watchdog(name: &str, limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => worker.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{name}: hung for {limit:?}"),
    }
}

/// One unpinned core forced onto `backend`.
fn runtime(backend: Backend) -> Runtime {
    let rt = Runtime::builder()
        .cores(1)
        .pin(false)
        .backend(backend)
        .build()
        .unwrap_or_else(|e| panic!("{backend:?} runtime: {e}"));
    assert_eq!(rt.backend(), backend);
    rt
}

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("Hello, {}", req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// A hyper HTTP/1.1 server on every core of `rt`, as in the http_hello example.
fn serve_http(rt: &Runtime) -> (Server, SocketAddr) {
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).expect("bind");
    server.serve(|socket| async move {
        let io = TokioIo::new(SocketStream::new(socket));
        let _ = http1::Builder::new()
            .pipeline_flush(true)
            .serve_connection(io, service_fn(hello))
            .await;
    });
    let addr = server.local_addr();
    (server, addr)
}

/// A hyper client on `stream`: three requests on the one connection (keep-alive), each
/// answered 200; their bodies.
async fn three_requests(stream: SocketStream) -> Vec<String> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    corenet::spawn_local(async move {
        let _ = conn.await;
    })
    .detach();
    let mut bodies = Vec::new();
    for path in ["/one", "/two", "/three"] {
        let req = Request::get(path)
            .header(hyper::header::HOST, "localhost")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(req).await.expect("send_request");
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.expect("body");
        bodies.push(String::from_utf8(body.to_bytes().to_vec()).unwrap());
    }
    bodies
}

fn hyper_client_keep_alive(backend: Backend) {
    let rt = runtime(backend);
    let (_server, addr) = serve_http(&rt);
    let bodies = rt.block_on(0, move || async move {
        let socket = Socket::connect(addr).await.expect("connect");
        three_requests(SocketStream::new(socket)).await
    });
    assert_eq!(bodies, ["Hello, /one", "Hello, /two", "Hello, /three"]);
}

/// hyper on connections of the Node face, both ends: a `net::create_server` handler hands
/// each accepted socket to hyper's server with `into_stream`, and a `net::connect` socket
/// becomes a hyper client connection at 'connect' (three keep-alive requests).
fn hyper_both_ends_on_node_face_sockets(backend: Backend) {
    use corenet::net::{self, Address, ServerOptions};

    let rt = runtime(backend);
    let (tx, rx) = std::sync::mpsc::channel::<Vec<String>>();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &net::Socket| {
                let io = TokioIo::new(socket.into_stream().expect("a fresh connection"));
                corenet::spawn_local(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(io, service_fn(hello))
                        .await;
                })
                .detach();
            }
        });
        server.listen((0, "127.0.0.1")).expect("listen");
        let Some(Address::Tcp(addr)) = server.address() else {
            panic!("no TCP address")
        };
        let client = net::connect((addr.port(), "127.0.0.1"));
        client.once_connect(move |socket| {
            let stream = socket.into_stream().expect("connected");
            corenet::spawn_local(async move {
                let _ = tx.send(three_requests(stream).await);
                drop(server);
            })
            .detach();
        });
    });
    let bodies = rx.recv_timeout(Duration::from_secs(30)).expect("answers");
    assert_eq!(bodies, ["Hello, /one", "Hello, /two", "Hello, /three"]);
}

fn hyper_pipelined_requests(backend: Backend) {
    let rt = runtime(backend);
    let (_server, addr) = serve_http(&rt);
    let text = rt.block_on(0, move || async move {
        let mut stream = SocketStream::new(Socket::connect(addr).await.expect("connect"));
        // Three requests in one write; the last asks the server to close.
        stream
            .write_all(
                b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n\
                  GET /b HTTP/1.1\r\nHost: t\r\n\r\n\
                  GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            )
            .await
            .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        text
    });
    let bodies: Vec<&str> = text.matches("Hello, /").collect();
    assert_eq!(bodies.len(), 3, "{text}");
    let order: Vec<usize> = ["Hello, /a", "Hello, /b", "Hello, /c"]
        .iter()
        .map(|b| text.find(b).unwrap_or_else(|| panic!("no {b:?} in {text}")))
        .collect();
    assert!(order.is_sorted(), "answers out of order: {text}");
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
}

fn rustls_echo_both_ends(backend: Backend) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));

    let rt = runtime(backend);
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).expect("bind");
    server.serve(move |socket| {
        let acceptor = acceptor.clone();
        async move {
            let mut tls = acceptor
                .accept(SocketStream::new(socket))
                .await
                .expect("server handshake");
            let mut buf = vec![0u8; 8192];
            loop {
                let n = tls.read(&mut buf).await.expect("server read");
                if n == 0 {
                    break;
                }
                tls.write_all(&buf[..n]).await.expect("server write");
            }
            tls.shutdown().await.expect("server shutdown");
        }
    });
    let addr = server.local_addr();
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let echoed = rt.block_on(0, move || async move {
        let socket = Socket::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").unwrap();
        let tls = connector
            .connect(name, SocketStream::new(socket))
            .await
            .expect("client handshake (certificate verified)");
        let (mut r, mut w) = tokio::io::split(tls);
        // Write and read at once, so a big echo cannot fill both directions and stall.
        let writer = corenet::spawn_local(async move {
            w.write_all(&sent).await.expect("client write");
            w.shutdown().await.expect("client shutdown");
        });
        let mut echoed = Vec::new();
        r.read_to_end(&mut echoed).await.expect("client read");
        writer.await.unwrap();
        echoed
    });
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data, "the echo differs from what was sent");
}

/// The tokio bridge (examples/tokio_bridge.rs): a corenet task spawns tokio-based work (a
/// tokio timer and `TcpStream`) onto a tokio runtime and awaits the `JoinHandle`, while its
/// own core serves the connection that work makes.
fn tokio_bridge_join_handle(backend: Backend) {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let tokio = tokio_rt.handle().clone();
    let rt = runtime(backend);
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).expect("bind");
    server.serve(|socket| async move {
        while let Ok(Some(chunk)) = socket.read().await {
            if socket.write(&chunk.to_ascii_uppercase()).await.is_err() {
                return;
            }
        }
        let _ = socket.shutdown().await;
    });
    let addr = server.local_addr();
    let replies = rt.block_on(0, move || async move {
        let mut replies = Vec::new();
        for i in 0..3 {
            let call = tokio.spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let mut stream = tokio::net::TcpStream::connect(addr).await?;
                stream.write_all(format!("call {i}").as_bytes()).await?;
                stream.shutdown().await?;
                let mut reply = String::new();
                stream.read_to_string(&mut reply).await?;
                Ok::<_, std::io::Error>(reply)
            });
            replies.push(call.await.expect("the tokio task").expect("the call"));
        }
        replies
    });
    assert_eq!(replies, ["CALL 0", "CALL 1", "CALL 2"]);
}

/// `uring_<name>` and `compat_<name>` tests for each `fn name(Backend)` listed, each under
/// a watchdog of the given seconds.
macro_rules! both_backends {
    ($($name:ident($secs:expr);)*) => {
        $(
            paste::paste! {
                #[test]
                fn [<uring_ $name>]() {
                    watchdog(concat!("uring_", stringify!($name)), Duration::from_secs($secs), || {
                        $name(Backend::IoUring)
                    });
                }

                #[test]
                fn [<compat_ $name>]() {
                    watchdog(concat!("compat_", stringify!($name)), Duration::from_secs($secs), || {
                        $name(Backend::Compat)
                    });
                }
            }
        )*
    };
}

both_backends! {
    hyper_client_keep_alive(60);
    hyper_both_ends_on_node_face_sockets(60);
    hyper_pipelined_requests(60);
    rustls_echo_both_ends(60);
    tokio_bridge_join_handle(60);
}
