//! Registering and removing a socket's event listeners (Node's `on`/`once`/`off`).

use corenet_engine::Chunk;

use super::{Lookup, Socket};
use crate::Error;
use crate::net::events::ListenerId;

impl Socket {
    /// `'lookup'`: a host name was resolved (or failed to), before connecting.
    pub fn on_lookup(&self, f: impl FnMut(&Socket, &Lookup) + 'static) -> ListenerId {
        self.inner.events.lookup.on(f)
    }

    /// `'connect'`: a client socket connected.
    pub fn on_connect(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.connect.on(move |s, ()| f(s))
    }

    /// `'connect'`, once (Node's `connect(.., cb)` callback).
    pub fn once_connect(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.connect.once_fn(move |s, ()| f(s))
    }

    /// `'ready'`: right after `'connect'`.
    pub fn on_ready(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.ready.on(move |s, ()| f(s))
    }

    /// `'ready'`, once.
    pub fn once_ready(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.ready.once_fn(move |s, ()| f(s))
    }

    /// `'data'`: received bytes, as a view of the receive buffer (no copy). Copy what you
    /// keep (`chunk.to_vec()`); the buffer returns to the ring when the listeners return (or,
    /// when the socket is [piped](Socket::pipe), once the destination has sent it).
    pub fn on_data(&self, f: impl FnMut(&Socket, &Chunk) + 'static) -> ListenerId {
        self.inner.events.data.on(f)
    }

    /// `'data'`, once.
    pub fn once_data(&self, f: impl FnOnce(&Socket, &Chunk) + 'static) -> ListenerId {
        self.inner.events.data.once_fn(f)
    }

    /// `'data'` after [`set_encoding`](Socket::set_encoding): the received bytes as text.
    /// While an encoding is set, `on_data` listeners get nothing (Node's 'data' then carries
    /// strings only).
    pub fn on_text(&self, f: impl FnMut(&Socket, &str) + 'static) -> ListenerId {
        self.inner.events.text.on(f)
    }

    /// `on_text`, once.
    pub fn once_text(&self, f: impl FnOnce(&Socket, &str) + 'static) -> ListenerId {
        self.inner.events.text.once_fn(f)
    }

    /// `'end'`: the peer half-closed (no more data will come).
    pub fn on_end(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.end.on(move |s, ()| f(s))
    }

    /// `'end'`, once.
    pub fn once_end(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.end.once_fn(move |s, ()| f(s))
    }

    /// `'finish'`: our side ended and everything written reached the kernel.
    pub fn on_finish(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.finish.on(move |s, ()| f(s))
    }

    /// `'finish'`, once.
    pub fn once_finish(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.finish.once_fn(move |s, ()| f(s))
    }

    /// `'close'`: fully closed; the argument is `had_error`. The last event.
    pub fn on_close(&self, f: impl FnMut(&Socket, bool) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.close.on(move |s, e| f(s, *e))
    }

    /// `'close'`, once.
    pub fn once_close(&self, f: impl FnOnce(&Socket, bool) + 'static) -> ListenerId {
        self.inner.events.close.once_fn(move |s, e| f(s, *e))
    }

    /// `'error'`; `'close'` follows. An error with no listener is logged and the socket
    /// destroyed — never a panic.
    pub fn on_error(&self, f: impl FnMut(&Socket, &Error) + 'static) -> ListenerId {
        self.inner.events.error.on(f)
    }

    /// `'error'`, once.
    pub fn once_error(&self, f: impl FnOnce(&Socket, &Error) + 'static) -> ListenerId {
        self.inner.events.error.once_fn(f)
    }

    /// `'drain'`: after a `write` returned false, the queue went below the high-water mark.
    pub fn on_drain(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.drain.on(move |s, ()| f(s))
    }

    /// `'drain'`, once.
    pub fn once_drain(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.drain.once_fn(move |s, ()| f(s))
    }

    /// `'timeout'`: idle for the time given to [`set_timeout`](Socket::set_timeout). The
    /// socket is not closed.
    pub fn on_timeout(&self, f: impl FnMut(&Socket) + 'static) -> ListenerId {
        let mut f = f;
        self.inner.events.timeout.on(move |s, ()| f(s))
    }

    /// `'timeout'`, once.
    pub fn once_timeout(&self, f: impl FnOnce(&Socket) + 'static) -> ListenerId {
        self.inner.events.timeout.once_fn(move |s, ()| f(s))
    }

    /// `'pipe'` (on a destination): `source.pipe(dest)` was called; the argument is the
    /// source.
    pub fn on_pipe(&self, f: impl FnMut(&Socket, &Socket) + 'static) -> ListenerId {
        self.inner.events.pipe.on(f)
    }

    /// `'pipe'`, once.
    pub fn once_pipe(&self, f: impl FnOnce(&Socket, &Socket) + 'static) -> ListenerId {
        self.inner.events.pipe.once_fn(f)
    }

    /// `'unpipe'` (on a destination): the source (the argument) stopped piping into it, by
    /// `unpipe` or because either side ended, failed or closed.
    pub fn on_unpipe(&self, f: impl FnMut(&Socket, &Socket) + 'static) -> ListenerId {
        self.inner.events.unpipe.on(f)
    }

    /// `'unpipe'`, once.
    pub fn once_unpipe(&self, f: impl FnOnce(&Socket, &Socket) + 'static) -> ListenerId {
        self.inner.events.unpipe.once_fn(f)
    }

    /// Removes a listener registered with any `on_*`/`once_*`; true if it was found.
    pub fn off(&self, id: ListenerId) -> bool {
        let e = &self.inner.events;
        e.lookup.off(id)
            || e.connect.off(id)
            || e.ready.off(id)
            || e.data.off(id)
            || e.text.off(id)
            || e.end.off(id)
            || e.finish.off(id)
            || e.close.off(id)
            || e.error.off(id)
            || e.drain.off(id)
            || e.timeout.off(id)
            || e.pipe.off(id)
            || e.unpipe.off(id)
    }
}
