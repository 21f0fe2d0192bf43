//! The load driver: one thread, one mio poller, the connections of one load thread.
//!
//! Closed loop: each connection keeps `pipeline` messages in flight and sends a new one for
//! every echo that completes. Open loop: messages become due on a fixed [`Schedule`] over all
//! the run's connections, of which this thread serves its [`Share`]; a due message is sent at
//! once unless its connection already has the most allowed in flight, in which case it goes
//! out as soon as an echo frees a slot. Either way a message is stamped with the time it was
//! due (closed loop: queued), so the latency of a late send includes its lateness: the
//! coordinated-omission correction is made by each thread for its own messages.

use std::io::{self, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use mio::event::{Event, Source};
use mio::{Events, Interest, Poll, Token};

use crate::conn::{Conn, ConnError};
use crate::cpu::thread_cpu_time;
use crate::progress::{Meter, SNAPSHOT_INTERVAL};
use crate::schedule::{Schedule, Share};
use crate::stats::Recorder;
use crate::timer::Timer;

/// Size of the buffer each read lands in.
const READ_BUF: usize = 64 * 1024;

/// How the load is generated.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// `pipeline` messages in flight on each connection, always.
    Closed {
        /// Messages in flight per connection.
        pipeline: u32,
    },
    /// `rate` messages per second in total (over every thread) on a fixed schedule.
    Open {
        /// Messages per second over all connections of the run.
        rate: u64,
        /// Most messages in flight per connection.
        max_in_flight: u32,
    },
}

/// When the phases of a run end, from its start.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Load without measurement, from the start of the run.
    pub warmup: Duration,
    /// Measured window, right after the warm-up.
    pub duration: Duration,
    /// The run stops here whatever happens.
    pub hard_deadline: Instant,
}

/// What one thread's run measured.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// When the thread's measured window began and ended (none if it never began).
    pub measured: Option<(Instant, Instant)>,
    /// The thread's CPU time during it.
    pub cpu: Duration,
    /// The window ended early (hard deadline, or every connection failed).
    pub cut_short: bool,
}

impl Window {
    /// Wall time of the measured window.
    pub fn wall(&self) -> Duration {
        self.measured.map_or(Duration::ZERO, |(a, b)| b - a)
    }
}

/// Open-loop bookkeeping. Connections are known by their local numbers.
#[derive(Debug)]
struct OpenLoop {
    sched: Schedule,
    share: Share,
    max_in_flight: usize,
    /// Global messages `0..due` are due.
    due: u64,
    /// Per local connection: its next message number to send.
    next: Vec<u64>,
    /// Local connections with newly due messages, and whether each is in that list.
    ready: Vec<u32>,
    queued: Vec<bool>,
    timer: Timer,
}

impl OpenLoop {
    fn new(sched: Schedule, share: Share, max_in_flight: u32, conns: usize, timer: Timer) -> Self {
        Self {
            sched,
            share,
            max_in_flight: max_in_flight as usize,
            due: 0,
            next: vec![0; conns],
            ready: Vec::new(),
            queued: vec![false; conns],
            timer,
        }
    }

    /// Marks every message due at `now` and lists this thread's connections that got new ones.
    fn advance(&mut self, now: Instant) {
        let due = self.sched.due_by(now);
        if due <= self.due {
            return;
        }
        if due - self.due >= self.sched.conns() {
            for c in 0..self.next.len() as u32 {
                self.mark(c);
            }
        } else {
            for g in self.due..due {
                if let Some(c) = self.share.local(self.sched.conn_of(g)) {
                    self.mark(c);
                }
            }
        }
        self.due = due;
    }

    fn mark(&mut self, c: u32) {
        if !self.queued[c as usize] {
            self.queued[c as usize] = true;
            self.ready.push(c);
        }
    }

    /// Queues local connection `c`'s due messages as far as its in-flight limit allows; true
    /// if it queued any.
    fn queue_due<S: Read + Write>(&mut self, c: u32, conn: &mut Conn<S>) -> bool {
        let global = self.share.global(c);
        let target = self.sched.conn_due_count(global, self.due);
        let next = &mut self.next[c as usize];
        let mut queued = false;
        while *next < target && conn.in_flight() < self.max_in_flight {
            conn.enqueue(self.sched.conn_due_at(global, *next));
            *next += 1;
            queued = true;
        }
        queued
    }
}

/// One load thread's poller and connections, set up and waiting for the start.
#[derive(Debug)]
pub struct Driver<S> {
    conns: Vec<Conn<S>>,
    poll: Poll,
    mode: Mode,
    share: Share,
    /// Connections of the whole run.
    total: u32,
    /// The open loop's timer.
    timer: Option<Timer>,
}

impl<S: Read + Write + Source> Driver<S> {
    /// Registers `conns`, this thread's `share` of the run's `total` connections (local
    /// connection i is `conns[i]`), with a new poller.
    pub fn new(mut conns: Vec<Conn<S>>, mode: Mode, share: Share, total: u32) -> io::Result<Self> {
        let poll = Poll::new()?;
        for (i, conn) in conns.iter_mut().enumerate() {
            debug_assert_eq!(share.local(conn.id()), Some(i as u32));
            poll.registry().register(
                conn.stream_mut(),
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )?;
        }
        let timer = match mode {
            Mode::Closed { .. } => None,
            Mode::Open { .. } => Some(Timer::new(poll.registry(), Token(conns.len()))?),
        };
        Ok(Self {
            conns,
            poll,
            mode,
            share,
            total,
            timer,
        })
    }

    /// Runs the load from `start` until the measured window is over, recording into `rec`
    /// and publishing progress in `meter` (with histogram copies while measuring if `snapshots`).
    pub fn run(
        self,
        start: Instant,
        timing: Timing,
        rec: &mut Recorder,
        meter: &Meter,
        snapshots: bool,
    ) -> io::Result<Window> {
        let Self {
            mut conns,
            mut poll,
            mode,
            share,
            total,
            timer,
        } = self;
        let mut events = Events::with_capacity(1024);
        let mut scratch = vec![0u8; READ_BUF];
        let mut live = vec![true; conns.len()];
        let mut live_count = conns.len();
        let timer_token = Token(conns.len());

        let measure_start = start + timing.warmup;
        let measure_end = measure_start + timing.duration;
        let far = measure_end + Duration::from_secs(3600);
        let mut next_snapshot = if snapshots { measure_start } else { far };

        let mut open = match (mode, timer) {
            (
                Mode::Open {
                    rate,
                    max_in_flight,
                },
                Some(timer),
            ) => Some(OpenLoop::new(
                Schedule::new(start, rate, total),
                share,
                max_in_flight,
                conns.len(),
                timer,
            )),
            _ => None,
        };

        if let Mode::Closed { pipeline } = mode {
            for (i, conn) in conns.iter_mut().enumerate() {
                for _ in 0..pipeline {
                    conn.enqueue(start);
                }
                if let Err(e) = conn.flush() {
                    fail(&poll, conn, e, rec);
                    live[i] = false;
                    live_count -= 1;
                }
            }
        }

        let mut measuring: Option<(Instant, Duration)> = None;
        let end = loop {
            let now = Instant::now();
            meter.update(rec, live_count);
            if measuring.is_none() && now >= measure_start {
                rec.start_measuring();
                measuring = Some((now, thread_cpu_time()));
            }
            if now >= measure_end || now >= timing.hard_deadline || live_count == 0 {
                break now;
            }
            if now >= next_snapshot {
                meter.snapshot(rec);
                next_snapshot = now + SNAPSHOT_INTERVAL;
            }

            let mut wake = if measuring.is_some() {
                measure_end
            } else {
                measure_start
            };
            wake = wake.min(timing.hard_deadline).min(next_snapshot);
            let timeout = if let Some(o) = open.as_mut() {
                o.advance(now);
                for c in std::mem::take(&mut o.ready) {
                    o.queued[c as usize] = false;
                    let i = c as usize;
                    if !live[i] {
                        continue;
                    }
                    if !o.queue_due(c, &mut conns[i]) {
                        continue;
                    }
                    if let Err(e) = conns[i].flush() {
                        fail(&poll, &mut conns[i], e, rec);
                        live[i] = false;
                        live_count -= 1;
                    }
                }
                wake = wake.min(o.sched.due_at(o.due));
                o.timer.arm(wake, now)?;
                let left = wake.saturating_duration_since(now);
                // Where the timer wakes the poll, the timeout is only a safety net.
                Some(if Timer::PRECISE {
                    left + Duration::from_millis(2)
                } else {
                    left
                })
            } else {
                Some(wake.saturating_duration_since(now))
            };

            match poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in &events {
                if event.token() == timer_token {
                    if let Some(o) = open.as_mut() {
                        o.timer.fired();
                    }
                    continue;
                }
                let i = event.token().0;
                if !live[i] {
                    continue;
                }
                if let Err(e) = service(i, &mut conns[i], event, &mut scratch, rec, open.as_mut()) {
                    fail(&poll, &mut conns[i], e, rec);
                    live[i] = false;
                    live_count -= 1;
                }
            }
        };
        meter.update(rec, live_count);
        if snapshots {
            meter.snapshot(rec);
        }

        Ok(match measuring {
            Some((t0, cpu0)) => Window {
                measured: Some((t0, end)),
                cpu: thread_cpu_time().saturating_sub(cpu0),
                cut_short: end < measure_end,
            },
            None => Window {
                measured: None,
                cpu: Duration::ZERO,
                cut_short: true,
            },
        })
    }
}

/// Handles one readiness event of local connection `i`: reads and checks echoes, queues what
/// the mode allows next (closed: one new message per completed one; open: due messages that
/// now fit), and writes what is queued.
fn service<S: Read + Write>(
    i: usize,
    conn: &mut Conn<S>,
    event: &Event,
    scratch: &mut [u8],
    rec: &mut Recorder,
    open: Option<&mut OpenLoop>,
) -> Result<(), ConnError> {
    if event.is_readable() || event.is_read_closed() || event.is_error() {
        let completed = conn.read_ready(scratch, |c| rec.complete(&c))?;
        if completed > 0 {
            match open {
                None => {
                    let now = Instant::now();
                    for _ in 0..completed {
                        conn.enqueue(now);
                    }
                }
                Some(o) => {
                    o.queue_due(i as u32, conn);
                }
            }
        }
    }
    conn.flush()
}

/// Counts a failed connection as an error and stops polling it.
fn fail<S: Read + Write + Source>(
    poll: &Poll,
    conn: &mut Conn<S>,
    e: ConnError,
    rec: &mut Recorder,
) {
    let id = conn.id();
    rec.error(format_args!("conn {id}: {e}"));
    // The connection is dropped from the loop either way; a failed deregister changes nothing.
    let _ = poll.registry().deregister(conn.stream_mut());
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::conn::Completion;

    /// A stream that keeps what is written and echoes it back on demand.
    #[derive(Debug, Default)]
    struct Loopback {
        sent: Vec<u8>,
        echo: VecDeque<u8>,
    }

    impl Loopback {
        fn echo_all(&mut self) {
            self.echo.extend(self.sent.drain(..));
        }
    }

    impl Read for Loopback {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.echo.is_empty() {
                return Err(ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.echo.len());
            for b in &mut buf[..n] {
                *b = self.echo.pop_front().unwrap();
            }
            Ok(n)
        }
    }

    impl Write for Loopback {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.sent.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Echoes everything `conn` sent and returns the completions.
    fn complete_all(conn: &mut Conn<Loopback>) -> Vec<Completion> {
        conn.stream_mut().echo_all();
        let mut done = Vec::new();
        conn.read_ready(&mut [0; 4096], |c| done.push(c)).unwrap();
        done
    }

    #[test]
    fn open_loop_sends_what_is_due_within_the_limit_stamped_with_its_due_time() {
        let poll = Poll::new().unwrap();
        let start = Instant::now();
        let sched = Schedule::new(start, 1000, 2);
        let timer = Timer::new(poll.registry(), Token(2)).unwrap();
        let mut o = OpenLoop::new(sched, Share::ALL, 2, 2, timer);
        let mut conns: Vec<Conn<Loopback>> = (0..2)
            .map(|id| Conn::new(id, Loopback::default(), 16))
            .collect();

        // Nothing is due before the start, message 0 (conn 0) at the start.
        o.advance(start);
        assert_eq!((o.due, o.ready.clone()), (1, vec![0]));
        // 10 ms in: messages 0..=10 are due, 6 on conn 0 (even n) and 5 on conn 1.
        o.advance(start + Duration::from_millis(10));
        assert_eq!(o.due, 11);
        assert_eq!(o.ready, [0, 1]);
        assert!(o.queue_due(0, &mut conns[0]));
        conns[0].flush().unwrap();
        // Only two fit in flight; the rest wait for echoes.
        assert_eq!(conns[0].in_flight(), 2);
        assert!(!o.queue_due(0, &mut conns[0]));

        let done = complete_all(&mut conns[0]);
        let sent: Vec<Instant> = done.iter().map(|c| c.sent).collect();
        assert_eq!(sent, [sched.due_at(0), sched.due_at(2)]);
        // Echoes free the slots: the next two due messages go out, stamped with their due
        // times (4 and 6 ms), not with the time they were actually sent.
        assert!(o.queue_due(0, &mut conns[0]));
        conns[0].flush().unwrap();
        let done = complete_all(&mut conns[0]);
        let sent: Vec<Duration> = done.iter().map(|c| c.sent - start).collect();
        assert_eq!(sent, [Duration::from_millis(4), Duration::from_millis(6)]);
        assert_eq!(done.iter().map(|c| c.seq).collect::<Vec<_>>(), [2, 3]);

        // Conn 1's first message is due at 1 ms, its fifth at 9 ms.
        assert!(o.queue_due(1, &mut conns[1]));
        conns[1].flush().unwrap();
        let done = complete_all(&mut conns[1]);
        assert_eq!(done[0].sent - start, Duration::from_millis(1));
        assert_eq!(o.next, [4, 2]);
        o.queue_due(1, &mut conns[1]);
        conns[1].flush().unwrap();
        o.queue_due(1, &mut conns[1]);
        conns[1].flush().unwrap();
        let _ = complete_all(&mut conns[1]);
        o.queue_due(1, &mut conns[1]);
        assert_eq!(o.next[1], 5, "never more than is due");

        // A long stall marks every connection at once.
        o.ready.clear();
        o.queued = vec![false; 2];
        o.advance(start + Duration::from_secs(5));
        assert_eq!(o.due, 5001);
        assert_eq!(o.ready, [0, 1]);
    }

    #[test]
    fn threads_split_the_open_loop_schedule_without_changing_it() {
        let poll = Poll::new().unwrap();
        let start = Instant::now();
        let (total, rate) = (5u32, 1000);
        let sched = Schedule::new(start, rate, total);
        let at = start + Duration::from_millis(37);

        // Every message due by `at`, as (connection, due time), queued by one thread or by two.
        let queued = |shares: &[Share]| {
            let mut out = Vec::new();
            for (t, &share) in shares.iter().enumerate() {
                let timer = Timer::new(poll.registry(), Token(100 + t)).unwrap();
                let n = share.len(total);
                let mut o = OpenLoop::new(sched, share, 1000, n as usize, timer);
                let mut conns: Vec<Conn<Loopback>> = (0..n)
                    .map(|l| Conn::new(share.global(l), Loopback::default(), 8))
                    .collect();
                o.advance(at);
                for c in std::mem::take(&mut o.ready) {
                    o.queue_due(c, &mut conns[c as usize]);
                }
                for conn in &mut conns {
                    conn.flush().unwrap();
                    let id = conn.id();
                    out.extend(complete_all(conn).iter().map(|d| (id, d.sent)));
                }
            }
            out.sort();
            out
        };
        let one = queued(&[Share::ALL]);
        let two = queued(&[Share { index: 0, count: 2 }, Share { index: 1, count: 2 }]);
        assert_eq!(one.len(), 38, "messages 0..=37 are due");
        assert_eq!(one, two);
    }
}
