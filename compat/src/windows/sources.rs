//! The sockets with pending ops, each wrapped in the mio type that does its I/O.
//!
//! On Windows every read, write and accept must go through mio's types: mio emulates edge
//! triggering over AFD polls, and re-arms a socket's poll only when one of its own calls
//! returns `WouldBlock` (raw `SOCKET` calls would bypass that state). So a socket gets a mio
//! wrapper when its first op starts and loses it (deregistered, then forgotten — never closed:
//! the reactor owns the handle) when its last op ends, before that op's final completion.

use std::collections::HashMap;
use std::io;
use std::os::windows::io::{FromRawSocket, IntoRawSocket, RawSocket};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::windows::NamedPipe;
use mio::{Interest, Registry, Token};

use crate::readiness::platform::{Places, Role};

/// The mio object over a socket the reactor owns.
#[derive(Debug)]
pub(crate) enum Source {
    /// A listening socket.
    Listener(TcpListener),
    /// A stream socket.
    Stream(TcpStream),
    /// A connected named pipe (either end). The driver owns it: mio's wrapper closes the
    /// handle once its overlapped I/O has finished, after [`Sources::close`].
    Pipe(NamedPipe),
    /// A named pipe server: the instance waiting for the next client.
    PipeServer {
        /// The pipe's NUL-terminated UTF-16 name (the reactor keeps it alive until it
        /// closes the server).
        name: *const u16,
        /// The instance clients connect to next.
        instance: NamedPipe,
    },
}

impl Source {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Source::Listener(l) => l,
            Source::Stream(s) => s,
            Source::Pipe(p) => p,
            Source::PipeServer { instance, .. } => instance,
        }
    }

    /// Whether the driver owns the handle (pipes) rather than the reactor (sockets).
    fn owned(&self) -> bool {
        matches!(self, Source::Pipe(_) | Source::PipeServer { .. })
    }

    /// Gives a socket's handle back without closing it; closes a pipe (once its I/O is done).
    fn forget(self) {
        let _ = match self {
            Source::Listener(l) => l.into_raw_socket(),
            Source::Stream(s) => s.into_raw_socket(),
            Source::Pipe(_) | Source::PipeServer { .. } => 0,
        };
    }
}

/// One socket with pending ops.
#[derive(Debug)]
struct Entry {
    source: Source,
    places: Places,
    registered: bool,
}

/// The sockets that have pending ops, keyed by handle.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    socks: HashMap<RawSocket, Entry>,
}

/// The poller token of a socket: its handle (never `usize::MAX`, the waker's).
pub(crate) fn token_of(sock: RawSocket) -> Token {
    Token(sock as usize)
}

impl Sources {
    /// Records op `id` in `sock`'s `role` place, wrapping `sock` (as a listener when
    /// `listener`) if it had no op. `Err` when the place is taken (the reactor never does).
    pub(crate) fn attach(
        &mut self,
        registry: &Registry,
        sock: RawSocket,
        listener: bool,
        role: Role,
        id: usize,
    ) -> Result<(), ()> {
        // A pipe server's key (tag bit 1 set) is never a handle to wrap.
        let server_key = sock & 2 != 0;
        if corenet_engine::driver::is_pipe(sock) && !server_key && !self.socks.contains_key(&sock) {
            // A client end the reactor opened: the driver owns it from its first op.
            // SAFETY: the reactor hands the handle over with this op and never closes it
            // itself once `close` reports the driver took it.
            let pipe = unsafe {
                use std::os::windows::io::FromRawHandle;
                NamedPipe::from_raw_handle(corenet_engine::driver::untag_pipe(sock))
            };
            self.insert_pipe(registry, sock, Source::Pipe(pipe), false)
                .map_err(|_| ())?;
        }
        let entry = self.socks.entry(sock).or_insert_with(|| {
            // SAFETY: the reactor keeps `sock` open while ops are pending on it, and the
            // wrapper is forgotten (never dropped) when the last one ends.
            let source = unsafe {
                if listener {
                    Source::Listener(TcpListener::from_raw_socket(sock))
                } else {
                    Source::Stream(TcpStream::from_raw_socket(sock))
                }
            };
            Entry {
                source,
                places: Places::default(),
                registered: false,
            }
        });
        if entry.places.fill(role, id) {
            Ok(())
        } else {
            Err(())
        }
    }

    /// Files a pipe (or pipe server) the driver now owns under `key`, registered for both
    /// kinds of readiness (mio's pipes need a registration before any I/O); `moved`: it is
    /// registered already, under another token.
    pub(crate) fn insert_pipe(
        &mut self,
        registry: &Registry,
        key: RawSocket,
        mut source: Source,
        moved: bool,
    ) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        if moved {
            registry.reregister(source.source(), token_of(key), interest)?;
        } else {
            registry.register(source.source(), token_of(key), interest)?;
        }
        self.socks.insert(
            key,
            Entry {
                source,
                places: Places::default(),
                registered: true,
            },
        );
        Ok(())
    }

    /// Closes the pipe (or pipe server) filed under `key`; false if the driver has none.
    pub(crate) fn close(&mut self, registry: &Registry, key: RawSocket) -> bool {
        match self.socks.get(&key) {
            Some(e) if e.source.owned() => {
                let mut entry = self.socks.remove(&key).expect("present");
                let _ = registry.deregister(entry.source.source());
                // Dropping mio's pipe cancels its read and lets a write in flight finish
                // before the handle closes.
                drop(entry);
                true
            }
            _ => false,
        }
    }

    /// The mio object of `sock`, which has a pending op.
    pub(crate) fn get(&mut self, sock: RawSocket) -> &mut Source {
        &mut self
            .socks
            .get_mut(&sock)
            .expect("an op's socket is attached")
            .source
    }

    /// Empties `sock`'s `role` place; when no op is left, deregisters and forgets it.
    pub(crate) fn detach(&mut self, registry: &Registry, sock: RawSocket, role: Role) {
        let Some(entry) = self.socks.get_mut(&sock) else {
            return;
        };
        if !entry.places.empty(role) || entry.source.owned() {
            // Pipes stay filed (and registered) until the reactor closes them.
            return;
        }
        let mut entry = self.socks.remove(&sock).expect("present");
        if entry.registered {
            if let Err(e) = registry.deregister(entry.source.source()) {
                tracing::debug!(sock, "deregister: {e}");
            }
        }
        entry.source.forget();
    }

    /// Registers `sock` for what its pending ops wait for (readability for a reader,
    /// writability for a writer), re-arming its poll.
    ///
    /// Always (re)registers: mio's Windows poll drops the kinds it reported until an I/O call
    /// through mio returns `WouldBlock`, and some waits (a connect still in progress) follow
    /// no such call. Re-registering only queues an update for the next poll.
    pub(crate) fn wait(&mut self, registry: &Registry, sock: RawSocket) -> io::Result<()> {
        let entry = self.socks.get_mut(&sock).expect("waiting op is attached");
        let interest = match (
            entry.places.reader.is_some() || entry.source.owned(),
            entry.places.writer.is_some() || entry.source.owned(),
        ) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            _ => Interest::READABLE,
        };
        if entry.registered {
            registry.reregister(entry.source.source(), token_of(sock), interest)
        } else {
            registry.register(entry.source.source(), token_of(sock), interest)?;
            entry.registered = true;
            Ok(())
        }
    }

    /// The pending ops `event` concerns: the reader on readability, the writer on
    /// writability, both on an error or hang-up.
    pub(crate) fn on_event(&mut self, event: &Event) -> [Option<usize>; 2] {
        let sock = event.token().0 as RawSocket;
        let Some(entry) = self.socks.get(&sock) else {
            return [None, None];
        };
        if matches!(entry.source, Source::PipeServer { .. }) {
            // A client connecting flags the waiting instance writable.
            return [entry.places.reader, None];
        }
        entry.places.woken_by(event)
    }

    /// Whether something is filed under `key`.
    pub(crate) fn contains(&self, key: RawSocket) -> bool {
        self.socks.contains_key(&key)
    }

    /// Sockets with pending ops.
    pub(crate) fn len(&self) -> usize {
        self.socks.len()
    }
}

impl Drop for Sources {
    fn drop(&mut self) {
        // Sockets are the reactor's, never closed here; pipes are ours and close as they drop.
        for (_, entry) in self.socks.drain() {
            entry.source.forget();
        }
    }
}
