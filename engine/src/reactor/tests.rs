//! The reactor against a scripted driver: completions are fed by the test, ops are recorded,
//! nothing touches a kernel.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::IntoRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::{Limits, Reactor, Transport};
use crate::backend::{Capabilities, Completion, Driver, Op, OpKind, Token, Unpark, Wait};
use crate::buf::BufPool;
use crate::stats::Counters;

/// What the test sees of the driver: the ops pushed, the completions to deliver next park,
/// and whether it was dropped.
#[derive(Default)]
struct Script {
    ops: RefCell<Vec<String>>,
    completions: RefCell<VecDeque<Completion>>,
    dropped: Cell<bool>,
}

/// A driver that records ops and completes only what the script says (a cancel included:
/// a kernel that never answers is one the teardown must survive).
struct Scripted(Rc<Script>, Rc<BufPool>);

struct NoUnpark;

impl Unpark for NoUnpark {
    fn unpark(&self) {}
}

impl Driver for Scripted {
    fn backend(&self) -> crate::Backend {
        crate::Backend::Compat
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    unsafe fn push(&mut self, op: Op) {
        let name = match op {
            Op::RecvMulti {
                streaming: true, ..
            } => "recv streaming".to_owned(),
            Op::RecvMulti { .. } | Op::RecvOnce { .. } => "recv".to_owned(),
            Op::Cancel { target } => format!("cancel {:?}", target.kind()),
            other => format!("{other:?}"),
        };
        self.0.ops.borrow_mut().push(name);
    }
    fn recycle(&mut self, _starving: bool) -> usize {
        self.1.drain_returned(|_| {})
    }
    fn park(&mut self, wait: Wait, out: &mut Vec<Completion>) -> std::io::Result<()> {
        out.extend(self.0.completions.borrow_mut().drain(..));
        if out.is_empty() {
            if let Wait::Timeout(d) = wait {
                std::thread::sleep(d.min(Duration::from_millis(5)));
            }
        }
        Ok(())
    }
    fn unparker(&self) -> Arc<dyn Unpark> {
        Arc::new(NoUnpark)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.0.dropped.set(true);
    }
}

const BUF: u32 = 64;
const CAP: usize = 16;

/// A reactor over a scripted driver and a pool of `buffers` x 64 B, with one connection (a
/// socketpair end the reactor owns) whose receive is armed.
fn setup(buffers: u16) -> (Reactor, Rc<Script>, Rc<BufPool>, usize) {
    let script = Rc::new(Script::default());
    let pool = BufPool::new(buffers, BUF).unwrap();
    let limits = Limits {
        rx_cap: CAP,
        high_water: 64 * 1024,
    };
    let driver = Box::new(Scripted(script.clone(), pool.clone()));
    let mut reactor = Reactor::new(driver, pool.clone(), limits, Arc::new(Counters::default()));
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let slot = reactor.add_conn(a.into_raw_fd(), Transport::Tcp);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(reactor.poll_read(slot, &mut cx).is_pending());
    assert_eq!(*script.ops.borrow(), ["recv"]);
    (reactor, script, pool, slot)
}

/// Queues one full receive buffer for the connection's multishot receive.
fn deliver(script: &Script, pool: &Rc<BufPool>, slot: usize, bid: u16) {
    script.completions.borrow_mut().push_back(Completion {
        token: Token::new(OpKind::Recv, slot),
        result: BUF as i32,
        more: true,
        // SAFETY: no kernel writes into this pool, and each test delivers a buffer id once
        // until it comes back.
        chunk: Some(unsafe { pool.chunk(bid, BUF) }),
    });
}

fn cancels(script: &Script) -> usize {
    let ops = script.ops.borrow();
    ops.iter().filter(|o| o.starts_with("cancel")).count()
}

#[test]
fn a_reader_behind_is_paused_on_bytes_even_after_compaction() {
    // 32 buffers: past 24 alive the pool is under pressure and full queues are compacted.
    let (mut reactor, script, pool, slot) = setup(32);
    // 26 buffers in one park: the queue reaches 16 chunks, is compacted under pressure (its
    // chunk count drops) and keeps receiving within the park. The reader does not read.
    for bid in 0..26 {
        deliver(&script, &pool, slot, bid);
    }
    reactor.park(Wait::Poll).unwrap();
    assert!(
        reactor
            .counters
            .compactions
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    let conn = &reactor.conns[slot];
    assert!(conn.rx.bytes() >= CAP * BUF as usize);
    assert!(conn.rx.len() < CAP, "compaction merged the chunks");
    // The flush pauses it: the queue is full on bytes.
    reactor.flush();
    assert_eq!(cancels(&script), 1, "ops: {:?}", script.ops.borrow());
    // Nothing re-arms it while the queue stays full.
    script.completions.borrow_mut().push_back(Completion {
        token: Token::new(OpKind::Recv, slot),
        result: -libc::ECANCELED,
        more: false,
        chunk: None,
    });
    reactor.park(Wait::Poll).unwrap();
    reactor.flush();
    assert_eq!(
        script.ops.borrow().iter().filter(|o| *o == "recv").count(),
        1
    );
    // Once the reader drains the queue, the receive is armed again.
    let mut cx = Context::from_waker(Waker::noop());
    let mut read = 0;
    while let Poll::Ready(Ok(Some(chunk))) = reactor.poll_read(slot, &mut cx) {
        read += chunk.len();
    }
    assert_eq!(read, 26 * BUF as usize);
    assert_eq!(
        script
            .ops
            .borrow()
            .iter()
            .filter(|o| o.starts_with("recv"))
            .count(),
        2
    );
    reactor.shutdown_within(Duration::from_millis(50));
}

#[test]
fn a_paused_connection_holds_at_most_the_cap_plus_one_park() {
    let (mut reactor, script, pool, slot) = setup(64);
    // Park after park the peer keeps sending and the reader never reads.
    let mut bid = 0;
    for _ in 0..6 {
        for _ in 0..8 {
            if bid < 64 {
                deliver(&script, &pool, slot, bid);
                bid += 1;
            }
        }
        reactor.park(Wait::Poll).unwrap();
        reactor.flush();
        if cancels(&script) == 1 {
            break;
        }
    }
    assert_eq!(cancels(&script), 1, "the receive was paused");
    let held = reactor.conns[slot].rx.bytes();
    assert!(held <= CAP * BUF as usize + 8 * BUF as usize, "held {held}");
    reactor.shutdown_within(Duration::from_millis(50));
}

#[test]
fn a_teardown_that_gives_up_leaks_the_driver_instead_of_dropping_it() {
    let (mut reactor, script, _pool, _slot) = setup(8);
    // The receive is armed and the scripted kernel never completes its cancel.
    reactor.shutdown_within(Duration::from_millis(100));
    assert_eq!(cancels(&script), 1);
    drop(reactor);
    assert!(
        !script.dropped.get(),
        "the driver (and the memory its ops point into) was freed with ops in flight"
    );
}

#[test]
fn a_clean_teardown_drops_the_driver() {
    let (mut reactor, script, _pool, slot) = setup(8);
    script.completions.borrow_mut().push_back(Completion {
        token: Token::new(OpKind::Recv, slot),
        result: -libc::ECANCELED,
        more: false,
        chunk: None,
    });
    reactor.shutdown_within(Duration::from_secs(5));
    drop(reactor);
    assert!(script.dropped.get());
}

/// Ends the connection's receive with a last chunk of `len` bytes in buffer `bid` (a receive
/// that reached its byte limit), or with `-errno` and no bytes when `len` is negative.
fn end_receive(script: &Script, pool: &Rc<BufPool>, slot: usize, bid: u16, len: i32) {
    script.completions.borrow_mut().push_back(Completion {
        token: Token::new(OpKind::Recv, slot),
        result: len,
        more: false,
        // SAFETY: as in `deliver`.
        chunk: (len > 0).then(|| unsafe { pool.chunk(bid, len as u32) }),
    });
}

#[test]
fn a_receive_that_filled_a_buffer_rearms_with_the_streaming_hint_until_one_does_not() {
    let (mut reactor, script, pool, slot) = setup(8);
    let mut cx = Context::from_waker(Waker::noop());
    let mut turn = |reactor: &mut Reactor| {
        reactor.park(Wait::Poll).unwrap();
        reactor.flush();
        while let Poll::Ready(Ok(Some(_))) = reactor.poll_read(slot, &mut cx) {}
    };
    // A full buffer, then a short one, in one arming: it streams.
    deliver(&script, &pool, slot, 0);
    end_receive(&script, &pool, slot, 1, 10);
    turn(&mut reactor);
    // An arming that ends without bytes (the pool ran dry) keeps the hint.
    end_receive(&script, &pool, slot, 0, -libc::ENOBUFS);
    turn(&mut reactor);
    // Only short chunks: back to the pool's buffers.
    end_receive(&script, &pool, slot, 2, 10);
    turn(&mut reactor);
    assert_eq!(
        *script.ops.borrow(),
        ["recv", "recv streaming", "recv streaming", "recv"]
    );
    reactor.shutdown_within(Duration::from_millis(50));
}
