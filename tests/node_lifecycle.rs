//! Node's connection-lifecycle tests (catalogue section A: connecting, readyState, event
//! order, half-open, reconnect, end/destroy before connecting), ported to the Node face and
//! run on both backends. Each test names the Node test it follows.

mod common;
mod node_support;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::Backend;
use corenet::net::{self, ConnectArgs, ServerOptions, Socket, SocketOptions};
use node_support::{push, server_on_core0, std_echo, with_log};

backend_tests! {
    connecting_is_true_until_the_connect_callback(secs(30));
    connect_buffer_writes_while_opening(secs(30));
    ready_state_walk(secs(30));
    ready_without_a_callback(secs(30));
    end_then_close_when_the_peer_closes(secs(30));
    end_comes_before_close_with_a_lazy_reader(secs(30));
    not_destroyed_when_end_fires(secs(30));
    default_half_close_ends_then_finishes_then_closes(secs(30));
    allow_half_open_client_variants(secs(30));
    pingpong_over_tcp_ipv6_and_a_path(secs(60));
    reconnect_from_close_fifty_times(secs(60));
    destroy_during_lookup_is_silent(secs(30));
    end_right_after_create_connection_still_closes(secs(30));
    end_without_connect_calls_back(secs(30));
    destroy_without_connect_closes_once(secs(30));
}

/// test-net-socket-connecting.js (catalogue #1): `connecting` is true right after `connect`
/// returns and false inside the connect callback.
fn connecting_is_true_until_the_connect_callback(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        push(&log, format!("after connect: {}", s.connecting()));
        s.once_connect(move |s| {
            push(&log, format!("in callback: {}", s.connecting()));
            s.destroy(None);
            done();
        });
    });
    assert_eq!(log, ["after connect: true", "in callback: false"]);
}

/// test-net-connect-buffer.js (catalogue #2): with a high-water mark of 0, a write while
/// connecting returns false and counts its UTF-8 bytes at once; `end(data)` keeps the
/// socket "opening"; the write callback runs after connect; the server gets every byte;
/// after 'close' the socket is pending again.
fn connect_buffer_writes_while_opening(backend: Backend) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let addr = server_on_core0(&rt, ServerOptions::default(), move |s| {
        let got = Rc::new(std::cell::RefCell::new(Vec::new()));
        let g = got.clone();
        s.on_data(move |_, d| g.borrow_mut().extend_from_slice(d));
        let tx = tx.clone();
        s.on_end(move |_| {
            let _ = tx.send(got.borrow().clone());
        });
    });
    let log = with_log(&rt, move |log, done| {
        let s = Socket::new(SocketOptions::default().high_water_mark(0));
        push(&log, format!("new: pending={}", s.pending()));
        s.connect((addr.port(), "127.0.0.1"));
        push(
            &log,
            format!(
                "connect: pending={} connecting={} {}",
                s.pending(),
                s.connecting(),
                s.ready_state()
            ),
        );
        let l = log.clone();
        let ret = s.write_with("L'État, c'est ".as_bytes(), move |s, err| {
            push(
                &l,
                format!(
                    "cb: err={} written={} pending={}",
                    err.is_some(),
                    s.bytes_written(),
                    s.pending()
                ),
            );
        });
        push(&log, format!("write={ret} written={}", s.bytes_written()));
        s.end(Some(b"moi"));
        push(&log, format!("after end: {}", s.ready_state()));
        s.on_close(move |s, _| {
            push(&log, format!("close: pending={}", s.pending()));
            done();
        });
    });
    assert_eq!(
        log,
        [
            "new: pending=true",
            "connect: pending=true connecting=true opening",
            "write=false written=15",
            "after end: opening",
            "cb: err=false written=18 pending=false",
            "close: pending=true",
        ]
    );
    let got = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), "L'État, c'est moi");
}

/// test-net-socket-readyState.js (catalogue #3): a new socket is "closed" (neither readable
/// nor writable); "opening" after `connect`; "open" in the connect callback; "readOnly"
/// right after `end()`; "closed" in 'close'.
fn ready_state_walk(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let s = Socket::new(SocketOptions::default());
        let state =
            |s: &Socket| format!("{} r={} w={}", s.ready_state(), s.readable(), s.writable());
        push(&log, state(&s));
        s.connect((addr.port(), "127.0.0.1"));
        push(&log, s.ready_state());
        let l = log.clone();
        s.on_connect(move |s| {
            push(&l, state(s));
            s.end(None);
            push(&l, format!("{} w={}", s.ready_state(), s.writable()));
        });
        s.on_close(move |s, _| {
            push(&log, s.ready_state());
            done();
        });
    });
    assert_eq!(
        log,
        [
            "closed r=false w=false",
            "opening",
            "open r=true w=true",
            "readOnly w=false",
            "closed"
        ]
    );
}

/// test-net-socket-ready-without-cb.js (catalogue #4): `new Socket().connect(address)`
/// without a callback emits 'ready'.
fn ready_without_a_callback(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let s = Socket::new(SocketOptions::default());
        s.connect((addr.port(), "127.0.0.1"));
        s.on_ready(move |s| {
            push(&log, "ready");
            s.destroy(None);
            done();
        });
    });
    assert_eq!(log, ["ready"]);
}

/// test-net-end-close.js (catalogue #5): when the first read is end-of-stream, the events
/// are exactly 'end' then 'close'.
fn end_then_close_when_the_peer_closes(backend: Backend) {
    let rt = start(backend, builder(1));
    // A peer that closes every connection at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            drop(s);
        }
    });
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((port, "127.0.0.1"));
        let l = log.clone();
        s.on_data(move |_, _| push(&l, "data"));
        let l = log.clone();
        s.on_end(move |_| push(&l, "end"));
        let l = log.clone();
        s.on_error(move |_, e| push(&l, format!("error {}", e.code())));
        s.on_close(move |_, _| {
            push(&log, "close");
            done();
        });
    });
    assert_eq!(log, ["end", "close"]);
}

/// test-net-socket-close-after-end.js (catalogue #6): the server reads lazily (resumes
/// after 100 ms) while both sides `end('foo')`: its 'end' is emitted before its 'close'.
fn end_comes_before_close_with_a_lazy_reader(backend: Backend) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let options = ServerOptions::default().pause_on_connect(true);
    let addr = server_on_core0(&rt, options, move |s| {
        let log: node_support::Log = Default::default();
        s.end(Some(b"foo"));
        let l = log.clone();
        s.on_data(move |_, d| push(&l, format!("data {}", String::from_utf8_lossy(d))));
        let l = log.clone();
        s.on_end(move |_| push(&l, "end"));
        let tx = tx.clone();
        s.on_close(move |_, _| {
            push(&log, "close");
            let _ = tx.send(log.borrow().clone());
        });
        let s = s.clone();
        corenet::spawn_local(async move {
            corenet::sleep(Duration::from_millis(100)).await;
            s.resume();
        })
        .detach();
    });
    let client = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        s.end(Some(b"foo"));
        let l = log.clone();
        s.on_data(move |_, d| push(&l, format!("data {}", String::from_utf8_lossy(d))));
        s.on_close(move |_, _| {
            push(&log, "close");
            done();
        });
    });
    assert_eq!(client, ["data foo", "close"]);
    let server = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(server, ["data foo", "end", "close"]);
}

/// test-net-end-destroyed.js (catalogue #7): the client ends right after 'connect'; when
/// its 'end' comes (the server ended in turn), it is not destroyed yet.
fn not_destroyed_when_end_fires(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = server_on_core0(&rt, ServerOptions::default(), |_| {});
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        s.on_connect(|s| s.end(None));
        let l = log.clone();
        s.on_end(move |s| push(&l, format!("end destroyed={}", s.destroyed())));
        s.on_close(move |s, _| {
            push(&log, format!("close destroyed={}", s.destroyed()));
            done();
        });
    });
    assert_eq!(log, ["end destroyed=false", "close destroyed=true"]);
}

/// test-net-allow-half-open.js (catalogue #8): `allow_half_open` defaults to false; the
/// server ends with 1024 bytes; on the client 'end' fires, a tick later it is still not
/// destroyed, 'finish' fires before destruction, and 'close' fires once.
fn default_half_close_ends_then_finishes_then_closes(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = server_on_core0(&rt, ServerOptions::default(), |s| {
        s.end(Some(&[0u8; 1024]));
    });
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        push(&log, format!("allow_half_open={}", s.allow_half_open()));
        s.resume();
        let l = log.clone();
        s.on_end(move |s| {
            push(&l, "end");
            let (s, l) = (s.clone(), l.clone());
            corenet::spawn_local(async move {
                push(&l, format!("next tick destroyed={}", s.destroyed()));
            })
            .detach();
        });
        let l = log.clone();
        s.on_finish(move |s| push(&l, format!("finish destroyed={}", s.destroyed())));
        let closes = Rc::new(Cell::new(0));
        s.on_close(move |_, _| {
            closes.set(closes.get() + 1);
            push(&log, format!("close #{}", closes.get()));
            done();
        });
    });
    assert_eq!(log[0], "allow_half_open=false");
    assert_eq!(log[1], "end");
    assert!(
        log.contains(&"next tick destroyed=false".to_string()),
        "{log:?}"
    );
    assert!(
        log.contains(&"finish destroyed=false".to_string()),
        "{log:?}"
    );
    assert_eq!(log.last().unwrap(), "close #1");
    assert_eq!(log.len(), 5, "{log:?}");
}

/// test-net-connect-options-allowhalfopen.js (catalogue #9): with `allowHalfOpen` on both
/// sides and a server that ends at once, through `connect`, `create_connection` and
/// `Socket::new(..).connect` (with and without a connect listener): on the client's 'end'
/// it is not readable but writable, a write returns true, then it ends; the server sees
/// every client's data and exactly one 'end' per socket.
fn allow_half_open_client_variants(backend: Backend) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<String>();
    let options = ServerOptions::default().allow_half_open(true);
    let addr = server_on_core0(&rt, options, move |s| {
        s.end(None);
        let got = Rc::new(std::cell::RefCell::new(String::new()));
        let g = got.clone();
        s.on_data(move |_, d| g.borrow_mut().push_str(&String::from_utf8_lossy(d)));
        let ends = Rc::new(Cell::new(0));
        let tx = tx.clone();
        s.on_end(move |_| {
            ends.set(ends.get() + 1);
            let _ = tx.send(format!("{} ends={}", got.borrow(), ends.get()));
        });
    });
    let log = with_log(&rt, move |log, done| {
        let done = Rc::new(done);
        let closed = Rc::new(Cell::new(0));
        for i in 0..6 {
            let args = ConnectArgs::port(addr.port())
                .host("127.0.0.1")
                .allow_half_open(true);
            let s = match i {
                0 | 1 => net::connect(args),
                2 | 3 => net::create_connection(args),
                _ => {
                    let s = Socket::new(SocketOptions::default().allow_half_open(true));
                    s.connect(args);
                    s
                }
            };
            if i % 2 == 0 {
                let l = log.clone();
                s.on_connect(move |_| push(&l, format!("{i} connect")));
            }
            let l = log.clone();
            s.on_end(move |s| {
                let wrote = s.write(i.to_string().as_bytes());
                push(
                    &l,
                    format!(
                        "{i} end readable={} writable={} write={wrote}",
                        s.readable(),
                        s.writable()
                    ),
                );
                s.end(None);
            });
            let (closed, done) = (closed.clone(), done.clone());
            s.on_close(move |_, _| {
                closed.set(closed.get() + 1);
                if closed.get() == 6 {
                    done();
                }
            });
        }
    });
    for i in 0..6 {
        assert!(
            log.contains(&format!("{i} end readable=false writable=true write=true")),
            "{log:?}"
        );
        if i % 2 == 0 {
            assert!(log.contains(&format!("{i} connect")), "{log:?}");
        }
    }
    let mut server: Vec<String> = (0..6)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    server.sort();
    assert_eq!(
        server,
        (0..6).map(|i| format!("{i} ends=1")).collect::<Vec<_>>()
    );
}

/// test-net-pingpong.js (catalogue #10): over TCP on 127.0.0.1, over ::1 and over a Unix
/// path, 1000 PING/PONG round trips and a final PING with `end`. The server side (half-open,
/// no-delay, utf8) sees 1001 PINGs, each while readable and writable with at most 4 bytes
/// queued, and 1001 PONG write callbacks; on its 'end' it is writable but not readable; the
/// client is not writable but still readable after its final `end`.
fn pingpong_over_tcp_ipv6_and_a_path(backend: Backend) {
    const N: usize = 1000;
    let rt = start(backend, builder(1));
    for target in ["127.0.0.1", "::1", "path"] {
        let path = node_support::temp_sock("pingpong");
        let (tx, rx) = mpsc::channel::<String>();
        let listen_path = path.clone();
        let server_addr = node_support::on_core0(&rt, move |ready| {
            let server = net::create_server(
                ServerOptions::default().allow_half_open(true),
                move || {
                    let tx = tx.clone();
                    move |s: &Socket| {
                        s.set_no_delay(true);
                        s.set_encoding(Some(net::Encoding::Utf8));
                        let pings = Rc::new(Cell::new(0usize));
                        let pongs = Rc::new(Cell::new(0usize));
                        let bad = Rc::new(Cell::new(0usize));
                        let (p, q, b) = (pings.clone(), pongs.clone(), bad.clone());
                        s.on_text(move |s, text| {
                            for _ in text.matches("PING") {
                                p.set(p.get() + 1);
                                if !(s.readable() && s.writable() && s.buffer_size().unwrap() <= 4)
                                {
                                    b.set(b.get() + 1);
                                }
                                let q = q.clone();
                                s.write_with(b"PONG", move |_, err| {
                                    assert!(err.is_none());
                                    q.set(q.get() + 1);
                                });
                            }
                        });
                        let tx2 = tx.clone();
                        s.on_end(move |s| {
                            let _ = tx2.send(format!(
                                "end writable={} readable={}",
                                s.writable(),
                                s.readable()
                            ));
                            s.end(None);
                        });
                        let tx = tx.clone();
                        s.on_close(move |s, had_error| {
                        let _ = tx.send(format!(
                            "close pings={} pongs={} bad={} had_error={had_error} writable={} readable={}",
                            pings.get(),
                            pongs.get(),
                            bad.get(),
                            s.writable(),
                            s.readable()
                        ));
                    });
                    }
                },
            );
            if target == "path" {
                server.listen(net::ListenArgs::path(&listen_path)).unwrap();
            } else {
                server.listen((0, target)).unwrap();
            }
            let _ = ready.send(server.address());
        });
        let log = with_log(&rt, move |log, done| {
            let args = match server_addr {
                Some(net::Address::Tcp(a)) => ConnectArgs::port(a.port()).host(a.ip().to_string()),
                _ => ConnectArgs::path(&path),
            };
            let s = net::connect(args);
            s.set_encoding(Some(net::Encoding::Utf8));
            s.on_connect(|s| {
                s.write(b"PING");
            });
            let count = Rc::new(Cell::new(0usize));
            let l = log.clone();
            s.on_text(move |s, text| {
                for _ in text.matches("PONG") {
                    count.set(count.get() + 1);
                    if count.get() < N {
                        s.write(b"PING");
                    } else if count.get() == N {
                        s.write(b"PING");
                        s.end(None);
                        push(
                            &l,
                            format!(
                                "after end: writable={} readable={}",
                                s.writable(),
                                s.readable()
                            ),
                        );
                    }
                }
            });
            let l = log.clone();
            s.on_error(move |_, e| push(&l, format!("error {e}")));
            s.on_close(move |_, had_error| {
                push(&log, format!("close had_error={had_error}"));
                done();
            });
        });
        assert_eq!(
            log,
            [
                "after end: writable=false readable=true",
                "close had_error=false"
            ],
            "{target}"
        );
        let server: Vec<String> = (0..2)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(
            server,
            [
                "end writable=true readable=false".to_string(),
                format!(
                    "close pings={} pongs={} bad=0 had_error=false writable=false readable=false",
                    N + 1,
                    N + 1
                )
            ],
            "{target}"
        );
    }
}

/// test-net-reconnect.js (catalogue #11): the client reconnects from its own 'close' 50
/// times; no 'close' has an error; the server counts 51 connections, 51 messages and 51
/// ends, and the client 51 closes.
fn reconnect_from_close_fifty_times(backend: Backend) {
    const N: usize = 50;
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<String>();
    let addr = server_on_core0(&rt, ServerOptions::default(), move |s| {
        s.write(b"hello\r\n");
        let tx = tx.clone();
        s.on_end(move |s| {
            let _ = tx.send("end".into());
            s.end(None);
        });
        s.on_close(|_, had_error| assert!(!had_error));
    });
    let log = with_log(&rt, move |log, done| {
        let s = Socket::new(SocketOptions::default());
        let closes = Rc::new(Cell::new(0usize));
        let received = Rc::new(Cell::new(0usize));
        let r = received.clone();
        s.on_data(move |s, d| {
            assert_eq!(&d[..], b"hello\r\n");
            r.set(r.get() + 1);
            s.end(None);
        });
        s.on_close(move |s, had_error| {
            closes.set(closes.get() + 1);
            if had_error {
                push(&log, "had_error");
            }
            if closes.get() <= N {
                s.connect((addr.port(), "127.0.0.1"));
            } else {
                push(
                    &log,
                    format!("closes={} received={}", closes.get(), received.get()),
                );
                done();
            }
        });
        s.connect((addr.port(), "127.0.0.1"));
    });
    assert_eq!(log, [format!("closes={} received={}", N + 1, N + 1)]);
    for _ in 0..=N {
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "end");
    }
}

/// test-net-connect-after-destroy.js (catalogue #12): `destroy()` right after connecting to
/// a host name (the lookup still pending): no crash, and nothing but 'close' follows —
/// no 'lookup', no 'error', no 'connect'.
fn destroy_during_lookup_is_silent(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let s = net::connect(ConnectArgs::port(80).host("corenet-test.invalid"));
        let l = log.clone();
        s.on_lookup(move |_, _| push(&l, "lookup"));
        let l = log.clone();
        s.on_error(move |_, _| push(&l, "error"));
        let l = log.clone();
        s.on_connect(move |_| push(&l, "connect"));
        let l = log.clone();
        s.on_close(move |_, _| {
            push(&l, "close");
            // The last expected event: from here, a window for the lookup to finish and be
            // ignored (no event may follow).
            let done = done.clone();
            corenet::spawn_local(async move {
                corenet::sleep(Duration::from_millis(300)).await;
                done();
            })
            .detach();
        });
        s.destroy(None);
        let _ = log;
    });
    assert_eq!(log, ["close"]);
}

/// test-net-socket-end-before-connect.js (catalogue #13): `end()` right after
/// `create_connection` still ends in 'close'.
fn end_right_after_create_connection_still_closes(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let s = net::create_connection((addr.port(), "127.0.0.1"));
        s.end(None);
        s.on_close(move |_, had_error| {
            push(&log, format!("close {had_error}"));
            done();
        });
    });
    assert_eq!(log, ["close false"]);
}

/// test-net-end-without-connect.js (catalogue #14): `new Socket().end(cb)`: the callback
/// runs and the socket is no longer writable.
fn end_without_connect_calls_back(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let s = Socket::new(SocketOptions::default());
        let l = log.clone();
        s.end_with(None, move |s, err| {
            push(
                &l,
                format!("cb err={} writable={}", err.is_some(), s.writable()),
            );
        });
        push(&log, format!("writable={}", s.writable()));
        s.on_close(move |_, _| {
            push(&log, "close");
            done();
        });
    });
    assert_eq!(
        log,
        ["writable=false", "cb err=false writable=false", "close"]
    );
}

/// test-net-connect-destroy.js (catalogue #15): `new Socket().destroy()` emits 'close'
/// exactly once.
fn destroy_without_connect_closes_once(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let s = Socket::new(SocketOptions::default());
        let l = log.clone();
        s.on_close(move |_, had_error| {
            push(&l, format!("close {had_error}"));
            // The last expected event: a window from here for a second 'close', which must
            // not come.
            let done = done.clone();
            corenet::spawn_local(async move {
                corenet::sleep(Duration::from_millis(100)).await;
                done();
            })
            .detach();
        });
        s.destroy(None);
        s.destroy(None);
        let _ = log;
    });
    assert_eq!(log, ["close false"]);
}
