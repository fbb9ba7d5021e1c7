//! The process-wide tokio runtime every Rust future runs on, and the bridge that lets a
//! blocking foreign call wait for one.

use std::future::Future;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};

use crate::ffi::error::{DuroxideError, Result};

/// Orchestration turns poll foreign code on tokio worker threads, and a foreign call can
/// hold a worker for a while (it needs the interpreter lock), so keep more workers than a
/// small machine has cores: lock renewal tasks must still get a thread.
///
/// `None` once `shutdown()` ran at process exit.
static RUNTIME: LazyLock<Mutex<Option<Runtime>>> = LazyLock::new(|| {
    let workers = std::thread::available_parallelism().map_or(4, |n| n.get().max(4));
    let runtime = Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(WORKER_NAME)
        .enable_all()
        .build()
        .expect("cannot build the duroxide tokio runtime");
    Mutex::new(Some(runtime))
});

const WORKER_NAME: &str = "duroxide-worker";

fn handle() -> Option<Handle> {
    RUNTIME
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|rt| rt.handle().clone())
}

/// Stops the shared runtime and joins its threads (waiting up to `timeout`).
///
/// Called at process exit after every duroxide runtime stopped: threads still polling a
/// connection (PostgreSQL notifications, pool maintenance, TLS) while libc's exit
/// handlers tear down global state crash the process now and then.
pub fn shutdown(timeout: Duration) {
    let runtime = RUNTIME.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(runtime) = runtime {
        runtime.shutdown_timeout(timeout);
    }
}

/// Runs `future` on the shared runtime and blocks the calling thread until it is done.
///
/// Works from any thread: a foreign main thread, an activity's thread (where
/// `Runtime::block_on` would panic because a runtime context is entered), or a tokio
/// worker (where the wait is moved off the scheduler). After `shutdown()` (at exit) the
/// future runs on a private single-thread runtime instead.
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let Some(shared) = handle() else {
        return Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cannot build a tokio runtime")
            .block_on(future);
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    shared.spawn(async move {
        let _ = tx.send(future.await);
    });
    let wait = move || rx.recv();
    let received = match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => in_blocking_region(wait),
        _ => wait(),
    };
    received.expect(
        "the duroxide runtime stopped while a call was waiting on it (the process is exiting)",
    )
}

/// `block_in_place` panics on threads of `spawn_blocking`; there a plain wait is fine.
fn in_blocking_region<T>(wait: impl FnOnce() -> T) -> T {
    let is_worker = std::thread::current().name() == Some(WORKER_NAME);
    if is_worker {
        tokio::task::block_in_place(wait)
    } else {
        wait()
    }
}

/// Runs `future` in the background on the shared runtime (dropped when the process exits).
pub fn spawn<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if let Some(shared) = handle() {
        shared.spawn(future);
    }
}

/// Runs `future` on the shared runtime and returns a future of its result that any
/// executor can await (the foreign event loop polls it). Dropping it (the foreign caller
/// gave up waiting) aborts the work. After `shutdown()` (at exit) it fails at once.
pub async fn run<T>(future: impl Future<Output = Result<T>> + Send + 'static) -> Result<T>
where
    T: Send + 'static,
{
    let Some(shared) = handle() else {
        return Err(DuroxideError::closed(
            "the duroxide runtime has stopped (the process is exiting)",
        ));
    };
    let mut task = AbortOnDrop(shared.spawn(future));
    match (&mut task.0).await {
        Ok(result) => result,
        Err(e) => Err(DuroxideError::internal(format!(
            "a client call failed: {e}"
        ))),
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
