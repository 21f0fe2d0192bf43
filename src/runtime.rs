//! `Runtime` and `Builder`: the engine's runtime with the backend chosen in one place.

use std::fmt;
use std::io;
use std::ops::Deref;
use std::time::Duration;

use corenet_engine as engine;

use crate::Backend;
use crate::backend_choice;

/// Configures and starts a [`Runtime`].
///
/// # Examples
///
/// ```no_run
/// use corenet::{Backend, Runtime};
///
/// let rt = Runtime::builder().cores(2).backend(Backend::Compat).build()?;
/// assert_eq!(rt.backend(), Backend::Compat);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    engine: engine::Builder,
    backend: Option<Backend>,
}

impl Builder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cores (executor threads). Default: the CPUs in the process's affinity mask.
    pub fn cores(mut self, n: usize) -> Self {
        self.engine = self.engine.cores(n);
        self
    }

    /// Pin each core's thread to its CPU (default on; tests turn it off).
    pub fn pin(mut self, pin: bool) -> Self {
        self.engine = self.engine.pin(pin);
        self
    }

    /// Forces a backend. Default: io_uring where it can be set up and has what the engine
    /// needs, else compat (said once in the log, with the reason); `CORENET_BACKEND=uring|compat`
    /// in the environment (read by [`build`](Builder::build)) forces one too. This call wins
    /// over the environment.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }

    /// Chooses the backend by name, as a command line or a configuration file gives it:
    /// `auto` (the default choice, as without [`backend`](Builder::backend); the environment
    /// may still force one), `uring` (or `io_uring`), or `compat`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for any other name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let rt = corenet::Runtime::builder().backend_named("auto")?.build()?;
    /// eprintln!("running on {}", rt.backend());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn backend_named(mut self, name: &str) -> io::Result<Self> {
        self.backend = backend_choice::parse_name(name)?;
        Ok(self)
    }

    /// Submission queue entries per core (io_uring; default 1024), events per poll (compat).
    pub fn ring_entries(mut self, n: u32) -> Self {
        self.engine = self.engine.ring_entries(n);
        self
    }

    /// Receive buffers per core: a power of two up to 32768 (default 2048).
    pub fn buffer_count(mut self, n: u16) -> Self {
        self.engine = self.engine.buffer_count(n);
        self
    }

    /// Size of each receive buffer in bytes (default 4096).
    pub fn buffer_size(mut self, n: u32) -> Self {
        self.engine = self.engine.buffer_size(n);
        self
    }

    /// Whether connections that stream receive into larger buffers (io_uring, and compat on
    /// Unix; default on): an eighth as many as the buffer count, four times the buffer size
    /// each.
    pub fn stream_buffers(mut self, on: bool) -> Self {
        self.engine = self.engine.stream_buffers(on);
        self
    }

    /// Received chunks queued per connection before its receive is paused (default 16).
    pub fn connection_buffer_cap(mut self, n: usize) -> Self {
        self.engine = self.engine.connection_buffer_cap(n);
        self
    }

    /// Queued send bytes per connection past which `write().await` waits (default 64 KiB).
    pub fn write_high_water(mut self, n: usize) -> Self {
        self.engine = self.engine.write_high_water(n);
        self
    }

    /// Runs `f(core_index)` on each core's thread as it starts.
    pub fn on_thread_start(mut self, f: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.engine = self.engine.on_thread_start(f);
        self
    }

    /// Starts the runtime on the chosen backend.
    ///
    /// # Errors
    ///
    /// When the forced backend cannot start (e.g. `Backend::IoUring` where io_uring is
    /// missing or forbidden: the error says why), or `CORENET_BACKEND` holds something else
    /// than `uring` or `compat`, or the settings are invalid.
    pub fn build(self) -> io::Result<Runtime> {
        let env = std::env::var("CORENET_BACKEND").ok();
        let inner = backend_choice::start(self.engine, self.backend, env.as_deref())?;
        Ok(Runtime { inner })
    }
}

/// A thread-per-core runtime: one executor thread per core, each with its own ring (or
/// poller), buffers, timers and connections.
///
/// Everything the engine's runtime offers is available through `Deref` (`handle`, `cores`,
/// `backend`, `stats`, `spawn_on`, `block_on`). Dropping it cancels every task, waits for
/// every in-flight operation and joins the threads.
///
/// # Examples
///
/// ```no_run
/// let rt = corenet::Runtime::builder().cores(1).build()?;
/// assert_eq!(rt.block_on(0, || async { 6 * 7 }), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    inner: engine::Runtime,
}

impl Runtime {
    /// A builder with the defaults.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A runtime with the defaults (every CPU in the affinity mask, pinned, backend chosen
    /// automatically).
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Stops accepting on every core at once, lets open connections finish, destroys those
    /// still open after `grace`, and waits for every core to stop.
    pub fn shutdown_graceful(self, grace: Duration) {
        self.inner.shutdown_graceful(grace);
    }

    /// Blocks until the runtime has stopped (after a shutdown requested through a handle or
    /// by a signal).
    pub fn wait(self) {
        self.inner.wait();
    }
}

impl Deref for Runtime {
    type Target = engine::Runtime;

    fn deref(&self) -> &engine::Runtime {
        &self.inner
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
