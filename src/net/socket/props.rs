//! A socket's options (no-delay, keep-alive, ref) and Node's properties (addresses, byte
//! counts, `readyState`, ...).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::Socket;

impl Socket {
    /// Node's `setNoDelay(noDelay)`: true turns Nagle's algorithm off. Called before
    /// `'connect'` (or before a reconnect), the value is remembered and applied when the
    /// connection comes up, before `'connect'` and before the bytes written while connecting
    /// go out. No-op on Unix sockets.
    pub fn set_no_delay(&self, no_delay: bool) -> &Socket {
        self.inner.state.borrow_mut().no_delay = Some(no_delay);
        if let Some(io) = self.inner.io.borrow().as_ref() {
            let _ = io.set_nodelay(no_delay);
        }
        self
    }

    /// Node's `setKeepAlive(enable, initialDelay)`: SO_KEEPALIVE with the first probe after
    /// `initial_delay` (zero: the system's), 10 probes 1 s apart. Called before `'connect'`,
    /// it is remembered and applied when the connection comes up, as
    /// [`set_no_delay`](Socket::set_no_delay).
    pub fn set_keep_alive(&self, enable: bool, initial_delay: Duration) -> &Socket {
        let keep_alive = enable.then_some(initial_delay);
        self.inner.state.borrow_mut().keep_alive = Some(keep_alive);
        if let Some(io) = self.inner.io.borrow().as_ref() {
            let _ = io.set_keepalive(keep_alive);
        }
        self
    }

    /// Applies the options set before the connection existed to the new connection.
    pub(super) fn apply_options(&self, io: &corenet_engine::Socket) {
        let (no_delay, keep_alive) = {
            let st = self.inner.state.borrow();
            (st.no_delay, st.keep_alive)
        };
        // Errors are ignored as in the setters (a Unix socket has no TCP options).
        if let Some(no_delay) = no_delay {
            let _ = io.set_nodelay(no_delay);
        }
        if let Some(keep_alive) = keep_alive {
            let _ = io.set_keepalive(keep_alive);
        }
    }

    /// Whether the connection has Nagle's algorithm off, as the kernel reports it
    /// (`getsockopt(TCP_NODELAY)`); `None` without a TCP connection. Node has no such
    /// getter.
    pub fn no_delay(&self) -> Option<bool> {
        self.inner.io.borrow().as_ref()?.nodelay().ok()
    }

    /// Whether the connection has keep-alive probes on, as the kernel reports it
    /// (`getsockopt(SO_KEEPALIVE)`); `None` without a connection. Node has no such getter.
    pub fn keep_alive(&self) -> Option<bool> {
        self.inner.io.borrow().as_ref()?.keepalive().ok()
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

    /// Node's `writableLength`: bytes queued and not yet handed to the kernel, including
    /// those waiting for the connection or an `uncork`.
    pub fn writable_length(&self) -> usize {
        let pending = self.inner.state.borrow().pending.len();
        pending + self.inner.io.borrow().as_ref().map_or(0, |io| io.queued())
    }

    /// Node's `writableNeedDrain`: a `write` returned false and `'drain'` has not come yet.
    pub fn writable_need_drain(&self) -> bool {
        self.inner.state.borrow().need_drain
    }

    /// Node's `bufferSize` (deprecated there in favour of `writableLength`): the same count,
    /// but `None` when there is no connection (before `connect`, after `'close'`).
    pub fn buffer_size(&self) -> Option<usize> {
        (!self.pending() || self.connecting()).then(|| self.writable_length())
    }

    /// Whether the socket was destroyed (or closed).
    pub fn destroyed(&self) -> bool {
        self.inner.state.borrow().destroyed
    }

    /// True from `connect` until `'connect'` or the failure.
    pub fn connecting(&self) -> bool {
        self.inner.state.borrow().connecting
    }

    /// Node's `pending`: no connection yet (new, connecting) or none any more (closed).
    pub fn pending(&self) -> bool {
        self.inner.state.borrow().connecting || self.inner.io.borrow().is_none()
    }

    /// Node's `readable`: a connection (or one being opened) whose peer has not ended.
    pub fn readable(&self) -> bool {
        let st = self.inner.state.borrow();
        let open = st.connecting || self.inner.io.borrow().is_some();
        open && !st.destroyed && !st.read_ended
    }

    /// Node's `writable`: a connection (or one being opened) that we have not ended.
    pub fn writable(&self) -> bool {
        let st = self.inner.state.borrow();
        let open = st.connecting || self.inner.io.borrow().is_some();
        open && !st.destroyed && !st.ending
    }

    /// Node's `readyState`: "opening", "open", "readOnly", "writeOnly" or "closed".
    pub fn ready_state(&self) -> &'static str {
        if self.connecting() {
            return "opening";
        }
        match (self.readable(), self.writable()) {
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

    /// Node's `localFamily`: "IPv4" or "IPv6".
    pub fn local_family(&self) -> Option<&'static str> {
        self.local_address().map(|a| family(a.ip()))
    }

    /// Node's `localPort`.
    pub fn local_port(&self) -> Option<u16> {
        self.local_address().map(|a| a.port())
    }

    /// Node's `writableEnded`: `end()` was called.
    pub fn writable_ended(&self) -> bool {
        self.inner.state.borrow().ending
    }

    /// Node's `writableFinished`: our FIN is sent (`'finish'` was emitted).
    pub fn writable_finished(&self) -> bool {
        self.inner.state.borrow().finished
    }

    /// Node's `readableEnded`: the peer's FIN arrived (`'end'` was emitted).
    pub fn readable_ended(&self) -> bool {
        self.inner.state.borrow().read_ended
    }

    /// Node's `writableHighWaterMark`: queued bytes at which `write` returns false.
    pub fn writable_high_water_mark(&self) -> usize {
        self.inner.high_water_mark
    }

    /// Whether a server accepted this socket (Node's `socket.server` is that server).
    pub fn is_server_socket(&self) -> bool {
        self.inner.server.is_some()
    }

    /// Node's `socket.server`: a handle on the server that accepted this socket (`None` for
    /// a client socket), usable from the connection's core to close the server or count its
    /// connections.
    pub fn server(&self) -> Option<crate::net::ServerHandle> {
        self.inner.server.clone().map(crate::net::ServerHandle::new)
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
