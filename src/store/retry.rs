//! How the store calls the provider underneath: SQLite writers from this process take
//! turns, SQLite lock errors are retried away, acknowledgements also ride out transient
//! storage errors for a while, and connection failures the provider calls permanent are
//! made retryable (see `is_connection_failure`).

use std::future::Future;
use std::time::{Duration, Instant};

use duroxide::providers::ProviderError;

use super::Store;

/// How long one call may keep retrying lock errors before the core gets the error.
const LOCK_RETRY_BUDGET: Duration = Duration::from_secs(10);
const LOCK_RETRY_FIRST_DELAY: Duration = Duration::from_millis(1);
const LOCK_RETRY_MAX_DELAY: Duration = Duration::from_millis(50);

/// How long an acknowledgement keeps retrying transient storage errors.
const TRANSIENT_RETRY_BUDGET: Duration = Duration::from_secs(15);
const TRANSIENT_RETRY_FIRST_DELAY: Duration = Duration::from_millis(50);
const TRANSIENT_RETRY_MAX_DELAY: Duration = Duration::from_secs(1);

/// What a provider call does to the database.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only: retried through lock errors.
    Read,
    /// Writes. On SQLite, writing calls from this process take turns: the provider opens
    /// deferred transactions, and two of its pooled connections upgrading to writers at
    /// once makes one fail with `database is locked` at once. SQLite admits one writer at
    /// a time anyway, so queueing them here costs nothing and leaves the lock retries for
    /// writers in other processes.
    Write,
    /// An acknowledgement: written like any write, and also retried through transient
    /// storage errors (a dropped connection, a database restarting) for a while. The core
    /// gives up after about 300 ms and then tries to record the instance as failed; a
    /// completed activity whose acknowledgement is lost runs again.
    Acknowledge,
}

impl Store {
    /// Runs `op` against the provider underneath, retrying it as `access` allows. A failed
    /// call has rolled its transaction back, so running it again is safe.
    pub(super) async fn run<T, F, Fut>(&self, access: Access, mut op: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, ProviderError>> + Send,
        T: Send,
    {
        let through_transient = access == Access::Acknowledge;
        let started = Instant::now();
        let mut lock_delay = LOCK_RETRY_FIRST_DELAY;
        let mut transient_delay = TRANSIENT_RETRY_FIRST_DELAY;
        loop {
            // Taken per attempt, so a call sleeping between attempts does not hold up the
            // other writers (a client's start fails at once during a storage failure
            // instead of waiting out an acknowledgement's retries).
            let turn = match (&self.writer, access) {
                (Some(writer), Access::Write | Access::Acknowledge) => Some(writer.lock().await),
                _ => None,
            };
            if self.generations.is_poisoned() {
                // A storage failure broke the pool: nothing runs on it until it is replaced.
                if let Err(e) = self.generations.recover().await {
                    if through_transient
                        && e.retryable
                        && started.elapsed() < TRANSIENT_RETRY_BUDGET
                    {
                        drop(turn);
                        tokio::time::sleep(jitter(transient_delay)).await;
                        transient_delay = (transient_delay * 2).min(TRANSIENT_RETRY_MAX_DELAY);
                        continue;
                    }
                    return Err(e);
                }
            }
            let generation = self.generations.generation();
            let mut result = op().await;
            if let Err(e) = &mut result {
                self.generations.note_failure(generation, e);
                if is_connection_failure(e) {
                    e.retryable = true;
                }
            }
            match result {
                Err(e)
                    if self.retry_locks
                        && is_lock_error(&e)
                        && started.elapsed() < LOCK_RETRY_BUDGET =>
                {
                    self.events.count_lock_retry();
                    drop(turn);
                    tokio::time::sleep(jitter(lock_delay)).await;
                    lock_delay = (lock_delay * 2).min(LOCK_RETRY_MAX_DELAY);
                }
                Err(e)
                    if through_transient
                        && e.retryable
                        && started.elapsed() < TRANSIENT_RETRY_BUDGET =>
                {
                    drop(turn);
                    tokio::time::sleep(jitter(transient_delay)).await;
                    transient_delay = (transient_delay * 2).min(TRANSIENT_RETRY_MAX_DELAY);
                }
                result => return result,
            }
        }
    }
}

/// Texts of failures to reach PostgreSQL that its provider reports as permanent: sqlx's
/// protocol error when a connection closes during its TLS negotiation (a proxy or load
/// balancer in front of a stopped server accepts, then hangs up), and the server's own
/// refusals while it starts, stops or recovers (SQLSTATE 57P01-57P03, 53300). The core
/// fails an orchestration whose acknowledgement fails with a permanent error, so a
/// restart of the database must not look like one.
const CONNECTION_FAILURES: &[&str] = &[
    "unexpected response from SSLRequest",
    "error occurred while attempting to establish a TLS connection",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "terminating connection due to administrator command",
    "terminating connection due to immediate shutdown",
    "terminating connection due to unexpected postmaster exit",
    "sorry, too many clients already",
];

fn is_connection_failure(e: &ProviderError) -> bool {
    !e.retryable
        && CONNECTION_FAILURES
            .iter()
            .any(|text| e.message.contains(text))
}

fn is_lock_error(e: &ProviderError) -> bool {
    e.retryable
        && (e.message.contains("database is locked")
            || e.message.contains("database is deadlocked"))
}

/// Between half and all of `delay`, so contending connections do not retry in step.
fn jitter(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let half = delay.as_micros() as u64 / 2;
    Duration::from_micros(half + nanos % (half + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_become_retryable_and_nothing_else_does() {
        let ssl = ProviderError::permanent(
            "ack_orchestration_item",
            "Unexpected error: encountered unexpected or invalid data: unexpected response from SSLRequest: 0x00",
        );
        let starting = ProviderError::permanent(
            "fetch_work_item",
            "Database error: error returned from database: the database system is starting up",
        );
        let duplicate = ProviderError::permanent(
            "ack_orchestration_item",
            "Duplicate detected: duplicate key value violates unique constraint",
        );
        assert!(is_connection_failure(&ssl));
        assert!(is_connection_failure(&starting));
        assert!(!is_connection_failure(&duplicate));
    }
}
