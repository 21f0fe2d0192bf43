//! A socket before its connection is up: Node's idle timeout counts while connecting
//! (test-net-connect-options-timeout's rule: `setTimeout` right after `connect` bounds the
//! connect), and `setNoDelay`/`setKeepAlive` called before `'connect'` are applied when the
//! connection comes up. Both backends, loopback only.

mod common;
mod node_support;

use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::backends::{builder, start};
use common::{millis, secs};
use corenet::Backend;
use corenet::net::{self, Socket};
use node_support::{push, std_echo, with_log};
use socket2::{Domain, Socket as RawSocket, Type};

backend_tests! {
    timeout_while_connecting_does_not_destroy(secs(30));
    timeout_zero_while_connecting_disables(secs(30));
    no_delay_and_keep_alive_before_connect_apply_on_connect(secs(30));
}

/// A loopback listener whose accept queue is full, so that the next SYN goes unanswered
/// and a connect to it hangs: `listen(1)` takes two connections that are never accepted
/// (Linux queues backlog + 1); further connects are filled until one times out, which
/// proves the queue drops SYNs. Keep both values alive for as long as the connect must hang.
fn full_listener() -> (RawSocket, Vec<TcpStream>, SocketAddr) {
    let listener = RawSocket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&any.into()).unwrap();
    listener.listen(1).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut held = Vec::new();
    for _ in 0..16 {
        match TcpStream::connect_timeout(&addr, millis(300)) {
            Ok(s) => held.push(s),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                return (listener, held, addr);
            }
            Err(e) => panic!("filling the accept queue: {e}"),
        }
    }
    panic!("the accept queue never filled: {} connections", held.len());
}

/// Node: a socket counts as idle while it connects, so `setTimeout(300)` right after
/// `connect` to a peer that never answers the SYN emits `'timeout'` (test-net-connect-
/// options-timeout, test-net-socket-timeout). `'timeout'` does not destroy it: it is still
/// connecting, a second `setTimeout` fires again; the handler's `destroy()` gives `'close'`.
fn timeout_while_connecting_does_not_destroy(backend: Backend) {
    let rt = start(backend, builder(1));
    let (_listener, _held, addr) = full_listener();
    let log = with_log(&rt, move |log, done| {
        let started = Instant::now();
        let s = net::connect((addr.port(), "127.0.0.1"));
        s.set_timeout(millis(300));
        let l = log.clone();
        s.on_connect(move |_| push(&l, "connect"));
        let l = log.clone();
        s.on_error(move |_, e| push(&l, format!("error {e}")));
        let l = log.clone();
        let count = Rc::new(Cell::new(0));
        s.on_timeout(move |s| {
            count.set(count.get() + 1);
            let waited = started.elapsed();
            push(
                &l,
                format!(
                    "timeout {} in time {} connecting {} destroyed {}",
                    count.get(),
                    waited >= millis(300 * count.get()) && waited < secs(5),
                    s.connecting(),
                    s.destroyed()
                ),
            );
            if count.get() == 1 {
                // Not destroyed by 'timeout': it re-arms and fires again.
                s.set_timeout(millis(300));
            } else {
                s.destroy(None);
            }
        });
        let l = log.clone();
        s.on_close(move |s, had_error| {
            push(&l, format!("close {had_error} destroyed {}", s.destroyed()));
            done();
        });
    });
    assert_eq!(
        log,
        [
            "timeout 1 in time true connecting true destroyed false",
            "timeout 2 in time true connecting true destroyed false",
            "close false destroyed true",
        ]
    );
}

/// Node: `setTimeout(0)` turns the timer off, also while connecting: 300 ms set then 0
/// gives no `'timeout'` within 1 s of a connect that hangs; set again, it fires.
fn timeout_zero_while_connecting_disables(backend: Backend) {
    let rt = start(backend, builder(1));
    let (_listener, _held, addr) = full_listener();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        s.set_timeout(millis(300));
        s.set_timeout(Duration::ZERO);
        let l = log.clone();
        s.on_timeout(move |s| {
            push(&l, format!("timeout connecting {}", s.connecting()));
            s.destroy(None);
        });
        let l = log.clone();
        s.on_close(move |_, had_error| {
            push(&l, format!("close {had_error}"));
            done();
        });
        let l = log.clone();
        corenet::spawn_local(async move {
            corenet::sleep(secs(1)).await;
            push(
                &l,
                format!(
                    "1 s later: timeout {:?} connecting {}",
                    s.timeout(),
                    s.connecting()
                ),
            );
            s.set_timeout(millis(300));
        })
        .detach();
    });
    assert_eq!(
        log,
        [
            "1 s later: timeout None connecting true",
            "timeout connecting true",
            "close false",
        ]
    );
}

/// Node applies `setNoDelay` and `setKeepAlive` made before `'connect'` when the connection
/// comes up: in `'connect'` the kernel reports TCP_NODELAY and SO_KEEPALIVE on; a socket
/// that set neither reports both off (the system's defaults).
fn no_delay_and_keep_alive_before_connect_apply_on_connect(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let remaining = Rc::new(Cell::new(2));
        for set in [true, false] {
            let s = net::connect((addr.port(), "127.0.0.1"));
            if set {
                s.set_no_delay(true);
                s.set_keep_alive(true, secs(10));
            }
            let l = log.clone();
            s.on_connect(move |s: &Socket| {
                push(
                    &l,
                    format!(
                        "set {set}: no_delay {:?} keep_alive {:?}",
                        s.no_delay(),
                        s.keep_alive()
                    ),
                );
                s.destroy(None);
            });
            let remaining = remaining.clone();
            let done = done.clone();
            s.on_close(move |_, _| {
                remaining.set(remaining.get() - 1);
                if remaining.get() == 0 {
                    done();
                }
            });
        }
    });
    let mut log = log;
    log.sort();
    assert_eq!(
        log,
        [
            "set false: no_delay Some(false) keep_alive Some(false)",
            "set true: no_delay Some(true) keep_alive Some(true)",
        ]
    );
}
