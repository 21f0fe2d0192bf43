//! `Runtime`: one executor thread per core, and the `RuntimeHandle` other threads use.

mod builder;
mod join;
#[cfg(unix)]
mod signals;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use slab::Slab;

pub use builder::Builder;
pub use join::RemoteHandle;

pub use crate::backend::Backend;
use crate::backend::Driver;
use crate::buf::BufPool;
use crate::executor::context::{self, CoreCtx};
use crate::executor::remote::{Message, Remote};
use crate::executor::{self, task};
use crate::reactor::{Limits, Reactor};
use crate::stats::{CoreStats, Counters};

/// Something a graceful shutdown closes (a server's listeners).
pub(crate) trait Closable: Send + Sync {
    /// Stops accepting everywhere; idempotent.
    fn close(&self);
}

/// What a driver factory is told about the core it builds a driver for.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DriverConfig {
    /// The core's index.
    pub core: usize,
    /// Submission queue entries (io_uring) or events per poll (readiness backends).
    pub ring_entries: u32,
    /// Bytes a connection's receive queue holds before its receive stops (the receive cap
    /// times the buffer size): the io_uring driver keeps one receive arming from taking more
    /// (0: no limit). Readiness drivers read a bounded batch per park and may ignore it.
    pub recv_limit: u32,
    /// Buffers for connections that stream, as `(count, size)` (`None`: none). The io_uring
    /// driver gives a receive these when the reactor hints that its connection streams; the
    /// compat driver on Unix reads into them once a read took more than a pool buffer (each
    /// read judged on the one before it); a driver may ignore it.
    pub stream_buffers: Option<(u16, u32)>,
}

impl DriverConfig {
    /// A configuration for core `core` (backend crates use it in their own tests).
    pub fn new(core: usize, ring_entries: u32) -> Self {
        DriverConfig {
            core,
            ring_entries,
            recv_limit: 0,
            stream_buffers: None,
        }
    }
}

/// Builds a core's driver on the core's thread, over the core's receive pool.
pub type DriverFactory =
    Arc<dyn Fn(&DriverConfig, Rc<BufPool>) -> io::Result<Box<dyn Driver>> + Send + Sync>;

/// The engine's own choice when no factory is given: io_uring.
fn default_driver(config: &DriverConfig, pool: Rc<BufPool>) -> io::Result<Box<dyn Driver>> {
    #[cfg(target_os = "linux")]
    {
        let stream = match config.stream_buffers {
            Some((count, size)) => Some(BufPool::new(count, size)?),
            None => None,
        };
        let d =
            crate::uring::UringDriver::new(config.ring_entries, config.recv_limit, pool, stream)?;
        tracing::debug!(core = config.core, mode = ?d.mode(), recv_limit = ?d.recv_limit(), "io_uring ring up");
        Ok(Box::new(d))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (config, pool);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring is Linux-only: use the compat backend",
        ))
    }
}

/// A thread-per-core runtime. Dropping it cancels every task, waits for every in-flight
/// operation and joins the threads.
///
/// # Examples
///
/// ```no_run
/// let rt = corenet_engine::Runtime::builder().cores(1).build()?;
/// let answer = rt.block_on(0, || async { 6 * 7 });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    handle: RuntimeHandle,
    threads: Vec<thread::JoinHandle<()>>,
}

/// A `Send + Sync + Clone` handle to a runtime: spawn on its cores from any thread.
#[derive(Clone)]
pub struct RuntimeHandle {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    /// Servers bound on this runtime, closed by a graceful shutdown.
    servers: std::sync::Mutex<Vec<std::sync::Weak<dyn Closable>>>,
    remotes: Vec<Arc<Remote>>,
    counters: Vec<Arc<Counters>>,
    backend: Backend,
}

impl Runtime {
    /// A builder with the defaults.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A runtime with the defaults (every CPU in the affinity mask, pinned).
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    fn start(b: Builder) -> io::Result<Runtime> {
        let cpus = core_affinity::get_core_ids().unwrap_or_default();
        if b.cores == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cores(0): a runtime needs at least one core",
            ));
        }
        let cores = b.cores.unwrap_or(cpus.len()).max(1);
        if b.pin && cpus.is_empty() {
            return Err(io::Error::other(
                "cannot read the CPU affinity mask to pin cores",
            ));
        }
        #[cfg(unix)]
        crate::sys::reserve_fd_table();
        let remotes: Vec<Arc<Remote>> = (0..cores).map(|i| Arc::new(Remote::new(i))).collect();
        let counters: Vec<Arc<Counters>> = (0..cores).map(|_| Arc::default()).collect();
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<Backend>>();
        let mut threads = Vec::with_capacity(cores);
        for (i, remote) in remotes.iter().enumerate() {
            let remote = remote.clone();
            let core_counters = counters[i].clone();
            let siblings = remotes.clone();
            let ready = ready_tx.clone();
            let b = b.clone();
            let cpu = (b.pin).then(|| cpus[i % cpus.len()]);
            let spawned = thread::Builder::new()
                .name(format!("corenet-core-{i}"))
                .spawn(move || {
                    // Cores never take SIGINT/SIGTERM: they go to a thread that handles them
                    // (default action, or shutdown_on_signals' signalfd).
                    #[cfg(unix)]
                    signals::block_in_this_thread();
                    if let Some(cpu) = cpu {
                        if !core_affinity::set_for_current(cpu) {
                            tracing::warn!(core = i, "could not pin to CPU {}", cpu.id);
                        }
                    }
                    if let Some(f) = &b.on_thread_start {
                        f(i);
                    }
                    match setup_core(i, siblings, core_counters, &b) {
                        Ok((ctx, backend)) => {
                            let _ = ready.send(Ok(backend));
                            drop(ready);
                            context::set_current(Some(ctx.clone()));
                            executor::run(&ctx);
                            context::set_current(None);
                        }
                        Err(e) => {
                            remote.close();
                            let _ = ready.send(Err(e));
                        }
                    }
                });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    shutdown_threads(&remotes, threads);
                    return Err(e);
                }
            }
        }
        drop(ready_tx);
        let mut backend = Backend::IoUring;
        let mut failure = None;
        for _ in 0..cores {
            match ready_rx.recv() {
                Ok(Ok(b)) => backend = b,
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(_) => {
                    failure = failure.or(Some(io::Error::other("a core thread died during setup")))
                }
            }
        }
        if let Some(e) = failure {
            shutdown_threads(&remotes, threads);
            return Err(e);
        }
        let shared = Arc::new(Shared {
            servers: std::sync::Mutex::new(Vec::new()),
            remotes,
            counters,
            backend,
        });
        for r in &shared.remotes {
            r.set_runtime(Arc::downgrade(&shared));
        }
        Ok(Runtime {
            handle: RuntimeHandle { inner: shared },
            threads,
        })
    }

    /// A handle for other threads.
    pub fn handle(&self) -> RuntimeHandle {
        self.handle.clone()
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.handle.cores()
    }

    /// The backend the cores run on.
    pub fn backend(&self) -> Backend {
        self.handle.backend()
    }

    /// A snapshot of every core's counters.
    pub fn stats(&self) -> Vec<CoreStats> {
        self.handle.stats()
    }

    /// See [`RuntimeHandle::spawn_on`].
    pub fn spawn_on<F, Fut>(&self, core: usize, make: F) -> RemoteHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.handle.spawn_on(core, make)
    }

    /// Runs `make()` on `core` and blocks this thread until it finishes.
    ///
    /// # Panics
    ///
    /// If the task panics (the panic is resumed here), or is cancelled by shutdown, or when
    /// called from a core of the runtime (it would block that core).
    pub fn block_on<F, Fut>(&self, core: usize, make: F) -> Fut::Output
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        assert!(
            context::current_core().is_none(),
            "block_on called from a corenet core"
        );
        match self.spawn_on(core, make).join() {
            Ok(v) => v,
            Err(e) => match e.into_panic() {
                Some(p) => std::panic::resume_unwind(p),
                None => panic!("task cancelled"),
            },
        }
    }
}

impl Runtime {
    /// Stops accepting on every core at once, lets open connections finish, destroys those
    /// still open after `grace`, and waits for every core to stop.
    pub fn shutdown_graceful(mut self, grace: Duration) {
        self.handle.shutdown_graceful(grace);
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }

    /// Blocks until the runtime has stopped (after a shutdown requested through a handle or
    /// by a signal, see [`RuntimeHandle::shutdown_on_signals`]).
    pub fn wait(mut self) {
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        shutdown_threads(
            &self.handle.inner.remotes,
            std::mem::take(&mut self.threads),
        );
    }
}

fn shutdown_threads(remotes: &[Arc<Remote>], threads: Vec<thread::JoinHandle<()>>) {
    for r in remotes {
        r.request_shutdown();
    }
    for t in threads {
        let _ = t.join();
    }
}

/// Creates a core's buffers, driver, reactor and context, on the core's thread.
fn setup_core(
    id: usize,
    siblings: Vec<Arc<Remote>>,
    counters: Arc<Counters>,
    b: &Builder,
) -> io::Result<(Rc<CoreCtx>, Backend)> {
    let pool = BufPool::new(b.buffer_count, b.buffer_size)?;
    let recv_limit = (b.rx_cap as u64 * u64::from(b.buffer_size)).min(u64::from(u32::MAX)) as u32;
    let config = DriverConfig {
        core: id,
        ring_entries: b.ring_entries,
        recv_limit,
        stream_buffers: b.stream_pool(),
    };
    let mut driver: Box<dyn Driver> = match &b.driver_factory {
        Some(factory) => factory(&config, pool.clone())?,
        None => default_driver(&config, pool.clone())?,
    };
    let backend = driver.backend();
    let remote = siblings[id].clone();
    remote.set_unparker(driver.unparker());
    let ring_fd = driver.ring().map(|ring| ring.ring_fd());
    let limits = Limits {
        rx_cap: b.rx_cap,
        high_water: b.high_water,
    };
    let reactor = Reactor::new(driver, pool, limits, counters.clone());
    tracing::debug!(core = id, backend = ?reactor.backend(), "core up");
    let ctx = Rc::new(CoreCtx {
        id,
        reactor: RefCell::new(reactor),
        run_queue: RefCell::new(VecDeque::with_capacity(1024)),
        remote,
        tasks: RefCell::new(Slab::new()),
        closing: Cell::new(false),
        drain_deadline: Cell::new(None),
        siblings,
        ring_wakes: RefCell::new(Vec::new()),
        ring_wakes_enabled: Cell::new(ring_fd.is_some()),
        timers: RefCell::default(),
        counters,
    });
    #[cfg(unix)]
    if let Some(fd) = ring_fd {
        if let Err(e) = ctx.remote.publish_ring_fd(fd) {
            tracing::warn!(core = id, "siblings wake this core by eventfd: {e}");
        }
    }
    Ok((ctx, backend))
}

impl RuntimeHandle {
    /// The runtime of the core the current thread runs, if it is one.
    pub fn current() -> Option<RuntimeHandle> {
        let ctx = context::try_current()?;
        let inner = ctx.remote.runtime()?.upgrade()?;
        Some(RuntimeHandle { inner })
    }

    /// Number of cores.
    pub fn cores(&self) -> usize {
        self.inner.remotes.len()
    }

    /// The backend the cores run on.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// A snapshot of every core's counters.
    pub fn stats(&self) -> Vec<CoreStats> {
        self.inner
            .counters
            .iter()
            .enumerate()
            .map(|(i, c)| c.snapshot(i))
            .collect()
    }

    /// Registers a server for [`shutdown_graceful`](Self::shutdown_graceful) to close.
    pub(crate) fn register_server(&self, server: std::sync::Weak<dyn Closable>) {
        let mut servers = self.inner.servers.lock().unwrap_or_else(|e| e.into_inner());
        servers.retain(|s| s.strong_count() > 0);
        servers.push(server);
    }

    pub(crate) fn remote(&self, core: usize) -> &Arc<Remote> {
        &self.inner.remotes[core]
    }

    pub(crate) fn owns(&self, remote: &Arc<Remote>) -> bool {
        self.inner
            .remotes
            .get(remote.core)
            .is_some_and(|r| Arc::ptr_eq(r, remote))
    }

    /// Spawns a task on `core`: `make` is sent there (so it must be `Send`) and builds the
    /// future there (which need not be). The returned handle can be awaited or joined from
    /// any thread.
    ///
    /// # Panics
    ///
    /// If `core` is out of range.
    pub fn spawn_on<F, Fut>(&self, core: usize, make: F) -> RemoteHandle<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = move || {
            let ctx = context::current();
            if ctx.closing.get() {
                return;
            }
            task::spawn_on_ctx(&ctx, async move {
                let out = make().await;
                let _ = tx.send(out);
            })
            .detach();
        };
        // If the core is gone, the job (and `tx`) drop here and the handle reports
        // cancellation.
        let _ = self.inner.remotes[core].send(Message::Job(Box::new(job)));
        RemoteHandle::new(rx)
    }

    /// Starts a graceful shutdown without waiting: every core stops accepting at once, and
    /// stops once its connections have ended or `grace` has passed (destroying the rest).
    pub fn shutdown_graceful(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        // Every server stops accepting, including listeners no core has claimed yet.
        let servers =
            std::mem::take(&mut *self.inner.servers.lock().unwrap_or_else(|e| e.into_inner()));
        for server in servers.iter().filter_map(std::sync::Weak::upgrade) {
            server.close();
        }
        for r in &self.inner.remotes {
            let job = move || {
                if let Some(ctx) = context::try_current() {
                    executor::drain(&ctx, deadline);
                }
            };
            let _ = r.send(Message::Job(Box::new(job)));
        }
    }

    /// Turns SIGINT and SIGTERM into [`shutdown_graceful(grace)`](Self::shutdown_graceful).
    ///
    /// Call it from the main thread before starting other threads: it blocks both signals in
    /// the calling thread (core threads always block them) and takes them with `sigwait` on a
    /// small thread of its own. Threads that do not block them still get the default action.
    ///
    /// # Errors
    ///
    /// The thread-spawn error.
    #[cfg(unix)]
    pub fn shutdown_on_signals(&self, grace: Duration) -> io::Result<()> {
        signals::watch(self.clone(), grace)
    }

    /// Asks every core to stop (as dropping the [`Runtime`] does, without joining).
    pub fn shutdown(&self) {
        for r in &self.inner.remotes {
            r.request_shutdown();
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("cores", &self.cores())
            .field("backend", &self.backend())
            .finish()
    }
}

impl fmt::Debug for RuntimeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeHandle")
            .field("cores", &self.cores())
            .finish()
    }
}

/// Tasks alive on the current core's table (for tests and stats).
#[allow(dead_code)]
pub(crate) fn live_tasks() -> usize {
    context::try_current().map_or(0, |c| c.tasks.borrow().len())
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<RuntimeHandle>();
    is_send_sync::<Runtime>();
}

#[allow(dead_code)]
fn _join_error_is_used(_: task::JoinError) {}
