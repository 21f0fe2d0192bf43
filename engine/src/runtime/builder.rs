//! `Builder`: how many cores, pinning, ring and buffer sizes, per-connection limits.

use std::fmt;
use std::io;
use std::sync::Arc;

use super::{DriverFactory, Runtime};

/// Configures and starts a [`Runtime`].
///
/// # Examples
///
/// ```no_run
/// let rt = corenet_engine::Runtime::builder().cores(2).pin(false).build()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Builder {
    pub(crate) cores: Option<usize>,
    pub(crate) pin: bool,
    pub(crate) ring_entries: u32,
    pub(crate) buffer_count: u16,
    pub(crate) buffer_size: u32,
    pub(crate) stream_buffers: bool,
    pub(crate) rx_cap: usize,
    pub(crate) high_water: usize,
    pub(crate) on_thread_start: Option<Arc<dyn Fn(usize) + Send + Sync>>,
    pub(crate) driver_factory: Option<DriverFactory>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            cores: None,
            pin: true,
            ring_entries: 1024,
            // 2048 x 4 KiB = 8 MiB of receive buffers per core, touched only as used.
            buffer_count: 2048,
            buffer_size: 4096,
            stream_buffers: true,
            rx_cap: 16,
            high_water: 64 * 1024,
            on_thread_start: None,
            driver_factory: None,
        }
    }
}

impl Builder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cores (executor threads). Default: the CPUs in the process's affinity mask.
    pub fn cores(mut self, n: usize) -> Self {
        self.cores = Some(n);
        self
    }

    /// Pin each core's thread to its CPU (default on; tests turn it off).
    pub fn pin(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// Submission queue entries per core (default 1024); the completion queue gets 8x.
    pub fn ring_entries(mut self, n: u32) -> Self {
        self.ring_entries = n;
        self
    }

    /// Receive buffers per core: a power of two up to 32768 (default 2048).
    pub fn buffer_count(mut self, n: u16) -> Self {
        self.buffer_count = n;
        self
    }

    /// Size of each receive buffer in bytes (default 4096).
    pub fn buffer_size(mut self, n: u32) -> Self {
        self.buffer_size = n;
        self
    }

    /// Whether connections that stream receive into larger buffers (default on; io_uring,
    /// and compat on Unix): an eighth as many as [`buffer_count`](Self::buffer_count), four
    /// times [`buffer_size`](Self::buffer_size) each (256 x 16 KiB by default, 4 MiB more per
    /// core, touched only as used). A connection streams once a receive fills a buffer at
    /// once; a 64 KiB burst then takes 4 buffers, not 16 (docs/architecture.md, "The receive
    /// path"). Off: every receive uses the pool.
    pub fn stream_buffers(mut self, on: bool) -> Self {
        self.stream_buffers = on;
        self
    }

    /// The streaming connections' buffers as `(count, size)`, if on.
    pub(crate) fn stream_pool(&self) -> Option<(u16, u32)> {
        let size = self.buffer_size.checked_mul(4)?;
        self.stream_buffers
            .then_some(((self.buffer_count / 8).max(1), size))
    }

    /// Received chunks queued per connection before its receive is paused (default 16).
    pub fn connection_buffer_cap(mut self, n: usize) -> Self {
        self.rx_cap = n.max(1);
        self
    }

    /// Queued send bytes per connection past which `write().await` waits (default 64 KiB).
    pub fn write_high_water(mut self, n: usize) -> Self {
        self.high_water = n.max(1);
        self
    }

    /// Runs `f(core_index)` on each core's thread as it starts.
    pub fn on_thread_start(mut self, f: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Builds each core's driver with `factory` instead of the engine's io_uring driver
    /// (how the `corenet` crate plugs in the compat backend).
    #[doc(hidden)]
    pub fn driver_factory(mut self, factory: DriverFactory) -> Self {
        self.driver_factory = Some(factory);
        self
    }

    /// Starts the runtime: one thread per core, each with its own ring.
    ///
    /// On Unix it first grows the process's descriptor table to the soft `RLIMIT_NOFILE` (at
    /// most 65,536 slots), so that accepts never wait for the table to grow (which stalls them
    /// for an RCU grace period in a multi-threaded process, long enough for the listen queue
    /// to overflow).
    ///
    /// # Errors
    ///
    /// When a core's ring or buffers cannot be set up (io_uring missing or forbidden, kernel
    /// too old, memory limits), or the settings are invalid (`InvalidInput`: zero cores, a
    /// buffer count that is not a power of two up to 32768, a zero buffer size).
    pub fn build(self) -> io::Result<Runtime> {
        Runtime::start(self)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("cores", &self.cores)
            .field("pin", &self.pin)
            .field("ring_entries", &self.ring_entries)
            .field("buffer_count", &self.buffer_count)
            .field("buffer_size", &self.buffer_size)
            .field("stream_buffers", &self.stream_buffers)
            .field("rx_cap", &self.rx_cap)
            .field("high_water", &self.high_water)
            .finish()
    }
}
