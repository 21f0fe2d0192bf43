//! The Node face's endings and errors — writes after `end()` or close, end callbacks, errors
//! emitted once, and properties of closing sockets — ported from Node's own tests (catalogue
//! section C of `node-net-tests.md`; each test names the Node test it follows), on both
//! backends.

mod common;
mod node_support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::Backend;
use corenet::net::{self, Socket};
use node_support::{Done, Log, after, countdown, push, serve, with_log};

backend_tests! {
    write_after_peer_end_is_epipe_in_callback_then_error(secs(30));
    peer_fin_leaves_socket_writable_in_end(secs(30));
    write_on_closed_server_socket_calls_back_without_error_event(secs(30));
    end_callbacks_run_once_each(secs(30));
    destroy_in_error_handler_closes_once(secs(30));
    write_to_destroyed_peer_errors_once(secs(30));
    properties_and_setters_work_in_close(secs(30));
    remote_properties_while_connecting(secs(30));
}

// ---- helpers -----------------------------------------------------------------------------

/// A socket's events, as the tests log them: `'error'` with code and message, `'close'`.
fn log_error_and_close(socket: &Socket, log: &Log, who: &str, done: Option<Done>) {
    let (l, w) = (log.clone(), who.to_string());
    socket.on_error(move |_, e| push(&l, format!("{w} error {} {e}", e.code())));
    let (l, w) = (log.clone(), who.to_string());
    socket.on_close(move |_, had_error| {
        push(&l, format!("{w} close {had_error}"));
        if let Some(done) = &done {
            // Anything more (a second 'error' or 'close') would land in the log now.
            let done = done.clone();
            after(50, move || done());
        }
    });
}

// ---- tests ---------------------------------------------------------------------------------

/// test-net-write-after-end-nt.js (catalogue #31): the server `end()`s; the client `end()`s
/// in its connect callback. In the client's 'end' handler, `write('hello', cb)` returns
/// false; `cb` runs once, with EPIPE "This socket has been ended by the other party";
/// 'error' (the same) comes after the write returned, never from inside it; then
/// 'close'(true). The callback comes before 'error', as in Node (both are nextTicks there,
/// the callback's queued first).
fn write_after_peer_end_is_epipe_in_callback_then_error(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let (server, port) = serve(|s| s.end(None));
        let client = net::connect((port, "127.0.0.1"));
        let l = log.clone();
        client.on_connect(move |s| {
            let l = l.clone();
            s.on_end(move |s| {
                let cb_log = l.clone();
                let written = s.write_with(b"hello", move |_, err| {
                    let entry = match err {
                        Some(e) => format!("cb {} {e}", e.code()),
                        None => "cb without error".to_string(),
                    };
                    push(&cb_log, entry);
                });
                push(&l, format!("write returned {written}"));
            });
            s.end(None);
        });
        client.on_close(move |_, _| {
            server.close();
        });
        log_error_and_close(&client, &log, "client", Some(done));
    });
    // Node's order: the callback (nextTick), then 'error', then 'close'.
    assert_eq!(
        log,
        [
            "write returned false",
            "cb EPIPE This socket has been ended by the other party",
            "client error EPIPE This socket has been ended by the other party",
            "client close true",
        ]
    );
}

/// test-net-writable.js (catalogue #32): after the peer's FIN, a socket that has not called
/// `end()` itself is still `writable` inside 'end', and `write('hello world')` succeeds
/// (returns true; the server receives it). These are current Node's semantics, which
/// corenet follows; in v14 the socket had already ended itself there.
fn peer_fin_leaves_socket_writable_in_end(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        // The client may close before the server has read its FIN.
        let done = countdown(2, done);
        let (l, server_done) = (log.clone(), done.clone());
        let (server, port) = serve(move |s| {
            s.end(None);
            let got = Rc::new(RefCell::new(Vec::new()));
            let g = got.clone();
            s.on_data(move |_, d| g.borrow_mut().extend_from_slice(d));
            let (l, done) = (l.clone(), server_done.clone());
            s.on_end(move |_| {
                push(
                    &l,
                    format!("server got {}", String::from_utf8_lossy(&got.borrow())),
                );
                done();
            });
        });
        let client = net::connect((port, "127.0.0.1"));
        let l = log.clone();
        client.on_end(move |s| {
            let writable = s.writable();
            let written = s.write(b"hello world");
            push(
                &l,
                format!("client end writable {writable} write {written}"),
            );
        });
        let l = log.clone();
        client.on_close(move |_, had_error| {
            push(&l, format!("client close {had_error}"));
            server.close();
            done();
        });
    });
    let mut tail = log[1..].to_vec();
    tail.sort();
    assert_eq!(log[0], "client end writable true write true", "{log:?}");
    assert_eq!(
        tail,
        ["client close false", "server got hello world"],
        "{log:?}"
    );
}

/// test-net-write-after-close.js (catalogue #33): the client `end()`s; at the client's 'end'
/// the server socket has closed both ways, so `serverSocket.write('test', cb)` calls `cb`
/// with an error, and the server socket emits no 'error'.
fn write_on_closed_server_socket_calls_back_without_error_event(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let server_socket: Rc<RefCell<Option<Socket>>> = Rc::default();
        let (l, slot) = (log.clone(), server_socket.clone());
        let (server, port) = serve(move |s| {
            s.resume();
            let l = l.clone();
            s.on_error(move |_, e| push(&l, format!("server error {}", e.code())));
            *slot.borrow_mut() = Some(s.clone());
        });
        let client = net::connect((port, "127.0.0.1"));
        let l = log.clone();
        client.on_connect(move |s| {
            let (l, slot) = (l.clone(), server_socket.clone());
            s.on_end(move |_| {
                let socket = slot.borrow_mut().take().expect("the server socket");
                let l = l.clone();
                socket.write_with(b"test", move |_, err| {
                    push(&l, format!("cb error {}", err.is_some()));
                });
            });
            s.end(None);
        });
        client.on_close(move |_, _| {
            server.close();
            let done = done.clone();
            after(50, move || done());
        });
    });
    assert_eq!(log, ["cb error true"]);
}

/// test-net-socket-end-callback.js (catalogue #36): `end(cb)`, `end('foo', cb)` and
/// `end('foo', 'utf8', cb)`, each from a connect callback, each call `cb` exactly once
/// (3 in all), without error. Rust has no encoding argument: the third writes a `&str`'s
/// UTF-8 bytes ("føø", to differ from the second). The server receives each payload.
fn end_callbacks_run_once_each(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let l = log.clone();
        let (server, port) = serve(move |s| {
            let got = Rc::new(RefCell::new(Vec::new()));
            let g = got.clone();
            s.on_data(move |_, d| g.borrow_mut().extend_from_slice(d));
            let l = l.clone();
            s.on_end(move |_| {
                push(
                    &l,
                    format!("server got {:?}", String::from_utf8_lossy(&got.borrow())),
                )
            });
        });
        let done = countdown(
            3,
            Rc::new(move || {
                server.close();
                done();
            }),
        );
        for payload in [None, Some("foo"), Some("føø")] {
            let client = net::connect((port, "127.0.0.1"));
            let l = log.clone();
            client.on_connect(move |s| {
                let l = l.clone();
                s.end_with(payload.map(str::as_bytes), move |_, err| {
                    push(&l, format!("cb {payload:?} {:?}", err.map(|e| e.code())))
                });
            });
            let done = done.clone();
            client.on_close(move |_, _| {
                let done = done.clone();
                after(50, move || done());
            });
        }
    });
    let mut sorted = log.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "cb None None",
            "cb Some(\"foo\") None",
            "cb Some(\"føø\") None",
            "server got \"\"",
            "server got \"foo\"",
            "server got \"føø\"",
        ],
        "{log:?}"
    );
}

/// test-net-socket-destroy-twice.js (catalogue #37): connecting to a port whose server just
/// closed gives 'error' (ECONNREFUSED) exactly once; `destroy()` inside the error handler
/// does not bring a second 'close' (exactly one, with had_error true).
fn destroy_in_error_handler_closes_once(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let (server, port) = serve(|_| {});
        let conn = net::create_connection((port, "127.0.0.1"));
        let l = log.clone();
        conn.on_error(move |s, e| {
            push(&l, format!("error {}", e.code()));
            s.destroy(None);
        });
        let l = log.clone();
        conn.on_close(move |s, had_error| {
            push(&l, format!("close {had_error}"));
            // A destroy after 'close' is a no-op too.
            s.destroy(None);
            let done = done.clone();
            after(50, move || done());
        });
        server.close();
    });
    assert_eq!(log, ["error ECONNREFUSED", "close true"]);
}

/// test-net-error-twice.js (catalogue #38): once both ends are up, the client destroys itself
/// and the server at once writes 10 MiB to it. The server socket's 'error' (EPIPE or
/// ECONNRESET) fires exactly once, then 'close'(true).
fn write_to_destroyed_peer_errors_once(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let client_socket: Rc<RefCell<Option<Socket>>> = Rc::default();
        let server_socket: Rc<RefCell<Option<Socket>>> = Rc::default();
        let ready: Rc<dyn Fn()> = {
            let (c, s) = (client_socket.clone(), server_socket.clone());
            Rc::new(move || {
                let (Some(client), Some(server)) = (c.borrow().clone(), s.borrow().clone()) else {
                    return;
                };
                client.destroy(None);
                server.write(&vec![0x62; 10 * 1024 * 1024]);
            })
        };
        let (l, slot, r) = (log.clone(), server_socket.clone(), ready.clone());
        let (server, port) = serve(move |s| {
            let l2 = l.clone();
            s.on_error(move |_, e| {
                let code = e.code();
                let code = if code == "EPIPE" || code == "ECONNRESET" {
                    "EPIPE|ECONNRESET"
                } else {
                    code
                };
                push(&l2, format!("server error {code}"));
            });
            let (l2, done) = (l.clone(), done.clone());
            s.on_close(move |_, had_error| {
                push(&l2, format!("server close {had_error}"));
                let done = done.clone();
                after(50, move || done());
            });
            *slot.borrow_mut() = Some(s.clone());
            r();
        });
        let client = net::connect((port, "127.0.0.1"));
        client.on_connect(move |s| {
            *client_socket.borrow_mut() = Some(s.clone());
            ready();
        });
        client.on_close(move |_, _| {
            server.close();
        });
    });
    assert_eq!(log, ["server error EPIPE|ECONNRESET", "server close true"]);
}

/// test-net-after-close.js (catalogue #39): in 'close' (no handle any more) `setNoDelay()`,
/// `setKeepAlive()`, `bufferSize`, `pause()`, `resume()`, `address()`, `remoteAddress` and
/// `remotePort` do not fail: the setters return the socket, `bufferSize` is undefined
/// (None) as in Node, and the peer's address stays readable.
fn properties_and_setters_work_in_close(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let (server, port) = serve(|s| s.end(None));
        let c = net::create_connection((port, "127.0.0.1"));
        let l = log.clone();
        c.on_close(move |s, had_error| {
            let returns_self = [
                std::ptr::eq(s.set_no_delay(true), s),
                std::ptr::eq(s.set_keep_alive(true, Duration::ZERO), s),
                std::ptr::eq(s.pause(), s),
                std::ptr::eq(s.resume(), s),
            ];
            push(
                &l,
                format!("close {had_error} returns self {returns_self:?}"),
            );
            push(
                &l,
                format!(
                    "buffer_size {:?} writable_length {} paused {}",
                    s.buffer_size(),
                    s.writable_length(),
                    s.is_paused()
                ),
            );
            let _ = s.address();
            push(
                &l,
                format!(
                    "remote {:?} port matches {}",
                    s.remote_address().map(|a| a.ip().to_string()),
                    s.remote_port() == Some(port)
                ),
            );
            server.close();
            done();
        });
    });
    assert_eq!(
        log,
        [
            "close false returns self [true, true, true, true]".to_string(),
            "buffer_size None writable_length 0 paused false".to_string(),
            "remote Some(\"127.0.0.1\") port matches true".to_string(),
        ]
    );
}

/// test-net-during-close.js (catalogue #40): right after `server.close()`, with the client
/// still connecting, reading `remoteAddress`, `remoteFamily` and `remotePort` does not fail
/// (they are undefined: None); the client is destroyed at once and closes without 'error'.
fn remote_properties_while_connecting(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let (server, port) = serve(|s| s.end(None));
        let client = net::create_connection((port, "127.0.0.1"));
        server.close();
        push(
            &log,
            format!(
                "connecting {} remote {:?} {:?} {:?}",
                client.connecting(),
                client.remote_address(),
                client.remote_family(),
                client.remote_port()
            ),
        );
        client.destroy(None);
        log_error_and_close(&client, &log, "client", Some(done));
    });
    assert_eq!(
        log,
        [
            "connecting true remote None None None",
            "client close false"
        ]
    );
}
