//! The task that drives a socket: reads and emits, drains, sends the FIN, times out, closes.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use super::Socket;
use crate::Error;

impl Socket {
    /// Spawns the socket task on this core (it runs later in the turn, after the caller has had
    /// its chance to register listeners).
    pub(super) fn start_task(&self) {
        self.inner.state.borrow_mut().task_running = true;
        let socket = self.clone();
        corenet_engine::spawn_local(async move { socket.run().await }).detach();
    }

    pub(super) fn wake_task(&self) {
        if let Some(w) = self.inner.task_waker.take() {
            w.wake();
        }
    }

    /// Emits 'error'; unhandled, it is logged and the socket destroyed.
    fn emit_error(&self, err: &Error) {
        // Node's pipe prepends its 'error' listener on the destination: unpiped first.
        self.unpipe_sources();
        if !self.inner.events.error.emit(self, err) {
            tracing::warn!("unhandled 'error' on a socket: {err}");
            self.destroy(None);
            self.inner.state.borrow_mut().had_error = true;
        }
    }

    /// Reads and emits until the socket closes.
    async fn run(&self) {
        poll_fn(|cx| {
            self.inner.task_waker.set(Some(cx.waker().clone()));
            loop {
                self.run_refused_callbacks();
                let pending_error = self.inner.state.borrow_mut().pending_error.take();
                if let Some(err) = pending_error {
                    self.emit_error(&err);
                    continue;
                }
                if self.inner.state.borrow().destroyed {
                    return Poll::Ready(());
                }
                match self.step(cx) {
                    Poll::Ready(true) => continue,
                    Poll::Ready(false) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
        self.inner.state.borrow_mut().task_running = false;
        self.finish_close();
    }

    /// Closes a socket that has no socket task (never connected, or its connect failed): the
    /// pending error, then 'close'.
    pub(super) fn close_now(&self) {
        self.run_refused_callbacks();
        let pending_error = self.inner.state.borrow_mut().pending_error.take();
        if let Some(err) = pending_error {
            self.emit_error(&err);
        }
        self.finish_close();
    }

    /// The callbacks of writes that reached the kernel (`sent`: bytes so far), or all of
    /// them with `err`.
    fn run_write_callbacks(&self, sent: Option<u64>, err: Option<&Error>) {
        loop {
            let cb = {
                let mut st = self.inner.state.borrow_mut();
                match st.write_callbacks.front() {
                    Some((end, _)) if sent.is_none_or(|sent| *end <= sent) => {
                        st.write_callbacks.pop_front().map(|(_, cb)| cb)
                    }
                    _ => None,
                }
            };
            match cb {
                Some(cb) => cb(self, err),
                None => return,
            }
        }
    }

    /// The callbacks of refused writes, with their errors.
    fn run_refused_callbacks(&self) {
        let refused = std::mem::take(&mut self.inner.state.borrow_mut().refused);
        for (cb, err) in refused {
            cb(self, Some(&err));
        }
    }

    /// 'finish', and the `end_with` callbacks.
    pub(super) fn emit_finish(&self) {
        self.unpipe_sources();
        self.inner.events.finish.emit(self, &());
        let callbacks = std::mem::take(&mut self.inner.state.borrow_mut().end_callbacks);
        for cb in callbacks {
            cb(self, None);
        }
    }

    /// One step of the state machine: Ready(true) when something happened (run again),
    /// Ready(false) when the socket is done, Pending when waiting.
    fn step(&self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.inner.state.borrow().connecting {
            // The connect task starts over with us once connected.
            return Poll::Pending;
        }
        if self.poll_timeout(cx) {
            self.inner.events.timeout.emit(self, &());
            return Poll::Ready(true);
        }
        let io_ref = self.inner.io.borrow();
        let Some(io) = io_ref.as_ref() else {
            return Poll::Ready(false);
        };
        // Bytes held back by `cork` are not in the engine's queue yet: neither 'drain' nor
        // write callbacks are due before they are.
        let held_back = !self.inner.state.borrow().pending.is_empty();
        // Drain: as in Node, once every queued byte has reached the kernel (the queue is
        // empty), not merely below the mark: a writer then refills a whole high-water mark
        // per 'drain' instead of a few bytes per turn.
        if self.inner.state.borrow().need_drain && !held_back {
            match io.poll_sent_to(0, cx) {
                Poll::Ready(Ok(())) => {
                    self.inner.state.borrow_mut().need_drain = false;
                    drop(io_ref);
                    self.touch();
                    self.inner.events.drain.emit(self, &());
                    self.pipe_drained();
                    return Poll::Ready(true);
                }
                Poll::Ready(Err(e)) => {
                    drop(io_ref);
                    return self.write_failed(e);
                }
                Poll::Pending => {}
            }
        }
        // Write callbacks: each once the kernel has its bytes (and every earlier one).
        let first_due = {
            let st = self.inner.state.borrow();
            st.write_callbacks
                .front()
                .map(|(end, _)| st.enqueued.saturating_sub(*end) as usize)
        };
        if let (false, Some(level)) = (held_back, first_due) {
            match io.poll_sent_to(level, cx) {
                Poll::Ready(Ok(())) => {
                    let sent = {
                        let st = self.inner.state.borrow();
                        st.enqueued - io.queued() as u64
                    };
                    drop(io_ref);
                    self.run_write_callbacks(Some(sent), None);
                    return Poll::Ready(true);
                }
                Poll::Ready(Err(e)) => {
                    drop(io_ref);
                    let err = Error::from_io(e, "write");
                    self.run_write_callbacks(None, Some(&err));
                    self.destroy(Some(err));
                    return Poll::Ready(true);
                }
                Poll::Pending => {}
            }
        }
        // Our FIN.
        let (ending, finished) = {
            let st = self.inner.state.borrow();
            (st.ending, st.finished)
        };
        if ending && !finished {
            match io.poll_flush(cx) {
                Poll::Ready(Ok(())) => {
                    self.inner.state.borrow_mut().finished = true;
                    drop(io_ref);
                    self.emit_finish();
                    return Poll::Ready(true);
                }
                Poll::Ready(Err(e)) => {
                    drop(io_ref);
                    return self.write_failed(e);
                }
                Poll::Pending => {}
            }
        }
        // Reading.
        let (paused, read_ended) = {
            let st = self.inner.state.borrow();
            (st.paused, st.read_ended)
        };
        if !read_ended && !paused {
            let unread = self.inner.state.borrow_mut().unread.take();
            let read = match unread {
                Some(chunk) => Poll::Ready(Ok(Some(chunk))),
                None => io.poll_read(cx),
            };
            match read {
                Poll::Ready(Ok(Some(chunk))) => {
                    drop(io_ref);
                    self.inner.state.borrow_mut().bytes_read += chunk.len() as u64;
                    self.touch();
                    self.emit_data(chunk);
                    return Poll::Ready(true);
                }
                Poll::Ready(Ok(None)) => {
                    drop(io_ref);
                    self.inner.state.borrow_mut().read_ended = true;
                    self.flush_decoder();
                    self.inner.events.end.emit(self, &());
                    self.pipe_source_ended(None);
                    if !self.inner.allow_half_open {
                        self.end(None);
                    }
                    return Poll::Ready(true);
                }
                Poll::Ready(Err(e)) => {
                    drop(io_ref);
                    self.destroy(Some(Error::from_io(e, "read")));
                    return Poll::Ready(true);
                }
                Poll::Pending => {}
            }
        }
        let st = self.inner.state.borrow();
        if st.read_ended && st.finished {
            // Both directions are done: close (the queue is flushed: a plain close).
            drop(st);
            drop(io_ref);
            drop(self.inner.io.borrow_mut().take());
            self.inner.state.borrow_mut().destroyed = true;
            return Poll::Ready(false);
        }
        Poll::Pending
    }

    /// 'data': bytes, or text when an encoding is set, then the pipes get the chunk (or the
    /// text). The decoder is taken out while its listeners run, so they may change the
    /// encoding.
    fn emit_data(&self, chunk: corenet_engine::Chunk) {
        let onread = self.inner.onread.borrow_mut().take();
        if let Some(mut onread) = onread {
            // One copy per read into the caller's buffer, in buffer-sized pieces.
            let mut keep_reading = true;
            for piece in chunk.chunks(onread.buffer.len()) {
                onread.buffer[..piece.len()].copy_from_slice(piece);
                keep_reading &= (onread.callback)(self, &mut onread.buffer[..piece.len()]);
            }
            *self.inner.onread.borrow_mut() = Some(onread);
            if !keep_reading {
                self.pause();
            }
            return;
        }
        let taken = self.inner.decoder.borrow_mut().take();
        let Some(mut decoder) = taken else {
            self.inner.events.data.emit(self, &chunk);
            self.pipe_chunk(chunk);
            return;
        };
        let text = decoder.decode(&chunk);
        if !text.is_empty() {
            self.inner.events.text.emit(self, text);
            self.pipe_bytes(text.as_bytes());
        }
        let mut slot = self.inner.decoder.borrow_mut();
        if slot.is_none() {
            *slot = Some(decoder);
        }
    }

    /// At end of stream, what the decoder still holds.
    fn flush_decoder(&self) {
        let taken = self.inner.decoder.borrow_mut().take();
        if let Some(mut decoder) = taken {
            if let Some(rest) = decoder.finish() {
                let rest = rest.to_owned();
                self.inner.events.text.emit(self, &rest);
                self.pipe_bytes(rest.as_bytes());
            }
        }
    }

    /// A send failed: the socket is destroyed with the write error ('error', then 'close').
    fn write_failed(&self, e: std::io::Error) -> Poll<bool> {
        self.destroy(Some(Error::from_io(e, "write")));
        Poll::Ready(true)
    }

    /// Whether the idle timer fired (after `set_timeout`); arms it otherwise. Polled by the
    /// socket task once connected, and by the connect task before.
    pub(super) fn poll_timeout(&self, cx: &mut Context<'_>) -> bool {
        let mut st = self.inner.state.borrow_mut();
        let Some(idle) = st.timeout else { return false };
        if st.timed_out {
            return false;
        }
        let deadline = st.last_activity + idle;
        if Instant::now() >= deadline {
            st.timed_out = true;
            st.timer = None;
            return true;
        }
        // One timer, moved lazily: activity only updates `last_activity`.
        let timer = st
            .timer
            .get_or_insert_with(|| corenet_engine::sleep_until(deadline));
        if timer.deadline() != deadline {
            timer.reset(deadline);
        }
        if Pin::new(timer).poll(cx).is_ready() {
            st.timer = None;
            drop(st);
            // Fired: loop again to compare with the (possibly moved) deadline.
            return self.poll_timeout(cx);
        }
        false
    }

    /// Emits 'close', updates the server's count, drops every listener.
    pub(super) fn finish_close(&self) {
        self.run_refused_callbacks();
        let had_error = {
            let mut st = self.inner.state.borrow_mut();
            if st.closed {
                return;
            }
            st.closed = true;
            st.timer = None;
            st.had_error
        };
        if let Some(io) = self.inner.io.borrow_mut().take() {
            io.destroy();
        }
        // Writes whose bytes never reached the kernel, and ends that never finished: their
        // callbacks get the error.
        let (callbacks, never_connected) = {
            let mut st = self.inner.state.borrow_mut();
            let mut callbacks: Vec<_> = std::mem::take(&mut st.write_callbacks)
                .into_iter()
                .map(|(_, cb)| cb)
                .collect();
            callbacks.append(&mut st.end_callbacks);
            (callbacks, st.remote.is_none())
        };
        if !callbacks.is_empty() {
            let err = if never_connected {
                Error::socket_closed_before_connection()
            } else {
                Error::socket_closed()
            };
            for cb in callbacks {
                cb(self, Some(&err));
            }
        }
        if let Some(server) = &self.inner.server {
            server.connection_closed();
        }
        // Neither side of a pipe outlives 'close' (this also ends `c.pipe(c)`'s cycle).
        self.unpipe(None);
        self.unpipe_sources();
        self.inner.events.close.emit(self, &had_error);
        if !self.inner.state.borrow().closed {
            // A 'close' listener reconnected: the listeners and onread stay.
            return;
        }
        self.drop_listeners();
    }

    /// Drops every listener and `onread` (and the socket clones they captured).
    pub(super) fn drop_listeners(&self) {
        let e = &self.inner.events;
        e.lookup.clear();
        e.connect.clear();
        e.ready.clear();
        e.data.clear();
        e.text.clear();
        e.end.clear();
        e.finish.clear();
        e.close.clear();
        e.error.clear();
        e.drain.clear();
        e.timeout.clear();
        e.pipe.clear();
        e.unpipe.clear();
        drop(self.inner.onread.borrow_mut().take());
    }
}
