//! Per-core time: `sleep`, `sleep_until` and `timeout`, driven by the loop's park timeout.

mod timers;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::executor::context::{self, CoreCtx};
pub(crate) use timers::{TimerId, Timers};

/// A future that completes at a deadline. Created by [`sleep`] and [`sleep_until`].
///
/// # Cancel safety
///
/// Dropping it removes the timer; nothing else happens.
pub struct Sleep {
    ctx: Rc<CoreCtx>,
    deadline: Instant,
    id: Option<TimerId>,
}

/// Waits for `duration` on the current core.
///
/// # Panics
///
/// When called from a thread that is not a corenet core.
///
/// # Examples
///
/// ```no_run
/// # async fn f() {
/// corenet_engine::sleep(std::time::Duration::from_millis(10)).await;
/// # }
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// Waits until `deadline` on the current core.
///
/// # Panics
///
/// When called from a thread that is not a corenet core.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        ctx: context::current(),
        deadline,
        id: None,
    }
}

impl Sleep {
    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (for idle timers pushed back by activity).
    pub fn reset(&mut self, deadline: Instant) {
        if let Some(id) = self.id.take() {
            self.ctx.timers.borrow_mut().remove(id);
        }
        self.deadline = deadline;
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.deadline <= Instant::now() {
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let ctx = self.ctx.clone();
        let mut timers = ctx.timers.borrow_mut();
        let id = *self.id.get_or_insert_with(|| timers.insert(deadline));
        if timers.poll(id, cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.ctx.timers.borrow_mut().remove(id);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The error of a [`timeout`] that ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline elapsed")
    }
}

/// Runs `future` for at most `duration`; on timeout it is dropped (and with it whatever it
/// was doing: a dropped socket operation is cancelled as its docs describe).
///
/// # Errors
///
/// [`Elapsed`] when the duration ran out first.
///
/// # Panics
///
/// When called from a thread that is not a corenet core.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    let mut sleep = std::pin::pin!(sleep(duration));
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
