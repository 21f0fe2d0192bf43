//! `Socket::pipe`: Node's `readable.pipe(dest)` between sockets — echo through `c.pipe(c)`,
//! backpressure, the end (propagated or not), and unpiping when either side fails or closes —
//! ported from Node's stream tests (each test names the one it follows), on both backends.
//!
//! The fixture: a one-core runtime whose server pipes each accepted socket (the source, fed
//! by the test thread's std client) into a fresh client socket (the destination) connected to
//! a std "sink" thread. Events come back to the test thread as strings.

mod common;
mod node_support;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use common::backends::{builder, start};
use common::pattern::{fill_pattern, first_mismatch, mismatch_error, pattern};
use common::secs;
use corenet::net::{self, PipeOptions, Socket};
use corenet::{Backend, Runtime};
use node_support::{after, on_core0, serve};

backend_tests! {
    pipe_into_itself_echoes(secs(60));
    backpressure_pauses_the_source_until_drain(secs(90));
    end_is_propagated_to_the_destination(secs(30));
    end_false_leaves_the_destination_open(secs(30));
    destination_close_unpipes_and_pauses_the_source(secs(30));
    destination_error_unpipes_before_its_listeners(secs(30));
    source_error_unpipes_and_leaves_the_destination_open(secs(30));
    two_destinations_each_get_every_byte(secs(60));
}

/// How long the test thread waits for one event from the core.
const EVENT_WAIT: Duration = Duration::from_secs(20);

/// Sends `line` to the test thread.
fn say(tx: &Sender<String>, line: impl Into<String>) {
    let _ = tx.send(line.into());
}

/// The events up to and including the first one that starts with `prefix`.
fn until(rx: &Receiver<String>, prefix: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(EVENT_WAIT) {
            Ok(line) => {
                let done = line.starts_with(prefix);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("no {prefix:?} event ({e:?}); seen: {seen:?}"),
        }
    }
}

/// A std listener whose first connection is handed to `f` on its own thread.
fn sink<T: Send + 'static>(
    f: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (u16, JoinHandle<T>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(secs(30))).unwrap();
        f(s)
    });
    (port, handle)
}

/// Reads to EOF, checking every byte against pattern `seed`; the count.
fn read_pattern(s: &mut TcpStream, seed: u64) -> std::io::Result<usize> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut expected = vec![0u8; buf.len()];
    let mut got = 0usize;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(got);
        }
        fill_pattern(seed, got as u64, &mut expected[..n]);
        if let Some(i) = first_mismatch(&buf[..n], &expected[..n]) {
            return Err(mismatch_error(
                "sink",
                got as u64,
                &expected[..n],
                &buf[..n],
                i,
            ));
        }
        got += n;
    }
}

/// A one-core runtime whose server runs `setup(source, destination, events)` for each
/// connection, the destination being a new connection to `sink_port`; returns the runtime,
/// the server's port and the events.
fn relay(
    backend: Backend,
    sink_port: u16,
    setup: impl Fn(&Socket, &Socket, Sender<String>) + Clone + Send + 'static,
) -> (Runtime, u16, Receiver<String>) {
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel();
    let port = on_core0(&rt, move |port_tx| {
        let (_server, port) = serve(move |src| {
            let dest = net::connect((sink_port, "127.0.0.1"));
            setup(src, &dest, tx.clone());
        });
        let _ = port_tx.send(port);
    });
    (rt, port, rx)
}

/// A client of the relay's server.
fn client(port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(secs(30))).unwrap();
    c
}

/// Node's documented echo server, `net.createServer((c) => { c.write('hello\r\n');
/// c.pipe(c); })`, and test-stream-pipe-event.js ('pipe' on the destination with the source):
/// a socket piped into itself echoes every byte (2 MiB, concurrently written and read), the
/// client's FIN ends it, and its 'finish' unpipes it before 'close'.
fn pipe_into_itself_echoes(backend: Backend) {
    const N: usize = 2 << 20;
    let rt = start(backend, builder(1));
    let (tx, rx) = mpsc::channel();
    let port = on_core0(&rt, move |port_tx| {
        let (_server, port) = serve(move |c| {
            let t = tx.clone();
            c.on_pipe(move |dest, src| {
                let same = dest.remote_port() == src.remote_port();
                say(&t, format!("pipe from itself: {same}"));
            });
            let t = tx.clone();
            c.on_unpipe(move |_, _| say(&t, "unpipe"));
            let t = tx.clone();
            c.on_close(move |c, had_error| {
                say(
                    &t,
                    format!(
                        "close {had_error} pipes={} read={}",
                        c.pipe_count(),
                        c.bytes_read()
                    ),
                );
            });
            c.write(b"hello\r\n");
            c.pipe(c);
        });
        let _ = port_tx.send(port);
    });
    let mut c = client(port);
    let mut hello = [0u8; 7];
    c.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"hello\r\n");
    let mut writer = c.try_clone().unwrap();
    let sent = std::thread::spawn(move || {
        writer.write_all(&pattern(1, N)).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let echoed = read_pattern(&mut c, 1).unwrap();
    sent.join().unwrap();
    assert_eq!(echoed, N);
    let events = until(&rx, "close");
    assert_eq!(
        events,
        [
            "pipe from itself: true".to_string(),
            "unpipe".into(),
            format!("close false pipes=0 read={N}"),
        ]
    );
    drop(rt);
}

/// test-stream-pipe-await-drain.js, test-stream-backpressure.js: while the destination's
/// reader stalls, a write returns false and the source is paused (it is paused at every
/// 'drain' of the destination, and resumes after it); the destination's queue stays bounded
/// while 8 MiB go through; no byte is lost or reordered; the source's end ends the
/// destination.
fn backpressure_pauses_the_source_until_drain(backend: Backend) {
    const N: usize = 8 << 20;
    // What the destination may hold: 'drain' comes once its queue is empty, so a resumed
    // source writes into an empty queue until a write returns false (the 16 KiB mark): at
    // most one chunk past the mark (a chunk is at most the receive queue's cap, 16 x 4 KiB,
    // when reads are compacted).
    // Without backpressure the queue would grow by megabytes while the reader stalls.
    const BOUND: usize = 128 * 1024;
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (sink_port, sink) = sink(move |mut s| {
        // The stall: nothing is read until the core saw the source paused by the pipe.
        go_rx.recv_timeout(secs(30)).expect("the source was paused");
        read_pattern(&mut s, 2)
    });
    let (rt, port, rx) = relay(backend, sink_port, move |src, dest, tx| {
        #[derive(Default)]
        struct Seen {
            drains: usize,
            running_at_drain: usize,
            max_queue: usize,
        }
        let seen = Rc::new(RefCell::new(Seen::default()));
        let (s, d) = (seen.clone(), dest.clone());
        // Before the pipe writes the chunk: the queue it is written onto, plus the chunk.
        src.on_data(move |_, chunk| {
            let mut s = s.borrow_mut();
            s.max_queue = s.max_queue.max(d.writable_length() + chunk.len());
        });
        let (s, sc) = (seen.clone(), src.clone());
        dest.on_drain(move |_| {
            let mut s = s.borrow_mut();
            s.drains += 1;
            if !sc.is_paused() {
                s.running_at_drain += 1;
            }
        });
        let s = seen.clone();
        dest.on_close(move |d, had_error| {
            let s = s.borrow();
            say(
                &tx,
                format!(
                    "close {had_error} drains={} running_at_drain={} max_queue={} written={}",
                    s.drains,
                    s.running_at_drain,
                    s.max_queue,
                    d.bytes_written()
                ),
            );
        });
        watch_until_paused(src.clone(), dest.clone(), go_tx.clone());
        src.pipe(dest);
    });
    let mut c = client(port);
    c.write_all(&pattern(2, N)).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(sink.join().unwrap().unwrap(), N);
    let close = until(&rx, "close").pop().unwrap();
    let field = |name: &str| -> usize {
        let at = close.find(&format!("{name}=")).unwrap() + name.len() + 1;
        close[at..].split(' ').next().unwrap().parse().unwrap()
    };
    assert!(close.starts_with("close false"), "{close}");
    assert!(
        field("drains") >= 1,
        "the pipe never waited for 'drain': {close}"
    );
    assert_eq!(field("running_at_drain"), 0, "{close}");
    assert!(field("max_queue") <= BOUND, "{close}");
    assert_eq!(field("written"), N, "{close}");
    drop(rt);
}

/// Checks every 2 ms until the pipe has paused `src`, then lets the sink read.
fn watch_until_paused(src: Socket, dest: Socket, go: Sender<()>) {
    after(2, move || {
        if src.is_paused() && dest.writable_need_drain() {
            let _ = go.send(());
        } else if !dest.destroyed() {
            watch_until_paused(src, dest, go);
        }
    });
}

/// test-stream-pipe-cleanup.js (a source's 'end' calls `dest.end()`, and the pipe is gone
/// once the destination finishes): the sink gets every byte, then EOF; the destination
/// emits 'unpipe' at its 'finish'.
fn end_is_propagated_to_the_destination(backend: Backend) {
    let (sink_port, sink) = sink(|mut s| read_pattern(&mut s, 3));
    let (rt, port, rx) = relay(backend, sink_port, |src, dest, tx| {
        let t = tx.clone();
        src.on_end(move |_| say(&t, "source end"));
        let (t, s) = (tx.clone(), src.clone());
        dest.on_unpipe(move |_, _| say(&t, format!("unpipe, source pipes={}", s.pipe_count())));
        let t = tx.clone();
        dest.on_finish(move |_| say(&t, "destination finish"));
        dest.on_close(move |d, e| say(&tx, format!("close {e} written={}", d.bytes_written())));
        src.pipe(dest);
    });
    let mut c = client(port);
    c.write_all(&pattern(3, 100_000)).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(sink.join().unwrap().unwrap(), 100_000);
    assert_eq!(
        until(&rx, "close"),
        [
            "source end",
            "unpipe, source pipes=0",
            "destination finish",
            "close false written=100000"
        ]
    );
    drop(rt);
}

/// test-stream-pipe-cleanup.js and Node's `pipe(dest, { end: false })`: the source's 'end'
/// only unpipes; the destination stays writable, and what is written to it afterwards
/// follows the piped bytes.
fn end_false_leaves_the_destination_open(backend: Backend) {
    let (sink_port, sink) = sink(|mut s| {
        let mut all = Vec::new();
        s.read_to_end(&mut all).map(|_| all)
    });
    let (rt, port, rx) = relay(backend, sink_port, |src, dest, tx| {
        let t = tx.clone();
        dest.on_unpipe(move |_, _| say(&t, "unpipe"));
        let (t, d) = (tx.clone(), dest.clone());
        src.on_end(move |s| {
            // The pipe's own handling comes after the listeners (see `pipe`): look later.
            let (t, s, d) = (t.clone(), s.clone(), d.clone());
            after(0, move || {
                say(
                    &t,
                    format!(
                        "after end: pipes={} dest writable={}",
                        s.pipe_count(),
                        d.writable()
                    ),
                );
                d.end(Some(b" and after"));
            });
        });
        dest.on_close(move |_, e| say(&tx, format!("close {e}")));
        src.pipe_with(dest, PipeOptions::default().end(false));
    });
    let mut c = client(port);
    c.write_all(b"piped").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(sink.join().unwrap().unwrap(), b"piped and after");
    assert_eq!(
        until(&rx, "close"),
        [
            "unpipe",
            "after end: pipes=0 dest writable=true",
            "close false"
        ]
    );
    drop(rt);
}

thread_local! {
    /// A socket kept on core 0 for the test thread to act on later (`on_stash`).
    static STASH: RefCell<Option<Socket>> = const { RefCell::new(None) };
}

/// Runs `f` on core 0 with the stashed socket.
fn on_stash(rt: &Runtime, f: impl FnOnce(&Socket) + Send + 'static) {
    rt.block_on(0, move || async move {
        let socket = STASH
            .with(|s| s.borrow().clone())
            .expect("a stashed socket");
        f(&socket);
    });
}

/// test-stream-pipe-unpipe-streams.js, test-stream-pipe-cleanup.js (a destination's 'close'
/// unpipes): destroying the destination unpipes it and leaves the source paused (Node's
/// `unpipe` pauses a source with no pipe left); the source is not harmed, and after
/// `resume()` its own listener gets what came next.
fn destination_close_unpipes_and_pauses_the_source(backend: Backend) {
    let (sink_port, sink) = sink(|mut s| {
        let mut first = [0u8; 5];
        s.read_exact(&mut first).map(|_| first)
    });
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (rt, port, rx) = relay(backend, sink_port, move |src, dest, tx| {
        let t = tx.clone();
        dest.on_unpipe(move |_, _| say(&t, "unpipe"));
        let (t, s, go) = (tx.clone(), src.clone(), go_tx.clone());
        dest.on_close(move |_, e| {
            say(
                &t,
                format!(
                    "dest close {e}: pipes={} paused={}",
                    s.pipe_count(),
                    s.is_paused()
                ),
            );
            let t = t.clone();
            s.on_data(move |_, chunk| say(&t, format!("source data {:?}", &chunk[..])));
            s.resume();
            let _ = go.send(());
        });
        let t = tx.clone();
        src.once_data(move |_, _| say(&t, "first data"));
        src.on_close(move |s, e| say(&tx, format!("source close {e} destroyed={}", s.destroyed())));
        STASH.with(|s| *s.borrow_mut() = Some(dest.clone()));
        src.pipe(dest);
    });
    let mut c = client(port);
    c.write_all(b"first").unwrap();
    // Once the sink has the piped bytes, the destination goes.
    assert_eq!(&sink.join().unwrap().unwrap(), b"first");
    on_stash(&rt, |dest| dest.destroy(None));
    go_rx
        .recv_timeout(EVENT_WAIT)
        .expect("the destination closed");
    c.write_all(b"later").unwrap();
    let events = until(&rx, "source data");
    assert_eq!(
        events,
        [
            "first data",
            "unpipe",
            "dest close false: pipes=0 paused=true",
            "source data [108, 97, 116, 101, 114]"
        ]
    );
    drop(c);
    assert_eq!(
        until(&rx, "source close"),
        ["source close false destroyed=true"]
    );
    drop(rt);
}

/// test-stream-pipe-error-handling.js (Node prepends the pipe's 'error' listener): a
/// destination's error (its peer resets) unpipes it before the destination's own 'error'
/// listeners run; the source stays open.
fn destination_error_unpipes_before_its_listeners(backend: Backend) {
    let (sink_port, sink) = sink(|mut s| {
        let mut first = [0u8; 5];
        s.read_exact(&mut first)?;
        // A reset instead of a FIN.
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
        drop(s);
        Ok::<_, std::io::Error>(first)
    });
    let (rt, port, rx) = relay(backend, sink_port, |src, dest, tx| {
        let (t, s) = (tx.clone(), src.clone());
        dest.on_error(move |_, e| {
            say(
                &t,
                format!(
                    "dest error {}: source pipes={} destroyed={}",
                    e.code(),
                    s.pipe_count(),
                    s.destroyed()
                ),
            );
        });
        let t = tx.clone();
        dest.on_unpipe(move |_, _| say(&t, "unpipe"));
        let s = src.clone();
        dest.on_close(move |_, e| {
            say(
                &tx,
                format!("dest close {e}, source open={}", !s.destroyed()),
            )
        });
        src.pipe(dest);
    });
    let mut c = client(port);
    c.write_all(b"first").unwrap();
    assert_eq!(&sink.join().unwrap().unwrap(), b"first");
    let events = until(&rx, "dest close");
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0], "unpipe");
    assert!(
        events[1].starts_with("dest error E")
            && events[1].ends_with(": source pipes=0 destroyed=false"),
        "{events:?}"
    );
    assert_eq!(events[2], "dest close true, source open=true");
    drop(rt);
}

/// test-stream-pipe-cleanup.js (a source's 'close' unpipes) with Node's rule that a source's
/// error does not end or destroy the destination: the client resets the source; the
/// destination gets 'unpipe', stays writable, and ends normally afterwards (the sink sees
/// every piped byte and a FIN, not a reset).
fn source_error_unpipes_and_leaves_the_destination_open(backend: Backend) {
    let (got_tx, got_rx) = mpsc::channel::<()>();
    let (sink_port, sink) = sink(move |mut s| {
        let mut first = [0u8; 5];
        s.read_exact(&mut first)?;
        let _ = got_tx.send(());
        let mut rest = Vec::new();
        s.read_to_end(&mut rest)?;
        Ok::<_, std::io::Error>((first, rest))
    });
    let (rt, port, rx) = relay(backend, sink_port, |src, dest, tx| {
        let t = tx.clone();
        src.on_error(move |_, e| say(&t, format!("source error {}", e.code())));
        let (t, d) = (tx.clone(), dest.clone());
        dest.on_unpipe(move |_, _| say(&t, format!("unpipe, dest writable={}", d.writable())));
        let d = dest.clone();
        src.on_close(move |_, _| d.end(Some(b" then end")));
        dest.on_close(move |_, e| say(&tx, format!("dest close {e}")));
        src.pipe(dest);
    });
    let c = client(port);
    (&c).write_all(b"piped").unwrap();
    // The bytes went through before the reset (a reset discards what the source's kernel
    // buffer still holds).
    got_rx
        .recv_timeout(EVENT_WAIT)
        .expect("the sink got the piped bytes");
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    let (first, rest) = sink.join().unwrap().unwrap();
    assert_eq!(&first, b"piped");
    assert_eq!(rest, b" then end");
    let events = until(&rx, "dest close");
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events[0].starts_with("source error E"), "{events:?}");
    assert_eq!(
        events[1..],
        ["unpipe, dest writable=true", "dest close false"]
    );
    drop(rt);
}

/// test-stream-pipe-multiple-pipes.js: one source piped into two destinations; each gets
/// every byte (the first a copy, the last the received chunks themselves), and both end.
fn two_destinations_each_get_every_byte(backend: Backend) {
    const N: usize = 1 << 20;
    let (first_port, first) = sink(|mut s| read_pattern(&mut s, 4));
    let (second_port, second) = sink(|mut s| read_pattern(&mut s, 4));
    let (rt, port, rx) = relay(backend, first_port, move |src, dest, tx| {
        let other = net::connect((second_port, "127.0.0.1"));
        src.pipe(dest);
        src.pipe(&other);
        say(&tx, format!("pipes={}", src.pipe_count()));
    });
    let mut c = client(port);
    c.write_all(&pattern(4, N)).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(first.join().unwrap().unwrap(), N);
    assert_eq!(second.join().unwrap().unwrap(), N);
    assert_eq!(until(&rx, "pipes"), ["pipes=2"]);
    drop(rt);
}
