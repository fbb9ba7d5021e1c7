//! The provider every runtime and client of one `Provider` object shares, wrapped.
//!
//! What the core does not do for an embedded SDK:
//! - **SQLite lock errors are absorbed here.** The SQLite provider opens deferred
//!   transactions; when two of its pooled connections upgrade to writers at once, SQLite
//!   answers `database is locked` (codes 5 and 517) at once, without waiting on its busy
//!   timeout. The core then backs off 200 ms per failed fetch and, after 5 failed
//!   acknowledgements, fails the orchestration. A failed call has rolled its transaction
//!   back, so retrying the same call after a few milliseconds is safe; we do that, within
//!   a budget, before the core ever sees the error.
//! - **Turns are observed** (`store_events`): which items are in flight, and whether their
//!   acknowledgement committed. That wakes in-process waiters, admits suspended
//!   generators into the replay cache, and explains nondeterminism failures.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use duroxide::providers::{
    DispatcherCapabilityFilter, ExecutionMetadata, OrchestrationItem, Provider, ProviderAdmin,
    ProviderError, ScheduledActivityIdentifier, SessionFetchConfig, TagFilter, WorkItem,
};
use duroxide::Event;

use crate::store_events::StoreEvents;

/// How long one call may keep retrying lock errors before the core gets the error.
const LOCK_RETRY_BUDGET: Duration = Duration::from_secs(10);
const LOCK_RETRY_MAX_DELAY: Duration = Duration::from_millis(50);

pub struct Store {
    inner: Arc<dyn Provider>,
    events: Arc<StoreEvents>,
    retry_locks: bool,
    /// SQLite: one writing call at a time from this process (see `write`).
    writer: Option<tokio::sync::Mutex<()>>,
    /// SQLite: the provider's pool, to tell whether an instance exists (see
    /// `enqueue_for_orchestrator`).
    sqlite_pool: Option<sqlx::SqlitePool>,
}

impl Store {
    pub fn new(
        inner: Arc<dyn Provider>,
        events: Arc<StoreEvents>,
        sqlite_pool: Option<sqlx::SqlitePool>,
    ) -> Self {
        let sqlite = sqlite_pool.is_some();
        Self {
            inner,
            events,
            writer: sqlite.then(|| tokio::sync::Mutex::new(())),
            retry_locks: sqlite,
            sqlite_pool,
        }
    }

    /// False when a message for `item`'s instance would be an orphan: no such instance
    /// and no message (a pending start) queued for it. The SQLite provider keeps an
    /// orphan event or cancellation at the head of its queue for good, re-fetching and
    /// releasing it on every poll, and no other instance moves (PostgreSQL drops them).
    /// Such a message is dropped here instead, as on PostgreSQL.
    async fn has_addressee(&self, item: &WorkItem) -> bool {
        let (Some(pool), Some(instance)) = (&self.sqlite_pool, client_message_target(item)) else {
            return true;
        };
        let known: Result<bool, sqlx::Error> = sqlx::query_scalar(
            "SELECT EXISTS(SELECT 1 FROM instances WHERE instance_id = ?1) \
             OR EXISTS(SELECT 1 FROM orchestrator_queue WHERE instance_id = ?1)",
        )
        .bind(instance)
        .fetch_one(pool)
        .await;
        known.unwrap_or(true) // when in doubt, deliver
    }

    /// A call that writes. On SQLite, writing calls from this process take turns: the
    /// provider opens deferred transactions, and two of its pooled connections upgrading
    /// to writers at once makes one fail with `database is locked` at once. SQLite admits
    /// one writer at a time anyway, so queueing them here costs nothing and leaves the
    /// lock retries in `call` for writers in other processes.
    async fn write<T, F, Fut>(&self, op: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, ProviderError>> + Send,
        T: Send,
    {
        self.written(op, false).await
    }

    async fn call<T, F, Fut>(&self, op: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, ProviderError>> + Send,
        T: Send,
    {
        self.retrying(op, false).await
    }

    /// An acknowledgement: written like any write, and also retried through transient
    /// storage errors (a dropped connection, a database restarting) for a while. The core
    /// gives up after about 300 ms and then tries to record the instance as failed; a
    /// completed activity whose acknowledgement is lost runs again.
    async fn acknowledge<T, F, Fut>(&self, op: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, ProviderError>> + Send,
        T: Send,
    {
        self.written(op, true).await
    }

    /// A writing call, in its turn among this process's writers on SQLite.
    async fn written<T, F, Fut>(&self, op: F, through_transient: bool) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, ProviderError>> + Send,
        T: Send,
    {
        let _turn = match &self.writer {
            Some(writer) => Some(writer.lock().await),
            None => None,
        };
        self.retrying(op, through_transient).await
    }

    async fn retrying<T, F, Fut>(
        &self,
        mut op: F,
        through_transient: bool,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<T, ProviderError>> + Send,
        T: Send,
    {
        let started = Instant::now();
        let mut lock_delay = Duration::from_millis(1);
        let mut transient_delay = TRANSIENT_RETRY_FIRST_DELAY;
        loop {
            match op().await {
                Err(e)
                    if self.retry_locks
                        && is_lock_error(&e)
                        && started.elapsed() < LOCK_RETRY_BUDGET =>
                {
                    self.events.count_lock_retry();
                    tokio::time::sleep(jitter(lock_delay)).await;
                    lock_delay = (lock_delay * 2).min(LOCK_RETRY_MAX_DELAY);
                }
                Err(e)
                    if through_transient
                        && e.retryable
                        && started.elapsed() < TRANSIENT_RETRY_BUDGET =>
                {
                    tokio::time::sleep(jitter(transient_delay)).await;
                    transient_delay = (transient_delay * 2).min(TRANSIENT_RETRY_MAX_DELAY);
                }
                result => return result,
            }
        }
    }
}

/// How long an acknowledgement keeps retrying transient storage errors.
const TRANSIENT_RETRY_BUDGET: Duration = Duration::from_secs(15);
const TRANSIENT_RETRY_FIRST_DELAY: Duration = Duration::from_millis(50);
const TRANSIENT_RETRY_MAX_DELAY: Duration = Duration::from_secs(1);

/// Histories shorter than this replay cheaply: their turns are never held back.
const COALESCE_MIN_HISTORY: usize = 200;
/// The longest a turn's acknowledgement is held back to let completions gather.
const COALESCE_MAX_PAUSE: Duration = Duration::from_millis(100);
/// The pause, as a multiple of the time the turn took: replaying then takes at most
/// 1/(1+k) of the instance's time.
const COALESCE_FACTOR: u32 = 4;

impl Store {
    /// How long to hold back the acknowledgement of a turn that only took in results.
    ///
    /// Every turn replays the instance's whole history, so an instance waiting on a large
    /// fan-out that takes its results one or two per turn spends quadratic time replaying
    /// (500 activities: 250 turns over a history of up to 1,000 events). When a turn
    /// scheduled nothing new and its history is long, keeping the instance locked for about
    /// as long again as the turn took lets the next results arrive meanwhile; the next turn
    /// takes them all at once. Nothing waits on such a turn: it only recorded results.
    fn coalescing_pause(
        &self,
        lock_token: &str,
        delta: &[Event],
        worker_items: &[WorkItem],
        orchestrator_items: &[WorkItem],
    ) -> Option<Duration> {
        if !worker_items.is_empty() || !orchestrator_items.is_empty() {
            return None;
        }
        let only_results = delta.iter().all(|e| {
            matches!(
                e.kind,
                duroxide::EventKind::ActivityCompleted { .. }
                    | duroxide::EventKind::ActivityFailed { .. }
                    | duroxide::EventKind::SubOrchestrationCompleted { .. }
                    | duroxide::EventKind::SubOrchestrationFailed { .. }
                    | duroxide::EventKind::TimerFired { .. }
            )
        });
        let (elapsed, history_len) = self.events.turn_so_far(lock_token)?;
        (only_results && !delta.is_empty() && history_len >= COALESCE_MIN_HISTORY)
            .then(|| (elapsed * COALESCE_FACTOR).min(COALESCE_MAX_PAUSE))
    }
}

/// The instance a client-sent message (event, queue message, cancellation) is for.
fn client_message_target(item: &WorkItem) -> Option<&str> {
    match item {
        WorkItem::ExternalRaised { instance, .. }
        | WorkItem::QueueMessage { instance, .. }
        | WorkItem::CancelInstance { instance, .. } => Some(instance),
        _ => None,
    }
}

/// The message of a retryable infrastructure failure the turn would record, if any.
fn transient_failure(delta: &[Event]) -> Option<String> {
    delta.iter().find_map(|e| match &e.kind {
        duroxide::EventKind::OrchestrationFailed {
            details:
                duroxide::ErrorDetails::Infrastructure {
                    operation,
                    message,
                    retryable: true,
                },
        } => Some(format!("{operation}: {message}")),
        _ => None,
    })
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

#[async_trait]
impl Provider for Store {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn version(&self) -> &str {
        self.inner.version()
    }

    async fn fetch_orchestration_item(
        &self,
        lock_timeout: Duration,
        poll_timeout: Duration,
        filter: Option<&DispatcherCapabilityFilter>,
    ) -> Result<Option<(OrchestrationItem, String, u32)>, ProviderError> {
        let fetched = self
            .write(|| {
                self.inner
                    .fetch_orchestration_item(lock_timeout, poll_timeout, filter)
            })
            .await?;
        if let Some((item, token, _)) = &fetched {
            self.events
                .fetched(token, &item.instance, item.history.len());
        }
        Ok(fetched)
    }

    #[allow(clippy::too_many_arguments)]
    async fn ack_orchestration_item(
        &self,
        lock_token: &str,
        execution_id: u64,
        mut history_delta: Vec<Event>,
        worker_items: Vec<WorkItem>,
        mut orchestrator_items: Vec<WorkItem>,
        mut metadata: ExecutionMetadata,
        cancelled_activities: Vec<ScheduledActivityIdentifier>,
    ) -> Result<(), ProviderError> {
        let instance = self.events.before_ack(
            lock_token,
            &mut history_delta,
            &mut metadata,
            &mut orchestrator_items,
        );
        let terminal = history_delta.iter().any(Event::is_terminal);
        if let Some(reason) = transient_failure(&history_delta) {
            // The core records an acknowledgement that failed on a transient storage error
            // as the instance's permanent failure. Refused: the core then abandons the
            // item and the turn runs again once the store is back.
            self.events
                .after_ack(lock_token, instance.as_deref(), false, terminal);
            return Err(ProviderError::permanent(
                "ack_orchestration_item",
                format!("not recording a transient storage failure as the instance's outcome ({reason}); the turn will be retried"),
            ));
        }
        if let Some(pause) = self.coalescing_pause(
            lock_token,
            &history_delta,
            &worker_items,
            &orchestrator_items,
        ) {
            tokio::time::sleep(pause).await;
        }
        let result = self
            .acknowledge(|| {
                self.inner.ack_orchestration_item(
                    lock_token,
                    execution_id,
                    history_delta.clone(),
                    worker_items.clone(),
                    orchestrator_items.clone(),
                    metadata.clone(),
                    cancelled_activities.clone(),
                )
            })
            .await;
        self.events
            .after_ack(lock_token, instance.as_deref(), result.is_ok(), terminal);
        result
    }

    async fn abandon_orchestration_item(
        &self,
        lock_token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        let result = self
            .write(|| {
                self.inner
                    .abandon_orchestration_item(lock_token, delay, ignore_attempt)
            })
            .await;
        self.events.abandoned(lock_token);
        result
    }

    async fn read(&self, instance: &str) -> Result<Vec<Event>, ProviderError> {
        self.call(|| self.inner.read(instance)).await
    }

    async fn read_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
    ) -> Result<Vec<Event>, ProviderError> {
        self.call(|| self.inner.read_with_execution(instance, execution_id))
            .await
    }

    async fn append_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
        new_events: Vec<Event>,
    ) -> Result<(), ProviderError> {
        self.write(|| {
            self.inner
                .append_with_execution(instance, execution_id, new_events.clone())
        })
        .await
    }

    async fn enqueue_for_worker(&self, item: WorkItem) -> Result<(), ProviderError> {
        self.write(|| self.inner.enqueue_for_worker(item.clone()))
            .await
    }

    async fn fetch_work_item(
        &self,
        lock_timeout: Duration,
        poll_timeout: Duration,
        session: Option<&SessionFetchConfig>,
        tag_filter: &TagFilter,
    ) -> Result<Option<(WorkItem, String, u32)>, ProviderError> {
        self.write(|| {
            self.inner
                .fetch_work_item(lock_timeout, poll_timeout, session, tag_filter)
        })
        .await
    }

    async fn ack_work_item(
        &self,
        token: &str,
        completion: Option<WorkItem>,
    ) -> Result<(), ProviderError> {
        self.acknowledge(|| self.inner.ack_work_item(token, completion.clone()))
            .await
    }

    async fn renew_work_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        self.write(|| self.inner.renew_work_item_lock(token, extend_for))
            .await
    }

    async fn renew_session_lock(
        &self,
        owner_ids: &[&str],
        extend_for: Duration,
        idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        self.write(|| {
            self.inner
                .renew_session_lock(owner_ids, extend_for, idle_timeout)
        })
        .await
    }

    async fn cleanup_orphaned_sessions(
        &self,
        idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        self.write(|| self.inner.cleanup_orphaned_sessions(idle_timeout))
            .await
    }

    async fn abandon_work_item(
        &self,
        token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        self.write(|| self.inner.abandon_work_item(token, delay, ignore_attempt))
            .await
    }

    async fn renew_orchestration_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        self.write(|| self.inner.renew_orchestration_item_lock(token, extend_for))
            .await
    }

    async fn enqueue_for_orchestrator(
        &self,
        item: WorkItem,
        delay: Option<Duration>,
    ) -> Result<(), ProviderError> {
        if !self.has_addressee(&item).await {
            tracing::debug!(target: "duroxide::python", ?item, "dropping a message for an instance that does not exist");
            return Ok(());
        }
        self.write(|| self.inner.enqueue_for_orchestrator(item.clone(), delay))
            .await
    }

    fn as_management_capability(&self) -> Option<&dyn ProviderAdmin> {
        self.inner.as_management_capability()
    }

    async fn get_custom_status(
        &self,
        instance: &str,
        last_seen_version: u64,
    ) -> Result<Option<(Option<String>, u64)>, ProviderError> {
        self.call(|| self.inner.get_custom_status(instance, last_seen_version))
            .await
    }

    async fn get_kv_value(
        &self,
        instance: &str,
        key: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.call(|| self.inner.get_kv_value(instance, key)).await
    }

    async fn get_kv_all_values(
        &self,
        instance: &str,
    ) -> Result<HashMap<String, String>, ProviderError> {
        self.call(|| self.inner.get_kv_all_values(instance)).await
    }

    async fn get_instance_stats(
        &self,
        instance: &str,
    ) -> Result<Option<duroxide::SystemStats>, ProviderError> {
        self.call(|| self.inner.get_instance_stats(instance)).await
    }
}
