//! Scale: many concurrent idle connections on one core, the server in a child process (its
//! memory measured from /proc), the clients here spread over several 127.0.0.x source
//! addresses; then every connection echoes once. Reports the server's resident memory per
//! idle connection (goal: under 2 KiB — an idle connection holds no buffer).
//!
//! 5,000 connections by default; `CORENET_SCALE_CONNS=20000` for the full run (capped a little
//! below the hard RLIMIT_NOFILE, which both processes need room under):
//! `CORENET_SCALE_CONNS=20000 cargo test -p corenet --test reliability_scale -- --nocapture`.
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

use common::backends::{builder, start};
use common::child::{self, Child};
use common::{raise_fd_limit, secs};
use corenet::{Backend, Server};

backend_tests! {
    idle_connections_on_one_core(secs(300));
}

/// Client connections per 127.0.0.x source address.
const PER_SOURCE: usize = 5000;

/// The child: a one-core echo server with the descriptor limit raised.
#[test]
fn child_entry() {
    let Some(role) = child::role() else { return };
    raise_fd_limit(1 << 20);
    let backend = if role.ends_with("uring") {
        Backend::IoUring
    } else {
        Backend::Compat
    };
    let rt = start(backend, builder(1));
    let server = Server::bind(&rt.handle(), "127.0.0.1:0".parse().unwrap()).unwrap();
    server.serve(|socket| async move {
        while let Ok(Some(c)) = socket.read().await {
            if socket.write_owned(c).await.is_err() {
                return;
            }
        }
    });
    child::say(format!("addr={}", server.local_addr()));
    child::wait_for_parent();
    drop(server);
    drop(rt);
}

fn wanted_connections() -> usize {
    std::env::var("CORENET_SCALE_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

/// A client bound to 127.0.0.`2 + i / PER_SOURCE` (port chosen at connect time).
fn connect_from(i: usize, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let one: libc::c_int = 1;
    // SAFETY: a valid int option value for IP_BIND_ADDRESS_NO_PORT on a socket we own; it
    // defers the port choice to connect(), so ports are unique per (source, destination).
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "IP_BIND_ADDRESS_NO_PORT");
    let source = Ipv4Addr::new(127, 0, 0, 2 + (i / PER_SOURCE) as u8);
    s.bind(&SocketAddrV4::new(source, 0).into()).unwrap();
    let mut tries = 0;
    loop {
        match s.connect(&to.into()) {
            Ok(()) => break,
            Err(e) if tries < 50 && common::is_transient_connect_error(&e) => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("connection {i} from {source}: {e}"),
        }
    }
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(secs(30))).unwrap();
    s
}

fn idle_connections_on_one_core(backend: Backend) {
    let _serial = common::serial();
    let tag = if backend == Backend::IoUring {
        "uring"
    } else {
        "compat"
    };
    let limit = raise_fd_limit(1 << 20) as usize;
    let wanted = wanted_connections();
    let n = wanted.min(limit.saturating_sub(100));
    if n < wanted {
        eprintln!(
            "{backend:?}: {wanted} connections asked for, {n} made: RLIMIT_NOFILE's hard limit \
             is {limit} here"
        );
    }
    let child = Child::spawn("child_entry", &format!("scale:{tag}"), &[]);
    let addr: SocketAddr = child.value("addr", secs(30)).parse().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let fds_before = child.open_fds();
    let rss_before = child.rss_kib();

    let mut clients: Vec<TcpStream> = (0..n).map(|i| connect_from(i, addr)).collect();
    assert!(
        child.wait_until(secs(60), |c| c.open_fds() >= fds_before + n),
        "{backend:?}: the server accepted {} of {n}",
        child.open_fds().saturating_sub(fds_before)
    );
    // Let the accepted connections settle into their idle state (receives armed).
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle = child.rss_kib();
    let per_conn = (rss_idle.saturating_sub(rss_before) as f64 * 1024.0) / n as f64;

    // All echo once: every write first, then every read.
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(&(i as u32).to_le_bytes()).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let mut b = [0u8; 4];
        c.read_exact(&mut b)
            .unwrap_or_else(|e| panic!("{backend:?}: connection {i} not echoed: {e}"));
        assert_eq!(u32::from_le_bytes(b), i as u32);
    }
    let rss_after_echo = child.rss_kib();
    eprintln!(
        "{backend:?}: {n} idle connections on one core: server RSS {rss_before} KiB -> \
         {rss_idle} KiB idle ({per_conn:.0} bytes per connection) -> {rss_after_echo} KiB after \
         all echoed once"
    );
    drop(clients);
    let status = child.finish(secs(60));
    assert!(status.success(), "{backend:?}: the server exited {status}");
    // The goal is 2 KiB; the assertion leaves room for allocator noise.
    assert!(
        per_conn < 4096.0,
        "{backend:?}: {per_conn:.0} bytes of server RSS per idle connection"
    );
}
