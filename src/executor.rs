//! The process-wide tokio runtime every Rust future runs on, and the bridge that lets a
//! blocking foreign call wait for one.

use std::future::Future;
use std::sync::LazyLock;

/// Orchestration turns poll foreign code on tokio worker threads, and a foreign call can
/// hold a worker for a while (it needs the interpreter lock), so keep more workers than a
/// small machine has cores: lock renewal tasks must still get a thread.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    let workers = std::thread::available_parallelism().map_or(4, |n| n.get().max(4));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("duroxide-worker")
        .enable_all()
        .build()
        .expect("cannot build the duroxide tokio runtime")
});

/// Runs `future` on the shared runtime and blocks the calling thread until it is done.
///
/// Works from any thread: a foreign main thread, an activity's blocking thread (where
/// `Runtime::block_on` would panic because a runtime context is entered), or a tokio
/// worker (where the wait is moved off the scheduler with `block_in_place`).
pub fn block_on<F>(future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    RUNTIME.spawn(async move {
        let _ = tx.send(future.await);
    });
    let wait = move || {
        rx.recv()
            .expect("the duroxide runtime dropped a blocking call")
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            in_blocking_region(wait)
        }
        _ => wait(),
    }
}

/// `block_in_place` panics on threads of `spawn_blocking`; there a plain wait is fine.
fn in_blocking_region<T>(wait: impl FnOnce() -> T) -> T {
    let is_worker = std::thread::current()
        .name()
        .is_some_and(|n| n == "duroxide-worker");
    if is_worker {
        tokio::task::block_in_place(wait)
    } else {
        wait()
    }
}
