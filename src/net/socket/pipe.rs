//! `pipe`/`unpipe`: Node's `readable.pipe(dest)` between sockets of one core.
//!
//! A source keeps its destinations (strong handles, in `pipe` order); a destination keeps
//! weak handles on its sources, so that its own events reach them without a reference cycle
//! (`c.pipe(c)` is the one cycle, broken when `c` closes). The socket task calls in at five
//! points, where Node's pipe has listeners:
//!
//! - source `'data'` (after the listeners): each destination is written; the last one gets
//!   the received chunk itself, not a copy. A write that returns false pauses the source
//!   until that destination's `'drain'`.
//! - source `'end'` (after the listeners): `dest.end()`, or with `end: false`, unpipe.
//! - destination `'drain'` (after the listeners): the sources it held paused resume.
//! - destination `'error'` (before the listeners, as Node prepends its own), `'finish'` and
//!   `'close'`: every source piped into it unpipes.
//! - source `'close'`: it unpipes from every destination.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use corenet_engine::Chunk;

use super::{Inner, Socket};
use crate::net::events::next_tick;

/// Options of [`Socket::pipe_with`] (Node's `pipe(destination, { end })`).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct PipeOptions {
    /// End the destination when the source ends (default true). With false the pipe only
    /// unpipes at the source's end, and the destination stays writable.
    pub end: bool,
}

impl PipeOptions {
    /// With Node's `end` option.
    pub fn end(mut self, on: bool) -> Self {
        self.end = on;
        self
    }
}

impl Default for PipeOptions {
    fn default() -> Self {
        PipeOptions { end: true }
    }
}

/// One destination of a source.
struct Pipe {
    /// Tells apart two pipes into the same destination (Node allows them).
    id: u64,
    dest: Socket,
    end: bool,
    /// The last write to `dest` returned false: the source waits for `dest`'s `'drain'`.
    awaiting_drain: bool,
}

/// A socket's pipes, both ways.
#[derive(Default)]
pub(super) struct Pipes {
    /// Where this socket's data goes, one entry per `pipe` call, in order.
    to: RefCell<Vec<Pipe>>,
    /// The sockets piped into this one, one entry per pipe.
    from: RefCell<Vec<Weak<Inner>>>,
    next_id: Cell<u64>,
}

impl Socket {
    /// Node's `source.pipe(destination)`: every `'data'` chunk of this socket is written to
    /// `dest`; when such a write returns false this socket pauses, and resumes on `dest`'s
    /// `'drain'`; this socket's `'end'` ends `dest` (see [`pipe_with`](Socket::pipe_with) to
    /// keep it open). Returns `dest`, so pipes chain as in Node (`a.pipe(&b).pipe(&c)`).
    ///
    /// `dest`'s `'error'`, `'finish'` or `'close'` unpipes it, and so does this socket's
    /// `'close'`; unpiping the last destination pauses the source (Node's `unpipe`). An error
    /// on one side does not destroy the other (as in Node): listen for `'error'` and
    /// `destroy` the other side where that is wanted, as `examples/proxy.rs` does.
    ///
    /// Piping starts reading: a paused source (`pause()`, `pause_on_connect`) is resumed,
    /// unless `dest` is waiting for `'drain'`. A socket may be piped into itself (the echo
    /// server) and into several destinations (each gets every chunk; all but the last get a
    /// copy). The chunk written is the one `'data'` listeners saw, after them; with
    /// [`set_encoding`](Socket::set_encoding) the decoded text is written instead (as in
    /// Node); with `onread` nothing is piped (there is no `'data'`).
    ///
    /// # Examples
    ///
    /// Node's echo server, `net.createServer((c) => { c.write('hello\r\n'); c.pipe(c); })`:
    ///
    /// ```no_run
    /// use corenet::net::{self, ServerOptions, Socket};
    ///
    /// # fn f() {
    /// let server = net::create_server(ServerOptions::default(), || {
    ///     |c: &Socket| {
    ///         c.write(b"hello\r\n");
    ///         c.pipe(c);
    ///     }
    /// });
    /// # }
    /// ```
    pub fn pipe<'a>(&self, dest: &'a Socket) -> &'a Socket {
        self.pipe_with(dest, PipeOptions::default())
    }

    /// [`pipe`](Socket::pipe) with Node's options: `PipeOptions::default().end(false)` leaves
    /// `dest` open when this socket ends (the pipe is removed instead).
    pub fn pipe_with<'a>(&self, dest: &'a Socket, options: PipeOptions) -> &'a Socket {
        let (closed, read_ended) = {
            let st = self.inner.state.borrow();
            (st.closed, st.read_ended)
        };
        if closed {
            // Nothing more will come: only Node's "ended before the pipe" case remains.
            if read_ended && options.end {
                let dest = dest.clone();
                next_tick(move || dest.end(None));
            }
            return dest;
        }
        let pipes = &self.inner.pipes;
        let id = pipes.next_id.get();
        pipes.next_id.set(id + 1);
        pipes.to.borrow_mut().push(Pipe {
            id,
            dest: dest.clone(),
            end: options.end,
            awaiting_drain: false,
        });
        dest.inner
            .pipes
            .from
            .borrow_mut()
            .push(Rc::downgrade(&self.inner));
        if read_ended {
            // Node: a source whose 'end' was emitted ends (or unpipes) on the next tick.
            let source = self.clone();
            next_tick(move || source.pipe_source_ended(Some(id)));
        }
        dest.inner.events.pipe.emit(dest, self);
        if dest.inner.state.borrow().need_drain {
            self.pipe_backpressure(id);
        } else if self.is_paused() {
            self.resume();
        }
        dest
    }

    /// Node's `unpipe([destination])`: stops piping into `dest` (its first pipe from this
    /// socket), or into every destination with `None`; `'unpipe'` is emitted on each. When no
    /// pipe is left the socket pauses, as in Node; a pipe that was waiting for `'drain'`
    /// lets go, and the socket resumes if it still has `'data'` listeners. A destination this
    /// socket does not pipe into is ignored.
    pub fn unpipe(&self, dest: Option<&Socket>) -> &Socket {
        match dest {
            Some(dest) => {
                let id = self
                    .inner
                    .pipes
                    .to
                    .borrow()
                    .iter()
                    .find(|p| Rc::ptr_eq(&p.dest.inner, &dest.inner))
                    .map(|p| p.id);
                if let Some(id) = id {
                    self.remove_pipe(id);
                }
            }
            None => loop {
                let first = self.inner.pipes.to.borrow().first().map(|p| p.id);
                let Some(id) = first else { break };
                self.remove_pipe(id);
            },
        }
        self
    }

    /// How many pipes this socket writes into (Node's `readableState.pipes.length`).
    pub fn pipe_count(&self) -> usize {
        self.inner.pipes.to.borrow().len()
    }

    /// Removes pipe `id`, emits `'unpipe'` on its destination, and pauses or resumes the
    /// source as Node's `unpipe` and its `cleanup()` do.
    fn remove_pipe(&self, id: u64) {
        let removed = {
            let mut to = self.inner.pipes.to.borrow_mut();
            let Some(i) = to.iter().position(|p| p.id == id) else {
                return;
            };
            to.remove(i)
        };
        {
            let me = Rc::as_ptr(&self.inner);
            let mut from = removed.dest.inner.pipes.from.borrow_mut();
            if let Some(i) = from.iter().position(|w| w.as_ptr() == me) {
                from.remove(i);
            }
        }
        let (none_left, others_waiting) = {
            let to = self.inner.pipes.to.borrow();
            (to.is_empty(), to.iter().any(|p| p.awaiting_drain))
        };
        if none_left {
            self.pause();
        }
        removed.dest.inner.events.unpipe.emit(&removed.dest, self);
        let consumers = !self.inner.pipes.to.borrow().is_empty()
            || self.inner.events.data.count() > 0
            || self.inner.events.text.count() > 0;
        if removed.awaiting_drain && !others_waiting && consumers {
            self.resume();
        }
    }

    /// A write into pipe `id` returned false: wait for that destination's `'drain'`.
    fn pipe_backpressure(&self, id: u64) {
        if let Some(p) = self
            .inner
            .pipes
            .to
            .borrow_mut()
            .iter_mut()
            .find(|p| p.id == id)
        {
            p.awaiting_drain = true;
        }
        self.pause();
    }

    /// The destination of pipe `i` and its id, if there is such a pipe.
    fn pipe_at(&self, i: usize) -> Option<(u64, Socket)> {
        let to = self.inner.pipes.to.borrow();
        to.get(i).map(|p| (p.id, p.dest.clone()))
    }

    /// Source side, after the `'data'` listeners: `chunk` to every destination, moved into the
    /// last one's send queue (no copy), copied into the others'.
    pub(super) fn pipe_chunk(&self, chunk: Chunk) {
        let n = self.inner.pipes.to.borrow().len();
        let mut chunk = Some(chunk);
        // (Writes emit nothing synchronously, so the list stays as it is during the loop.)
        for i in 0..n {
            let Some((id, dest)) = self.pipe_at(i) else {
                break;
            };
            let below = match chunk.take() {
                Some(c) if i + 1 == n => dest.write_owned(c),
                Some(c) => {
                    let below = dest.write(&c);
                    chunk = Some(c);
                    below
                }
                None => break,
            };
            if !below {
                self.pipe_backpressure(id);
            }
        }
    }

    /// Source side: decoded text (after `set_encoding`) to every destination.
    pub(super) fn pipe_bytes(&self, data: &[u8]) {
        let n = self.inner.pipes.to.borrow().len();
        for i in 0..n {
            let Some((id, dest)) = self.pipe_at(i) else {
                break;
            };
            if !dest.write(data) {
                self.pipe_backpressure(id);
            }
        }
    }

    /// Source side, after the `'end'` listeners: each destination is ended (or, with
    /// `end: false`, unpiped); `only` limits it to one pipe (one made after `'end'`).
    pub(super) fn pipe_source_ended(&self, only: Option<u64>) {
        let ends: Vec<(u64, Socket, bool)> = self
            .inner
            .pipes
            .to
            .borrow()
            .iter()
            .filter(|p| only.is_none_or(|id| p.id == id))
            .map(|p| (p.id, p.dest.clone(), p.end))
            .collect();
        for (id, dest, end) in ends {
            if end {
                dest.end(None);
            } else {
                self.remove_pipe(id);
            }
        }
    }

    /// Destination side, after the `'drain'` listeners: the sources whose pipes into this
    /// socket were waiting for it resume (once no other destination holds them).
    pub(super) fn pipe_drained(&self) {
        let mut i = 0;
        loop {
            let source = {
                let from = self.inner.pipes.from.borrow();
                match from.get(i) {
                    Some(w) => w.upgrade(),
                    None => break,
                }
            };
            i += 1;
            if let Some(inner) = source {
                Socket { inner }.pipe_dest_drained(self);
            }
        }
    }

    /// Source side: `dest` drained; the pipes into it stop waiting.
    fn pipe_dest_drained(&self, dest: &Socket) {
        let mut to = self.inner.pipes.to.borrow_mut();
        let mut was_waiting = false;
        for p in to
            .iter_mut()
            .filter(|p| Rc::ptr_eq(&p.dest.inner, &dest.inner))
        {
            was_waiting |= p.awaiting_drain;
            p.awaiting_drain = false;
        }
        let still_waiting = to.iter().any(|p| p.awaiting_drain);
        drop(to);
        if was_waiting && !still_waiting {
            self.resume();
        }
    }

    /// Destination side, at `'error'` (before its listeners), `'finish'` and `'close'`: every
    /// source piped into this socket unpipes from it.
    pub(super) fn unpipe_sources(&self) {
        if self.inner.pipes.from.borrow().is_empty() {
            return;
        }
        let sources: Vec<Socket> = self
            .inner
            .pipes
            .from
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .map(|inner| Socket { inner })
            .collect();
        for source in sources {
            source.unpipe(Some(self));
        }
        // Sources dropped without closing (never connected) leave dead entries.
        self.inner
            .pipes
            .from
            .borrow_mut()
            .retain(|w| w.strong_count() > 0);
    }
}
