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
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use duroxide::providers::{
    DispatcherCapabilityFilter, ExecutionMetadata, OrchestrationItem, Provider, ProviderAdmin,
    ProviderError, ScheduledActivityIdentifier, SessionFetchConfig, TagFilter, WorkItem,
};
use duroxide::Event;

pub mod credentials;
pub mod events;
mod pg_plan;
pub mod pg_url;
pub mod providers;
pub mod reachability;
pub mod registered;
pub mod reopen;
mod retry;
pub mod runtime_view;
pub mod virtual_time;

use events::StoreEvents;
use retry::Access;
use virtual_time::VirtualTime;

pub struct Store {
    /// The provider underneath (SQLite: replaced after a storage failure, see `reopen`),
    /// with its pool, to tell whether an instance exists (see `enqueue_for_orchestrator`).
    generations: reopen::Generations,
    events: Arc<StoreEvents>,
    retry_locks: bool,
    /// SQLite: one writing call at a time from this process (see `retry::Access`).
    writer: Option<tokio::sync::Mutex<()>>,
    /// Tests only: a virtual clock that holds timers back (see `virtual_time`).
    clock: std::sync::OnceLock<Arc<VirtualTime>>,
}

impl Store {
    pub fn new(
        inner: Arc<dyn Provider>,
        events: Arc<StoreEvents>,
        sqlite_pool: Option<sqlx::SqlitePool>,
        opener: Option<(reopen::Opener, reopen::Watched)>,
    ) -> Self {
        let sqlite = sqlite_pool.is_some();
        let (opener, watched) = opener.map_or((None, None), |(o, w)| (Some(o), Some(w)));
        Self {
            generations: reopen::Generations::new(inner, sqlite_pool, opener, watched),
            events,
            writer: sqlite.then(|| tokio::sync::Mutex::new(())),
            retry_locks: sqlite,
            clock: std::sync::OnceLock::new(),
        }
    }

    /// The provider calls go to now.
    fn inner(&self) -> &dyn Provider {
        self.generations.provider()
    }

    /// The store's virtual clock, started on first use (tests: `duroxide.testing`).
    pub fn virtual_clock(self: &Arc<Self>, quiet: Duration) -> Arc<VirtualTime> {
        let mut started = false;
        let clock = self
            .clock
            .get_or_init(|| {
                started = true;
                VirtualTime::new(quiet)
            })
            .clone();
        if started {
            clock.run(Arc::downgrade(self));
        }
        clock
    }

    /// False when a message for `item`'s instance would be an orphan: no such instance
    /// and no message (a pending start) queued for it. The SQLite provider keeps an
    /// orphan event or cancellation at the head of its queue for good, re-fetching and
    /// releasing it on every poll, and no other instance moves (PostgreSQL drops them).
    /// Such a message is dropped here instead, as on PostgreSQL.
    async fn has_addressee(&self, item: &WorkItem) -> bool {
        let (Some(pool), Some(instance)) = (self.generations.pool(), client_message_target(item))
        else {
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
}

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

#[async_trait]
impl Provider for Store {
    fn name(&self) -> &str {
        self.inner().name()
    }

    fn version(&self) -> &str {
        self.inner().version()
    }

    async fn fetch_orchestration_item(
        &self,
        lock_timeout: Duration,
        poll_timeout: Duration,
        filter: Option<&DispatcherCapabilityFilter>,
    ) -> Result<Option<(OrchestrationItem, String, u32)>, ProviderError> {
        let fetched = self
            .run(Access::Write, || {
                self.inner()
                    .fetch_orchestration_item(lock_timeout, poll_timeout, filter)
            })
            .await?;
        if let Some((item, token, _)) = &fetched {
            self.events
                .fetched(token, &item.instance, item.history.len());
            if let Some(clock) = self.clock.get() {
                clock.fetched(token, None);
            }
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
        let clock = self.clock.get();
        let timers = match clock {
            Some(_) => VirtualTime::take_timers(&mut orchestrator_items),
            None => Vec::new(),
        };
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
            .run(Access::Acknowledge, || {
                self.inner().ack_orchestration_item(
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
        if let Some(clock) = clock {
            if result.is_ok() {
                let ended = instance.as_deref().filter(|_| terminal);
                clock.hold(timers, ended);
            }
            clock.settled(lock_token);
        }
        result
    }

    async fn abandon_orchestration_item(
        &self,
        lock_token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        let result = self
            .run(Access::Write, || {
                self.inner()
                    .abandon_orchestration_item(lock_token, delay, ignore_attempt)
            })
            .await;
        self.events.abandoned(lock_token);
        if let Some(clock) = self.clock.get() {
            clock.settled(lock_token);
        }
        result
    }

    async fn read(&self, instance: &str) -> Result<Vec<Event>, ProviderError> {
        self.run(Access::Read, || self.inner().read(instance)).await
    }

    async fn read_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
    ) -> Result<Vec<Event>, ProviderError> {
        self.run(Access::Read, || {
            self.inner().read_with_execution(instance, execution_id)
        })
        .await
    }

    async fn append_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
        new_events: Vec<Event>,
    ) -> Result<(), ProviderError> {
        self.run(Access::Write, || {
            self.inner()
                .append_with_execution(instance, execution_id, new_events.clone())
        })
        .await
    }

    async fn enqueue_for_worker(&self, item: WorkItem) -> Result<(), ProviderError> {
        self.run(Access::Write, || {
            self.inner().enqueue_for_worker(item.clone())
        })
        .await
    }

    async fn fetch_work_item(
        &self,
        lock_timeout: Duration,
        poll_timeout: Duration,
        session: Option<&SessionFetchConfig>,
        tag_filter: &TagFilter,
    ) -> Result<Option<(WorkItem, String, u32)>, ProviderError> {
        let fetched = self
            .run(Access::Write, || {
                self.inner()
                    .fetch_work_item(lock_timeout, poll_timeout, session, tag_filter)
            })
            .await?;
        if let (Some(clock), Some((item, token, _))) = (self.clock.get(), &fetched) {
            clock.fetched(token, Some(item));
        }
        Ok(fetched)
    }

    async fn ack_work_item(
        &self,
        token: &str,
        completion: Option<WorkItem>,
    ) -> Result<(), ProviderError> {
        let completion = match self.clock.get() {
            Some(clock) => clock.shift_completion(token, completion),
            None => completion,
        };
        let result = self
            .run(Access::Acknowledge, || {
                self.inner().ack_work_item(token, completion.clone())
            })
            .await;
        if let Some(clock) = self.clock.get() {
            clock.settled(token);
        }
        result
    }

    async fn renew_work_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        self.run(Access::Write, || {
            self.inner().renew_work_item_lock(token, extend_for)
        })
        .await
    }

    async fn renew_session_lock(
        &self,
        owner_ids: &[&str],
        extend_for: Duration,
        idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        self.run(Access::Write, || {
            self.inner()
                .renew_session_lock(owner_ids, extend_for, idle_timeout)
        })
        .await
    }

    async fn cleanup_orphaned_sessions(
        &self,
        idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        self.run(Access::Write, || {
            self.inner().cleanup_orphaned_sessions(idle_timeout)
        })
        .await
    }

    async fn abandon_work_item(
        &self,
        token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        let result = self
            .run(Access::Write, || {
                self.inner().abandon_work_item(token, delay, ignore_attempt)
            })
            .await;
        if let Some(clock) = self.clock.get() {
            clock.settled(token);
        }
        result
    }

    async fn renew_orchestration_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        self.run(Access::Write, || {
            self.inner()
                .renew_orchestration_item_lock(token, extend_for)
        })
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
        if let Some(clock) = self.clock.get() {
            clock.moved();
        }
        self.run(Access::Write, || {
            self.inner().enqueue_for_orchestrator(item.clone(), delay)
        })
        .await
    }

    fn as_management_capability(&self) -> Option<&dyn ProviderAdmin> {
        self.inner().as_management_capability()
    }

    async fn get_custom_status(
        &self,
        instance: &str,
        last_seen_version: u64,
    ) -> Result<Option<(Option<String>, u64)>, ProviderError> {
        self.run(Access::Read, || {
            self.inner().get_custom_status(instance, last_seen_version)
        })
        .await
    }

    async fn get_kv_value(
        &self,
        instance: &str,
        key: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.run(Access::Read, || self.inner().get_kv_value(instance, key))
            .await
    }

    async fn get_kv_all_values(
        &self,
        instance: &str,
    ) -> Result<HashMap<String, String>, ProviderError> {
        self.run(Access::Read, || self.inner().get_kv_all_values(instance))
            .await
    }

    async fn get_instance_stats(
        &self,
        instance: &str,
    ) -> Result<Option<duroxide::SystemStats>, ProviderError> {
        self.run(Access::Read, || self.inner().get_instance_stats(instance))
            .await
    }
}
