//! The Node face's writable side — write callbacks, cork, backpressure and 'drain', and the
//! byte counters — ported from Node's own tests (catalogue section B of
//! `node-net-tests.md`; each test names the Node test it follows), on both backends.

mod common;
mod node_support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use common::backends::{builder, start};
use common::secs;
use corenet::Backend;
use corenet::net::{self, Address, ServerOptions, Socket};
use node_support::{after, countdown, push, serve, with_log};

backend_tests! {
    write_callbacks_all_run_once_in_order(secs(60));
    sync_cork_writes_stay_under_the_mark(secs(30));
    queued_buffers_stay_intact_until_written(secs(60));
    throttle_paused_reader_gets_nothing_until_resume(secs(30));
    slow_reader_gets_every_byte_before_end_without_timeout(secs(60));
    peer_destroy_mid_stream_is_one_error_then_close(secs(30));
    bytes_read_grows_per_chunk_and_survives_close(secs(30));
    byte_counts_sum_over_a_reconnect(secs(30));
    corked_bytes_written_before_connect(secs(30));
    bytes_written_counts_large_writes_synchronously(secs(60));
    buffer_size_counts_writes_before_connect(secs(30));
    write_callback_waits_only_for_its_own_bytes(secs(30));
}

// ---- helpers -----------------------------------------------------------------------------

/// Byte `i` of the `k`-th pattern buffer (distinct per buffer and position).
fn pattern(k: usize, i: usize) -> u8 {
    ((k * 7 + i) % 251) as u8
}

// ---- tests ---------------------------------------------------------------------------------

/// test-net-write-callbacks.js (catalogue #16): 500,000 `write('hello world', cb)` calls
/// right after connect, then `end()`: every callback runs exactly once, in order, with no
/// error, and the server receives all 5,500,000 bytes. (A test/pummel test, at full size.)
fn write_callbacks_all_run_once_in_order(backend: Backend) {
    const N: usize = 500_000;
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let l = log.clone();
        let (server, port) = serve(move |s| {
            let received = Rc::new(Cell::new(0usize));
            let r = received.clone();
            s.on_data(move |_, d| r.set(r.get() + d.len()));
            let l = l.clone();
            s.on_end(move |_| push(&l, format!("server received {}", received.get())));
        });
        let client = net::connect((port, "127.0.0.1"));
        let calls = Rc::new(Cell::new(0usize));
        let out_of_order = Rc::new(Cell::new(0usize));
        let errors = Rc::new(Cell::new(0usize));
        let (c, o, e) = (calls.clone(), out_of_order.clone(), errors.clone());
        client.on_connect(move |s| {
            for i in 0..N {
                let (c, o, e) = (c.clone(), o.clone(), e.clone());
                s.write_with(b"hello world", move |_, err| {
                    // Callback i must be the (i+1)-th to run.
                    if c.get() != i {
                        o.set(o.get() + 1);
                    }
                    c.set(c.get() + 1);
                    if err.is_some() {
                        e.set(e.get() + 1);
                    }
                });
            }
            s.end(None);
        });
        let l = log;
        client.on_close(move |_, had_error| {
            push(
                &l,
                format!(
                    "close {had_error}: callbacks {} out of order {} errors {}",
                    calls.get(),
                    out_of_order.get(),
                    errors.get()
                ),
            );
            server.close();
            done();
        });
    });
    assert_eq!(
        log,
        [
            format!("server received {}", N * 11),
            format!("close false: callbacks {N} out of order 0 errors 0"),
        ]
    );
}

/// test-net-sync-cork.js (catalogue #17): 100 rounds of `cork(); write(2 B); r = write(2 B);
/// uncork()` after connect: every `write` returns true (400 B stays under the 16 KiB mark),
/// so the loop runs all 100 rounds; the server gets the 400 bytes in order.
fn sync_cork_writes_stay_under_the_mark(backend: Backend) {
    const N: usize = 100;
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let l = log.clone();
        let (server, port) = serve(move |s| {
            let got = Rc::new(RefCell::new(Vec::new()));
            let g = got.clone();
            s.on_data(move |_, d| g.borrow_mut().extend_from_slice(d));
            let l = l.clone();
            s.on_end(move |_| {
                let expected: Vec<u8> = (0..N).flat_map(|i| [i as u8; 4]).collect();
                push(
                    &l,
                    format!(
                        "server received {} in order {}",
                        got.borrow().len(),
                        *got.borrow() == expected
                    ),
                );
            });
        });
        let client = net::connect((port, "127.0.0.1"));
        let l = log.clone();
        client.on_connect(move |s| {
            let mut res = true;
            let mut i = 0;
            while i < N && res {
                s.cork();
                let first = s.write(&[i as u8; 2]);
                res = s.write(&[i as u8; 2]);
                s.uncork();
                res &= first;
                i += 1;
            }
            push(&l, format!("rounds {i} last {res}"));
            s.end(None);
        });
        client.on_close(move |_, _| {
            server.close();
            done();
        });
    });
    assert_eq!(
        log,
        [
            format!("rounds {N} last true"),
            format!("server received {} in order true", N * 4),
        ]
    );
}

/// test-net-write-fully-async-buffer.js (catalogue #18): rounds of `while (write(1 MB)) {}`
/// then wait for 'drain'. Each buffer is overwritten and dropped right after `write`
/// returns: the queued bytes must be the ones written. The server checks every byte.
/// Deviations: 20 rounds instead of 200 (debug builds), and `end()` after the last round
/// instead of `destroy()` so the byte count is exact; `write` returns false on each
/// buffer (1 MB is over the mark), so each round is one write. Each 'drain' comes with an
/// empty queue, as Node's.
fn queued_buffers_stay_intact_until_written(backend: Backend) {
    const SIZE: usize = 1_000_000;
    const ROUNDS: usize = 20;
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let l = log.clone();
        let (server, port) = serve(move |s| {
            let offset = Rc::new(Cell::new(0usize));
            let bad = Rc::new(Cell::new(0usize));
            let (o, b) = (offset.clone(), bad.clone());
            s.on_data(move |_, d| {
                let start = o.get();
                for (n, byte) in d.iter().enumerate() {
                    let at = start + n;
                    if *byte != pattern(at / SIZE, at % SIZE) {
                        b.set(b.get() + 1);
                    }
                }
                o.set(start + d.len());
            });
            let l = l.clone();
            s.on_end(move |_| {
                push(
                    &l,
                    format!("server received {} corrupt {}", offset.get(), bad.get()),
                )
            });
        });
        let client = net::connect((port, "127.0.0.1"));
        let rounds = Rc::new(Cell::new(0usize));
        let writes = Rc::new(Cell::new(0usize));
        let write_loop: Rc<dyn Fn(&Socket)> = {
            let (rounds, writes, l) = (rounds.clone(), writes.clone(), log.clone());
            Rc::new(move |s: &Socket| {
                if rounds.get() == ROUNDS {
                    push(
                        &l,
                        format!("rounds {} writes {}", rounds.get(), writes.get()),
                    );
                    s.end(None);
                    return;
                }
                rounds.set(rounds.get() + 1);
                loop {
                    let k = writes.get();
                    let mut buf: Vec<u8> = (0..SIZE).map(|i| pattern(k, i)).collect();
                    writes.set(k + 1);
                    let more = s.write(&buf);
                    // The caller's buffer is reused and freed at once (Node: a GC).
                    buf.fill(0xEE);
                    drop(buf);
                    if !more {
                        break;
                    }
                }
            })
        };
        let w = write_loop.clone();
        let l = log.clone();
        client.on_drain(move |s| {
            // Node emits 'drain' once the buffer is empty (`state.length === 0`).
            if s.writable_length() != 0 {
                push(
                    &l,
                    format!("'drain' with {} bytes queued", s.writable_length()),
                );
            }
            w(s)
        });
        client.on_connect(move |s| write_loop(s));
        client.on_close(move |_, _| {
            server.close();
            done();
        });
    });
    assert_eq!(
        log,
        [
            format!("rounds {ROUNDS} writes {ROUNDS}"),
            format!("server received {} corrupt 0", ROUNDS * SIZE),
        ]
    );
}

/// test-net-throttle.js (catalogue #19): (a test/pummel test) the server writes 163,840 bytes
/// at once: `write` returns false and `bufferSize` is within [0, 163840]. The client pauses on
/// every 'data' and resumes later: no 'data' arrives while paused, there are more than 2
/// pauses, and exactly 163,840 bytes arrive. Deviation: 50 ms pauses instead of 100 ms
/// (reads are 4 KiB here, Node's 64 KiB, so there are many more pauses).
fn throttle_paused_reader_gets_nothing_until_resume(backend: Backend) {
    const N: usize = 160 * 1024;
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let l = log.clone();
        let (server, port) = serve(move |s| {
            let ok = s.write(&vec![b'C'; N]);
            let size = s.buffer_size();
            push(
                &l,
                format!(
                    "server write {ok} buffer_size in range {}",
                    size.is_some_and(|n| n <= N)
                ),
            );
            s.end(None);
        });
        let client = net::connect((port, "127.0.0.1"));
        let paused = Rc::new(Cell::new(false));
        let received = Rc::new(Cell::new(0usize));
        let pauses = Rc::new(Cell::new(0usize));
        let while_paused = Rc::new(Cell::new(0usize));
        let (p, r, n, w) = (
            paused.clone(),
            received.clone(),
            pauses.clone(),
            while_paused.clone(),
        );
        client.on_data(move |s, d| {
            if p.get() {
                w.set(w.get() + 1);
            }
            r.set(r.get() + d.len());
            n.set(n.get() + 1);
            s.pause();
            p.set(true);
            let (s, p) = (s.clone(), p.clone());
            after(50, move || {
                p.set(false);
                s.resume();
            });
        });
        let l = log.clone();
        client.on_end(move |_| {
            push(
                &l,
                format!(
                    "client end: received {} pauses>2 {} data while paused {}",
                    received.get(),
                    pauses.get() > 2,
                    while_paused.get()
                ),
            )
        });
        client.on_close(move |_, _| {
            server.close();
            done();
        });
    });
    assert_eq!(
        log,
        [
            "server write false buffer_size in range true".to_string(),
            format!("client end: received {N} pauses>2 true data while paused 0"),
        ]
    );
}

/// test-net-write-slow.js (catalogue #20): the server, with `setNoDelay()` and
/// `setTimeout(9999)`, writes 10 × 200,000 bytes, each with a callback, then `end()`s; the
/// client pauses 20 ms after each chunk. No 'timeout' fires, all 10 callbacks run (in
/// order, without error), and the client has all 2,000,000 bytes at 'end'. The runtime
/// reads 64 KiB at a time, as Node does (the default 4 KiB would make ~500 pauses).
fn slow_reader_gets_every_byte_before_end_without_timeout(backend: Backend) {
    const SIZE: usize = 200_000;
    const N: usize = 10;
    let rt = start(backend, builder(1).buffer_size(64 * 1024).buffer_count(256));
    let log = with_log(&rt, move |log, done| {
        let l = log.clone();
        let (server, port) = serve(move |s| {
            s.set_no_delay(true);
            s.set_timeout(Duration::from_millis(9999));
            let l2 = l.clone();
            s.on_timeout(move |_| push(&l2, "server timeout"));
            let buf = vec![b'a'; SIZE];
            for i in 0..N {
                let l = l.clone();
                s.write_with(&buf, move |s, err| {
                    push(&l, format!("flushed {i} {:?}", err.map(|e| e.code())));
                    if i == N - 1 {
                        s.set_timeout(Duration::ZERO);
                    }
                });
            }
            s.end(None);
        });
        let client = net::connect((port, "127.0.0.1"));
        let received = Rc::new(Cell::new(0usize));
        let r = received.clone();
        client.on_data(move |s, d| {
            r.set(r.get() + d.len());
            s.pause();
            let s = s.clone();
            after(20, move || {
                s.resume();
            });
        });
        let l = log.clone();
        client.on_end(move |_| push(&l, format!("client end: received {}", received.get())));
        client.on_close(move |_, _| {
            server.close();
            done();
        });
    });
    let mut expected: Vec<String> = (0..N).map(|i| format!("flushed {i} None")).collect();
    expected.push(format!("client end: received {}", SIZE * N));
    assert_eq!(log, expected);
}

/// test-net-stream.js (catalogue #21): the server writes 10 × 2 MB (each with a callback)
/// and ends; the client pauses at its first 'data' (`pause()` returns the socket) and
/// destroys itself 20 ms later. The server socket gets 'error' exactly once (EPIPE or
/// ECONNRESET), destroys itself in the handler, then gets one 'close'(true).
fn peer_destroy_mid_stream_is_one_error_then_close(backend: Backend) {
    const SIZE: usize = 2 * 1024 * 1024;
    const N: usize = 10;
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let l = log.clone();
        let done2 = done.clone();
        let (server, port) = serve(move |s| {
            s.set_no_delay(true);
            let l2 = l.clone();
            s.on_error(move |s, e| {
                let code = e.code();
                let code = if code == "EPIPE" || code == "ECONNRESET" {
                    "EPIPE|ECONNRESET"
                } else {
                    code
                };
                push(&l2, format!("server error {code}"));
                s.destroy(None);
            });
            let (l2, done) = (l.clone(), done2.clone());
            s.on_close(move |_, had_error| {
                push(&l2, format!("server close {had_error}"));
                // Anything more (a second 'error' or 'close') would land in the log now.
                let done = done.clone();
                after(50, move || done());
            });
            let buf = vec![b'x'; SIZE];
            for _ in 0..N {
                s.write_with(&buf, |_, _| {});
            }
            s.end(None);
        });
        let client = net::connect((port, "127.0.0.1"));
        let l = log.clone();
        let timer_set = Rc::new(Cell::new(false));
        client.on_data(move |s, _| {
            let same = std::ptr::eq(s.pause(), s);
            if !timer_set.replace(true) {
                push(&l, format!("client pause returns the socket {same}"));
                let s = s.clone();
                after(20, move || s.destroy(None));
            }
        });
        client.on_close(move |_, _| {
            server.close();
        });
    });
    assert_eq!(
        log,
        [
            "client pause returns the socket true",
            "server error EPIPE|ECONNRESET",
            "server close true"
        ]
    );
}

/// test-net-bytes-read.js (catalogue #23): the server does `end(Buffer.alloc(1 MiB))`. At each
/// client 'data', `bytesRead` strictly increases (by the chunk's length); at 'end' it is
/// 1,048,576, and still is at 'close'.
fn bytes_read_grows_per_chunk_and_survives_close(backend: Backend) {
    const N: usize = 1024 * 1024;
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let (server, port) = serve(|s| s.end(Some(&vec![0u8; N])));
        let client = net::connect((port, "127.0.0.1"));
        let last = Rc::new(Cell::new(0u64));
        let bad = Rc::new(Cell::new(0usize));
        let (la, b) = (last.clone(), bad.clone());
        client.on_data(move |s, d| {
            let now = s.bytes_read();
            if now <= la.get() || now != la.get() + d.len() as u64 {
                b.set(b.get() + 1);
            }
            la.set(now);
        });
        let l = log.clone();
        client.on_end(move |s| {
            push(
                &l,
                format!("end {} not increasing {}", s.bytes_read(), bad.get()),
            )
        });
        let l = log;
        client.on_close(move |s, had_error| {
            push(&l, format!("close {had_error} {}", s.bytes_read()));
            server.close();
            done();
        });
    });
    assert_eq!(
        log,
        [
            format!("end {N} not increasing 0"),
            format!("close false {N}")
        ]
    );
}

/// test-net-bytes-stats.js (catalogue #24): the client writes 'foo' and in its callback
/// `end('bar')`s, and reconnects once from 'close'. Each server connection reads 6 bytes
/// (12 in all), the client's `bytesWritten` at 'finish' is 6 each time (12 in all), and the
/// counters start over at 0 with the second connection.
fn byte_counts_sum_over_a_reconnect(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        let l = log.clone();
        let (server, port) = serve(move |s| {
            s.resume();
            let l = l.clone();
            s.on_end(move |s| push(&l, format!("server end bytes_read {}", s.bytes_read())));
        });
        let client = net::connect((port, "127.0.0.1"));
        let count = Rc::new(Cell::new(0));
        let (l, c) = (log.clone(), count.clone());
        client.on_connect(move |s| {
            c.set(c.get() + 1);
            push(
                &l,
                format!(
                    "connect #{} read {} written {}",
                    c.get(),
                    s.bytes_read(),
                    s.bytes_written()
                ),
            );
            let l = l.clone();
            s.write_with(b"foo", move |s, err| {
                if let Some(e) = err {
                    push(&l, format!("write error {}", e.code()));
                }
                s.end(Some(b"bar"));
            });
        });
        let l = log.clone();
        client.on_finish(move |s| push(&l, format!("finish written {}", s.bytes_written())));
        let l = log;
        client.on_close(move |s, had_error| {
            push(&l, format!("close {had_error}"));
            if count.get() < 2 {
                s.connect((port, "127.0.0.1"));
            } else {
                server.close();
                done();
            }
        });
    });
    // Per connection: the server's 'end' and the client's 'finish' may come in either order.
    let mut expected = Vec::new();
    for n in 1..=2 {
        expected.push(format!("connect #{n} read 0 written 0"));
        expected.push("finish written 6".to_string());
        expected.push("server end bytes_read 6".to_string());
        expected.push("close false".to_string());
    }
    let mut sorted = log.clone();
    sorted[1..3].sort();
    sorted[5..7].sort();
    assert_eq!(sorted, expected, "{log:?}");
}

/// test-net-socket-byteswritten.js (catalogue #25): before connect, `cork(); write('one');
/// write('twø'); uncork()`: `bytesWritten` is 7 (3 + 4 UTF-8 bytes) at once, at 'connect'
/// and at 'end'; the server (which `end()`s at once) receives "onetwø".
fn corked_bytes_written_before_connect(backend: Backend) {
    let rt = start(backend, builder(1));
    let log = with_log(&rt, move |log, done| {
        // The client may close before the server has read our FIN.
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
        client.cork();
        client.write("one".as_bytes());
        client.write("twø".as_bytes());
        client.uncork();
        push(&log, format!("sync {}", client.bytes_written()));
        let l = log.clone();
        client.on_connect(move |s| push(&l, format!("connect {}", s.bytes_written())));
        let l = log.clone();
        client.on_end(move |s| push(&l, format!("end {}", s.bytes_written())));
        client.on_close(move |_, _| {
            server.close();
            done();
        });
    });
    // The server's 'end' (our FIN) follows our 'end' (its FIN, sent at once).
    assert_eq!(
        log,
        ["sync 7", "connect 7", "end 7", "server got onetwø"],
        "{log:?}"
    );
}

/// test-net-bytes-written-large.js (catalogue #26): N = 10,000,000. (1) `end(Buffer.alloc(N),
/// cb)`: `bytesWritten` is N at once and in `cb`; (2) the same with `'a'.repeat(N)` (here:
/// a string's bytes, which Rust does not tell from a buffer); (3) corked, `write('a' × N)`
/// gives N, `write(Buffer N)` gives 2N, then `end('', cb)`: `cb` sees 2N. The client's
/// `bytesRead` at 'close' is N (2N), and the bytes are the ones written.
fn bytes_written_counts_large_writes_synchronously(backend: Backend) {
    const N: usize = 10_000_000;
    let rt = start(backend, builder(1));
    for variant in 1..=3 {
        let log = with_log(&rt, move |log, done| {
            let l = log.clone();
            let (server, port) = serve(move |s| {
                let cb = {
                    let l = l.clone();
                    move |s: &Socket, err: Option<&corenet::Error>| {
                        push(
                            &l,
                            format!("cb {} {:?}", s.bytes_written(), err.map(|e| e.code())),
                        )
                    }
                };
                match variant {
                    1 => s.end_with(Some(&vec![0u8; N]), cb),
                    2 => s.end_with(Some("a".repeat(N).as_bytes()), cb),
                    _ => {
                        s.cork();
                        s.write("a".repeat(N).as_bytes());
                        push(&l, format!("corked {}", s.bytes_written()));
                        s.write(&vec![0u8; N]);
                        push(&l, format!("corked {}", s.bytes_written()));
                        s.end_with(Some(b""), cb);
                        s.uncork();
                    }
                }
                push(&l, format!("sync {}", s.bytes_written()));
            });
            let client = net::connect((port, "127.0.0.1"));
            // The expected byte at each offset of this variant's stream.
            let expected = move |at: usize| match (variant, at < N) {
                (1, _) | (3, false) => 0u8,
                _ => b'a',
            };
            let offset = Rc::new(Cell::new(0usize));
            let bad = Rc::new(Cell::new(0usize));
            let (o, b) = (offset.clone(), bad.clone());
            client.on_data(move |_, d| {
                let start = o.get();
                b.set(
                    b.get()
                        + d.iter()
                            .enumerate()
                            .filter(|(n, byte)| **byte != expected(start + n))
                            .count(),
                );
                o.set(start + d.len());
            });
            client.on_close(move |s, had_error| {
                push(
                    &log,
                    format!(
                        "client close {had_error} read {} wrong bytes {}",
                        s.bytes_read(),
                        bad.get()
                    ),
                );
                server.close();
                done();
            });
        });
        let expected: Vec<String> = match variant {
            1 | 2 => vec![
                format!("sync {N}"),
                format!("cb {N} None"),
                format!("client close false read {N} wrong bytes 0"),
            ],
            _ => vec![
                format!("corked {N}"),
                format!("corked {}", 2 * N),
                format!("sync {}", 2 * N),
                format!("cb {} None", 2 * N),
                format!("client close false read {} wrong bytes 0", 2 * N),
            ],
        };
        assert_eq!(log, expected, "variant {variant}");
    }
}

/// test-net-buffersize.js (catalogue #27): while connecting, after the i-th of 9
/// `write('a')`s, `bufferSize` is i; at 'finish' it is 0. The server reads "aaaaaaaaa".
fn buffer_size_counts_writes_before_connect(backend: Backend) {
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
                    format!("server got {}", String::from_utf8_lossy(&got.borrow())),
                )
            });
        });
        let client = net::connect((port, "127.0.0.1"));
        let l = log.clone();
        client.on_finish(move |s| push(&l, format!("finish {:?}", s.buffer_size())));
        let sizes: Vec<Option<usize>> = (1..10)
            .map(|_| {
                client.write(b"a");
                client.buffer_size()
            })
            .collect();
        push(&log, format!("sizes {sizes:?}"));
        client.end(None);
        client.on_close(move |_, _| {
            server.close();
            done();
        });
    });
    let sizes: Vec<Option<usize>> = (1..10).map(Some).collect();
    let mut tail = log[1..].to_vec();
    // 'finish' (our FIN sent) and the server's 'end' (our FIN read) may come in either order.
    tail.sort();
    assert_eq!(log[0], format!("sizes {sizes:?}"));
    assert_eq!(tail, ["finish Some(0)", "server got aaaaaaaaa"], "{log:?}");
}

/// node-net-api.md §4.4 `write(data, cb)`: "cb runs once the chunk is handed to the kernel".
/// A small write's callback runs as soon as its own bytes are sent, while a big write
/// queued after it still waits for a reader that does not read; the big one's callback
/// follows once the reader drains it.
fn write_callback_waits_only_for_its_own_bytes(backend: Backend) {
    const BIG: usize = 8 << 20;
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel::<String>();
    let (port_tx, port_rx) = mpsc::channel::<u16>();
    rt.block_on(0, move || async move {
        let server = net::create_server(ServerOptions::default(), move || {
            let tx = tx.clone();
            move |s: &Socket| {
                let (t1, t2) = (tx.clone(), tx.clone());
                s.write_with(b"small", move |_, err| {
                    let _ = t1.send(format!("small {:?}", err.map(|e| e.code())));
                });
                s.write_with(&vec![7u8; BIG], move |_, err| {
                    let _ = t2.send(format!("big {:?}", err.map(|e| e.code())));
                });
            }
        });
        server.listen((0, "127.0.0.1")).unwrap();
        let Some(Address::Tcp(addr)) = server.address() else {
            panic!("no TCP address")
        };
        port_tx.send(addr.port()).unwrap();
    });
    let port = port_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Not reading: 8 MiB cannot all fit in the socket buffers.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "small None"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(rx.try_recv().is_err(), "the big write's callback ran early");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = vec![0u8; 5 + BIG];
    std::io::Read::read_exact(&mut client, &mut got).unwrap();
    assert_eq!(&got[..5], b"small");
    assert!(got[5..].iter().all(|&b| b == 7));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "big None"
    );
}
