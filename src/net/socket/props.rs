//! A socket's options (no-delay, keep-alive, ref) and Node's properties (addresses, byte
//! counts, `readyState`, ...).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::Socket;

impl Socket {
    /// Node's `setNoDelay(noDelay)`: true turns Nagle's algorithm off. No-op on Unix sockets
    /// and once destroyed.
    pub fn set_no_delay(&self, no_delay: bool) -> &Socket {
        if let Some(io) = self.inner.io.borrow().as_ref() {
            let _ = io.set_nodelay(no_delay);
        }
        self
    }

    /// Node's `setKeepAlive(enable, initialDelay)`: SO_KEEPALIVE with the first probe after
    /// `initial_delay` (zero: the system's), 10 probes 1 s apart. No-op once destroyed.
    pub fn set_keep_alive(&self, enable: bool, initial_delay: Duration) -> &Socket {
        if let Some(io) = self.inner.io.borrow().as_ref() {
            let _ = io.set_keepalive(enable.then_some(initial_delay));
        }
        self
    }

    /// Node's `ref()`: recorded only (a corenet runtime runs until shut down).
    pub fn ref_(&self) -> &Socket {
        self.inner.state.borrow_mut().refed = true;
        self
    }

    /// Node's `unref()`: see [`ref_`](Socket::ref_).
    pub fn unref(&self) -> &Socket {
        self.inner.state.borrow_mut().refed = false;
        self
    }

    /// Whether the socket is ref'd.
    pub fn is_refed(&self) -> bool {
        self.inner.state.borrow().refed
    }

    /// Node's `address()`: our bound address (None before connect).
    pub fn address(&self) -> Option<SocketAddr> {
        self.local_address()
    }

    /// Bytes received so far.
    pub fn bytes_read(&self) -> u64 {
        self.inner.state.borrow().bytes_read
    }

    /// Bytes accepted by `write` so far (sent or still queued).
    pub fn bytes_written(&self) -> u64 {
        self.inner.state.borrow().bytes_written
    }

    /// Node's `writableLength` (and `bufferSize`): bytes queued and not yet handed to the
    /// kernel, including those waiting for the connection.
    pub fn writable_length(&self) -> usize {
        let pending = self.inner.state.borrow().pending.len();
        pending + self.inner.io.borrow().as_ref().map_or(0, |io| io.queued())
    }

    /// Whether the socket was destroyed (or closed).
    pub fn destroyed(&self) -> bool {
        self.inner.state.borrow().destroyed
    }

    /// True from `connect` until `'connect'` or the failure.
    pub fn connecting(&self) -> bool {
        self.inner.state.borrow().connecting
    }

    /// Node's `pending`: not connected yet, or closed.
    pub fn pending(&self) -> bool {
        let st = self.inner.state.borrow();
        st.connecting || st.destroyed
    }

    /// Node's `readyState`: "opening", "open", "readOnly", "writeOnly" or "closed".
    pub fn ready_state(&self) -> &'static str {
        let st = self.inner.state.borrow();
        if st.connecting {
            return "opening";
        }
        let readable = !st.destroyed && !st.read_ended;
        let writable = !st.destroyed && !st.ending;
        match (readable, writable) {
            (true, true) => "open",
            (true, false) => "readOnly",
            (false, true) => "writeOnly",
            (false, false) => "closed",
        }
    }

    /// The peer's address (cached at connect/accept: still readable in `'close'`).
    pub fn remote_address(&self) -> Option<SocketAddr> {
        self.inner.state.borrow().remote
    }

    /// Node's `remoteFamily`: "IPv4" or "IPv6".
    pub fn remote_family(&self) -> Option<&'static str> {
        self.remote_address().map(|a| family(a.ip()))
    }

    /// Node's `remotePort`.
    pub fn remote_port(&self) -> Option<u16> {
        self.remote_address().map(|a| a.port())
    }

    /// Our address (Node's `address()`, `localAddress`, `localPort`).
    pub fn local_address(&self) -> Option<SocketAddr> {
        self.inner.state.borrow().local
    }

    /// Node's `localPort`.
    pub fn local_port(&self) -> Option<u16> {
        self.local_address().map(|a| a.port())
    }

    /// Node's `allowHalfOpen`.
    pub fn allow_half_open(&self) -> bool {
        self.inner.allow_half_open
    }

    /// The core this socket lives on.
    pub fn core(&self) -> usize {
        corenet_engine::current_core().unwrap_or(0)
    }
}

fn family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IPv4",
        IpAddr::V6(_) => "IPv6",
    }
}
