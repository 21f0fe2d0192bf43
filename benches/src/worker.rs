//! The load threads: the run's connections spread over `--threads` event-loop threads, each
//! with its own poller, [`Recorder`] and (optionally) CPU, started together and watched by the
//! main thread, which draws the progress line.
//!
//! Connection i goes to thread i mod N (its [`Share`]). Each thread sets itself up (pinning,
//! poller, registrations) and says so; once every thread is ready the main thread hands them
//! all the same start instant, so the warm-up, the measured window and the open-loop schedule
//! are common to the run. If any thread cannot set up, none starts.

use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use mio::event::Source;

use crate::cli::CpuList;
use crate::conn::Conn;
use crate::driver::{Driver, Mode, Timing, Window};
use crate::progress::{Meter, Progress, note};
use crate::schedule::Share;
use crate::stats::Recorder;

/// What the load threads are to do.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// Closed or open loop (the open-loop rate is the whole run's).
    pub mode: Mode,
    /// Warm-up, measured window and hard deadline.
    pub timing: Timing,
    /// Number of load threads (at most the number of connections).
    pub threads: u32,
    /// CPUs to pin the threads to, round robin.
    pub pin: Option<&'a CpuList>,
}

/// What one load thread did.
#[derive(Debug)]
pub struct Report {
    /// The thread's number.
    pub index: u32,
    /// The CPU it was pinned to.
    pub cpu: Option<usize>,
    /// How many connections it drove.
    pub conns: usize,
    /// Its completions, errors and latencies.
    pub rec: Recorder,
    /// Its measured window and CPU time.
    pub window: Window,
}

/// Runs the load on `conns` (connection ids 0..n) with `plan`, drawing `progress` on the
/// way; returns each thread's report, in thread order.
pub fn run<S>(
    conns: Vec<Conn<S>>,
    plan: Plan<'_>,
    progress: &mut Progress,
) -> Result<Vec<Report>, String>
where
    S: Read + Write + Source + Send,
{
    let total = u32::try_from(conns.len()).map_err(|_| "too many connections".to_string())?;
    let n = plan.threads;
    if n == 0 || n > total {
        return Err(format!(
            "--threads {n} needs at least {n} connections (--conns is {total})"
        ));
    }
    let mut parts: Vec<Vec<Conn<S>>> = (0..n)
        .map(|index| Vec::with_capacity(Share { index, count: n }.len(total) as usize))
        .collect();
    for conn in conns {
        parts[(conn.id() % n) as usize].push(conn);
    }
    let meters: Vec<Meter> = parts.iter().map(|p| Meter::new(p.len())).collect();
    let snapshots = progress.enabled();

    thread::scope(|scope| {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let mut go = Vec::with_capacity(n as usize);
        let mut handles = Vec::with_capacity(n as usize);
        for (t, part) in parts.into_iter().enumerate() {
            let index = t as u32;
            let share = Share { index, count: n };
            let cpu = plan.pin.map(|l| l.0[t % l.0.len()]);
            let (go_tx, go_rx) = mpsc::channel::<Instant>();
            let (ready_tx, done_tx, meter) = (ready_tx.clone(), done_tx.clone(), &meters[t]);
            let conns = part.len();
            let body = move || -> Result<Report, String> {
                let setup = pin(cpu)
                    .map_err(|e| format!("thread {index}: {e}"))
                    .and_then(|()| {
                        Driver::new(part, plan.mode, share, total)
                            .map_err(|e| format!("thread {index}: poller: {e}"))
                    });
                let ok = setup.as_ref().map(|_| ()).map_err(Clone::clone);
                let _ = ready_tx.send(ok);
                // Dropped now, so that the main thread stops waiting if another thread dies.
                drop(ready_tx);
                let driver = setup?;
                // No start instant: another thread failed, and the main thread gave up.
                let start = go_rx
                    .recv()
                    .map_err(|_| format!("thread {index}: not started"))?;
                let mut rec = Recorder::new();
                let window = driver
                    .run(start, plan.timing, &mut rec, meter, snapshots)
                    .map_err(|e| format!("thread {index}: poll: {e}"));
                let _ = done_tx.send(());
                Ok(Report {
                    index,
                    cpu,
                    conns,
                    rec,
                    window: window?,
                })
            };
            let handle = thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn_scoped(scope, body)
                .map_err(|e| format!("spawn load thread {t}: {e}"))?;
            go.push(go_tx);
            handles.push(handle);
        }
        drop((ready_tx, done_tx));

        // Every thread set up, or the first reason one could not.
        let setup: Result<(), String> = ready_rx.iter().take(handles.len()).collect();
        let started = setup.is_ok();
        if started {
            let start = Instant::now();
            for tx in &go {
                // A thread that is gone reports why when joined.
                let _ = tx.send(start);
            }
            watch(
                start,
                plan.timing,
                &meters,
                total as usize,
                &done_rx,
                progress,
            );
        }
        drop(go);
        let mut reports = Vec::with_capacity(handles.len());
        let mut first_err = setup.err();
        for (t, h) in handles.into_iter().enumerate() {
            match h.join() {
                Ok(Ok(r)) => reports.push(r),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(format!("load thread {t} panicked"));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(reports),
        }
    })
}

/// The main thread's part of the run: announces the measured window and redraws the progress
/// line until every load thread is done.
fn watch(
    start: Instant,
    timing: Timing,
    meters: &[Meter],
    conns: usize,
    done: &mpsc::Receiver<()>,
    progress: &mut Progress,
) {
    let measure_start = start + timing.warmup;
    let measure_end = measure_start + timing.duration;
    progress.start(start, measure_start, measure_end);
    let mut announced = false;
    let mut left = meters.len();
    while left > 0 {
        let now = Instant::now();
        if !announced && now >= measure_start {
            note(format_args!(
                "corenet-bench: measuring for {:.1} s",
                timing.duration.as_secs_f64()
            ));
            announced = true;
        }
        progress.tick(now, meters, conns);
        let mut wake = progress.next_tick();
        if !announced {
            wake = wake.min(measure_start);
        }
        match done.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(()) => left -= 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    progress.clear();
}

/// Pins the calling thread to `cpu`, if given.
fn pin(cpu: Option<usize>) -> Result<(), String> {
    match cpu {
        None => Ok(()),
        Some(id) if core_affinity::set_for_current(core_affinity::CoreId { id }) => Ok(()),
        Some(id) => Err(format!(
            "cannot pin to CPU {id} (offline, or outside this process's CPU set?)"
        )),
    }
}
