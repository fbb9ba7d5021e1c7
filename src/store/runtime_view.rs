//! The provider the core runtime is given: the store, except for one read.
//!
//! Before every activity the core reads the orchestration's whole history, only to give
//! the activity's context the orchestration's name and version (its `OrchestrationStarted`
//! event). A fan-out of 500 activities read a history of up to 1,000 events 500 times:
//! the biggest cost of the fan-out, server and client (docs/performance.md, "Side by side
//! with the original SDK"). This view remembers each execution's start as this process sees it (in
//! fetched histories and committed acknowledgements) and answers the read that follows a
//! fetched activity with that one event.
//!
//! Only the runtime holds this view; clients, including the one an activity gets, use the
//! store itself, so a read by user code always returns the whole, current history. The
//! answer is the start of the *activity's own* execution; the core would read the
//! instance's current one, which differs only when another process continued the instance
//! as new while the activity was being fetched (the activity then describes the execution
//! that scheduled it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use duroxide::providers::{
    DispatcherCapabilityFilter, ExecutionMetadata, OrchestrationItem, Provider, ProviderAdmin,
    ProviderError, ScheduledActivityIdentifier, SessionFetchConfig, TagFilter, WorkItem,
};
use duroxide::{Event, EventKind};

/// Starts remembered at most; past it the memory starts over (reads then go to the store).
const MAX_STARTS: usize = 10_000;
/// Fetched activities of one instance still to be described, at most.
const MAX_PENDING: usize = 256;

pub struct RuntimeView {
    store: Arc<dyn Provider>,
    known: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    /// (instance, execution) -> its `OrchestrationStarted` event.
    starts: HashMap<(String, u64), Event>,
    /// instance -> executions of its fetched activities whose descriptor read is to come.
    pending: HashMap<String, Vec<u64>>,
}

/// The events the view learns from: an execution's start, and its end.
fn worth_knowing(event: &Event) -> bool {
    matches!(event.kind, EventKind::OrchestrationStarted { .. }) || event.is_terminal()
}

impl Known {
    fn learn(&mut self, events: &[Event]) {
        for event in events.iter().filter(|e| worth_knowing(e)) {
            if matches!(event.kind, EventKind::OrchestrationStarted { .. }) {
                if self.starts.len() >= MAX_STARTS {
                    self.starts.clear();
                }
                let key = (event.instance_id.clone(), event.execution_id);
                self.starts.insert(key, event.clone());
            } else {
                // Activities of an ended execution read the store, if any still run.
                self.starts
                    .remove(&(event.instance_id.clone(), event.execution_id));
                self.pending.remove(&event.instance_id);
            }
        }
    }

    /// The start to answer a read of `instance` with, if an activity of it awaits one.
    /// The read consumes one fetched activity's turn either way (answered from memory or
    /// not), so nothing is left behind for instances whose start this process never saw.
    fn describe(&mut self, instance: &str) -> Option<Event> {
        let pending = self.pending.get_mut(instance)?;
        let known = |e: u64| self.starts.contains_key(&(instance.to_string(), e));
        let at = (0..pending.len())
            .max_by_key(|&i| (known(pending[i]), pending[i]))
            .expect("a pending list is never empty");
        let execution = pending.swap_remove(at);
        if pending.is_empty() {
            self.pending.remove(instance);
        }
        self.starts.get(&(instance.to_string(), execution)).cloned()
    }
}

impl RuntimeView {
    pub fn new(store: Arc<dyn Provider>) -> Self {
        Self {
            store,
            known: Mutex::new(Known::default()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Provider for RuntimeView {
    fn name(&self) -> &str {
        self.store.name()
    }

    fn version(&self) -> &str {
        self.store.version()
    }

    async fn fetch_orchestration_item(
        &self,
        lock_timeout: Duration,
        poll_timeout: Duration,
        filter: Option<&DispatcherCapabilityFilter>,
    ) -> Result<Option<(OrchestrationItem, String, u32)>, ProviderError> {
        let fetched = self
            .store
            .fetch_orchestration_item(lock_timeout, poll_timeout, filter)
            .await?;
        if let Some((item, _, _)) = &fetched {
            self.known().learn(&item.history);
        }
        Ok(fetched)
    }

    async fn ack_orchestration_item(
        &self,
        lock_token: &str,
        execution_id: u64,
        history_delta: Vec<Event>,
        worker_items: Vec<WorkItem>,
        orchestrator_items: Vec<WorkItem>,
        metadata: ExecutionMetadata,
        cancelled_activities: Vec<ScheduledActivityIdentifier>,
    ) -> Result<(), ProviderError> {
        let learned: Vec<Event> = history_delta
            .iter()
            .filter(|e| worth_knowing(e))
            .cloned()
            .collect();
        self.store
            .ack_orchestration_item(
                lock_token,
                execution_id,
                history_delta,
                worker_items,
                orchestrator_items,
                metadata,
                cancelled_activities,
            )
            .await?;
        self.known().learn(&learned); // only what committed
        Ok(())
    }

    async fn abandon_orchestration_item(
        &self,
        lock_token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        self.store
            .abandon_orchestration_item(lock_token, delay, ignore_attempt)
            .await
    }

    async fn read(&self, instance: &str) -> Result<Vec<Event>, ProviderError> {
        if let Some(start) = self.known().describe(instance) {
            return Ok(vec![start]);
        }
        let history = self.store.read(instance).await?;
        self.known().learn(&history);
        Ok(history)
    }

    async fn read_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
    ) -> Result<Vec<Event>, ProviderError> {
        self.store.read_with_execution(instance, execution_id).await
    }

    async fn append_with_execution(
        &self,
        instance: &str,
        execution_id: u64,
        new_events: Vec<Event>,
    ) -> Result<(), ProviderError> {
        self.store
            .append_with_execution(instance, execution_id, new_events)
            .await
    }

    async fn enqueue_for_worker(&self, item: WorkItem) -> Result<(), ProviderError> {
        self.store.enqueue_for_worker(item).await
    }

    async fn fetch_work_item(
        &self,
        lock_timeout: Duration,
        poll_timeout: Duration,
        session: Option<&SessionFetchConfig>,
        tag_filter: &TagFilter,
    ) -> Result<Option<(WorkItem, String, u32)>, ProviderError> {
        let fetched = self
            .store
            .fetch_work_item(lock_timeout, poll_timeout, session, tag_filter)
            .await?;
        if let Some((
            WorkItem::ActivityExecute {
                instance,
                execution_id,
                ..
            },
            _,
            _,
        )) = &fetched
        {
            let mut known = self.known();
            if known.pending.len() >= MAX_STARTS {
                known.pending.clear(); // their reads go to the store
            }
            let pending = known.pending.entry(instance.clone()).or_default();
            if pending.len() >= MAX_PENDING {
                pending.remove(0); // described by a read of the store instead
            }
            pending.push(*execution_id);
        }
        Ok(fetched)
    }

    async fn ack_work_item(
        &self,
        token: &str,
        completion: Option<WorkItem>,
    ) -> Result<(), ProviderError> {
        self.store.ack_work_item(token, completion).await
    }

    async fn renew_work_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        self.store.renew_work_item_lock(token, extend_for).await
    }

    async fn renew_session_lock(
        &self,
        owner_ids: &[&str],
        extend_for: Duration,
        idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        self.store
            .renew_session_lock(owner_ids, extend_for, idle_timeout)
            .await
    }

    async fn cleanup_orphaned_sessions(
        &self,
        idle_timeout: Duration,
    ) -> Result<usize, ProviderError> {
        self.store.cleanup_orphaned_sessions(idle_timeout).await
    }

    async fn abandon_work_item(
        &self,
        token: &str,
        delay: Option<Duration>,
        ignore_attempt: bool,
    ) -> Result<(), ProviderError> {
        self.store
            .abandon_work_item(token, delay, ignore_attempt)
            .await
    }

    async fn renew_orchestration_item_lock(
        &self,
        token: &str,
        extend_for: Duration,
    ) -> Result<(), ProviderError> {
        self.store
            .renew_orchestration_item_lock(token, extend_for)
            .await
    }

    async fn enqueue_for_orchestrator(
        &self,
        item: WorkItem,
        delay: Option<Duration>,
    ) -> Result<(), ProviderError> {
        self.store.enqueue_for_orchestrator(item, delay).await
    }

    fn as_management_capability(&self) -> Option<&dyn ProviderAdmin> {
        self.store.as_management_capability()
    }

    async fn get_custom_status(
        &self,
        instance: &str,
        last_seen_version: u64,
    ) -> Result<Option<(Option<String>, u64)>, ProviderError> {
        self.store
            .get_custom_status(instance, last_seen_version)
            .await
    }

    async fn get_kv_value(
        &self,
        instance: &str,
        key: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.store.get_kv_value(instance, key).await
    }

    async fn get_kv_all_values(
        &self,
        instance: &str,
    ) -> Result<HashMap<String, String>, ProviderError> {
        self.store.get_kv_all_values(instance).await
    }

    async fn get_instance_stats(
        &self,
        instance: &str,
    ) -> Result<Option<duroxide::SystemStats>, ProviderError> {
        self.store.get_instance_stats(instance).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(instance: &str, execution: u64, version: &str) -> Event {
        Event::with_event_id(
            1,
            instance,
            execution,
            None,
            EventKind::OrchestrationStarted {
                name: "O".into(),
                version: version.into(),
                input: "null".into(),
                parent_instance: None,
                parent_id: None,
                parent_execution_id: None,
                carry_forward_events: None,
                initial_custom_status: None,
            },
        )
    }

    fn version(event: &Event) -> &str {
        match &event.kind {
            EventKind::OrchestrationStarted { version, .. } => version,
            _ => panic!("not a start: {event:?}"),
        }
    }

    #[test]
    fn a_fetched_activity_is_described_by_its_own_execution() {
        let mut known = Known::default();
        known.learn(&[started("i", 1, "1.0.0"), started("i", 2, "2.0.0")]);
        known.pending.insert("i".into(), vec![1, 2]);
        assert_eq!(known.describe("i").as_ref().map(version), Some("2.0.0"));
        assert_eq!(known.describe("i").as_ref().map(version), Some("1.0.0"));
        assert!(known.describe("i").is_none(), "no fetched activity left");
        assert!(known.pending.is_empty());
    }

    #[test]
    fn a_read_without_a_known_start_still_consumes_its_turn() {
        let mut known = Known::default();
        known.pending.insert("elsewhere".into(), vec![3]);
        assert!(known.describe("elsewhere").is_none());
        assert!(known.pending.is_empty(), "nothing left behind");
    }

    #[test]
    fn an_ended_execution_is_forgotten() {
        let mut known = Known::default();
        known.learn(&[started("i", 1, "1.0.0")]);
        known.pending.insert("i".into(), vec![1]);
        let end = Event::with_event_id(
            9,
            "i",
            1,
            None,
            EventKind::OrchestrationCompleted { output: "1".into() },
        );
        known.learn(&[end]);
        assert!(known.starts.is_empty() && known.pending.is_empty());
        assert!(known.describe("i").is_none());
    }
}
