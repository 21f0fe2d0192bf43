//! The Node face's client sockets and socket events, ported from Node's tests (each names
//! the test it follows), on both backends.

mod common;
mod node_support;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::Backend;
use corenet::net::{self, ConnectArgs, Encoding};
use node_support::{std_echo, with_log};

backend_tests! {
    client_event_order_on_success(secs(30));
    connect_refused_is_error_then_close(secs(30));
    lookup_failure_is_lookup_error_close(secs(30));
    writes_before_connect_are_sent_on_connect(secs(30));
    set_timeout_fires_without_closing_and_zero_disables(secs(30));
    ready_state_and_addresses(secs(30));
    destroy_with_error_is_error_then_close_true(secs(30));
    set_encoding_keeps_split_characters_whole(secs(30));
    write_callbacks_run_in_order_once_sent(secs(30));
    onread_reuses_the_callers_buffer(secs(30));
    reset_and_destroy_sends_rst(secs(30));
}

// Unix domain sockets (Windows' IPC is named pipes).
#[cfg(unix)]
backend_tests! {
    connect_to_unix_path(secs(30));
}

/// test-net-connect-options / sequences in node-net-api.md §5: connect, ready, data, end,
/// finish, close(false).
fn client_event_order_on_success(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        let l = log.clone();
        s.on_connect(move |s| {
            l.borrow_mut()
                .push(format!("connect connecting={}", s.connecting()));
            s.write(b"ping");
        });
        let l = log.clone();
        s.on_ready(move |_| l.borrow_mut().push("ready".into()));
        let l = log.clone();
        s.on_data(move |s, d| {
            l.borrow_mut()
                .push(format!("data {}", String::from_utf8_lossy(d)));
            s.end(None);
        });
        let l = log.clone();
        s.on_end(move |_| l.borrow_mut().push("end".into()));
        let l = log.clone();
        s.on_finish(move |_| l.borrow_mut().push("finish".into()));
        let l = log;
        s.on_close(move |_, had_error| {
            l.borrow_mut().push(format!("close {had_error}"));
            done();
        });
    });
    let mut expect: Vec<String> = ["connect connecting=false", "ready", "data ping"]
        .map(String::from)
        .to_vec();
    // 'end' and 'finish' may come in either order (Node: §5).
    let tail: Vec<String> = log[3..5].to_vec();
    assert!(
        tail.contains(&"end".to_string()) && tail.contains(&"finish".to_string()),
        "{log:?}"
    );
    expect.extend(tail);
    expect.push("close false".into());
    assert_eq!(log, expect);
}

/// test-net-connect-immediate-finish / §5 "Client refused": error(ECONNREFUSED) then
/// close(true), never 'connect'.
fn connect_refused_is_error_then_close(backend: Backend) {
    let rt = start(backend, builder(1));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((port, "127.0.0.1"));
        let l = log.clone();
        s.on_connect(move |_| l.borrow_mut().push("connect".into()));
        let l = log.clone();
        s.on_error(move |_, e| l.borrow_mut().push(format!("error {} {}", e.code(), e)));
        let l = log;
        s.on_close(move |_, had_error| {
            l.borrow_mut().push(format!("close {had_error}"));
            done();
        });
    });
    assert_eq!(
        log,
        [
            format!("error ECONNREFUSED connect ECONNREFUSED 127.0.0.1:{port}"),
            "close true".into()
        ]
    );
}

/// test-net-dns-error / §5 "DNS failure": lookup(err), error(ENOTFOUND), close(true).
fn lookup_failure_is_lookup_error_close(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let s = net::connect(ConnectArgs::port(80).host("no-such-host.invalid"));
        let l = log.clone();
        s.on_lookup(move |_, lk| {
            l.borrow_mut()
                .push(format!("lookup {} {}", lk.error.is_some(), lk.host))
        });
        let l = log.clone();
        s.on_error(move |_, e| {
            l.borrow_mut()
                .push(format!("error {} {:?}", e.code(), e.syscall()))
        });
        let l = log;
        s.on_close(move |_, had_error| {
            l.borrow_mut().push(format!("close {had_error}"));
            done();
        });
    });
    assert_eq!(
        log,
        [
            "lookup true no-such-host.invalid",
            "error ENOTFOUND Some(\"getaddrinfo\")",
            "close true"
        ]
    );
}

/// test-net-write-connect-write / §4.4: writes while connecting are queued and sent.
fn writes_before_connect_are_sent_on_connect(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        assert!(s.write(b"first "));
        assert_eq!(s.writable_length(), 6);
        s.end(Some(b"second"));
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = got.clone();
        s.on_data(move |_, d| g.borrow_mut().extend_from_slice(d));
        let l = log;
        s.on_close(move |s, _| {
            l.borrow_mut()
                .push(String::from_utf8_lossy(&got.borrow()).into_owned());
            l.borrow_mut()
                .push(format!("written {}", s.bytes_written()));
            done();
        });
    });
    assert_eq!(log, ["first second", "written 12"]);
}

/// test-net-settimeout / test-net-socket-timeout: 'timeout' after idle, the socket stays
/// open; activity re-arms it; set_timeout(0) disables it.
fn set_timeout_fires_without_closing_and_zero_disables(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        s.set_timeout(Duration::from_millis(100));
        let count = Rc::new(RefCell::new(0));
        let l = log.clone();
        let c = count.clone();
        s.on_timeout(move |s| {
            *c.borrow_mut() += 1;
            l.borrow_mut().push(format!(
                "timeout {} destroyed={}",
                c.borrow(),
                s.destroyed()
            ));
            if *c.borrow() == 1 {
                // Activity re-arms it.
                s.write(b"x");
            } else {
                s.set_timeout(Duration::ZERO);
                let s = s.clone();
                let l = l.clone();
                let c = c.clone();
                corenet::spawn_local(async move {
                    corenet::sleep(Duration::from_millis(300)).await;
                    l.borrow_mut()
                        .push(format!("after disable: {}", c.borrow()));
                    s.destroy(None);
                })
                .detach();
            }
        });
        s.on_close(move |_, _| done());
    });
    assert_eq!(
        log,
        [
            "timeout 1 destroyed=false",
            "timeout 2 destroyed=false",
            "after disable: 2"
        ]
    );
}

/// test-net-remote-address-port, test-net-socket-ready-state (readyState transitions).
fn ready_state_and_addresses(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        log.borrow_mut()
            .push(format!("{} pending={}", s.ready_state(), s.pending()));
        let l = log.clone();
        s.on_connect(move |s| {
            l.borrow_mut().push(format!(
                "{} {:?} {:?} {}",
                s.ready_state(),
                s.remote_family(),
                s.remote_port(),
                s.local_port().is_some()
            ));
            s.end(None);
            l.borrow_mut().push(s.ready_state().into());
        });
        let l = log;
        s.on_close(move |s, _| {
            l.borrow_mut()
                .push(format!("{} {:?}", s.ready_state(), s.remote_port()));
            done();
        });
    });
    assert_eq!(
        log,
        [
            "opening pending=true".to_string(),
            format!("open Some(\"IPv4\") Some({}) true", addr.port()),
            "readOnly".into(),
            format!("closed Some({})", addr.port()),
        ]
    );
}

/// test-net-pipe-connect-errors (success half): connect to a Unix socket path.
#[cfg(unix)]
fn connect_to_unix_path(backend: Backend) {
    let rt = start(backend, builder(1));
    let path = std::env::temp_dir().join(format!(
        "corenet-node-client-{}-{backend:?}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut b = [0u8; 5];
        s.read_exact(&mut b).unwrap();
        s.write_all(&b).unwrap();
    });
    let p = path.clone();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect(ConnectArgs::path(&p));
        s.on_connect(|s| {
            s.write(b"hello");
        });
        let l = log.clone();
        s.on_data(move |_, d| l.borrow_mut().push(String::from_utf8_lossy(d).into_owned()));
        s.on_close(move |_, _| done());
    });
    assert_eq!(log, ["hello"]);
    let _ = std::fs::remove_file(&path);
}

/// test-net-socket-destroy-send / §4.4 destroy(err): 'error' then 'close'(true).
fn destroy_with_error_is_error_then_close_true(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        s.on_connect(|s| s.destroy(Some(corenet::Error::socket_closed())));
        let l = log.clone();
        s.on_error(move |_, e| l.borrow_mut().push(format!("error {}", e.code())));
        let l = log;
        s.on_close(move |s, had_error| {
            l.borrow_mut()
                .push(format!("close {had_error} destroyed={}", s.destroyed()));
            done();
        });
    });
    assert_eq!(
        log,
        ["error ERR_SOCKET_CLOSED", "close true destroyed=true"]
    );
}

/// test-net-socket-setencoding / StringDecoder: characters split across reads are decoded
/// whole (utf8), and base64 comes in whole groups.
fn set_encoding_keeps_split_characters_whole(backend: Backend) {
    let rt = start(backend, builder(1));
    let text = "héllo € 𝄞!";
    for (encoding, expected) in [
        (Encoding::Utf8, text.to_string()),
        (Encoding::Base64, "aMOpbGxvIOKCrCDwnYSeIQ==".to_string()),
    ] {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_nodelay(true).unwrap();
            // One byte per segment: every multi-byte character is split across reads.
            for b in text.as_bytes() {
                s.write_all(&[*b]).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let log = with_log(&rt, move |log, done| {
            let s = net::connect((addr.port(), "127.0.0.1"));
            s.set_encoding(Some(encoding));
            let l = log.clone();
            s.on_text(move |_, t| {
                let mut log = l.borrow_mut();
                if log.is_empty() {
                    log.push(String::new());
                }
                log[0].push_str(t);
            });
            s.on_data(|_, _| panic!("bytes delivered while an encoding is set"));
            s.on_close(move |_, _| done());
        });
        assert_eq!(log, [expected]);
    }
}

/// test-net-write-cb-on-destroy-before-connect / §4.4 write(data, cb): callbacks run in
/// order once the kernel has the bytes; a write still pending when the socket is destroyed
/// before connecting gets an error.
fn write_callbacks_run_in_order_once_sent(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        for i in 0..3 {
            let l = log.clone();
            s.write_with(format!("part{i} ").as_bytes(), move |s, err| {
                l.borrow_mut().push(format!(
                    "cb{i} {:?} queued={}",
                    err.map(|e| e.code()),
                    s.writable_length()
                ));
            });
        }
        let l = log.clone();
        s.on_data(move |s, _| {
            if !l.borrow().iter().any(|e| e == "data") {
                l.borrow_mut().push("data".into());
                s.destroy(None);
            }
        });
        // A second socket destroyed before it connects: its callback gets an error.
        let never = net::connect((addr.port(), "127.0.0.1"));
        let l = log.clone();
        never.write_with(b"lost", move |_, err| {
            l.borrow_mut()
                .push(format!("lost {:?}", err.map(|e| e.code())))
        });
        never.destroy(None);
        s.on_close(move |_, _| done());
    });
    let cbs: Vec<&str> = log
        .iter()
        .filter(|e| e.starts_with("cb"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        cbs,
        [
            "cb0 None queued=0",
            "cb1 None queued=0",
            "cb2 None queued=0"
        ],
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|e| e == "lost Some(\"ERR_SOCKET_CLOSED_BEFORE_CONNECTION\")"),
        "{log:?}"
    );
}

/// test-net-onread-static-buffer: reads land in the caller's buffer (at most its length per
/// call), 'data' is never emitted, and returning false pauses.
fn onread_reuses_the_callers_buffer(backend: Backend) {
    let rt = start(backend, builder(1));
    let addr = std_echo();
    let log = with_log(&rt, move |log, done| {
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = got.clone();
        let calls = Rc::new(RefCell::new(0usize));
        let c = calls.clone();
        let s = net::connect(ConnectArgs::port(addr.port()).host("127.0.0.1").onread(
            2,
            move |_, buf| {
                assert!(buf.len() <= 2);
                g.borrow_mut().extend_from_slice(buf);
                *c.borrow_mut() += 1;
                true
            },
        ));
        s.on_data(|_, _| panic!("'data' with onread"));
        s.end(Some(b"hello world"));
        let l = log;
        s.on_close(move |_, _| {
            l.borrow_mut()
                .push(String::from_utf8_lossy(&got.borrow()).into_owned());
            l.borrow_mut()
                .push(format!("calls>=6 {}", *calls.borrow() >= 6));
            done();
        });
    });
    assert_eq!(log, ["hello world", "calls>=6 true"]);
}

/// test-net-socket-reset-and-destroy: the peer sees a reset (ECONNRESET), not a clean end;
/// our side still gets 'close'.
fn reset_and_destroy_sends_rst(backend: Backend) {
    let rt = start(backend, builder(1));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 16];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return "eof".to_string(),
                Ok(_) => continue,
                Err(e) => return format!("{:?}", e.kind()),
            }
        }
    });
    let log = with_log(&rt, move |log, done| {
        let s = net::connect((addr.port(), "127.0.0.1"));
        s.on_connect(|s| {
            s.write(b"bye");
            s.reset_and_destroy();
        });
        let l = log;
        s.on_close(move |_, had_error| {
            l.borrow_mut().push(format!("close {had_error}"));
            done();
        });
    });
    assert_eq!(log, ["close false"]);
    assert_eq!(peer.join().unwrap(), "ConnectionReset");
}
