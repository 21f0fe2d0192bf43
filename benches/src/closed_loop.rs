//! The closed-loop driver: one thread, one mio poller; each connection keeps `pipeline`
//! messages in flight and sends a new one for every echo that completes.

use std::io::{self, ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use mio::event::{Event, Source};
use mio::{Events, Interest, Poll, Token};

use crate::conn::{Conn, ConnError};
use crate::cpu::process_cpu_time;
use crate::stats::Recorder;

/// Size of the buffer each read lands in.
const READ_BUF: usize = 64 * 1024;

/// When the phases of a run begin and end.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Load without measurement, from the start of the run.
    pub warmup: Duration,
    /// Measured window, right after the warm-up.
    pub duration: Duration,
    /// The run stops here whatever happens.
    pub hard_deadline: Instant,
}

/// What the run measured, for [`Recorder::summary`].
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Wall time of the measured window.
    pub wall: Duration,
    /// This process's CPU time during it.
    pub cpu: Duration,
    /// The window ended early (hard deadline, or every connection failed).
    pub cut_short: bool,
}

/// Runs the closed loop on `conns` until the measured window is over, recording into `rec`.
pub fn run<S: Read + Write + Source>(
    conns: &mut [Conn<S>],
    pipeline: u32,
    timing: Timing,
    rec: &mut Recorder,
) -> io::Result<Window> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; READ_BUF];
    let mut live = vec![true; conns.len()];
    let mut live_count = conns.len();

    let start = Instant::now();
    let measure_start = start + timing.warmup;
    let measure_end = measure_start + timing.duration;

    for (i, conn) in conns.iter_mut().enumerate() {
        poll.registry().register(
            conn.stream_mut(),
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        for _ in 0..pipeline {
            conn.enqueue(start);
        }
        if let Err(e) = conn.flush() {
            fail(&poll, conn, e, rec);
            live[i] = false;
            live_count -= 1;
        }
    }

    let mut measuring: Option<(Instant, Duration)> = None;
    let end = loop {
        let now = Instant::now();
        if measuring.is_none() && now >= measure_start {
            eprintln!(
                "corenet-bench: measuring for {:.1} s",
                timing.duration.as_secs_f64()
            );
            rec.start_measuring();
            measuring = Some((now, process_cpu_time()));
        }
        if now >= measure_end || now >= timing.hard_deadline || live_count == 0 {
            break now;
        }
        let next = if measuring.is_some() {
            measure_end
        } else {
            measure_start
        };
        match poll.poll(&mut events, Some(next.min(timing.hard_deadline) - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in &events {
            let i = event.token().0;
            if !live[i] {
                continue;
            }
            let conn = &mut conns[i];
            if let Err(e) = service(conn, event, &mut scratch, rec) {
                fail(&poll, conn, e, rec);
                live[i] = false;
                live_count -= 1;
            }
        }
    };

    Ok(match measuring {
        Some((t0, cpu0)) => Window {
            wall: end - t0,
            cpu: process_cpu_time().saturating_sub(cpu0),
            cut_short: end < measure_end,
        },
        None => Window {
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
            cut_short: true,
        },
    })
}

/// Handles one readiness event: reads and checks echoes, sends one new message per completed
/// one, and writes what is queued.
fn service<S: Read + Write>(
    conn: &mut Conn<S>,
    event: &Event,
    scratch: &mut [u8],
    rec: &mut Recorder,
) -> Result<(), ConnError> {
    if event.is_readable() || event.is_read_closed() || event.is_error() {
        let completed = conn.read_ready(scratch, |c| rec.complete(&c))?;
        if completed > 0 {
            let now = Instant::now();
            for _ in 0..completed {
                conn.enqueue(now);
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
