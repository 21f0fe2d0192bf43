//! Tasks: `spawn_local` on the current core, join handles, and panic capture.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use async_task::{FallibleTask, Runnable};

use super::context::{self, CoreCtx};

/// Why a task produced no output.
pub struct JoinError {
    panic: Option<Box<dyn Any + Send>>,
}

impl JoinError {
    pub(crate) fn cancelled() -> Self {
        JoinError { panic: None }
    }

    /// Whether the task panicked (otherwise it was cancelled, e.g. by runtime shutdown).
    pub fn is_panic(&self) -> bool {
        self.panic.is_some()
    }

    /// The panic payload, if the task panicked.
    pub fn into_panic(self) -> Option<Box<dyn Any + Send>> {
        self.panic
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.panic {
            Some(p) => write!(f, "task panicked: {}", panic_message(p.as_ref())),
            None => f.write_str("task cancelled"),
        }
    }
}

impl std::error::Error for JoinError {}

/// The text of a panic payload, when it has one.
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(|s| s.as_str()))
        .unwrap_or("(non-string payload)")
}

/// Awaits a task spawned with [`spawn_local`]. Dropping it detaches the task (it keeps running).
pub struct JoinHandle<T> {
    task: Option<FallibleTask<Result<T, JoinError>>>,
}

impl<T> JoinHandle<T> {
    /// Lets the task run on without a handle (what dropping does).
    pub fn detach(mut self) {
        if let Some(t) = self.task.take() {
            t.detach();
        }
    }

    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let task = self
            .task
            .as_mut()
            .expect("JoinHandle polled after completion");
        match Pin::new(task).poll(cx) {
            Poll::Ready(out) => {
                self.task = None;
                Poll::Ready(out.unwrap_or_else(|| Err(JoinError::cancelled())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Spawns a `!Send` future on the current core.
///
/// # Panics
///
/// When called from a thread that is not a corenet core.
///
/// # Examples
///
/// ```no_run
/// # fn f(rt: &corenet_engine::Runtime) {
/// rt.block_on(0, || async {
///     let task = corenet_engine::spawn_local(async { 40 + 2 });
///     assert_eq!(task.await.unwrap(), 42);
/// });
/// # }
/// ```
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let ctx = context::current();
    JoinHandle {
        task: Some(spawn_on_ctx(&ctx, future)),
    }
}

/// Spawns `future` on `ctx`'s core (the current thread), catching its panics.
pub(crate) fn spawn_on_ctx<F>(
    ctx: &Rc<CoreCtx>,
    future: F,
) -> FallibleTask<Result<F::Output, JoinError>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let remote = ctx.remote.clone();
    let key = ctx.tasks.borrow_mut().vacant_key();
    let guard = ActiveGuard {
        ctx: ctx.clone(),
        key,
    };
    let wrapped = async move {
        let _guard = guard;
        CatchUnwind(future).await
    };
    let schedule = move |runnable: Runnable| context::schedule(runnable, &remote);
    let (runnable, task) = async_task::spawn_local(wrapped, schedule);
    let inserted = ctx.tasks.borrow_mut().insert(runnable.waker());
    debug_assert_eq!(inserted, key);
    runnable.schedule();
    task.fallible()
}

/// Removes a task from its core's registry when its future completes or is dropped.
struct ActiveGuard {
    ctx: Rc<CoreCtx>,
    key: usize,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.ctx.tasks.borrow_mut().try_remove(self.key);
    }
}

/// Turns a panic inside `poll` into an error output; the core carries on.
struct CatchUnwind<F>(F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning: the inner future is never moved out of `self`.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => {
                tracing::error!("task panicked: {}", panic_message(panic.as_ref()));
                Poll::Ready(Err(JoinError { panic: Some(panic) }))
            }
        }
    }
}
