//! Accept errors reach the server's 'error' event (Node: `syscall: 'accept'`, e.g. EMFILE),
//! the accept loop backs off instead of spinning, and the server recovers once descriptors
//! are free again. In its own test binary: it fills the process's descriptor table.
#![cfg(target_os = "linux")]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::Backend;
use corenet::net::{self, Address, ServerOptions, Socket};

backend_tests! {
    emfile_on_accept_is_an_error_event_and_the_server_recovers(secs(60));
}

/// Sets the soft RLIMIT_NOFILE (never above the hard limit); returns the previous soft limit.
fn set_nofile(soft: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer; plain getrlimit/setrlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let old = lim.rlim_cur;
        lim.rlim_cur = soft.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

/// Opens descriptors until the table is full (EMFILE); closing them frees it again.
/// (Lowering RLIMIT_NOFILE would not do: io_uring's accept reads the limit when the
/// multishot accept is armed.)
fn fill_descriptor_table() -> Vec<std::fs::File> {
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return held,
            Err(e) => panic!("filling the descriptor table: {e}"),
        }
        assert!(held.len() < 10_000, "no descriptor limit to hit");
    }
}

fn emfile_on_accept_is_an_error_event_and_the_server_recovers(backend: Backend) {
    let _serial = common::serial();
    // A modest limit, set before the runtime arms its accepts, keeps the filling quick.
    let old = set_nofile(4096);
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel();
    let (err_tx, err_rx) = mpsc::channel();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), || {
            |socket: &Socket| {
                socket.write(b"hi");
            }
        });
        server.on_error(move |_, e| {
            let _ = err_tx.send((e.code().to_string(), e.syscall().map(String::from)));
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(a)) = server.address() else {
            panic!()
        };
        tx.send(a).unwrap();
    });
    let addr = rx.recv().unwrap();
    // Client sockets made before the limit drops; connecting needs no new descriptor.
    let clients: Vec<socket2::Socket> = (0..8)
        .map(|_| socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap())
        .collect();
    let filler = fill_descriptor_table();
    for c in &clients {
        c.connect(&addr.into()).unwrap();
    }
    let got = err_rx.recv_timeout(Duration::from_secs(10));
    drop(filler);
    let (code, syscall) = got.expect("no 'error' for the failed accepts");
    assert_eq!(code, "EMFILE");
    assert_eq!(syscall.as_deref(), Some("accept"));
    // Descriptors are back: the waiting connections are accepted and served.
    for c in &clients {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2];
        let n = c.recv(&mut buf).expect("served after recovery");
        assert_eq!(n, 2);
    }
    drop(rt);
    set_nofile(old);
}
