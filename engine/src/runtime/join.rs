//! `RemoteHandle`: the result of a task spawned from another thread.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::executor::task::JoinError;

/// The result of [`spawn_on`](super::RuntimeHandle::spawn_on): await it anywhere, or
/// [`join`](RemoteHandle::join) it from a thread that is not a core. Dropping it detaches.
pub struct RemoteHandle<T> {
    rx: Rx<T>,
}

enum Rx<T> {
    /// Not awaited yet: `join` can still block on it.
    Sync(oneshot::Receiver<T>),
    /// Being awaited.
    Async(oneshot::AsyncReceiver<T>),
    /// Taken by a poll that switched modes.
    Empty,
}

impl<T> RemoteHandle<T> {
    pub(crate) fn new(rx: oneshot::Receiver<T>) -> Self {
        RemoteHandle { rx: Rx::Sync(rx) }
    }

    /// Blocks until the task finishes.
    ///
    /// # Errors
    ///
    /// A [`JoinError`] when the task panicked or was cancelled (e.g. by shutdown). The panic
    /// itself is logged on the core; its payload stays there.
    ///
    /// # Panics
    ///
    /// If the handle was already polled as a future.
    pub fn join(self) -> Result<T, JoinError> {
        match self.rx {
            Rx::Sync(rx) => rx.recv().map_err(|_| JoinError::cancelled()),
            _ => panic!("RemoteHandle::join after it was polled"),
        }
    }

    /// Lets the task run on without a handle.
    pub fn detach(self) {}
}

impl<T> Future for RemoteHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Rx::Sync(_) = &self.rx {
            let Rx::Sync(rx) = std::mem::replace(&mut self.rx, Rx::Empty) else {
                unreachable!()
            };
            self.rx = Rx::Async(std::future::IntoFuture::into_future(rx));
        }
        match &mut self.rx {
            Rx::Async(rx) => Pin::new(rx)
                .poll(cx)
                .map(|r| r.map_err(|_| JoinError::cancelled())),
            _ => unreachable!("converted above"),
        }
    }
}

impl<T> fmt::Debug for RemoteHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RemoteHandle")
    }
}
